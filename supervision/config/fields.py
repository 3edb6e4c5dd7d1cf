"""What every config section's fields share: validators whose messages the operator reads, and
the word that stands for "none" in TOML.

`supervision.config.load` reports each problem as `path: message`, the path being the key the
operator would write in `--set` (`venue.sim.latency.insert_ms`). A validator's message is the part
after the colon, so it says what is allowed and what it got (`must be > 0, got -1`), never which
field failed: the path already says that. `show` writes the value as the operator wrote it (-1
rather than -1.0, 0.01 rather than Decimal('0.01')), so the message can be matched against the
file by eye. Tests compare these messages word for word.

`ge` and `gt` pass None, for the optional fields they also guard: whether a field may be None
is its type's business, checked when structuring.

TOML has no null, so an optional value that defaults to something else is written as a word
named in the field's metadata under `NONE_WORD` (`speed = "max"`, `rest_url = "testnet"`). The
structurer reads that word as None and the dump writes None back as it, so the effective config
loads back unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

# The metadata key of a field whose None is written as a word: `metadata={NONE_WORD: "max"}`.
NONE_WORD = "none_word"

# A fee is a fraction of notional (0.0002 is 2 bps); the bounds catch a slipped digit.
MAX_REBATE, MAX_FEE = Decimal("-0.01"), Decimal("0.05")

Validator = Callable[[Any, Any, Any], None]


def show(value: Any) -> str:
    """A value as an operator wrote it: -1 rather than -1.0, 0.01 rather than Decimal('0.01')."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, str):
        return repr(value)
    return str(value)


def ge(bound: float) -> Validator:
    """At least `bound`."""

    def check(_inst: Any, _attr: Any, value: Any) -> None:
        if value is not None and not value >= bound:  # `not >=` also refuses NaN
            raise ValueError(f"must be >= {show(bound)}, got {show(value)}")

    return check


def le(bound: float) -> Validator:
    """At most `bound`."""

    def check(_inst: Any, _attr: Any, value: Any) -> None:
        if value is not None and not value <= bound:
            raise ValueError(f"must be <= {show(bound)}, got {show(value)}")

    return check


def gt(bound: float) -> Validator:
    """Above `bound`."""

    def check(_inst: Any, _attr: Any, value: Any) -> None:
        if value is not None and not value > bound:
            raise ValueError(f"must be > {show(bound)}, got {show(value)}")

    return check


def one_of(*choices: Any) -> Validator:
    """One of `choices`, compared by type as well (1 is not True, "5" is not 5)."""
    listed = ", ".join(show(choice) for choice in choices)

    def check(_inst: Any, _attr: Any, value: Any) -> None:
        if not any(type(value) is type(c) and value == c for c in choices):
            raise ValueError(f"must be one of {listed}, got {show(value)}")

    return check


def at_least_items(count: int) -> Validator:
    """A sequence of at least `count` items."""

    def check(_inst: Any, _attr: Any, value: Any) -> None:
        if len(value) < count:
            plural = "" if count == 1 else "s"
            raise ValueError(f"must have at least {count} item{plural}, got {len(value)}")

    return check


def tcp_port(_inst: Any, _attr: Any, value: int) -> None:
    if not 0 <= value <= 65535:
        raise ValueError(f"must be a TCP port, 0 to 65535 (0: any free port), got {value}")


def fee_fraction(_inst: Any, _attr: Any, value: Decimal) -> None:
    if not MAX_REBATE <= value <= MAX_FEE:
        raise ValueError(
            f"must be a fraction of notional between {MAX_REBATE} (a 1% rebate) and "
            f"{MAX_FEE} (a 5% fee), got {value}"
        )


def non_empty(_inst: Any, _attr: Any, value: str) -> None:
    if not value:
        raise ValueError("must not be empty")


def non_negative_values(_inst: Any, _attr: Any, value: dict[str, Decimal]) -> None:
    for key, amount in value.items():
        if amount < 0:
            raise ValueError(f"{key} must be >= 0, got {amount}")


def cpu_numbers(_inst: Any, _attr: Any, value: tuple[int, ...]) -> None:
    """CPU numbers as the kernel counts them (0, 1, ...), each once."""
    for cpu in value:
        if cpu < 0:
            raise ValueError(f"CPU numbers start at 0, got {cpu}")
    repeated = sorted({cpu for cpu in value if value.count(cpu) > 1})
    if repeated:
        raise ValueError(f"names CPU {', '.join(map(str, repeated))} more than once")
