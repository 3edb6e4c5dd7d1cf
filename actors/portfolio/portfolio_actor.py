"""The Portfolio actor: the `Ledger` behind a mailbox, publishing snapshots and raising drift.

It consumes execution reports (`OwnFill`), market data (`BookTop`: marks, and the later mids that
resolve markouts; `TradePrint`: the last public trade) and the venue's own view
(`VenuePositions`: reconciliation). It publishes a
`PortfolioSnapshot` to its subscribers (the risk gate first) after every booked fill, at once, and
after mark changes of held positions, at most once per `publish_interval_ns`: a mid flood must
not become a snapshot flood. The throttle is leading-edge with one keyed trailing timer, due at
last publish + interval (never now + interval: a debounce would let a steady stream of mids
postpone the snapshot forever), and armed only when none is pending.

What a trading report needs and the execution reports lack goes to `journal`, if given: the mid
as `MidSampled` whenever it changes, at most one per `mid_sample_interval_ns` per instrument
(leading edge, and a keyed trailing timer that journals the newest mid with its own time, so
the last change of a burst is never lost), and with every booked fill the last public trade
seen on its instrument (`TradeAtFill`). The report (`actors.analytics`) reads them back.

Reconciliation drift is told to the risk gate as the `ReconciliationDrift` itself; the gate
moves the account to REDUCING. A snapshot from the venue can include a fill still in flight to
us, so `drift_confirmations` > 1 asks for the same gap (venue - ours) on consecutive
reconciliations before alerting. The default, 1, alerts at once, as the issue asks.

A restarted node opens each position where the account stands (`PositionAdopted`, from the
venue's start-up reconciliation: spot's base balance beyond the starting inventory, USD-M's
position), not at 0: the ledger takes it at the mark, publishes a snapshot at once (the risk
gate's limits and reduce-only decisions read it) and counts
`troupe_portfolio_positions_adopted_total`. The opening is told on to the instrument's
`holders` too: the strategy that trades it, whose own inventory must start there as well (a
market maker that believed itself flat would quote the side that grows the position). So is
every fill booked on the instrument after that, as the `OwnFill` itself: the holder's inventory
must follow the account's position, and a fill of an order nobody here owns (an earlier run's,
or an earlier incarnation's, tracked again) reaches no strategy from the venue. Told in the
order the ledger took them, an opening corrected by a fill it already held and that fill leave
the holder where they leave the ledger. The holder hears its own fills from the venue as well
and counts each fill id once. The node names a holder only where one strategy trades the
instrument: the account's position cannot be shared out among several.

A strategy that starts, and above all one its supervisor restarts, asks where its position
stands (`PositionAsk`); the answer (`PositionNow`) gives the holder the ledger's position, its
opening and average entry, and the ids of the latest fills it includes, so a fill the new
incarnation has already applied is not counted twice. To a strategy that is not the
instrument's only one it says it cannot tell (`qty` None).

This actor must not fail on bad input: a restart rebuilds it empty, and an empty ledger is
exactly the wrong state to trade on. Unvaluable fills are logged, counted and kept in
`unbooked`; reconciliation then sees the venue's position against our 0, which is drift, which
means REDUCING: the failure is loud and safe.

Metrics: counters count events only; money goes to gauges (it can fall) or to `observe` (fill
notional, whose histogram sum is the traded notional). `float` appears only at that boundary.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Hashable, Mapping, Sequence
from decimal import Decimal
from typing import Any

import attrs

from actors.behaviour import Behaviour, Context, Ref
from actors.portfolio.fill_records import DecompositionTotals, FillRecord
from actors.portfolio.ledger import DEFAULT_HORIZONS_NS, Ledger
from protocols.instruments import InstrumentSpec
from protocols.market import BookTop, TradePrint
from protocols.portfolio import (
    MidSampled,
    OwnFill,
    PortfolioSnapshot,
    PositionAdopted,
    PositionAsk,
    PositionNow,
    ReconciliationDrift,
    TradeAtFill,
    VenuePositions,
)

__all__ = ["FillReport", "GetFillReport", "GetSnapshot", "Portfolio", "conflation_key"]

log = logging.getLogger("troupe.portfolio")

DRIFT_METRIC = "troupe_reconciliation_drift_total"
_PUBLISH_KEY = "portfolio.publish"
_COUNTED_FILLS = 256  # far more than can reach a strategy between its restart and the answer


@attrs.frozen(slots=True)
class GetSnapshot:
    """Ask: answered with the current `PortfolioSnapshot` (not published to subscribers)."""


@attrs.frozen(slots=True)
class GetFillReport:
    """Ask: answered with a `FillReport` of the decomposition totals and the recent fills."""


@attrs.frozen(slots=True)
class FillReport:
    totals: DecompositionTotals
    fills: tuple[FillRecord, ...]  # oldest first; records still fill in as markouts resolve


@attrs.frozen(slots=True)
class _PublishDue:
    """The throttle's trailing timer."""


