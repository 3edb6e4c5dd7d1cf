"""The Binance adapter's I/O: a REST worker thread running ccxt, and websocket reader tasks.

Everything here only moves bytes and tells the venue connection what came back; the meaning is
decided by the transport (`supervision.venues.binance.transport`), inside the connection actor.

`RestWorker`: one thread that owns ccxt's synchronous client and runs one request at a time from
its queue, so a slow or hung request (bounded by the client's timeout) never stalls the event
loop, market data or any other actor. A request still queued can be taken back (`withdraw`): a
cancel-all takes back the new orders queued behind it, which must never reach the venue after
it. A Binance connection runs its REST in worker processes instead, one for exits, so an exit
never waits behind new orders (`supervision.venues.binance.exits`,
`supervision.venues.binance.rest_process`: the same interface and answers); Hyperliquid runs
this thread. Each answer goes to the connection
as `RestDone`: the value, or the failure's kind (`client.classify`), its words, the venue's
Retry-After, and the venue's own counters from the response's headers (`client.usage`: request
weight this minute, orders in the last 10 s ...) with the venue's clock (`Date`), which says
the window they count. Headers are cleared before each request, so a request that got no
response never reports the previous one's.

`StreamReader`: one websocket (the combined market streams, or the user-data stream) on the
node's trio loop, next to the actors (`trio.lowlevel.spawn_system_task`; on its own thread and
loop when there is none, as in a test). It tells the connection each frame as `WsFrame` stamped
with our monotonic receive time, `WsUp` when connected and `WsDown(reason)` when the socket is
lost. No frame for `heartbeat_s` (45 s by default; noticed within an eighth more) counts as lost.
Reconnects wait an exponential backoff with full jitter (0.5 s doubling to 30 s, reset after a
connection that delivered data or stayed up a whole heartbeat: a quiet user stream replaced for its
silence was a healthy connection, and must not push the next reconnect out towards 30 s). The
reader never waits on its consumer: a frame the connection's mailbox refuses is dropped and
counted, and the books see a gap and resync, while the socket keeps being read, so pings keep being
answered. A frame is told in trio-websocket's own reader task as soon as the library has
parsed it (`_Receipt`, in place of its queue's sending end): no trio scheduling round between
the read and the frame's chain, and no turn of the dispatcher's in between (it runs the chain
in place, ahead of its own ready cells). It is stamped with the time the socket read that
brought its last bytes returned: frames read together are parsed one after another's chain,
and that wait is part of their tick-to-trade.
"""

from __future__ import annotations

import contextlib
import logging
import math
import random
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

import attrs
import trio
import trio_websocket

from supervision.venues.binance.client import classify, retry_after_s, usage, venue_time_ns

__all__ = ["RestDone", "RestWorker", "StreamReader", "WsDown", "WsFrame", "WsUp", "answer"]

log = logging.getLogger("troupe.venues.binance")
_QUERY = re.compile(r"\?\S*")


@attrs.frozen(slots=True)
class RestDone:
    tag: Any
    value: Any = None
    failure: str | None = None  # classify(): throttled, banned, rejected, unknown, lost, ...
    message: str = ""
    retry_after_s: float | None = None
    usage: tuple[tuple[str, int], ...] = ()  # the venue's counters: (limit name, used)
    venue_ns: int | None = None  # the venue's clock at the answer (Date): the counters' window


@attrs.frozen(slots=True)
class WsFrame:
    stream: str  # "market" or "user"
    text: str
    recv_ns: int


@attrs.frozen(slots=True)
class WsUp:
    stream: str
    url: str


@attrs.frozen(slots=True)
class WsDown:
    stream: str
    reason: str  # for the log line
    retry_in_s: float

    @property
    def kind(self) -> str:
        """The reason as a metric label: silent, closed, unreachable, failed."""
        for word, kind in (("no data", "silent"), ("closed", "closed"), ("reach", "unreachable")):
            if word in self.reason:
                return kind
        return "failed"


Deliver = Callable[[Any], Any]


