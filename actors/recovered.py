"""What a restart gets back from the journal: the orders that may still rest, the id high-water
marks, the risk gate's persistent state, and what an operator should read at start.

`actors.recovery.recover` builds a `RecoveredState` by folding the journal under its rules (ids
never reused, an order open until a report closes it, a halt never forgotten); the node hands
its parts on: `high_water` to each strategy's client order ids, `risk` to
`RiskGate(restored=...)`, `open_orders` to the venue's start-up reconciliation, `positions` and
`starting_inventory` to the portfolio, `summary()` to `python -m supervision.node.journal PATH`.
"""

from __future__ import annotations

from decimal import Decimal

import attrs

from protocols.codec import Side
from protocols.decisions import TradingState
from protocols.journal import ControlAction, NodeStarted, NodeStopped
from protocols.orders import OrderType, TimeInForce
from protocols.risk import DailyLoss, RiskPersistentState

__all__ = ["OpenOrder", "RecoveredState"]


@attrs.frozen(slots=True)
class OpenOrder:
    """An order the journal says may still rest at the venue: reconcile or cancel it at start."""

    client_order_id: str
    instrument: str
    side: Side
    order_type: OrderType
    price: int | None
    qty: int
    tif: TimeInForce
    reduce_only: bool
    strategy: str
    sent_ns: int
    filled: int = 0
    acked: bool = False
    cancel_sent: bool = False
    replace_pending: bool = False
    fill_ids: tuple[str, ...] = ()  # the venue's ids of the fills counted in `filled`

    @property
    def remaining(self) -> int:
        return max(self.qty - self.filled, 0)


@attrs.frozen(slots=True)
class RecoveredState:
    id_high_water: dict[str, int]  # "<prefix>-<strategy>" -> the highest counter ever used
    open_orders: dict[str, OpenOrder]
    risk: RiskPersistentState | None  # pass as RiskGate(restored=...); None: nothing to restore
    last_control: ControlAction | None  # the last successful action that moved the state
    last_seq: int
    records: int
    started: NodeStarted | None  # the previous run's start marker
    stopped: NodeStopped | None  # its stop marker; None after that start: it died
    unclean_exit: bool
    unclean_exits: int  # over the whole journal
    restarts: dict[str, int]  # ActorRestarted records per actor
    notes: tuple[str, ...] = ()  # what an operator should read at start
    # Since when (epoch ns of the record) and by whom the restored trading state holds: the last
    # TradingStateChanged, or an escalating ControlAction applied on top. None: no change seen.
    state_since_ns: int | None = None
    state_source: str = ""
    halted_since_ns: dict[str, int] = attrs.Factory(dict)  # instrument -> when it was halted
    # asset -> (amount a spot position counts from, where it came from), the last recorded
    starting_inventory: dict[str, tuple[Decimal, str]] = attrs.Factory(dict)
    positions: dict[str, int] = attrs.Factory(dict)  # instrument -> signed lots, as journaled

    @property
    def trading_state(self) -> TradingState:
        return self.risk.trading_state if self.risk is not None else TradingState.ACTIVE

    @property
    def daily_loss(self) -> DailyLoss | None:
        return self.risk.daily if self.risk is not None else None

    def high_water(self, prefix: str, strategy: str) -> int:
        """What to pass as a strategy's `id_high_water`."""
        return self.id_high_water.get(f"{prefix}-{strategy}", 0)

    def summary(self) -> list[str]:
        lines = [
            f"records: {self.records}, last seq {self.last_seq}",
            f"trading state: {self.trading_state.name}"
            + (f" ({self.risk.cause.value}: {self.risk.reason})" if self.risk else ""),
        ]
        if self.daily_loss is not None:
            d = self.daily_loss
            lines.append(f"daily loss: day {d.utc_day}, realized {d.realized_pnl}, "
                         f"breached {d.breached}")
        lines.append(f"previous run: {'unclean exit' if self.unclean_exit else 'clean'}")
        lines += [f"id high water {ns}: {n}" for ns, n in sorted(self.id_high_water.items())]
        lines += [f"open order {o.client_order_id}: {o.instrument} {o.side.value} "
                  f"{o.remaining} @ {o.price}" for o in self.open_orders.values()]
        lines += [f"note: {note}" for note in self.notes]
        return lines
