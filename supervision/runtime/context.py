"""The one `Context` implementation, shared by both hosts.

Host specifics (the clock, the timer queue, where new cells run, the metrics sink) come from the
`HostServices` the cell was created by; everything else about effects is decided here once.
"""

from __future__ import annotations

import logging
import random
import zlib
from collections.abc import Callable, Hashable
from itertools import count
from typing import TYPE_CHECKING, Any, Protocol

from pykka._envelope import Envelope

from protocols.errors import TroupeError
from protocols.runtime import AskTimeout, Refused, Reply
from supervision.runtime.lifecycle import CellHandle, SelfMessage

if TYPE_CHECKING:
    from actors.behaviour import Behaviour, Counting, Gauging, MailboxSpec, Ref

log = logging.getLogger("troupe.actor")
_PENDING = object()  # a timer firing's handle until start_timer has returned it
_DONE = object()  # a timer firing's handle once it fired or was cancelled (never None: a reply)
Recording = Callable[..., None]  # a bound count, observe or gauge: called with its value
# Bindings kept per kind and incarnation: past this many label sets (an id used as a label,
# which the sink refuses, or a runaway one), a new label set is recorded unbound.
MAX_BOUND = 1024


class MetricsSink(Protocol):
    """Where a host's metrics go. A sink may also offer `bind_count`, `bind_observe` and
    `bind_gauge(actor, metric, labels)`, each returning a callable that records its value
    under those labels, called by one thread at a time (`Context.bind_count`, and the
    context's own bindings); one that does not gets `count`/`observe`/`gauge` called with the
    bound labels."""

    def count(self, actor: str, metric: str, amount: float, labels: dict[str, str]) -> None: ...

    def observe(self, actor: str, metric: str, value: float, labels: dict[str, str]) -> None: ...

    def gauge(self, actor: str, metric: str, value: float, labels: dict[str, str]) -> None: ...


class HostServices(Protocol):
    """What a host lends its cells and contexts."""

    seed: int
    metrics: MetricsSink

    def monotonic_ns(self) -> int: ...

    def time_ns(self) -> int: ...

    def start_timer(self, due_ns: int, cell: CellHandle, message: SelfMessage) -> Any: ...

    def tell_at(self, due_ns: int, target: Ref, message: Any, sender: ActorContext) -> None:
        """Hand `message` to `target` as an ordinary tell when `due_ns` comes (it waits with
        the timers); a refusal then is counted for `sender` (`lifecycle.TimedTell`)."""

    def cancel_timer(self, handle: Any) -> None: ...

    def create_cell(
        self,
        name: str,
        factory: Callable[[], Behaviour],
        *,
        mailbox: MailboxSpec | None,
        blocking: bool,
        parent: CellHandle | None,
    ) -> CellHandle: ...


class _AskReplyTo:
    """Stands where pykka expects a Future: the answer becomes a `Reply` message to the asker."""

    __slots__ = ("_cell", "_correlation", "_generation", "_tag")

    def __init__(self, cell: CellHandle, generation: int, correlation: int, tag: Any) -> None:
        self._cell = cell
        self._generation = generation
        self._correlation = correlation
        self._tag = tag

    def _send(self, reply: Reply) -> None:
        key = ("ask", self._correlation)
        self._cell.deliver_system(SelfMessage(self._generation, key, None, reply))

    def set(self, value: Any = None) -> None:
        self._send(Reply(self._correlation, self._tag, value=value))

    def set_exception(self, exc_info: Any = None) -> None:
        import sys

        error = (exc_info or sys.exc_info())[1]
        self._send(Reply(self._correlation, self._tag, error=error))


class AskRefused(TroupeError):
    """The target's mailbox refused the request; carries the `Refused` record."""

    def __init__(self, refused: Refused) -> None:
        super().__init__(f"{refused.actor} refused the ask: {refused.reason}")
        self.refused = refused


