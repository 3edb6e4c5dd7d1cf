"""The cycle collector on a live host runs between chains, never inside one, and still keeps up
with garbage; the interpreter's own collector is back once the host stops."""

from __future__ import annotations

import gc
import time
import weakref
from collections.abc import Iterator

import pytest
import trio

from actors.behaviour import Behaviour
from supervision.runtime.idle_gc import IdleCollector
from supervision.runtime.live import LiveHost


class Cycle:
    def __init__(self) -> None:
        self.me = self


class Littering(Behaviour):
    """Makes `per_message` reference cycles a message; notes every collection that starts
    while it handles one."""

    def __init__(self, per_message: int, inside: list[int], last: list[weakref.ref[Cycle]],
                 spin: int = 0, seen: list[int] | None = None) -> None:
        self.per_message, self.inside, self.last, self.spin = per_message, inside, last, spin
        self.seen = seen
        self.handling = False
        _WATCHED.append(self)

    def collection_started(self, generation: int) -> None:
        if self.handling:
            self.inside.append(generation)

    def receive(self, message: object, ctx: object) -> None:
        if self.seen is not None:
            self.seen.append(_collections())
        self.handling = True
        try:
            for _ in range(self.per_message):
                cycle = Cycle()
            self.last[:] = [weakref.ref(cycle)]
        finally:
            self.handling = False
        if self.spin and message == "spin":
            self.spin -= 1
            ctx.tell(ctx.self_ref, "spin")  # type: ignore[attr-defined]


_WATCHED: list[Littering] = []  # the behaviours told of each collection that starts


def _started(phase: str, info: dict[str, int]) -> None:
    if phase == "start":
        for behaviour in _WATCHED:
            behaviour.collection_started(info["generation"])


@pytest.fixture
def small_thresholds() -> Iterator[None]:
    """Small collector thresholds, and every collection told to the test's behaviours."""
    before = gc.get_threshold()
    gc.set_threshold(100, 10, 10)
    gc.callbacks.append(_started)
    try:
        yield
    finally:
        gc.callbacks.remove(_started)
        _WATCHED.clear()
        gc.set_threshold(*before)


def _collections() -> int:
    return sum(stat["collections"] for stat in gc.get_stats())


def test_collections_wait_for_the_chain_and_still_free_its_garbage(small_thresholds: None) -> None:
    # Each message makes three times the young threshold of cycles: the interpreter would
    # collect inside its handling, at least twice a message.
    inside: list[int] = []
    last: list[weakref.ref[Cycle]] = []
    host = LiveHost()

    async def main() -> tuple[bool, int]:
        async with trio.open_nursery() as nursery:
            await nursery.start(host.serve)
            litter = host.spawn("litter", lambda: Littering(300, inside, last))
            await trio.sleep(0.02)
            enabled_while_serving = gc.isenabled()
            before = _collections()
            for _ in range(20):
                litter.tell("go")  # a loop task's tell: the chain runs in place
                await trio.sleep(0.005)
            collected = _collections() - before
            nursery.cancel_scope.cancel()
        return enabled_while_serving, collected

    enabled_while_serving, collected = trio.run(main)
    assert not enabled_while_serving
    assert inside == []  # not one collection began inside a handling
    assert collected >= 20  # but after each: the garbage of every message was collected
    assert last and last[0]() is None  # the last message's cycles too
    assert gc.isenabled()  # the interpreter's collector is back


def test_a_loop_that_never_goes_quiet_still_collects_between_turns(small_thresholds: None) -> None:
    # A cell telling itself 400 times keeps the dispatcher draining (it pauses for trio at its
    # turn budget, but never sleeps, and no loop task begins a chain): only the overdue rule
    # collects, between two turns.
    inside: list[int] = []
    last: list[weakref.ref[Cycle]] = []
    seen: list[int] = []  # collections so far, at each message
    host = LiveHost()

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(host.serve)
            litter = host.spawn("litter", lambda: Littering(60, inside, last, spin=400,
                                                            seen=seen))
            await trio.sleep(0.02)
            host.tell_at(time.monotonic_ns(), litter, "spin", None)  # the dispatcher's turn
            with trio.move_on_after(10):
                while len(seen) < 401:
                    await trio.sleep(0.01)
            nursery.cancel_scope.cancel()

    trio.run(main)
    assert len(seen) == 401 and inside == []
    # 60 cycles a turn, checked every 64 turns (3,840 > eight thresholds of 100): ~6 times.
    assert seen[-1] - seen[0] >= 4


def test_the_collector_keeps_the_interpreters_schedule(small_thresholds: None) -> None:
    collector = IdleCollector()
    collector.start()
    try:
        assert not gc.isenabled()
        assert not collector.collect_if_due()  # nothing made yet
        kept = [Cycle() for _ in range(150)]  # past the young threshold (100)
        assert collector.collect_if_due()
        assert collector.collections == [1, 0, 0]
        for _ in range(10):  # ten more young collections: the middle generation's turn
            kept += [Cycle() for _ in range(150)]
            collector.collect_if_due()
        kept += [Cycle() for _ in range(150)]
        collector.collect_if_due()
        assert collector.collections[1] == 1
        assert collector.collections[0] == 11
    finally:
        collector.stop()
    assert gc.isenabled() and kept


def test_a_host_told_not_to_leaves_collection_to_the_interpreter() -> None:
    with LiveHost(gc_when_idle=False) as host:
        assert host.dispatcher.collector is None
        assert gc.isenabled()


def test_a_collection_waits_until_the_task_that_began_the_chains_has_yielded(
        small_thresholds: None) -> None:
    # A websocket reader tells the frames of one read one after another: the frames behind the
    # first have been received already, so no collection may come between their chains.
    events: list[str] = []
    last: list[weakref.ref[Cycle]] = []
    host = LiveHost()

    def seen(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            events.append("collection")

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(host.serve)
            litter = host.spawn("litter", lambda: Littering(200, [], last))
            await trio.sleep(0.02)
            gc.callbacks.append(seen)
            try:
                events.clear()
                for frame in ("first", "second", "third"):
                    litter.tell("go")  # in place, each past the young threshold (not overdue)
                    events.append(frame)
                await trio.sleep(0.01)
            finally:
                gc.callbacks.remove(seen)
            nursery.cancel_scope.cancel()

    trio.run(main)
    assert events[:3] == ["first", "second", "third"], events
    assert "collection" in events[3:]
