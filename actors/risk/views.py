"""What the risk rules read and remember: market and portfolio views, a proposal as the rules
read it (`ProposalView`), windows, minimums.

This module is data and small bookkeeping only; the rules that judge an intent live in
`actors.risk.rules`, and the actor that feeds both is `actors.risk.gate`. It is split out so each
module stays short. The records other actors exchange with the gate (the persisted state, the
halt events, the commands) are in `protocols.risk` and `protocols.commands`.

Units follow `protocols.orders`: prices are int ticks, sizes int lots, money `Decimal` in the
quote currency, times int nanoseconds. Basis points are ints. Mids and marks are kept doubled
(`mid_x2`, `mark_x2`) so a half-tick mid stays an exact int. The one statistic that is not money,
the spread EWMA, is a `Decimal` quantized to 1e-6 ticks. It is computed in integers:
micro-ticks, and the decay 2 ** (-dt / half_life) in 64-bit fixed point from a table of
2 ** (-1 / 2 ** k) (`_decay_q64`, a few microseconds where a 28-digit `Decimal.power` took
74), which is exact to ~1e-15, far below the 1e-6 quantum, so the gate decides as before. Most
samples never need the fixed point: a float estimate of the decayed difference settles the
rounding whenever it provably cannot be near a tie (`_decayed`); the EWMA's values are the
same integers either way, and no float is ever stored.
"""

from __future__ import annotations

import decimal
import math
from collections import OrderedDict, deque
from decimal import Decimal
from typing import Any

import attrs

from actors.market.quantization import lots_to_qty, notional, ticks_to_price
from actors.risk.limits import RateWindow
from actors.risk.notional_limits import NotionalLimits
from protocols.decisions import Proposal
from protocols.instruments import _EXACT, InstrumentSpec
from protocols.market import BookTop, TradingStatus
from protocols.orders import OrderIntent, ReplaceIntent, Side
from protocols.risk import InstrumentHalt

MS = 1_000_000
DAY_NS = 86_400 * 1_000_000_000

# The EWMA needs 2 ** (-dt / half_life), in 64-bit fixed point: ONE is 1.0, and _HALVES[k] is
# 2 ** (-1 / 2 ** k) for each bit k of the fraction dt / half_life (48 bits). The table is built
# once, in a 40-digit Decimal context (the trapping money context of `protocols.instruments`
# is not for inexact statistics).
_Q = 64
_ONE = 1 << _Q
_FRACTION_BITS = 48
_TABLE_CONTEXT = decimal.Context(prec=40)
_HALVES = tuple(
    int(_TABLE_CONTEXT.power(Decimal(2), Decimal(-1) / (1 << k)) * _ONE)
    for k in range(1, _FRACTION_BITS + 1))
_MICRO = 1_000_000  # the EWMA's quantum: 1e-6 tick
# The product of the halves for the top `_TABLE_BITS` bits of the fraction, for each pattern of
# them, taken in the loop's own order (high bit first, each step truncated): the same integers
# the loop gives, without its first twelve steps. A pattern's value is the one of the pattern
# without its lowest set bit, times that bit's half: 4,096 multiplications at import.
_TABLE_BITS = 12
_LOW_BITS = _FRACTION_BITS - _TABLE_BITS
_LOW_MASK = (1 << _LOW_BITS) - 1


def _high_table() -> tuple[int, ...]:
    table = [_ONE]
    for pattern in range(1, 1 << _TABLE_BITS):
        lowest = pattern & -pattern
        half = _HALVES[_TABLE_BITS - lowest.bit_length()]
        table.append((table[pattern ^ lowest] * half) >> _Q)
    return tuple(table)


_HIGH = _high_table()
_BUY = Side.BUY  # read on every proposal: a read through the enum's class costs ~70 ns
_FLOAT_EXACT = 1 << 50  # |diff| below this: a float holds it and its fraction exactly
_ESTIMATE_MARGIN = 2.0 ** -40


def utc_day(epoch_ns: int) -> int:
    return epoch_ns // DAY_NS


# --------------------------------------------------------------------------------------------
# Views


