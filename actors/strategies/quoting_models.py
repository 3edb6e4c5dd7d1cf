"""The market maker's pricing maths: pure functions and one small estimator, no actors, no I/O.

Units, and the one place where floats end
-----------------------------------------
The optimal-quoting models are continuous-time stochastic-control results full of `exp`, `log`
and `sqrt`: forcing them into Decimal would buy no exactness (the model is an approximation of a
market, not an amount of money), only noise. So inside this module the model runs in `float`, in
the instrument's own units:

- prices and the mid `s` in *ticks*; volatility `sigma` in ticks per sqrt(second), the arithmetic
  Brownian motion of Avellaneda-Stoikov (dS = sigma dW);
- `k` (order-arrival decay) in 1/tick, `A` (arrival intensity at zero distance) in 1/second;
- `gamma` (risk aversion) in 1/(tick x lot), inventory `q` in signed *lots*; time in seconds.

Nothing float leaves the module as a price or a size. `quote_ticks` is the single exit: it drops
float noise below 1e-9 of a tick (so 100.00000000000001 does not become 101) and then rounds with
the venue-rule rounding of `actors.market.quantization.quantize_price` on the tick count: a
buy rounds down and a sell up, so the model's fractional answer can only make our quote *more*
conservative.
Sizes are never computed here in float: callers pass integer lots.
"""

from __future__ import annotations

import enum
import math
from collections import deque
from decimal import ROUND_HALF_EVEN, Decimal

import attrs

from protocols.codec import Side as BookSide
from protocols.instruments import InstrumentSpec
from protocols.market import TradePrint
from protocols.orders import Side

__all__ = [
    "DecayMode",
    "EwmaVolatility",
    "FlowGuard",
    "Horizon",
    "HorizonMode",
    "PricingModel",
    "QuoteBound",
    "as_optimal_spread",
    "as_quotes",
    "as_reservation_price",
    "bounded_quote",
    "decayed_exit_price",
    "exit_decay_fraction",
    "glft_half_spreads",
    "glft_quotes",
    "hold_exit_ticks",
    "model_quotes",
    "quote_ticks",
]

_NOISE = Decimal("1e-9")  # float noise, in ticks, removed before the safe-side rounding
# A model price whose fraction is further than this from a whole tick holds no noise that the
# rounding could see: its floor or ceiling is the answer without the Decimal (`quote_ticks`).
_CLEAR_OF_NOISE = 1e-8
_CLEAR_OF_NOISE_BELOW_ONE = 1.0 - _CLEAR_OF_NOISE
_FLOAT_WHOLE = 2.0 ** 52  # below it a float's fraction is exact, and fits the Decimal context
# An Enum member read through its class is a Python call: the hot paths read these
_BUY_AGGRESSOR, _BUY = BookSide.BUY, Side.BUY


class PricingModel(enum.Enum):
    AVELLANEDA_STOIKOV = "avellaneda_stoikov"
    GLFT = "glft"
    # A fixed spread centred on the mid, blind to inventory: the benchmark A-S compare against.
    SYMMETRIC = "symmetric"


class QuoteBound(enum.Enum):
    """How far toward the other side a quote may go: a declared behaviour, not a detail.

    POST_ONLY, the default and the live market maker: never through the touch. A model price
    past the mid (a large inventory skew) waits at the touch instead, where it fills like a
    quote at the mid, not like the paper's quote past it. MODEL: the model's price wherever it
    falls, past the mid included, as in Avellaneda & Stoikov's simulation, whose market is a
    mid and a fill intensity with no book. Use it only where the displayed book is out of such
    quotes' reach (the A-S flow's `display_offset`): a post-only order through the touch is
    rejected, a taking one would trade at the touch.
    """

    POST_ONLY = "post_only"
    MODEL = "model"


class HorizonMode(enum.Enum):
    FIXED = "fixed"  # T is the session end: T - t shrinks to zero
    ROLLING = "rolling"  # T - t is a constant window: a stationary, always-open book


class DecayMode(enum.Enum):
    LINEAR = "linear"
    EXPONENTIAL = "exponential"


