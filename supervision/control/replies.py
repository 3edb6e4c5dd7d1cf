"""What the control plane answers with, and the ASGI plumbing every answer goes through.

A request ends in exactly one `HttpReply`: a status, a short JSON body (or the Prometheus
text) and a few headers. A guard that refuses a request raises `RequestRefused`, which carries
its reply and the `reason` label the plane counts it under
(`troupe_control_refused_total{reason}`). `error` builds the JSON error reply, escaping
whatever the request carried (`protocols.control.printable`) so nobody forges a log line or a
reply. `send_reply` writes one reply (no body for HEAD; a client that left is not an error),
and `lifespan` answers hypercorn's start-up and shut-down handshake.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import attrs

from protocols.control import error_reply, printable
from protocols.errors import TroupeError

__all__ = ["JSON", "HttpReply", "Receive", "RequestRefused", "Scope", "Send", "error",
           "lifespan", "send_reply"]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

JSON = b"application/json"


@attrs.frozen
class HttpReply:
    """One HTTP answer: status, body, its content type and any extra headers."""

    status: int
    body: bytes
    content_type: bytes = JSON
    headers: tuple[tuple[bytes, bytes], ...] = ()


class RequestRefused(TroupeError):
    """A guard refused the request: counted as `troupe_control_refused_total{reason}`."""

    def __init__(self, status: int, message: str, reason: str,
                 *headers: tuple[bytes, bytes]) -> None:
        super().__init__(message)
        self.reply = HttpReply(status, error_reply(message), headers=headers)
        self.reason = reason


def error(status: int, message: str, *headers: tuple[bytes, bytes]) -> HttpReply:
    """A JSON error reply; `message` is escaped, since it may repeat what the client sent."""
    return HttpReply(status, error_reply(printable(message)), headers=headers)


async def send_reply(send: Send, reply: HttpReply, *, head: bool) -> bool:
    """Send `reply` (without its body for HEAD). False when the client left before it."""
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
        return False
    return True


async def lifespan(receive: Receive, send: Send) -> None:
    """Answer the ASGI lifespan protocol: the plane has nothing to start or stop."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
