"""The contract between a behaviour and whatever host runs it.

A behaviour is a plain class. The host calls `on_start`, then `receive` once per message, then
`on_stop`, always from one thread at a time. Everything a behaviour does to the world goes through
its `Context`: sending, asking, timers, the clock, randomness, children, metrics. Because the
context is the only door, the same behaviour runs unchanged on the live host, on the deterministic
host of a backtest, and in a unit test with a fake context.

A behaviour must never block, sleep, open a socket, start a thread or read the wall clock. Work
that has to block belongs in an actor spawned with `blocking=True`, which the live host gives a
thread of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    import random

    from protocols.runtime import Refused


@runtime_checkable
class Ref(Protocol):
    """A stable address. It survives restarts of the actor behind it."""

    @property
    def name(self) -> str: ...

    def tell(self, message: Any) -> Refused | None:
        """Deliver `message`. Returns None when accepted, a `Refused` when the mailbox said no."""
        ...


class MailboxSpec(Protocol):
    """What a host needs to build a mailbox; see `supervision.runtime.mailbox` for the policies."""

    def build(self) -> Any: ...


class Counting(Protocol):
    """A counter with its labels bound (`Context.bind_count`)."""

    def __call__(self, amount: float = 1) -> None: ...


class Gauging(Protocol):
    """A gauge with its labels bound (`Context.bind_gauge`)."""

    def __call__(self, value: float) -> None: ...


class Context(Protocol):
    """Every effect a behaviour may have. Implemented once per host family in `supervision`."""

    @property
    def self_ref(self) -> Ref: ...

    @property
    def name(self) -> str: ...

    @property
    def random(self) -> random.Random:
        """Seeded per actor from the host seed and the actor's name: reproducible in backtests."""
        ...

    def tell(self, target: Ref, message: Any) -> Refused | None: ...

    def tell_at(self, due_ns: int, target: Ref, message: Any) -> None:
        """Tell `message` to `target` when `monotonic_ns()` reaches `due_ns` (at once if that
        has passed): a message on a wire that takes that long. It cannot be cancelled, and a
        restart of the sender does not recall it; a refusal when it lands is only counted
        (`troupe_timed_tell_refused_total`). What a simulated wire or a replay needs: one entry
        in the host's timer queue per message, not a timer and a turn of the sender's."""
        ...

    def ask(self, target: Ref, message: Any, *, timeout: float, tag: Any = None) -> int:
        """Send `message` expecting an answer. Returns a correlation id.

        Exactly one `protocols.runtime.Reply` with that id arrives later as a message: the value
        `receive` returned, the exception it raised, or `AskTimeout` after `timeout` seconds.
        """
        ...

    def schedule(self, delay: float, message: Any, *, key: Hashable | None = None) -> Hashable:
        """Deliver `message` to this actor after `delay` seconds.

        A timer with the same `key` as a pending one replaces it, so a "requote in 50 ms" timer is
        reset by calling `schedule` again with its key. Returns the key (a fresh one if none given).
        """
        ...

    def cancel_timer(self, key: Hashable) -> bool: ...

    def monotonic_ns(self) -> int:
        """Monotonic time for freshness and timeouts. Virtual on the deterministic host."""
        ...

    def time_ns(self) -> int:
        """Epoch time for records. Virtual on the deterministic host; never for measuring spans."""
        ...

    def spawn(
        self,
        name: str,
        factory: Callable[[], Behaviour],
        *,
        mailbox: MailboxSpec | None = None,
        blocking: bool = False,
    ) -> Ref:
        """Start a child. When it stops, normally or by failure, this actor receives a
        `protocols.runtime.ChildTerminated`. Children stop before their parent does."""
        ...

    def stop(self) -> None:
        """Stop this actor after the current message: a normal exit."""
        ...

    def count(self, metric: str, amount: float = 1, **labels: str) -> None: ...

    def bind_count(self, metric: str, **labels: str) -> Counting:
        """`count(metric, amount, **labels)` with the labels bound once: call the result with
        the amount (1 by default). For a count on every message, where naming the labels each
        time costs more than counting."""
        ...

    def observe(self, metric: str, value: float, **labels: str) -> None: ...

    def gauge(self, metric: str, value: float, **labels: str) -> None: ...

    def bind_gauge(self, metric: str, **labels: str) -> Gauging:
        """`gauge(metric, value, **labels)` with the labels bound once, as `bind_count`."""
        ...


class Behaviour:
    """Base class for actor logic. Subclasses override what they need."""

    def on_start(self, ctx: Context) -> None:
        """Runs before the first message. An exception here is a failure, like one in `receive`."""

    def receive(self, message: Any, ctx: Context) -> Any:
        """Handle one message. The return value answers an `ask`; it is ignored for a `tell`."""
        return None

    def on_stop(self, ctx: Context) -> None:
        """Runs when the actor stops normally or is stopped by its supervisor. Not after a failure:
        the failed instance is discarded, as its state may be exactly what went wrong."""

    def snapshot(self) -> Any:
        """State shown by introspection. Must not include secrets. Override to expose more."""
        return None
