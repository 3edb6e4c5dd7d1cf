"""The decode and book stages from the websocket frame's text, as the tick-to-trade run has them.

`python -m benchmarks.book` runs this after its book-stage table (`frame_stage`). The frames are
the fake venue's (`supervision.fakevenue.market`): every recorded depth diff and trade as a
combined-stream frame, one per cloned symbol (S00USDT, S01USDT ...), so N clones see the same
prices in frames of their own, as the tick-to-trade load's instruments do. Per frame, in CPU
time, best of the passes:

- *decode*: what the venue connection does with the frame's text before it tells the book:
  `checked`, the decode before the unit path (`binance.parse_message`: the stdlib's JSON, each
  level checked and kept as the venue's strings, trades in Decimal); `units`, the live
  transport's own (`BinanceTransport.market_message`: orjson, then straight into ticks and lots
  through the codec's memos, the checked decode only for what that path is not sure of);
- *book*: the `OrderBookActor` handling the `FeedEvent` that decode made, publishing to four
  subscribers (the book converts the checked decode's strings itself; it applies the units as
  they are).

The figures are given over the top-moving diffs, every depth frame and the trades, and over the
depth diffs by size in levels (0-19, 20-59, 60-159, 160+: the large diffs' cost, which the p50
over every diff hides), with each class's ns per level (`python -m benchmarks.book
--frame-stage`: this stage alone). Both variants build every book to the same tops and the same
prints (checked before the figures are taken). The REST snapshot goes to the books untimed, as
the connection's REST answer does.

*The frame path* (`frame_path`): the same frames as the reader hands them over, a `WsFrame`
each, into a `VenueConnection` over the live `BinanceTransport` (its dispatch, the decode, the
transport's queue and poll, the routing into a `FeedEvent`), whose tell to the book runs the
book actor in place: everything the loop thread does for a frame between the websocket's text
and the subscribers' mailboxes, except the runtime's hops. Timed per frame in CPU time, and
counted in instructions under cachegrind (`--instructions`: one pass, from cold memos, less the
same process's setup: the figure the machine's load cannot move).
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from actors.execution.venue_connection import ConnectionConfig, VenueConnection, VenuePeers
from actors.market.book_actor import OrderBookActor
from actors.market.book_feed import BookConfig
from protocols import codec
from protocols.feed import FeedEvent
from protocols.instruments import InstrumentSpec
from protocols.recording import iter_lines
from protocols.venues import binance
from supervision.venues.binance.io import WsFrame
from supervision.venues.binance.transport import BinanceSettings, BinanceTransport

__all__ = ["DECODERS", "cold_memos", "frame_path", "frame_path_instructions", "frame_path_only",
           "frame_path_runs", "frame_path_summary", "frame_stage", "frames_of",
           "print_frame_path", "print_frame_stage", "run", "summary"]

Decode = Callable[[str], Any]


def frames_of(path: Path, clones: int) -> list[tuple[int, Any, list[str]]]:
    """Per recorded line: (ts, the REST snapshot or None, the frames of every clone), the frames
    written as the fake venue writes them."""
    out: list[tuple[int, Any, list[str]]] = []
    for ts, raw in iter_lines(path):
        obj = json.loads(raw)
        if "lastUpdateId" in obj:
            out.append((ts, binance.parse_snapshot(obj), []))
            continue
        data, kind = obj.get("data", {}), obj.get("stream", "").partition("@")[2]
        if data.get("e") not in ("depthUpdate", "trade"):
            continue  # bookTickers: not subscribed
        texts = []
        for i in range(clones):
            symbol = f"S{i:02d}USDT"
            texts.append(json.dumps({"stream": f"{symbol.lower()}@{kind}",
                                     "data": {**data, "s": symbol}}, separators=(",", ":")))
        out.append((ts, None, texts))
    return out


def _transport(clones: int, tick: Decimal, lot: Decimal) -> BinanceTransport:
    names = {f"S{i:02d}USDT": f"S{i:02d}USDT" for i in range(clones)}
    specs = {name: InstrumentSpec(name, "binance", tick, lot, lot, Decimal(0), Decimal(0),
                                  Decimal(0)) for name in names}
    return BinanceTransport(BinanceSettings("binance", "spot", "http://127.0.0.1:1",
                                            "ws://127.0.0.1:2", names, specs),
                            lambda transport, deliver: None)


def _checked(clones: int, tick: Decimal, lot: Decimal) -> Decode:
    return binance.parse_message


def _units(clones: int, tick: Decimal, lot: Decimal) -> Decode:
    return _transport(clones, tick, lot).market_message


DECODERS: dict[str, Callable[[int, Decimal, Decimal], Decode]] = {
    "checked": _checked, "units": _units}


def cold_memos() -> None:
    """Empties the codec's shared memos: a pass then meets every string for the first time, as
    a node does over a run of the recording (its strings are seen once each, clones aside)."""
    for memo in codec._SHARED_MEMOS.values():
        memo.clear()
        memo._old = {}


def frame_stage(lines: list[tuple[int, Any, list[str]]], decoder: str, clones: int, *,
                tick: Decimal, lot: Decimal, context: Any,
                subscribers: list[Any]) -> dict[str, Any]:
    """One pass: per line with frames, (decode s, book s, moved the top) per clone (the clones'
    mean), and every book's final top and prints told."""
    decode = DECODERS[decoder](clones, tick, lot)
    actors = [OrderBookActor(BookConfig(f"S{i:02d}USDT", "binance", tick, lot),
                             subscribers=subscribers) for i in range(clones)]
    for actor in actors:
        actor.on_start(context)
    clock, per_line = time.process_time, []
    first = actors[0].feed.sync.book
    for ts, snapshot, texts in lines:
        context.now_ns = ts
        if snapshot is not None:
            for actor in actors:
                actor.receive(FeedEvent(actor.config.instrument, snapshot, ts), context)
            continue
        before = first.best_bid, first.best_ask
        decode_s = book_s = 0.0
        levels = 0
        for actor, sent in zip(actors, texts[:clones], strict=True):
            text = (sent + " ")[:-1]  # a fresh object, as the socket's read makes it
            start = clock()
            message = decode(text)
            event = FeedEvent(actor.config.instrument, message, ts)
            middle = clock()
            actor.receive(event, context)
            book_s += clock() - middle
            decode_s += middle - start
            levels = _levels(message)
        depth = '"depthUpdate"' in texts[0]
        per_line.append((decode_s / clones, book_s / clones, depth,
                         depth and (first.best_bid, first.best_ask) != before, levels))
    return {"per_line": per_line, "tops": [actor.feed.top(5) for actor in actors],
            "told": dict(subscribers[0].told)}