def _check_positive(**values: float) -> None:
    for name, value in values.items():
        if not value > 0:  # also refuses NaN
            raise ValueError(f"{name} must be positive, got {value!r}")


# --------------------------------------------------------------------------------------------
# Avellaneda & Stoikov (2008)


def as_reservation_price(s: float, q: float, gamma: float, sigma: float, tau: float) -> float:
    """r = s - q * gamma * sigma^2 * (T - t).

    Avellaneda, M. and Stoikov, S. (2008), "High-frequency trading in a limit order book",
    Quantitative Finance 8(3):217-224, eq. (29) with the finite-horizon value function. A long
    inventory (q > 0) pulls the price at which we are indifferent to trading below the mid: both
    quotes move down, so the ask is hit more often and the bid less, and inventory mean-reverts.
    """
    _check_positive(gamma=gamma)
    return s - q * gamma * sigma * sigma * max(tau, 0.0)


def as_optimal_spread(gamma: float, sigma: float, tau: float, k: float) -> float:
    """delta_a + delta_b = gamma * sigma^2 * (T - t) + (2 / gamma) * ln(1 + gamma / k).

    Avellaneda & Stoikov (2008), eq. (30). The first term pays for the price risk of holding
    inventory until T; the second is the monopolist's mark-up given fill probability
    lambda(delta) = A exp(-k delta). The total spread does not depend on q; only its centre does.
    """
    _check_positive(gamma=gamma, k=k)
    return gamma * sigma * sigma * max(tau, 0.0) + (2.0 / gamma) * math.log1p(gamma / k)


def as_quotes(
    s: float, q: float, *, gamma: float, sigma: float, tau: float, k: float
) -> tuple[float, float]:
    """(bid, ask) = r -/+ spread / 2, in ticks (float)."""
    r = as_reservation_price(s, q, gamma, sigma, tau)
    half = as_optimal_spread(gamma, sigma, tau, k) / 2.0
    return r - half, r + half


# --------------------------------------------------------------------------------------------
# Gueant, Lehalle & Fernandez-Tapia (2013): the infinite-horizon closed form


def glft_half_spreads(
    q: float, gamma: float, sigma: float, k: float, a: float
) -> tuple[float, float]:
    """(delta_bid, delta_ask): distances from the mid, in ticks.

        omega     = sqrt( sigma^2 gamma / (2 k A) * (1 + gamma/k) ** (1 + k/gamma) )
        delta_bid = (1/gamma) ln(1 + gamma/k) + (2q + 1)/2 * omega
        delta_ask = (1/gamma) ln(1 + gamma/k) - (2q - 1)/2 * omega

    Gueant, O., Lehalle, C.-A. and Fernandez-Tapia, J. (2013), "Dealing with the inventory risk:
    a solution to the market making problem", Mathematics and Financial Economics 7(4):477-507,
    the asymptotic (T -> infinity) approximations of section 4 (also Gueant (2016), The Financial
    Mathematics of Market Liquidity, ch. 10). The horizon drops out, which is why a market that
    never closes prefers it to the finite-horizon A-S formula. As there, q counts in units of the
    quote size: pass lots / quote_lots if gamma was calibrated that way.
    """
    _check_positive(gamma=gamma, k=k, a=a)
    base = math.log1p(gamma / k) / gamma
    omega = math.sqrt(
        sigma * sigma * gamma / (2.0 * k * a) * (1.0 + gamma / k) ** (1.0 + k / gamma)
    )
    return base + (2.0 * q + 1.0) / 2.0 * omega, base - (2.0 * q - 1.0) / 2.0 * omega


def glft_quotes(
    s: float, q: float, *, gamma: float, sigma: float, k: float, a: float
) -> tuple[float, float]:
    """(bid, ask) = (s - delta_bid, s + delta_ask), in ticks (float)."""
    d_bid, d_ask = glft_half_spreads(q, gamma, sigma, k, a)
    return s - d_bid, s + d_ask


