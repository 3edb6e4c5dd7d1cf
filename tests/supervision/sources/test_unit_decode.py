"""UnitDecoder: a recording line decoded straight into ticks and lots is exactly what the checked
decode (`classify`) followed by the simulated venue's one conversion (`BookFeed.in_units`) gives,
for every line of the shipped recordings and for the lines the fast path must leave alone, and a
line the checked decode refuses is refused with the same error."""

from __future__ import annotations

import json
from decimal import Decimal as D
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.market.book_feed import BookConfig, BookFeed
from protocols.codec import DecodeError
from protocols.recording import classify
from protocols.venues import binance
from supervision.sources.data import BINANCE_SPOT_BTCUSDT, HYPERLIQUID_BTC
from supervision.sources.recording_reader import RecordingReader
from supervision.sources.unit_decode import UnitDecoder

UNITS = {"BTCUSDT": (D("0.01"), D("0.00000001"))}


def at_venue(decode: Any, raw: str) -> Any:
    """What the venue works with after `decode`: the message after its conversion (which leaves
    a converted one as it is), or the decode's error."""
    feed = BookFeed(BookConfig("BTCUSDT", "binance", *UNITS["BTCUSDT"]))
    try:
        message = decode(raw)
    except DecodeError as exc:
        return ("refused", str(exc))
    return feed.in_units(message) if getattr(message, "symbol", None) == "BTCUSDT" else message


def same(raw: str) -> Any:
    """The decoder's message (or error), checked to be what the venue had before."""
    try:
        got = UnitDecoder(UNITS).decode(raw)
    except DecodeError as exc:
        got = ("refused", str(exc))
    venue, before = at_venue(UnitDecoder(UNITS).decode, raw), at_venue(classify, raw)
    assert type(venue) is type(before) and venue == before, raw[:120]
    return got


@pytest.mark.parametrize("path", [BINANCE_SPOT_BTCUSDT, HYPERLIQUID_BTC])
def test_every_shipped_line_decodes_as_the_checked_path_and_the_venue_would(path: Any) -> None:
    kinds: dict[str, int] = {}
    for _, ts, raw in RecordingReader(path):
        assert ts is not None
        name = type(same(raw)).__name__
        kinds[name] = kinds.get(name, 0) + 1
    if path == BINANCE_SPOT_BTCUSDT:  # the diffs and trades took the fast path
        assert kinds["DepthDiffInUnits"] == 3451 and kinds["TradeInUnits"] == 9757
        assert "DepthDiff" not in kinds and "Trade" not in kinds
    else:
        assert not any(name.endswith("InUnits") for name in kinds)


DIFF = {"e": "depthUpdate", "E": 1, "s": "BTCUSDT", "U": 5, "u": 7,
        "b": [["100.01", "0.5"]], "a": [["100.02", "0.00000000"]]}
TRADE = {"e": "trade", "E": 2, "s": "BTCUSDT", "t": 9, "p": "100.01", "q": "0.25", "T": 1,
         "m": True, "M": True}


def wrapped(data: dict[str, Any], stream: Any = "btcusdt@x") -> str:
    return json.dumps({"stream": stream, "data": data})


def test_diffs_and_trades_come_in_units_bare_or_wrapped() -> None:
    diff = same(wrapped(DIFF))
    assert diff == binance.DepthDiffInUnits("BTCUSDT", 1, 5, 7, *UNITS["BTCUSDT"],
                                            ((10001, 50_000_000),), ((10002, 0),))
    assert same(json.dumps(DIFF)) == diff
    trade = same(wrapped(TRADE))
    assert trade == binance.TradeInUnits("BTCUSDT", 9, 10001, 25_000_000, *UNITS["BTCUSDT"],
                                         1, 2, True)
    usdm = same(wrapped({**DIFF, "pu": 4, "T": 3}))
    assert usdm.prev_final_update_id == 4 and usdm.transaction_time_ms == 3
    agg = same(wrapped({**{k: v for k, v in TRADE.items() if k != "t"}, "e": "aggTrade",
                        "a": 11}))
    assert type(agg) is binance.TradeInUnits and agg.trade_id == 11