# A depth diff's size in levels (bids and asks), lower bounds: the figures by size show what a
# large diff costs, which the p50 over every diff hides (most diffs have 2-20 levels).
SIZES = (0, 20, 60, 160)


def size_name(levels: int) -> str:
    """The size class of a diff of `levels` levels: "0-19", "20-59", "60-159" or "160+"."""
    low = max(s for s in SIZES if s <= levels)
    upper = SIZES.index(low) + 1
    return f"{low}-{SIZES[upper] - 1}" if upper < len(SIZES) else f"{low}+"


def _levels(message: Any) -> int:
    """A depth diff's levels, the deep ones the live decode leaves unconverted included."""
    deep = getattr(message, "deep", None)
    return len(getattr(message, "bids", ())) + len(getattr(message, "asks", ())) + (
        0 if deep is None else len(deep.bids) + len(deep.asks))


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per frame the best of the passes, then the figures over the depth frames, the
    top-moving diffs and the trades, and over the depth diffs by size in levels (`SIZES`;
    `us_per_level`: decode and book over the class's levels) (us of CPU per frame, per
    book)."""
    lines = runs[0]["per_line"]
    best = [(min(r["per_line"][i][0] for r in runs), min(r["per_line"][i][1] for r in runs))
            for i in range(len(lines))]

    def figures(pick: Callable[[tuple[float, float, bool, bool, int]], bool]) -> dict[str, float]:
        chosen = [(b, line[4]) for b, line in zip(best, lines, strict=True) if pick(line)]
        decode, book = [d * 1e6 for (d, _), _ in chosen], [b * 1e6 for (_, b), _ in chosen]
        both = [d + b for d, b in zip(decode, book, strict=True)]
        levels = sum(n for _, n in chosen)
        return {"frames": len(chosen),
                "decode_p50": statistics.median(decode), "decode_mean": statistics.mean(decode),
                "book_p50": statistics.median(book), "book_mean": statistics.mean(book),
                "both_p50": statistics.median(both), "both_mean": statistics.mean(both),
                "both_max": max(both), "levels_p50": statistics.median(n for _, n in chosen),
                "decode_us_per_level": sum(decode) / levels if levels else 0.0,
                "book_us_per_level": sum(book) / levels if levels else 0.0}

    out = {"top_moving_diff": figures(lambda line: line[3]),
           "depth": figures(lambda line: line[2]),
           "trade": figures(lambda line: not line[2])}
    for size in sorted({size_name(line[4]) for line in lines if line[2]},
                       key=lambda name: int(name.split("-")[0].rstrip("+"))):
        out[f"diff_{size}"] = figures(
            lambda line, size=size: line[2] and size_name(line[4]) == size)  # type: ignore[misc]
    return out


def run(path: Path, clone_counts: list[int], passes: int, *, tick: Decimal, lot: Decimal,
        context: Callable[[], Any], subscribers: Callable[[], list[Any]]) -> dict[str, Any]:
    """Every decoder over `passes` passes for each number of clones, the decoders alternated
    pass by pass and every pass from cold memos; the books they build checked to agree."""
    lines = frames_of(path, max(clone_counts))
    out: dict[str, Any] = {}
    for clones in clone_counts:
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in DECODERS}
        for _ in range(passes):
            for name in DECODERS:
                cold_memos()
                runs[name].append(frame_stage(lines, name, clones, tick=tick, lot=lot,
                                              context=context(), subscribers=subscribers()))
        reference = runs["checked"][0]
        assert all((r["tops"], r["told"]) == (reference["tops"], reference["told"])
                   for name in runs for r in runs[name]), "the decodes built different books"
        for name, done in runs.items():
            out[f"{name}_{clones}_{'clones' if clones > 1 else 'book'}"] = summary(done)
    return out


def print_frame_stage(stage: dict[str, dict[str, Any]], passes: int) -> None:
    print(f"\nthe decode and book stages from the frame's text (the connection's decode, then "
          f"the book actor), CPU us per frame per book, best of {passes} passes per frame")
    print(f"{'run':<18} {'frames':<16} {'count':>6} {'levels':>6} {'decode p50':>10} "
          f"{'book p50':>9} {'both p50':>9} {'both mean':>10} {'ns/level dec':>12} "
          f"{'book':>6}")
    for name, run in stage.items():
        for kind, f in run.items():
            per_level = (f"{f['decode_us_per_level'] * 1e3:>12.0f} "
                         f"{f['book_us_per_level'] * 1e3:>6.0f}") if kind != "trade" else ""
            print(f"{name:<18} {kind:<16} {f['frames']:>6} {f['levels_p50']:>6.0f} "
                  f"{f['decode_p50']:>10.1f} {f['book_p50']:>9.1f} {f['both_p50']:>9.1f} "
                  f"{f['both_mean']:>10.1f} {per_level}")


class _InPlace:
    """A book's ref whose tell runs the book actor at once, in its own context."""

    __slots__ = ("actor", "context", "name")

    def __init__(self, actor: OrderBookActor, context: Any) -> None:
        self.actor, self.context, self.name = actor, context, actor.config.instrument

    def tell(self, message: Any) -> None:
        self.actor.receive(message, self.context)


