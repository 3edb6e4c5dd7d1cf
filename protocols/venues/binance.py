"""Binance spot and USD-M futures wire format: depth diffs, the REST depth snapshot, trades,
aggregate trades, bookTicker and (USD-M) mark price with funding.

Pure parse functions from raw JSON (text or already-decoded objects) to frozen message classes.
Field names are spelled out (`first_update_id` rather than `U`) and each docstring gives the wire
name, so sync code reads like the venue's documented rules without a decoder ring.

Depth levels stay as the venue's decimal strings: the book converts them once, straight to
integer ticks and lots, with the instrument's tick and lot. Trades and tickers carry Decimals;
`DepthDiffInUnits` and `TradeInUnits` are a diff and a trade after that one conversion.

USD-M futures speak the same dialect with three differences that matter here: a depth diff
carries `pu` (the previous event's final update id), and the book chains on `pu == previous u`
rather than on `U == previous u + 1` (futures update ids are not consecutive); events carry a
transaction time `T`; and the public trade stream is `aggTrade`, parsed into the same `Trade`
(its aggregate id as `trade_id`) so every consumer handles spot and futures prints alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import attrs

from protocols.codec import (
    DecodeError,
    Side,
    decimal_field,
    field,
    levels_field,
    load_json,
    require_mapping,
)

Levels = tuple[tuple[str, str], ...]


@attrs.frozen(slots=True)
class DepthDiff:
    """`depthUpdate`: absolute quantities per price level; a quantity of 0 deletes the level.

    `prev_final_update_id` (pu) is present on USD-M futures only: its presence is what selects
    the futures sync rule in `actors.market.l2_book.BinanceBookSync`.
    """

    symbol: str  # s
    event_time_ms: int  # E
    first_update_id: int  # U
    final_update_id: int  # u
    bids: Levels  # b
    asks: Levels  # a
    prev_final_update_id: int | None = None  # pu (USD-M futures)
    transaction_time_ms: int | None = None  # T (USD-M futures)


@attrs.frozen(slots=True)
class DepthDiffInUnits:
    """A `DepthDiff` whose levels are already integer (ticks, lots) of `tick` and `lot`: what a
    depth diff becomes after its one conversion (by the simulated venue, which passes the same
    object on to our book, by a catalog replay, which stores integers, or by the live
    transport's decode of the frame). A book whose units differ treats it as undecodable,
    exactly as it would an off-tick price string."""

    symbol: str
    event_time_ms: int
    first_update_id: int
    final_update_id: int
    tick: Decimal
    lot: Decimal
    bids: tuple[tuple[int, int], ...]
    asks: tuple[tuple[int, int], ...]
    prev_final_update_id: int | None = None
    transaction_time_ms: int | None = None
    # The levels past the first few of each side, not converted yet (`DeepLevels`): only the
    # live transport's decode leaves them so, and only a book that knows it takes such a diff
    # on its chained path; every other reader gets None here and every level in `bids`/`asks`.
    deep: DeepLevels | None = None

    def whole(self) -> DepthDiffInUnits:
        """The diff with every level converted (itself when none is deferred); DecodeError
        for a deferred level that does not count."""
        if self.deep is None:
            return self
        bids, asks = self.deep.convert()
        return attrs.evolve(self, bids=self.bids + bids, asks=self.asks + asks, deep=None)


class DeepLevels:
    """A depth diff's levels past its first few of each side, still as the venue wrote them
    (lists of [price, qty] strings, best first, as Binance sends a diff's sides), with the
    memos that convert them (`protocols.codec.LevelConverter.memos`).

    Why: a diff of hundreds of levels is mostly far from the top, and converting and applying
    every level before the top is published made such a diff's order wait ~0.3 us a level
    (more in a busy node). The book applies the first levels, then more (`split`) while a
    deferred one could be at the top, publishes the top once the rest cannot change it (every
    deferred bid below the new best bid, every deferred ask above the new best ask), and
    applies the rest (`convert`) before it reads or changes its levels again, or when the loop
    next has time. `convert` raises DecodeError for a level that does
    not count, as the decode would have. Compared by identity (it holds the venue's lists)."""

    __slots__ = ("asks", "bids", "lots", "ticks")

    def __init__(self, bids: list[Any], asks: list[Any], ticks: Mapping[str, int],
                 lots: Mapping[str, int]) -> None:
        self.bids, self.asks, self.ticks, self.lots = bids, asks, ticks, lots

    def nearest(self) -> tuple[int | None, int | None]:
        """The first deferred bid's and ask's prices in ticks (None for a side with none
        deferred): with the sides sorted best first, the only ones that could reach the top."""
        ticks = self.ticks
        try:
            return (ticks[self.bids[0][0]] if self.bids else None,
                    ticks[self.asks[0][0]] if self.asks else None)
        except (TypeError, IndexError) as exc:  # a level that is not a list of strings
            raise DecodeError(f"a depth level should be a [price, qty] pair: {exc}") from None

    def split(self, bids: int, asks: int) -> tuple[
            tuple[tuple[int, int], ...], tuple[tuple[int, int], ...], DeepLevels]:
        """The first `bids` and `asks` levels converted, and the levels after them."""
        head = DeepLevels(self.bids[:bids], self.asks[:asks], self.ticks, self.lots)
        converted_bids, converted_asks = head.convert()
        return converted_bids, converted_asks, DeepLevels(self.bids[bids:], self.asks[asks:],
                                                          self.ticks, self.lots)

    def convert(self) -> tuple[tuple[tuple[int, int], ...], tuple[tuple[int, int], ...]]:
        """(bids, asks) in ticks and lots, in the venue's order."""
        ticks, lots = self.ticks, self.lots
        try:
            return (tuple([(ticks[p], lots[q]) for p, q in self.bids]),
                    tuple([(ticks[p], lots[q]) for p, q in self.asks]))
        except DecodeError:
            raise
        except (TypeError, ValueError) as exc:  # a level of one item or three, a number
            raise DecodeError(f"a depth level should be a [price, qty] pair: {exc}") from None

    def __len__(self) -> int:
        return len(self.bids) + len(self.asks)

    def __eq__(self, other: object) -> bool:  # the same levels for the same memos
        return type(other) is DeepLevels and self.bids == other.bids \
            and self.asks == other.asks and self.ticks is other.ticks and self.lots is other.lots

    __hash__ = None  # type: ignore[assignment]  # it holds the venue's (mutable) lists

    def __repr__(self) -> str:
        return f"DeepLevels({len(self.bids)} bids, {len(self.asks)} asks)"


@attrs.frozen(slots=True)
class DepthSnapshot:
    """REST `GET /api/v3/depth` (spot) or `/fapi/v1/depth` (USD-M): the full book as of
    `last_update_id` (lastUpdateId). The futures body also has `E` and `T`, not needed here."""

    last_update_id: int
    bids: Levels
    asks: Levels


@attrs.frozen(slots=True)
class Trade:
    """`trade` (spot) or `aggTrade` (USD-M: `trade_id` is the aggregate id `a`, and one print
    may stand for several fills at one price by one taker). `m` (buyer is maker) means the
    seller hit the bid: the aggressor sold."""

    symbol: str  # s
    trade_id: int  # t
    price: Decimal  # p
    qty: Decimal  # q
    trade_time_ms: int  # T
    event_time_ms: int  # E
    buyer_is_maker: bool  # m

    @property
    def aggressor(self) -> Side:
        return Side.SELL if self.buyer_is_maker else Side.BUY


@attrs.frozen(slots=True)
class TradeInUnits:
    """A `Trade` whose price and quantity are already integer ticks of `tick` and lots of
    `lot`: what a trade becomes after its one conversion (by the simulated venue, which passes
    the same object on to our book, or by the live transport's decode of the frame). A book
    whose units differ treats it as undecodable."""

    symbol: str
    trade_id: int
    price: int  # ticks
    qty: int  # lots
    tick: Decimal
    lot: Decimal
    trade_time_ms: int
    event_time_ms: int
    buyer_is_maker: bool

    @property
    def aggressor(self) -> Side:
        return Side.SELL if self.buyer_is_maker else Side.BUY


@attrs.frozen(slots=True)
class BookTicker:
    """`bookTicker`: best bid and ask. `update_id` (u) is on the same sequence as depth diffs.
    Spot events have no `e`; USD-M ones have `e: bookTicker`, `E` and `T` (not kept)."""

    symbol: str  # s
    update_id: int  # u
    bid_price: Decimal  # b
    bid_qty: Decimal  # B
    ask_price: Decimal  # a
    ask_qty: Decimal  # A


@attrs.frozen(slots=True)
class MarkPrice:
    """USD-M `markPriceUpdate`: mark and index prices, and the funding rate of the current
    period (a decimal string, as the venue states it) with the next funding time."""

    symbol: str  # s
    event_time_ms: int  # E
    mark_price: Decimal  # p
    index_price: Decimal  # i
    funding_rate: str  # r
    next_funding_ms: int  # T


@attrs.frozen(slots=True)
class SubscriptionAck:
    """Reply to a SUBSCRIBE/UNSUBSCRIBE request: `{"result": null, "id": 1}`."""

    request_id: Any
    result: Any


BinanceMessage = DepthDiff | DepthSnapshot | Trade | BookTicker | MarkPrice | SubscriptionAck
AnyDepthDiff = DepthDiff | DepthDiffInUnits
AnyTrade = Trade | TradeInUnits


def parse_depth_diff(data: Any) -> DepthDiff:
    what = "binance depthUpdate"
    data = require_mapping(data, what)
    return DepthDiff(
        symbol=field(data, "s", str, what),
        event_time_ms=field(data, "E", int, what),
        first_update_id=field(data, "U", int, what),
        final_update_id=field(data, "u", int, what),
        bids=levels_field(data, "b", what),
        asks=levels_field(data, "a", what),
        prev_final_update_id=_optional_int(data, "pu", what),
        transaction_time_ms=_optional_int(data, "T", what),
    )


def _optional_int(data: Mapping[str, Any], key: str, what: str) -> int | None:
    return field(data, key, int, what) if key in data else None


def parse_snapshot(data: Any) -> DepthSnapshot:
    what = "binance depth snapshot"
    data = require_mapping(data, what)
    return DepthSnapshot(
        last_update_id=field(data, "lastUpdateId", int, what),
        bids=levels_field(data, "bids", what),
        asks=levels_field(data, "asks", what),
    )


def parse_trade(data: Any) -> Trade:
    return _parse_trade(data, "t", "binance trade")


def parse_agg_trade(data: Any) -> Trade:
    """USD-M `aggTrade` as a `Trade`: `a` (aggregate trade id) becomes `trade_id`."""
    return _parse_trade(data, "a", "binance aggTrade")


def _parse_trade(data: Any, id_key: str, what: str) -> Trade:
    data = require_mapping(data, what)
    return Trade(
        symbol=field(data, "s", str, what),
        trade_id=field(data, id_key, int, what),
        price=decimal_field(data, "p", what),
        qty=decimal_field(data, "q", what),
        trade_time_ms=field(data, "T", int, what),
        event_time_ms=field(data, "E", int, what),
        buyer_is_maker=field(data, "m", bool, what),
    )


def parse_book_ticker(data: Any) -> BookTicker:
    what = "binance bookTicker"
    data = require_mapping(data, what)
    return BookTicker(
        symbol=field(data, "s", str, what),
        update_id=field(data, "u", int, what),
        bid_price=decimal_field(data, "b", what),
        bid_qty=decimal_field(data, "B", what),
        ask_price=decimal_field(data, "a", what),
        ask_qty=decimal_field(data, "A", what),
    )


def parse_mark_price(data: Any) -> MarkPrice:
    what = "binance markPriceUpdate"
    data = require_mapping(data, what)
    return MarkPrice(
        symbol=field(data, "s", str, what),
        event_time_ms=field(data, "E", int, what),
        mark_price=decimal_field(data, "p", what),
        index_price=decimal_field(data, "i", what),
        funding_rate=field(data, "r", str, what),
        next_funding_ms=field(data, "T", int, what),
    )


def parse_message(raw: str | bytes | Mapping[str, Any]) -> BinanceMessage:
    """Classify and parse one Binance frame or REST body.

    Accepts combined-stream wrappers (`{"stream": ..., "data": ...}`), bare stream events, the
    REST depth snapshot (recognised by `lastUpdateId`) and subscription acks.
    """
    obj = load_json(raw, "binance message") if isinstance(raw, str | bytes) else raw
    obj = require_mapping(obj, "binance message")
    if "stream" in obj:
        stream = field(obj, "stream", str, "binance combined stream")
        data = require_mapping(
            field(obj, "data", dict, f"binance stream {stream!r}"), f"binance {stream!r}"
        )
        return _parse_event(data, stream)
    if "lastUpdateId" in obj:
        return parse_snapshot(obj)
    if "result" in obj and "id" in obj:
        return SubscriptionAck(request_id=obj["id"], result=obj["result"])
    return _parse_event(obj, None)


def _parse_event(data: Mapping[str, Any], stream: str | None) -> BinanceMessage:
    event = data.get("e")
    if event == "depthUpdate":
        return parse_depth_diff(data)
    if event == "trade":
        return parse_trade(data)
    if event == "aggTrade":
        return parse_agg_trade(data)
    if event == "bookTicker":  # USD-M names it
        return parse_book_ticker(data)
    if event == "markPriceUpdate":
        return parse_mark_price(data)
    # Spot bookTicker events carry no "e": recognise them by the stream name or their key set.
    if (stream is not None and stream.endswith("@bookTicker")) or (
        event is None and {"u", "b", "B", "a", "A"} <= data.keys()
    ):
        return parse_book_ticker(data)
    where = f"stream {stream!r}" if stream else "bare event"
    raise DecodeError(f"binance {where}: unsupported event type {event!r}")
