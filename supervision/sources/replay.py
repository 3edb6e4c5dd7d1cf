"""Replay of recorded venue feeds: the `ReplaySource` actor and its lazy, tolerant reader.

A recording (`protocols.recording` format) is gzip text, one `<local_ts_ns> <raw json>` per line.
`ReplaySource` reads it line by line (never the whole file), parses each line with
`protocols.recording.classify`, maps the venue symbol to our instrument name and tells its
`target` (the venue connection, e.g. the SimVenue) one `FeedEvent(instrument, message, recv_ns)`
per message, stamped with `ctx.monotonic_ns()` at emission, as a live connection stamps a frame
when its socket task reads it.

Pacing uses only the context's clock and timers: message i is due at start + (ts_i - ts_0) /
speed; each turn emits what is due (at most `chunk`) and sets one timer for the next. On the
DeterministicHost the recorded pace therefore runs in virtual time, as fast as the CPU allows;
there (`virtual_time=True`) a turn also sends the next lines ahead, each as a timed tell
(`Context.tell_at`) stamped with the time it is due, and wakes again when the last of them
lands: one wake per 64 lines instead of one per recorded timestamp.
`speed=None` is as fast as possible: `chunk` messages, then a note to itself, so the actors it
feeds (and any other) get their turns between chunks and the host never blocks. A malformed line
is counted, logged with its position, and skipped; it never stops a replay.

The file itself is read by `supervision.sources.recording_reader` (lazily, a block at a time);
a file found damaged mid-stream (`RecordingError`) stops the replay, which logs it and keeps it
in `damage` for its owner to act on.

This module is `supervision.sources.synthetic`' replay half (kept apart for size); import from
there.

Metrics: troupe_replay_messages_total, troupe_replay_decode_errors_total,
troupe_replay_skipped_total{reason}, troupe_replay_loops_total, troupe_replay_lag_seconds
(gauge), troupe_source_refused_total, troupe_source_resync_requests_total{answered}.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from decimal import Decimal
from os import PathLike
from pathlib import Path
from typing import Any

import attrs

from actors.behaviour import Behaviour, Context, Ref
from protocols.codec import DecodeError
from protocols.feed import ALL_STREAMS, FeedBatch, FeedEvent, ResyncRequest, Stream
from protocols.recording import classify
from protocols.venues import binance, hyperliquid
from supervision.sources.recording_reader import (
    Line,
    RecordingError,
    RecordingReader,
    iter_recording,
)
from supervision.sources.unit_decode import UnitDecoder

__all__ = ["ReplayEnded", "ReplaySource", "require_asset_ctx", "sniff_messages",
           "sniff_recording", "stream_of"]

log = logging.getLogger("troupe.sources")
SECOND = 1_000_000_000
_SLACK_NS = 1_000  # float timer delays may land a few ns early: due within 1 us counts as due
# Lines told ahead per turn in virtual time: enough to make this actor's wakes rare (one per
# 64 lines), few enough that what they carry dies young. 500 kept so many objects alive across
# garbage collections that the collector cost a tenth of a backtest.
_AHEAD = 64
_LOGGED_ERRORS = 10  # malformed lines logged one by one before only being counted



@attrs.frozen(slots=True)
class ReplayEnded:
    """A replay reached the end of its recording (told to `on_end`)."""

    path: str
    messages: int  # FeedEvents emitted
    last_ts_ns: int | None  # recorded receive time of the last line emitted


@attrs.frozen(slots=True)
class _Continue:
    """A replay's note to itself: the next chunk (as fast as possible), or the next due line."""


_CONTINUE = _Continue()  # immutable and told every turn: one instance serves


_DEPTH = (binance.DepthDiff, binance.DepthDiffInUnits, binance.DepthSnapshot, hyperliquid.L2Book)


def stream_of(message: Any) -> Stream | None:
    """The stream a parsed message belongs to; None for frames that carry no market data."""
    if isinstance(message, _DEPTH):
        return Stream.DEPTH
    if isinstance(message, binance.Trade | binance.TradeInUnits | hyperliquid.Trades):
        return Stream.TRADES
    if isinstance(message, binance.BookTicker):
        return Stream.TICKER
    if isinstance(message, hyperliquid.AssetCtx):
        return Stream.CONTEXT
    return None


