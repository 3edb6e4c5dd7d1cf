"""A blank strategy: copy this module to start your own (docs/strategies.md walks through it).

It runs as it is, and does nothing: every hook of `actors.strategies.engine.Engine` is written
out with what it receives and what it may return, so deleting the ones you do not need is the
first step. Run it in a node with

    [[strategies]]
    id = "blank1"
    kind = "actors.strategies.template:BlankEngine"
    instrument = "BTCUSDT"

Every hook is pure: it reads the message and the two clocks it is given (`now`, monotonic ns;
`epoch`, wall-clock ns) and returns a `Decision` or None. Decisions are carried out by the
shell: intents are proposed to the risk gate, a WHY is counted and journaled, timers are armed
by key and come back as `on_wake(key)`, `to_self` messages come back through `on_message`.
"""

from __future__ import annotations

import enum
from typing import Any

import attrs

from actors.execution.ids import ClientOrderIds
from actors.strategies.engine import Engine
from actors.strategies.kit import Decision, Inventory, OrderSlots, book_fill
from protocols.instruments import InstrumentSpec
from protocols.market import BookStale, BookTop, MarketState, TradePrint
from protocols.orders import Fill, Intent, IntentAnswer
from protocols.portfolio import OwnFill

__all__ = ["BlankConfig", "BlankEngine", "BlankWhy"]


class BlankWhy(enum.StrEnum):
    """Why the strategy proposed nothing: one per such decision, counted and journaled."""

    NOTHING_TO_DO = "nothing_to_do"


@attrs.frozen(slots=True, kw_only=True)
class BlankConfig:
    """`strategy`, `spec`, `id_high_water` and `ids` are set by the node; every other field is
    a parameter under `[strategies.params]`, checked by name, type and validator."""

    strategy: str
    spec: InstrumentSpec
    id_high_water: int = 0  # restored from the journal: client order ids are never reused
    # The node's id source, shared by every incarnation of this strategy (restarts included).
    ids: ClientOrderIds | None = attrs.field(default=None, eq=False, repr=False)
    id_prefix: str = "bk"


class BlankEngine(Engine):
    config_class = BlankConfig

    def __init__(self, config: BlankConfig) -> None:
        self.config = config
        self.ids = config.ids or ClientOrderIds(config.id_prefix, config.strategy,
                                                config.id_high_water)
        self.orders = OrderSlots()  # our orders, at most one per side
        self.inventory = Inventory()  # signed lots from our own fills, each fill id once

    def on_start(self, now: int, epoch: int) -> Decision | None:
        """Before the first message. Arm a first timer here: `Decision(timers=(("tick", 1.0),))`."""
        return None

    def on_book(self, book: BookTop, now: int, epoch: int) -> Decision | None:
        """The top of a book we are subscribed to (check `book.instrument`). Prices are ticks,
        sizes lots. The usual decision point."""
        if book.instrument != self.instrument:
            return None
        return Decision(why=BlankWhy.NOTHING_TO_DO, trigger_ns=book.recv_ns)

    def on_trade(self, trade: TradePrint, now: int, epoch: int) -> Decision | None:
        """A public trade print."""
        return None

    def on_stale(self, stale: BookStale, now: int, epoch: int) -> Decision | None:
        """The book cannot be trusted until its next top: pull what could be picked off."""
        return None

    def on_market_state(self, state: MarketState, now: int, epoch: int) -> Decision | None:
        """Spec (tick size, fees), trading status, oracle and mark prices of an instrument."""
        return None

    def on_report(self, answer: IntentAnswer, now: int, epoch: int) -> Decision | None:
        """An answer about one of our intents: Ack, Reject, CancelAck, CancelReject, Expired,
        Fill / OwnFill, RiskRefused, Scaled, Dropped. Keep the local view true."""
        if isinstance(answer, Fill | OwnFill):
            book_fill(answer, self.strategy, self.instrument, orders=self.orders,
                      inventory=self.inventory, now=now)
            return None
        self.orders.on_report(answer, self.instrument)
        return None

    def on_wake(self, cause: str, now: int, epoch: int) -> Decision | None:
        """A timer armed by `Decision.timers` fired; `cause` is its key."""
        return None

    def on_pause(self, reason: str | None, now: int, epoch: int) -> Decision | None:
        """An operator paused (reason) or resumed (None) this strategy: pull quotes, or quote."""
        return None

    def on_message(self, message: Any, now: int, epoch: int) -> Decision | None:
        """Anything else: what we told ourselves (`Decision.to_self`), the risk gate's
        broadcasts (`TradingStateChanged`, `Flatten`, `InstrumentHalted`...)."""
        return None

    def unsent(self, intent: Intent) -> None:
        """The risk gate's mailbox refused this proposal: it never left. Roll back."""
        self.orders.unsent(intent)

    def on_stop(self, now: int, epoch: int) -> Decision | None:
        """The strategy stops: cancel what rests, so no quote outlives it."""
        pulls = self.orders.cancel_where(self.instrument, keep_reduce_only=False)
        return Decision(pulls, trigger_ns=now) if pulls else None

    def inventory_lots(self) -> int | None:
        """Shown as troupe_strategy_inventory_lots after each decision."""
        return self.inventory.q

    def snapshot(self) -> Any:
        """What introspection (and the control plane) shows; no secrets."""
        return {"q": self.inventory.q, "ids_high_water": self.ids.high_water}
