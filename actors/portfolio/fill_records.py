"""What the ledger gives reports: each fill decomposed, the totals over all fills, and what one
mid changed.

A `FillRecord` splits a fill's edge into spread capture (against the mid at the fill) and adverse
selection per markout horizon (the mid's move since), so spread capture + adverse selection(h) is
the fill marked to the mid at h, exactly (`actors.portfolio.ledger` states the rule). Money is
`Decimal`, computed exactly; a horizon not reached yet is simply absent.
"""

from __future__ import annotations

from decimal import Decimal

import attrs

from protocols.codec import Side
from protocols.instruments import _EXACT

__all__ = ["DecompositionTotals", "FillRecord", "MarkResult"]


@attrs.define(slots=True, eq=False)
class FillRecord:
    """One fill, decomposed, for reports. `mid_x2` is the mid the decomposition starts from (the
    fill's own, else the ledger's latest); without any, spread capture and markouts are None.
    `adverse_selection` and `markout_mid_x2` fill in per horizon (ns) as later mids arrive."""

    fill_id: str
    instrument: str
    strategy: str
    side: Side
    qty: int
    price: int
    fee: Decimal
    recv_ns: int
    notional: Decimal
    realized: Decimal  # gross, before fees: what this fill closed
    mid_x2: int | None
    spread_capture: Decimal | None
    adverse_selection: dict[int, Decimal] = attrs.Factory(dict)
    markout_mid_x2: dict[int, int] = attrs.Factory(dict)

    def markout_pnl(self, horizon_ns: int) -> Decimal | None:
        """The fill marked to the mid at the horizon, before fees; None while pending."""
        adverse = self.adverse_selection.get(horizon_ns)
        if adverse is None or self.spread_capture is None:
            return None
        return _EXACT.add(self.spread_capture, adverse)


@attrs.frozen(slots=True)
class DecompositionTotals:
    """Aggregates over every booked fill. Per-horizon tuples are (horizon_ns, value) pairs;
    averages are totals over `markouts_resolved`, since pending markouts are not in the sums."""

    fills: int
    fills_without_mid: int
    duplicates: int
    spread_capture: Decimal
    adverse_selection: tuple[tuple[int, Decimal], ...]
    markouts_resolved: tuple[tuple[int, int], ...]
    fees: Decimal
    realized: Decimal  # gross, before fees


@attrs.frozen(slots=True)
class MarkResult:
    """What one mid changed: `repriced` when a held position's mark moved (a snapshot is due)."""

    repriced: bool
    resolved: int
