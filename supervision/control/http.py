"""The node's HTTP control plane: metrics, health, readiness, the kill switch, Alertmanager.

We write one ASGI callable and let hypercorn (h11 underneath, on trio) speak HTTP; there is
no hand-written HTTP parsing here. The request bodies are validated by the pure schemas in
`protocols/control.py`; the plane is the thin shell around them. This module holds the
plane itself: its lifecycle (`serve`, `shutdown`), the ASGI entry, the guards in order, routing
and the read endpoints. The two POSTs, with their authentication and bounded bodies, are
`supervision.control.commands`; every outcome becomes a short JSON reply
(`supervision.control.replies`). The node runs it on a thread and trio loop of its own
(`supervision.control.server`), so the trading loop never waits for an HTTP client.

Routes:

    GET  /metrics     the node's Prometheus text (one render shared for `metrics_max_age_s`)
    GET  /healthz     200 {"status": "alive"}: the process answers
    GET  /readyz      the readiness JSON; 200 only when READY-TRADING, otherwise 503
    POST /control     X-Auth-Token; {"action": ..., "reason": ...} -> target.apply
    POST /am-webhook  Alertmanager webhook v4 -> at most one command per payload

Every request passes, in this order (`supervision.control.guard`): a `Host` header naming this
node (403 otherwise: no cross-site or DNS-rebinding route in), the route and method (404, 405),
then for reads a fair pace (503 when too many wait), and for POSTs `Content-Type:
application/json` (415), the token (429 while a client's failures are rate-limited, 401), the
bounded body (413) and its schema (400).

Rules that keep the kill switch trustworthy:

- Nothing changes on any error. Every check runs before the target is called, and
  `ControlTarget.apply` is the single entry point for a change, reached only through the two
  POST endpoints (`supervision.control.commands`: authentication before the body is read,
  tokens compared in constant time, failures rate-limited, Alertmanager only tightening).
- Bodies are bounded twice (`supervision.control.guard.read_body`): a declared Content-Length
  over the limit is refused before reading, and a streamed (chunked) body is abandoned as soon
  as it passes the limit.
- Whatever a request carried is escaped (`protocols.control.printable`) before it is repeated
  in a log line or an error, so nobody forges a log line.
- No traceback reaches a client: an unexpected exception becomes a 500 with a short JSON error,
  and the traceback goes to the log (`supervision.control.replies` builds and sends replies).
- We bind 127.0.0.1 unless told otherwise, and `/am-webhook` needs a token beyond loopback.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

import trio

from protocols.control import (
    MIN_TOKEN_CHARS,
    ControlCommand,
    ControlOutcome,
    ControlRequestError,
    Readiness,
    json_bytes,
    printable,
    readiness_reply,
)
from supervision.control.commands import CommandEndpoints, SecretLike
from supervision.control.guard import (
    ClientGone,
    HostCheck,
    Pacer,
    header_values,
    is_loopback,
    json_content_problem,
)
from supervision.control.replies import (
    HttpReply,
    Receive,
    RequestRefused,
    Scope,
    Send,
    error,
    lifespan,
    send_reply,
)
from supervision.control.server import BindError, serve_asgi
from supervision.control.webhook import AlertTracker
from supervision.runtime.bridge import LoopBridge

__all__ = [
    "MIN_TOKEN_CHARS",
    "BindError",
    "ControlCommand",
    "ControlOutcome",
    "ControlPlane",
    "ControlTarget",
    "Readiness",
    "SecretLike",
]

Count = Callable[[str, Mapping[str, str]], None]

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


class ControlTarget(Protocol):
    """What the control plane drives: the node.

    `apply` and `readiness` run on the node's loop (through `node_bridge` when the plane has
    its own), must return quickly and never block; `apply` is the one place where a command
    changes anything. `metrics_text` runs on the plane's loop and must be thread-safe."""

    def apply(self, command: ControlCommand) -> ControlOutcome: ...

    def readiness(self) -> Readiness: ...

    def metrics_text(self) -> tuple[bytes, str]: ...


