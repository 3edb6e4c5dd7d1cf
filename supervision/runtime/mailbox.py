"""Mailboxes with a declared backpressure policy.

Every actor's mailbox has two lanes. The *system* lane carries the runtime's control messages
(start, stop, failure notices, ask timeouts): it is unbounded, never dropped, and always drained
first, so a stop jumps ahead of any backlog. The *user* lane carries everything else under one of
six policies:

- `BoundedReject(capacity)`: at capacity the put is refused; the sender gets a `Refused`.
- `DropOldest(capacity)`: at capacity the oldest message is evicted to make room.
- `ConflateByKey(key, capacity)`: a message whose key is already queued replaces it in place (it
  keeps the older one's turn); `key(message) is None` means "never conflate this one".
- `StablePriority(levels, priority, capacity)`: FIFO within a level, lower level first. Level 0
  is never refused; `capacity` bounds each other level. A put never blocks.
- `FlowControl(capacity)`: flow control, not loss. On the deterministic host a put is never
  refused: the message is queued and, once the mailbox holds `capacity` or more, the actor that
  sent it waits (its turns are deferred) until the mailbox has drained below `capacity`, or until
  nothing else is ready at that instant (so virtual time never passes while a sender waits, and a
  consumer that cannot drain, failed or stopped, blocks nobody for good). The queue so holds at
  most `capacity` plus what one sender's turn produced, or what timed tells land at one instant
  (`Context.tell_at`: a wire has no turns to defer; the sender's own mailbox bounded what it
  sent). For virtual time (backtests), where nothing may be lost. A live host cannot hold a
  sender on another thread: there it refuses at capacity, as `BoundedReject` does.
- `Unbounded()`: for control traffic only. A market-data path must not use it.

Mailboxes are not thread-safe on their own: a cell serialises access (see
`supervision.runtime.cell`).
Every eviction, conflation and refusal is counted; nothing leaves a mailbox without a count.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Hashable
from typing import Any

import attrs
from pykka._envelope import Envelope

from protocols.runtime import ActorDead

EMPTY: Any = object()
"""Returned by `Mailbox.pop` when both lanes are empty (None is a valid message)."""


@attrs.frozen(slots=True)
class MailboxStats:
    """A point-in-time reading of one mailbox, cheap enough to take on every scrape."""

    policy: str
    capacity: int | None
    depth: int
    high_water: int
    enqueued: int
    handled: int
    dropped: int
    conflated: int
    rejected: int
    waits: int = 0  # FlowControl: times a sender was made to wait for this mailbox to drain


def _message_of(item: Any) -> Any:
    return item.message if type(item) is Envelope else item


def _fail_ask(item: Any, why: str) -> None:
    """An evicted ask must not leave its asker waiting for a timeout it cannot tell apart."""
    if type(item) is Envelope and item.reply_to is not None:
        item.reply_to.set_exception((ActorDead, ActorDead(why), None))


class Mailbox:
    """Base: the system lane and the counters. Subclasses own the user lane."""

    __slots__ = (
        "capacity",
        "conflated",
        "dropped",
        "enqueued",
        "handled",
        "high_water",
        "rejected",
        "system",
        "waits",
    )
    policy = "abstract"

    def __init__(self) -> None:
        self.capacity: int | None = None
        self.system: deque[Any] = deque()
        self.enqueued = 0
        self.handled = 0
        self.dropped = 0
        self.conflated = 0
        self.rejected = 0
        self.high_water = 0
        self.waits = 0  # FlowControl: times a sender was made to wait

    def put(self, item: Any) -> str | None:
        """Queue `item`; return None, or the reason it was refused."""
        raise NotImplementedError

    def put_system(self, item: Any) -> None:
        self.system.append(item)

    def pop(self) -> Any:
        """Next item: system lane first. Returns `EMPTY` when there is none."""
        raise NotImplementedError

    def user_depth(self) -> int:
        raise NotImplementedError

    def clear(self, why: str) -> int:
        """Drop everything in the user lane, counted as dropped (the actor was removed)."""
        dropped = 0
        while True:
            item = self._pop_user()
            if item is EMPTY:
                break
            _fail_ask(item, why)
            dropped += 1
        self.dropped += dropped
        return dropped

    def _pop_user(self) -> Any:
        raise NotImplementedError

    def take_user(self) -> tuple[Any, bool]:
        """The next user item (`EMPTY` if none) and whether another is behind it: a live
        cell's turn in one call (`supervision.runtime.live_cell`)."""
        item = self._pop_user()
        return item, self.user_depth() > 0

    def stats(self) -> MailboxStats:
        return MailboxStats(
            policy=self.policy,
            capacity=self.capacity,
            depth=self.user_depth() + len(self.system),
            high_water=self.high_water,
            enqueued=self.enqueued,
            handled=self.handled,
            dropped=self.dropped,
            conflated=self.conflated,
            rejected=self.rejected,
            waits=self.waits,
        )


