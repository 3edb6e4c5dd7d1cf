"""A node's journal records folded into what a report reads: orders, fills, mids, decisions.

The input is the typed records the node journals, in journal order: from a backtest's tape as
they were told, or from a journal file structured back (`protocols.journal_codec.structure_record`);
both give the same `Tape`, which is what makes a run's own report and the one computed after
the fact from its journal identical. Kinds a report does not use are skipped.

- Orders come from `OrderSent`, `ReplaceSent` and `CancelSent`; `Ack`, `Reject`, `CancelAck`
  and fills find theirs by client order id. Every price an order was given is kept with the
  time it was sent, so a fill's quote age is the age of the price it filled at.
- A fill is the `OwnFill` the venue connection journals after the venue's `Fill` (side,
  instrument, strategy, the mid at the fill). A journal without them (older nodes) still
  reports: the fill is rebuilt from the `Fill` and its order, with no mid of its own.
- `MidSampled` and `TradeAtFill` are the Portfolio actor's market records.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

import attrs

from protocols.decisions import NoTrade, RiskRefused
from protocols.journal import CancelSent, OrderSent, ReplaceSent
from protocols.orders import Ack, CancelAck, Fill, Reject
from protocols.portfolio import MidSampled, OwnFill, TradeAtFill

__all__ = ["OrderRow", "Tape", "read_tape"]


@attrs.define(slots=True)
class OrderRow:
    """One client order over its life: `prices` are (sent_ns, ticks, lots), newest last."""

    client_order_id: str
    instrument: str
    strategy: str
    side: str
    sent_ns: int
    prices: list[tuple[int, int, int]]
    acked_ns: int | None = None
    rejected: str | None = None
    cancel_sent_ns: int | None = None
    cancelled_ns: int | None = None
    filled_qty: int = 0
    fills: int = 0

    def quote_at(self, price: int, at_ns: int) -> tuple[int, int] | None:
        """(sent_ns, qty) of the newest price equal to `price` sent at or before `at_ns`."""
        for sent_ns, p, qty in reversed(self.prices):
            if p == price and sent_ns <= at_ns:
                return sent_ns, qty
        return None


@attrs.define(slots=True)
class Tape:
    """Everything a report reads, in journal order where order matters."""

    records: int = 0
    first_ns: int | None = None
    last_ns: int | None = None
    orders: dict[str, OrderRow] = attrs.Factory(dict)
    new: int = 0
    replaces: int = 0
    cancels: int = 0
    acks: int = 0
    rejects: Counter[str] = attrs.Factory(Counter)
    refusals: Counter[str] = attrs.Factory(Counter)
    why: Counter[str] = attrs.Factory(Counter)
    fills: list[OwnFill] = attrs.Factory(list)
    trades: dict[tuple[str, str], TradeAtFill] = attrs.Factory(dict)
    fill_orders: dict[tuple[str, str], str] = attrs.Factory(dict)  # (instrument, fill id) -> cid
    mids: list[MidSampled] = attrs.Factory(list)
    ack_latency_ns: list[int] = attrs.Factory(list)
    cancel_latency_ns: list[int] = attrs.Factory(list)

    def span_ns(self) -> int:
        if self.first_ns is None or self.last_ns is None:
            return 0
        return self.last_ns - self.first_ns

    def _seen(self, ns: int) -> None:
        if self.first_ns is None or ns < self.first_ns:
            self.first_ns = ns
        if self.last_ns is None or ns > self.last_ns:
            self.last_ns = ns


def _time_of(record: Any) -> int | None:
    for name in ("sent_ns", "recv_ns"):
        value = getattr(record, name, None)
        if type(value) is int and value > 0:
            return value
    return None


def read_tape(records: Iterable[Any], *, strategy: str | None = None,
              instrument: str | None = None) -> Tape:
    """Fold `records` into a `Tape`, keeping only one strategy's or one instrument's if asked
    (market records of other instruments are dropped; an order's reports follow the order)."""
    tape = Tape()
    orders = tape.orders
    own: set[tuple[str, str]] = set()
    venue_fills: list[tuple[Fill, OrderRow]] = []

    def wanted(inst: str, strat: str | None) -> bool:
        return (instrument is None or inst == instrument) and (
            strategy is None or strat is None or strat == strategy)

    for record in records:
        kind = type(record)
        if kind is OrderSent:
            if not wanted(record.instrument, record.strategy):
                continue
            orders[record.client_order_id] = OrderRow(
                record.client_order_id, record.instrument, record.strategy, record.side.value,
                record.sent_ns, [(record.sent_ns, record.price or 0, record.qty)])
            tape.new += 1
        elif kind is ReplaceSent or kind is CancelSent:
            row = orders.get(record.client_order_id)
            if row is None:
                continue
            if kind is ReplaceSent:
                row.prices.append((record.sent_ns, record.price, record.qty))
                tape.replaces += 1
            else:
                row.cancel_sent_ns = record.sent_ns
                tape.cancels += 1
        elif kind is Ack or kind is Reject or kind is CancelAck or kind is Fill:
            row = orders.get(record.client_order_id)
            if row is None:
                continue
            _on_report(tape, row, record, venue_fills)
        elif kind is OwnFill:
            if wanted(record.instrument, record.strategy):
                own.add((record.instrument, record.fill_id))
                tape.fill_orders[(record.instrument, record.fill_id)] = record.client_order_id
                tape.fills.append(record)
        elif kind is MidSampled:
            if instrument is None or record.instrument == instrument:
                tape.mids.append(record)
        elif kind is TradeAtFill:
            tape.trades[(record.instrument, record.fill_id)] = record
        elif kind is NoTrade:
            if wanted(record.instrument, record.strategy):
                tape.why[record.reason] += 1
        elif kind is RiskRefused:
            if record.client_order_id in orders or (strategy is None and instrument is None):
                tape.refusals[record.gate.value] += 1
        else:
            continue
        tape.records += 1
        at = _time_of(record)
        if at is not None:
            tape._seen(at)
    _rebuild_missing(tape, venue_fills, own)
    return tape


def _on_report(tape: Tape, row: OrderRow, record: Any,
               venue_fills: list[tuple[Fill, OrderRow]]) -> None:
    kind = type(record)
    if kind is Ack:
        tape.acks += 1
        if row.acked_ns is None:
            row.acked_ns = record.recv_ns
            tape.ack_latency_ns.append(record.recv_ns - row.sent_ns)
    elif kind is Reject:
        row.rejected = record.code.value
        tape.rejects[record.code.value] += 1
    elif kind is CancelAck:
        row.cancelled_ns = record.recv_ns
        if row.cancel_sent_ns is not None:
            tape.cancel_latency_ns.append(record.recv_ns - row.cancel_sent_ns)
    else:
        row.filled_qty += record.qty
        row.fills += 1
        venue_fills.append((record, row))


def _rebuild_missing(tape: Tape, venue_fills: list[tuple[Fill, OrderRow]],
                     own: set[tuple[str, str]]) -> None:
    """Fills journaled without their `OwnFill` (a node older than the report), from the order."""
    from protocols.codec import Side

    for fill, row in venue_fills:
        if (row.instrument, fill.fill_id) in own:
            continue
        tape.fill_orders[(row.instrument, fill.fill_id)] = fill.client_order_id
        tape.fills.append(OwnFill(
            instrument=row.instrument, strategy=row.strategy,
            client_order_id=fill.client_order_id, fill_id=fill.fill_id, side=Side(row.side),
            qty=fill.qty, price=fill.price, fee=Decimal(fill.fee), liquidity=fill.liquidity,
            recv_ns=fill.recv_ns, venue_ns=fill.venue_ns))
