"""Venue codecs and the recording reader: real frames parse to the right values, and anything
malformed is a DecodeError that says what was wrong (never a KeyError or TypeError)."""

from __future__ import annotations

import ast
import collections
import copy
import gzip
import json
import re
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.codec import DecodeError, Side
from protocols.recording import classify, iter_lines, iter_messages
from protocols.venues import binance, hyperliquid
from supervision.sources.data import DATA_DIR

DATA = DATA_DIR  # the recordings shipped inside the project
BINANCE = DATA / "binance_spot_btcusdt_20240808.gz"
HYPERLIQUID = DATA / "hyperliquid_btc_20250126.gz"
PROTOCOLS = Path(__file__).resolve().parents[2] / "protocols"

DEPTH = (
    '{"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","E":1723161255308,"s":"BTCUSDT",'
    '"U":50093239203,"u":50093239207,"b":[["55653.87000000","0.00000000"]],"a":[["61838.04000000",'
    '"0.32332000"],["61844.30000000","0.40163000"]]}}'
)
TICKER = (
    '{"stream":"btcusdt@bookTicker","data":{"u":50093239212,"s":"BTCUSDT","b":"61837.63000000",'
    '"B":"3.78826000","a":"61837.64000000","A":"1.54698000"}}'
)
TRADE = (
    '{"stream":"btcusdt@trade","data":{"e":"trade","E":1723161255343,"s":"BTCUSDT","t":3735683259,'
    '"p":"61837.63000000","q":"0.02000000","T":1723161255342,"m":true,"M":true}}'
)
HL_BOOK = (
    '{"channel":"l2Book","data":{"coin":"BTC","time":1737918843542,"levels":[[{"n":5,'
    '"px":"105055.0","sz":"3.03622"}],[{"n":13,"px":"105056.0","sz":"6.34472"}]]}}'
)
HL_TRADES = (
    '{"channel":"trades","data":[{"coin":"BTC","hash":"0xde47","px":"105056.0","side":"B",'
    '"sz":"0.00219","tid":121451470284048,"time":1737918794873,"users":["0xe9","0x68"]}]}'
)


def needs(path: Path) -> Path:
    return path


# --- well-formed frames ------------------------------------------------------------------------


def test_binance_depth_diff() -> None:
    m = binance.parse_message(DEPTH)
    assert m == binance.DepthDiff(
        symbol="BTCUSDT",
        event_time_ms=1723161255308,
        first_update_id=50093239203,
        final_update_id=50093239207,
        bids=(("55653.87000000", "0.00000000"),),
        asks=(("61838.04000000", "0.32332000"), ("61844.30000000", "0.40163000")),
    )


def test_binance_book_ticker_and_trade() -> None:
    t = binance.parse_message(TICKER)
    assert t == binance.BookTicker(
        "BTCUSDT", 50093239212, D("61837.63"), D("3.78826"), D("61837.64"), D("1.54698")
    )
    tr = binance.parse_message(TRADE)
    assert isinstance(tr, binance.Trade)
    assert (tr.trade_id, tr.price, tr.qty, tr.trade_time_ms) == (
        3735683259,
        D("61837.63"),
        D("0.02"),
        1723161255342,
    )
    assert tr.buyer_is_maker and tr.aggressor is Side.SELL


def test_binance_bare_events_snapshot_and_ack() -> None:
    bare = json.loads(DEPTH)["data"]
    assert isinstance(binance.parse_message(bare), binance.DepthDiff)
    assert isinstance(binance.parse_message(json.loads(TICKER)["data"]), binance.BookTicker)
    s = binance.parse_message('{"lastUpdateId":7,"bids":[["1.00","2.00"]],"asks":[]}')
    assert s == binance.DepthSnapshot(7, (("1.00", "2.00"),), ())
    assert binance.parse_message('{"result":null,"id":3}') == binance.SubscriptionAck(3, None)