class RestWorker:
    """`submit(tag, method, params)` runs `getattr(client, method)(params)` on the thread, or
    `method(client, params)` for a callable."""

    def __init__(self, make_client: Callable[[], Any], deliver: Deliver,
                 name: str = "binance-rest") -> None:
        self._make_client = make_client
        self._deliver = deliver
        self._jobs: deque[tuple[Any, Any, dict[str, Any]]] = deque()
        self._ready = threading.Condition()
        self._closing = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._started = False

    def submit(self, tag: Any, method: str | Callable[[Any, dict[str, Any]], Any],
               params: dict[str, Any] | None = None) -> None:
        if not self._started:
            self._started = True
            self._thread.start()
        with self._ready:
            self._jobs.append((tag, method, dict(params or {})))
            self._ready.notify()

    def withdraw(self, wanted: Callable[[Any], bool]) -> list[Any]:
        """Takes the queued requests whose tag `wanted` names out of the queue, unsent, and
        returns their tags in queue order. The request on the wire (or about to be) is not
        among them: it was taken off the queue already."""
        with self._ready:
            marks = [wanted(tag) for tag, _method, _params in self._jobs]
            if not any(marks):
                return []
            taken = [job[0] for job, mark in zip(self._jobs, marks, strict=True) if mark]
            self._jobs = deque(job for job, mark in zip(self._jobs, marks, strict=True)
                               if not mark)
            return taken

    def close(self) -> None:
        """Ends the thread once the requests queued so far are done."""
        with self._ready:
            self._closing = True
            self._ready.notify()

    def _next(self) -> tuple[Any, Any, dict[str, Any]] | None:
        with self._ready:
            while not self._jobs and not self._closing:
                self._ready.wait()
            return self._jobs.popleft() if self._jobs else None

    def _run(self) -> None:
        client = self._make_client()
        while (job := self._next()) is not None:
            self._deliver(answer(client, *job))


def answer(client: Any, tag: Any, method: str | Callable[[Any, dict[str, Any]], Any],
           params: dict[str, Any]) -> RestDone:
    """Run one request on `client` and say what came back: every failure is an answer
    (`classify`), never an exception. The worker thread and the worker process
    (`supervision.venues.binance.rest_process`) both answer through this."""
    client.last_response_headers = None
    try:
        if callable(method):  # a composite request (a reconciliation's three calls)
            value = method(client, params)
        elif method == "load_markets":
            value = client.load_markets()
        else:
            value = getattr(client, method)(params)
        return RestDone(tag, value, usage=usage(client), venue_ns=venue_time_ns(client))
    except Exception as exc:
        # Query strings go: they carry the request's timestamp and signature.
        words = _QUERY.sub("", f"{type(exc).__name__}: {exc}")[:300]
        return RestDone(tag, None, classify(exc), words, retry_after_s(client), usage(client),
                        venue_time_ns(client))


