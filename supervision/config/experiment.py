"""The shape of an experiment's configuration: a file with an `[experiment]` table
(config/avellaneda_stoikov.toml), run by `supervision.experiments` instead of a node.

The one kind so far reproduces Avellaneda & Stoikov (2008), section 3.3, so the defaults are the
paper's own parameters (s0 = 100, T = 1, sigma = 2, dt = 0.005, k = 1.5, A = 140, gammas 0.1,
0.01 and 0.5): the config with nothing changed is the paper's experiment. The choices below name
where a run may depart from the paper (how fills arrive, whether quotes may cross the mid, when
market orders meet the quotes, which symmetric spread is compared), the paper's way always being
one of them, so a table can be set beside the paper's and beside what the live market maker does.

Rules that span fields (`dt` below `T`, `s0` a whole number of ticks) are checked by
`supervision.config.load`, in the same `path: problem` lines as the rest.
"""

from __future__ import annotations

import enum
from decimal import Decimal
from typing import Any

import attrs

from supervision.config.fields import at_least_items, ge, gt


class ExperimentKind(enum.StrEnum):
    AVELLANEDA_STOIKOV = "avellaneda_stoikov"


class Arrivals(enum.StrEnum):
    BERNOULLI = "bernoulli"  # at most one fill per side per step, probability lambda * dt
    POISSON = "poisson"
    # one market order a step and side: fill probability min(1, A dt e^(-k delta)) at any
    # distance, past the mid included (the paper's law where its quotes cross the mid)
    INTENSITY = "intensity"


class ExperimentVariant(enum.StrEnum):
    PAPER = "paper"  # the paper's model: quotes may cross the mid, no book in their way
    POST_ONLY = "post_only"  # Troupe's live market maker: the book at the mid, never through it


class MarketOrders(enum.StrEnum):
    AFTER_MOVE = "after_move"  # a step's orders meet the quotes set before the mid moved
    AFTER_REQUOTE = "after_requote"  # the strategy requotes on the new mid first


class SymmetricSpread(enum.StrEnum):
    PAPER = "paper"  # (2/gamma) ln(1 + gamma/k): the spread column of the paper's tables
    MEASURED = "measured"  # the inventory strategy's measured average spread


@attrs.frozen(slots=True, kw_only=True)
class ExperimentSettings:
    """Avellaneda & Stoikov (2008), section 3.3: the mid is s0 + sigma * Brownian motion,
    fills arrive at intensity A * exp(-k * delta) at distance delta, over T in steps of dt."""

    kind: ExperimentKind = ExperimentKind.AVELLANEDA_STOIKOV
    paths: int = attrs.field(default=1_000, validator=gt(0))
    seed: int = 1
    s0: Decimal = attrs.field(default=Decimal(100), validator=gt(0))
    T: float = attrs.field(default=1.0, validator=gt(0))
    sigma: float = attrs.field(default=2.0, validator=ge(0))
    dt: float = attrs.field(default=0.005, validator=gt(0))
    q0: int = 0
    k: float = attrs.field(default=1.5, validator=gt(0))
    A: float = attrs.field(default=140.0, validator=gt(0))
    tick: Decimal = attrs.field(default=Decimal("0.001"), validator=gt(0))
    arrivals: Arrivals = Arrivals.INTENSITY
    variants: tuple[ExperimentVariant, ...] = attrs.field(
        default=(ExperimentVariant.PAPER, ExperimentVariant.POST_ONLY),
        validator=at_least_items(1))
    display_offset: Decimal = attrs.field(default=Decimal(25), validator=ge(0))
    market_orders: MarketOrders = MarketOrders.AFTER_MOVE
    symmetric_spread: SymmetricSpread = SymmetricSpread.PAPER
    workers: int = attrs.field(default=2, validator=gt(0))

    @property
    def steps(self) -> int:
        return round(self.T / self.dt)


def _each_gt0(_inst: Any, _attr: Any, values: tuple[float, ...]) -> None:
    if not values:
        raise ValueError("needs at least one value")
    for value in values:
        gt(0)(_inst, _attr, value)


@attrs.frozen(slots=True, kw_only=True)
class ExperimentStrategy:
    gammas: tuple[float, ...] = attrs.field(default=(0.1, 0.01, 0.5), validator=_each_gt0)
    gamma: float | None = attrs.field(default=None, validator=gt(0))  # one gamma, not gammas

    @property
    def gamma_list(self) -> tuple[float, ...]:
        return self.gammas if self.gamma is None else (self.gamma,)


@attrs.frozen(slots=True, kw_only=True)
class ExperimentConfig:
    experiment: ExperimentSettings = attrs.field(factory=ExperimentSettings)
    strategy: ExperimentStrategy = attrs.field(factory=ExperimentStrategy)
