"""The websocket reader against a real loopback server: a burst arrives whole and in order,
each frame told and stamped as the websocket read it, and silence still counts as a lost
stream."""

from __future__ import annotations

import itertools
import threading
import time
from typing import Any

import trio
from trio_websocket import WebSocketRequest, serve_websocket

from supervision.venues.binance.io import StreamReader, WsDown, WsFrame, WsUp, _Receipt

BURST = 323


tellers: set[str] = set()  # the trio tasks `_run_reader`'s frames were told in


def _run_reader(burst: int, heartbeat_s: float, linger_s: float,
                after_s: float = 0.0) -> list[Any]:
    """Serve one connection that sends `burst` frames at once `after_s` after accepting it,
    then stays silent; run the reader on the test's loop for `linger_s` and return everything
    it told."""
    told: list[Any] = []
    tellers.clear()

    async def main() -> None:
        async def handler(request: WebSocketRequest) -> None:
            ws = await request.accept()
            await trio.sleep(after_s)
            for i in range(burst):
                await ws.send_message(f'{{"n":{i}}}')
            await trio.sleep_forever()

        async with trio.open_nursery() as nursery:
            server = await nursery.start(serve_websocket, handler, "127.0.0.1", 0, None)
            url = f"ws://127.0.0.1:{server.port}/stream"
            def tell(message: Any) -> None:
                told.append(message)
                if isinstance(message, WsDown):
                    told.append(time.monotonic_ns())
                if isinstance(message, WsFrame):  # in the library's reader task, not ours
                    tellers.add(trio.lowlevel.current_task().name)

            reader = StreamReader("market", lambda: url, tell, heartbeat_s=heartbeat_s,
                                  backoff_min_s=60.0)
            reader.start()
            await trio.sleep(linger_s)
            reader.close()
            nursery.cancel_scope.cancel()

    trio.run(main)
    return told


def test_a_burst_is_told_whole_in_order_and_stamped_as_read() -> None:
    before = time.monotonic_ns()
    told = _run_reader(burst=BURST, heartbeat_s=30.0, linger_s=1.0)
    frames = [m for m in told if isinstance(m, WsFrame)]
    assert isinstance(told[0], WsUp)
    assert [f.text for f in frames] == [f'{{"n":{i}}}' for i in range(BURST)]
    assert tellers == {"trio_websocket._impl.WebSocketConnection._reader_task"}
    stamps = [f.recv_ns for f in frames]
    assert stamps == sorted(stamps) and before < stamps[0] <= time.monotonic_ns()
    assert not any(isinstance(m, WsDown) for m in told)


def test_frames_read_together_are_stamped_when_read_not_after_the_chains_before_them() -> None:
    # The connection takes 5 ms a frame (a slow chain) while the venue, on a loop of its own,
    # sends ten frames at once: those behind the first arrive in one read and each is parsed
    # only after the chain of the one before it. Their receipt is the read, so that wait
    # counts in their tick-to-trade.
    told: list[tuple[int, int]] = []  # (frame's stamp, when its telling began)
    port: list[int] = []
    serving = threading.Event()

    def venue() -> None:
        async def handler(request: WebSocketRequest) -> None:
            ws = await request.accept()
            # Not with the handshake's answer: the frames read with it, before the connection
            # is open, are stamped when parsed.
            await trio.sleep(0.1)
            for i in range(10):
                await ws.send_message(f'{{"n":{i}}}')
            await trio.sleep(2)

        async def serve() -> None:
            async with trio.open_nursery() as nursery:
                server = await nursery.start(serve_websocket, handler, "127.0.0.1", 0, None)
                port.append(server.port)
                serving.set()
                await trio.sleep(3)
                nursery.cancel_scope.cancel()

        trio.run(serve)

    thread = threading.Thread(target=venue, daemon=True)
    thread.start()
    assert serving.wait(5)

    async def main() -> None:
        def tell(message: Any) -> None:
            if isinstance(message, WsFrame):
                told.append((message.recv_ns, time.monotonic_ns()))
                time.sleep(0.005)

        reader = StreamReader("market", lambda: f"ws://127.0.0.1:{port[0]}/stream", tell,
                              heartbeat_s=30.0)
        reader.start()
        with trio.move_on_after(2):
            while len(told) < 10:
                await trio.sleep(0.01)
        reader.close()

    trio.run(main)
    thread.join(5)
    assert len(told) == 10
    waited = [began - stamp for stamp, began in told]
    assert max(waited) >= 10_000_000  # behind at least two chains of 5 ms, and counted
    assert all(stamp <= began for stamp, began in told)


def test_silence_is_a_lost_stream_after_the_heartbeat_not_before() -> None:
    # The burst comes 30 ms after the connect: inside the first heartbeat/8, where the reader
    # does not move its deadline, so that deadline must already leave a whole heartbeat.
    told = _run_reader(burst=3, heartbeat_s=0.4, linger_s=0.9, after_s=0.03)
    downs = [(i, m) for i, m in enumerate(told) if isinstance(m, WsDown)]
    assert len(downs) == 1 and downs[0][1].kind == "silent", told
    frames = [m for m in told if isinstance(m, WsFrame)]
    assert len(frames) == 3
    silent_for = told[downs[0][0] + 1] - frames[-1].recv_ns  # the time it was told
    # Never before the heartbeat; the upper bound leaves the loaded machine's scheduling slack.
    assert 0.4e9 <= silent_for <= 0.4e9 * 9 / 8 + 0.25e9, silent_for