class FifoMailbox(Mailbox):
    """A user lane that is one FIFO deque, `_queue` (hosts may pop it in place)."""

    __slots__ = ("_limit", "_queue")

    def __init__(self, capacity: int | None) -> None:
        super().__init__()
        self._queue: deque[Any] = deque()
        self._limit = capacity if capacity is not None else 1 << 62
        self.capacity = capacity

    def pop(self) -> Any:
        if self.system:
            return self.system.popleft()
        if self._queue:
            return self._queue.popleft()
        return EMPTY

    _pop_user = pop

    def user_depth(self) -> int:
        return len(self._queue)


class UnboundedMailbox(FifoMailbox):
    __slots__ = ()
    policy = "unbounded"

    def __init__(self) -> None:
        super().__init__(None)

    def put(self, item: Any) -> str | None:
        queue = self._queue
        queue.append(item)
        self.enqueued += 1
        if len(queue) > self.high_water:
            self.high_water = len(queue)
        return None


class BoundedRejectMailbox(FifoMailbox):
    __slots__ = ()
    policy = "bounded_reject"

    def put(self, item: Any) -> str | None:
        queue = self._queue
        if len(queue) >= self._limit:
            self.rejected += 1
            return "full"
        queue.append(item)
        self.enqueued += 1
        if len(queue) > self.high_water:
            self.high_water = len(queue)
        return None


class FlowControlMailbox(BoundedRejectMailbox):
    """`put` refuses at capacity (a live host); the deterministic host queues whatever the
    depth and holds the sender itself (`DeterministicCell._deliver_flow`)."""

    __slots__ = ("waiters",)
    policy = "flow_control"

    def __init__(self, capacity: int) -> None:
        super().__init__(capacity)
        self.waiters: list[Any] = []  # the senders waiting for this mailbox to drain


class DropOldestMailbox(FifoMailbox):
    __slots__ = ()
    policy = "drop_oldest"

    def put(self, item: Any) -> str | None:
        queue = self._queue
        if len(queue) >= self._limit:
            _fail_ask(queue.popleft(), "evicted by drop-oldest mailbox")
            self.dropped += 1
        queue.append(item)
        self.enqueued += 1
        if len(queue) > self.high_water:
            self.high_water = len(queue)
        return None


class _Slot:
    """A conflatable message's place in the queue: a newer one with the same key takes it."""

    __slots__ = ("item", "key")

    def __init__(self, key: Hashable, item: Any) -> None:
        self.key = key
        self.item = item


class ConflatingMailbox(Mailbox):
    """One FIFO of messages; those with a key sit in a `_Slot` the key's newest replaces."""

    __slots__ = ("_key", "_keyed", "_limit", "_queue")
    policy = "conflate_by_key"

    def __init__(self, key: Callable[[Any], Hashable | None], capacity: int | None) -> None:
        super().__init__()
        self._queue: deque[Any] = deque()
        self._keyed: dict[Hashable, _Slot] = {}
        self._key = key
        self._limit = capacity if capacity is not None else 1 << 62
        self.capacity = capacity

    def put(self, item: Any) -> str | None:
        key = self._key(item.message if type(item) is Envelope else item)
        if key is not None:
            slot = self._keyed.get(key)
            if slot is not None:
                _fail_ask(slot.item, "superseded by a newer message with the same key")
                slot.item = item
                self.conflated += 1
                self.enqueued += 1
                return None
        queue = self._queue
        if len(queue) >= self._limit:
            self.rejected += 1
            return "full"
        if key is None:
            queue.append(item)
        else:
            slot = self._keyed[key] = _Slot(key, item)
            queue.append(slot)
        self.enqueued += 1
        if len(queue) > self.high_water:
            self.high_water = len(queue)
        return None

    def pop(self) -> Any:
        if self.system:
            return self.system.popleft()
        return self._pop_user()

    def _pop_user(self) -> Any:
        if self._queue:
            item = self._queue.popleft()
            if type(item) is _Slot:
                del self._keyed[item.key]
                return item.item
            return item
        return EMPTY

    def take_user(self) -> tuple[Any, bool]:
        queue = self._queue
        if not queue:
            return EMPTY, False
        item = queue.popleft()
        if type(item) is _Slot:
            del self._keyed[item.key]
            return item.item, bool(queue)
        return item, bool(queue)

    def user_depth(self) -> int:
        return len(self._queue)


