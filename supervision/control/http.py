"""The node's HTTP control plane: metrics, health, readiness, the kill switch, Alertmanager.

We write one ASGI callable and let hypercorn (h11 underneath, on trio) speak HTTP; there is
no hand-written HTTP parsing here. The request bodies are validated by the pure schemas in
`protocols/control.py`; this module is the thin shell around them: routing, authentication,
bounded body reading, and turning every outcome into a short JSON reply.

Routes:

    GET  /metrics     the node's Prometheus text, as the target renders it
    GET  /healthz     200 {"status": "alive"}: the process answers
    GET  /readyz      the readiness JSON; 200 only when READY-TRADING, otherwise 503
    POST /control     X-Auth-Token; {"action": ..., "reason": ...} -> target.apply
    POST /am-webhook  Alertmanager webhook v4 -> disable_live per matching firing alert

Rules that keep the kill switch trustworthy:

- Nothing changes on any error. Every check (route, method, token, size, schema) runs before
  the target is called, and `ControlTarget.apply` is the single entry point for a change: the
  node journals and counts there, we log here (`<action> reason=<reason> source=<source>`, at
  WARNING on `troupe.control`).
- Authentication comes before the body is read: a caller without the token cannot make us
  read, let alone parse, anything. Tokens are compared in constant time (`hmac.compare_digest`
  over SHA-256 digests, so not even the length leaks). A node without a token refuses
  `/control` with 403 rather than running an open kill switch.
- Bodies are bounded twice: a declared Content-Length over the limit is refused before reading,
  and a streamed (chunked) body is abandoned as soon as it passes the limit.
- No traceback reaches a client: an unexpected exception becomes a 500 with a short JSON error,
  and the traceback goes to the log.
- We bind 127.0.0.1 unless told otherwise.

`/am-webhook` and its token. Alertmanager can send credentials (`http_config.authorization`,
a Bearer token), but its config file then holds a secret of ours. By default the webhook is
token-free and relies on the loopback bind: anyone who can reach it can only *reduce* risk
(disable_live), never enable trading, unless `am_resume_on_resolved` is set. That is the
trade-off: a local process could stop trading, which is a nuisance, not a loss. Give `am_token`
when the plane listens beyond loopback (we warn when it does without one); it is checked like
the control token, from `Authorization: Bearer <token>` or `X-Auth-Token`.

Resuming on resolved alerts is off by default. When it is on, we resume only once no matching
alert we saw firing is still unresolved (tracked by fingerprint), so one alert clearing cannot
resume trading while another still fires.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import ipaddress
import logging
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any, Protocol

import attrs
import hypercorn.config
import hypercorn.trio
import trio

from protocols.control import (
    AlertmanagerAlert,
    ControlActionName,
    ControlCommand,
    ControlOutcome,
    ControlRequestError,
    ControlSource,
    Readiness,
    alert_key,
    am_reply,
    clean_reason,
    control_reply,
    error_reply,
    json_bytes,
    matching_alerts,
    parse_am_webhook,
    parse_control_body,
    readiness_reply,
)
from protocols.errors import TroupeError

__all__ = [
    "ControlCommand",
    "ControlOutcome",
    "ControlPlane",
    "ControlTarget",
    "Readiness",
    "SecretLike",
]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

JSON = b"application/json"
DEFAULT_AM_MATCHERS: Mapping[str, str] = {"severity": "critical"}

_GET = ("GET", "HEAD")
_POST = ("POST",)
_ROUTES: Mapping[str, tuple[str, ...]] = {
    "/metrics": _GET,
    "/healthz": _GET,
    "/readyz": _GET,
    "/control": _POST,
    "/am-webhook": _POST,
}


class SecretLike(Protocol):
    """A secret held so that its repr is `***` (`supervision.config.load.Secret`)."""

    def reveal(self) -> str: ...


class ControlTarget(Protocol):
    """What the control plane drives: the node.

    All three are called on the server's trio task, so they must return quickly and never
    block; `apply` is the one place where a command changes anything."""

    def apply(self, command: ControlCommand) -> ControlOutcome: ...

    def readiness(self) -> Readiness: ...

    def metrics_text(self) -> tuple[bytes, str]: ...


@attrs.frozen
class _Reply:
    status: int
    body: bytes
    content_type: bytes = JSON
    headers: tuple[tuple[bytes, bytes], ...] = ()


class _ClientGone(TroupeError):
    """The client disconnected before we had its whole request: nobody to answer."""


def _error(status: int, message: str, *headers: tuple[bytes, bytes]) -> _Reply:
    return _Reply(status, error_reply(message), headers=headers)


def _digest(token: bytes) -> bytes:
    return hashlib.sha256(token).digest()


def _header_values(scope: Scope, name: bytes) -> list[bytes]:
    return [value for key, value in scope.get("headers", ()) if key.lower() == name]


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class ControlPlane:
    """The HTTP control plane of one node, served by hypercorn on the caller's trio loop.

    Run it with `await nursery.start(plane.serve)`, which returns the bound port (ask for
    port 0 to let the OS choose); stop it with `shutdown()` or by cancelling its scope."""

    def __init__(
        self,
        target: ControlTarget,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        token: SecretLike | None,
        max_body_bytes: int = 65536,
        am_matchers: Mapping[str, str] = DEFAULT_AM_MATCHERS,
        am_resume_on_resolved: bool = False,
        am_token: SecretLike | None = None,
        am_max_body_bytes: int = 1 << 20,
        shutdown_grace_s: float = 2.0,
        log: logging.Logger = logging.getLogger("troupe.control"),  # noqa: B008
    ) -> None:
        for name, secret in (("token", token), ("am_token", am_token)):
            if secret is not None and not secret.reveal():
                raise ValueError(f"{name} is empty: give a real token or none at all")
        if max_body_bytes <= 0 or am_max_body_bytes <= 0:
            raise ValueError("body limits must be positive")
        self._target = target
        self._host = host
        self._requested_port = port
        self._token = token
        self._max_body_bytes = max_body_bytes
        self._am_matchers = dict(am_matchers)
        self._am_resume_on_resolved = am_resume_on_resolved
        self._am_token = am_token
        self._am_max_body_bytes = am_max_body_bytes
        self._shutdown_grace_s = shutdown_grace_s
        self._log = log
        self._am_firing: set[str] = set()
        self._port: int | None = None
        self._shutdown = trio.Event()

    # ----------------------------------------------------------------------------------------
    # Serving

    @property
    def port(self) -> int:
        """The bound port; only known once `serve` has started."""
        if self._port is None:
            raise RuntimeError("the control plane is not serving yet")
        return self._port

    def shutdown(self) -> None:
        """Ask `serve` to stop gracefully. Call it from the trio thread."""
        self._shutdown.set()

    def _hypercorn_config(self) -> hypercorn.config.Config:
        config = hypercorn.config.Config()
        host = f"[{self._host}]" if ":" in self._host else self._host
        config.bind = [f"{host}:{self._requested_port}"]
        config.errorlog = self._log.getChild("http")
        config.accesslog = None
        config.include_server_header = False
        config.graceful_timeout = self._shutdown_grace_s
        config.keep_alive_timeout = 5.0
        config.read_timeout = 30
        return config

    async def serve(self, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
        """Serve until `shutdown()` (or cancellation); `task_status.started(bound_port)`."""
        if self._port is not None:
            raise RuntimeError("this control plane is already serving")
        if not _is_loopback(self._host):
            self._log.warning(
                "control plane listens on %s, beyond loopback%s",
                self._host,
                "" if self._am_token else "; /am-webhook has no token: set am_token",
            )
        serve = functools.partial(
            hypercorn.trio.serve,
            self.asgi_app,  # type: ignore[arg-type]  # hypercorn's TypedDict scopes
            self._hypercorn_config(),
            shutdown_trigger=self._shutdown.wait,
            mode="asgi",
        )
        async with trio.open_nursery() as nursery:
            binds: list[str] = await nursery.start(serve)
            self._port = int(binds[0].rsplit(":", 1)[1])
            self._log.info("control plane listening on %s", binds[0])
            task_status.started(self._port)
        self._log.info("control plane stopped")

    # ----------------------------------------------------------------------------------------
    # The ASGI application

    async def asgi_app(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The raw ASGI callable: lifespan and http scopes; websockets are refused."""
        kind = scope.get("type")
        if kind == "lifespan":
            await self._lifespan(receive, send)
            return
        if kind == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        if kind != "http":
            return
        try:
            reply = await self._route(scope, receive)
        except _ClientGone:
            return
        except Exception:
            self._log.exception(
                "control plane: unexpected error on %s %s", scope.get("method"), scope.get("path")
            )
            reply = _error(500, "internal error; see the node's log")
        await self._send_reply(send, reply, head=scope.get("method") == "HEAD")

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _send_reply(self, send: Send, reply: _Reply, *, head: bool) -> None:
        headers = [
            (b"content-type", reply.content_type),
            (b"content-length", str(len(reply.body)).encode("ascii")),
            (b"cache-control", b"no-store"),
            *reply.headers,
        ]
        try:
            await send({"type": "http.response.start", "status": reply.status, "headers": headers})
            await send({"type": "http.response.body", "body": b"" if head else reply.body})
        except OSError:
            self._log.debug("control plane: client left before the reply")

    async def _route(self, scope: Scope, receive: Receive) -> _Reply:
        path: str = scope.get("path", "")
        method: str = scope.get("method", "")
        allowed = _ROUTES.get(path)
        if allowed is None:
            return _error(404, f"not found: {path}")
        if method not in allowed:
            allow = ", ".join(allowed).encode("ascii")
            return _error(405, f"{method} not allowed on {path}", (b"allow", allow))
        try:
            if path == "/metrics":
                body, content_type = self._target.metrics_text()
                return _Reply(200, body, content_type.encode("latin-1"))
            if path == "/healthz":
                return _Reply(200, json_bytes({"status": "alive"}))
            if path == "/readyz":
                readiness = self._target.readiness()
                status = 200 if readiness.ready_trading else 503
                return _Reply(status, readiness_reply(readiness))
            if path == "/control":
                return await self._control(scope, receive)
            return await self._am_webhook(scope, receive)
        except ControlRequestError as error:
            # An alert we could not read may be the one that should have stopped trading;
            # a bad token may be someone trying the kill switch.
            level = logging.INFO
            if path == "/am-webhook":
                level = logging.ERROR
            elif error.status == 401:
                level = logging.WARNING
            self._log.log(level, "refused %s %s: %d %s", method, path, error.status, error.message)
            return _error(error.status, error.message)

    # ----------------------------------------------------------------------------------------
    # POST /control and POST /am-webhook

    async def _control(self, scope: Scope, receive: Receive) -> _Reply:
        if self._token is None:
            return _error(403, "control disabled: no token configured")
        self._authenticate(self._token, _header_values(scope, b"x-auth-token"))
        body = await self._read_body(scope, receive, self._max_body_bytes)
        command = parse_control_body(body, source=ControlSource.HTTP)
        outcome = self._apply(command)
        return _Reply(200 if outcome.ok else 409, control_reply(command, outcome))

    async def _am_webhook(self, scope: Scope, receive: Receive) -> _Reply:
        if self._am_token is not None:
            provided = _header_values(scope, b"x-auth-token") + [
                value[7:].strip()
                for value in _header_values(scope, b"authorization")
                if value[:7].lower() == b"bearer "
            ]
            self._authenticate(self._am_token, provided)
        body = await self._read_body(scope, receive, self._am_max_body_bytes)
        return _Reply(200, self._apply_alerts(parse_am_webhook(body)))

    def _apply_alerts(self, alerts: list[AlertmanagerAlert]) -> bytes:
        firing, resolved = matching_alerts(alerts, self._am_matchers)
        applied = refused = 0
        for alert in resolved:
            self._am_firing.discard(alert_key(alert))
        for alert in firing:
            self._am_firing.add(alert_key(alert))
            command = ControlCommand(
                ControlActionName.DISABLE_LIVE, alert.name, ControlSource.ALERTMANAGER
            )
            if self._apply(command).ok:
                applied += 1
            else:
                refused += 1
        if self._am_resume_on_resolved and resolved and not self._am_firing:
            names = ", ".join(sorted({alert.name for alert in resolved}))
            command = ControlCommand(
                ControlActionName.RESUME,
                clean_reason(f"resolved: {names}"),
                ControlSource.ALERTMANAGER,
            )
            if self._apply(command).ok:
                applied += 1
            else:
                refused += 1
        return am_reply(applied, refused, ignored=len(alerts) - len(firing) - len(resolved))

    def _apply(self, command: ControlCommand) -> ControlOutcome:
        """The single door to a change: the target applies, we log what it did."""
        outcome = self._target.apply(command)
        if outcome.ok:
            self._log.warning("%s", command.log_line())
        else:
            self._log.warning(
                "refused: %s state=%s detail=%s", command.log_line(), outcome.state, outcome.detail
            )
        return outcome

    def _authenticate(self, expected: SecretLike, provided: list[bytes]) -> None:
        if not provided:
            raise ControlRequestError(401, "missing token: send it in the X-Auth-Token header")
        want = _digest(expected.reveal().encode("utf-8"))
        # Every candidate must match, and each is compared, so timing says nothing about which.
        matches = [hmac.compare_digest(_digest(value), want) for value in provided]
        if not all(matches):
            raise ControlRequestError(401, "bad token")

    async def _read_body(self, scope: Scope, receive: Receive, limit: int) -> bytes:
        """The request body, refused with 413 as soon as it is known to exceed `limit`."""
        declared = _header_values(scope, b"content-length")
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
                raise _ClientGone
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise ControlRequestError(413, f"body is over the limit of {limit} bytes")
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)
