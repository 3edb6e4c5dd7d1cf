"""What a sweep ranks by and an optimiser searches for: one field of report.json, and a direction.

    --rank pnl.total                 # the default: the most PnL first
    --rank max_drawdown              # the smallest drawdown first (a field where less is better)
    --rank markout.30s.all.mean_bps:max
    --optimize sharpe:max

A field is a dotted path into report.json (docs/analytics.md lists every one). Money fields are
exact decimal strings there; here they are compared as numbers. A field that is null in a
variant's report (a Sharpe ratio under 30 minutes of data, a markout with no fill) ranks that
variant last, and an optimiser counts its trial as failed. The direction is `:max` or `:min`,
or by default `MINIMISED` (drawdown, rejects, latency, holding time, quote age) else max.

A field is checked against the report an empty run produces before anything runs, so a typo
is one line naming the keys there are.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

import attrs

from protocols.errors import TroupeError

__all__ = ["COLUMNS", "MINIMISED", "Objective", "ObjectiveError", "figure", "number",
           "parse_objective"]

MINIMISED = ("max_drawdown", "pnl.fees", "reject_ratio", "latency_ms", "hold_seconds",
             "fill_sanity.quote_age_s", "risk_refusals", "rejects")
"""Fields (and the fields under them) where less is better; every other field: more is."""

COLUMNS = ("pnl.total", "pnl.fees", "fills", "fill_ratio", "reject_ratio", "max_drawdown",
           "expectancy", "markout.30s.all.mean_bps")
"""The figures a comparison table shows for every variant, beside the ranked one."""


class ObjectiveError(ValueError, TroupeError):
    """A field that is not in report.json, or a direction that is neither max nor min."""


def figure(figures: Mapping[str, Any], field: str) -> Any:
    """The value at a dotted path of a report's figures; None where there is none."""
    node: Any = figures
    for part in field.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def number(value: Any) -> float | None:
    """A report value as a number to compare: numbers as they are, decimal strings parsed."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(Decimal(value))
        except InvalidOperation:
            return None
    return None


@attrs.frozen(slots=True)
class Objective:
    field: str
    maximize: bool = True

    @property
    def direction(self) -> str:
        return "max" if self.maximize else "min"

    def label(self) -> str:
        return f"{self.field} ({self.direction})"

    def value(self, figures: Mapping[str, Any] | None) -> float | None:
        return None if figures is None else number(figure(figures, self.field))

    def sort_key(self, value: float | None) -> tuple[int, float]:
        """Best first, and nulls last, when sorted ascending."""
        if value is None:
            return (1, 0.0)
        return (0, -value if self.maximize else value)

    def check(self, sample: Mapping[str, Any]) -> None:
        """ObjectiveError unless the field exists in `sample` (a report of no records) and is a
        number there. A table of names the data chooses (an instrument, a reason) that is empty
        in the sample accepts any key under it."""
        node: Any = sample
        parts = self.field.split(".")
        for depth, part in enumerate(parts):
            if isinstance(node, Mapping) and not node:
                return
            if not isinstance(node, Mapping) or part not in node:
                here = ".".join(parts[:depth]) or "report.json"
                keys = ", ".join(sorted(node)) if isinstance(node, Mapping) else "none"
                raise ObjectiveError(f"{self.field}: no field {part!r} under {here} "
                                     f"(there: {keys}; docs/analytics.md lists them)")
            node = node[part]
        if isinstance(node, Mapping | bool) or (
                isinstance(node, str) and number(node) is None):
            raise ObjectiveError(f"{self.field}: not a number in report.json")


def parse_objective(text: str) -> Objective:
    """`FIELD`, `FIELD:max` or `FIELD:min` as an Objective (direction by default: MINIMISED)."""
    field, sep, direction = text.strip().partition(":")
    if not field:
        raise ObjectiveError(f"{text!r}: expected a report.json field, e.g. pnl.total")
    if not sep:
        minimised = any(field == m or field.startswith(f"{m}.") for m in MINIMISED)
        return Objective(field, maximize=not minimised)
    if direction not in ("max", "min"):
        raise ObjectiveError(f"{text!r}: the direction is :max or :min, not {direction!r}")
    return Objective(field, maximize=direction == "max")
