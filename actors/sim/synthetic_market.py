"""Synthetic market flow, pure and seeded: the Avellaneda-Stoikov simulation and random-walk books.

Both generators speak Binance: they emit `protocols.venues.binance.DepthSnapshot`, `DepthDiff` (spot
chaining, `U == previous u + 1`) and `Trade` (increasing trade ids), with prices and quantities
as the decimal strings and Decimals the parser would have produced from the wire. So every
consumer, the OrderBook actors and the simulated venue alike, handles synthetic and recorded
flow with the same code, and a recording can be continued synthetically without a seam.

Nothing here reads a clock or draws from a global RNG: time is a step counter, and randomness
comes only from the `random.Random` passed in, so a seed fixes every message.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Literal

import attrs

from protocols.venues.binance import DepthDiff, DepthSnapshot, Levels, Trade

__all__ = ["AvellanedaStoikovFlow", "RandomWalkBooks", "StepEvents", "poisson"]

SyntheticMessage = DepthSnapshot | DepthDiff | Trade


@attrs.frozen(slots=True)
class StepEvents:
    """One step of a generator: the book's move, then the market orders that arrived after it.

    They are apart so a driver can deliver them at different times (the book at t, the trades
    at t + dt/2), leaving a strategy the time to requote on the new mid before orders arrive.
    """

    book: list[SyntheticMessage]
    trades: list[SyntheticMessage]
    mid: Decimal


def poisson(rng: random.Random, lam: float) -> int:
    """A Poisson(lam) draw by Knuth's product of uniforms: exact, O(lam), fine for lam < ~30."""
    if lam <= 0:
        return 0
    limit, n, product = math.exp(-lam), 0, rng.random()
    while product > limit:
        n += 1
        product *= rng.random()
    return n


def _text(units: int, unit: Decimal) -> str:
    return format(units * unit, "f")


