"""Reading a recording file: lazily, a block at a time, and telling a damaged file in one line.

A recording (`protocols.recording` format) is gzip text, one `<local_ts_ns> <raw json>` per
line. `RecordingReader` (and `iter_recording`) hand out its lines as `Line`s without reading
the whole file: zlib-ng inflates 64 kB of compressed data at a time, the text is split by hand
(universal newlines, bad UTF-8 replaced, as `gzip.open(..., "rt")` reads it), and bookTicker
lines can be left out before anything decodes them (`is_ticker_line`).

A damaged file is another matter: a gzip stream that ends early (a copy cut short, a recorder
killed mid-write) or a file that is not gzip at all raises `RecordingError`, one line naming
the file and the last whole line ("FILE: truncated after line N (the gzip stream ends early)",
"FILE: not a gzip file"), so no tool mistakes half a day for a whole one. `check_recording`
finds that out in one cheap pass (inflating only, ~10 ms for the shipped 11 MB day) before a
backtest trades. The replay actor that reads through this is `supervision.sources.replay`.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from os import PathLike
from pathlib import Path
from typing import Any, BinaryIO, cast

from zlib_ng import zlib_ng

from protocols.errors import TroupeError

__all__ = ["Line", "RecordingError", "RecordingReader", "check_recording", "is_ticker_line",
           "iter_recording"]

_GZIP_MAGIC = b"\x1f\x8b"
# zlib-ng's error is not zlib's (its stub calls it an instance: it is a class)
_INFLATE_ERRORS: tuple[type[Exception], ...] = (zlib.error, cast("type[Exception]", zlib_ng.error))
_READ_ERRORS: tuple[type[Exception], ...] = (OSError, EOFError, *_INFLATE_ERRORS)
_BLOCK = 1 << 16  # compressed bytes read at a time (some 600 kB inflated)


class RecordingError(TroupeError, ValueError):
    """A recording file that is damaged as a whole (truncated, not gzip): said in one line."""


def check_recording(path: str | PathLike[str]) -> None:
    """Raise `RecordingError` if `path` is not a whole gzip stream. Only decompresses (no
    parsing), so it costs a small fraction of a replay; an empty file passes."""
    damage = _gzip_damage(Path(path))
    if damage is not None:
        raise damage


def _gzip_damage(path: Path) -> RecordingError | None:
    """What is wrong with `path` as a gzip stream (None: nothing), naming the last whole line."""
    lines = 0
    with open(path, "rb") as f:
        if f.read(2) not in (_GZIP_MAGIC, b""):
            return RecordingError(f"{path}: not a gzip file")
        f.seek(0)
        try:
            for block in _inflated(f):
                lines += block.count(b"\n")
        except _INFLATE_ERRORS as exc:
            return RecordingError(f"{path}: damaged gzip data after line {lines} ({exc})")
        except EOFError:
            return RecordingError(f"{path}: truncated after line {lines} "
                                  f"(the gzip stream ends early)")
    return None


def _inflated(f: BinaryIO) -> Iterator[bytes]:
    """The inflated bytes of the gzip stream `f`, a block at a time. Concatenated members are
    one stream, as `gzip.open` reads them; a stream that ends early raises EOFError, damaged
    data one of `_INFLATE_ERRORS`. zlib-ng inflates a recording in under half zlib's time
    (docs/dependencies.md), with zlib's API and words."""
    inflate = zlib_ng.decompressobj(31)
    begun = False  # the current member has had input
    while chunk := f.read(_BLOCK):
        while chunk:
            begun = True
            block = inflate.decompress(chunk)
            chunk = b""
            if inflate.eof:
                chunk, inflate, begun = inflate.unused_data, zlib_ng.decompressobj(31), False
            if block:
                yield block
    if begun and not inflate.eof:
        raise EOFError("the gzip stream ends early")


# (line number, ts or None if malformed, raw json or an error text; a catalog's decoded message)
Line = tuple[int, int | None, Any]