def model_quotes(
    model: PricingModel,
    *,
    s: float,
    q: float,
    gamma: float,
    sigma: float,
    k: float,
    tau: float,
    a: float = 1.0,
    skew_per_lot: float = 0.0,
    fixed_spread: float | None = None,
) -> tuple[float, float]:
    """The chosen model's (bid, ask) in float ticks, shifted by an optional linear skew of
    `-q * skew_per_lot` ticks: an operator's knob on top of the model's own inventory term, for
    when gamma calibrated on fills is too timid about inventory."""
    if model is PricingModel.GLFT:
        bid, ask = glft_quotes(s, q, gamma=gamma, sigma=sigma, k=k, a=a)
    elif model is PricingModel.SYMMETRIC:
        if fixed_spread is None or not fixed_spread > 0:
            raise ValueError(f"the symmetric model needs a positive fixed spread, got "
                             f"{fixed_spread!r}")
        bid, ask = s - fixed_spread / 2.0, s + fixed_spread / 2.0
    else:
        bid, ask = as_quotes(s, q, gamma=gamma, sigma=sigma, tau=tau, k=k)
    shift = -q * skew_per_lot
    return bid + shift, ask + shift


# --------------------------------------------------------------------------------------------
# The float -> tick boundary


def quote_ticks(spec: InstrumentSpec, model_ticks: float, side: Side) -> int:
    """A model price (float ticks) as int ticks, rounded on the safe side: buys down, sells up.

    The rounding is `actors.market.quantization.quantize_price`'s rule (buys down to the tick,
    sells up), applied to the tick count itself: floor or ceil of an exact Decimal, the same
    int without going through a price and back (it runs on every book update). Float noise
    under 1e-9 tick is removed first (half-even), because 0.1 + 0.2 style residue must not move
    a sell a whole tick up. `spec` is the instrument the ticks are of.

    A price from 1 tick to 2 ** 52 whose fraction is further than 1e-8 tick from a whole one
    (nearly every price) is answered from the float itself: the Decimal would round it to the
    same side of the whole tick. Any other goes the exact way (`_quote_ticks_exact`); the
    two are compared over random prices, near-whole ones above all, in the tests.
    """
    if 1.0 <= model_ticks < _FLOAT_WHOLE:  # the usual price: settled without a Decimal
        whole = math.floor(model_ticks)
        fraction = model_ticks - whole  # exact (Sterbenz): model_ticks / 2 <= whole
        if side is _BUY:  # by identity: hashing an Enum member is a Python call
            if fraction < _CLEAR_OF_NOISE_BELOW_ONE:
                return whole
        elif fraction == 0.0:
            return whole
        elif fraction > _CLEAR_OF_NOISE:
            return whole + 1
    return _quote_ticks_exact(model_ticks, side)


def _quote_ticks_exact(model_ticks: float, side: Side) -> int:
    """`quote_ticks` by its definition: the exact Decimal of the float, its noise quantized
    away, then the floor (a buy) or ceiling (a sell). The reference the shortcut is tested
    against, and the answer wherever the shortcut cannot decide."""
    if not math.isfinite(model_ticks):
        raise ValueError(f"model price must be finite, got {model_ticks!r}")
    ticks = Decimal(model_ticks).quantize(_NOISE, rounding=ROUND_HALF_EVEN)
    if side is Side.BUY:
        return math.floor(ticks)
    return math.ceil(ticks)


def bounded_quote(side: Side, price: int, *, bid: int, ask: int, bound: QuoteBound,
                  allow_inside: bool = False, offset: int = 0) -> int:
    """A quote in int ticks within `bound` of the touch (bid, ask): POST_ONLY keeps it
    `offset` ticks behind the inside, or behind the opposite touch if `allow_inside`."""
    if bound is QuoteBound.MODEL:
        return price
    if side is Side.BUY:
        return min(price, (ask - 1 if allow_inside else bid) - offset)
    return max(price, (bid + 1 if allow_inside else ask) + offset)


# --------------------------------------------------------------------------------------------
# Horizon