class StreamReader:
    """`greeting` (a venue that subscribes by message, Hyperliquid): what to send on every
    connect, before `WsUp`; `ping`: what to send when the socket has been quiet for `ping_s`
    (the venue's application ping; its answer counts as data). `venue` names the threads
    and logs."""

    def __init__(self, stream: str, url: Callable[[], str | None], deliver: Deliver, *,
                 heartbeat_s: float = 45.0, backoff_min_s: float = 0.5,
                 backoff_max_s: float = 30.0, rng: random.Random | None = None,
                 greeting: Callable[[], Sequence[str]] | None = None, ping: str | None = None,
                 ping_s: float = 20.0, venue: str = "binance") -> None:
        self.stream, self._url, self._deliver = stream, url, deliver
        self._greeting, self._ping, self.ping_s = greeting, ping, ping_s
        self.venue = venue
        self._log = logging.getLogger(f"troupe.venues.{venue}")
        self.heartbeat_s = heartbeat_s
        self.backoff = (backoff_min_s, backoff_max_s)
        self._rng = rng or random.Random()
        self._scope: trio.CancelScope | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self._thread: threading.Thread | None = None
        self._closed = False
        self._up_since: float | None = None  # when the current connection came up (trio time)

    def start(self) -> None:
        try:
            self._token = trio.lowlevel.current_trio_token()
        except RuntimeError:  # not on a trio loop: a loop of our own
            self._thread = threading.Thread(target=trio.run, args=(self._guarded,),
                                            name=f"{self.venue}-{self.stream}", daemon=True)
            self._thread.start()
            return
        trio.lowlevel.spawn_system_task(self._guarded, name=f"{self.venue}-{self.stream}")

    def close(self) -> None:
        self._closed = True
        scope = self._scope
        if scope is None:
            return
        if self._thread is None:
            try:
                on_loop = trio.lowlevel.current_trio_token() is self._token
            except RuntimeError:
                on_loop = False
            if on_loop:
                scope.cancel()
                return
        token = self._token
        if token is not None:
            with contextlib.suppress(trio.RunFinishedError):
                token.run_sync_soon(scope.cancel)

    async def _guarded(self) -> None:
        # A system task that raises would end the whole trio run: nothing may escape.
        self._token = trio.lowlevel.current_trio_token()
        with trio.CancelScope() as scope:
            self._scope = scope
            if self._closed:
                return
            try:
                await self._run()
            except Exception:
                self._log.exception("%s %s stream reader failed; the connection will restart "
                                    "it", self.venue, self.stream)
                self._deliver(WsDown(self.stream, "reader failed", 0.0))

    async def _run(self) -> None:
        attempt = 0
        while not self._closed:
            url = self._url()
            reason = "no url yet"
            if url is not None:
                self._up_since = None
                reason, delivered = await self._connect(url)
                up_since = self._up_since
                if delivered or (up_since is not None
                                 and trio.current_time() - up_since >= self.heartbeat_s):
                    attempt = 0
            low, high = self.backoff
            delay = self._rng.uniform(0, min(high, low * 2 ** attempt))
            attempt += 1
            self._deliver(WsDown(self.stream, reason, delay))
            await trio.sleep(delay)

    async def _connect(self, url: str) -> tuple[str, bool]:
        receipt: _Receipt | None = None
        try:
            async with trio_websocket.open_websocket_url(
                    url, message_queue_size=4096, connect_timeout=10,
                    disconnect_timeout=2) as ws:
                receipt = _Receipt.install(ws, self.stream)
                for request in self._greeting() if self._greeting is not None else ():
                    await ws.send_message(request)
                self._deliver(WsUp(self.stream, url))
                self._up_since = trio.current_time()
                heartbeat = self.heartbeat_s
                # One deadline for the connection, moved on by the receipt at most every
                # heartbeat/8 (moving a trio deadline is a heap operation: a scope per frame
                # cost more than the read), set heartbeat*9/8 ahead: silence is noticed
                # heartbeat to heartbeat*9/8 after the last frame, never earlier. The first
                # deadline is 9/8 ahead too: frames within heartbeat/8 of the connect do not
                # move it, so a deadline only `heartbeat` ahead could fire up to an eighth
                # early after them.
                try:
                    with trio.CancelScope(deadline=trio.current_time() + heartbeat * 9 / 8) \
                            as silence:
                        receipt.deliver_from_now(self._deliver, silence, heartbeat)
                        await self._watch(ws, receipt)
                finally:
                    receipt.stop()  # what the closing handshake still reads is not told
                if receipt.failure is not None:
                    raise receipt.failure
                return f"no data for {heartbeat:g}s", receipt.frames > 0
        except trio_websocket.ConnectionClosed as exc:
            if receipt is not None and receipt.failure is not None:
                raise receipt.failure from exc
            code = exc.reason.code if exc.reason is not None else "?"
            return f"closed by the venue ({code})", receipt is not None and receipt.frames > 0
        except trio_websocket.HandshakeError as exc:
            cause = exc.__cause__ or exc.__context__
            detail = f"{type(cause).__name__}: {cause}" if cause else type(exc).__name__
            return f"cannot reach {_QUERY.sub('', url)}: {detail}"[:200], False
        except OSError as exc:
            return f"cannot reach {url}: {exc.strerror or exc}", \
                receipt is not None and receipt.frames > 0

    async def _watch(self, ws: Any, receipt: _Receipt) -> None:
        """Wait for the connection's end (`get_message` raises ConnectionClosed): its frames
        are told by the receipt as they are read. A quiet socket gets the venue's ping every
        `ping_s` of quiet (its pong is data)."""
        if self._ping is None:
            while True:
                receipt.take(await ws.get_message())  # (only if one bypassed the receipt)
        pinged = trio.current_time()
        while True:
            with trio.move_on_at(max(pinged, receipt.last_frame_at()) + self.ping_s):
                receipt.take(await ws.get_message())
            if trio.current_time() >= max(pinged, receipt.last_frame_at()) + self.ping_s:
                await ws.send_message(self._ping)
                pinged = trio.current_time()