class ControlPlane:
    """The HTTP control plane of one node, served by hypercorn on a trio loop.

    Run it with `await nursery.start(plane.serve)`, which returns the bound port (ask for
    port 0 to let the OS choose); stop it with `shutdown()` or by cancelling its scope. The node
    serves it from its own thread (`supervision.control.server.ControlPlaneThread`), with
    `node_bridge` to reach the node's loop."""

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
        allowed_hosts: Iterable[str] = (),
        shutdown_grace_s: float = 2.0,
        node_bridge: LoopBridge | None = None,
        node_timeout_s: float = 2.0,
        metrics_max_age_s: float = 1.0,
        reads_per_s: float = 50.0,
        count: Count | None = None,
        log: logging.Logger = logging.getLogger("troupe.control"),  # noqa: B008
    ) -> None:
        self._commands = CommandEndpoints(
            apply=self._apply_on_node, count=self._counted, token=token,
            max_body_bytes=max_body_bytes, am_token=am_token,
            am_max_body_bytes=am_max_body_bytes,
            alerts=AlertTracker(am_matchers, resume_on_resolved=am_resume_on_resolved), log=log,
        )
        if am_token is None and not is_loopback(host):
            raise ValueError(
                f"the control plane listens on {host}, beyond loopback: /am-webhook needs a "
                "token (control.alertmanager.token)"
            )
        self._target = target
        self._host = host
        self._requested_port = port
        self._hosts = HostCheck(host, allowed_hosts)
        self._shutdown_grace_s = shutdown_grace_s
        self._node_bridge = node_bridge
        self._node_timeout_s = node_timeout_s
        self._metrics_max_age_s = metrics_max_age_s
        self._metrics: tuple[float, bytes, bytes] | None = None  # (rendered at, body, type)
        self._metrics_lock: trio.Lock | None = None
        self._reads = Pacer(reads_per_s, burst=10, max_waiting=64)
        self._count = count
        self._log = log
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
        """Ask `serve` to stop gracefully. Call it from the plane's trio thread."""
        self._shutdown.set()

    async def serve(self, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
        """Serve until `shutdown()` (or cancellation); `task_status.started(bound_port)`.
        Raises `BindError` when the address cannot be bound."""
        if self._port is not None:
            raise RuntimeError("this control plane is already serving")
        plane = self

        class Started:
            def started(self, port: int) -> None:
                plane._port = port
                if not is_loopback(plane._host):
                    plane._log.warning("control plane listens on %s, beyond loopback",
                                       plane._host)
                task_status.started(port)

        await serve_asgi(self.asgi_app, host=self._host, port=self._requested_port,
                         shutdown_trigger=self._shutdown.wait,
                         grace_s=self._shutdown_grace_s, log=self._log, task_status=Started())

    # ----------------------------------------------------------------------------------------
    # The ASGI application

    async def asgi_app(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The raw ASGI callable: lifespan and http scopes; websockets are refused."""
        kind = scope.get("type")
        if kind == "lifespan":
            await lifespan(receive, send)
            return
        if kind == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        if kind != "http":
            return
        try:
            reply = await self._route(scope, receive)
        except ClientGone:
            return
        except Exception:
            self._log.exception(
                "control plane: unexpected error on %s %s",
                printable(str(scope.get("method"))), printable(str(scope.get("path"))),
            )
            reply = error(500, "internal error; see the node's log")
        if not await send_reply(send, reply, head=scope.get("method") == "HEAD"):
            self._log.debug("control plane: client left before the reply")

    async def _route(self, scope: Scope, receive: Receive) -> HttpReply:
        path: str = scope.get("path", "")
        method: str = scope.get("method", "")
        try:
            return await self._guarded(scope, receive, path, method)
        except RequestRefused as refused:
            self._counted("troupe_control_refused_total", reason=refused.reason)
            self._log.warning("refused %s %s: %d %s", printable(method), printable(path),
                              refused.reply.status, refused)
            return refused.reply
        except ControlRequestError as problem:
            # An alert we could not read may be the one that should have stopped trading;
            # a bad token may be someone trying the kill switch.
            level = logging.INFO
            if path == "/am-webhook":
                level = logging.ERROR
            elif problem.status in (401, 429):
                level = logging.WARNING
            self._log.log(level, "refused %s %s: %d %s", printable(method), printable(path),
                          problem.status, problem.message)
            return error(problem.status, problem.message)

    async def _guarded(self, scope: Scope, receive: Receive, path: str, method: str) -> HttpReply:
        host_problem = self._hosts.problem(header_values(scope, b"host"))
        if host_problem is not None:
            raise RequestRefused(403, host_problem, "host")
        allowed = _ROUTES.get(path)
        if allowed is None:
            return error(404, f"not found: {path}")
        if method not in allowed:
            allow = ", ".join(allowed).encode("ascii")
            return error(405, f"{printable(method)} not allowed on {path}", (b"allow", allow))
        if allowed is _GET:
            if not await self._reads.admit():
                raise RequestRefused(503, "too many requests waiting; try again", "busy",
                              (b"retry-after", b"1"))
            return await self._read(path)
        content_problem = json_content_problem(header_values(scope, b"content-type"))
        if content_problem is not None:
            raise RequestRefused(415, content_problem, "content_type")
        if path == "/control":
            return await self._commands.control(scope, receive)
        return await self._commands.am_webhook(scope, receive)

    async def _read(self, path: str) -> HttpReply:
        if path == "/metrics":
            body, content_type = await self._metrics_text()
            return HttpReply(200, body, content_type)
        if path == "/healthz":
            return HttpReply(200, json_bytes({"status": "alive"}))
        readiness: Readiness = await self._on_node(self._target.readiness)
        return HttpReply(200 if readiness.ready_trading else 503, readiness_reply(readiness))

    # ----------------------------------------------------------------------------------------
    # Reaching the node

    async def _on_node(self, fn: Callable[..., Any], *args: Any) -> Any:
        """`fn(*args)` on the node's loop: directly when the plane shares it, else through the
        bridge, waiting at most `node_timeout_s` (then a 503: the node is busy or stuck)."""
        if self._node_bridge is None:
            return fn(*args)
        with trio.move_on_after(self._node_timeout_s):
            try:
                return await self._node_bridge.call(fn, *args)
            except trio.RunFinishedError:
                raise ControlRequestError(503, "the node is stopping") from None
        raise ControlRequestError(
            503, f"the node did not answer within {self._node_timeout_s:g} s"
        )

    async def _apply_on_node(self, command: ControlCommand) -> ControlOutcome:
        outcome: ControlOutcome = await self._on_node(self._target.apply, command)
        return outcome

    async def _metrics_text(self) -> tuple[bytes, bytes]:
        """The exposition, rendered at most once per `metrics_max_age_s` however many clients
        scrape: concurrent scrapes wait for one render and share it."""
        if self._metrics_lock is None:
            self._metrics_lock = trio.Lock()
        async with self._metrics_lock:
            cached, now = self._metrics, trio.current_time()
            if cached is None or now - cached[0] >= self._metrics_max_age_s:
                body, content_type = self._target.metrics_text()
                cached = (trio.current_time(), body, content_type.encode("latin-1"))
                self._metrics = cached
            return cached[1], cached[2]

    def _counted(self, metric: str, **labels: str) -> None:
        if self._count is not None:
            try:
                self._count(metric, labels)
            except Exception:  # a metric must never fail a request
                self._log.debug("could not count %s", metric, exc_info=True)