def frame_path(lines: list[tuple[int, Any, list[str]]], clones: int, *, tick: Decimal,
               lot: Decimal, context: Callable[[], Any],
               subscribers: list[Any]) -> dict[str, Any]:
    """One pass of every frame, a `WsFrame` each, through the venue connection into the clones'
    book actors. Returns per line with frames (CPU s per frame, the clones' mean; a depth frame;
    it moved the first book's top), every book's final top and the prints told."""
    transport = _transport(clones, tick, lot)  # never opened: frames are all it is handed
    book_context, connection_context = context(), context()
    actors = [OrderBookActor(BookConfig(f"S{i:02d}USDT", "binance", tick, lot),
                             subscribers=subscribers) for i in range(clones)]
    for actor in actors:
        actor.on_start(book_context)
    connection = VenueConnection(ConnectionConfig("binance"), transport, VenuePeers(
        books={actor.config.instrument: _InPlace(actor, book_context) for actor in actors}))
    receive, clock, per_line = connection.receive, time.process_time, []
    first = actors[0].feed.sync.book
    for ts, snapshot, texts in lines:
        book_context.now_ns = connection_context.now_ns = ts
        if snapshot is not None:
            for actor in actors:
                actor.receive(FeedEvent(actor.config.instrument, snapshot, ts), book_context)
            continue
        before = first.best_bid, first.best_ask
        frames = [WsFrame("market", (text + " ")[:-1], ts) for text in texts[:clones]]
        start = clock()
        for frame in frames:
            receive(frame, connection_context)
        elapsed = clock() - start
        depth = '"depthUpdate"' in texts[0]
        per_line.append((elapsed / clones, depth,
                         depth and (first.best_bid, first.best_ask) != before))
    return {"per_line": per_line, "tops": [actor.feed.top(5) for actor in actors],
            "told": dict(subscribers[0].told)}