class ActorContext:
    """The effects of one incarnation of one actor. A restart builds a fresh context."""

    __slots__ = ("_cell", "_correlations", "_counters", "_gauges", "_generation", "_host",
                 "_observers", "_random", "_timers", "monotonic_ns", "time_ns")

    # The clocks are the host's own bound methods: a behaviour reads them on nearly every
    # message, and a method of ours that called the host's would be one call deeper.
    monotonic_ns: Callable[[], int]
    time_ns: Callable[[], int]

    def __init__(self, cell: CellHandle, host: HostServices, generation: int) -> None:
        self._cell = cell
        self._host = host
        self.monotonic_ns = host.monotonic_ns
        self.time_ns = host.time_ns
        self._generation = generation
        self._timers: dict[Hashable, SelfMessage] = {}  # armed, by key
        self._correlations = count(1)
        self._random: random.Random | None = None
        # What `count`, `observe` and `gauge` bound, by metric and labels (see `_bind`).
        self._counters: dict[Hashable, Recording] = {}
        self._observers: dict[Hashable, Recording] = {}
        self._gauges: dict[Hashable, Recording] = {}

    # -- identity -------------------------------------------------------------------------
    @property
    def self_ref(self) -> Ref:
        return self._cell.ref

    @property
    def name(self) -> str:
        return self._cell.name

    @property
    def random(self) -> random.Random:
        if self._random is None:
            # Stable across runs and restarts-by-order: host seed, actor name, incarnation.
            seed = zlib.crc32(self._cell.name.encode()) ^ (self._host.seed * 1_000_003)
            self._random = random.Random(seed + self._generation)
        return self._random

    # -- messaging ------------------------------------------------------------------------
    def tell(self, target: Ref, message: Any) -> Refused | None:
        return target.tell(message)

    def tell_at(self, due_ns: int, target: Ref, message: Any) -> None:
        self._host.tell_at(due_ns, target, message, self)

    def ask(self, target: Ref, message: Any, *, timeout: float, tag: Any = None) -> int:
        correlation = next(self._correlations)
        key = ("ask", correlation)
        self._arm(key, timeout, Reply(correlation, tag, error=AskTimeout(f"{timeout}s")))
        reply_to: Any = _AskReplyTo(self._cell, self._generation, correlation, tag)
        envelope = Envelope(message, reply_to=reply_to)
        refused = _deliver_envelope(target, envelope)
        if refused is not None:
            reply_to.set_exception((AskRefused, AskRefused(refused), None))
        return correlation

    # -- timers ---------------------------------------------------------------------------
    def schedule(self, delay: float, message: Any, *, key: Hashable | None = None) -> Hashable:
        if key is None:
            key = ("timer", next(self._correlations))
        self._arm(key, delay, message)
        return key

    def _arm(self, key: Hashable, delay: float, message: Any) -> None:
        timers = self._timers
        previous = timers.pop(key, None)
        host = self._host
        if previous is not None:  # `_let_go`, inlined: re-arming a key is the common case
            host.cancel_timer(previous.handle)
            previous.handle = _DONE
        due = host.monotonic_ns() + (int(delay * 1e9) if delay > 0 else 0)
        # The handle is only known after start_timer returns; it is filled in before any
        # firing can be handled (that needs this actor's turn, which this is). Not None
        # meanwhile: None marks a reply.
        firing = SelfMessage(self._generation, key, _PENDING, message)
        firing.handle = host.start_timer(due, self._cell, firing)
        timers[key] = firing

    def _let_go(self, firing: SelfMessage) -> None:
        """Cancel an armed timer. Its firing drops the handle (which refers back to it), so
        the two are freed by reference counting, not left to the garbage collector."""
        self._host.cancel_timer(firing.handle)
        firing.handle = _DONE

    def cancel_timer(self, key: Hashable) -> bool:
        firing = self._timers.pop(key, None)
        if firing is None:
            return False
        self._let_go(firing)
        return True

    def cancel_all_timers(self) -> None:
        for firing in self._timers.values():
            self._let_go(firing)
        self._timers.clear()

    def claim(self, firing: SelfMessage) -> bool:
        """Decide whether a timer firing or a reply is still wanted, and consume its key."""
        if firing.generation != self._generation:
            return False
        armed = self._timers.get(firing.key)
        if armed is None or (firing.handle is not None and firing is not armed):
            return False
        del self._timers[firing.key]
        if firing.handle is None:  # a reply beat its timeout: the timeout must not fire too
            self._let_go(armed)
        else:
            firing.handle = _DONE  # fired: see _let_go
        return True

    def pending_timers(self) -> int:
        return len(self._timers)

    # -- lifecycle ------------------------------------------------------------------------
    def spawn(
        self,
        name: str,
        factory: Callable[[], Behaviour],
        *,
        mailbox: MailboxSpec | None = None,
        blocking: bool = False,
    ) -> Ref:
        child = self._host.create_cell(
            f"{self._cell.name}/{name}", factory, mailbox=mailbox, blocking=blocking,
            parent=self._cell,
        )
        self._cell.adopt(child)
        child.request_start()
        return child.ref

    def stop(self) -> None:
        self._cell.request_stop()

    # -- metrics --------------------------------------------------------------------------
    # Each (metric, labels) is bound once per incarnation (`_bind`): this incarnation runs on
    # one thread at a time, which is what the sink asks of a bound recorder's caller. A label
    # value that cannot be a key (unhashable) goes to the sink unbound, which refuses it.
    def count(self, metric: str, amount: float = 1, **labels: str) -> None:
        key = (metric, *labels.items()) if labels else metric
        try:
            record = self._counters[key]
        except (KeyError, TypeError):
            record = self._recorder("count", self._counters, key, metric, labels)
        record(amount)

    def bind_count(self, metric: str, **labels: str) -> Counting:
        return self._bind("count", metric, labels)

    def observe(self, metric: str, value: float, **labels: str) -> None:
        key = (metric, *labels.items()) if labels else metric
        try:
            record = self._observers[key]
        except (KeyError, TypeError):
            record = self._recorder("observe", self._observers, key, metric, labels)
        record(value)

    def gauge(self, metric: str, value: float, **labels: str) -> None:
        key = (metric, *labels.items()) if labels else metric
        try:
            record = self._gauges[key]
        except (KeyError, TypeError):
            record = self._recorder("gauge", self._gauges, key, metric, labels)
        record(value)

    def bind_gauge(self, metric: str, **labels: str) -> Gauging:
        return self._bind("gauge", metric, labels)

    def _recorder(self, kind: str, bound: dict[Hashable, Recording], key: Any, metric: str,
                  labels: dict[str, str]) -> Recording:
        """A first record of (metric, labels): bound once and kept in `bound`; past
        `MAX_BOUND` bindings, or with a label value that cannot be a key, a call of the sink's
        own `<kind>` for this record only (the sink refuses what it must)."""
        if len(bound) < MAX_BOUND:
            try:
                hash(key)
            except TypeError:
                pass
            else:
                record = bound[key] = self._bind(kind, metric, labels)
                return record
        sink_record, actor = getattr(self._host.metrics, kind), self._cell.name

        def unbound(value: float = 1) -> None:
            sink_record(actor, metric, value, labels)

        return unbound

    def _bind(self, kind: str, metric: str, labels: dict[str, str]) -> Recording:
        """The sink's `bind_<kind>` for this actor, or a call of its `<kind>` if it has none."""
        sink, actor = self._host.metrics, self._cell.name
        bind = getattr(sink, f"bind_{kind}", None)
        if bind is not None:
            bound: Recording = bind(actor, metric, labels)
            return bound
        record = getattr(sink, kind)

        def unbound(value: float = 1) -> None:
            record(actor, metric, value, labels)

        return unbound

    @property
    def log(self) -> logging.LoggerAdapter[logging.Logger]:
        return logging.LoggerAdapter(log, {"actor": self._cell.name})

    # -- privileged: used by supervisors only ---------------------------------------------
    @property
    def cell(self) -> CellHandle:
        return self._cell

    @property
    def host(self) -> HostServices:
        return self._host


def _deliver_envelope(target: Ref, envelope: Envelope[Any]) -> Refused | None:
    deliver = getattr(target, "deliver_envelope", None)
    if deliver is None:
        raise TypeError(f"{target!r} is not a Troupe actor reference")
    result: Refused | None = deliver(envelope)
    return result
