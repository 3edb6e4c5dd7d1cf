"""`parse_units`' integer path agrees with the Decimal division it short-cuts, on valid and
invalid input alike (an invalid one still gets the Decimal path's error)."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest

from protocols.codec import DecodeError, _parse_units_decimal, parse_units

UNITS = [Decimal(u) for u in ("0.01", "0.00000001", "0.00001", "1", "0.5", "10", "1E+2",
                              "0.25", "0.001")]


def outcome(fn: object, text: str, unit: Decimal) -> object:
    try:
        return fn(text, unit)  # type: ignore[operator]
    except DecodeError as exc:
        return f"error: {exc}"


def test_the_integer_path_counts_exactly_what_decimal_counts() -> None:
    rng = random.Random(11)
    texts = ["0", "0.00000000", "61737.63000000", "61737.635", "1.54698000", "100", "007.50",
             "-1", "1e-5", "abc", "1.", ".5", "", "١٢", " 1", "1.2.3"]
    for _ in range(3000):
        whole = str(rng.randrange(0, 10**rng.randrange(1, 8)))
        fraction = "".join(rng.choice("0123456789") for _ in range(rng.randrange(0, 10)))
        texts.append(f"{whole}.{fraction}" if fraction else whole)
    for unit in UNITS:
        for text in texts:
            assert outcome(parse_units, text, unit) == outcome(_parse_units_decimal, text, unit), \
                (text, unit)


def test_an_off_unit_value_is_still_refused() -> None:
    with pytest.raises(DecodeError, match=r"not a non-negative multiple of 0\.01"):
        parse_units("1.005", Decimal("0.01"))
