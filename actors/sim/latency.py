"""Latency of the simulated venue, and the delay line that applies it.

A simulation that ignores latency fills quotes that in real life were still on their way, and
lets a cancel win every race it would lose. So every path has its own latency:

- `insert`: a new order or a replace travels from our connection to the matching engine;
- `cancel`: a cancel (or cancel-all) does the same trip (venues often treat it apart);
- `ack`: any report travels back (acks, fills, rejects, rate-limit answers);
- `feed`: public market data travels from the venue to our order books.

Each is a median in nanoseconds, either constant or drawn from a lognormal with that median and
shape `sigma`, from a seeded `random.Random`: the same seed gives the same latencies. One
connection is one ordered stream (a TCP socket or a websocket does not reorder), so a path never
delivers out of order: a draw that would overtake the previous message on the same path is held
back to arrive just after it. That is `DelayLine.push(..., fifo_key=path)`.
"""

from __future__ import annotations

import enum
import heapq
import itertools
import math
import random
from collections.abc import Callable, Hashable
from typing import Any

import attrs

__all__ = ["DelayLine", "LatencyModel", "Path"]


class Path(enum.Enum):
    INSERT = "insert"
    CANCEL = "cancel"
    ACK = "ack"
    FEED = "feed"


def _non_negative(_inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if type(value) is not int or value < 0:
        raise ValueError(f"{attribute.name} must be a non-negative int of ns, got {value!r}")


@attrs.frozen(slots=True)
class LatencyModel:
    insert_ns: int = attrs.field(default=0, validator=_non_negative)
    cancel_ns: int = attrs.field(default=0, validator=_non_negative)
    ack_ns: int = attrs.field(default=0, validator=_non_negative)
    feed_ns: int = attrs.field(default=0, validator=_non_negative)
    sigma: float = attrs.field(default=0.0, validator=attrs.validators.ge(0.0))

    @classmethod
    def from_ms(cls, *, insert: float = 0.0, cancel: float = 0.0, ack: float = 0.0,
                feed: float = 0.0, sigma: float = 0.0) -> LatencyModel:
        return cls(round(insert * 1e6), round(cancel * 1e6), round(ack * 1e6),
                   round(feed * 1e6), sigma)

    def median_ns(self, path: Path) -> int:
        if path is Path.INSERT:
            return self.insert_ns
        if path is Path.CANCEL:
            return self.cancel_ns
        if path is Path.ACK:
            return self.ack_ns
        return self.feed_ns

    def draw(self, path: Path, rng: random.Random) -> int:
        """One latency in ns. The lognormal's median is the configured value, so sigma widens
        the tail without moving the typical figure."""
        median = self.median_ns(path)
        if self.sigma == 0.0 or median == 0:
            return median
        return round(median * math.exp(self.sigma * rng.gauss(0.0, 1.0)))


class DelayLine:
    """Items due at a time, released in (due, insertion) order; FIFO per `fifo_key`."""

    __slots__ = ("_heap", "_last_due", "_seq")

    def __init__(self) -> None:
        self._heap: list[tuple[int, int, Any]] = []
        self._seq = itertools.count()
        self._last_due: dict[Hashable, int] = {}

    def push(self, due_ns: int, item: Any, *, fifo_key: Hashable | None = None) -> int:
        if fifo_key is not None:
            due_ns = self.stamp(due_ns, fifo_key)
        heapq.heappush(self._heap, (due_ns, next(self._seq), item))
        return due_ns

    def stamp(self, due_ns: int, fifo_key: Hashable) -> int:
        """When an item sent on `fifo_key`'s path with this draw arrives: never before the
        previous one on that path. For an item that travels outside the line (a timed tell)."""
        last = self._last_due.get(fifo_key, due_ns)
        if last > due_ns:
            due_ns = last
        self._last_due[fifo_key] = due_ns
        return due_ns

    def pop_due(self, now_ns: int) -> list[Any]:
        heap, out = self._heap, []
        while heap and heap[0][0] <= now_ns:
            out.append(heapq.heappop(heap)[2])
        return out

    def next_due(self) -> int | None:
        return self._heap[0][0] if self._heap else None

    def take(self, wanted: Callable[[Any], bool]) -> list[Any]:
        """Remove every item `wanted` picks and return them in due order."""
        taken = sorted(entry for entry in self._heap if wanted(entry[2]))
        if taken:
            self._heap = [entry for entry in self._heap if not wanted(entry[2])]
            heapq.heapify(self._heap)
        return [entry[2] for entry in taken]

    def items(self) -> list[Any]:
        """What is in flight, in due order (the line keeps it)."""
        return [entry[2] for entry in sorted(self._heap)]

    def __len__(self) -> int:
        return len(self._heap)
