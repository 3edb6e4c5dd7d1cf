"""Spans of a recording: the lines between two moments of market time, as a recording of their own.

    cut = cut_recording(Path("btc.gz"), Span(60, 120), Path("out/data"))   # 60 s to 120 s

A sweep over one span, or a walk-forward that optimises on one span and reports on the next,
replays a piece of a recording through the ordinary backtest. `cut_recording` writes that piece
as a recording in the same format (gzip text, `<local_ts_ns> <raw json>`), so the backtest, the
catalog and every report read it as they read the whole file. Times are seconds of market time
from the recording's first line (its receive timestamps); a span keeps the lines with
`start <= t < end`.

A book cannot start from the middle of a Binance diff stream: it needs a snapshot to join. So a
span that starts after the recording's own snapshot opens with one made at its start: the depth
the recording's snapshot and diffs describe at that moment (the book's own rules: diffs with
`u <= lastUpdateId` are old, a quantity of 0 deletes the level), stamped with the update id
of the last diff applied, followed by that diff once more. A spot book drops the repeated diff
(it is not newer than the snapshot); a USD-M book joins on it (`U <= lastUpdateId <= u`), and
both then chain onto the span's first diff. Hyperliquid's `l2Book` frames are whole books, so
their spans need nothing added. A span that starts before the recording's snapshot is left as
it is: the books buffer its diffs and join the snapshot when it comes.

The cut is named by the source file's content hash and the span, so a sweep cuts once and a
retried task finds the file already there (written to a temporary name, then renamed).
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import attrs

from protocols.codec import DecodeError
from protocols.errors import TroupeError
from protocols.recording import classify
from protocols.venues import binance
from supervision.catalog.store import content_hash
from supervision.sources.recording_reader import is_ticker_line, iter_recording

__all__ = ["Span", "SpanError", "cut_recording", "market_seconds", "parse_span"]

SECOND = 1_000_000_000


class SpanError(ValueError, TroupeError):
    """A span that cannot be read or cut (a user mistake: one line, no traceback)."""


@attrs.frozen(slots=True)
class Span:
    """Seconds of market time from the recording's first line; `end` None: to the end."""

    start: float = 0.0
    end: float | None = None

    def __attrs_post_init__(self) -> None:
        if self.start < 0 or (self.end is not None and self.end <= self.start):
            raise SpanError(f"span {self.label()}: need 0 <= start < end")

    def label(self) -> str:
        return f"{self.start:g}:{'' if self.end is None else f'{self.end:g}'}"

    @property
    def whole(self) -> bool:
        return self.start == 0 and self.end is None


def parse_span(text: str) -> Span:
    """`START:END` seconds (`60:120`, `:300`, `60:`) as a Span; SpanError if it is not one."""
    start, sep, end = text.partition(":")
    try:
        if not sep:
            raise ValueError(text)
        low = float(start) if start.strip() else 0.0
        high = float(end) if end.strip() else None
    except ValueError:
        raise SpanError(f"span {text!r}: expected START:END in seconds of market time, "
                        "e.g. 0:120 or 120:") from None
    return Span(low, high)


def market_seconds(path: Path) -> float:
    """The recording's length in market time: from its first to its last timestamped line."""
    first = last = None
    for _, ts, _ in iter_recording(path):
        if ts is not None:
            first = ts if first is None else first
            last = ts
    if first is None or last is None:
        raise SpanError(f"{path}: no timestamped line")
    return (last - first) / SECOND


class _Depth:
    """A Binance book as decimal strings, kept by the recording's own snapshot and diffs."""

    def __init__(self) -> None:
        self.sides: tuple[dict[str, str], dict[str, str]] = ({}, {})
        self.last_id: int | None = None  # None until the recording's snapshot
        self.last_diff: str | None = None  # the raw text of the last diff applied
        self._early: list[tuple[binance.DepthDiff, str]] = []

    def snapshot(self, message: binance.DepthSnapshot) -> None:
        self.sides = ({p: q for p, q in message.bids}, {p: q for p, q in message.asks})
        self.last_id = message.last_update_id
        early, self._early = self._early, []
        for diff, raw in early:
            self.diff(diff, raw)

    def diff(self, message: binance.DepthDiff, raw: str) -> None:
        if self.last_id is None:
            self._early.append((message, raw))
            return
        if message.final_update_id <= self.last_id:
            return
        for side, levels in zip(self.sides, (message.bids, message.asks), strict=True):
            for price, qty in levels:
                if Decimal(qty) == 0:
                    side.pop(price, None)
                else:
                    side[price] = qty
        self.last_id, self.last_diff = message.final_update_id, raw

    def snapshot_line(self) -> str:
        bids = sorted(self.sides[0].items(), key=lambda level: Decimal(level[0]), reverse=True)
        asks = sorted(self.sides[1].items(), key=lambda level: Decimal(level[0]))
        return json.dumps({"lastUpdateId": self.last_id, "bids": [list(b) for b in bids],
                           "asks": [list(a) for a in asks]}, separators=(",", ":"))


def _track(depth: _Depth, raw: str) -> None:
    if is_ticker_line(raw) or ('depth' not in raw and 'lastUpdateId' not in raw):
        return
    try:
        message = classify(raw)
    except DecodeError:
        return
    if isinstance(message, binance.DepthSnapshot):
        depth.snapshot(message)
    elif isinstance(message, binance.DepthDiff):
        depth.diff(message, raw)


def _cut_lines(path: Path, span: Span) -> Iterator[str]:
    depth = _Depth()
    first: int | None = None
    opened = False
    for _, ts, raw in iter_recording(path):
        if ts is None:
            continue
        first = ts if first is None else first
        t = (ts - first) / SECOND
        if span.end is not None and t >= span.end:
            break
        if t < span.start:
            _track(depth, raw)
            continue
        if not opened:
            opened = True
            if depth.last_id is not None:
                yield f"{ts} {depth.snapshot_line()}\n"
            if depth.last_diff is not None:
                yield f"{ts} {depth.last_diff}\n"
        yield f"{ts} {raw}\n"


def cut_recording(path: Path, span: Span, directory: Path) -> Path:
    """The recording of `path` within `span`, written under `directory` (reused when there);
    the whole file itself for the whole span. SpanError if the span holds no line."""
    if span.whole:
        return path
    directory.mkdir(parents=True, exist_ok=True)
    label = span.label().replace(":", "-")
    out = directory / f"{content_hash(path)[:16]}_{label}.gz"
    if out.is_file():
        return out
    temporary = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    lines = 0
    with gzip.open(temporary, "wt", encoding="utf-8") as f:
        for line in _cut_lines(path, span):
            f.write(line)
            lines += 1
    if not lines:
        temporary.unlink()
        raise SpanError(f"{path}: no line in span {span.label()} (seconds of market time)")
    temporary.replace(out)
    return out
