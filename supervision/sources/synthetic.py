"""Market sources: actors that feed parsed venue messages to a venue connection (the SimVenue).

A source tells its `target` one `protocols.feed.FeedEvent(instrument, message, recv_ns)` per
message, stamped with `ctx.monotonic_ns()` at emission, as a live connection stamps a frame when
its socket task reads it. Time comes only from the context (`ctx.schedule` paces everything),
so on the DeterministicHost a source runs in virtual time, as fast as the CPU allows.

- `ReplaySource` (in `supervision.sources.replay`, re-exported here) replays a recording lazily at
  recorded pace, accelerated, or as fast as possible in chunks.
- `SyntheticSource` drives a generator from `actors.sim.synthetic_market` on a timer: each step's
  book messages at once, its trades half a step later (a second, keyed timer), so a strategy
  can requote on the new mid before the market orders arrive.
- `ContinuingSource` replays a Binance recording while keeping a light copy of each book
  (`actors.market.l2_book.BinanceBookSync`), and when the recording ends carries on with
  `RandomWalkBooks.continue_from` that book: update ids, trade ids and venue times go on
  unbroken, so the books downstream never notice the seam. This is the paper node's market.

Every source answers a `ResyncRequest` (forwarded by the venue connection) with a
`DepthSnapshot` of its current state when it has one (synthetic books, the continuing copy); a
plain recording cannot, and only counts it.

Metrics (besides the replay's): troupe_synthetic_steps_total, troupe_synthetic_messages_total,
troupe_source_refused_total, troupe_source_resync_requests_total{answered},
troupe_continuing_skipped_total (instruments that could not be continued),
troupe_continuing_started_total (the recording ended and the synthetic books took over).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Mapping
from decimal import Decimal
from os import PathLike
from typing import Any, Protocol

import attrs

from actors.behaviour import Behaviour, Context, Ref
from actors.market.l2_book import BinanceBookSync
from actors.sim.synthetic_market import RandomWalkBooks, StepEvents
from protocols.codec import DecodeError, Side
from protocols.feed import FeedEvent, ResyncRequest
from protocols.instruments import InstrumentSpec
from protocols.venues import binance
from supervision.sources.recording_reader import iter_recording
from supervision.sources.replay import ReplayEnded, ReplaySource

__all__ = [
    "ContinuingSource", "MarketGenerator", "MidUpdate", "ReplayEnded", "ReplaySource",
    "SyntheticEnded", "SyntheticSource", "iter_recording",
]

log = logging.getLogger("troupe.sources")
SECOND = 1_000_000_000
SWEEP = 0.1
"""Share of the continuation's market orders that sweep through the touch (`RandomWalkBooks`),
up to a tenth of the recording's traded range deep: without them the walk moves a tick at a
time and a market maker quoting a few dozen ticks wide waits minutes for a fill."""


@attrs.frozen(slots=True)
class SyntheticEnded:
    """A synthetic source ran its `steps` (told to `on_end` after the last trades went out)."""

    steps: int
    messages: int


@attrs.frozen(slots=True)
class MidUpdate:
    """The generator's exact mid after a step (an Avellaneda-Stoikov experiment wants it, not
    the tick-rounded book mid). Sent to the optional `observer`."""

    instrument: str
    mid: Decimal
    step: int
    recv_ns: int


@attrs.frozen(slots=True)
class _Step:
    """Timer: run the generator's next step."""


@attrs.frozen(slots=True)
class _Trades:
    """Timer: deliver the trades of the last step, half a step after its book."""


class MarketGenerator(Protocol):
    """What a synthetic source drives (`AvellanedaStoikovFlow`, `RandomWalkBooks`)."""

    @property
    def symbols(self) -> list[str]: ...

    def start(self) -> list[Any]: ...  # one snapshot per symbol, in `symbols` order

    def step(self) -> StepEvents | list[Any]: ...

    def snapshot(self, symbol: str) -> binance.DepthSnapshot: ...