def test_a_quiet_socket_gets_the_venues_ping_a_ping_interval_after_its_last_frame() -> None:
    # Hyperliquid closes a connection that sends nothing for a minute: the reader pings after
    # `ping_s` of quiet, counted from the last frame (or the last ping), never later.
    pings: list[int] = []
    told: list[Any] = []

    async def main() -> int:
        async def handler(request: WebSocketRequest) -> None:
            ws = await request.accept()
            await trio.sleep(0.1)
            await ws.send_message('{"n":0}')
            while True:
                if await ws.get_message() == "PING":
                    pings.append(time.monotonic_ns())

        async with trio.open_nursery() as nursery:
            server = await nursery.start(serve_websocket, handler, "127.0.0.1", 0, None)
            url = f"ws://127.0.0.1:{server.port}/ws"
            reader = StreamReader("market", lambda: url, told.append, heartbeat_s=30.0,
                                  ping="PING", ping_s=0.2)
            reader.start()
            await trio.sleep(0.75)
            reader.close()
            nursery.cancel_scope.cancel()
        return 0

    trio.run(main)
    frames = [m for m in told if isinstance(m, WsFrame)]
    assert len(frames) == 1 and len(pings) >= 2, (told, pings)
    first = (pings[0] - frames[0].recv_ns) / 1e9
    assert 0.2 <= first <= 0.27, first  # after the quiet, not a window later
    assert all(0.2 <= (b - a) / 1e9 <= 0.3 for a, b in itertools.pairwise(pings))


class _Widest:
    """Full jitter's upper end: the delay the backoff allows, not a random share of it."""

    @staticmethod
    def uniform(low: float, high: float) -> float:
        return high


def test_a_quiet_connection_that_stayed_up_resets_the_backoff() -> None:
    # A user stream with no orders is silent: each connection is replaced for its silence after
    # a heartbeat, and the next one must come as soon as after the first loss, not later and
    # later (it once reached 12-27 s after an outage, with fills missed meanwhile).
    told: list[Any] = []

    async def main() -> None:
        async def handler(request: WebSocketRequest) -> None:
            await request.accept()
            await trio.sleep_forever()

        async with trio.open_nursery() as nursery:
            server = await nursery.start(serve_websocket, handler, "127.0.0.1", 0, None)
            url = f"ws://127.0.0.1:{server.port}/user"
            reader = StreamReader("user", lambda: url, told.append, heartbeat_s=0.2,
                                  backoff_min_s=0.05, backoff_max_s=5.0,
                                  rng=_Widest())  # type: ignore[arg-type]
            reader.start()
            await trio.sleep(1.5)
            reader.close()
            nursery.cancel_scope.cancel()

    trio.run(main)
    delays = [m.retry_in_s for m in told if isinstance(m, WsDown)]
    assert len(delays) >= 3, told
    assert all(delay == 0.05 for delay in delays), delays


def test_a_message_before_the_connection_is_up_is_told_after_it_with_its_own_stamp() -> None:
    """During the greeting, before `WsUp`, a message waits in the library's queue with the time
    it was read; once the connection is up it is told first, then every message as it is read
    (in the library's reader task: nothing waits in the queue any more)."""
    async def main() -> tuple[list[WsFrame], list[WsFrame], int, int]:
        send, receive = trio.open_memory_channel[Any](8)
        receipt = _Receipt(send, "market")
        receipt._queued = receive
        await receipt.send('{"n":0}')
        queued = time.monotonic_ns()
        time.sleep(0.05)  # the greeting, the connection's WsUp
        told: list[WsFrame] = []
        with trio.CancelScope() as scope:
            receipt.deliver_from_now(told.append, scope, 30.0)
            at_up = list(told)
            before = time.monotonic_ns()
            await receipt.send('{"n":1}')
        return at_up, told, queued, before

    at_up, told, queued, before = trio.run(main)
    assert [f.text for f in at_up] == ['{"n":0}']
    assert at_up[0].recv_ns <= queued  # when it was read, not when the connection came up
    assert [f.text for f in told] == ['{"n":0}', '{"n":1}']
    assert told[1].recv_ns >= before  # told as it was sent to the queue
    assert told[1].recv_ns - told[0].recv_ns >= 50_000_000


def test_a_telling_that_fails_ends_the_connection_and_tells_nothing_more() -> None:
    async def main() -> tuple[_Receipt, list[str], bool]:
        send, _receive = trio.open_memory_channel[Any](8)
        receipt = _Receipt(send, "market")
        told: list[str] = []

        def tell(frame: WsFrame) -> None:
            told.append(frame.text)
            if frame.text == "bad":
                raise ValueError("the connection's mailbox broke")

        with trio.CancelScope() as scope:
            receipt.deliver_from_now(tell, scope, 30.0)
            for text in ("good", "bad", "after"):
                await receipt.send(text)
        return receipt, told, scope.cancel_called

    receipt, told, cancelled = trio.run(main)
    assert told == ["good", "bad"] and cancelled
    assert isinstance(receipt.failure, ValueError)