class _Receipt:
    """trio-websocket's queue of received messages, its sending end (the library reads
    `_send_channel` for each message it queues), put in its place: once the connection is up,
    each message is told to the connection as a `WsFrame` right there, in the library's
    reader task, as soon as it is parsed, instead of waiting in the queue for a reader task of
    ours, which trio would schedule in a later round, as likely after the dispatcher's next
    turn as before it: a frame's chain runs before anything else the loop has to do
    (`LoopDispatcher.told_while_sleeping`). It is stamped with the time the read that brought
    its last bytes returned, so a frame that waited behind the chains of frames read with it
    counts that wait. Before the connection is up (during the greeting, before `WsUp`),
    messages are queued, stamped, and told when it is. A connection whose telling fails is
    cancelled, and the failure raised by its reader."""

    __slots__ = ("_ahead_s", "_deliver", "_eighth_ns", "_inner", "_moved_ns", "_offset_s",
                 "_queued", "_scope", "_stopped", "failure", "frames", "last_ns", "read_ns",
                 "stream")

    def __init__(self, inner: Any, stream: str) -> None:
        self._inner, self.stream = inner, stream
        self._queued: Any = None
        self._deliver: Deliver | None = None
        self._stopped = False
        self._scope: trio.CancelScope | None = None
        self._eighth_ns = self._moved_ns = 0
        self._ahead_s = self._offset_s = 0.0
        self.frames = 0
        self.read_ns = 0  # when the last read off the socket returned (0: none noted yet)
        self.last_ns = 0  # the last frame told, its stamp
        self.failure: Exception | None = None

    @classmethod
    def install(cls, ws: Any, stream: str) -> _Receipt:
        receipt = cls(getattr(ws, "_send_channel", None), stream)
        if receipt._inner is not None:  # trio-websocket's own connection, as expected
            ws._send_channel = receipt
        receipt._queued = getattr(ws, "_recv_channel", None)
        protocol = getattr(ws, "_wsproto", None)
        if protocol is not None:
            receipt._note_reads(protocol)
        return receipt

    def _note_reads(self, protocol: Any) -> None:
        """Note when each read off the socket returned: a frame's receipt is the read that
        brought its last bytes, not when the library parses it, which for the second frame of
        a read comes after the first frame's whole chain (wsproto parses lazily). The library
        hands each read's bytes to wsproto's `receive_data` at once; that is looked up after
        the read, so the read already waited for when this is installed is noted too."""
        take = protocol.receive_data

        def receive_data(data: bytes | None) -> None:
            self.read_ns = time.monotonic_ns()
            take(data)

        protocol.receive_data = receive_data

    def deliver_from_now(self, deliver: Deliver, silence: trio.CancelScope,
                         heartbeat_s: float) -> None:
        """Tell what was queued meanwhile, then every message as it comes. (No checkpoint
        between the two: nothing can come between them.)"""
        self._scope, self._ahead_s = silence, heartbeat_s * 9 / 8
        self._eighth_ns = int(heartbeat_s / 8 * 1e9)
        self._offset_s = trio.current_time() - time.monotonic_ns() / 1e9
        self._moved_ns = time.monotonic_ns()
        queued = self._queued
        self._deliver = deliver
        while queued is not None:
            try:
                self.take(queued.receive_nowait())
            except (trio.WouldBlock, trio.EndOfChannel, trio.ClosedResourceError):
                break  # a close is seen by the next get_message

    def take(self, item: Any) -> None:
        """A message queued before the connection was up (stamped then), or one that reached
        the queue some other way."""
        if type(item) is tuple:
            self._tell(str(item[1]), item[0])
        else:
            self._tell(str(item), time.monotonic_ns())

    def stop(self) -> None:
        self._deliver, self._stopped = None, True

    def last_frame_at(self) -> float:
        """When the last frame told was read, on trio's clock (-inf: none yet)."""
        if not self.last_ns:
            return -math.inf
        return self.last_ns / 1e9 + self._offset_s

    async def send(self, message: Any) -> None:
        now = self.read_ns or time.monotonic_ns()
        if self._stopped:
            return
        if self._deliver is None:
            await self._inner.send((now, message))
            return
        self._tell(str(message), now)

    def _tell(self, text: str, recv_ns: int) -> None:
        deliver = self._deliver
        if deliver is None or self.failure is not None:
            return
        self.frames += 1
        self.last_ns = recv_ns
        try:
            deliver(WsFrame(self.stream, text, recv_ns))
        except Exception as exc:  # raised again by our reader task, not in the library's
            self.failure = exc
            if self._scope is not None:
                self._scope.cancel()
            return
        if recv_ns - self._moved_ns > self._eighth_ns and self._scope is not None:
            self._moved_ns = recv_ns
            self._scope.deadline = recv_ns / 1e9 + self._offset_s + self._ahead_s

    async def aclose(self) -> None:
        if self._inner is not None:
            await self._inner.aclose()