@attrs.define(slots=True)
class InstrumentView:
    """What the gate knows about one instrument. Freshness uses local monotonic receive times."""

    instrument: str
    spec: InstrumentSpec | None = None
    status: TradingStatus = TradingStatus.TRADING
    oi_capped: bool = False
    book_recv_ns: int | None = None
    mid_x2: int | None = None
    spread: int | None = None
    book_stale: str | None = None  # BookStale reason until the next BookTop
    last_venue_ns: int | None = None
    spread_samples: int = 0  # of the spread EWMA (`spread_ewma`)
    mark_x2: int | None = None
    oracle_x2: int | None = None
    oracle_recv_ns: int | None = None
    halt: InstrumentHalt | None = None
    # The spread EWMA in micro-ticks (ints), now and just before the last sample: what the next
    # sample folds in, with no Decimal math. Their Decimals are built when read (`spread_ewma`,
    # `spread_ewma_before`): every top folds a sample in, only a proposal's check reads one.
    _ewma_micro: int = attrs.field(default=0, init=False, repr=False)
    _before_micro: int = attrs.field(default=0, init=False, repr=False)

    @property
    def spread_ewma(self) -> Decimal | None:
        """The spread EWMA in ticks, quantized to 1e-6 (the first sample: its spread as is)."""
        return _ewma_ticks(self._ewma_micro, self.spread_samples)

    @property
    def spread_ewma_before(self) -> Decimal | None:
        """`spread_ewma` just before the last sample was folded in (what a shock is judged
        on)."""
        return _ewma_ticks(self._before_micro, self.spread_samples - 1)

    def apply_top(self, top: BookTop, half_life_ns: int) -> None:
        """Take a synced BookTop: mid, spread, and the spread EWMA (time-decayed, so irregular
        update rates weigh time, not message count)."""
        venue_ns = top.venue_ns
        if venue_ns is not None and (self.last_venue_ns is None
                                     or venue_ns > self.last_venue_ns):
            self.last_venue_ns = venue_ns  # a high-water mark: small steps back add up
        self.book_stale = None
        bid, ask = top.bid, top.ask
        if bid is None or ask is None:  # BookTop.mid_x2 and .spread, without two calls
            self.mid_x2 = spread = None
        else:
            self.mid_x2, spread = bid + ask, ask - bid
        if spread is not None and spread > 0:
            last_ns = self.book_recv_ns
            self._before_micro = previous = self._ewma_micro
            if self.spread_samples == 0 or last_ns is None:
                self._ewma_micro = spread * _MICRO
            else:  # decay x old + (1 - decay) x spread = spread + decay x (old - spread)
                target = spread * _MICRO
                self._ewma_micro = target + _decayed(previous - target, top.recv_ns - last_ns,
                                                     half_life_ns)
            self.spread_samples += 1
        self.spread = spread
        self.book_recv_ns = top.recv_ns

    def diverged_bps(self, limit_bps: int) -> int | None:
        """Mark (else oracle) vs mid in whole bps, when beyond `limit_bps`; None otherwise."""
        ref = self.mark_x2 if self.mark_x2 is not None else self.oracle_x2
        mid = self.mid_x2
        if ref is None or mid is None or mid <= 0:
            return None
        gap = abs(ref - mid) * 10_000
        return gap // mid if gap > limit_bps * mid else None

    def spread_shocked(self, k: Decimal, warmup_samples: int) -> bool:
        """The last spread above k x the EWMA as it stood before that spread was folded in (a
        shock must not dampen its own yardstick), once the EWMA has seen `warmup_samples`.

        The rule is `Decimal(spread) > k * spread_ewma_before`, the product rounded in the
        thread's context. The usual answer, no shock, is proven in integers: a spread that is
        exactly at most k x the EWMA, with the spread and the EWMA's micro-ticks exact in the
        context's precision, is at most the rounded product too (rounding is monotonic and
        leaves the spread, an int it holds exactly, as it is). Anything else is the rule's."""
        spread, samples = self.spread, self.spread_samples
        if spread is None or samples <= 1 or samples <= warmup_samples:
            return False
        ratio = _ratio(k)
        if ratio is not None:
            # The EWMA's value in micro-ticks: after one sample it is read as whole ticks.
            micro = self._before_micro if samples > 2 else self._before_micro // _MICRO * _MICRO
            limit = 10 ** decimal.getcontext().prec
            if (-limit < spread < limit and -limit < micro < limit
                    and spread * _MICRO * ratio[1] <= ratio[0] * micro):
                return False
        before = self.spread_ewma_before
        return before is not None and Decimal(spread) > k * before


