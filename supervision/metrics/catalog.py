"""Every metric Troupe knows by name: its type, help text, label names and buckets.

Behaviours record metrics by name through their context (`ctx.count/observe/gauge`), and the
Prometheus sink (`supervision.metrics.prometheus`) looks each name up here. A declared name gets
its declared
type, help and labels; a use with other label names is dropped and counted, so a typo in a label
cannot create a second family. A name missing from the catalogue still works (its type is
inferred from the call), but it deserves an entry: the help text is what an operator reads.

Conventions, checked by `validate` (and by a test):
- names start with `troupe_` and use base units: seconds, bytes, quote currency (`_quote`);
- a counter's name ends with `_total`, and only a counter's does;
- labels have low cardinality: never an order id (`order_id`, `cid`, `cloid`, `oid`...).

A declared metric is one some code records (a test checks it): a family nothing feeds would be
exported at zero forever and read as "all is well". PnL is the portfolio's `troupe_portfolio_*`
gauges.

`origin` says who produces the samples. `context` metrics come from `ctx.count/observe/gauge`.
`collector` metrics are computed by the sink at scrape time (per-actor mailbox and supervision
figures, handling-time percentiles, build info, the sink's own drop counters): a behaviour that
records one of those names is refused, so two producers never fight over one family.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Literal

import attrs

Kind = Literal["counter", "gauge", "histogram", "summary"]
Origin = Literal["context", "collector"]

LATENCY_BUCKETS: tuple[float, ...] = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
)
"""100 us to 1 s: tick-to-trade and venue acknowledgement latencies."""

NOTIONAL_BUCKETS: tuple[float, ...] = (1.0, 10.0, 100.0, 1_000.0, 10_000.0, 100_000.0, 1e6)
"""Quote currency, one bucket per decade: the size of single fills."""

METRIC_NAME = re.compile(r"^troupe_[a-z0-9_]*[a-z0-9]$")
LABEL_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
ORDER_ID_LABEL = re.compile(r"order_?id|(^|_)(cl)?oid$|(^|_)cid$|client_?id")
"""Label names that smell of per-order identity: one series per order would swamp Prometheus."""

RESERVED_LABELS = frozenset({"le", "quantile"})
MAX_LABEL_VALUE = 64


@attrs.frozen(slots=True)
class MetricSpec:
    name: str
    kind: Kind
    help: str
    labels: tuple[str, ...] = ()
    buckets: tuple[float, ...] | None = None
    origin: Origin = "context"


def label_problem(name: str) -> str | None:
    """Why `name` cannot be a label name, or None."""
    if not LABEL_NAME.match(name):
        return "invalid_label"
    if name in RESERVED_LABELS:
        return "invalid_label"
    if ORDER_ID_LABEL.search(name):
        return "forbidden_label"
    return None


def name_problem(name: str, kind: Kind) -> str | None:
    """Why `name` cannot name a metric of `kind`, or None. A counter named without `_total` is
    accepted at run time (Prometheus shows it with `_total` appended); the catalogue may not."""
    if not METRIC_NAME.match(name) or "__" in name:
        return "invalid_name"
    if kind != "counter" and name.endswith(("_total", "_count", "_sum", "_bucket", "_created")):
        # Anything ending in `_total` reads as a counter (and gets rate()d); the others are the
        # suffixes of histogram and summary samples.
        return "invalid_name"
    return None


def validate(specs: Iterable[MetricSpec]) -> None:
    """Raise ValueError naming every spec that breaks the conventions above."""
    problems: list[str] = []
    seen: set[str] = set()
    for spec in specs:
        if spec.name in seen:
            problems.append(f"{spec.name}: declared twice")
        seen.add(spec.name)
        why = name_problem(spec.name, spec.kind)
        if why is not None or (spec.kind == "counter" and not spec.name.endswith("_total")):
            problems.append(f"{spec.name}: {why or 'a counter name must end in _total'}")
        for label in spec.labels:
            bad = label_problem(label)
            if bad is not None:
                problems.append(f"{spec.name}: label {label!r}: {bad}")
        if (spec.kind == "histogram") != (spec.buckets is not None):
            problems.append(f"{spec.name}: buckets go with histograms, and only there")
        if spec.buckets is not None and list(spec.buckets) != sorted(set(spec.buckets)):
            problems.append(f"{spec.name}: buckets must increase")
        if not spec.help.strip():
            problems.append(f"{spec.name}: no help text")
    if problems:
        raise ValueError("bad metric catalogue:\n" + "\n".join(problems))


def _c(name: str, help: str, *labels: str) -> MetricSpec:
    return MetricSpec(name, "counter", help, labels)


def _g(name: str, help: str, *labels: str) -> MetricSpec:
    return MetricSpec(name, "gauge", help, labels)


def _h(name: str, help: str, buckets: tuple[float, ...], *labels: str) -> MetricSpec:
    return MetricSpec(name, "histogram", help, labels, buckets)


def _collected(spec: MetricSpec) -> MetricSpec:
    return attrs.evolve(spec, origin="collector")


_SPECS: tuple[MetricSpec, ...] = (
    # -- orders, fills and money (venue connections and the simulated venue) -----------------
    _c("troupe_orders_sent_total", "Order requests sent to a venue, by kind of request.",
       "venue", "kind"),
    _c("troupe_orders_observed_total",
       "Order requests an observe-mode node journaled instead of sending.", "venue", "kind"),
    _c("troupe_orders_acked_total", "Orders the venue acknowledged.", "venue"),
    _c("troupe_orders_rejected_total", "Orders refused, by reason (not_sent: the node took the "
       "request back before the venue saw it; every other reason is the venue's).", "venue",
       "reason"),
    _c("troupe_orders_cancelled_total", "Orders the venue confirmed cancelled.", "venue"),
    _c("troupe_fills_total", "Fills, by liquidity (maker or taker).", "venue", "liquidity"),
    _c("troupe_fill_notional_quote_total", "Notional filled, in quote currency.", "venue"),
    _c("troupe_fees_quote_total", "Fees paid, in quote currency (rebates are counted apart).",
       "venue"),
    _c("troupe_rebates_quote_total", "Maker rebates received, in quote currency.", "venue"),
    _h("troupe_tick_to_trade_seconds",
       "From the receipt of the market data that triggered a decision to the order leaving "
       "(orders market data caused that the action budget sent at once).",
       LATENCY_BUCKETS),
    _h("troupe_decision_to_trade_seconds",
       "From a strategy's handling of what caused a decision other than market data (its "
       "timer, a report, a command) to the order leaving, by trigger.", LATENCY_BUCKETS,
       "trigger"),
    _h("troupe_budget_held_seconds",
       "How long an order waited in the action budget's queue for the rate limit (tokens, a "
       "429's Retry-After, a batching window) before it was sent; such orders are not in the "
       "two latencies above.", LATENCY_BUCKETS),
    _h("troupe_order_ack_seconds", "From sending an order to the venue's acknowledgement.",
       LATENCY_BUCKETS),
    _h("troupe_cancel_ack_seconds", "From sending a cancel to the venue's confirmation.",
       LATENCY_BUCKETS),
    _c("troupe_order_timeouts_total",
       "Requests that got no answer in time (their orders become UNKNOWN), by kind.",
       "venue", "kind"),
    _c("troupe_orders_recancelled_total",
       "Orders cancelled again: the venue placed them after a cancel that overtook them.",
       "venue"),
    _c("troupe_venue_unowned_reports_total",
       "Execution reports for orders the connection does not know, by report kind.",
       "venue", "kind"),
    _c("troupe_venue_ignored_total",
       "Messages and transport events a venue connection could not route, by kind.",
       "venue", "kind"),
    _c("troupe_venue_feed_refused_total", "Market data a book's mailbox refused.", "venue"),
    _c("troupe_timed_tell_refused_total",
       "Timed tells (a simulated venue's market data, a replay's lines) that their target "
       "refused when they landed."),
    # -- the journal ----------------------------------------------------------------------------
    _c("troupe_journal_records_total", "Records accepted by the journal writer, by kind.", "kind"),
    _c("troupe_journal_write_errors_total",
       "Failed journal writes, fsyncs and opens (each retry counts); the node is REDUCING."),
    _c("troupe_journal_dropped_total",
       "Records dropped because the journal's backlog was full: their seq is missing."),
    _c("troupe_journal_unserializable_total", "Record fields that were not data."),
    _g("troupe_journal_healthy",
       "1 while the journal writes; 0 while records wait in memory (no new risk then)."),
    _h("troupe_journal_fsync_seconds", "Time an fsync of the journal took.", LATENCY_BUCKETS),
    # -- control plane and trading state --------------------------------------------------------
    _c("troupe_control_actions_total", "Control actions taken, by action and source.",
       "action", "source"),
    _c("troupe_control_auth_failures_total",
       "Control-plane requests with a missing or wrong token, by endpoint.", "endpoint"),
    _c("troupe_control_refused_total",
       "Control-plane requests refused by a guard (host, content_type, auth_rate_limited, "
       "busy).", "reason"),
    _c("troupe_supervisor_give_ups_total",
       "Parts of the tree that exhausted their restarts: strategy, strategies, source, risk, "
       "venue, root (docs/failures.md says what each does to trading).", "subtree"),
    _c("troupe_faults_injected_total", "Faults armed on an actor by fault injection.", "actor"),
    _g("troupe_trading_state", "Trading state: 0 active, 1 reducing, 2 halted."),
    _g("troupe_loop_pinned_cpus",
       "CPUs the event-loop thread runs on alone (runtime.loop_cpus); 0: not pinned."),
    _c("troupe_trading_state_changes_total",
       "Trading state changes, by the new state and the source that decided it.",
       "state", "source"),
    _g("troupe_instrument_halted", "1 while an instrument is halted by the risk gate.",
       "instrument"),
    _c("troupe_ws_reconnects_total",
       "Websocket reconnections (a socket lost, silent past the heartbeat, refused), by stream "
       "(market, user) and reason.", "venue", "stream", "reason"),
    _c("troupe_venue_resyncs_total",
       "Depth snapshots a venue adapter fetched for a book, by instrument and reason.",
       "venue", "instrument", "reason"),
    _c("troupe_venue_429_total", "Requests the venue throttled (HTTP 429 or 418).", "venue"),
    _c("troupe_venue_unreachable_total",
       "Attempts to reach a venue that failed (it is retried with backoff).", "venue"),
    _c("troupe_venue_malformed_frames_total",
       "Venue frames or REST bodies that could not be decoded, by stream.", "venue", "stream"),
    _c("troupe_fills_recovered_total",
       "Fills the user-data stream never delivered, found by a myTrades fetch (booked once).",
       "venue"),
    _c("troupe_reconciliation_order_drifts_total",
       "Orders resting at the venue that the connection did not know (each is cancelled).",
       "venue"),
    # -- order books ------------------------------------------------------------------------------
    _c("troupe_book_updates_total", "Book updates applied (diff levels and snapshots)."),
    _c("troupe_book_resyncs_total", "Book resyncs requested, by reason.", "reason"),
    _c("troupe_book_gaps_total", "Sequence gaps detected in book diffs."),
    _c("troupe_book_crossed_total", "Books found crossed after an update."),
    _c("troupe_book_stale_total", "Books that went stale, by reason.", "reason"),
    _c("troupe_book_time_regressions_total", "Venue timestamps that went backwards."),
    _c("troupe_book_decode_errors_total", "Book messages that could not be decoded."),
    _c("troupe_book_trades_total", "Trade prints published."),
    _c("troupe_book_duplicate_trades_total", "Trade prints seen twice and dropped."),
    _c("troupe_book_ignored_total", "Messages a book ignored, by kind.", "kind"),
    _c("troupe_book_publish_refused_total", "Book publications a subscriber's mailbox refused."),
    # -- market state ---------------------------------------------------------------------------
    _c("troupe_market_updates_total", "Market-state updates received, by kind.", "kind"),
    _c("troupe_market_ignored_total", "Market-state updates ignored, by reason.", "reason"),
    _c("troupe_market_spec_changes_total", "Instrument spec changes."),
    _g("troupe_market_spec_version", "Version of the instrument spec in force."),
    _c("troupe_market_publish_refused_total", "Market-state publications a mailbox refused."),
    # -- strategies -----------------------------------------------------------------------------
    _c("troupe_strategy_proposals_total", "Intents proposed to the risk gate, by kind.",
       "strategy", "kind"),
    _c("troupe_strategy_no_trade_total", "Decisions not to trade, by their one reason.",
       "strategy", "reason"),
    _c("troupe_strategy_position_asks_failed_total", "A starting strategy's asks of the "
       "portfolio where its position stands that got no answer (asked again).", "strategy"),
    _g("troupe_strategy_inventory_lots", "A strategy's inventory as it sees it, in lots.",
       "strategy"),
    # -- risk gate ------------------------------------------------------------------------------
    _c("troupe_risk_refusals_total", "Intents the risk gate refused, by gate.", "gate"),
    _c("troupe_risk_scaled_total", "Intents the risk gate scaled down, by gate.", "gate"),
    _c("troupe_risk_budget_refused_total", "Approved intents the action budget's mailbox refused."),
    _c("troupe_risk_cancel_all_total", "Cancel-all commands issued by the risk gate."),
    _c("troupe_risk_unhandled_total", "Messages the risk gate did not expect, by kind.", "kind"),
    # -- action budget ----------------------------------------------------------------------------
    _c("troupe_budget_sent_total", "Intents sent to the venue, by priority.", "priority"),
    _c("troupe_budget_dropped_total", "Intents the action budget dropped, by reason.", "reason"),
    _c("troupe_budget_invalid_total", "Invalid proposals refused by the action budget."),
    _c("troupe_budget_cancel_all_total", "Cancel-all requests received by the action budget."),
    _c("troupe_budget_rate_limited_total", "Rate-limit signals from the venue."),
    _c("troupe_budget_banned_total", "Ban signals from the venue."),
    _c("troupe_budget_requests_total", "The adapter's own requests (snapshots, reconciliations, "
       "look-ups, a stranger's cancel) paid for and cleared to go, by kind (exit, upkeep).",
       "kind"),
    _g("troupe_budget_queue_depth", "Intents waiting in the action budget, by priority.",
       "priority"),
    _g("troupe_budget_tokens_remaining", "Rate-limit tokens left, by limit.", "limit"),
    _g("troupe_budget_venue_used", "The venue's own count of a limit spent in its window "
       "(Binance's weight and order-count headers), adopted by the budget.", "limit"),
    # -- portfolio ------------------------------------------------------------------------------
    _c("troupe_portfolio_fills_total", "Fills booked by the portfolio.",
       "instrument", "side", "liquidity"),
    _h("troupe_portfolio_fill_notional", "Notional of single fills, in quote currency.",
       NOTIONAL_BUCKETS, "instrument"),
    _c("troupe_portfolio_duplicate_fills_total", "Fills seen twice and not booked again.",
       "instrument"),
    _c("troupe_portfolio_unbooked_fills_total", "Fills the ledger could not book, by reason.",
       "reason"),
    _c("troupe_portfolio_fills_without_mid_total", "Fills booked with no mid to measure against.",
       "instrument"),
    _c("troupe_portfolio_markouts_resolved_total", "Fill markouts resolved.", "instrument"),
    _c("troupe_portfolio_snapshots_published_total", "Portfolio snapshots published."),
    _c("troupe_portfolio_snapshots_refused_total", "Snapshots a subscriber's mailbox refused.",
       "subscriber"),
    _c("troupe_portfolio_reconciliations_total", "Reconciliations against venue positions."),
    _c("troupe_portfolio_positions_adopted_total", "Opening positions taken from the venue's "
       "start-up reconciliation (and their corrections).", "instrument"),
    _c("troupe_portfolio_unhandled_total", "Messages the portfolio did not expect, by kind.",
       "kind"),
    _c("troupe_reconciliation_drift_total",
       "Confirmed drifts between our position and the venue's.", "instrument"),
    _g("troupe_portfolio_drift_instruments", "Instruments drifting at the last reconciliation."),
    _g("troupe_portfolio_position_lots", "Position, in lots.", "instrument"),
    _g("troupe_portfolio_notional", "Position notional, in quote currency.", "instrument"),
    _g("troupe_portfolio_exposure", "Total exposure, in quote currency."),
    _g("troupe_portfolio_realized_pnl", "Realized PnL, in quote currency."),
    _g("troupe_portfolio_unrealized_pnl", "Unrealized PnL, in quote currency."),
    _g("troupe_portfolio_daily_realized_pnl", "Realized PnL of the trading day, quote currency."),
    _g("troupe_portfolio_equity", "Equity, in quote currency."),
    _g("troupe_portfolio_drawdown", "Drawdown from peak equity, in quote currency."),
    _g("troupe_portfolio_fees", "Fees paid net of rebates, in quote currency."),
    _g("troupe_portfolio_spread_capture", "Spread captured against the mid, in quote currency."),
    _g("troupe_portfolio_adverse_selection", "Adverse selection by markout horizon, quote.",
       "horizon"),
    # -- produced by the sink at scrape time ------------------------------------------------------
    _collected(_c("troupe_supervision_events_total",
                  "Supervision log entries: failure, restart, escalation, stop, give_up.", "kind")),
    _collected(_g("troupe_actor_mailbox_depth", "Messages waiting in an actor's mailbox.",
                  "actor")),
    _collected(_c("troupe_actor_mailbox_dropped_total",
                  "Messages a mailbox let go: dropped (evicted), conflated, rejected.",
                  "actor", "kind")),
    _collected(_c("troupe_actor_messages_handled_total", "Messages an actor has handled.",
                  "actor")),
    _collected(_c("troupe_actor_restarts_total", "Restarts of an actor.", "actor")),
    _collected(_c("troupe_actor_failures_total", "Failures of an actor.", "actor")),
    _collected(_c("troupe_actor_escalations_total",
                  "Times a supervisor exceeded its restart intensity and escalated.", "actor")),
    _collected(MetricSpec("troupe_actor_handling_seconds", "summary",
                          "Time spent in receive per message since start (HdrHistogram).",
                          ("actor",))),
    _collected(_g("troupe_build_info", "Always 1: the node's version, mode, profile and name.",
                  "version", "mode", "profile", "node")),
    _collected(_c("troupe_metrics_label_mismatch_total",
                  "Metric uses dropped because their label names differ from the first use.",
                  "metric")),
    _collected(_c("troupe_metrics_dropped_total",
                  "Metric uses dropped: negative counter, long label, bad name, wrong kind...",
                  "metric", "reason")),
)

validate(_SPECS)

CATALOG: Mapping[str, MetricSpec] = {spec.name: spec for spec in _SPECS}
"""Every declared metric by name."""
