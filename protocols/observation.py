"""Observation statistics: what one market looked like over one UTC day, for choosing which
markets to trade (the observation phase of a dislocation taker).

The Market observer (`actors.market.observation`) sends a `MarketStatistics` for each instrument
and day it has seen, again and again as the day goes on (`partial`), and once more, final, when
the next day starts; the node's writer (`supervision.node.observation`) keeps one Parquet file a
day. Statistics are floats (they are not money); every duration is milliseconds, every distance
basis points or price ticks, and a percentile with no sample is None.
"""

from __future__ import annotations

import attrs

__all__ = ["MarketStatistics"]


@attrs.frozen(slots=True, kw_only=True)
class MarketStatistics:
    """One instrument over one UTC day of venue time (`day`, "YYYY-MM-DD")."""

    day: str
    instrument: str
    partial: bool  # the day is not over (or the node stopped before it was)
    book_updates: int  # BookTops seen
    bbo_null: int  # of which with a side missing
    bbo_null_rate: float
    bbo_interval_ms_p50: float | None  # between consecutive BookTops, local receive time
    bbo_interval_ms_p95: float | None
    bbo_interval_ms_p99: float | None
    oracle_updates: int
    oracle_age_ms_p50: float | None  # the oracle context's age at each BookTop
    oracle_age_ms_p95: float | None
    oracle_age_ms_p99: float | None
    # A crossing: the bid above the oracle or the ask below it, from the first look (a BookTop
    # against the oracle, or a new oracle against the book) that shows it to the first that
    # does not.
    crossings: int
    crossing_updates_p50: float | None  # its duration in looks ("ticks" of the feed)
    crossing_updates_max: int
    crossing_ms_p50: float | None  # its duration in milliseconds
    crossing_ms_p95: float | None
    crossing_depth_ticks_max: float  # how far through the oracle it went, in price ticks
    # The best take's edge against the oracle after the taker fee, at each look (bps).
    edge_after_fees_bps_p50: float | None
    edge_after_fees_bps_p95: float | None
    edge_after_fees_bps_p99: float | None
    edge_after_fees_bps_max: float | None
    edge_positive_share: float  # the share of looks with a positive edge
