"""Reader for recorded venue feeds: gzip text, one `<local_receive_ns> <raw venue JSON>` per line.

Reading is separated from parsing so a replay can time or filter raw lines without paying for
decoding, and so a decode error can name the exact line it came from.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator, Mapping
from os import PathLike
from typing import Any

from protocols.codec import DecodeError, load_json, require_mapping
from protocols.venues import binance, hyperliquid

Message = binance.BinanceMessage | hyperliquid.HyperliquidMessage


def iter_lines(path: str | PathLike[str]) -> Iterator[tuple[int, str]]:
    """Yield `(local_ts_ns, raw_json)` per line. Blank lines are skipped; anything else that does
    not start with an integer timestamp and a space is a DecodeError naming the line."""
    for _, ts, raw in _numbered_lines(path):
        yield ts, raw


def _numbered_lines(path: str | PathLike[str]) -> Iterator[tuple[int, int, str]]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for lineno, text in enumerate(f, 1):
            line = text.rstrip("\r\n")
            if not line:
                continue
            ts, sep, raw = line.partition(" ")
            if not sep or not ts.isdigit() or not raw:
                raise DecodeError(
                    f"{path}:{lineno}: expected '<local_ts_ns> <json>', got {line[:60]!r}"
                )
            yield lineno, int(ts), raw


def classify(raw: str | bytes | Mapping[str, Any]) -> Message:
    """Parse one raw frame from either venue, telling them apart by shape.

    Hyperliquid frames have `channel`; Binance frames are combined-stream wrappers (`stream`),
    REST snapshots (`lastUpdateId`) or bare events.
    """
    obj = load_json(raw, "recorded message") if isinstance(raw, str | bytes) else raw
    obj = require_mapping(obj, "recorded message")
    if "channel" in obj:
        return hyperliquid.parse_message(obj)
    return binance.parse_message(obj)


def iter_messages(path: str | PathLike[str]) -> Iterator[tuple[int, Message]]:
    """Yield `(local_ts_ns, message)`; a decode error is re-raised with the line's position."""
    for lineno, ts, raw in _numbered_lines(path):
        try:
            yield ts, classify(raw)
        except DecodeError as exc:
            raise DecodeError(f"{path}:{lineno}: {exc}") from None