@pytest.mark.parametrize("line", [
    wrapped({**DIFF, "b": [["100.015", "0.5"]]}),  # off tick: the venue keeps the strings
    wrapped({**TRADE, "q": "0.000000001"}),  # off lot: the venue keeps the Decimals
    wrapped({**DIFF, "s": "ETHUSDT"}),  # no units for it
    wrapped({**TRADE, "s": "ETHUSDT"}),
    json.dumps({"lastUpdateId": 3, "bids": [["1.00", "1"]], "asks": []}),  # a REST snapshot
    json.dumps({"u": 1, "s": "BTCUSDT", "b": "1.00", "B": "1", "a": "1.01", "A": "2"}),
    wrapped({**TRADE, "t": 2**70}),  # beyond orjson's integers: the checked decode reads it
    wrapped({**DIFF, "b": [["100.01", "0.5", "x"]]}),  # a level of three: the checked decode
])
def test_what_the_fast_path_does_not_convert_is_decoded_as_before(line: str) -> None:
    assert type(same(line)).__name__ in ("DepthDiff", "Trade", "DepthSnapshot", "BookTicker")


@pytest.mark.parametrize("line", [
    wrapped({**DIFF, "pu": None}),  # a null where an int belongs
    wrapped({**DIFF, "T": "3"}),
    wrapped({**DIFF, "E": True}),  # a boolean is not an int
    wrapped({**DIFF, "b": [["100.01"]]}),  # a level that is not a pair
    wrapped({**DIFF, "a": [{"p": "1"}]}),
    wrapped({**DIFF, "b": [[100.01, "0.5"]]}),  # a number where a string belongs
    wrapped({**DIFF, "b": "100.01"}),
    wrapped({**TRADE, "m": 1}),
    wrapped({**TRADE, "p": 100.01}),
    wrapped({**TRADE, "p": "NaN"}),
    wrapped({k: v for k, v in TRADE.items() if k != "T"}),  # a missing field
    wrapped(DIFF, stream=5),
    json.dumps({"stream": "x", "data": [1]}),
    '{"stream": "x", "data": {"e": "trade", "p": NaN}}',  # JSON only the stdlib reads
    '{"e": "trade"',  # not JSON
    "[]",
])
def test_a_line_the_checked_decode_refuses_is_refused_the_same(line: str) -> None:
    result = same(line)
    assert isinstance(result, tuple) and result[0] == "refused", result


def test_a_hyperliquid_frame_is_never_taken_for_a_binance_one() -> None:
    line = json.dumps({"channel": "trades", "data": [], "stream": "x", "e": "trade"})
    same(line)


# Random frames around the two the fast path takes: each field a value of the right kind or of
# another (a null, a bool, a number where a string belongs, a nested list or object), fields
# left out or added, levels of every shape. Whatever the fast path does with one, the venue
# must end with what the checked decode gives it (`same`), and the fast path must either take
# it whole or leave it.
_ANY = st.one_of(st.none(), st.booleans(), st.integers(-3, 2**65),
                 st.sampled_from(["100.01", "0.5", "0", "0.00000000", "1e3", "-1", "NaN",
                                  "100.015", "", "12", " 1", "١٢"]),
                 st.floats(allow_nan=False, allow_infinity=False),
                 st.lists(st.sampled_from(["100.01", "0.5", "1"]), max_size=3),
                 st.dictionaries(st.sampled_from(["p", "1", "2"]), st.just("1"), max_size=2))
_PRICE = st.one_of(st.sampled_from(["100.01", "99.99", "100.015", "0.01", "100"]), _ANY)
# A two-letter string or a two-key object unpacks as a pair of strings that count: the fast
# path must not take them for a level.
_LEVEL = st.one_of(st.tuples(_PRICE, _PRICE).map(list), _ANY, st.sampled_from(["12", "10"]),
                   st.just({"1": "a", "2": "b"}),
                   st.lists(st.sampled_from(["100.01", "0.5"]), min_size=1, max_size=4))


@st.composite
def _frames(draw: st.DrawFn) -> str:
    base = dict(draw(st.sampled_from([DIFF, TRADE, {**DIFF, "pu": 4, "T": 3},
                                      {**{k: v for k, v in TRADE.items() if k != "t"},
                                       "e": "aggTrade", "a": 11}])))
    for key in draw(st.lists(st.sampled_from(sorted(base)), max_size=3)):
        if draw(st.booleans()):
            base.pop(key, None)
        else:
            base[key] = draw(_ANY)
    for side in ("b", "a"):
        if side in base and type(base[side]) is list and draw(st.booleans()):
            base[side] = draw(st.lists(_LEVEL, max_size=4))
    if draw(st.booleans()):
        base[draw(st.sampled_from(["pu", "T", "x", "channel"]))] = draw(_ANY)
    if draw(st.booleans()):
        return json.dumps(base)
    return wrapped(base, stream=draw(st.one_of(st.just("btcusdt@depth"), _ANY)))


@settings(max_examples=400, deadline=None)
@given(_frames())
def test_random_frames_end_at_the_venue_as_the_checked_decode_makes_them(raw: str) -> None:
    got = same(raw)
    fast = UnitDecoder(UNITS).fast(raw)
    assert fast is None or fast == got