@attrs.frozen(slots=True)
class Horizon:
    """What `T - t` means.

    FIXED: the session ends at `session_end_epoch_ns` (epoch time from the injected clock, since a
    session end is a calendar fact); T - t shrinks to 0 and, as A-S intends, the inventory term
    and the risk part of the spread fade as the close nears. ROLLING: T - t is always
    `window_s`, the usual choice for 24/7 crypto, where "the close" never comes and the model is
    read as "the risk of holding inventory for the next window_s seconds".
    """

    mode: HorizonMode = HorizonMode.ROLLING
    window_s: float = 60.0
    session_end_epoch_ns: int | None = None

    def __attrs_post_init__(self) -> None:
        if self.mode is HorizonMode.FIXED and self.session_end_epoch_ns is None:
            raise ValueError("a FIXED horizon needs session_end_epoch_ns")
        if self.mode is HorizonMode.ROLLING and not self.window_s > 0:
            raise ValueError(f"window_s must be positive, got {self.window_s!r}")

    def remaining_s(self, now_epoch_ns: int) -> float:
        if self.mode is HorizonMode.ROLLING:
            return self.window_s
        assert self.session_end_epoch_ns is not None
        return max(0.0, (self.session_end_epoch_ns - now_epoch_ns) / 1e9)

    def ended(self, now_epoch_ns: int) -> bool:
        return self.mode is HorizonMode.FIXED and self.remaining_s(now_epoch_ns) <= 0.0


# --------------------------------------------------------------------------------------------
# Volatility


class EwmaVolatility:
    """Online sigma from mids: an EWMA of squared log returns, each scaled to one second.

    A return r over dt seconds contributes r^2 / dt, an unbiased sample of the per-second variance
    of log price whatever the update rate; samples are weighted by alpha = 1 - 2^(-dt/halflife),
    so the memory is in seconds, not in updates (a burst of book updates does not flush it).
    Updates closer than `min_dt_s` are merged into the next one, keeping the first price as the
    reference, so a flurry within one millisecond does not divide by ~0. A-S wants sigma in price
    units: `sigma_ticks(s)` converts with sigma_ticks = s * sigma_log, exact enough for a spread.
    """

    __slots__ = ("_last_ns", "_last_price", "_var", "halflife_s", "min_dt_s", "min_samples",
                 "samples")

    def __init__(self, halflife_s: float, min_samples: int = 10, min_dt_s: float = 0.001) -> None:
        _check_positive(halflife_s=halflife_s, min_dt_s=min_dt_s)
        self.halflife_s = halflife_s
        self.min_samples = min_samples
        self.min_dt_s = min_dt_s
        self.samples = 0
        self._var = 0.0
        self._last_price: float | None = None
        self._last_ns = 0

    def update(self, mid_ticks: float, t_ns: int) -> None:
        if mid_ticks <= 0:
            return
        if self._last_price is None:
            self._last_price, self._last_ns = mid_ticks, t_ns
            return
        dt = (t_ns - self._last_ns) / 1e9
        if dt < self.min_dt_s:
            return
        r = math.log(mid_ticks / self._last_price)
        sample = r * r / dt
        if self.samples == 0:
            self._var = sample
        else:
            alpha = 1.0 - 2.0 ** (-dt / self.halflife_s)
            self._var += alpha * (sample - self._var)
        self.samples += 1
        self._last_price, self._last_ns = mid_ticks, t_ns

    @property
    def ready(self) -> bool:
        return self.samples >= self.min_samples

    @property
    def variance_per_s(self) -> float:
        return self._var

    def sigma_ticks(self, mid_ticks: float) -> float:
        return mid_ticks * math.sqrt(self._var)


# --------------------------------------------------------------------------------------------
# Adverse selection


