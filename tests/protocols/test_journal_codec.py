"""The journal codec's fast way writes the very bytes of the generic way (the encoder as it was),
for every record class recovery reads and for the values where orjson and `json.dumps` part
(non-ASCII, DEL, big ints, floats, surrogates); every class goes through the real writer and
the reader back to the record it was; and the fast way is really the one taken."""

from __future__ import annotations

import dataclasses
import json
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols.decisions import (
    Gate,
    GateAction,
    NoTrade,
    RiskRefused,
    Scaled,
    TradingState,
    TradingStateChanged,
)
from protocols.journal import (
    ActorRestarted,
    CancelSent,
    ControlAction,
    FaultInjected,
    Flush,
    IdsReserved,
    JournalEntry,
    NodeStarted,
    NodeStopped,
    ObservedIntent,
    OrderSent,
    ReplaceSent,
    SupervisorGaveUp,
    TornLine,
)
from protocols.journal_codec import (
    RECORD_TYPES,
    Encoded,
    JournalCodec,
    format_line,
    structure_record,
)
from protocols.orders import (
    Ack,
    CancelAck,
    CancelReject,
    CancelRejectCode,
    Expired,
    Fill,
    Liquidity,
    OrderIntent,
    OrderType,
    ReconcileResult,
    Reject,
    RejectCode,
    Side,
    TimeInForce,
    VenueOrderStatus,
)
from protocols.portfolio import MidSampled, OwnFill, PositionAdopted, TradeAtFill
from protocols.risk import (
    DailyLoss,
    InstrumentHalt,
    InstrumentHalted,
    InstrumentResumed,
    RiskPersistentState,
)
from supervision.node.journal import iter_journal
from supervision.node.journal_writer import JournalWriter
from supervision.runtime.deterministic import DeterministicHost

NS = 1_796_500_075_590_000_123
INTENT = OrderIntent("tr-mm-7", "BTCUSDT", Side.SELL, OrderType.LIMIT, 10_000, 6_182_611,
                     TimeInForce.POST_ONLY, True)
FILL = Fill("tr-mm-7", "BTCUSDT-9", 3, 6_182_712, Decimal("0.00618271"), Liquidity.MAKER,
            "USDT", venue_ns=NS, recv_ns=42)