class AvellanedaStoikovFlow:
    """The market of Avellaneda & Stoikov (2008), "High-frequency trading in a limit order book",
    section 3.3, as a message stream.

    The paper's experiment: s = 100, T = 1, sigma = 2, dt = 0.005 (200 steps), q0 = 0, k = 1.5,
    A = 140, gamma in {0.1, 0.01, 0.5}, 1000 paths. Each step:

    1. The mid moves by +sigma*sqrt(dt) or -sigma*sqrt(dt), with probability 1/2 each (the
       paper's binomial walk). The mid is kept exact: s0 plus an integer count of steps.
    2. The displayed book is one level a side on the tick grid: bid = floor(mid), ask =
       ceil(mid) (to the tick), and one tick either side when the mid sits on the grid, with a
       large quantity: it gives consumers the mid, it is not the liquidity being modelled.
    3. Market orders arrive on each side. A buy reaches D ~ Exponential(k) above the mid, so it
       reaches distance delta with probability exp(-k*delta); it arrives with probability
       min(1, A*dt) per step ("bernoulli", the paper's discretization) or Poisson(A*dt) times
       ("poisson"). Either way P(a resting ask at distance delta is lifted in dt) = A*dt*
       exp(-k*delta), the paper's lambda(delta)*dt. The buy prints a trade at mid + D rounded
       DOWN to the tick (a sell at mid - D rounded UP): the deepest grid price the order
       reached. A trade at p fills resting orders at p or better, so a quote on the grid at
       distance delta fills exactly when D >= delta; rounding the other way would fill quotes
       up to a tick beyond the order's reach.
       "intensity" keeps the paper's probability at every distance, the mid and beyond it: one
       market order a step and side, reaching D = ln(A*dt)/k + Exponential(k) past the mid, so
       P(D >= delta) = min(1, A*dt*exp(-k*delta)) for any delta, negative included (a quote
       past the mid fills more often than A*dt, always once A*dt*exp(-k*delta) >= 1). For
       delta >= 0 it is the bernoulli law; it differs only where the paper's quotes cross the mid.
    4. `display_offset` (price units, default 0) moves the displayed levels that far out on each
       side of the mid: the paper's market has no book, only a mid, so a strategy whose quotes
       may cross the mid needs a book they cannot cross. The mid it shows is unchanged.

    `start()` gives the snapshot; `step()` the book diff and the trades, apart (`StepEvents`).
    """

    def __init__(  # noqa: PLR0917 - the paper's parameters, in the paper's order
        self,
        s0: Decimal,
        sigma: float,
        dt: float,
        A: float,
        k: float,
        tick: Decimal,
        lot: Decimal,
        rng: random.Random,
        arrivals: Literal["bernoulli", "poisson", "intensity"] = "bernoulli",
        symbol: str = "SYNTH",
        *,
        trade_lots: int = 1,
        display_lots: int = 1_000_000,
        epoch_ms: int = 0,
        display_offset: Decimal = Decimal(0),
    ) -> None:
        if arrivals not in ("bernoulli", "poisson", "intensity"):
            raise ValueError(f"arrivals must be 'bernoulli', 'poisson' or 'intensity', got "
                             f"{arrivals!r}")
        if display_offset < 0:
            raise ValueError(f"display_offset must be >= 0, got {display_offset}")
        if sigma < 0 or dt <= 0 or A < 0 or k <= 0 or tick <= 0 or lot <= 0:
            raise ValueError("need sigma >= 0, dt > 0, A >= 0, k > 0, tick > 0 and lot > 0")
        if trade_lots < 1 or display_lots < 1:
            raise ValueError("trade_lots and display_lots must be at least 1")
        self.s0, self.sigma, self.dt, self.A, self.k = s0, sigma, dt, A, k
        self.tick, self.lot, self.symbol, self.arrivals = tick, lot, symbol, arrivals
        self.trade_lots, self.display_lots, self.epoch_ms = trade_lots, display_lots, epoch_ms
        self._rng = rng
        self.display_offset = display_offset
        # "intensity": where an order's reach starts, ln(A*dt)/k (below 0 while A*dt < 1)
        self._reach_from = math.log(A * dt) / k if A > 0 else -math.inf
        self.mid_step = Decimal(repr(sigma * math.sqrt(dt)))  # exact from here on
        self._walk = 0  # net count of up moves: mid = s0 + walk * mid_step
        self.steps = 0
        self.last_update_id = 1
        self.last_trade_id = 0
        self._bid, self._ask = self._touch()

    @property
    def mid(self) -> Decimal:
        return self.s0 + self._walk * self.mid_step

    @property
    def time_s(self) -> float:
        """Model time: steps * dt (computed, not accumulated, so it does not drift)."""
        return self.steps * self.dt

    def _ms(self, t: float) -> int:
        return self.epoch_ms + round(t * 1000)

    def _touch(self) -> tuple[int, int]:
        mid, off, tick = self.mid, self.display_offset, self.tick
        bid, ask = math.floor((mid - off) / tick), math.ceil((mid + off) / tick)
        if bid == ask:
            bid, ask = bid - 1, ask + 1
        bid = max(bid, 1)
        return bid, max(ask, bid + 1)

    @property
    def symbols(self) -> list[str]:
        return [self.symbol]

    def snapshot(self, symbol: str | None = None) -> DepthSnapshot:
        """The current book, as of `last_update_id` (also what a resync should get)."""
        qty = _text(self.display_lots, self.lot)
        return DepthSnapshot(self.last_update_id, ((_text(self._bid, self.tick), qty),),
                             ((_text(self._ask, self.tick), qty),))

    def start(self) -> list[SyntheticMessage]:
        return [self.snapshot()]

    def step(self) -> StepEvents:
        rng = self._rng
        self.steps += 1
        self._walk += 1 if rng.random() < 0.5 else -1
        book: list[SyntheticMessage] = [self._move_book()]
        mid, tick = self.mid, self.tick
        trades: list[SyntheticMessage] = []
        trade_ms = self._ms(self.time_s + self.dt / 2)
        for buy in (True, False):
            for _ in range(self._arrival_count()):
                draw = rng.expovariate(self.k)
                if self.arrivals == "intensity":
                    draw += self._reach_from
                reach = Decimal(repr(draw))
                if buy:
                    price = max(math.floor((mid + reach) / tick), 1)
                else:
                    price = max(math.ceil((mid - reach) / tick), 1)
                self.last_trade_id += 1
                trades.append(Trade(self.symbol, self.last_trade_id, price * tick,
                                    self.trade_lots * self.lot, trade_ms, trade_ms,
                                    buyer_is_maker=not buy))
        return StepEvents(book, trades, mid)

    def _arrival_count(self) -> int:
        rate = self.A * self.dt
        if self.arrivals == "poisson":
            return poisson(self._rng, rate)
        if self.arrivals == "intensity":
            return 1 if rate > 0 else 0
        return 1 if self._rng.random() < min(1.0, rate) else 0

    def _move_book(self) -> DepthDiff:
        """One diff to the new touch: the old levels deleted if they moved, the new ones set."""
        (old_bid, old_ask), (bid, ask) = (self._bid, self._ask), self._touch()
        qty, tick = _text(self.display_lots, self.lot), self.tick
        bids: Levels = ((_text(old_bid, tick), "0"),) if old_bid != bid else ()
        asks: Levels = ((_text(old_ask, tick), "0"),) if old_ask != ask else ()
        bids += ((_text(bid, tick), qty),)
        asks += ((_text(ask, tick), qty),)
        self._bid, self._ask = bid, ask
        first = self.last_update_id + 1
        self.last_update_id = first + len(bids) + len(asks) - 1
        return DepthDiff(self.symbol, self._ms(self.time_s), first, self.last_update_id,
                         bids, asks)


