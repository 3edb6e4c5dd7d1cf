"""Where our resting order stands in the venue's queue, estimated from L2 data.

Why this exists. Freqtrade's dry run and Hummingbot's paper trading fill a resting limit order
in full as soon as the market price *touches* it, as if we were first in line at that price. A
real venue is FIFO per price level: an order joins the back of the queue and fills only after
everything displayed ahead of it has traded or been cancelled. The touch is exactly the moment
when we most often do *not* fill, and the touch fills we do get are the adversely selected ones
(the price went through us). Filling on touch overstates fill rates and spread capture and hides
adverse selection, so a market maker that prints money on paper loses it live. hftbacktest's
queue-position models are the standard to beat; the two here follow them.

The L2 feed does not tell us who left the level, so every model keeps one estimate, `ahead`:
lots displayed in front of our order.

- On placement `ahead` is the displayed quantity at our price at that moment (an order that
  improves the level starts at 0).
- A trade at our price with our side passive consumes the queue front: `ahead -= qty`. Whatever
  goes below zero reached *us*: `filled_lots()` is the whole number of lots of that excess
  (rounded down: never fill more than the market printed). After the caller books that fill it
  calls `at_front()`, which sets a negative `ahead` to 0 (any fraction of a lot left over is
  dropped, the conservative choice). A trade *through* our price fills us in full; that is the
  exchange's decision, not the model's.
- A depth change at our price: the models differ, see `RiskAverseQueue` and `PowerProbQueue`.
  An increase always joins behind us.

Exactness: `ahead` is a `Fraction` of a lot, so results are exact and identical on every machine;
fills stay whole lots. `PowerProbQueue` rounds `ahead` *up* (further back: the conservative
side) to a fixed grid so that denominators cannot grow without bound over a long session.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Protocol

import attrs

__all__ = ["PowerProbQueue", "QueueModel", "QueuePosition", "RiskAverseQueue"]

_ZERO = Fraction(0)


def _non_negative_int(name: str, value: object) -> int:
    if type(value) is not int or value < 0:
        raise ValueError(f"{name} must be a non-negative int of lots, got {value!r}")
    return value


@attrs.frozen(slots=True)
class QueuePosition:
    """One resting order's place. `ahead`: lots displayed in front of us (may be a Fraction, and
    negative right after a trade until the fill is booked). `traded`: lots traded at our level
    since the last depth update, so that `PowerProbQueue` does not count a decrease twice (once
    as the trade, once as the depth change that reports it)."""

    ahead: Fraction
    traded: int = 0

    def filled_lots(self) -> int:
        """Whole lots of trade volume that went past the queue front into our order."""
        return math.floor(-self.ahead) if self.ahead < 0 else 0

    def at_front(self) -> QueuePosition:
        """After booking a queue fill: nothing is ahead of us any more."""
        return attrs.evolve(self, ahead=_ZERO) if self.ahead < 0 else self


class QueueModel(Protocol):
    """Pure functions from a position and a market event to the new position."""

    def place(self, displayed: int) -> QueuePosition:
        """Our order arrives at a level showing `displayed` lots: they are all ahead of us."""
        ...

    def trade(self, position: QueuePosition, qty: int) -> QueuePosition:
        """`qty` lots traded at our price against our side."""
        ...

    def depth(self, position: QueuePosition, previous: int, displayed: int) -> QueuePosition:
        """The displayed quantity at our price went from `previous` to `displayed` lots."""
        ...


def _place(displayed: int) -> QueuePosition:
    return QueuePosition(Fraction(_non_negative_int("displayed", displayed)))


def _trade(position: QueuePosition, qty: int) -> QueuePosition:
    _non_negative_int("qty", qty)
    return QueuePosition(position.ahead - qty, position.traded + qty)


@attrs.frozen(slots=True)
class RiskAverseQueue:
    """The conservative model (hftbacktest's RiskAdverseQueueModel): only trades at our price move
    us forward. A depth decrease is assumed to be cancels from *behind* us, except that we can
    never be further back than the level is deep: `ahead = min(ahead, displayed)`. It
    under-fills in a market where the queue ahead cancels a lot, which is the side to err on."""

    def place(self, displayed: int) -> QueuePosition:
        return _place(displayed)

    def trade(self, position: QueuePosition, qty: int) -> QueuePosition:
        return _trade(position, qty)

    def depth(self, position: QueuePosition, previous: int, displayed: int) -> QueuePosition:
        _non_negative_int("previous", previous)
        _non_negative_int("displayed", displayed)
        return QueuePosition(min(position.ahead, Fraction(displayed)))


@attrs.frozen(slots=True)
class PowerProbQueue:
    """hftbacktest's `ProbQueueModel` with `PowerProbQueueFunc(n)` (the first power form, not
    `PowerProbQueueFunc2` or `3`), in exact arithmetic.

    A depth decrease not explained by trades, `chg = previous - displayed - traded`, is split
    between the orders in front of us (`front = ahead`) and behind us (`back = previous -
    front`). The probability that a cancelled lot came from *behind* us is

        p = f(back) / (f(back) + f(front)),   f(x) = x ** n

    so the longer the queue on one side, the likelier a cancel came from there (n > 1 makes
    that sharper). Then, as in hftbacktest:

        est_front = front - (1 - p) * chg + min(back - p * chg, 0)
        ahead     = min(est_front, displayed)

    (the `min(..., 0)` term moves us forward when more left "from behind" than was behind us),
    floored at 0: a cancel never fills us, it can only bring us to the front.
    When f(back) + f(front) is 0 (nothing on either side), p = 1, hftbacktest's fallback for a
    non-finite p. An increase joins behind us: `ahead = min(ahead, displayed)`.

    `n` is a non-negative int so that `x ** n` stays an exact Fraction (hftbacktest takes a
    float; 2 and 3 are the usual choices). The new `ahead` is rounded up to a multiple of
    `resolution` lots: exact, deterministic and bounded in size.
    """

    n: int = attrs.field()
    resolution: Fraction = attrs.field(default=Fraction(1, 10**9), converter=Fraction)

    @n.validator
    def _check_n(self, _attribute: object, value: object) -> None:
        _non_negative_int("n", value)

    @resolution.validator
    def _check_resolution(self, _attribute: object, value: Fraction) -> None:
        if not 0 < value <= 1:
            raise ValueError(f"resolution must be in (0, 1] lot, got {value}")

    def place(self, displayed: int) -> QueuePosition:
        return _place(displayed)

    def trade(self, position: QueuePosition, qty: int) -> QueuePosition:
        return _trade(position, qty)

    def probability_behind(self, front: Fraction, back: Fraction) -> Fraction:
        """p: the share of an unexplained decrease that came from behind us."""
        f_back, f_front = back**self.n, front**self.n
        total = f_back + f_front
        return Fraction(1) if total == 0 else Fraction(f_back) / total

    def depth(self, position: QueuePosition, previous: int, displayed: int) -> QueuePosition:
        _non_negative_int("previous", previous)
        _non_negative_int("displayed", displayed)
        shown = Fraction(displayed)
        chg = previous - displayed - position.traded
        if chg <= 0:  # an increase (or a decrease fully explained by trades): no cancel ahead
            return QueuePosition(min(position.ahead, shown))
        front = max(position.ahead, _ZERO)
        back = max(previous - front, _ZERO)
        p = self.probability_behind(front, back)
        est_front = front - (1 - p) * chg + min(back - p * chg, _ZERO)
        # Cancels cannot fill us: an estimate past the front means we are at the front.
        return QueuePosition(self._round_up(max(min(est_front, shown), _ZERO)))

    def _round_up(self, value: Fraction) -> Fraction:
        steps = math.ceil(value / self.resolution)
        return steps * self.resolution