def frame_path_summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per frame the best of the passes; us of CPU per frame per book, p50 and mean, over the
    top-moving diffs, every depth frame, the trades and every frame."""
    lines = runs[0]["per_line"]
    best = [min(r["per_line"][i][0] * 1e6 for r in runs) for i in range(len(lines))]
    kinds: dict[str, Callable[[tuple[float, bool, bool]], bool]] = {
        "top_moving_diff": lambda line: line[2], "depth": lambda line: line[1],
        "trade": lambda line: not line[1], "every": lambda line: True}
    out = {}
    for kind, pick in kinds.items():
        chosen = [b for b, line in zip(best, lines, strict=True) if pick(line)]
        out[kind] = {"frames": len(chosen), "p50": statistics.median(chosen),
                     "mean": statistics.mean(chosen)}
    return out


def print_frame_path(summary: dict[str, Any], clones: int, passes: int) -> None:
    print(f"\nthe frame path: WsFrame -> VenueConnection (Binance transport, decode, routing) -> "
          f"book actor, {clones} clones, CPU us per frame per book, best of {passes} passes")
    print(f"{'frames':<16} {'count':>7} {'p50':>7} {'mean':>7}")
    for kind, f in summary.items():
        print(f"{kind:<16} {f['frames']:>7} {f['p50']:>7.1f} {f['mean']:>7.1f}")


def frame_path_instructions(argv: list[str], passes_flag: str) -> int:
    """Instructions of one frame-path pass under cachegrind: the run of `argv` (a command that
    runs `passes_flag N` passes and nothing else) with two passes, less the run with one."""
    counts = []
    for passes in (1, 2):
        out = subprocess.run(
            ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
             sys.executable, *argv, passes_flag, str(passes)],
            capture_output=True, text=True, check=True,
            env={**os.environ, "PYTHONHASHSEED": "0"})
        found = re.search(r"I\s+refs:\s+([\d,]+)", out.stderr)
        assert found is not None, out.stderr[-2000:]
        counts.append(int(found.group(1).replace(",", "")))
    return counts[1] - counts[0]


def frame_path_runs(path: Path, clones: int, passes: int, *, tick: Decimal, lot: Decimal,
                    context: Callable[[], Any],
                    subscribers: Callable[[], list[Any]]) -> dict[str, Any]:
    """The frame path's CPU per frame, best of `passes` passes from cold memos, the passes
    checked to build the same books."""
    lines = frames_of(path, clones)
    runs = []
    for _ in range(passes):
        cold_memos()
        runs.append(frame_path(lines, clones, tick=tick, lot=lot, context=context,
                               subscribers=subscribers()))
    assert all((r["tops"], r["told"]) == (runs[0]["tops"], runs[0]["told"]) for r in runs)
    return frame_path_summary(runs)


def frame_path_only(data: Path, recording: str, clones: int, passes: int | None,
                    json_path: Path | None, *, tick: Decimal, lot: Decimal,
                    context: Callable[[], Any], subscribers: Callable[[], list[Any]]) -> int:
    """`benchmarks.book --frame-path-passes N`: N passes and nothing else (what cachegrind
    counts); `--instructions`: the count of one pass, less the process's setup."""
    lines = frames_of(data / recording, clones)
    if passes:
        for _ in range(passes):
            cold_memos()
            frame_path(lines, clones, tick=tick, lot=lot, context=context,
                       subscribers=subscribers())
        return 0
    frames = sum(len(texts) for _, _, texts in lines)
    count = frame_path_instructions(
        ["-m", "benchmarks.book", "--data", str(data), "--books", str(clones)],
        "--frame-path-passes")
    print(f"the frame path, one pass ({frames:,} frames, {clones} clones): {count:,} "
          f"instructions, {count / frames:,.0f} a frame")
    if json_path:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps({"frame_path_instructions": count, "frames": frames,
                                         "books": clones}) + "\n")
    return 0
