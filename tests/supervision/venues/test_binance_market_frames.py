"""The live Binance transport decodes a market frame once, straight into the books' ticks and
lots, and its books are exactly the books the checked decode (the venue's strings, converted by
the book) builds: on every frame the fake venue streams from the shipped recording, spot and
USD-M. A frame the fast path is not sure of goes the checked way, and ends as it did before."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from actors.execution.venue_transport import Counted, MarketData
from actors.market.book_feed import BookConfig, BookFeed
from protocols.codec import DecodeError
from protocols.instruments import InstrumentSpec
from protocols.venues import binance
from supervision.fakevenue.market import RecordedMarket
from supervision.sources.data import BINANCE_SPOT_BTCUSDT
from supervision.venues.binance.io import WsFrame
from supervision.venues.binance.transport import BinanceSettings, BinanceTransport

TICK, LOT = Decimal("0.01"), Decimal("0.00000001")
SPEC = InstrumentSpec("BTCUSDT", "binance", TICK, LOT, Decimal("0.00001"), Decimal(5),
                      Decimal("0.001"), Decimal("0.001"))


def transport(dialect: str = "spot") -> BinanceTransport:
    """A transport that is only handed frames (no I/O: nothing is opened)."""
    return BinanceTransport(BinanceSettings(
        "binance", dialect, "http://127.0.0.1:1", "ws://127.0.0.1:2", {"BTCUSDT": "BTCUSDT"},
        {"BTCUSDT": SPEC}), lambda t, d: None)


def at_book(message: Any) -> Any:
    """What a book of ours works with: the message after its own conversion (`BookFeed.in_units`,
    which leaves a converted one as it is); not ours, the message."""
    if getattr(message, "symbol", None) != "BTCUSDT":
        return message
    return BookFeed(BookConfig("BTCUSDT", "binance", TICK, LOT)).in_units(message)


def checked(text: str) -> Any:
    """What the book worked with before the unit path: the checked decode's message after the
    book's conversion, or the decode's error."""
    try:
        return at_book(binance.parse_message(text))
    except DecodeError as exc:
        return ("refused", str(exc))


def unit_path(live: BinanceTransport, text: str) -> Any:
    try:
        return live.market_message(text)
    except DecodeError as exc:
        return ("refused", str(exc))


@pytest.mark.parametrize("dialect", ["spot", "usdm"])
def test_every_streamed_frame_builds_the_book_the_checked_decode_builds(dialect: str) -> None:
    market = RecordedMarket(BINANCE_SPOT_BTCUSDT, ["BTCUSDT"], tick=TICK, lot=LOT,
                            dialect=dialect)
    market.prime()
    snapshot = binance.parse_snapshot(market.snapshot())
    live = transport(dialect)
    books = {path: BookFeed(BookConfig("BTCUSDT", "binance", TICK, LOT))
             for path in ("units", "checked")}
    for feed in books.values():
        feed.on_message(snapshot, 0, 0)
    kinds: dict[str, int] = {}
    tops = 0
    for ts, _message, frames in market.frames():
        for _, _stream, text in frames:
            fast, before = unit_path(live, text), checked(text)
            kinds[type(fast).__name__] = kinds.get(type(fast).__name__, 0) + 1
            # The same message as the checked decode and the book's conversion made (its
            # deferred levels converted: the book's general path takes it whole)...
            whole = fast.whole() if type(fast) is binance.DepthDiffInUnits else fast
            assert type(whole) is type(before) and whole == before, text[:120]
            if getattr(fast, "symbol", None) != "BTCUSDT" or isinstance(fast, binance.MarkPrice):
                continue
            # The transport's frame path hands the book that very message.
            assert live.on_message(WsFrame("market", text, ts), ts)
            assert live.poll(ts) == [MarketData("BTCUSDT", fast, ts)], text[:120]
            # ... and the same book: each step's tops, prints and notices.
            units = books["units"].on_message(fast, ts, ts)
            strings = books["checked"].on_message(binance.parse_message(text), ts, ts)
            assert repr(units) == repr(strings), text[:120]
            if units.publish:
                tops += 1
                assert books["units"].top(5) == books["checked"].top(5)
    # Every diff and trade (USD-M: aggTrade) took the unit path; the books were synced and
    # published all along.
    assert kinds["DepthDiffInUnits"] >= 3000 and kinds["TradeInUnits"] >= 9000, kinds
    assert set(kinds) <= {"DepthDiffInUnits", "TradeInUnits", "BookTicker", "MarkPrice"}, kinds
    assert tops >= 3000 and books["units"].healthy


DIFF = {"e": "depthUpdate", "E": 1, "s": "BTCUSDT", "U": 5, "u": 7,
        "b": [["100.01", "0.5"]], "a": [["100.02", "0.00000000"]]}
TRADE = {"e": "trade", "E": 2, "s": "BTCUSDT", "t": 9, "p": "100.01", "q": "0.25", "T": 1,
         "m": True, "M": True}


def frame(data: Any, stream: Any = "btcusdt@depth@100ms") -> str:
    return json.dumps({"stream": stream, "data": data})


def test_diffs_and_trades_of_ours_come_in_the_books_units() -> None:
    live = transport()
    assert live.market_message(frame(DIFF)) == binance.DepthDiffInUnits(
        "BTCUSDT", 1, 5, 7, TICK, LOT, ((10001, 50_000_000),), ((10002, 0),))
    assert live.market_message(frame(TRADE, "btcusdt@trade")) == binance.TradeInUnits(
        "BTCUSDT", 9, 10001, 25_000_000, TICK, LOT, 1, 2, True)
    usdm = live.market_message(frame({**DIFF, "pu": 4, "T": 3}))
    assert (usdm.prev_final_update_id, usdm.transaction_time_ms) == (4, 3)


@pytest.mark.parametrize(("data", "kind"), [
    ({**DIFF, "b": [["100.015", "0.5"]]}, "DepthDiff"),  # off tick: the book decides
    ({**TRADE, "q": "0.000000001"}, "Trade"),  # off lot: the book decides
    ({**DIFF, "s": "ETHUSDT"}, "DepthDiff"),  # not ours: no units for it
    ({**TRADE, "t": 2**70}, "Trade"),  # beyond orjson's integers
    # more than a pair: the checked decode reads the first two; either way, the same levels
    ({**DIFF, "b": [["100.01", "0.5", "x"]]}, None),
])
def test_a_frame_the_fast_path_is_not_sure_of_is_decoded_as_before(data: Any,
                                                                  kind: str | None) -> None:
    text = frame(data)
    got = unit_path(transport(), text)
    assert kind is None or type(got).__name__ == kind
    assert at_book(got) == checked(text)


@pytest.mark.parametrize("data", [
    {**DIFF, "b": [["100.01"]]},  # a level that is not a pair
    {**DIFF, "b": ["12"]},  # a string where a level belongs (its two characters are no pair)
    {**DIFF, "b": [[100.01, "0.5"]]},  # a number where a string belongs
    {**DIFF, "E": True},  # a boolean is not an int
    {**DIFF, "pu": None},
    {**TRADE, "p": "NaN"},
    {k: v for k, v in TRADE.items() if k != "T"},
])
def test_a_frame_the_checked_decode_refuses_is_counted_malformed_and_goes_nowhere(
        data: Any) -> None:
    live = transport()
    text = frame(data)
    assert checked(text)[0] == "refused"
    live.on_message(WsFrame("market", text, 5), 5)
    events = live.poll(5)
    assert not [e for e in events if isinstance(e, MarketData)]
    assert [e.metric for e in events if isinstance(e, Counted)] == [
        "troupe_venue_malformed_frames_total"]


def test_an_off_tick_diff_reaches_the_book_as_strings_and_the_book_refuses_it() -> None:
    live = transport()
    live.on_message(WsFrame("market", frame({**DIFF, "b": [["100.015", "0.5"]]}), 5), 5)
    (data,) = [e for e in live.poll(5) if isinstance(e, MarketData)]
    assert type(data.message) is binance.DepthDiff and data.recv_ns == 5
    feed = BookFeed(BookConfig("BTCUSDT", "binance", TICK, LOT))
    feed.on_message(binance.DepthSnapshot(4, (("100.00", "1"),), (("100.03", "1"),)), 0, 0)
    step = feed.on_message(data.message, 5, 5)
    assert step.stale == "decode_error" and step.resync == "decode_error"
