"""The control plane on its own thread and trio loop: the trading loop never waits for HTTP.

Why a thread of its own (measured by `python -m benchmarks.control_plane`, figures in
docs/benchmarks.md): on the node's loop, every request's HTTP parsing, routing and reply, and
every `/metrics` render, runs between two actor messages. Eight clients scraping without pause
took the paper node's tick-to-trade p99 from milliseconds to hundreds of milliseconds, even with
the render made 10x cheaper and cached. On its own loop, the plane competes with trading only
for the GIL, which a thread doing socket I/O gives up at every system call, and what the node
itself must do for a request is a short callback on its loop:

- `/metrics` is rendered on the plane's thread (the Prometheus sink is thread-safe) and the
  text is shared by every scrape within `metrics_max_age_s`, so a crowd of scrapers costs one
  render per interval, not one per request;
- `/readyz`, `POST /control` and `/am-webhook` cross to the node's loop through a
  `supervision.runtime.bridge.LoopBridge` (`ControlPlane(node_bridge=...)`): the node reads its
  view or applies a command there, as it always did, and the answer comes back to the plane.

`ControlPlaneThread.start()` returns the bound port or raises `BindError` (a port in use, an
address this machine does not have) before anything else of the node has started; `stop()`
shuts the plane down gracefully and joins the thread.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import queue
import threading
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

import hypercorn.config
import hypercorn.trio
import trio

from protocols.errors import TroupeError

__all__ = ["BindError", "ControlPlaneThread", "Servable", "serve_asgi"]

log = logging.getLogger("troupe.control")
E = TypeVar("E", bound=BaseException)


class BindError(TroupeError, OSError):
    """The control plane cannot listen where the config says (a port in use, an address this
    machine does not have): one line naming the address."""

    def __init__(self, host: str, port: int, reason: str) -> None:
        shown = f"[{host}]" if ":" in host else host
        super().__init__(f"cannot listen on {shown}:{port}: {reason}")


class Servable(Protocol):
    """What `ControlPlaneThread` runs: `supervision.control.http.ControlPlane`."""

    @property
    def port(self) -> int: ...

    def shutdown(self) -> None: ...

    async def serve(self, *, task_status: Any = ...) -> None: ...


def _find(error: BaseException, kind: type[E]) -> E | None:
    """The first `kind` in `error` or, through exception groups, in what it holds."""
    if isinstance(error, kind):
        return error
    if isinstance(error, BaseExceptionGroup):
        for inner in error.exceptions:
            found = _find(inner, kind)
            if found is not None:
                return found
    return None


async def serve_asgi(app: Any, *, host: str, port: int,
                     shutdown_trigger: Callable[[], Awaitable[Any]], grace_s: float,
                     log: logging.Logger, task_status: Any) -> None:
    """Serve `app` with hypercorn on `host:port` until `shutdown_trigger` returns;
    `task_status.started(bound_port)`. Raises `BindError` when the address cannot be bound."""
    config = hypercorn.config.Config()
    config.bind = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
    config.errorlog = log.getChild("http")
    config.accesslog = None
    config.include_server_header = False
    config.graceful_timeout = grace_s
    config.keep_alive_timeout = 5.0
    config.read_timeout = 30
    serve = functools.partial(hypercorn.trio.serve, app, config,
                              shutdown_trigger=shutdown_trigger, mode="asgi")
    bound = False
    try:
        async with trio.open_nursery() as nursery:
            binds: list[str] = await nursery.start(serve)
            bound = True
            log.info("control plane listening on %s", binds[0])
            task_status.started(int(binds[0].rsplit(":", 1)[1]))
    except BaseException as error:
        failed = None if bound else _find(error, OSError)
        if failed is None:
            raise
        raise BindError(host, port, failed.strerror or str(failed)) from None
    log.info("control plane stopped")


class ControlPlaneThread:
    """Runs one `ControlPlane` on a daemon thread with a trio loop of its own."""

    def __init__(self, plane: Servable, *, name: str = "troupe-control") -> None:
        self.plane = plane
        self._name = name
        self._thread: threading.Thread | None = None
        self._token: trio.lowlevel.TrioToken | None = None

    @property
    def port(self) -> int:
        return self.plane.port

    def start(self, timeout: float = 10.0) -> int:
        """Start serving; the bound port. Raises `BindError` when the address cannot be bound."""
        if self._thread is not None:
            raise RuntimeError("this control plane thread was already started")
        started: queue.Queue[Any] = queue.Queue(maxsize=1)

        async def serve() -> None:
            self._token = trio.lowlevel.current_trio_token()
            async with trio.open_nursery() as nursery:
                started.put(await nursery.start(self.plane.serve))

        def main() -> None:
            try:
                trio.run(serve)
            except BaseException as error:  # reported to start(), or logged once serving
                if started.empty():
                    started.put(error)
                else:
                    log.exception("control plane thread failed")

        self._thread = threading.Thread(target=main, name=self._name, daemon=True)
        self._thread.start()
        try:
            outcome = started.get(timeout=timeout)
        except queue.Empty:
            raise RuntimeError(f"the control plane did not start within {timeout} s") from None
        if isinstance(outcome, BaseException):
            self._thread.join(timeout)
            bind_error = _find(outcome, BindError)
            if bind_error is not None:
                raise bind_error from None
            raise RuntimeError(f"the control plane did not start: {outcome!r}") from outcome
        return int(outcome)

    def stop(self, timeout: float = 5.0) -> None:
        """Shut the plane down gracefully (in-flight requests get `shutdown_grace_s`) and join
        its thread. Safe to call twice, or after a failed start."""
        thread, token = self._thread, self._token
        if thread is None or not thread.is_alive():
            return
        if token is not None:
            with contextlib.suppress(trio.RunFinishedError):  # already finished: fine
                token.run_sync_soon(self.plane.shutdown)
        thread.join(timeout)
        if thread.is_alive():
            log.warning("control plane thread still running %.1f s after stop", timeout)