class FlowGuard:
    """Is recent public flow toxic? One-sided (>= `same_side_ratio` of the prints in the window
    have the same aggressor) *and* heavy (>= `min_count` prints, or >= `min_qty` lots if set).

    Both conditions, because a lone large print is noise and a busy two-way tape is just a busy
    market; informed flow shows as many prints in one direction. Prints are timed by their local
    `recv_ns`, on the same monotonic clock as `now`.
    """

    # `buys` and `qty` are kept as prints come and go: a check is O(1) however busy the window.
    # A print is kept as (recv_ns, bought, qty): a tuple of plain values, which the garbage
    # collector stops tracking at its first pass, where the `TradePrint` itself (thousands of
    # them in a busy node's windows) was scanned by every young collection it lived through.
    __slots__ = ("buys", "min_count", "min_qty", "prints", "qty", "same_side_ratio",
                 "window_ns")

    def __init__(self, window_s: float, same_side_ratio: float, min_count: int,
                 min_qty: int | None = None) -> None:
        _check_positive(window_s=window_s, same_side_ratio=same_side_ratio)
        self.window_ns = int(window_s * 1e9)
        self.same_side_ratio = same_side_ratio
        self.min_count = min_count
        self.min_qty = min_qty
        self.prints: deque[tuple[int, bool, int]] = deque()  # (recv_ns, bought, qty)
        self.buys = self.qty = 0

    def add(self, trade: TradePrint) -> None:
        bought = trade.aggressor is _BUY_AGGRESSOR
        self.prints.append((trade.recv_ns, bought, trade.qty))
        self.buys += bought
        self.qty += trade.qty

    def toxic(self, now_ns: int) -> bool:
        prints, oldest = self.prints, now_ns - self.window_ns
        if prints and prints[0][0] <= oldest:  # prints leave: the running sums follow
            buys, qty, popleft = self.buys, self.qty, prints.popleft
            while prints and prints[0][0] <= oldest:
                _, bought, size = popleft()
                buys -= bought
                qty -= size
            self.buys, self.qty = buys, qty
        n = len(prints)
        if n == 0:
            return False
        if n < self.min_count and (self.min_qty is None or self.qty < self.min_qty):
            return False  # not heavy
        buys = self.buys
        return (buys if buys >= n - buys else n - buys) >= self.same_side_ratio * n

    def clears_in_s(self, now_ns: int) -> float:
        """Seconds until the oldest print leaves the window (when toxicity can next change)."""
        if not self.prints:
            return 0.0
        return max(1e-3, (self.prints[0][0] + self.window_ns - now_ns) / 1e9)


# --------------------------------------------------------------------------------------------
# The max-hold exit target


def exit_decay_fraction(overdue_s: float, decay_s: float, mode: DecayMode) -> float:
    """How far (0..1) the exit has moved from its target toward the touch, `overdue_s` seconds
    after max_hold expired. LINEAR reaches the touch after `decay_s`; EXPONENTIAL moves fast then
    slowly, 1 - exp(-overdue/decay) (63% after one decay_s, 95% after three), and in practice
    reaches the touch when the remaining gap rounds away on the safe side."""
    _check_positive(decay_s=decay_s)
    if overdue_s <= 0:
        return 0.0
    if mode is DecayMode.LINEAR:
        return min(1.0, overdue_s / decay_s)
    return 1.0 - math.exp(-overdue_s / decay_s)


def decayed_exit_price(start: float, touch: float, side: Side, fraction: float) -> float:
    """The exit price, in float ticks, `fraction` of the way from `start` to the passive `touch`.

    Decay only ever makes the exit more aggressive: a sell moves down toward the best ask, a buy up
    toward the best bid. If the market already sits beyond the target (a long whose target is
    below the best ask), the target itself is kept, since moving toward the touch would move away
    from being filled.
    """
    fraction = min(1.0, max(0.0, fraction))
    if side is Side.SELL:
        return start - max(0.0, start - touch) * fraction
    return start + max(0.0, touch - start) * fraction


def hold_exit_ticks(
    spec: InstrumentSpec,
    side: Side,
    *,
    entry: float,
    target_ticks: int,
    touch: int,
    overdue_s: float,
    decay_s: float,
    mode: DecayMode,
) -> int:
    """The max-hold exit as int ticks: `overdue_s` after max_hold, on its way from
    entry +/- target to the passive touch, rounded on the safe side for `side`."""
    start = entry + (target_ticks if side is Side.SELL else -target_ticks)
    fraction = exit_decay_fraction(overdue_s, decay_s, mode)
    return quote_ticks(spec, decayed_exit_price(start, float(touch), side, fraction), side)