def iter_recording(path: str | PathLike[str]) -> Iterator[Line]:
    """A recording's lines, lazily and tolerantly: a line without `<int ts> <json>` comes back
    with ts None and an error text. A damaged file raises `RecordingError` where it is met."""
    return iter(RecordingReader(path))


def is_ticker_line(raw: str) -> bool:
    """Whether a raw Binance line is certainly a bookTicker event, told without decoding it: a
    combined-stream wrapper names its stream first, and a USD-M event names its type first.
    Other spellings are decoded and dropped by type, so a miss here costs time, never data."""
    if raw.startswith('{"stream":"'):
        return raw.find('@bookTicker"', 11, 80) != -1
    return raw.startswith('{"e":"bookTicker"')


class RecordingReader:
    """Iterates a recording's `Line`s and knows how far through the file it is (`fraction`,
    from the compressed bytes read: a progress bar needs no first pass to count lines).
    `skip_tickers` leaves out bookTicker lines before they are decoded (`skipped` counts
    them)."""

    def __init__(self, path: str | PathLike[str], *, skip_tickers: bool = False) -> None:
        self.path = Path(path)
        self.skip_tickers = skip_tickers
        self.skipped = 0
        self.lines = 0  # lines read so far (to the end of a block), skipped ones included
        self._raw: Any = None
        try:
            self._size = max(self.path.stat().st_size, 1)
        except OSError:
            self._size = 1

    def fraction(self) -> float:
        raw = self._raw
        if raw is None or raw.closed:
            return 0.0 if raw is None else 1.0
        return min(raw.tell() / self._size, 1.0)

    def __iter__(self) -> Iterator[Line]:
        lineno = 0
        skip = self.skip_tickers
        try:
            with open(self.path, "rb") as raw:
                self._raw = raw
                for text in _texts(raw):
                    lines = text.split("\n")
                    lines.pop()  # after the block's last line end: nothing
                    skipped, first = 0, lineno + 1
                    for lineno, line in enumerate(lines, first):
                        if not line:
                            continue
                        at = line.find(" ") + 1  # where the JSON starts
                        # `is_ticker_line` of the JSON, read in place: two thirds of a Binance
                        # recording's lines end here, and a copy of each cost a tenth of this
                        if skip and at > 1 and ((line.startswith('{"stream":"', at) and line.find(
                                '@bookTicker"', at + 11, at + 80) != -1) or line.startswith(
                                '{"e":"bookTicker"', at)) and line[:at - 1].isdigit():
                            skipped += 1
                        elif at > 1 and at < len(line) and (ts := line[:at - 1]).isdigit():
                            yield lineno, int(ts), line[at:]
                        else:
                            yield lineno, None, \
                                f"expected '<local_ts_ns> <json>', got {line[:60]!r}"
                    self.lines = lineno  # read on by a block at a time
                    self.skipped += skipped
        except _READ_ERRORS as exc:
            # Where it broke, worded as `check_recording` words it (a second pass, here only)
            damage = _gzip_damage(self.path) if self.path.is_file() else None
            raise damage or RecordingError(f"{self.path}: unreadable recording: {exc}") from None


def _texts(raw: BinaryIO) -> Iterator[str]:
    """A gzip file's text in blocks of whole lines, each ending with "\n": the lines of
    `gzip.open(path, "rt", encoding="utf-8", errors="replace")`, universal newlines included.
    Inflating big blocks and splitting them by hand costs half what gzip's reader and a text
    wrapper over it cost; a block is decoded up to its last newline, so no character is cut."""
    if raw.read(2) not in (_GZIP_MAGIC, b""):
        raise OSError("not a gzip file")
    raw.seek(0)
    tail = b""  # inflated bytes after the last newline
    for block in _inflated(raw):
        cut = block.rfind(b"\n") + 1
        if not cut:
            tail += block
            continue
        text = (tail + block[:cut] if tail else block[:cut]).decode("utf-8", "replace")
        tail = block[cut:]
        if "\r" in text:  # "\r\n" is one line end, a lone "\r" one too
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        yield text
    if tail:  # the last line has no line end
        text = (tail + b"\n").decode("utf-8", "replace")
        yield text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text