# Two samples or more of every class recovery reads, and of the node's other own records.
SAMPLES: list[Any] = [
    RiskPersistentState(TradingState.HALTED, Gate.TRADING_STATE, "operator",
                        DailyLoss(20_792, Decimal("-12.50"), True),
                        (("BTCUSDT", InstrumentHalt(Gate.STALE_BOOK, "book stale")),)),
    RiskPersistentState(TradingState.ACTIVE, Gate.TRADING_STATE, "start",
                        DailyLoss(20_792, Decimal("0"), False)),
    ControlAction("halt", "alert", "http", detail="by ops"),
    ControlAction("resume", "after the fix", "repl", ok=False, detail="refused",
                  instrument="ETHUSDT"),
    NodeStarted("bench", "live", "live", "0.1.0", "8e84e25b"),
    NodeStarted("naïve", "paper", "paper", "0.1.0"),  # not ASCII: the generic way
    NodeStopped("signal"),
    NodeStopped("said \"stop\"\\\n\t\x01\x1f"),  # escapes both ways agree on
    ActorRestarted("node/venue/book:BTCUSDT", "ValueError: boom"),
    ActorRestarted("a", "DEL\x7f"),  # json.dumps escapes DEL, orjson does not
    OrderSent.from_intent(INTENT, "mm_BTCUSDT", 42_186_336_998_322),
    OrderSent("tr-mm-8", "BTCUSDT", Side.BUY, OrderType.MARKET, 1, None, TimeInForce.IOC,
              False, "mm", 0),
    CancelSent("tr-mm-7", "BTCUSDT", "mm", 12),
    CancelSent("tr-mm-7", "BTCUSDT", "mm", 2**70),  # beyond orjson's 64-bit integers
    ReplaceSent("tr-mm-7", "BTCUSDT", 9_000, 6_182_600, False, "mm", 13),
    ReplaceSent("tr-mm-7", "BTCUSDT", -(2**63), 2**64 - 1, True, "mm", -1),
    ObservedIntent.from_intent(INTENT, "mm", 9),
    ObservedIntent("cancel", "tr-mm-7", "BTCUSDT", None, None, None, None, None, False, "mm",
                   10),
    TornLine(1_024, 37),
    TornLine(0, 0),
    IdsReserved("tr", "mm_BTCUSDT", 1_000),
    IdsReserved("tr", "mm_€", 2_000),
    Ack("tr-mm-7", "1", venue_ns=NS, recv_ns=42),
    Ack("tr-mm-7"),
    Reject("tr-mm-7", RejectCode.POST_ONLY_WOULD_TAKE,
           "Order would immediately match and take.", venue_ns=NS, recv_ns=42),
    Reject("tr-mm-7", RejectCode.INSUFFICIENT_FUNDS, "Account has insufficient balance\u2028"),
    FILL,
    Fill("tr-mm-7", "BTCUSDT-10", 3, 6_182_712, 5),  # an integer fee
    CancelAck("tr-mm-7", venue_ns=NS, recv_ns=42),
    CancelAck("tr-mm-8"),
    CancelReject("tr-mm-7", CancelRejectCode.UNKNOWN_ORDER,
                 'OrderNotFound: binance {"code":-2011,"msg":"Unknown order sent."}',
                 venue_ns=NS, recv_ns=42),
    CancelReject("tr-mm-7", CancelRejectCode.TOO_LATE),
    Expired("tr-mm-7", venue_ns=NS, recv_ns=42),
    Expired("tr-mm-8"),
    ReconcileResult("tr-mm-7", VenueOrderStatus.FILLED, 10_000, recv_ns=42),
    ReconcileResult("tr-mm-7", VenueOrderStatus.OPEN, 3, (FILL,), recv_ns=42),  # nested
    OwnFill("BTCUSDT", "mm", "tr-mm-7", "BTCUSDT-9", Side.SELL, 3, 6_182_712,
            Decimal("0.00618271"), Liquidity.MAKER, 42, NS, None, False),
    OwnFill("BTCUSDT", "mm", "tr-mm-7", "BTCUSDT-9", Side.BUY, 3, 6_182_712,
            Decimal("-1E-8"), Liquidity.TAKER, 42, None, 12_365_424, True),
    NoTrade("mm_BTCUSDT", "BTCUSDT", "adverse_flow", 42_185_422_973_397, "prints=3"),
    NoTrade("mm", "BTCUSDT", "no_book", 0),
    NoTrade("mm", "BTCUSDT", "wide_spread", 1, "spread 9 > 8 \ud800"),  # a lone surrogate
    RiskRefused("tr-mm-3", "BTCUSDT", Gate.DUPLICATE_INTENT, GateAction.BLOCK_NEW,
                "same intent under another id within 1000 ms"),
    RiskRefused("tr-mm-4", "BTCUSDT", Gate.TRADING_STATE, GateAction.BLOCK_NEW),
    Scaled("tr-mm-5", "BTCUSDT", Gate.SPREAD_SHOCK, 10, 2),
    Scaled("tr-mm-6", "ETHUSDT", Gate.SPREAD_SHOCK, 2**64, 1),
    TradingStateChanged(TradingState.ACTIVE, TradingState.HALTED, "loss", "risk_gate", 5),
    TradingStateChanged(TradingState.HALTED, TradingState.REDUCING, "ops", "control", 6),
    InstrumentHalted("BTCUSDT", Gate.STALE_BOOK, "book stale", 7),
    InstrumentHalted("ETHUSDT", Gate.STALE_BOOK, "", 0),
    InstrumentResumed("BTCUSDT", "fresh again", "control", 8),
    InstrumentResumed("BTCUSDT", "ok", "", 9),
    MidSampled("BTCUSDT", 12_364_801, 42),
    MidSampled("BTCUSDT", 0, 0),
    TradeAtFill("BTCUSDT", "BTCUSDT-9", 6_182_661, 9_000, Side.BUY, 40, 42),
    TradeAtFill("BTCUSDT", "BTCUSDT-9", None, None, None, None, 42),
    PositionAdopted("BTCUSDT", 0, "BTC", Decimal("10.00000000"), "recorded", 42),
    PositionAdopted("ETHUSDT", -3, "ETH", Decimal("-0.5"), "venue", 43),
    SupervisorGaveUp("node/venue", "venue", "too many restarts", "halted"),
    FaultInjected("node/venue/book:BTCUSDT", "raise", "repl"),
    JournalEntry("OperatorNote", {"text": "rolled the keys", "n": 1}, "ops"),
]


