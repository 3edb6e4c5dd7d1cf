"""The control plane's guards: what a request must get past before routing means anything.

- `HostCheck`: the `Host` header must name this node: its listen address, a loopback name, or a
  name in `control.allowed_hosts`. A web page the operator visits can make the browser send
  requests to 127.0.0.1 (cross-site) or to a name the attacker points at 127.0.0.1 (DNS
  rebinding); in both cases the browser sends the attacker's name, never ours, so the request
  is refused before anything else runs. The port is not compared: a proxy or a port mapping may
  change it, and the name is what a rebinding attack cannot fake.
- `json_content_problem`: every POST must say `Content-Type: application/json`. A browser can
  send a cross-site POST without asking first only as text/plain, a form or multipart; asking
  for JSON makes it ask (a CORS preflight), which the plane never grants.
- `AuthLimiter`: failed authentications are counted and rate-limited per client address, so a
  token cannot be guessed at network speed; past the burst the plane answers 429 without
  comparing the token at all.
- `Pacer`: the read endpoints' share of the process (below).

`Pacer` is a token bucket over trio's clock for the read endpoints (`/metrics`, `/healthz`,
`/readyz`). The plane runs on its own thread, but a Python thread busy answering HTTP still takes
the GIL from the trading loop; pacing bounds that share whatever the clients do. A request over
the rate waits its turn (the clients see slower answers; nothing on the trading loop waits), and
past `max_waiting` queued requests the plane answers 503 at once rather than queueing without
end. POSTs are not paced: `/control` is the operator's kill switch and must never queue behind
scrapers, and both POSTs are authenticated and bounded on their own.
"""

from __future__ import annotations

import hashlib
import hmac
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

import trio

from protocols.control import ControlRequestError, is_loopback, printable
from protocols.errors import TroupeError

__all__ = ["LOOPBACK_NAMES", "AuthLimiter", "ClientGone", "HostCheck", "Pacer", "check_token",
           "header_values", "is_loopback", "json_content_problem", "read_body"]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
_WILDCARDS = frozenset({"0.0.0.0", "::", ""})


def header_values(scope: Scope, name: bytes) -> list[bytes]:
    return [value for key, value in scope.get("headers", ()) if key.lower() == name]


def _digest(token: bytes) -> bytes:
    return hashlib.sha256(token).digest()


def check_token(expected: str, provided: list[bytes]) -> None:
    """Raise a 401 unless every provided token equals `expected`. Constant time: SHA-256
    digests compared with `hmac.compare_digest`, so not even the length leaks."""
    if not provided:
        raise ControlRequestError(401, "missing token: send it in the X-Auth-Token header")
    want = _digest(expected.encode("utf-8"))
    # Every candidate must match, and each is compared, so timing says nothing about which.
    matches = [hmac.compare_digest(_digest(value), want) for value in provided]
    if not all(matches):
        raise ControlRequestError(401, "bad token")


class ClientGone(TroupeError):
    """The client disconnected before we had its whole request: nobody to answer."""


async def read_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it is known to exceed `limit`; raises
    `ClientGone` when the client leaves first."""
    declared = header_values(scope, b"content-length")
    if declared:
        try:
            length = int(declared[0])
        except ValueError:
            raise ControlRequestError(400, "bad Content-Length header") from None
        if length > limit:
            raise ControlRequestError(
                413, f"body of {length} bytes is over the limit of {limit} bytes"
            )
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise ControlRequestError(413, f"body is over the limit of {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _host_name(header: str) -> str:
    """The name part of a Host header value: `[::1]:8321` -> `::1`, `a.b:80` -> `a.b`."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:].split("]", 1)[0]
    if header.count(":") == 1:
        return header.split(":", 1)[0]
    return header  # no port, or a bare IPv6 address


class HostCheck:
    """Is a request's Host header one of this node's names?"""

    def __init__(self, listen_host: str, allowed: Iterable[str] = ()) -> None:
        names = {_host_name(name) for name in (listen_host, *allowed)}
        self.names = frozenset((names | LOOPBACK_NAMES) - _WILDCARDS)

    def problem(self, values: list[bytes]) -> str | None:
        """Why a request with these Host header values is refused, or None."""
        if len(values) != 1:
            return "missing Host header" if not values else "more than one Host header"
        header = values[0].decode("latin-1")
        if _host_name(header) in self.names:
            return None
        return (f"Host {printable(header)!r} is not this node's address; "
                "add the name to control.allowed_hosts if it is")


def json_content_problem(values: list[bytes]) -> str | None:
    """Why a POST with these Content-Type values is refused, or None for application/json."""
    if not values:
        return "Content-Type must be application/json; none was given"
    media = values[0].decode("latin-1").split(";", 1)[0].strip().lower()
    if len(values) == 1 and media == "application/json":
        return None
    return f"Content-Type must be application/json, got {printable(values[0].decode('latin-1'))!r}"


class AuthLimiter:
    """Per client address, `burst` failed authentications at once, then one per `every_s`.

    `retry_after(client)` is None while the client may try, else the seconds until it may; a
    client that is waiting is refused without its token being compared. At most `max_clients`
    addresses are remembered (the least recently failed are forgotten first)."""

    def __init__(self, burst: int = 5, every_s: float = 2.0, max_clients: int = 1024) -> None:
        self._burst, self._every_s, self._max_clients = burst, every_s, max_clients
        self._clients: OrderedDict[str, tuple[float, float]] = OrderedDict()  # tokens, at
        self.failures = 0
        self.limited = 0

    def _tokens(self, client: str, now: float) -> float:
        tokens, at = self._clients.get(client, (float(self._burst), now))
        return min(float(self._burst), tokens + (now - at) / self._every_s)

    def retry_after(self, client: str) -> float | None:
        if client not in self._clients:
            return None
        tokens = self._tokens(client, trio.current_time())
        if tokens >= 1.0:
            return None
        self.limited += 1
        return (1.0 - tokens) * self._every_s

    def failed(self, client: str) -> None:
        now = trio.current_time()
        self.failures += 1
        self._clients[client] = (max(0.0, self._tokens(client, now) - 1.0), now)
        self._clients.move_to_end(client)
        while len(self._clients) > self._max_clients:
            self._clients.popitem(last=False)


class Pacer:
    """At most `rate_per_s` admissions a second on average, `burst` at once; FIFO."""

    def __init__(self, rate_per_s: float, burst: int, max_waiting: int) -> None:
        if not rate_per_s > 0 or burst < 1 or max_waiting < 0:
            raise ValueError("a pacer needs rate_per_s > 0, burst >= 1 and max_waiting >= 0")
        self._interval = 1.0 / rate_per_s
        self._burst = burst
        self._max_waiting = max_waiting
        self._tokens = float(burst)
        self._refilled_at: float | None = None
        self._waiting = 0
        self._lock: trio.Lock | None = None  # made on the plane's own loop, at first use
        self.refused = 0

    async def admit(self) -> bool:
        """Wait for a turn; False (at once) when `max_waiting` requests already wait."""
        if self._waiting >= self._max_waiting and not self._take():
            self.refused += 1
            return False
        if self._lock is None:
            self._lock = trio.Lock()
        self._waiting += 1
        try:
            async with self._lock:  # trio's Lock is fair: first come, first served
                while not self._take():
                    await trio.sleep(self._interval * (1.0 - self._tokens))
        finally:
            self._waiting -= 1
        return True

    def _take(self) -> bool:
        now = trio.current_time()
        if self._refilled_at is not None:
            elapsed = now - self._refilled_at
            self._tokens = min(float(self._burst), self._tokens + elapsed / self._interval)
        self._refilled_at = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False