class _Driver:
    """Steps a generator on a timer for a source: the book now, the trades half a step later."""

    def __init__(self, generator: MarketGenerator, step_s: float, steps: int | None,
                 instrument_map: Mapping[str, str] | None, observer: Ref | None) -> None:
        if not step_s > 0:
            raise ValueError(f"synthetic step_s must be positive, got {step_s!r}")
        if steps is not None and steps < 0:
            raise ValueError(f"synthetic steps must be non-negative or None, got {steps}")
        self.generator, self.step_s, self.steps = generator, step_s, steps
        self.map = dict(instrument_map or {})
        self.observer = observer
        self.done_steps = self.messages = 0
        self._pending: list[Any] = []
        self._start_ns = 0
        self.finished = False

    def instrument(self, symbol: str) -> str:
        return self.map.get(symbol, symbol)

    def _instrument_of(self, message: Any) -> str:
        symbol = getattr(message, "symbol", None)  # a snapshot names none: the first symbol
        return self.instrument(symbol if symbol is not None else self.generator.symbols[0])

    def symbol(self, instrument: str) -> str | None:
        for symbol in self.generator.symbols:
            if self.instrument(symbol) == instrument:
                return symbol
        return None

    def start(self, ctx: Context, target: Ref, *, snapshots: bool) -> None:
        self._start_ns = ctx.monotonic_ns()
        if snapshots:
            for symbol, message in zip(self.generator.symbols, self.generator.start(),
                                       strict=True):
                self._emit(self.instrument(symbol), message, target, ctx)
        self._arm(ctx)

    def _arm(self, ctx: Context) -> None:
        if self.steps is not None and self.done_steps >= self.steps:
            self.finished = not self._pending
            return
        due = self._start_ns + round((self.done_steps + 1) * self.step_s * SECOND)
        ctx.schedule(max(0, due - ctx.monotonic_ns()) / SECOND, _Step(), key="synthetic.step")

    def on_step(self, ctx: Context, target: Ref) -> None:
        self.flush(ctx, target)  # a late trades timer never loses its trades
        result = self.generator.step()
        self.done_steps += 1
        ctx.count("troupe_synthetic_steps_total")
        if isinstance(result, StepEvents):
            book, trades = result.book, result.trades
        else:
            book = [m for m in result if not isinstance(m, binance.Trade)]
            trades = [m for m in result if isinstance(m, binance.Trade)]
        for message in book:
            self._emit(self._instrument_of(message), message, target, ctx)
        if isinstance(result, StepEvents) and self.observer is not None:
            instrument = self.instrument(self.generator.symbols[0])
            ctx.tell(self.observer, MidUpdate(instrument, result.mid, self.done_steps,
                                              ctx.monotonic_ns()))
        if trades:
            self._pending = trades
            ctx.schedule(self.step_s / 2, _Trades(), key="synthetic.trades")
        self._arm(ctx)

    def flush(self, ctx: Context, target: Ref) -> None:
        pending, self._pending = self._pending, []
        for message in pending:
            self._emit(self._instrument_of(message), message, target, ctx)
        if self.steps is not None and self.done_steps >= self.steps:
            self.finished = True

    def _emit(self, instrument: str, message: Any, target: Ref, ctx: Context) -> None:
        self.messages += 1
        ctx.count("troupe_synthetic_messages_total")
        if ctx.tell(target, FeedEvent(instrument, message, ctx.monotonic_ns())) is not None:
            ctx.count("troupe_source_refused_total")

    def answer_resync(self, request: ResyncRequest, ctx: Context, target: Ref) -> bool:
        symbol = self.symbol(request.instrument)
        if symbol is None:
            return False
        self._emit(request.instrument, self.generator.snapshot(symbol), target, ctx)
        return True