@attrs.frozen
class _Odd:
    name: str
    ratio: Fraction
    when: float  # a float: the generic way (orjson and json.dumps write some apart)


@dataclasses.dataclass(frozen=True)
class _Plain:
    source: str
    value: int


ODD_SAMPLES = [_Odd("x", Fraction(1, 3), 1e16), _Odd("y", Fraction(-2), float("nan")),
               _Plain("ops", 1), _Plain("ops", 2**80)]

# The golden lines: written by the encoder before the fast way, kept as they were.
GOLDEN = {
    NoTrade("mm_BTCUSDT", "BTCUSDT", "adverse_flow", 42_185_422_973_397, "prints=3"):
        b'{"seq":7,"ts_ns":1796500074677913514,"mono_ns":42185426051165,"kind":"NoTrade",'
        b'"source":"mm_BTCUSDT","data":{"strategy":"mm_BTCUSDT","instrument":"BTCUSDT",'
        b'"reason":"adverse_flow","recv_ns":42185422973397,"detail":"prints=3"}}\n',
    OrderSent.from_intent(INTENT, "mm_BTCUSDT", 42_186_336_998_322):
        b'{"seq":7,"ts_ns":1796500074677913514,"mono_ns":42185426051165,"kind":"OrderSent",'
        b'"source":"mm_BTCUSDT","data":{"client_order_id":"tr-mm-7","instrument":"BTCUSDT",'
        b'"side":"sell","order_type":"limit","qty":10000,"price":6182611,"tif":"post_only",'
        b'"reduce_only":true,"strategy":"mm_BTCUSDT","sent_ns":42186336998322}}\n',
    FILL:
        b'{"seq":7,"ts_ns":1796500074677913514,"mono_ns":42185426051165,"kind":"Fill",'
        b'"source":"","data":{"client_order_id":"tr-mm-7","fill_id":"BTCUSDT-9","qty":3,'
        b'"price":6182712,"fee":"0.00618271","liquidity":"maker","fee_asset":"USDT",'
        b'"venue_ns":1796500075590000123,"recv_ns":42}}\n',
    TradingStateChanged(TradingState.ACTIVE, TradingState.HALTED, "loss", "risk_gate", 5):
        b'{"seq":7,"ts_ns":1796500074677913514,"mono_ns":42185426051165,'
        b'"kind":"TradingStateChanged","source":"risk_gate","data":{"old":0,"new":2,'
        b'"reason":"loss","source":"risk_gate","recv_ns":5}}\n',
}


def line(encoded: Encoded) -> bytes:
    return format_line(7, 1_796_500_074_677_913_514, 42_185_426_051_165, encoded)


def line_before(encoded: Encoded) -> bytes:
    """`format_line` as it was: an f-string of `json.dumps`, then encoded."""
    return (f'{{"seq":7,"ts_ns":1796500074677913514,"mono_ns":42185426051165,'
            f'"kind":{json.dumps(encoded.kind)},"source":{json.dumps(encoded.source)},'
            f'"data":{encoded.data_json.decode()}}}\n').encode()


def test_every_record_class_recovery_reads_has_samples() -> None:
    sampled = {type(s).__name__ for s in SAMPLES}
    assert set(RECORD_TYPES) <= sampled, set(RECORD_TYPES) - sampled


@pytest.mark.parametrize("record", SAMPLES + ODD_SAMPLES, ids=lambda r: type(r).__name__)
def test_the_fast_way_writes_the_bytes_of_the_generic_way(record: Any) -> None:
    codec = JournalCodec()
    fast, generic = codec.encode(record), codec.encode_generic(record)
    assert fast == generic
    assert line(fast) == line_before(generic)
    assert line(fast).isascii()