_BY_SYMBOL = (binance.TradeInUnits, binance.Trade, binance.BookTicker)
_DIFFS = (binance.DepthDiffInUnits, binance.DepthDiff)
_ONE_BY_SYMBOL = frozenset((*_BY_SYMBOL, *_DIFFS))  # exact types: what `route` sends on as is


class _Router:
    """Venue symbol -> our instrument. A REST snapshot names no symbol: it goes to the only
    instrument of the map, or else to the symbol of the latest depth diff (a recorder fetches
    the snapshot of the stream it has just subscribed to)."""

    def __init__(self, instrument_map: Mapping[str, str]) -> None:
        self.map = dict(instrument_map)
        self._only = next(iter(self.map.values())) if len(self.map) == 1 else None
        self.last_depth: str | None = None  # the instrument of the latest depth diff
        self._known: dict[str, str | None] = {}

    def instrument(self, symbol: str) -> str | None:
        known = self._known
        if symbol not in known:  # once per symbol spelling: every message asks
            known[symbol] = self.map.get(symbol) or self.map.get(symbol.upper())
        return known[symbol]

    def route(self, message: Any) -> list[tuple[str | None, Any]]:
        # isinstance with tuples: with a union (`A | B`) it took ~1 % of a backtest here
        if isinstance(message, _BY_SYMBOL):
            return [(self.instrument(message.symbol), message)]
        if isinstance(message, _DIFFS):
            self.last_depth = self.instrument(message.symbol)
            return [(self.last_depth, message)]
        if isinstance(message, binance.DepthSnapshot):
            return [(self._only or self.last_depth, message)]
        if isinstance(message, (hyperliquid.L2Book, hyperliquid.AssetCtx)):
            return [(self.instrument(message.coin), message)]
        if isinstance(message, hyperliquid.Trades):
            coins: dict[str, list[hyperliquid.Trade]] = {}
            for trade in message.trades:
                coins.setdefault(trade.coin, []).append(trade)
            return [(self.instrument(c), hyperliquid.Trades(tuple(t))) for c, t in coins.items()]
        return []  # acks and control frames carry no market data


