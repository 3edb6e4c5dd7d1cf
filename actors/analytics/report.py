"""The trading report: from a node's journal records to every figure of `report.json`.

Pure: records in, a `Report` (the JSON-ready dict and the tables behind it) out; no clock, no
files. docs/analytics.md explains every field. The money rules, in ticks, lots and
V = tick_size x lot_step x multiplier (the quote value of one tick on one lot), s = +1 for a
buy and -1 for a sell, p the fill price, m0 the mid at the fill, mH the first sampled mid at or
after fill + H (the decomposition horizon), M the mark at the end (the ledger's):

    spread capture      = s (m0 - p) q V       adverse selection = s (mH - m0) q V
    inventory mark      = s (M - mH) q V       fees              = -fee
    sum                 = s (M - p) q V - fee  = realized + unrealized - fees = total PnL

so the decomposition adds up to the ledger's total exactly (`residual` is written, always 0).
A fill without a mid starts at its own price (spread capture 0); a horizon past the end of the
data is marked at M. The spread capture and adverse selection are the ledger's own
(`actors.portfolio.ledger`): the report replays the fills and sampled mids into a `Ledger`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

import attrs

from actors.analytics.stats import mean, money, percentile, rounded, runs, sharpe
from actors.analytics.tape import Tape, read_tape
from actors.portfolio.fill_records import FillRecord
from actors.portfolio.ledger import Ledger
from protocols.codec import Side
from protocols.instruments import InstrumentSpec

__all__ = ["CRITERION_METRICS", "DEFAULT_CRITERIA", "HORIZONS_S", "Criterion", "Report",
           "ReportSettings", "build_report", "go_no_go_metrics"]

SECOND = 1_000_000_000
HORIZONS_S = (1, 5, 30, 60, 300)
_DAY_S = 86_400
_BPS = 10_000
_EXPECTANCY_QUANTUM = Decimal("1e-10")  # expectancy is rounded to 10 decimal places


@attrs.frozen(slots=True)
class Criterion:
    """One go/no-go check: `metric` (a name of `go_no_go_metrics`) `op` `threshold`."""

    metric: str
    op: str  # one of > >= < <= ==
    threshold: Decimal

    def passes(self, value: float | Decimal | None) -> bool:
        if value is None:
            return False
        v, t = Decimal(str(value)), self.threshold
        return {">": v > t, ">=": v >= t, "<": v < t, "<=": v <= t, "==": v == t}[self.op]


CRITERION_METRICS = ("expectancy", "fill_ratio", "reject_ratio", "pnl_total", "max_drawdown",
                     "sharpe", "fills", *(f"markout_{h}s_bps" for h in HORIZONS_S))
"""The figures a go/no-go criterion may name (`go_no_go_metrics`)."""

DEFAULT_CRITERIA = (
    Criterion("expectancy", ">", Decimal(0)),
    Criterion("fill_ratio", ">=", Decimal("0.35")),
    Criterion("reject_ratio", "<=", Decimal("0.03")),
)


@attrs.frozen(slots=True)
class ReportSettings:
    """What the records do not say: instrument specs, the quote currency, position limits
    (lots, for time at the limit), the decomposition horizon and the acceptance criteria."""

    specs: Mapping[str, InstrumentSpec]
    currency: str = ""
    limits: Mapping[str, int] = attrs.field(factory=dict)
    decomposition_horizon_s: int = 30
    criteria: tuple[Criterion, ...] = DEFAULT_CRITERIA


@attrs.frozen(slots=True)
class Report:
    data: dict[str, Any]  # report.json
    tables: dict[str, list[dict[str, Any]]]  # orders, fills, equity, inventory


def build_report(records: Sequence[Any], settings: ReportSettings) -> Report:
    """The whole report; per strategy and per instrument sections when there are several."""
    tape = read_tape(records)
    data, tables = _section(tape, settings)
    strategies = sorted({o.strategy for o in tape.orders.values()})
    instruments = sorted({o.instrument for o in tape.orders.values()})
    if len(strategies) > 1:
        data["by_strategy"] = {s: _section(read_tape(records, strategy=s), settings)[0]
                               for s in strategies}
    if len(instruments) > 1:
        data["by_instrument"] = {i: _section(read_tape(records, instrument=i), settings)[0]
                                 for i in instruments}
    return Report(data, tables)


# --------------------------------------------------------------------------------------------


def _value(spec: InstrumentSpec) -> Decimal:
    return spec.tick_size * spec.lot_step * spec.multiplier


def _section(tape: Tape, settings: ReportSettings) -> tuple[dict[str, Any], dict[str, Any]]:
    specs = settings.specs
    ledger = Ledger(specs, horizons_ns=tuple(h * SECOND for h in HORIZONS_S),
                    max_records=max(1, len(tape.fills)))
    equity: list[tuple[int, Decimal]] = []
    inventory: list[dict[str, Any]] = []
    positions: dict[str, int] = {}
    events: list[tuple[int, int, Any]] = [(f.recv_ns, i, f) for i, f in enumerate(tape.fills)]
    events += [(m.recv_ns, len(tape.fills) + i, m) for i, m in enumerate(tape.mids)]
    events.sort(key=lambda e: (e[0], e[1]))
    booked: list[FillRecord] = []
    for at, _, event in events:
        if event.instrument not in specs:
            continue
        if hasattr(event, "fill_id"):
            record = ledger.apply(event, at)
            if record is None:
                continue
            booked.append(record)
            sign = 1 if event.side is Side.BUY else -1
            positions[event.instrument] = positions.get(event.instrument, 0) + sign * event.qty
            inventory.append({"ns": at, "instrument": event.instrument,
                              "lots": positions[event.instrument]})
        elif not ledger.on_mid(event.instrument, event.mid_x2, at).repriced:
            continue
        equity.append((at, ledger.equity))

    totals = ledger.totals()
    realized = sum((ledger.position(i).realized_pnl for i in ledger.traded()), Decimal(0))
    unrealized = sum((ledger.position(i).unrealized_pnl for i in ledger.traded()), Decimal(0))
    total = ledger.equity
    span_s = tape.span_ns() / SECOND
    days = span_s / _DAY_S if span_s > 0 else None
    filled_orders = sum(1 for o in tape.orders.values() if o.fills)
    volume = sum((Decimal(r.qty) * specs[r.instrument].lot_step for r in booked), Decimal(0))
    turnover = sum((r.notional for r in booked), Decimal(0))
    sent_prices = tape.new + tape.replaces
    reject_count = sum(tape.rejects.values())
    decomposition = _decompose(booked, ledger, specs, settings.decomposition_horizon_s, total)
    trips = _round_trips(booked)
    markouts = _markouts(booked, specs)
    peak, max_dd = Decimal(0), Decimal(0)
    for _, value in equity:
        peak = max(peak, value)
        max_dd = max(max_dd, peak - value)

    data: dict[str, Any] = {
        "events": tape.records,
        "span_seconds": rounded(span_s, 3),
        "orders": {"new": tape.new, "replaces": tape.replaces, "cancels": tape.cancels,
                   "sent": tape.new + tape.replaces + tape.cancels, "acked": tape.acks,
                   "rejected": reject_count, "filled": filled_orders},
        "fills": len(booked),
        "fill_ratio": rounded(filled_orders / tape.new) if tape.new else None,
        "reject_ratio": rounded(reject_count / sent_prices) if sent_prices else None,
        "volume": money(volume),
        "turnover": money(turnover),
        "per_day": {"orders": rounded(tape.new / days) if days else None,
                    "fills": rounded(len(booked) / days) if days else None,
                    "volume": rounded(volume / Decimal(days)) if days else None,
                    "turnover": rounded(turnover / Decimal(days), 2) if days else None},
        "pnl": {"currency": settings.currency, "realized": money(realized),
                "unrealized": money(unrealized), "total": money(total),
                "fees": money(totals.fees)},
        "max_drawdown": money(max_dd),
        "sharpe": rounded(sharpe(equity, 60 * SECOND, 365 * 24 * 60), 4),
        "sharpe_basis": "1-minute equity changes, annualized (525600 a year); "
                        "null under 30 minutes",
        "expectancy": trips["expectancy"],
        "round_trips": trips,
        "hold_seconds": trips.pop("hold"),
        "inventory": _inventory(inventory, tape, settings),
        "markout": markouts,
        "decomposition": decomposition,
        "fill_sanity": _fill_sanity(booked, tape, specs),
        "latency_ms": {"order_ack": _percentiles(tape.ack_latency_ns, 1e6),
                       "cancel_ack": _percentiles(tape.cancel_latency_ns, 1e6)},
        "rejects": dict(sorted(tape.rejects.items())),
        "risk_refusals": dict(sorted(tape.refusals.items())),
        "why": dict(sorted(tape.why.items(), key=lambda kv: (-kv[1], kv[0]))),
    }
    data["go_no_go"] = _go_no_go(data, settings.criteria)
    tables = {
        "orders": _order_rows(tape),
        "fills": _fill_rows(booked, tape, specs),
        "equity": [{"ns": at, "equity": money(v)} for at, v in equity],
        "inventory": inventory,
        "latency": [{"kind": "order_ack", "ms": ns / 1e6} for ns in tape.ack_latency_ns]
        + [{"kind": "cancel_ack", "ms": ns / 1e6} for ns in tape.cancel_latency_ns],
    }
    return data, tables


def _decompose(booked: Sequence[FillRecord], ledger: Ledger, specs: Mapping[str, InstrumentSpec],
               horizon_s: int, total: Decimal) -> dict[str, Any]:
    horizon = horizon_s * SECOND
    spread = adverse = inventory = fees = Decimal(0)
    for r in booked:
        value, sign = _value(specs[r.instrument]), 1 if r.side is Side.BUY else -1
        final = ledger.mark_x2(r.instrument)
        assert final is not None  # a booked fill gives its instrument a mark
        m0 = r.mid_x2 if r.mid_x2 is not None else 2 * r.price
        mh = r.markout_mid_x2.get(horizon, final)
        spread += Decimal(sign * (m0 - 2 * r.price) * r.qty) * value / 2
        adverse += Decimal(sign * (mh - m0) * r.qty) * value / 2
        inventory += Decimal(sign * (final - mh) * r.qty) * value / 2
        fees -= r.fee
    parts = spread + adverse + inventory + fees
    return {"horizon_s": horizon_s, "spread_capture": money(spread),
            "adverse_selection": money(adverse), "fees": money(fees),
            "inventory_mark_to_market": money(inventory), "total": money(total),
            "residual": money(total - parts)}


def _markouts(booked: Sequence[FillRecord],
              specs: Mapping[str, InstrumentSpec]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for h in HORIZONS_S:
        ns = h * SECOND
        by: dict[str, tuple[list[float], list[Decimal]]] = {"buy": ([], []), "sell": ([], [])}
        for r in booked:
            mid = r.markout_mid_x2.get(ns)
            if mid is None:
                continue
            sign = 1 if r.side is Side.BUY else -1
            spec = specs[r.instrument]
            bps, unit = by[r.side.value]
            bps.append(sign * (mid - 2 * r.price) / (2 * r.price) * _BPS)
            unit.append(Decimal(sign * (mid - 2 * r.price)) * spec.tick_size * spec.multiplier / 2)
        both = (by["buy"][0] + by["sell"][0], by["buy"][1] + by["sell"][1])
        out[f"{h}s"] = {name: _markout_stats(*pair) for name, pair in
                        (("all", both), ("buy", by["buy"]), ("sell", by["sell"]))}
    return out


def _markout_stats(bps: list[float], unit: list[Decimal]) -> dict[str, Any]:
    per_unit = sum(unit, Decimal(0)) / len(unit) if unit else None
    return {"count": len(bps), "mean_bps": rounded(mean(bps), 4),
            "mean_per_unit": rounded(per_unit, 8)}


def _round_trips(booked: Sequence[FillRecord]) -> dict[str, Any]:
    """A round trip runs from flat to flat (a flip closes one and opens the next)."""
    open_at: dict[str, int] = {}
    qty: dict[str, int] = {}
    pnl: dict[str, Decimal] = {}
    closed: list[tuple[Decimal, float]] = []
    for r in booked:
        name, sign = r.instrument, 1 if r.side is Side.BUY else -1
        before = qty.get(name, 0)
        if before == 0:
            open_at[name], pnl[name] = r.recv_ns, Decimal(0)
        after = before + sign * r.qty
        pnl[name] += r.realized - r.fee
        qty[name] = after
        if after == 0 or ((after > 0) != (before > 0) and before != 0):
            closed.append((pnl[name], (r.recv_ns - open_at[name]) / SECOND))
            open_at[name], pnl[name] = r.recv_ns, Decimal(0)
    results = [p for p, _ in closed]
    holds = [h for _, h in closed]
    expectancy = (sum(results, Decimal(0)) / len(results)).quantize(_EXPECTANCY_QUANTUM) \
        if results else None
    return {"count": len(closed),
            "expectancy": None if expectancy is None else money(expectancy),
            "win_rate": rounded(sum(1 for p in results if p > 0) / len(results))
            if results else None,
            "hold": {"median": rounded(percentile(holds, 50), 3),
                     "p90": rounded(percentile(holds, 90), 3)}}


def _inventory(series: list[dict[str, Any]], tape: Tape,
               settings: ReportSettings) -> dict[str, Any]:
    out: dict[str, Any] = {}
    end = tape.last_ns or 0
    for name in sorted({row["instrument"] for row in series}):
        rows = [row for row in series if row["instrument"] == name]
        lot = settings.specs[name].lot_step
        limit = settings.limits.get(name)
        weighted, at_limit, start = 0, 0, rows[0]["ns"]
        for row, nxt in zip(rows, [*rows[1:], None], strict=True):
            until = nxt["ns"] if nxt is not None else end
            weighted += abs(row["lots"]) * (until - row["ns"])
            if limit is not None and abs(row["lots"]) >= limit:
                at_limit += until - row["ns"]
        span = end - start
        out[name] = {
            "time_weighted_mean_abs": rounded(Decimal(weighted) / span * lot, 8) if span else None,
            "max_abs": money(max(abs(r["lots"]) for r in rows) * lot),
            "final": money(rows[-1]["lots"] * lot),
            "limit": money(limit * lot) if limit is not None else None,
            "time_at_limit_s": rounded(at_limit / SECOND, 3),
            "time_at_limit_share": rounded(at_limit / span) if span else None,
        }
    return out


def _fill_sanity(booked: Sequence[FillRecord], tape: Tape,
                 specs: Mapping[str, InstrumentSpec]) -> dict[str, Any]:
    vs_trade: dict[str, list[float]] = {"buy": [], "sell": []}
    through = 0
    size_share: list[float] = []
    ages: list[float] = []
    for r in booked:
        trade = tape.trades.get((r.instrument, r.fill_id))
        sign = 1 if r.side is Side.BUY else -1
        if trade is not None and trade.price is not None:
            vs_trade[r.side.value].append(sign * (trade.price - r.price) / r.price * _BPS)
            through += sign * (trade.price - r.price) <= 0
        quote = _quote(tape, r)
        if quote is not None:
            ages.append(quote[0])
            size_share.append(quote[1])
    minutes = Counter((r.recv_ns - (tape.first_ns or 0)) // (60 * SECOND) for r in booked)
    span_min = tape.span_ns() / (60 * SECOND)
    side_runs = runs([r.side.value for r in booked])
    compared = len(vs_trade["buy"]) + len(vs_trade["sell"])
    return {
        "fill_vs_trade_bps": {side: {"count": len(v), "mean": rounded(mean(v), 4),
                                     "min": rounded(min(v, default=None), 4),
                                     "max": rounded(max(v, default=None), 4)}
                              for side, v in vs_trade.items()},
        "trade_at_or_through_share": rounded(through / compared) if compared else None,
        "fill_size_vs_quote": {"mean": rounded(mean(size_share)),
                               "full_share": rounded(sum(1 for s in size_share if s >= 1)
                                                     / len(size_share)) if size_share else None},
        "quote_age_s": {"p5": rounded(percentile(ages, 5), 3),
                        "median": rounded(percentile(ages, 50), 3),
                        "p95": rounded(percentile(ages, 95), 3)},
        "same_side_runs": {"mean": rounded(mean([float(n) for n in side_runs]), 3),
                           "max": max(side_runs, default=0)},
        "fills_per_minute": {"mean": rounded(len(booked) / span_min, 3) if span_min else None,
                             "max": max(minutes.values(), default=0)},
    }


def _quote(tape: Tape, r: FillRecord) -> tuple[float, float] | None:
    """(quote age in seconds, fill qty / quoted qty) of the price a fill filled at."""
    order = tape.orders.get(_cid(tape, r))
    quote = order.quote_at(r.price, r.recv_ns) if order is not None else None
    return None if quote is None else ((r.recv_ns - quote[0]) / SECOND, r.qty / quote[1])


def _cid(tape: Tape, record: FillRecord) -> str:
    return tape.fill_orders.get((record.instrument, record.fill_id), "")


def _percentiles(values_ns: list[int], unit: float) -> dict[str, Any]:
    values = [v / unit for v in values_ns]
    return {"count": len(values), "p50": rounded(percentile(values, 50), 3),
            "p90": rounded(percentile(values, 90), 3), "p99": rounded(percentile(values, 99), 3)}


def go_no_go_metrics(data: Mapping[str, Any]) -> dict[str, Any]:
    """The figures a criterion may name."""
    metrics: dict[str, Any] = {
        "expectancy": data["expectancy"], "fill_ratio": data["fill_ratio"],
        "reject_ratio": data["reject_ratio"], "pnl_total": data["pnl"]["total"],
        "max_drawdown": data["max_drawdown"], "sharpe": data["sharpe"], "fills": data["fills"],
    }
    for horizon, sides in data["markout"].items():
        metrics[f"markout_{horizon}_bps"] = sides["all"]["mean_bps"]
    return metrics


def _go_no_go(data: Mapping[str, Any], criteria: Iterable[Criterion]) -> list[dict[str, Any]]:
    metrics = go_no_go_metrics(data)
    return [{"metric": c.metric, "op": c.op, "threshold": money(c.threshold),
             "value": metrics.get(c.metric), "pass": c.passes(metrics.get(c.metric))}
            for c in criteria]


def _order_rows(tape: Tape) -> list[dict[str, Any]]:
    return [{"client_order_id": o.client_order_id, "instrument": o.instrument,
             "strategy": o.strategy, "side": o.side, "sent_ns": o.sent_ns,
             "price": o.prices[0][1], "qty": o.prices[0][2], "replaces": len(o.prices) - 1,
             "acked_ns": o.acked_ns, "rejected": o.rejected, "cancelled_ns": o.cancelled_ns,
             "filled_qty": o.filled_qty, "fills": o.fills} for o in tape.orders.values()]


def _fill_rows(booked: Sequence[FillRecord], tape: Tape,
               specs: Mapping[str, InstrumentSpec]) -> list[dict[str, Any]]:
    rows = []
    for r in booked:
        sign = 1 if r.side is Side.BUY else -1
        trade, quote = tape.trades.get((r.instrument, r.fill_id)), _quote(tape, r)
        row: dict[str, Any] = {
            "fill_id": r.fill_id, "client_order_id": _cid(tape, r), "instrument": r.instrument,
            "strategy": r.strategy, "side": r.side.value, "recv_ns": r.recv_ns,
            "price_ticks": r.price, "qty_lots": r.qty,
            "price": float(r.price * specs[r.instrument].tick_size),
            "qty": float(r.qty * specs[r.instrument].lot_step), "fee": money(r.fee),
            "mid_x2": r.mid_x2, "trade_price_ticks": None if trade is None else trade.price,
            "spread_capture": None if r.spread_capture is None else money(r.spread_capture),
            "quote_age_s": None if quote is None else rounded(quote[0], 6),
            "size_vs_quote": None if quote is None else rounded(quote[1], 6),
        }
        for h in HORIZONS_S:
            mid = r.markout_mid_x2.get(h * SECOND)
            row[f"markout_{h}s_bps"] = None if mid is None else rounded(
                sign * (mid - 2 * r.price) / (2 * r.price) * _BPS, 4)
        rows.append(row)
    return rows