@attrs.define(slots=True)
class _Walk:
    """One instrument's book in ticks and lots, with its id chains."""

    symbol: str
    tick: Decimal
    lot: Decimal
    bids: dict[int, int]
    asks: dict[int, int]
    last_update_id: int
    last_trade_id: int
    max_qty: int
    cap_bids: int
    cap_asks: int
    best_bid: int = 0
    best_ask: int = 0

    def __attrs_post_init__(self) -> None:
        if not self.bids or not self.asks:
            raise ValueError(f"{self.symbol}: a random-walk book needs both sides")
        self.best_bid, self.best_ask = max(self.bids), min(self.asks)
        if self.best_bid >= self.best_ask or self.best_bid < 1:
            raise ValueError(f"{self.symbol}: book is crossed or has a non-positive price")

    def snapshot(self) -> DepthSnapshot:
        t, lot = self.tick, self.lot
        return DepthSnapshot(
            self.last_update_id,
            tuple((_text(p, t), _text(q, lot)) for p, q in sorted(self.bids.items(),
                                                                  reverse=True)),
            tuple((_text(p, t), _text(q, lot)) for p, q in sorted(self.asks.items())),
        )


class RandomWalkBooks:
    """Many instruments' L2 books doing random walks, for load tests and for carrying on after a
    recording ends.

    Each `step()` picks one instrument and either moves its touch one tick (up: a new best bid
    one tick higher, eating the best ask if it stood there; down: the mirror) or rewrites one to
    three levels within `levels` ticks of the touch (a new quantity, or a deletion that may
    widen the spread). Sometimes a trade prints at the touch and takes its quantity out of the
    level; with `p_sweep`, such a market order is larger: it takes every level within a random
    1..`sweep_ticks` of the touch (one trade each) and part of the next, so quotes resting near
    the touch are traded through (a market that fills a market maker now and then, not only
    moves under it). A side
    never empties, the book is never crossed, and a side that grows past its cap
    (twice `levels`, or its initial size if larger) loses its worst levels.

    Each step returns the messages in venue order: the trade (if any), then one `DepthDiff`
    with `U == previous u + 1` and one update id per level change, with event time advancing
    `step_ms` per step from `time_ms`.
    """

    def __init__(
        self,
        instruments: Sequence[tuple[str, int, Decimal, Decimal]],
        levels: int,
        rng: random.Random,
        *,
        max_qty: int = 100,
        p_move: float = 0.3,
        p_trade: float = 0.2,
        step_ms: int = 1,
        time_ms: int = 0,
        p_sweep: float = 0.0,
        sweep_ticks: int = 1,
    ) -> None:
        if levels < 1 or max_qty < 1 or step_ms < 0 or sweep_ticks < 1:
            raise ValueError("levels, max_qty and sweep_ticks must be at least 1, step_ms "
                             "non-negative")
        self.levels, self.p_move, self.p_trade = levels, p_move, p_trade
        self.p_sweep, self.sweep_ticks = p_sweep, sweep_ticks
        self.step_ms, self.time_ms = step_ms, time_ms
        self._rng = rng
        self._walks: dict[str, _Walk] = {}
        self._order: list[_Walk] = []
        for symbol, mid0, tick, lot in instruments:
            if mid0 <= levels + 1:
                raise ValueError(f"{symbol}: mid0 ({mid0} ticks) must exceed levels + 1")
            bids = {mid0 - 1 - i: rng.randint(1, max_qty) for i in range(levels)}
            asks = {mid0 + 1 + i: rng.randint(1, max_qty) for i in range(levels)}
            self._add(_Walk(symbol, tick, lot, bids, asks, 1, 0, max_qty,
                            2 * levels, 2 * levels))

    @classmethod
    def continue_from(  # noqa: PLR0917 - a book's state is this many things
        cls,
        symbol: str,
        bids: Iterable[tuple[int, int]],
        asks: Iterable[tuple[int, int]],
        last_update_id: int,
        last_trade_id: int,
        tick: Decimal,
        lot: Decimal,
        rng: random.Random,
        *,
        levels: int = 20,
        time_ms: int = 0,
        step_ms: int = 1,
        max_qty: int | None = None,
        p_move: float = 0.3,
        p_trade: float = 0.2,
        p_sweep: float = 0.0,
        sweep_ticks: int = 1,
    ) -> RandomWalkBooks:
        """Go on from a given book (ticks, lots): the first diff has U = last_update_id + 1, the
        first trade id is last_trade_id + 1, event times start after `time_ms`. `max_qty`
        defaults to twice the median quantity of the given levels, to keep the book's scale."""
        walks = cls([], levels, rng, max_qty=1, p_move=p_move, p_trade=p_trade,
                    step_ms=step_ms, time_ms=time_ms, p_sweep=p_sweep, sweep_ticks=sweep_ticks)
        walks.continue_instrument(symbol, bids, asks, last_update_id, last_trade_id, tick, lot,
                                  time_ms=time_ms, max_qty=max_qty)
        return walks

    def continue_instrument(  # noqa: PLR0917 - as continue_from
        self,
        symbol: str,
        bids: Iterable[tuple[int, int]],
        asks: Iterable[tuple[int, int]],
        last_update_id: int,
        last_trade_id: int,
        tick: Decimal,
        lot: Decimal,
        *,
        time_ms: int = 0,
        max_qty: int | None = None,
    ) -> None:
        """Add one more instrument continuing from a given book (see `continue_from`)."""
        bid_map = {p: q for p, q in bids if q > 0}
        ask_map = {p: q for p, q in asks if q > 0}
        if max_qty is None:
            sizes = sorted(list(bid_map.values()) + list(ask_map.values()))
            max_qty = max(1, 2 * sizes[len(sizes) // 2]) if sizes else 1
        cap = 2 * self.levels
        self._add(_Walk(symbol, tick, lot, bid_map, ask_map, last_update_id, last_trade_id,
                        max_qty, max(cap, len(bid_map)), max(cap, len(ask_map))))
        self.time_ms = max(self.time_ms, time_ms)

    def _add(self, walk: _Walk) -> None:
        if walk.symbol in self._walks:
            raise ValueError(f"instrument {walk.symbol!r} given twice")
        self._walks[walk.symbol] = walk
        self._order.append(walk)

    @property
    def symbols(self) -> list[str]:
        return list(self._walks)

    def snapshot(self, symbol: str) -> DepthSnapshot:
        """The current book of `symbol`, as of its last update id (what a resync should get)."""
        return self._walks[symbol].snapshot()

    def start(self) -> list[SyntheticMessage]:
        return [w.snapshot() for w in self._walks.values()]

    def top(self, symbol: str) -> tuple[int, int]:
        """(best bid, best ask) in ticks."""
        w = self._walks[symbol]
        return w.best_bid, w.best_ask

    def step(self) -> list[SyntheticMessage]:
        rng, walks = self._rng, self._order
        if not walks:
            raise ValueError("RandomWalkBooks has no instruments to step")
        walk = rng.choice(walks) if len(walks) > 1 else walks[0]
        self.time_ms += self.step_ms
        bid_changes: dict[int, int] = {}
        ask_changes: dict[int, int] = {}
        out: list[SyntheticMessage] = []
        if rng.random() < self.p_move:
            self._move(walk, rng.random() < 0.5, bid_changes, ask_changes)
        else:
            for _ in range(rng.randint(1, 3)):
                self._update(walk, rng.random() < 0.5, bid_changes, ask_changes)
        if rng.random() < self.p_trade:
            buy = rng.random() < 0.5
            # Drawn only when sweeps are on, so a walk without them replays as it always did.
            if self.p_sweep and rng.random() < self.p_sweep:
                out.extend(self._sweep(walk, buy, bid_changes, ask_changes))
            else:
                out.append(self._trade(walk, buy, bid_changes, ask_changes))
        self._trim(walk, bid_changes, ask_changes)
        first = walk.last_update_id + 1
        walk.last_update_id += len(bid_changes) + len(ask_changes)
        t, lot = walk.tick, walk.lot
        out.append(DepthDiff(
            walk.symbol, self.time_ms, first, walk.last_update_id,
            tuple((_text(p, t), _text(q, lot)) for p, q in bid_changes.items()),
            tuple((_text(p, t), _text(q, lot)) for p, q in ask_changes.items()),
        ))
        return out

    # -- the walk ---------------------------------------------------------------------------
    def _set(self, walk: _Walk, bid: bool, price: int, qty: int,
             changes: dict[int, int]) -> None:
        """Set one level and keep the touch: a scan of the side only when the touch is deleted."""
        changes[price] = qty
        if bid:
            if qty:
                walk.bids[price] = qty
                walk.best_bid = max(walk.best_bid, price)
            elif walk.bids.pop(price, None) is not None and price == walk.best_bid:
                walk.best_bid = max(walk.bids)
        elif qty:
            walk.asks[price] = qty
            walk.best_ask = min(walk.best_ask, price)
        elif walk.asks.pop(price, None) is not None and price == walk.best_ask:
            walk.best_ask = min(walk.asks)

    def _move(self, walk: _Walk, up: bool, bids: dict[int, int], asks: dict[int, int]) -> None:
        qty = self._rng.randint(1, walk.max_qty)
        if up:
            price = walk.best_bid + 1
            if walk.best_ask == price:
                if len(walk.asks) == 1:
                    self._set(walk, False, price + 1, qty, asks)
                self._set(walk, False, price, 0, asks)
            self._set(walk, True, price, qty, bids)
        else:
            price = walk.best_ask - 1
            if walk.best_bid == price:
                if price <= 1:
                    return  # prices stay positive: no room to move down
                if len(walk.bids) == 1:
                    self._set(walk, True, price - 1, qty, bids)
                self._set(walk, True, price, 0, bids)
            self._set(walk, False, price, qty, asks)

    def _update(self, walk: _Walk, bid: bool, bids: dict[int, int],
                asks: dict[int, int]) -> None:
        rng = self._rng
        offset = rng.randrange(self.levels)
        price = walk.best_bid - offset if bid else walk.best_ask + offset
        if price < 1:
            return
        side = walk.bids if bid else walk.asks
        delete = rng.random() < 0.2 and (len(side) > 1 or price not in side)
        qty = 0 if delete else rng.randint(1, walk.max_qty)
        self._set(walk, bid, price, qty, bids if bid else asks)

    def _trade(self, walk: _Walk, buy: bool, bids: dict[int, int],
               asks: dict[int, int]) -> Trade:
        """A market order at the touch: it takes its quantity out of the level (all of it only
        when the side has another level left)."""
        price = walk.best_ask if buy else walk.best_bid
        side = walk.asks if buy else walk.bids
        resting = side[price]
        qty = self._rng.randint(1, resting)
        if qty < resting:
            self._set(walk, not buy, price, resting - qty, asks if buy else bids)
        elif len(side) > 1:
            self._set(walk, not buy, price, 0, asks if buy else bids)
        walk.last_trade_id += 1
        return Trade(walk.symbol, walk.last_trade_id, price * walk.tick, qty * walk.lot,
                     self.time_ms, self.time_ms, buyer_is_maker=not buy)

    def _sweep(self, walk: _Walk, buy: bool, bids: dict[int, int],
               asks: dict[int, int]) -> list[Trade]:
        """A market order through the touch: every level within a random 1..`sweep_ticks` of it,
        one trade per level, then part of the next level (a side keeps at least one level).
        Liquidity follows the price, as after a real sweep: a new level joins the other side
        one tick from the new touch, so the spread closes again and the mid has jumped."""
        side = walk.asks if buy else walk.bids
        touch = walk.best_ask if buy else walk.best_bid
        reach = self._rng.randint(1, self.sweep_ticks)
        trades = []
        for price in sorted(side, reverse=not buy):
            if len(side) < 2 or abs(price - touch) >= reach:
                break
            taken = side[price]
            self._set(walk, not buy, price, 0, asks if buy else bids)
            walk.last_trade_id += 1
            trades.append(Trade(walk.symbol, walk.last_trade_id, price * walk.tick,
                                taken * walk.lot, self.time_ms, self.time_ms,
                                buyer_is_maker=not buy))
        trades.append(self._trade(walk, buy, bids, asks))
        qty = self._rng.randint(1, walk.max_qty)
        if buy:
            self._set(walk, True, walk.best_ask - 1, qty, bids)
        else:
            self._set(walk, False, walk.best_bid + 1, qty, asks)
        return trades

    def _trim(self, walk: _Walk, bids: dict[int, int], asks: dict[int, int]) -> None:
        """Bound each side: past its cap, the worst levels go (down to `levels` or the cap's
        half, whichever is larger), in one sort per overflow, so O(log n) per step amortized."""
        if len(walk.bids) > walk.cap_bids:
            keep = max(self.levels, walk.cap_bids // 2)
            for price in sorted(walk.bids, reverse=True)[keep:]:
                del walk.bids[price]
                bids[price] = 0
        if len(walk.asks) > walk.cap_asks:
            keep = max(self.levels, walk.cap_asks // 2)
            for price in sorted(walk.asks)[keep:]:
                del walk.asks[price]
                asks[price] = 0