class ReplaySource(Behaviour):
    """Replays `path` to `target`. `speed`: 1.0 recorded pace, N times faster, None flat out.

    At the end, `on_end` is told `ReplayEnded` and the source goes quiet (it stays alive for
    introspection). `loop=True` starts over instead, re-anchoring the pace; a Binance book will
    see the old update ids again and drop them, so looping suits load tests, not books.

    `streams`: what the consumers use (`protocols.feed.Stream`); other messages are not
    delivered, and bookTicker lines are skipped before they are decoded when nobody wants them.

    `units` (venue symbol -> (tick, lot)): the Binance depth diffs and trades of those symbols
    come out already in ticks and lots (`supervision.sources.unit_decode`), as the simulated
    venue would have converted them: the venue and our book take them as they are.

    `virtual_time=True` is for a backtest on the deterministic host: `speed=None` then means the
    recording's own clock. Virtual time costs nothing, so the replay still runs flat out, and
    the venue's latency and queue models see the recorded spacing of the events instead of a
    whole recording crammed into one instant. Nothing is lost on the way when the target's
    mailbox is a `FlowControl` one: a full target makes the source wait (the host defers its
    turns), so backpressure is flow control, not loss. `batch_instants=True` (the target takes
    `FeedBatch`es: a venue connection, a book) sends the lines told ahead for one instant as
    one `FeedBatch`: they would have landed back to back, and the target handles them so.
    """

    def __init__(
        self,
        path: str | PathLike[str],
        instrument_map: Mapping[str, str],
        target: Ref,
        speed: float | None = 1.0,
        chunk: int = 500,
        *,
        on_end: Ref | None = None,
        loop: bool = False,
        streams: Iterable[Stream] = ALL_STREAMS,
        virtual_time: bool = False,
        units: Mapping[str, tuple[Decimal, Decimal]] | None = None,
        batch_instants: bool = False,
    ) -> None:
        if not Path(path).is_file():
            raise FileNotFoundError(f"replay: no recording at {path}")
        if speed is not None and not speed > 0:
            raise ValueError(f"replay speed must be positive or None, got {speed!r}")
        if chunk < 1:
            raise ValueError(f"replay chunk must be at least 1, got {chunk}")
        self.path, self.target, self.speed, self.chunk = Path(path), target, speed, chunk
        self.on_end, self.loop = on_end, loop
        self.streams = frozenset(streams)
        self._wanted: dict[type, bool] = {}  # message type -> delivered (its stream is wanted)
        self.virtual_time = virtual_time
        self.batch_instants = batch_instants
        self._instant: list[FeedEvent] = []  # the lines told ahead for one instant, not yet sent
        self.units = dict(units or {})
        self._decode = self.decoder()
        self._pace = speed if speed is not None or not virtual_time else 1.0
        self._router = _Router(instrument_map)
        self._reader: Any = None
        self._lines: Iterator[Line] = iter(())
        self._next: Line | None = None
        self._anchor: tuple[int, int] | None = None  # (start_ns, ts_0) of the current pass
        self.position = 0  # line number of the last line handled
        self.messages = self.decode_errors = self.loops = self.unsubscribed = 0
        self._pass_messages = 0
        self.last_ts_ns: int | None = None
        self.lag_ns = 0
        self._now = 0  # the clock at the start of the current turn
        self.done = False
        self.damage: str | None = None  # why the file ended early (`RecordingError`), if it did

    def on_start(self, ctx: Context) -> None:
        self._open()
        self._pump(ctx)

    def _open(self) -> None:
        self._reader = self.open_reader()
        self._lines = iter(self._reader)

    def open_reader(self) -> Any:
        """What the lines come from: an iterable of `Line`s with `fraction()`, `lines` and
        `skipped` (`RecordingReader`); a catalog replay reads its own file."""
        return RecordingReader(self.path, skip_tickers=Stream.TICKER not in self.streams)

    def decoder(self) -> Callable[[Any], Any]:
        """What turns a line's payload into a message (DecodeError if it is not one): the
        checked decode, or straight into units for the instruments of `units`."""
        return UnitDecoder(self.units).decode if self.units else classify

    def decode(self, raw: Any) -> Any:
        """A line's payload as a message (DecodeError if it is not one)."""
        return self._decode(raw)

    @property
    def lines_read(self) -> int:
        """Recording lines read so far, those skipped unread included."""
        return 0 if self._reader is None else self._reader.lines

    def fraction(self) -> float:
        """How far through the recording the replay is, 0..1 (for progress reports)."""
        if self.done:
            return 1.0
        return 0.0 if self._reader is None else self._reader.fraction()

    def receive(self, message: Any, ctx: Context) -> Any:
        if isinstance(message, _Continue):
            if not self.done:
                self._pump(ctx)
        elif isinstance(message, ResyncRequest):
            self.on_resync(message, ctx)
        return None

    def on_resync(self, request: ResyncRequest, ctx: Context) -> None:
        """A recording cannot produce a snapshot on demand: the request is only counted."""
        ctx.count("troupe_source_resync_requests_total", answered="no")

    # -- pacing -----------------------------------------------------------------------------
    def _pump(self, ctx: Context) -> None:
        now = self._now = ctx.monotonic_ns()
        emitted = handled = 0
        speed = self._pace
        # In virtual time the lines due later go ahead as timed tells (`tell_at`), one chunk a
        # turn: one timer entry per line instead of a wake and a turn of this actor per recorded
        # timestamp. `at` is when the current group of lines is due: a line due within the
        # slack of it joins it, as it would join a turn that woke at `at`.
        ahead = self.virtual_time and speed is not None
        limit = min(self.chunk, _AHEAD) if ahead else self.chunk
        at = now
        while handled < limit:
            line = self._peek()
            if line is None:
                if self.loop and self._pass_messages:
                    self._restart(ctx)
                    continue
                self._send_instant(ctx)
                self._count(emitted, ctx)
                if at > now:  # the last lines are on their way: the replay ends when they land
                    self._wake(at, now, ctx)
                    return
                self.done = True
                self.end_of_recording(ctx)
                return
            ts = line[1]
            if ts is not None and speed is not None:
                due = self._due(ts, speed, now)
                if due > at + _SLACK_NS:
                    if not ahead:
                        self._count(emitted, ctx)
                        self._wake(due, now, ctx)
                        return
                    at = due
                self.lag_ns = at - due
            self._next = None
            handled += 1
            emitted += self._deliver(line, at, ctx)
        self._send_instant(ctx)
        self._count(emitted, ctx)
        if at > now:
            self._wake(at, now, ctx)  # what was told ahead lands first, then the next chunk
        # Let the others have a turn, then go on. A refused note (a bounded mailbox) becomes a
        # zero-delay timer: timers are never refused, and a lost note would end the replay.
        elif ctx.tell(ctx.self_ref, _CONTINUE) is not None:
            ctx.schedule(0, _CONTINUE, key="replay.wake")

    @staticmethod
    def _wake(due: int, now: int, ctx: Context) -> None:
        ctx.schedule((due - now + 0.5) / SECOND, _CONTINUE, key="replay.wake")

    def _peek(self) -> Line | None:
        if self._next is None:
            try:
                self._next = next(self._lines, None)
            except RecordingError as exc:
                # Ending here (not failing) keeps a restart from replaying the file again;
                # the owner reads `damage` and decides (a backtest refuses the run).
                self.damage = str(exc)
                self._lines = iter(())
                log.error("replay stopped: %s", exc)
        return self._next

    def _due(self, ts: int, speed: float, now: int) -> int:
        """When line `ts` is due on our clock. The first timed line of a pass anchors the pace."""
        if self._anchor is None:
            self._anchor = (now, ts)
        start_ns, ts0 = self._anchor
        span = ts - ts0
        return start_ns + (span if speed == 1.0 else int(span / speed))

    def _restart(self, ctx: Context) -> None:
        self.loops += 1
        self._open()
        self._next, self._anchor = None, None
        self._pass_messages = 0
        ctx.count("troupe_replay_loops_total")

    def _count(self, emitted: int, ctx: Context) -> None:
        if emitted:
            ctx.count("troupe_replay_messages_total", emitted)
            if self.speed is not None:
                ctx.gauge("troupe_replay_lag_seconds", self.lag_ns / SECOND)

    # -- delivery ---------------------------------------------------------------------------
    def _deliver(self, line: Line, now: int, ctx: Context) -> int:
        lineno, ts, raw = line
        self.position = lineno
        if ts is None:
            self._decode_error(raw, ctx)
            return 0
        try:
            message = self._decode(raw)
        except DecodeError as exc:
            self._decode_error(str(exc), ctx)
            return 0
        kind = type(message)
        wanted = self._wanted.get(kind)
        if wanted is None:
            wanted = self._wanted[kind] = stream_of(message) in self.streams
        if not wanted:
            self.unsubscribed += 1
            return 0
        router = self._router
        if kind in _ONE_BY_SYMBOL:  # nearly every line: `route` without its list
            instrument = router.instrument(message.symbol)
            if kind in _DIFFS:
                router.last_depth = instrument
            routes = [(instrument, message)]
        else:
            routes = router.route(message)
        sent = 0
        for instrument, routed in routes:
            if instrument is None:
                ctx.count("troupe_replay_skipped_total", reason="unmapped")
                continue
            self.emit(instrument, routed, now, ctx)
            sent += 1
        self.messages += sent
        self._pass_messages += sent
        self.last_ts_ns = ts
        return sent

    def emit(self, instrument: str, message: Any, now: int, ctx: Context) -> None:
        """Tell the target one message, received at `now` (later than this turn: a timed
        tell); subclasses extend this to watch the flow."""
        event = FeedEvent(instrument, message, now)
        if now > self._now:
            if not self.batch_instants:
                ctx.tell_at(now, self.target, event)
                return
            if self._instant and self._instant[0].recv_ns != now:
                self._send_instant(ctx)
            self._instant.append(event)
        elif ctx.tell(self.target, event) is not None:
            ctx.count("troupe_source_refused_total")

    def _send_instant(self, ctx: Context) -> None:
        """Tell the lines held for one instant, before anything else this turn sets a timer."""
        events = self._instant
        if events:
            ctx.tell_at(events[0].recv_ns, self.target,
                        events[0] if len(events) == 1 else FeedBatch(tuple(events)))
            self._instant = []

    def _decode_error(self, error: str, ctx: Context) -> None:
        self.decode_errors += 1
        ctx.count("troupe_replay_decode_errors_total")
        if self.decode_errors <= _LOGGED_ERRORS:
            log.warning("%s:%d: skipped a malformed line: %s", self.path, self.position, error)
            if self.decode_errors == _LOGGED_ERRORS:
                log.warning("%s: further malformed lines are only counted", self.path)

    def end_of_recording(self, ctx: Context) -> None:
        """The recording is exhausted: tell `on_end`. Subclasses may carry on from here."""
        log.info("%s: replay ended after %d messages", self.path, self.messages)
        if self.on_end is not None:
            ctx.tell(self.on_end, ReplayEnded(str(self.path), self.messages, self.last_ts_ns))

    def snapshot(self) -> dict[str, Any]:
        skipped = 0 if self._reader is None else self._reader.skipped
        return {
            "path": str(self.path), "position": self.position, "messages": self.messages,
            "unsubscribed": self.unsubscribed + skipped,
            "decode_errors": self.decode_errors, "speed": self.speed, "loops": self.loops,
            "lag_s": self.lag_ns / SECOND, "last_ts_ns": self.last_ts_ns, "done": self.done,
            "damage": self.damage,
        }


