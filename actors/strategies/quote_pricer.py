"""The market maker's two quotes in int ticks, for one configuration, at a book top's cost.

The market maker prices both sides on nearly every book top: the chosen model's float quotes
(`actors.strategies.quoting_models.model_quotes`), each rounded on the safe side
(`quote_ticks`) and held within the declared bound of the touch (`bounded_quote`). Composed
as they are written, that is two keyword-argument calls to validate constant parameters, a
logarithm and a power of constants, a dispatch on the model, and two roundings and two bounds
by keyword, on every top.

`QuotePricer` does the same arithmetic with what depends only on the configuration worked out
once: the parameters are validated when it is built, and the constant subexpressions (A-S's
mark-up, GLFT's base spread and the constant factors of its omega, the symmetric half
spread) are computed by the very expressions the models write, so they are the same floats.
Every operation that involves the mid, the inventory, sigma or the horizon is the model's own,
in the model's order, so the float quotes are bit for bit the model's, and so are the ticks.
tests/actors/strategies/test_quote_pricer.py compares the two over random inputs, for every
model and bound.
"""

from __future__ import annotations

import math

from actors.strategies.quoting_models import PricingModel, QuoteBound, quote_ticks
from protocols.instruments import InstrumentSpec
from protocols.orders import Side

__all__ = ["QuotePricer"]

_BUY, _SELL = Side.BUY, Side.SELL  # an Enum member read through its class is a Python call


class QuotePricer:
    """One configuration's (bid, ask) in int ticks: `model_quotes`, then `quote_ticks` and
    `bounded_quote` per side, with the same arguments. Refuses what the models refuse (a
    gamma, k or A that is not positive; the symmetric model without a positive spread) when
    built, not on each top."""

    __slots__ = ("_allow_inside", "_base", "_bound_post_only", "_fixed_half",
                 "_gamma", "_glft_denominator", "_glft_power", "_markup", "_model", "_offset",
                 "_skew")

    def __init__(self, model: PricingModel, *, gamma: float, k: float, a: float = 1.0,
                 skew_per_lot: float = 0.0, fixed_spread: float | None = None,
                 bound: QuoteBound = QuoteBound.POST_ONLY, allow_inside: bool = False,
                 offset: int = 0) -> None:
        checked = {PricingModel.AVELLANEDA_STOIKOV: (("gamma", gamma), ("k", k)),
                   PricingModel.GLFT: (("gamma", gamma), ("k", k), ("a", a))}.get(model, ())
        for name, value in checked:
            if not value > 0:  # also refuses NaN
                raise ValueError(f"{name} must be positive, got {value!r}")
        if model is PricingModel.SYMMETRIC and (fixed_spread is None or not fixed_spread > 0):
            raise ValueError(f"the symmetric model needs a positive fixed spread, got "
                             f"{fixed_spread!r}")
        self._model = model
        self._gamma = gamma
        self._skew = skew_per_lot
        # The chosen model's constant subexpressions, each written as the model writes it.
        self._markup = self._base = self._glft_denominator = self._glft_power = 0.0
        self._fixed_half = 0.0
        if model is PricingModel.AVELLANEDA_STOIKOV:
            self._markup = (2.0 / gamma) * math.log1p(gamma / k)  # as_optimal_spread's
        elif model is PricingModel.GLFT:
            self._base = math.log1p(gamma / k) / gamma  # glft_half_spreads' base and omega's
            self._glft_denominator = 2.0 * k * a
            self._glft_power = (1.0 + gamma / k) ** (1.0 + k / gamma)
        elif fixed_spread is not None:
            self._fixed_half = fixed_spread / 2.0
        self._bound_post_only = bound is QuoteBound.POST_ONLY
        self._allow_inside = allow_inside
        self._offset = offset

    def model_quotes(self, s: float, q: float, sigma: float, tau: float) -> tuple[float, float]:
        """`model_quotes(model, s=s, q=q, sigma=sigma, tau=tau, ...)` with this configuration's
        parameters: the same floats."""
        model = self._model
        if model is PricingModel.AVELLANEDA_STOIKOV:
            gamma = self._gamma
            horizon = max(tau, 0.0)
            r = s - q * gamma * sigma * sigma * horizon  # as_reservation_price
            half = (gamma * sigma * sigma * horizon + self._markup) / 2.0  # as_optimal_spread
            bid, ask = r - half, r + half
        elif model is PricingModel.GLFT:
            omega = math.sqrt(sigma * sigma * self._gamma / self._glft_denominator
                              * self._glft_power)
            base = self._base
            bid = s - (base + (2.0 * q + 1.0) / 2.0 * omega)
            ask = s + (base - (2.0 * q - 1.0) / 2.0 * omega)
        else:
            bid, ask = s - self._fixed_half, s + self._fixed_half
        shift = -q * self._skew
        return bid + shift, ask + shift

    def quotes(self, spec: InstrumentSpec, s: float, q: int, sigma: float, tau: float, *,
               bid: int, ask: int) -> tuple[int, int]:
        """The two quotes in int ticks, rounded on the safe side and bounded by the touch
        (`bid`, `ask`) as configured."""
        bid_f, ask_f = self.model_quotes(s, q, sigma, tau)
        bid_q = quote_ticks(spec, bid_f, _BUY)
        ask_q = quote_ticks(spec, ask_f, _SELL)
        if self._bound_post_only:  # bounded_quote's POST_ONLY; MODEL leaves them as they are
            offset = self._offset
            if self._allow_inside:
                bid_q = min(bid_q, ask - 1 - offset)
                ask_q = max(ask_q, bid + 1 + offset)
            else:
                bid_q = min(bid_q, bid - offset)
                ask_q = max(ask_q, ask + offset)
        return bid_q, ask_q