@attrs.frozen(slots=True)
class _SampleDue:
    """The mid sampler's trailing timer for one instrument."""

    instrument: str


def conflation_key(message: Any) -> Hashable | None:
    """For `ConflateByKey`: keep only the newest BookTop per instrument; never conflate fills or
    venue reports (None). A conflated mid can resolve a markout a little late, never wrongly."""
    if isinstance(message, BookTop):
        return ("book", message.instrument)
    return None


def _money(value: Decimal) -> float:
    """Metrics exporters take floats; this is the only place money becomes one."""
    return float(value)


class Portfolio(Behaviour):
    """One account's positions and PnL. `specs` maps instrument name to spec."""

    def __init__(
        self,
        specs: Mapping[str, InstrumentSpec],
        *,
        subscribers: Sequence[Ref] = (),
        risk_gate: Ref | None = None,
        publish_interval_ns: int = 100_000_000,
        horizons_ns: tuple[int, ...] = DEFAULT_HORIZONS_NS,
        drift_confirmations: int = 1,
        max_records: int = 10_000,
        journal: Ref | None = None,
        mid_sample_interval_ns: int = 250_000_000,
        holders: Mapping[str, Sequence[Ref]] | None = None,
    ) -> None:
        if drift_confirmations < 1:
            raise ValueError("drift_confirmations must be at least 1")
        self.ledger = Ledger(specs, horizons_ns=horizons_ns, max_records=max_records)
        self.subscribers = tuple(subscribers)
        self.holders = {name: tuple(refs) for name, refs in (holders or {}).items()}
        self.risk_gate = risk_gate
        self.publish_interval_ns = publish_interval_ns
        self.drift_confirmations = drift_confirmations
        self.unbooked: list[OwnFill] = []
        self.published = 0
        self._last_publish_ns: int | None = None
        self._publish_pending = False
        self._drift: dict[str, tuple[ReconciliationDrift, int]] = {}  # instrument -> (last, streak)
        self.journal = journal
        self.mid_sample_interval_ns = mid_sample_interval_ns
        self._last_trade: dict[str, TradePrint] = {}
        self._sampled: dict[str, MidSampled] = {}  # the last mid journaled, per instrument
        # a newer mid waiting for its timer, (mid_x2, recv_ns): its record is built if it is
        # journaled (most are replaced by a newer mid first)
        self._unsampled: dict[str, tuple[int, int]] = {}
        self._gauged: dict[tuple[str, str | None], float] = {}  # each gauge's value, as set
        # the latest fill ids booked per instrument: what a PositionNow says it includes
        self._counted: dict[str, deque[str]] = {}

    def receive(self, message: Any, ctx: Context) -> Any:
        kind = type(message)
        if kind is TradePrint:  # the common messages first: prints, then book tops
            self._last_trade[message.instrument] = message
            return None
        if kind is BookTop:
            self._on_book(message, ctx)
            return None
        if isinstance(message, OwnFill):
            self._on_fill(message, ctx)
            return None
        if isinstance(message, BookTop):
            self._on_book(message, ctx)
            return None
        if isinstance(message, TradePrint):
            self._last_trade[message.instrument] = message
            return None
        if isinstance(message, _SampleDue):
            pending = self._unsampled.pop(message.instrument, None)
            if pending is not None:
                self._journal_mid(MidSampled(message.instrument, *pending), ctx)
            return None
        if isinstance(message, VenuePositions):
            return self._reconcile(message, ctx)
        if isinstance(message, PositionAdopted):
            self._adopt(message, ctx)
            return None
        if isinstance(message, PositionAsk):
            return self._position_now(message.instrument)
        if isinstance(message, _PublishDue):
            self._publish_pending = False
            self._publish(ctx)
            return None
        if isinstance(message, GetSnapshot):
            return self.ledger.snapshot(epoch_ns=ctx.time_ns(), recv_ns=ctx.monotonic_ns())
        if isinstance(message, GetFillReport):
            return FillReport(self.ledger.totals(), tuple(self.ledger.records))
        ctx.count("troupe_portfolio_unhandled_total", kind=type(message).__name__)
        return None

    # -- fills and marks -----------------------------------------------------------------------
    def _on_fill(self, fill: OwnFill, ctx: Context) -> None:
        try:
            record = self.ledger.apply(fill, ctx.time_ns())
        except (KeyError, ValueError, TypeError) as exc:  # UnknownInstrument is a KeyError
            self.unbooked.append(fill)
            ctx.count("troupe_portfolio_unbooked_fills_total", reason=type(exc).__name__)
            log.error("%s: fill %s on %s not booked (%s): reconciliation will show it as drift",
                      ctx.name, fill.fill_id, fill.instrument, exc)
            return
        if record is None:
            ctx.count("troupe_portfolio_duplicate_fills_total", instrument=fill.instrument)
            return
        counted = self._counted.get(fill.instrument)
        if counted is None:
            counted = self._counted[fill.instrument] = deque(maxlen=_COUNTED_FILLS)
        counted.append(fill.fill_id)
        for holder in self.holders.get(fill.instrument, ()):
            ctx.tell(holder, fill)
        ctx.count("troupe_portfolio_fills_total", instrument=fill.instrument,
                  side=fill.side.value, liquidity=fill.liquidity.value)
        ctx.observe("troupe_portfolio_fill_notional", _money(record.notional),
                    instrument=fill.instrument)
        if record.spread_capture is None:
            ctx.count("troupe_portfolio_fills_without_mid_total", instrument=fill.instrument)
        if self.journal is not None:
            trade = self._last_trade.get(fill.instrument)
            ctx.tell(self.journal, TradeAtFill(
                fill.instrument, fill.fill_id, trade.price if trade else None,
                trade.qty if trade else None, trade.aggressor if trade else None,
                trade.recv_ns if trade else None, fill.recv_ns))
        if self._publish_pending:  # this snapshot supersedes the pending one
            ctx.cancel_timer(_PUBLISH_KEY)
            self._publish_pending = False
        self._publish(ctx)

    def _on_book(self, top: BookTop, ctx: Context) -> None:
        mid_x2 = top.mid_x2
        if mid_x2 is None:
            return
        if self.journal is not None:
            self._sample_mid(top.instrument, mid_x2, top.recv_ns, ctx)
        result = self.ledger.on_mid(top.instrument, mid_x2, top.recv_ns)
        if result.resolved:
            ctx.count("troupe_portfolio_markouts_resolved_total", result.resolved,
                      instrument=top.instrument)
        if result.repriced:
            self._request_publish(ctx)

    def _sample_mid(self, name: str, mid_x2: int, recv_ns: int, ctx: Context) -> None:
        last = self._sampled.get(name)
        if last is not None and last.mid_x2 == mid_x2:
            if self._unsampled:
                self._unsampled.pop(name, None)  # back to the journaled mid: nothing new to say
            return
        if last is None or recv_ns - last.recv_ns >= self.mid_sample_interval_ns:
            self._unsampled.pop(name, None)
            self._journal_mid(MidSampled(name, mid_x2, recv_ns), ctx)
            return
        if name not in self._unsampled:
            wait_ns = last.recv_ns + self.mid_sample_interval_ns - ctx.monotonic_ns()
            ctx.schedule(max(wait_ns, 0) / 1e9, _SampleDue(name), key=("portfolio.mid", name))
        self._unsampled[name] = (mid_x2, recv_ns)

    def _journal_mid(self, sample: MidSampled, ctx: Context) -> None:
        assert self.journal is not None
        self._sampled[sample.instrument] = sample
        ctx.tell(self.journal, sample)

    def _request_publish(self, ctx: Context) -> None:
        if self._publish_pending:
            return  # the pending timer will publish the newest state
        now = ctx.monotonic_ns()
        last = self._last_publish_ns
        if last is None or now - last >= self.publish_interval_ns:
            self._publish(ctx)
            return
        wait_s = (last + self.publish_interval_ns - now) / 1e9
        ctx.schedule(wait_s, _PublishDue(), key=_PUBLISH_KEY)
        self._publish_pending = True

    def _publish(self, ctx: Context) -> PortfolioSnapshot:
        snap = self.ledger.snapshot(epoch_ns=ctx.time_ns(), recv_ns=ctx.monotonic_ns())
        self._last_publish_ns = ctx.monotonic_ns()
        self.published += 1
        for ref in self.subscribers:
            if ctx.tell(ref, snap) is not None:
                ctx.count("troupe_portfolio_snapshots_refused_total", subscriber=ref.name)
        ctx.count("troupe_portfolio_snapshots_published_total")
        self._export(snap, ctx)
        return snap

    def _export(self, snap: PortfolioSnapshot, ctx: Context) -> None:
        gauge = self._gauge
        for position in snap.positions:
            gauge(ctx, "troupe_portfolio_position_lots", position.qty, position.instrument)
            gauge(ctx, "troupe_portfolio_notional", _money(position.notional),
                  position.instrument)
        gauge(ctx, "troupe_portfolio_exposure", _money(snap.total_exposure))
        gauge(ctx, "troupe_portfolio_realized_pnl", _money(snap.realized_pnl))
        gauge(ctx, "troupe_portfolio_unrealized_pnl", _money(snap.unrealized_pnl))
        gauge(ctx, "troupe_portfolio_daily_realized_pnl", _money(snap.daily_realized_pnl))
        gauge(ctx, "troupe_portfolio_equity", _money(snap.equity))
        gauge(ctx, "troupe_portfolio_drawdown", _money(snap.peak_equity - snap.equity))
        totals = self.ledger.totals()
        gauge(ctx, "troupe_portfolio_fees", _money(totals.fees))
        gauge(ctx, "troupe_portfolio_spread_capture", _money(totals.spread_capture))
        for horizon, value in totals.adverse_selection:
            ctx.gauge("troupe_portfolio_adverse_selection", _money(value),
                      horizon=f"{horizon // 1_000_000}ms")

    def _gauge(self, ctx: Context, metric: str, value: float,
               instrument: str | None = None) -> None:
        """Set a gauge unless it holds that value already (a snapshot repeats most of them:
        positions and fees move only with fills)."""
        key = (metric, instrument)
        if self._gauged.get(key) == value:
            return
        self._gauged[key] = value
        if instrument is None:
            ctx.gauge(metric, value)
        else:
            ctx.gauge(metric, value, instrument=instrument)

    def _position_now(self, instrument: str) -> PositionNow:
        if len(self.holders.get(instrument, ())) != 1 or not self.ledger.knows(instrument):
            return PositionNow(instrument, None)
        position = self.ledger.position(instrument)
        return PositionNow(instrument, position.qty, self.ledger.opening(instrument),
                           position.avg_price if position.qty else None,
                           tuple(self._counted.get(instrument, ())))

    def _adopt(self, adopted: PositionAdopted, ctx: Context) -> None:
        try:
            change = self.ledger.open_position(adopted.instrument, adopted.qty)
        except KeyError:
            ctx.count("troupe_portfolio_unhandled_total", kind="PositionAdopted")
            log.error("%s: opening position on %s not taken (no spec): reconciliation will "
                      "show it as drift", ctx.name, adopted.instrument)
            return
        if not change:
            return
        ctx.count("troupe_portfolio_positions_adopted_total", instrument=adopted.instrument)
        log.info("%s: %s opens at %d lots (the account's, as the venue reported it)",
                 ctx.name, adopted.instrument, adopted.qty)
        for holder in self.holders.get(adopted.instrument, ()):
            ctx.tell(holder, adopted)
        if self._publish_pending:
            ctx.cancel_timer(_PUBLISH_KEY)
            self._publish_pending = False
        self._publish(ctx)

    # -- reconciliation ------------------------------------------------------------------------
    def _reconcile(self, venue: VenuePositions, ctx: Context) -> tuple[ReconciliationDrift, ...]:
        """Returns the drifts alerted on (so an ask sees them too)."""
        ctx.count("troupe_portfolio_reconciliations_total")
        drifts = {d.instrument: d for d in self.ledger.reconcile(venue)}
        for name in [n for n in self._drift if n not in drifts]:
            log.info("%s: drift on %s cleared", ctx.name, name)
            del self._drift[name]
        alerted = []
        for name, drift in drifts.items():
            previous = self._drift.get(name)
            same_gap = previous is not None and (
                previous[0].venue - previous[0].ours == drift.venue - drift.ours)
            streak = previous[1] + 1 if previous is not None and same_gap else 1
            self._drift[name] = (drift, streak)
            if streak < self.drift_confirmations:
                continue
            if streak == self.drift_confirmations:  # log once per drift, alert every time
                log.warning("%s: reconciliation drift on %s: ours %d, venue %d",
                            ctx.name, name, drift.ours, drift.venue)
            ctx.count(DRIFT_METRIC, instrument=name)
            if self.risk_gate is not None:
                ctx.tell(self.risk_gate, drift)
            alerted.append(drift)
        ctx.gauge("troupe_portfolio_drift_instruments", len(drifts))
        return tuple(alerted)

    def snapshot(self) -> dict[str, Any]:
        totals = self.ledger.totals()
        positions = [self.ledger.position(name) for name in self.ledger.traded()]
        return {
            "positions": {p.instrument: {"qty": p.qty, "avg_price": str(p.avg_price),
                                         "realized": str(p.realized_pnl),
                                         "unrealized": str(p.unrealized_pnl)}
                          for p in positions},
            "equity": str(self.ledger.equity),
            "peak_equity": str(self.ledger.peak_equity),
            "drawdown": str(self.ledger.drawdown),
            "fills": totals.fills,
            "duplicates": totals.duplicates,
            "unbooked": len(self.unbooked),
            "pending_markouts": self.ledger.pending_markouts(),
            "published": self.published,
            "drift": {n: {"ours": d.ours, "venue": d.venue, "streak": s}
                      for n, (d, s) in self._drift.items()},
        }