def test_hyperliquid_book_and_trades() -> None:
    book = hyperliquid.parse_message(HL_BOOK)
    assert book == hyperliquid.L2Book(
        "BTC", 1737918843542, (("105055.0", "3.03622", 5),), (("105056.0", "6.34472", 13),)
    )
    trades = hyperliquid.parse_message(HL_TRADES)
    assert isinstance(trades, hyperliquid.Trades)
    (t,) = trades.trades
    assert (t.tid, t.price, t.size, t.side, t.time_ms) == (
        121451470284048,
        D("105056.0"),
        D("0.00219"),
        Side.BUY,
        1737918794873,
    )
    ctl = hyperliquid.parse_message('{"channel":"subscriptionResponse","data":{"method":"x"}}')
    assert isinstance(ctl, hyperliquid.Control) and ctl.channel == "subscriptionResponse"


def test_classify_tells_venues_apart() -> None:
    assert isinstance(classify(DEPTH), binance.DepthDiff)
    assert isinstance(classify(HL_BOOK), hyperliquid.L2Book)
    assert isinstance(classify(json.loads(HL_TRADES)), hyperliquid.Trades)


def test_binance_recording_parses_completely() -> None:
    messages = list(iter_messages(needs(BINANCE)))
    counts = collections.Counter(type(m).__name__ for _, m in messages)
    assert counts == {"BookTicker": 28040, "Trade": 9757, "DepthDiff": 3451, "DepthSnapshot": 1}
    ts, first = messages[0]
    assert ts == 1723161253937085768
    assert isinstance(first, binance.DepthDiff)
    assert (first.first_update_id, first.final_update_id) == (50093239189, 50093239202)
    assert first.bids[0] == ("61737.63000000", "0.00000000")
    ((snap_ts, snapshot),) = [(t, m) for t, m in messages if isinstance(m, binance.DepthSnapshot)]
    assert snap_ts == 1723161254206652067 and snapshot.last_update_id == 50093239218
    assert len(snapshot.bids) == len(snapshot.asks) == 1000
    assert snapshot.bids[0] == ("61837.63000000", "3.78826000")
    stamps = [t for t, _ in messages]
    assert stamps == sorted(stamps)


def test_hyperliquid_recording_parses_completely() -> None:
    messages = [m for _, m in iter_messages(needs(HYPERLIQUID))]
    assert collections.Counter(type(m).__name__ for m in messages) == {"L2Book": 46, "Trades": 9}
    books = [m for m in messages if isinstance(m, hyperliquid.L2Book)]
    assert all(len(b.bids) == len(b.asks) == 20 for b in books)
    assert books[0].time_ms == 1737918843542 and books[0].bids[0] == ("105055.0", "3.03622", 5)
    first_trades = next(m for m in messages if isinstance(m, hyperliquid.Trades))
    assert len(first_trades.trades) == 30 and first_trades.trades[0].tid == 121451470284048