def require_asset_ctx(path: str | PathLike[str]) -> None:
    """ValueError, in one line, unless the recording has an `activeAssetCtx` line: a recorded
    oracle from a recording without one would be a silent absence of any oracle. Reads up to
    the first such line, undecoded."""
    for _, ts, raw in iter_recording(path):
        if ts is not None and '"channel":"activeAssetCtx"' in raw[:40]:
            return
    raise ValueError(f'venue.sim.market.oracle = "recorded" needs activeAssetCtx lines, and '
                     f"the recording {path} has none (use oracle = \"model\" or another "
                     f"recording)")


def sniff_recording(path: str | PathLike[str], lines: int = 2000) -> tuple[str, tuple[str, ...]]:
    """The venue ("binance" or "hyperliquid") and the venue symbols of a recording's first
    `lines` lines, so a backtest can map a recording onto its instruments. ValueError if no
    line decodes."""
    def messages() -> Iterator[Any]:
        for count, (_, ts, raw) in enumerate(iter_recording(path)):
            if count >= lines:
                break
            if ts is not None:
                try:
                    yield classify(raw)
                except DecodeError:
                    continue

    venue, symbols = sniff_messages(messages())
    if not venue:
        raise ValueError(f"{path}: no market data in its first {lines} lines")
    return venue, symbols


def sniff_messages(messages: Iterable[Any]) -> tuple[str, tuple[str, ...]]:
    """The venue ("binance", "hyperliquid" or "" if none) and the symbols of `messages`."""
    venue, symbols = "", dict[str, None]()
    for message in messages:
        if isinstance(message, hyperliquid.L2Book | hyperliquid.Trades):
            venue = "hyperliquid"
            coins = [message.coin] if isinstance(message, hyperliquid.L2Book) else \
                [t.coin for t in message.trades]
            symbols.update(dict.fromkeys(coins))
        elif isinstance(message, binance.DepthDiff | binance.Trade | binance.BookTicker):
            venue = venue or "binance"
            symbols[message.symbol] = None
        elif isinstance(message, binance.DepthSnapshot):
            venue = venue or "binance"
    return venue, tuple(symbols)
