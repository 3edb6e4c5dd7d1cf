"""Market data on its way to one book at one instant, told as one message.

A venue connection handles a `FeedBatch` (the events a replay in virtual time delivers at one
instant) event by event, exactly as it would handle them told one after the other. Each event
it passes on to a book travels as a timed tell that lands after the feed latency; with a fixed
latency the events of one instant land at one instant too, and would land back to back: two
timer entries with consecutive sequence numbers, two turns of the book in a row. `Landings`
gathers them into one `FeedBatch` instead, which the book handles event by event: the same
work, one hop.

The rule that keeps it exact: events join only while nothing else could come between them. So
`add` tells what it holds first when the next event goes to another book or lands at another
instant, and the connection calls `flush` before it arms a timer of its own (a timer due at
the same instant would have come between two of them) and at the end of the batch. Tells that
land now, and the connection's other messages, are not timers: they change nothing here.
"""

from __future__ import annotations

from actors.behaviour import Context, Ref
from protocols.feed import FeedBatch, FeedEvent

__all__ = ["Landings"]


class Landings:
    """The timed tells to one book, landing at one instant, not told yet."""

    __slots__ = ("_book", "_events", "_recv_ns")

    def __init__(self) -> None:
        self._book: Ref | None = None
        self._recv_ns = 0
        self._events: list[FeedEvent] = []

    def add(self, book: Ref, event: FeedEvent, ctx: Context) -> None:
        if self._events and (book is not self._book or event.recv_ns != self._recv_ns):
            self.flush(ctx)
        self._book, self._recv_ns = book, event.recv_ns
        self._events.append(event)

    def flush(self, ctx: Context) -> None:
        events = self._events
        if not events:
            return
        assert self._book is not None
        ctx.tell_at(self._recv_ns, self._book,
                    events[0] if len(events) == 1 else FeedBatch(tuple(events)))
        self._events = []
