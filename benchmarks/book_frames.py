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

Both variants build every book to the same tops and the same prints (checked before the figures
are taken). The REST snapshot goes to the books untimed, as the connection's REST answer does.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from actors.market.book_actor import BookConfig, OrderBookActor
from protocols import codec
from protocols.feed import FeedEvent
from protocols.instruments import InstrumentSpec
from protocols.recording import iter_lines
from protocols.venues import binance
from supervision.venues.binance.transport import BinanceSettings, BinanceTransport

__all__ = ["DECODERS", "cold_memos", "frame_stage", "frames_of", "print_frame_stage", "run",
           "summary"]

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
        for actor, sent in zip(actors, texts[:clones], strict=True):
            text = (sent + " ")[:-1]  # a fresh object, as the socket's read makes it
            start = clock()
            message = decode(text)
            event = FeedEvent(actor.config.instrument, message, ts)
            middle = clock()
            actor.receive(event, context)
            book_s += clock() - middle
            decode_s += middle - start
        depth = '"depthUpdate"' in texts[0]
        per_line.append((decode_s / clones, book_s / clones, depth,
                         depth and (first.best_bid, first.best_ask) != before))
    return {"per_line": per_line, "tops": [actor.feed.top(5) for actor in actors],
            "told": dict(subscribers[0].told)}


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per frame the best of the passes, then the figures over the depth frames, the
    top-moving diffs and the trades (us of CPU per frame, per book)."""
    lines = runs[0]["per_line"]
    best = [(min(r["per_line"][i][0] for r in runs), min(r["per_line"][i][1] for r in runs))
            for i in range(len(lines))]

    def figures(pick: Callable[[tuple[float, float, bool, bool]], bool]) -> dict[str, float]:
        chosen = [b for b, line in zip(best, lines, strict=True) if pick(line)]
        decode, book = [d * 1e6 for d, _ in chosen], [b * 1e6 for _, b in chosen]
        both = [d + b for d, b in zip(decode, book, strict=True)]
        return {"frames": len(chosen),
                "decode_p50": statistics.median(decode), "decode_mean": statistics.mean(decode),
                "book_p50": statistics.median(book), "book_mean": statistics.mean(book),
                "both_p50": statistics.median(both), "both_mean": statistics.mean(both),
                "both_max": max(both)}

    return {"top_moving_diff": figures(lambda line: line[3]),
            "depth": figures(lambda line: line[2]),
            "trade": figures(lambda line: not line[2])}


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
    print(f"{'run':<18} {'frames':<16} {'decode p50':>10} {'book p50':>9} {'both p50':>9} "
          f"{'both mean':>10}")
    for name, run in stage.items():
        for kind in ("top_moving_diff", "depth", "trade"):
            f = run[kind]
            print(f"{name:<18} {kind:<16} {f['decode_p50']:>10.1f} {f['book_p50']:>9.1f} "
                  f"{f['both_p50']:>9.1f} {f['both_mean']:>10.1f}")
