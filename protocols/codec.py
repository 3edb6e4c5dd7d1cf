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
    plans = _PLANS.get(unit)
    if plans is None:
        plans = _unit_plans(unit)
    return _count(text, unit, plans)


_Plans = tuple[tuple[int, int], ...]
_PLANS: dict[Decimal, _Plans] = {}
_FRACTION_DIGITS = 40  # longer fractions take the Decimal path (same answer, slower)


def _unit_plans(unit: Decimal) -> _Plans:
    """For each fraction length n, (factor, divisor) such that a string of n fraction digits
    counts int(its digits) * factor / divisor units: Decimal("0.01") -> (100, 1), (10, 1), (1, 1),
    (1, 10)... Memoized: a node has few units."""
    sign, digits, exponent = unit.normalize().as_tuple()
    if sign or not isinstance(exponent, int) or not unit:
        raise DecodeError(f"a unit must be a positive finite decimal, got {unit}")
    unit_int = int("".join(map(str, digits)))
    shifts = [exponent + n for n in range(_FRACTION_DIGITS + 1)]
    plans = _PLANS[unit] = tuple((10**-shift, unit_int) if shift <= 0 else (1, unit_int * 10**shift)
                                 for shift in shifts)
    return plans


def _count(text: str, unit: Decimal, plans: _Plans) -> int:
    whole, _, fraction = text.partition(".")
    digits = whole + fraction
    if digits.isdigit() and digits.isascii() and len(fraction) <= _FRACTION_DIGITS:
        factor, divisor = plans[len(fraction)]
        count, rest = divmod(int(digits) * factor, divisor)
        if not rest:
            return count
    return _parse_units_decimal(text, unit)


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


class _UnitMemo(dict[str, int]):
    """Decimal strings -> exact counts of one unit, filling itself: a hit is one dict subscript
    in C, a miss runs `__missing__`, which counts the string (`_count`) and keeps it.

    Two generations bound it: when `limit` strings are held they become the old generation,
    looked in on a miss (a string found there is kept again), and this one starts empty. A
    price still in use survives the turnover, and at most 2 x `limit` strings are held. A
    `limit` of 0 keeps nothing. A string that does not count is not kept (DecodeError)."""

    __slots__ = ("_holders", "_limit", "_old", "_per_holder", "_plans", "unit")

    def __init__(self, unit: Decimal, limit: int) -> None:
        super().__init__()
        self.unit, self._limit, self._per_holder, self._holders = unit, limit, limit, 0
        self._old: dict[str, int] = {}
        self._plans = _PLANS.get(unit) or _unit_plans(unit)

    def __missing__(self, text: str) -> int:
        value = self._old.get(text)
        if value is None:
            if not isinstance(text, str):
                raise DecodeError(f"{text!r:.40} should be a decimal string")
            value = _count(text, self.unit, self._plans)
        if self._limit:
            if len(self) >= self._limit:
                self._old = dict(self)
                self.clear()
            self[text] = value
        return value

    # A shared memo holds `limit` strings per generation for each converter using it, so a book
    # finds as much room in it as in a memo of its own.
    def hold(self) -> None:
        self._holders += 1
        self._limit = self._per_holder * self._holders

    def release(self) -> None:
        self._holders -= 1
        self._limit = self._per_holder * max(1, self._holders)


MEMO_LIMIT = 8192  # strings per generation of a converter's memo (of a unit's, per converter)
_SHARED_MEMOS: dict[Decimal, _UnitMemo] = {}


def _shared_memo(unit: Decimal) -> _UnitMemo:
    memo = _SHARED_MEMOS.get(unit)
    if memo is None:
        if len(_SHARED_MEMOS) >= 64:  # units come from specs, a node has few: forget the unused
            for stale in [u for u, m in _SHARED_MEMOS.items() if not m._holders]:
                del _SHARED_MEMOS[stale]
        memo = _SHARED_MEMOS[unit] = _UnitMemo(unit, MEMO_LIMIT)
    return memo


class LevelConverter:
    """Converts venue levels to integer (ticks, lots), memoizing each distinct string.

    A depth stream repeats the same prices and, above all, the zero quantity that deletes a
    level: a memo hit is one dict subscript in C, a fraction of the cost of counting the string.
    By default the memos are the process's own per unit (`tick`, `lot`), shared by every
    converter of that unit: the conversion is a pure function of (string, unit), so every book
    of an instrument (ours, the simulated venue's, one rebuilt after a resync, those of the
    other instruments quoted in the same units) finds what the others converted, and a memo
    holds `MEMO_LIMIT` strings per generation for each converter using it, the room a memo of
    its own would give. `max_entries` gives a converter memos of its own, of that many strings
    per generation (0: none).
    """

    __slots__ = ("_lot", "_lots", "_shared", "_tick", "_ticks")

    def __init__(self, tick: Decimal, lot: Decimal, max_entries: int | None = None) -> None:
        self._tick, self._lot = tick, lot
        self._shared = max_entries is None
        if max_entries is None:
            self._ticks, self._lots = _shared_memo(tick), _shared_memo(lot)
            self._ticks.hold()
            self._lots.hold()
        else:
            self._ticks, self._lots = _UnitMemo(tick, max_entries), _UnitMemo(lot, max_entries)

    def __del__(self) -> None:
        if getattr(self, "_shared", False):
            self._ticks.release()
            self._lots.release()

    def convert(self, levels: Iterable[Sequence[object]]) -> list[tuple[int, int]]:
        ticks, lots = self._ticks, self._lots
        if not isinstance(levels, list | tuple):
            levels = list(levels)
        try:
            return [(ticks[level[0]], lots[level[1]]) for level in levels]  # type: ignore[index]
        except (DecodeError, TypeError):
            return self._convert_checked(levels)

    def _convert_checked(self, levels: Sequence[Sequence[object]]) -> list[tuple[int, int]]:
        """Level by level, to name the level that does not convert in the error."""
        out = []
        for level in levels:
            price, qty = level[0], level[1]
            if not isinstance(price, str) or not isinstance(qty, str):
                raise DecodeError(f"level {level!r:.60} should hold decimal strings")
            out.append((self._ticks[price], self._lots[qty]))
        return out

    def memos(self) -> tuple[Mapping[str, int], Mapping[str, int]]:
        """The (price string -> ticks, size string -> lots) memos this converter reads, for a
        caller's own loop: a subscript converts a string it has not seen (DecodeError if it
        does not count); `get` only looks."""
        return self._ticks, self._lots

    def ticks(self, text: str) -> int:
        """One price string (a trade's) in ticks, through the same memo. DecodeError if off-tick."""
        return self._ticks[text]

    def lots(self, text: str) -> int:
        """One size string in lots, through the same memo. DecodeError if off-lot."""
        return self._lots[text]


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