class SyntheticSource(Behaviour):
    """Drives `generator` every `step_s` seconds; stops after `steps` (None: never) and then
    tells `on_end` a `SyntheticEnded`. `instrument_map` maps generator symbols to instrument
    names (identity by default); `observer` gets a `MidUpdate` per Avellaneda-Stoikov step."""

    def __init__(
        self,
        generator: MarketGenerator,
        target: Ref,
        step_s: float,
        *,
        steps: int | None = None,
        on_end: Ref | None = None,
        instrument_map: Mapping[str, str] | None = None,
        observer: Ref | None = None,
    ) -> None:
        self.target, self.on_end = target, on_end
        self.driver = _Driver(generator, step_s, steps, instrument_map, observer)
        self._ended = False

    def on_start(self, ctx: Context) -> None:
        self.driver.start(ctx, self.target, snapshots=True)
        self._check_end(ctx)

    def receive(self, message: Any, ctx: Context) -> Any:
        if isinstance(message, _Step):
            self.driver.on_step(ctx, self.target)
        elif isinstance(message, _Trades):
            self.driver.flush(ctx, self.target)
        elif isinstance(message, ResyncRequest):
            answered = self.driver.answer_resync(message, ctx, self.target)
            ctx.count("troupe_source_resync_requests_total", answered="yes" if answered else "no")
        self._check_end(ctx)
        return None

    def _check_end(self, ctx: Context) -> None:
        driver = self.driver
        if driver.finished and not self._ended:
            self._ended = True
            if self.on_end is not None:
                ctx.tell(self.on_end, SyntheticEnded(driver.done_steps, driver.messages))

    def snapshot(self) -> dict[str, Any]:
        d = self.driver
        return {"steps": d.done_steps, "messages": d.messages, "ended": self._ended,
                "symbols": d.generator.symbols}


def _tick_lot(spec: tuple[Decimal, Decimal] | InstrumentSpec) -> tuple[Decimal, Decimal]:
    if isinstance(spec, InstrumentSpec):
        return spec.tick_size, spec.lot_step
    tick, lot = spec
    return tick, lot


def _levels(levels: list[tuple[int, int]], tick: Decimal, lot: Decimal) -> binance.Levels:
    return tuple((format(p * tick, "f"), format(q * lot, "f")) for p, q in levels)