@pytest.mark.parametrize("record", list(GOLDEN), ids=lambda r: type(r).__name__)
def test_golden_lines(record: Any) -> None:
    assert line(JournalCodec().encode(record)) == GOLDEN[record]


def test_the_fast_way_is_taken_for_plain_records_and_declines_the_rest(
        monkeypatch: pytest.MonkeyPatch) -> None:
    codec = JournalCodec()
    generic: list[str] = []
    real = codec.encode_generic

    def counting(message: Any) -> Encoded:
        generic.append(type(message).__name__)
        return real(message)

    monkeypatch.setattr(codec, "encode_generic", counting)
    for record in SAMPLES + ODD_SAMPLES:
        codec.encode(record)
    assert sorted(generic) == sorted([
        "RiskPersistentState", "RiskPersistentState",  # nested records
        "NodeStarted", "ActorRestarted", "IdsReserved", "Reject", "NoTrade",  # text apart
        "CancelSent", "Scaled", "_Plain",  # integers beyond 64 bits
        "ReconcileResult", "ReconcileResult",  # a tuple of fills, even empty
        "JournalEntry", "_Odd", "_Odd"])  # free-form data; a float


ASCII_TEXT = st.text(st.characters(max_codepoint=0x7F))
ANY_TEXT = st.text(st.characters(min_codepoint=0, max_codepoint=0x10FFFF))


@given(strategy=ANY_TEXT, instrument=ASCII_TEXT, reason=st.one_of(ASCII_TEXT, ANY_TEXT),
       recv_ns=st.integers(min_value=-(2**70), max_value=2**70), detail=ANY_TEXT)
def test_any_notrade_is_written_as_the_generic_way_writes_it(
        strategy: str, instrument: str, reason: str, recv_ns: int, detail: str) -> None:
    codec = JournalCodec()
    record = NoTrade(strategy, instrument, reason, recv_ns, detail)
    assert line(codec.encode(record)) == line_before(codec.encode_generic(record))


@given(qty=st.integers(min_value=-(2**65), max_value=2**65),
       price=st.one_of(st.none(), st.integers()), side=st.sampled_from(Side),
       tif=st.sampled_from(TimeInForce), fee=st.decimals(allow_nan=True, allow_infinity=True),
       cid=ANY_TEXT)
def test_any_order_and_fill_are_written_as_the_generic_way_writes_them(
        *, qty: int, price: int | None, side: Side, tif: TimeInForce, fee: Decimal,
        cid: str) -> None:
    codec = JournalCodec()
    for record in (OrderSent(cid, "BTCUSDT", side, OrderType.LIMIT, qty, price, tif, False,
                             "mm", 1),
                   OwnFill("BTCUSDT", "mm", cid, "f", side, qty, 1, fee, Liquidity.MAKER, 2)):
        assert line(codec.encode(record)) == line_before(codec.encode_generic(record))


def test_every_record_class_goes_through_the_writer_and_back(tmp_path: Path) -> None:
    host = DeterministicHost()
    writer = JournalWriter(tmp_path / "j.jsonl")
    ref = host.spawn("journal", lambda: writer, blocking=True)
    for record in SAMPLES:
        host.tell(ref, record)
    host.ask(ref, Flush())
    read = list(iter_journal(tmp_path / "j.jsonl"))
    assert [r["kind"] for r in read] == [
        s.kind if isinstance(s, JournalEntry) else type(s).__name__ for s in SAMPLES]
    assert [r["seq"] for r in read] == list(range(1, len(SAMPLES) + 1))
    for sample, record in zip(SAMPLES, read, strict=True):
        if type(sample).__name__ in RECORD_TYPES:
            assert structure_record(record["kind"], record["data"]) == sample
    raw = (tmp_path / "j.jsonl").read_bytes().splitlines(keepends=True)
    codec = JournalCodec()
    for sample, written, record in zip(SAMPLES, raw, read, strict=True):
        encoded = codec.encode_generic(sample)
        assert written == format_line(record["seq"], record["ts_ns"], record["mono_ns"], encoded)
