"""What a running node prints: the status line, the market notices and the stop summary.

Written for a trader reading a terminal (docs/node.md shows a session): counts that add up
(sent = new + replace + cancel; acked + rejected answer new and replace, cancelled answers
cancels), PnL in the quote currency to four decimals and never `-0.0000`, the open orders and
the position, latency p99s over the status window (`NodeMetrics.next_window`) and, in the
summary, since start. `MarketNotices` are the lines said once when the market changes under
the node: the recording ended and synthetic books took over, the node fell behind the feed or
caught up. Everything is read from the node's view and metrics; nothing here acts.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import attrs

from supervision.node.assembly import Node
from supervision.node.live_guard import Mode

__all__ = ["BEHIND_S", "MarketNotices", "open_orders", "orders_at_stop", "status_line",
           "summary"]


def open_orders(node: Node) -> list[str]:
    """Client order ids the venue connection holds open now."""
    cell = node.host.existing_cell("node/venue/connection")
    venue = getattr(cell, "behaviour", None)
    session = getattr(venue, "session", None)
    return session.open_orders() if session is not None else []


def orders_at_stop(mode: Mode, *, reconciled: bool, left: list[str]) -> str:
    """The stop line's word on open orders, saying no more than the node knows: an observe
    node sent nothing, and a node the venue never answered has not seen what rests there."""
    if left:
        return f"{len(left)} order(s) still open after the cancel timeout"
    if mode is Mode.OBSERVE:
        return "no open orders: observe mode sent no order, none of ours to cancel"
    if not reconciled:
        return "open orders NOT checked: the venue was never reached; check them on the venue"
    return "open orders cancelled (none left open)"


BEHIND_S = 1.0  # the replay this late (seconds) is falling behind the feed; caught up under half


def _money(value: Decimal | None) -> str:
    """Four decimals, signed, never `-0.0000` (a tiny loss shows as one, not as zero)."""
    text = f"{value or 0:+.4f}"
    return "0.0000" if text in ("+0.0000", "-0.0000") else text


def _plain(value: Decimal | int) -> str:
    """A fee as people write it: 0.0006168597, not 0.00061685970000."""
    return format(Decimal(value).normalize(), "f") if value else "0"  # as the fill lines


def _position(node: Node) -> str:
    snap = node.view.portfolio
    if snap is None:
        return "flat"
    parts = []
    for p in snap.positions:
        if p.qty:
            spec = node.specs.get(p.instrument)
            size = _plain(p.qty * spec.lot_step) if spec is not None else str(p.qty)
            parts.append(f"{p.instrument} {'+' if p.qty > 0 else ''}{size}")
    return ", ".join(parts) or "flat"


def _by_label(metrics: Any, metric: str, label: str) -> dict[str, int]:
    counters = getattr(metrics, "counters", None)  # a property of the node's sinks
    totals: dict[str, int] = {}
    for (_, name, labels), value in (counters() if callable(counters) else counters or {}).items():
        if name == metric:
            key = dict(labels).get(label, "")
            totals[key] = totals.get(key, 0) + int(value)
    return totals


def _gauge(metrics: Any, metric: str) -> float | None:
    values = [v for (_, name, _), v in getattr(metrics, "gauges", {}).items() if name == metric]
    return max(values) if values else None


def _p99(node: Node, metric: str, *, window: bool) -> str:
    quantile = getattr(node.host.metrics, "quantile", None)
    value = None if quantile is None else quantile(metric, 0.99, window=window)
    if value is None:
        return "-"
    return f"{value * 1e3:.1f}ms" if value >= 1e-3 else f"{value * 1e6:.0f}us"


def _orders(node: Node) -> str:
    """Every request sent, split so the parts add up, and what the venue answered."""
    metrics = node.host.metrics
    if node.mode is Mode.OBSERVE:
        return (f"orders: observed={int(metrics.total('troupe_orders_observed_total'))} "
                "(nothing sent)")
    kinds = _by_label(metrics, "troupe_orders_sent_total", "kind")
    new, replace, cancel = (kinds.get(k, 0) for k in ("new", "replace", "cancel"))
    return (f"orders: sent={new + replace + cancel} ({new} new + {replace} replace + {cancel} "
            f"cancel), acked {int(metrics.total('troupe_orders_acked_total'))}, rejected "
            f"{int(metrics.total('troupe_orders_rejected_total'))}, cancelled "
            f"{int(metrics.total('troupe_orders_cancelled_total'))}")


def _currency(node: Node) -> str:
    from supervision.report import quote_currency

    return quote_currency(node.config)


def _pnl(node: Node) -> tuple[str, str]:
    """(total with currency, its parts)."""
    snap, currency = node.view.portfolio, _currency(node)
    if snap is None:
        return f"0.0000 {currency}", "no fills yet"
    fees = sum((p.fees for p in snap.positions), Decimal(0))
    total = f"{_money(snap.realized_pnl + snap.unrealized_pnl)} {currency}"
    return total, (f"realized {_money(snap.realized_pnl)} (fees of {_plain(fees)} paid "
                   f"included), unrealized {_money(snap.unrealized_pnl)}")


def status_line(node: Node, elapsed: float) -> str:
    """One line every `node.status_interval_s`; its latency percentiles are over the interval
    since the previous line (the window is closed here)."""
    view, metrics = node.view, node.host.metrics
    books = "synced" if all(b.synced for b in view.books.values()) else "syncing"
    line = (f"t={elapsed:6.1f}s state={view.state.name} md={books} pnl={_pnl(node)[0]} "
            f"pos={_position(node)} open={len(open_orders(node))} | {_orders(node)} | "
            f"fills {int(metrics.total('troupe_fills_total'))} | p99 this window: "
            f"tick-to-trade {_p99(node, 'troupe_tick_to_trade_seconds', window=True)}, "
            f"ack {_p99(node, 'troupe_order_ack_seconds', window=True)}")
    next_window = getattr(metrics, "next_window", None)
    if next_window is not None:
        next_window()
    lag = _gauge(metrics, "troupe_replay_lag_seconds")
    if lag is not None and lag > BEHIND_S:
        line += f" BEHIND FEED {lag:.1f}s"
    if view.halts:
        line += " HALTED " + ", ".join(f"{i} ({why})" for i, why in sorted(view.halts.items()))
    if not view.journal_healthy:
        line += f" JOURNAL FAILING ({view.journal_error})"
    gone = _given_up(node)
    return f"{line} | {gone}" if gone else line


def _given_up(node: Node) -> str:
    """The strategies given up (the node trades on without them): never silently gone."""
    gone = node.failsafe.given_up
    return f"gave up: {', '.join(gone)}" if gone else ""


@attrs.define
class MarketNotices:
    """Lines the run loop prints once when the market changes under the node: the recording
    ended and synthetic books took over; the node fell behind the feed, or caught up."""

    synthetic: bool = False
    behind: bool = False

    def check(self, node: Node) -> list[str]:
        metrics, out = node.host.metrics, []
        if not self.synthetic and metrics.total("troupe_continuing_started_total") > 0:
            self.synthetic = True
            out.append("market: the recording ended; continuing on synthetic books (a random "
                       "walk from the last book, whose market orders sometimes trade through "
                       "the touch)")
        lag = _gauge(metrics, "troupe_replay_lag_seconds")
        if lag is not None and not self.behind and lag > BEHIND_S:
            self.behind = True
            out.append(f"market: falling behind the feed: events are handled {lag:.1f}s after "
                       "they are due (the machine is too slow for market.speed)")
        elif lag is not None and self.behind and lag < BEHIND_S / 2:
            self.behind = False
            out.append("market: caught up with the feed")
        return out


def summary(node: Node, elapsed: float, stopped: str = "") -> str:
    metrics = node.host.metrics
    restarts = sum(1 for _ in node.host.log.records(kind="restart"))
    total, parts = _pnl(node)
    gone = _given_up(node)
    lines = [f"summary after {elapsed:.1f}s ({node.mode.value} mode):",
             f"  state {node.view.state.name}; {_orders(node)}; fills "
             f"{int(metrics.total('troupe_fills_total'))}",
             f"  pnl {total}: {parts}; position {_position(node)}",
             f"  p99 since start: tick-to-trade "
             f"{_p99(node, 'troupe_tick_to_trade_seconds', window=False)} (timer/report "
             f"orders {_p99(node, 'troupe_decision_to_trade_seconds', window=False)}, "
             f"held by the rate limit {_p99(node, 'troupe_budget_held_seconds', window=False)})"
             f", order ack "
             f"{_p99(node, 'troupe_order_ack_seconds', window=False)}, cancel ack "
             f"{_p99(node, 'troupe_cancel_ack_seconds', window=False)}",
             f"  restarts {restarts}; " + (f"{gone}; " if gone else "")
             + (f"stop: {stopped}" if stopped else f"journal {node.config.journal.path}")]
    return "\n".join(lines)  # five lines: the REPL in front shows the node log's last five
