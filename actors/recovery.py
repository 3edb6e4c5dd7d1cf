"""What a restarted node remembers: the journal's records folded into one `RecoveredState`
(`actors.recovered`), by the rules below.

Pure: the records come in as mappings (`supervision.node.journal.iter_journal` reads them from
disk, `protocols.journal_codec.structure_record` types one when a rule needs its fields), and
nothing here touches a file or a clock, so a replay is tested with plain lists.

The rules, each on the safe side of a doubt:

- **Ids are never reused.** Every `client_order_id` found anywhere in any record (sent,
  observed, reported, refused) raises the high-water mark of its namespace
  (`<prefix>-<strategy>`, see `actors.execution.ids.ClientOrderIds`); Hyperliquid cloids made by
  `encode_cloid` count too, once their namespace is known, and so does every block of counters
  an `IdsReserved` record reserved ahead of use (an id may have reached the wire without any
  other record of it when the process died). A strategy restarts its counter from
  `high_water(prefix, strategy)`.
- **An order is open until a report closes it.** `OrderSent` opens it; a `Reject`, `CancelAck`,
  `Expired`, a terminal `ReconcileResult` or fills adding up to its size close it. A fill is
  known by its order and its fill id together: the venue connection journals each fill twice
  (`Fill`, then the enriched `OwnFill`) and it counts once, while fill ids are only unique per
  venue session (the simulated venue of every earlier run numbered its fills from `sim-1`), so
  one run's "sim-1" must not hide another's. A reject
  while a replace is pending may be the replace's, and a duplicate-id reject proves the order
  exists: neither closes it. Listing an order that is gone costs one needless cancel at start;
  missing one that rests would leave it unmanaged.
- **A halt is never forgotten.** The trading state and the daily loss come from the last
  `RiskPersistentState` the risk gate journaled, what `RiskGate(restored=...)` takes back. A
  later successful `ControlAction` that *escalates* (halt, reduce_only, disable_live) is applied
  on top, in case the node died before the gate recorded it; a later `resume` the gate never
  confirmed is not (an operator resumes again).
- **A position counts from where the venue last said it stood.** The last `PositionAdopted`
  of an asset gives its starting inventory (what a spot position counts from), so a restart
  measures the account against the same amount as the run that recorded it
  (`starting_inventory`); `positions` is what the journal expects each instrument's position
  to be now: the last run's opening (or, before any, the run before's end) plus the fills
  journaled since, each (instrument, fill id) once. The start-up reconciliation names what
  the venue shows beyond that (trades the journal never saw).
- **An unclean exit is reported.** A `NodeStarted` without a `NodeStopped` after it means the
  previous run died: `unclean_exit`, so the node knows to reconcile with extra care.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

import attrs

from actors.execution.ids import encode_cloid, parse_client_order_id
from actors.recovered import OpenOrder, RecoveredState
from protocols.codec import Side
from protocols.decisions import (
    Gate,
    TradingState,
)
from protocols.journal import (
    ActorRestarted,
    ControlAction,
    IdsReserved,
    JournalError,
    NodeStarted,
    NodeStopped,
    OrderSent,
    ReplaceSent,
)
from protocols.journal_codec import structure_record
from protocols.orders import (
    RejectCode,
    VenueOrderStatus,
)
from protocols.portfolio import PositionAdopted
from protocols.risk import DailyLoss, RiskPersistentState

__all__ = ["recover"]

STATE_OF_ACTION: dict[str, TradingState] = {
    "halt": TradingState.HALTED,
    "disable_live": TradingState.REDUCING,
    "reduce_only": TradingState.REDUCING,
    "resume": TradingState.ACTIVE,
}
"""Control-plane actions that move the trading state (flatten and cancel_all do not)."""

_CLOSED = frozenset({VenueOrderStatus.FILLED.value, VenueOrderStatus.CANCELLED.value,
                     VenueOrderStatus.EXPIRED.value, VenueOrderStatus.REJECTED.value})


def recover(records: Iterable[Mapping[str, Any]]) -> RecoveredState:
    """Fold journal records (as `iter_journal` yields them), oldest first."""
    fold = _Fold()
    for index, record in enumerate(records):
        fold.add(index, record)
    return fold.result()


class _Fold:
    def __init__(self) -> None:
        self.high: dict[str, int] = {}
        self.cloids: list[tuple[str, int]] = []  # (namespace hash, counter) of cloids seen
        self.open: dict[str, OpenOrder] = {}
        self.fills: set[tuple[str, str]] = set()  # (client order id, fill id)
        self.risk: RiskPersistentState | None = None
        self.risk_seq = -1
        self.control: ControlAction | None = None
        self.control_seq = -1
        self.last_seq = 0
        self.records = 0
        self.started: NodeStarted | None = None
        self.stopped: NodeStopped | None = None
        self.unclean = 0
        self.restarts: dict[str, int] = {}
        self.notes: list[str] = []
        self.ts_ns = 0  # of the record being folded
        self.control_ts_ns = 0
        self.state_origin: tuple[int, str] | None = None  # (since ns, source) of the state
        self.halted_since: dict[str, int] = {}
        self.starting: dict[str, tuple[Decimal, str]] = {}
        self.carried: dict[str, int] = {}  # instrument -> position at the end of earlier runs
        self.opening: dict[str, int] = {}  # this run's opening, once adopted
        self.run_fills: dict[str, int] = {}  # this run's fills, signed lots
        self.booked: set[tuple[str, str]] = set()  # (instrument, fill id) of OwnFills

    def add(self, index: int, record: Mapping[str, Any]) -> None:
        seq, kind, data = record.get("seq"), record.get("kind"), record.get("data")
        if type(seq) is not int or not isinstance(kind, str) or not isinstance(data, Mapping):
            raise JournalError(f"record {index + 1}: needs an int seq, a str kind and a data "
                               f"object, got {dict(record)!r:.120}")
        if seq <= self.last_seq and self.records:
            self.notes.append(f"seq went back from {self.last_seq} to {seq} (two writers?)")
        self.last_seq = max(self.last_seq, seq)
        ts_ns = record.get("ts_ns")
        self.ts_ns = ts_ns if type(ts_ns) is int else 0
        self.records += 1
        self._ids(data)
        handler = getattr(self, f"_on_{kind}", None)
        if handler is not None:
            try:
                handler(seq, data)
            except JournalError as exc:
                raise JournalError(f"record seq {seq}: {exc}") from None

    # -- ids -----------------------------------------------------------------------------------
    def _ids(self, data: Any) -> None:
        if isinstance(data, Mapping):
            for key, value in data.items():
                if key in ("client_order_id", "cloid") and isinstance(value, str):
                    self._id(value)
                elif isinstance(value, Mapping | list):
                    self._ids(value)
        elif isinstance(data, list):
            for value in data:
                self._ids(value)

    def _id(self, value: str) -> None:
        parsed = parse_client_order_id(value)
        if parsed is not None:
            namespace = f"{parsed[0]}-{parsed[1]}"
            if parsed[2] > self.high.get(namespace, -1):
                self.high[namespace] = parsed[2]
        elif len(value) == 34 and value.startswith("0x"):
            with contextlib.suppress(ValueError):
                self.cloids.append((value[2:18], int(value[18:], 16)))

    def _on_IdsReserved(self, _seq: int, data: Mapping[str, Any]) -> None:
        reserved: IdsReserved = structure_record("IdsReserved", data)
        namespace = f"{reserved.prefix}-{reserved.strategy}"
        if reserved.up_to > self.high.get(namespace, -1):
            self.high[namespace] = reserved.up_to

    # -- orders --------------------------------------------------------------------------------
    def _on_OrderSent(self, _seq: int, data: Mapping[str, Any]) -> None:
        sent: OrderSent = structure_record("OrderSent", data)
        self.open[sent.client_order_id] = OpenOrder(
            sent.client_order_id, sent.instrument, sent.side, sent.order_type, sent.price,
            sent.qty, sent.tif, sent.reduce_only, sent.strategy, sent.sent_ns)

    def _on_ReplaceSent(self, _seq: int, data: Mapping[str, Any]) -> None:
        amend: ReplaceSent = structure_record("ReplaceSent", data)
        order = self.open.get(amend.client_order_id)
        if order is not None:
            self.open[order.client_order_id] = attrs.evolve(
                order, qty=order.filled + amend.qty, price=amend.price,
                reduce_only=amend.reduce_only, replace_pending=True)

    def _change(self, data: Mapping[str, Any], **changes: Any) -> None:
        order = self.open.get(str(data.get("client_order_id")))
        if order is not None:
            self.open[order.client_order_id] = attrs.evolve(order, **changes)

    def _close(self, data: Mapping[str, Any]) -> None:
        self.open.pop(str(data.get("client_order_id")), None)

    def _on_CancelSent(self, _seq: int, data: Mapping[str, Any]) -> None:
        self._change(data, cancel_sent=True)

    def _on_Ack(self, _seq: int, data: Mapping[str, Any]) -> None:
        self._change(data, acked=True, replace_pending=False)

    def _on_Reject(self, _seq: int, data: Mapping[str, Any]) -> None:
        order = self.open.get(str(data.get("client_order_id")))
        if order is None:
            return
        if data.get("code") == RejectCode.DUPLICATE_CLIENT_ORDER_ID.value:
            self._change(data, acked=True)  # the venue has an order with this id
        elif order.replace_pending:
            self._change(data, replace_pending=False)  # maybe the amend's: keep it open
        else:
            self._close(data)

    def _on_CancelAck(self, _seq: int, data: Mapping[str, Any]) -> None:
        self._close(data)

    def _on_Expired(self, _seq: int, data: Mapping[str, Any]) -> None:
        self._close(data)

    def _on_ReconcileResult(self, _seq: int, data: Mapping[str, Any]) -> None:
        if data.get("status") in _CLOSED:
            self._close(data)

    def _on_Fill(self, _seq: int, data: Mapping[str, Any]) -> None:
        order = self.open.get(str(data.get("client_order_id")))
        fill_id, qty = data.get("fill_id"), data.get("qty")
        if order is None or not isinstance(fill_id, str) or type(qty) is not int:
            return
        key = (order.client_order_id, fill_id)
        if key in self.fills:
            return
        self.fills.add(key)
        if order.filled + qty >= order.qty:
            self._close(data)
        else:
            self._change(data, filled=order.filled + qty, fill_ids=(*order.fill_ids, fill_id))

    def _on_OwnFill(self, seq: int, data: Mapping[str, Any]) -> None:
        """The same fill as its `Fill`, enriched by the venue connection (counted once for its
        order); the position counts it once per (instrument, fill id), as the ledger does."""
        self._on_Fill(seq, data)
        instrument, fill_id, qty = data.get("instrument"), data.get("fill_id"), data.get("qty")
        if not isinstance(instrument, str) or not isinstance(fill_id, str) \
                or type(qty) is not int or (instrument, fill_id) in self.booked:
            return
        self.booked.add((instrument, fill_id))
        signed = qty if data.get("side") == Side.BUY.value else -qty
        self.run_fills[instrument] = self.run_fills.get(instrument, 0) + signed

    def _on_PositionAdopted(self, _seq: int, data: Mapping[str, Any]) -> None:
        adopted: PositionAdopted = structure_record("PositionAdopted", data)
        self.opening[adopted.instrument] = adopted.qty
        if adopted.asset:
            self.starting[adopted.asset] = (adopted.starting, adopted.source)

    def _end_run(self) -> None:
        self.carried = self._positions()
        self.opening, self.run_fills = {}, {}

    def _positions(self) -> dict[str, int]:
        names = set(self.carried) | set(self.opening) | set(self.run_fills)
        return {name: self.opening.get(name, self.carried.get(name, 0))
                + self.run_fills.get(name, 0) for name in sorted(names)}

    # -- state ---------------------------------------------------------------------------------
    def _on_RiskPersistentState(self, seq: int, data: Mapping[str, Any]) -> None:
        self.risk = structure_record("RiskPersistentState", data)
        self.risk_seq = seq

    def _on_ControlAction(self, seq: int, data: Mapping[str, Any]) -> None:
        action: ControlAction = structure_record("ControlAction", data)
        if action.ok and action.action in STATE_OF_ACTION and action.instrument is None:
            self.control, self.control_seq, self.control_ts_ns = action, seq, self.ts_ns

    def _on_TradingStateChanged(self, _seq: int, data: Mapping[str, Any]) -> None:
        self.state_origin = (self.ts_ns, str(data.get("source", "")))

    def _on_InstrumentHalted(self, _seq: int, data: Mapping[str, Any]) -> None:
        self.halted_since[str(data.get("instrument"))] = self.ts_ns

    def _on_InstrumentResumed(self, _seq: int, data: Mapping[str, Any]) -> None:
        self.halted_since.pop(str(data.get("instrument")), None)

    def _on_NodeStarted(self, _seq: int, data: Mapping[str, Any]) -> None:
        self._end_run()
        if self.started is not None and self.stopped is None:
            self.unclean += 1
        self.started, self.stopped = structure_record("NodeStarted", data), None

    def _on_NodeStopped(self, _seq: int, data: Mapping[str, Any]) -> None:
        self.stopped = structure_record("NodeStopped", data)

    def _on_ActorRestarted(self, _seq: int, data: Mapping[str, Any]) -> None:
        restart: ActorRestarted = structure_record("ActorRestarted", data)
        self.restarts[restart.actor] = self.restarts.get(restart.actor, 0) + 1

    # -- the result ----------------------------------------------------------------------------
    def _resolve_cloids(self) -> None:
        heads = {encode_cloid(f"{ns}-0")[2:18]: ns for ns in self.high}
        for head, counter in self.cloids:
            namespace = heads.get(head)
            if namespace is not None and counter > self.high[namespace]:
                self.high[namespace] = counter

    def _risk(self) -> RiskPersistentState | None:
        risk, control = self.risk, self.control
        if control is None or self.control_seq < self.risk_seq:
            return risk
        base = risk or RiskPersistentState(TradingState.ACTIVE, Gate.TRADING_STATE, "start",
                                           DailyLoss(utc_day=0))
        target = STATE_OF_ACTION[control.action]
        if target > base.trading_state:
            self.notes.append(f"{control.action} by {control.source} was journaled after the "
                              f"last risk state: applied ({target.name})")
            self.state_origin = (self.control_ts_ns, control.source)
            return attrs.evolve(base, trading_state=target, cause=Gate.TRADING_STATE,
                                reason=control.reason)
        if target < base.trading_state:
            self.notes.append(f"{control.action} by {control.source} was never confirmed by the "
                              f"risk gate: staying {base.trading_state.name}")
        return risk

    def result(self) -> RecoveredState:
        self._resolve_cloids()
        unclean_exit = self.started is not None and self.stopped is None
        if unclean_exit:
            self.notes.append("the previous run did not stop cleanly (no NodeStopped)")
        risk = self._risk()
        since, source = self.state_origin or (None, "")
        halted = {i for i, _halt in risk.halts} if risk is not None else set()
        return RecoveredState(
            dict(self.high), dict(self.open), risk, self.control, self.last_seq, self.records,
            self.started, self.stopped, unclean_exit, self.unclean + int(unclean_exit),
            dict(self.restarts), tuple(self.notes), since, source,
            {i: t for i, t in self.halted_since.items() if i in halted}, dict(self.starting),
            self._positions())