_last_ratio: list[Any] = [None, None]  # the last k asked for, and its ratio


def _ratio(k: Decimal) -> tuple[int, int] | None:
    """`k` as an exact fraction (numerator, denominator), None for a value no proof is made
    for (not finite, negative or of an extreme scale). The last one is remembered: a gate
    asks with its config's k on every proposal."""
    last = _last_ratio
    if k is not last[0]:
        exponent = k.as_tuple().exponent
        sane = isinstance(exponent, int) and abs(exponent) <= 1_000 and k >= 0
        last[0], last[1] = k, k.as_integer_ratio() if sane else None
    ratio: tuple[int, int] | None = last[1]
    return ratio


def _ewma_ticks(micro: int, samples: int) -> Decimal | None:
    """The EWMA after `samples` samples as the Decimal it has always been: None before the
    first, the first spread as it was (an int), then micro-ticks scaled to 1e-6."""
    if samples <= 0:
        return None
    if samples == 1:
        return Decimal(micro // _MICRO)
    return Decimal(micro).scaleb(-6)


def _decay_q64(dt_ns: int, half_life_ns: int) -> int:
    """2 ** (-dt / half_life) in 64-bit fixed point: the weight the old EWMA keeps."""
    if dt_ns <= 0:
        return _ONE
    halvings, rest = divmod(dt_ns, half_life_ns)
    if halvings >= 64:
        return 0
    fraction = (rest << _FRACTION_BITS) // half_life_ns
    value = _HIGH[fraction >> _LOW_BITS]
    low = fraction & _LOW_MASK
    while low:  # the remaining set bits, highest first: bit p (from 0) is _HALVES[47 - p]
        top = low.bit_length()
        value = (value * _HALVES[_FRACTION_BITS - top]) >> _Q
        low ^= 1 << (top - 1)
    return value >> halvings


def _decayed(diff: int, dt_ns: int, half_life_ns: int) -> int:
    """`diff` x 2 ** (-dt / half_life) in whole micro-ticks: exactly
    `_round_half_even(_decay_q64(dt_ns, half_life_ns) * diff, 64)`, the integers the EWMA has
    always used. A float estimate decides it when the exact value cannot be near a rounding
    tie: the estimate is within |diff| x 2 ** -44 of it (the float power's error and the
    fixed point's truncations are both far smaller), so a fraction further than |diff| x
    2 ** -40 from one half rounds the same way; otherwise the integers decide (2 us)."""
    if diff == 0 or dt_ns <= 0:
        return diff
    if dt_ns >= 64 * half_life_ns:
        return 0
    if -_FLOAT_EXACT < diff < _FLOAT_EXACT:
        estimate = diff * 2.0 ** (-dt_ns / half_life_ns)
        whole = math.floor(estimate)
        fraction = estimate - whole  # exact: |estimate| < 2 ** 50
        if abs(fraction - 0.5) > abs(diff) * _ESTIMATE_MARGIN:
            return whole + (fraction > 0.5)
    return _round_half_even(_decay_q64(dt_ns, half_life_ns) * diff, _Q)


def _round_half_even(value: int, shift: int) -> int:
    """value / 2 ** shift, rounded half to even (Decimal's default rounding)."""
    whole, rest = divmod(value, 1 << shift)
    half = 1 << (shift - 1)
    if rest > half or (rest == half and whole & 1):
        whole += 1
    return whole


@attrs.define(slots=True)
class PortfolioView:
    """The newest PortfolioSnapshot, reduced to what the rules read. Positions in signed lots.

    These are *filled* positions: the gate receives no execution reports, so orders it approved
    that still rest are not counted. Several resting orders can together exceed a position or
    exposure limit that each one passed alone; closing that gap needs the open-order feed.
    """

    positions: dict[str, int] = attrs.field(factory=dict)
    total_exposure: Decimal = Decimal(0)
    daily_realized_pnl: Decimal = Decimal(0)
    peak_equity: Decimal = Decimal(0)
    equity: Decimal = Decimal(0)
    recv_ns: int | None = None
    utc_day: int | None = None  # the UTC day it was received: its daily PnL belongs to that day

    def position(self, instrument: str) -> int:
        return self.positions.get(instrument, 0)


@attrs.define(slots=True)
class ProposalView:
    """A proposal as the rules read it: what every rule needs, looked up once per check (a
    record of one check: not frozen, whose `__init__` would cost more on every proposal)."""

    proposal: Proposal
    intent: OrderIntent | ReplaceIntent
    view: InstrumentView
    spec: InstrumentSpec
    position: int
    side: Side | None  # None: a replace of an order this gate does not remember
    money: NotionalLimits  # proves the money rules' passes for a limit price in ints
    _price: Decimal | None = attrs.field(default=None, init=False)
    _priced: bool = attrs.field(default=False, init=False)

    def after(self, qty: int) -> int:
        """|position| if `qty` filled; an unknown side is assumed to go the worse way."""
        if self.side is None:
            return abs(self.position) + qty
        return abs(self.position + (qty if self.side is _BUY else -qty))

    def reduces(self, qty: int) -> bool:
        """Would `qty` only shrink the position, never grow or flip it? For a replace of an
        unknown order the side cannot be checked: the size must fit and the venue, which keeps
        the order's reduce-only flag, enforces the direction."""
        if not self.position or qty > abs(self.position):
            return False
        return self.side is None or self.after(qty) < abs(self.position)

    def price(self) -> Decimal | None:
        """The price notional is judged at: the limit, else the mid, else unknown (worked out
        once per check, when a rule needs it: `money` proves most passes without it)."""
        if not self._priced:
            self._price, self._priced = self._work_out_price(), True
        return self._price

    def _work_out_price(self) -> Decimal | None:
        if self.intent.price is not None:
            return ticks_to_price(self.spec, self.intent.price)
        if self.view.mid_x2 is None:
            return None
        return _EXACT.divide(_EXACT.multiply(Decimal(self.view.mid_x2), self.spec.tick_size), 2)


# --------------------------------------------------------------------------------------------
# Windows


class SlidingWindows:
    """Per-key sliding windows of event times: at most `count` events within `window_ns`.

    Exact and bounded (a deque never holds more than `count` times per key), unlike a token
    bucket it has no refill arithmetic to get wrong, and a burst is judged on the real window.
    """

    __slots__ = ("_times", "_window_ns", "count")

    def __init__(self, window: RateWindow) -> None:
        self.count = window.count
        self._window_ns = window.window_ms * MS
        self._times: dict[str, deque[int]] = {}

    def within(self, key: str, now_ns: int) -> deque[int]:
        """`key`'s event times within the window that ends at `now_ns`, oldest first: the
        window is full at `count` of them; append `now_ns` to record an event."""
        times = self._times.get(key)
        if times is None:
            times = self._times[key] = deque()
        horizon = now_ns - self._window_ns
        while times and times[0] <= horizon:
            times.popleft()
        return times


class RecentKeys:
    """Keys seen within a time window (the duplicate-intent window), oldest first.

    Approval times are monotonic, so insertion order is time order and pruning pops from the
    front: O(1) amortized per check, memory bounded by the approvals of one window.
    """

    __slots__ = ("_seen", "_window_ns")

    def __init__(self, window_ms: int) -> None:
        self._window_ns = window_ms * MS
        self._seen: OrderedDict[tuple[Any, ...], int] = OrderedDict()

    def _prune(self, now_ns: int) -> None:
        horizon = now_ns - self._window_ns
        seen = self._seen
        while seen:
            _key, at = next(iter(seen.items()))
            if at > horizon:
                break
            seen.popitem(last=False)

    def seen(self, key: tuple[Any, ...], now_ns: int) -> bool:
        self._prune(now_ns)
        return key in self._seen

    def record(self, key: tuple[Any, ...], now_ns: int) -> None:
        self._seen.pop(key, None)
        self._seen[key] = now_ns

    def __len__(self) -> int:
        return len(self._seen)


def below_minimum(spec: InstrumentSpec, lots: int, price: Decimal | None) -> str:
    """Why `lots` at `price` is below the venue's minimums ("" when it is not). Without a price
    (a market order, no book yet) only the quantity can be judged."""
    qty = lots_to_qty(spec, lots)
    if qty < spec.min_qty:
        return f"below_min_qty: {qty} < {spec.min_qty}"
    if price is not None:
        value = notional(spec, price, qty)
        if value < spec.min_notional:
            return f"below_min_notional: {value} < {spec.min_notional}"
    return ""