# --- malformed input ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ('{"stream":"btcusdt@depth@100ms","data":{"e":"depthUpd', "invalid JSON"),
        ("[1, 2]", "expected a JSON object, got list"),
        ("[" * 100_000 + "]" * 100_000, "invalid JSON"),  # too deep: not a RecursionError
        (DEPTH.replace('"U":50093239203,', ""), "depthUpdate: missing field 'U'"),
        (DEPTH.replace('"U":50093239203', '"U":"50093239203"'), "'U' should be an integer"),
        (DEPTH.replace('"U":50093239203', '"U":true'), "'U' should be an integer, got bool"),
        (DEPTH.replace('["55653.87000000","0.00000000"]', '["55653.87"]'), "b[0] should be"),
        (DEPTH.replace('"55653.87000000"', "55653.87"), "b[0] should be [price_string"),
        (DEPTH.replace('"b":[', '"b":{"x":[').replace(']],"a"', ']]},"a"'), "'b' should be"),
        (TICKER.replace('"61837.63000000"', '"abc"'), "field 'b': 'abc' is not a decimal"),
        (TICKER.replace('"61837.63000000"', "61837.63"), "field 'b' should be a string"),
        (TICKER.replace('"61837.63000000"', '"Infinity"'), "not a finite number"),
        (TRADE.replace('"m":true', '"m":"yes"'), "field 'm' should be a boolean"),
        (TRADE.replace('"e":"trade"', '"e":"kline"'), "unsupported event type 'kline'"),
        ('{"stream":"x","data":[1]}', "field 'data' should be an object"),
        ('{"stream":"x"}', "missing field 'data'"),
        ('{"lastUpdateId":"7","bids":[],"asks":[]}', "'lastUpdateId' should be an integer"),
        ('{"lastUpdateId":7,"bids":[]}', "snapshot: missing field 'asks'"),
    ],
)
def test_malformed_binance_is_a_decode_error(raw: str, message: str) -> None:
    with pytest.raises(DecodeError, match=re.escape(message)):
        binance.parse_message(raw)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("not json", "invalid JSON"),
        ('{"data":{}}', "missing field 'channel'"),
        ('{"channel":"l2Book"}', "l2Book: missing field 'data'"),
        ('{"channel":"candle","data":{}}', "unsupported channel 'candle'"),
        (HL_BOOK.replace('"time":1737918843542,', ""), "l2Book: missing field 'time'"),
        (HL_BOOK.replace('"px":"105055.0",', ""), "l2Book bids[0]: missing field 'px'"),
        (HL_BOOK.replace('"n":13', '"n":"13"'), "asks[0]: field 'n' should be an integer"),
        (HL_BOOK.replace('"levels":[[', '"levels":[[],['), "should be [bids, asks], got 3"),
        (HL_TRADES.replace('"side":"B"', '"side":"X"'), "'side' should be 'B' or 'A'"),
        (HL_TRADES.replace('"tid":121451470284048,', ""), "trade: missing field 'tid'"),
        (HL_TRADES.replace('"sz":"0.00219"', '"sz":"0.0.1"'), "'0.0.1' is not a decimal"),
        ('{"channel":"trades","data":{}}', "trades: expected a list"),
    ],
)
def test_malformed_hyperliquid_is_a_decode_error(raw: str, message: str) -> None:
    with pytest.raises(DecodeError, match=re.escape(message)):
        hyperliquid.parse_message(raw)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=6,
)


def _paths(obj: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out += _paths(v, (*prefix, i))
    return out


@settings(max_examples=400, deadline=None)
@given(frame=st.sampled_from([DEPTH, TICKER, TRADE, HL_BOOK, HL_TRADES]), data=st.data())
def test_corrupting_any_field_gives_a_message_or_a_decode_error(
    frame: str, data: st.DataObject
) -> None:
    """Replace or delete any one node of a real frame: the parser returns a message or raises
    DecodeError, nothing else."""
    obj = json.loads(frame)
    path = data.draw(st.sampled_from(_paths(obj)[1:]))
    target = obj
    for key in path[:-1]:
        target = target[key]
    if data.draw(st.booleans()):
        del target[path[-1]]
    else:
        target[path[-1]] = data.draw(JSON)
    try:
        classify(copy.deepcopy(obj))
    except DecodeError as exc:
        assert str(exc)


# --- recording reader --------------------------------------------------------------------------


def _gz(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rec.gz"
    with gzip.open(path, "wt") as f:
        f.write(text)
    return path


def test_recording_lines_and_blank_lines(tmp_path: Path) -> None:
    path = _gz(tmp_path, f"1 {DEPTH}\n\n2 {HL_BOOK}\n")
    assert list(iter_lines(path)) == [(1, DEPTH), (2, HL_BOOK)]
    kinds = [type(m) for _, m in iter_messages(path)]
    assert kinds == [binance.DepthDiff, hyperliquid.L2Book]


@pytest.mark.parametrize("line", ["nospace", "12x {}", f"{DEPTH}", "5 "])
def test_recording_bad_line_names_the_line(tmp_path: Path, line: str) -> None:
    path = _gz(tmp_path, f"1 {TICKER}\n{line}\n")
    with pytest.raises(DecodeError, match=r"rec.gz:2: expected '<local_ts_ns> <json>'"):
        list(iter_lines(path))


def test_recording_decode_error_names_the_line(tmp_path: Path) -> None:
    path = _gz(tmp_path, f'1 {TICKER}\n2 {{"channel":"l2Book"}}\n')
    with pytest.raises(DecodeError, match=r"rec.gz:2: hyperliquid l2Book: missing field 'data'"):
        list(iter_messages(path))


def test_protocols_import_nothing_from_the_layers_above() -> None:
    for source in PROTOCOLS.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in {"actors", "supervision"}, (source, name)
