"""Shared pieces of the venue codecs: the one decode error, field readers, exact conversion of
decimal strings to integer ticks/lots, and trade dedupe.

Every venue parser reports malformed input through `DecodeError` alone, with a message naming the
venue, the message kind and the field. A feed actor then needs a single `except DecodeError` to
count and skip a bad frame, and a log line says what was wrong instead of showing a `KeyError`
traceback from deep inside a parser.
"""

from __future__ import annotations

import enum
import json
from collections import deque
from collections.abc import Hashable, Iterable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from protocols.errors import TroupeError


class DecodeError(TroupeError, ValueError):
    """Raw venue input could not be turned into a message. The text says what and where."""


class Side(enum.Enum):
    """Direction of an order or of a trade's aggressor. Shared by every venue codec."""

    BUY = "buy"
    SELL = "sell"


def load_json(raw: str | bytes, what: str) -> Any:
    """`json.loads` whose only failure is a `DecodeError` quoting the start of the input."""
    try:
        return json.loads(raw)
    except (ValueError, TypeError, RecursionError) as exc:
        head = raw[:80] if isinstance(raw, str | bytes) else type(raw).__name__
        raise DecodeError(f"{what}: invalid JSON ({exc}): {head!r}") from None


def require_mapping(obj: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(obj, Mapping):
        raise DecodeError(f"{what}: expected a JSON object, got {type(obj).__name__}")
    return obj


def field(obj: Mapping[str, Any], key: str, kind: type | tuple[type, ...], what: str) -> Any:
    """Read `obj[key]` and check its JSON type; a missing or mistyped field is a DecodeError.

    `bool` is a subclass of `int` in Python, so an integer field refuses booleans explicitly.
    """
    try:
        value = obj[key]
    except KeyError:
        raise DecodeError(f"{what}: missing field {key!r}") from None
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise DecodeError(
            f"{what}: field {key!r} should be {_kind_name(kind)}, got {type(value).__name__} "
            f"{value!r:.40}"
        )
    return value


def decimal_field(obj: Mapping[str, Any], key: str, what: str) -> Decimal:
    """A price or size sent as a decimal string. A JSON number would have become a float, so it
    is refused: venues send money as strings precisely so that nobody rounds it."""
    return parse_decimal(field(obj, key, str, what), f"{what}: field {key!r}")


def parse_decimal(text: str, what: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise DecodeError(f"{what}: {text!r:.40} is not a decimal number") from None
    if not value.is_finite():
        raise DecodeError(f"{what}: {text!r:.40} is not a finite number")
    return value


def levels_field(
    obj: Mapping[str, Any], key: str, what: str
) -> tuple[tuple[str, str], ...]:
    """Binance-style `[["price", "qty"], ...]`, kept as the venue's exact strings.

    The strings are converted once, straight to integer ticks and lots, by whoever knows the
    instrument's tick and lot (`LevelConverter`, below); parsing them to Decimal here would only
    be thrown away.
    """
    raw = field(obj, key, list, what)
    out: list[tuple[str, str]] = []
    for i, level in enumerate(raw):
        if (
            not isinstance(level, list)
            or len(level) < 2
            or not isinstance(level[0], str)
            or not isinstance(level[1], str)
        ):
            raise DecodeError(
                f"{what}: {key}[{i}] should be [price_string, qty_string], got {level!r:.60}"
            )
        out.append((level[0], level[1]))
    return tuple(out)


def _kind_name(kind: type | tuple[type, ...]) -> str:
    names = {
        str: "a string", int: "an integer", list: "a list", bool: "a boolean", dict: "an object"
    }
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def parse_units(text: str, unit: Decimal) -> int:
    """A venue decimal string as an exact count of `unit`s (ticks or lots).

    Negative, non-numeric or off-unit values are a DecodeError: the venue (or our spec) is wrong,
    and rounding would hide it. Plain `digits[.digits]` strings, which is what venues send, are
    counted in integers (a few times faster than a Decimal division); anything else goes
    through Decimal, which decides and words the error.
    """
    whole, _, fraction = text.partition(".")
    digits = whole + fraction
    if digits.isdigit() and digits.isascii():
        unit_int, unit_exp = _unit_parts(unit)
        shift = unit_exp + len(fraction)  # value / unit = int(digits) / (unit_int * 10**shift)
        if shift <= 0:
            count, rest = divmod(int(digits) * 10 ** -shift, unit_int)
        else:
            count, rest = divmod(int(digits), unit_int * 10**shift)
        if not rest:
            return count
    return _parse_units_decimal(text, unit)


_UNIT_PARTS: dict[Decimal, tuple[int, int]] = {}


def _unit_parts(unit: Decimal) -> tuple[int, int]:
    """`unit` as (integer, exponent): Decimal("0.01") -> (1, -2). Memoized: a node has few."""
    parts = _UNIT_PARTS.get(unit)
    if parts is None:
        sign, digits, exponent = unit.normalize().as_tuple()
        if sign or not isinstance(exponent, int) or not unit:
            raise DecodeError(f"a unit must be a positive finite decimal, got {unit}")
        parts = _UNIT_PARTS[unit] = (int("".join(map(str, digits))), exponent)
    return parts


def _parse_units_decimal(text: str, unit: Decimal) -> int:
    try:
        whole, rest = divmod(Decimal(text), unit)
    except InvalidOperation:
        raise DecodeError(f"{text!r:.40} is not a decimal number") from None
    if rest or whole < 0:
        raise DecodeError(f"{text!r:.40} is not a non-negative multiple of {unit}")
    return int(whole)


def levels_to_units(
    levels: Iterable[Sequence[object]], tick: Decimal, lot: Decimal
) -> list[tuple[int, int]]:
    """`[(price_str, qty_str, ...), ...]` -> `[(price_ticks, qty_lots), ...]`, uncached."""
    return LevelConverter(tick, lot, max_entries=0).convert(levels)


class LevelConverter:
    """Converts venue levels to integer (ticks, lots), memoizing each distinct string.

    A depth stream repeats the same few hundred price strings and, above all, the zero quantity
    that deletes a level; a dict hit costs a fraction of a Decimal parse and halves the cost of
    the feed path. Each memo is cleared when it reaches `max_entries`, so memory stays bounded.
    """

    __slots__ = ("_lot", "_lots", "_max", "_tick", "_ticks")

    def __init__(self, tick: Decimal, lot: Decimal, max_entries: int = 8192) -> None:
        self._tick, self._lot, self._max = tick, lot, max_entries
        self._ticks: dict[str, int] = {}
        self._lots: dict[str, int] = {}

    def convert(self, levels: Iterable[Sequence[object]]) -> list[tuple[int, int]]:
        ticks, lots = self._ticks, self._lots
        out = []
        for level in levels:
            price, qty = level[0], level[1]
            p = ticks.get(price) if isinstance(price, str) else None
            if p is None:
                p = self._miss(ticks, price, self._tick, level)
            q = lots.get(qty) if isinstance(qty, str) else None
            if q is None:
                q = self._miss(lots, qty, self._lot, level)
            out.append((p, q))
        return out

    def _miss(self, memo: dict[str, int], text: object, unit: Decimal, level: object) -> int:
        if not isinstance(text, str):
            raise DecodeError(f"level {level!r:.60} should hold decimal strings")
        value = parse_units(text, unit)
        if len(memo) >= self._max:
            memo.clear()
        if self._max:
            memo[text] = value
        return value


class TradeDeduper:
    """Remembers the last `capacity` trade ids and says whether an id is new.

    Hyperliquid replays recent trades when a `trades` subscription starts (and again after every
    reconnect), and its `tid`s are not monotonic, so "newer than the last id" cannot work: we keep
    a set of recently seen ids. Memory is bounded: the oldest id is forgotten first, which is safe
    because a replay only reaches back a few dozen trades.
    """

    __slots__ = ("_capacity", "_order", "_seen", "duplicates")

    def __init__(self, capacity: int = 10_000) -> None:
        if capacity <= 0:
            raise ValueError(f"TradeDeduper capacity must be positive, got {capacity}")
        self._capacity = capacity
        self._seen: set[Hashable] = set()
        self._order: deque[Hashable] = deque()
        self.duplicates = 0

    def is_new(self, trade_id: Hashable) -> bool:
        """True the first time an id is seen (and remembers it); False for a repeat."""
        if trade_id in self._seen:
            self.duplicates += 1
            return False
        self._seen.add(trade_id)
        self._order.append(trade_id)
        if len(self._order) > self._capacity:
            self._seen.discard(self._order.popleft())
        return True

    def __len__(self) -> int:
        return len(self._order)