class PriorityMailbox(Mailbox):
    __slots__ = ("_depth", "_levels", "_limit", "_priority")
    policy = "stable_priority"

    def __init__(self, levels: int, priority: Callable[[Any], int], capacity: int | None) -> None:
        super().__init__()
        self._depth = 0  # the items in every level: kept, not summed on each put
        self._levels: tuple[deque[Any], ...] = tuple(deque() for _ in range(levels))
        self._priority = priority
        self._limit = capacity if capacity is not None else 1 << 62
        self.capacity = capacity

    def put(self, item: Any) -> str | None:
        level = self._priority(item.message if type(item) is Envelope else item)
        levels = self._levels
        if not 0 <= level < len(levels):
            # A bad level is the sender's bug; queue it last rather than lose it.
            level = len(levels) - 1
        queue = levels[level]
        if level and len(queue) >= self._limit:
            self.rejected += 1
            return "priority_full"
        queue.append(item)
        self.enqueued += 1
        depth = self._depth = self._depth + 1
        if depth > self.high_water:
            self.high_water = depth
        return None

    def pop(self) -> Any:
        if self.system:
            return self.system.popleft()
        return self._pop_user()

    def _pop_user(self) -> Any:
        if self._depth:
            for queue in self._levels:
                if queue:
                    self._depth -= 1
                    return queue.popleft()
        return EMPTY

    def take_user(self) -> tuple[Any, bool]:
        depth = self._depth
        if depth:
            for queue in self._levels:
                if queue:
                    self._depth = depth - 1
                    return queue.popleft(), depth > 1
        return EMPTY, False

    def user_depth(self) -> int:
        return self._depth

    def level_depths(self) -> tuple[int, ...]:
        return tuple(len(queue) for queue in self._levels)


def _positive(_instance: object, attribute: attrs.Attribute[Any], value: int | None) -> None:
    if value is not None and value <= 0:
        raise ValueError(f"{attribute.name} must be a positive integer, got {value!r}")


@attrs.frozen
class Unbounded:
    """For control traffic only."""

    def build(self) -> Mailbox:
        return UnboundedMailbox()


@attrs.frozen
class BoundedReject:
    capacity: int = attrs.field(validator=_positive)

    def build(self) -> Mailbox:
        return BoundedRejectMailbox(self.capacity)


@attrs.frozen
class FlowControl:
    """Flow control in virtual time: a full mailbox makes its sender wait (see the module
    docstring); a live host refuses at capacity instead."""

    capacity: int = attrs.field(validator=_positive)

    def build(self) -> Mailbox:
        return FlowControlMailbox(self.capacity)


@attrs.frozen
class DropOldest:
    capacity: int = attrs.field(validator=_positive)

    def build(self) -> Mailbox:
        return DropOldestMailbox(self.capacity)


@attrs.frozen
class ConflateByKey:
    key: Callable[[Any], Hashable | None]
    capacity: int | None = attrs.field(default=None, validator=_positive)

    def build(self) -> Mailbox:
        return ConflatingMailbox(self.key, self.capacity)


@attrs.frozen
class StablePriority:
    levels: int = attrs.field(validator=_positive)
    priority: Callable[[Any], int]
    capacity: int | None = attrs.field(default=None, validator=_positive)

    def build(self) -> Mailbox:
        return PriorityMailbox(self.levels, self.priority, self.capacity)


MailboxPolicy = (Unbounded | BoundedReject | DropOldest | ConflateByKey | StablePriority
                 | FlowControl)