class ContinuingSource(ReplaySource):
    """Replays a Binance recording, then goes on with random-walk books from where it ended.

    `specs` gives tick and lot per instrument (an `InstrumentSpec` or a `(tick, lot)` pair):
    the copy keeps books in ticks and lots, as the book actors do. `on_end` is told
    `ReplayEnded` when the recording ends and `SyntheticEnded` if `steps` (synthetic steps,
    None for ever) run out. An instrument whose copy is not synced when the recording ends (a
    Hyperliquid recording, a stale book) is not continued; that is logged and counted. `seed`
    fixes the continuation's randomness (default: the actor's seeded `ctx.random`).
    """

    def __init__(
        self,
        path: str | PathLike[str],
        instrument_map: Mapping[str, str],
        target: Ref,
        specs: Mapping[str, tuple[Decimal, Decimal] | InstrumentSpec],
        speed: float | None = 1.0,
        *,
        chunk: int = 500,
        on_end: Ref | None = None,
        step_s: float = 0.1,
        steps: int | None = None,
        levels: int = 20,
        seed: int | None = None,
        max_buffer: int = 1000,
    ) -> None:
        super().__init__(path, instrument_map, target, speed, chunk, on_end=on_end)
        if not step_s > 0:
            raise ValueError(f"synthetic step_s must be positive, got {step_s!r}")
        self._units = {name: _tick_lot(spec) for name, spec in specs.items()}
        self._copies = {name: BinanceBookSync(tick, lot, max_buffer)
                        for name, (tick, lot) in self._units.items()}
        self._symbols: dict[str, str] = {}  # instrument -> venue symbol, as seen
        self._trade_ids: dict[str, int] = {}
        self._venue_ms: dict[str, int] = {}
        self._trade_range: dict[str, tuple[Decimal, Decimal]] = {}  # lowest, highest trade
        self.step_s, self.steps, self.levels, self.seed = step_s, steps, levels, seed
        self.driver: _Driver | None = None
        self._ended = False

    # -- the replay half, watched -----------------------------------------------------------
    def emit(self, instrument: str, message: Any, now: int, ctx: Context) -> None:
        super().emit(instrument, message, now, ctx)
        copy = self._copies.get(instrument)
        if copy is None:
            return
        try:
            if isinstance(message, binance.DepthDiff):
                self._symbols[instrument] = message.symbol
                self._seen_time(instrument, message.event_time_ms)
                copy.on_diff(message, now)
            elif isinstance(message, binance.DepthSnapshot):
                copy.on_snapshot(message, now)
            elif isinstance(message, binance.Trade):
                self._symbols[instrument] = message.symbol
                self._seen_time(instrument, message.trade_time_ms)
                last = self._trade_ids.get(instrument, 0)
                self._trade_ids[instrument] = max(last, message.trade_id)
                low, high = self._trade_range.get(instrument, (message.price, message.price))
                self._trade_range[instrument] = (min(low, message.price),
                                                 max(high, message.price))
        except DecodeError:
            pass  # the copy went stale, as the book downstream did; a resync is not answered

    def _seen_time(self, instrument: str, venue_ms: int) -> None:
        self._venue_ms[instrument] = max(self._venue_ms.get(instrument, 0), venue_ms)

    def end_of_recording(self, ctx: Context) -> None:
        super().end_of_recording(ctx)
        rng = random.Random(self.seed) if self.seed is not None else ctx.random
        step_ms = max(1, round(self.step_s * 1000))
        walks: RandomWalkBooks | None = None
        names: dict[str, str] = {}
        for instrument, copy in self._copies.items():
            book, symbol = copy.published(), self._symbols.get(instrument, instrument)
            tick, lot = self._units[instrument]
            if book is None or book.crossed:
                log.warning("%s: %s is not synced at the end of the recording: not continued",
                            self.path, instrument)
                ctx.count("troupe_continuing_skipped_total")
                continue
            bids = book.depth(Side.BUY, book.level_count(Side.BUY))
            asks = book.depth(Side.SELL, book.level_count(Side.SELL))
            ids = (copy.last_update_id, self._trade_ids.get(instrument, 0))
            time_ms = self._venue_ms.get(instrument, 0)
            if walks is None:
                walks = RandomWalkBooks.continue_from(
                    symbol, bids, asks, *ids, tick, lot, rng, levels=self.levels,
                    time_ms=time_ms, step_ms=step_ms, p_sweep=SWEEP,
                    sweep_ticks=self._sweep_ticks(instrument, tick))
            else:
                walks.continue_instrument(symbol, bids, asks, *ids, tick, lot, time_ms=time_ms)
            names[symbol] = instrument
        if walks is None:
            return
        log.info("%s: continuing %s on synthetic books", self.path, ", ".join(names.values()))
        ctx.count("troupe_continuing_started_total")  # the node announces the switch
        self.driver = _Driver(walks, self.step_s, self.steps, names, None)
        self.driver.start(ctx, self.target, snapshots=False)
        self._check_end(ctx)

    def _sweep_ticks(self, instrument: str, tick: Decimal) -> int:
        """How deep a sweep may reach: a tenth of the range the recording traded over, so the
        continuation moves about as much as the market it continues."""
        low, high = self._trade_range.get(instrument, (Decimal(0), Decimal(0)))
        return max(self.levels, int((high - low) / tick) // 10)

    # -- the synthetic half -----------------------------------------------------------------
    def receive(self, message: Any, ctx: Context) -> Any:
        driver = self.driver
        if driver is not None and isinstance(message, _Step):
            driver.on_step(ctx, self.target)
        elif driver is not None and isinstance(message, _Trades):
            driver.flush(ctx, self.target)
        else:
            return super().receive(message, ctx)
        self._check_end(ctx)
        return None

    def on_resync(self, request: ResyncRequest, ctx: Context) -> None:
        answered = False
        if self.driver is not None:
            answered = self.driver.answer_resync(request, ctx, self.target)
        elif request.instrument in self._copies:
            copy = self._copies[request.instrument]
            book = copy.published()
            if book is not None:
                tick, lot = self._units[request.instrument]
                snapshot = binance.DepthSnapshot(
                    copy.last_update_id,
                    _levels(book.depth(Side.BUY, book.level_count(Side.BUY)), tick, lot),
                    _levels(book.depth(Side.SELL, book.level_count(Side.SELL)), tick, lot))
                self.emit(request.instrument, snapshot, ctx.monotonic_ns(), ctx)
                answered = True
        ctx.count("troupe_source_resync_requests_total", answered="yes" if answered else "no")

    def _check_end(self, ctx: Context) -> None:
        driver = self.driver
        if driver is not None and driver.finished and not self._ended:
            self._ended = True
            if self.on_end is not None:
                ctx.tell(self.on_end, SyntheticEnded(driver.done_steps, driver.messages))

    def snapshot(self) -> dict[str, Any]:
        snap = super().snapshot()
        snap["continuing"] = None if self.driver is None else {
            "steps": self.driver.done_steps, "messages": self.driver.messages,
            "symbols": self.driver.generator.symbols}
        return snap
