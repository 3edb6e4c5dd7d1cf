"""A recording's Binance depth diffs and trades decoded straight into ticks and lots.

A backtest from the raw file used to decode a trade into Decimals (`protocols.recording.classify`)
only for the simulated venue to turn them back into strings and count them in ticks and lots
(`BookFeed.in_units`), and a depth diff's levels into a checked tuple of string pairs only for
the venue to convert them. `UnitDecoder` does that one conversion at the source, for the
instruments whose tick and lot it is given: a depth diff comes out as a `DepthDiffInUnits`, a
trade (spot `trade` or USD-M `aggTrade`) as a `TradeInUnits`, exactly as the venue would have
made them, through the same process-wide memos of the codec's `LevelConverter` (the strings are
counted exactly, never parsed as floats). The JSON is read with orjson (its C decoder: see
docs/dependencies.md), which gives the same values as the standard library's for a Binance line.

Anything else, and anything the fast path is not sure of (another event, a symbol without
units, a field of the wrong type, a level that is not a pair of strings, a price that is not a
whole number of ticks, JSON orjson refuses), is decoded by `classify` as before: the venue then
converts it or refuses it as it always did, so a backtest makes the same orders, fills and PnL
either way, and a bad line is counted with the same error.

With `head` (the live Binance transport's `DEEP_AFTER`), a depth diff's side of more levels
converts only its first `head`; the rest ride along unconverted as the diff's `deep`
(`protocols.venues.binance.DeepLevels`), for the book to apply after it has published its top
(`actors.market.book_actor`). Without it (backtests, the replay tool) every level is converted.

Each line is a few microseconds of Python on a backtest's and a live node's hot path, so the
fast path is written flat: one function per line (orjson's call aside), the depth diff tested
first, the memos subscripted in place (one dict lookup per string, a C call), a depth level
unpacked as a pair.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import orjson

from protocols.codec import LevelConverter
from protocols.recording import classify
from protocols.venues.binance import DeepLevels, DepthDiffInUnits, TradeInUnits

__all__ = ["UnitDecoder"]

_TRADE_ID = {"trade": "t", "aggTrade": "a"}  # the event's trade id key
_LISTS = frozenset({list})


class UnitDecoder:
    """`decode(raw)`: a recorded line's payload as a message, depth diffs and trades of the
    symbols in `units` (venue symbol -> (tick, lot)) already in ticks and lots."""

    __slots__ = ("_converters", "_head", "_units")

    def __init__(self, units: Mapping[str, tuple[Decimal, Decimal]], *,
                 head: int | None = None) -> None:
        # `head`: a depth diff side of more levels keeps the rest unconverted, as `DeepLevels`
        # (the live transport's books publish their top first); None converts every level.
        self._head = head
        # the converters hold their share of the process's memos while this decoder lives
        self._converters = [LevelConverter(tick, lot) for tick, lot in units.values()]
        self._units = {symbol: (tick, lot, *converter.memos()) for (symbol, (tick, lot)),
                       converter in zip(units.items(), self._converters, strict=True)}

    def decode(self, raw: str) -> Any:
        """The message `classify(raw)` gives, converted as the venue would convert it; a
        DecodeError for a line `classify` refuses."""
        message = self.fast(raw)
        return classify(raw) if message is None else message

    def fast(self, raw: str | bytes) -> Any:
        """The fast path alone: the diff or trade in ticks and lots, or None when it is not
        sure of the line (the caller then decodes it the checked way, which decides and words
        any error). The live Binance transport decodes its market frames with this. One flat
        function (no call per line beyond orjson's): an exception anywhere means not sure (a
        level that is not a pair, a string that does not count, a field missing)."""
        try:
            obj = orjson.loads(raw)
            if type(obj) is not dict or "channel" in obj:  # Hyperliquid's frames name a channel
                return None
            if "stream" in obj:
                data = obj["data"]
                if type(obj["stream"]) is not str or type(data) is not dict:
                    return None
            elif "lastUpdateId" in obj or ("result" in obj and "id" in obj):
                return None
            else:
                data = obj
            event = data.get("e")
            if event == "depthUpdate":
                symbol, event_ms, first, final, bids, asks = data["s"], data["E"], data["U"], \
                    data["u"], data["b"], data["a"]
                units = self._units.get(symbol)
                # USD-M's pu and T: absent, or ints (a null is refused by the checked decode)
                prev, transaction = data.get("pu"), data.get("T")
                if units is None or type(event_ms) is not int or type(first) is not int \
                        or type(final) is not int or type(bids) is not list \
                        or type(asks) is not list \
                        or ("pu" in data and type(prev) is not int) \
                        or ("T" in data and type(transaction) is not int):
                    return None
                # Only lists may be unpacked as levels (a two-letter string would unpack too).
                # A level of more than two items, which the checked decode reads, fails the
                # unpacking: it goes to `classify`, and so does a string that does not count
                # (DecodeError) or is not one.
                if not set(map(type, bids)) <= _LISTS or not set(map(type, asks)) <= _LISTS:
                    return None
                tick, lot, ticks, lots = units
                head, deep = self._head, None
                if head is not None and (len(bids) > head or len(asks) > head):
                    deep = DeepLevels(bids[head:], asks[head:], ticks, lots)
                    bids, asks = bids[:head], asks[:head]
                return DepthDiffInUnits(
                    symbol, event_ms, first, final, tick, lot,
                    tuple([(ticks[p], lots[q]) for p, q in bids]),
                    tuple([(ticks[p], lots[q]) for p, q in asks]), prev, transaction, deep)
            id_key = _TRADE_ID.get(event)  # type: ignore[arg-type]
            if id_key is None:
                return None
            symbol, trade_id, price, qty, trade_ms, event_ms, maker = data["s"], \
                data[id_key], data["p"], data["q"], data["T"], data["E"], data["m"]
            units = self._units.get(symbol)
            if units is None or type(trade_id) is not int or type(price) is not str \
                    or type(qty) is not str or type(trade_ms) is not int \
                    or type(event_ms) is not int or type(maker) is not bool:
                return None
            tick, lot, ticks, lots = units
            return TradeInUnits(symbol, trade_id, ticks[price], lots[qty], tick, lot, trade_ms,
                                event_ms, maker)
        except Exception:  # not sure of it
            return None
