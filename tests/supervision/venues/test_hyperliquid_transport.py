"""The Hyperliquid transport's decisions, with its I/O replaced by a recorder: discovery and
its preflight refusals, what each answer means (timeouts are UNKNOWN and looked up by cloid,
never resent), acks passed on once, fills once per tid, replayed trades deduplicated, the
oracle as doubled ticks, and batches that never mix ALO with IOC."""

from __future__ import annotations

import json
import random
from decimal import Decimal
from typing import Any

import attrs
import pytest

from actors.execution.ids import encode_cloid
from actors.execution.venue_transport import Gauged, MarketData, Reported, TimedOut
from protocols.codec import Side
from protocols.instruments import ContractType, InstrumentSpec
from protocols.orders import (
    Ack,
    Batch,
    CancelAck,
    CancelIntent,
    Fill,
    OrderIntent,
    OrderType,
    Priority,
    ReconcileResult,
    Reject,
    RejectCode,
    TimeInForce,
)
from protocols.portfolio import VenuePositions
from protocols.venue_state import (
    FundingUpdate,
    OracleUpdate,
    RateLimited,
    SendActions,
    SpecUpdate,
)
from supervision.venues.binance.io import RestDone, WsFrame, WsUp
from supervision.venues.hyperliquid.discovery import PreflightError, resolve
from supervision.venues.hyperliquid.transport import HyperliquidSettings, HyperliquidTransport

SPEC = InstrumentSpec("BTC-PERP", "hyperliquid", Decimal(1), Decimal("0.00001"),
                      Decimal("0.00001"), Decimal(10), Decimal("0.0002"), Decimal("0.0005"),
                      ContractType.PERP)
CTX = {"markPx": "105055.5", "midPx": "105055.5", "oraclePx": "105050", "funding": "0.00001",
       "openInterest": "10"}


def found(dex: str = "default", **extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "dex": dex, "dexs": [None, {"name": "xyz", "assetToStreamingOiCap": [
            ["xyz:XYZ100", "500000"]]}],
        "spot": {"universe": [], "tokens": []}, "status": {"time": 1000}, "local_ms": 1250,
        "meta": {"universe": [{"name": "BTC", "szDecimals": 5}, {"name": "ETH",
                                                                 "szDecimals": 4}]},
        "ctxs": [CTX, {**CTX, "midPx": "3300.5"}], "other_meta": None,
        "fees": {"userAddRate": "0.0001", "userCrossRate": "0.0003"}}
    base.update(extra)
    return base


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, Any, dict[str, Any]]] = []
        self.rest, self.stream = self, self
        self.started = 0

    def submit(self, tag: Any, method: Any, params: dict[str, Any] | None = None) -> None:
        self.calls.append((tag, method, dict(params or {})))

    def post_action(self, client: Any, params: dict[str, Any]) -> Any:
        raise AssertionError("the recorder never posts")

    def start(self) -> None:
        self.started += 1

    def close(self) -> None:
        pass


class Ref:
    def tell(self, message: Any) -> None:
        pass


def opened(wallet: str = "0xabc", period_ms: float = 0) -> tuple[HyperliquidTransport,
                                                                  Recorder, list[Any]]:
    recorder = Recorder()
    transport = HyperliquidTransport(HyperliquidSettings(
        "hyperliquid", "http://127.0.0.1:1", "ws://127.0.0.1:2/ws", {"BTC-PERP": "BTC"},
        {"BTC-PERP": SPEC}, wallet=wallet, private_key="k" if wallet else "",
        batch_period_ms=period_ms), lambda t, d: recorder)
    transport.attach(Ref())
    transport.open(0, random.Random(1))
    transport.on_message(RestDone(("discovered",), found()), 1)
    return transport, recorder, transport.poll(1)


def order(cid: str, tif: TimeInForce = TimeInForce.GTC, price: int = 100_000) -> OrderIntent:
    return OrderIntent(cid, "BTC-PERP", Side.BUY, OrderType.LIMIT, 100, price, tif)


def send(transport: HyperliquidTransport, *intents: Any, now: int = 2) -> None:
    transport.send(SendActions(Batch(Priority.NEW, tuple(intents), 1),
                               (None,) * len(intents), now), now)


def frame(channel: str, data: Any) -> WsFrame:
    return WsFrame("ws", json.dumps({"channel": channel, "data": data}), 5)


def test_discovery_specs_fees_drift_and_subscriptions() -> None:
    transport, recorder, events = opened()
    (spec_update,) = [e for e in events if isinstance(e, SpecUpdate)]
    spec = spec_update.spec
    assert (spec.tick_size, spec.lot_step, spec.min_notional) == (1, Decimal("0.00001"), 10)
    assert (spec.maker_fee, spec.taker_fee) == (Decimal("0.0001"), Decimal("0.0003"))
    assert Gauged("troupe_venue_clock_drift_ms", 250.0, (("venue", "hyperliquid"),)) in events
    kinds = [json.loads(s)["subscription"]["type"] for s in transport.subscriptions]
    assert kinds == ["l2Book", "trades", "bbo", "activeAssetCtx", "orderUpdates", "userFills"]
    assert recorder.started == 1


def test_preflight_refusals() -> None:
    names = {"BTC-PERP": "BTC"}
    specs = {"BTC-PERP": SPEC}
    with pytest.raises(PreflightError, match="no DEX named 'abc'"):
        resolve(found("abc"), names, specs)
    with pytest.raises(PreflightError, match=r"'DOGE' .* is not listed on the default DEX"):
        resolve(found(), {"D": "DOGE"}, specs)
    collision = found("xyz", meta={"universe": [{"name": "xyz:BTC", "szDecimals": 5}]},
                      ctxs=[CTX], other_meta={"universe": [{"name": "BTC", "szDecimals": 5}]})
    with pytest.raises(PreflightError, match="'BTC' is listed on the xyz DEX and on the "
                                             "default DEX: a collision, refusing to start"):
        resolve(collision, {"B": "xyz:BTC"}, specs)
    with pytest.raises(PreflightError, match="spot and perp instruments are mixed"):
        resolve(found(), {"BTC-PERP": "BTC", "P": "PURR/USDC"},
                {**specs, "P": attrs.evolve(SPEC, symbol="P",
                                            contract_type=ContractType.SPOT)})
    with pytest.raises(PreflightError, match="need 4006 websocket subscriptions"):
        resolve(found(), {f"I{i}": "BTC" for i in range(1001)}, specs, user=True)
    with pytest.raises(PreflightError, match="dex is empty"):
        resolve(found(""), names, specs)


def test_a_builder_dex_asset_ids_fee_multiple_and_oi_cap() -> None:
    hip3 = found("xyz", meta={"universe": [{"name": "xyz:XYZ100", "szDecimals": 3}]},
                 ctxs=[{**CTX, "midPx": "25000"}],
                 other_meta={"universe": [{"name": "BTC", "szDecimals": 5}]})
    (market,) = resolve(hip3, {"X": "xyz:XYZ100"}, {}, hip3_fee_multiple=Decimal(2)).values()
    assert market.asset == 110_000 and market.oi_cap == 500_000
    assert (market.spec.maker_fee, market.spec.taker_fee) == (Decimal("0.0002"),
                                                              Decimal("0.0006"))
    assert market.spec.tick_size == 1 and market.sz_decimals == 3


def test_an_action_timeout_is_unknown_and_looked_up_by_cloid() -> None:
    transport, recorder, _ = opened()
    send(transport, order("mm1-1"))
    tag, _method, params = recorder.calls[-1]
    assert tag[:2] == ("action", "taker")
    (wire,) = params["action"]["orders"]
    assert wire == {"a": 0, "b": True, "p": "100000", "s": "0.001", "r": False,
                    "t": {"limit": {"tif": "Gtc"}}, "c": encode_cloid("mm1-1")}
    transport.on_message(RestDone(tag, None, "lost", "RequestTimeout"), 3)
    events = transport.poll(3)
    assert events == [TimedOut(order("mm1-1"))]
    query_tag = recorder.calls[-1][0]
    assert query_tag[0] == "query"
    assert [c for c in recorder.calls if c[0][0] == "action"] == [recorder.calls[-2]]  # no resend
    transport.on_message(RestDone(query_tag, {"status": "order", "order": {"order": {
        "coin": "BTC", "side": "B", "limitPx": "100000", "sz": "0.001", "oid": 7,
        "timestamp": 1, "origSz": "0.001", "cloid": encode_cloid("mm1-1")},
        "status": "open", "statusTimestamp": 2}}), 4)
    assert [type(e.report) for e in transport.poll(4)] == [Ack]
    send(transport, order("mm1-2"))
    transport.on_message(RestDone(recorder.calls[-1][0], None, "lost", "timeout"), 5)
    transport.poll(5)
    transport.on_message(RestDone(recorder.calls[-1][0], None, "unknown", "unknownOid"), 6)
    assert transport.poll(6) == []  # not found yet: asked once more, later
    transport.poll(6 + 2_000_000_000)
    assert recorder.calls[-1][0] == ("query", order("mm1-2"), True)
    transport.on_message(RestDone(recorder.calls[-1][0], None, "unknown", "unknownOid"), 7)
    (result,) = transport.poll(2_000_000_007)
    assert isinstance(result.report, ReconcileResult)


def test_answers_acks_once_rejects_and_throttles() -> None:
    transport, recorder, _ = opened()
    send(transport, order("mm1-1"), order("mm1-2", price=200_000))
    tag = recorder.calls[-1][0]
    transport.on_message(RestDone(tag, {"ok": {"status": "ok", "response": {"type": "order",
        "data": {"statuses": [{"resting": {"oid": 11}}, {"error": "Insufficient margin to "
                                                                  "place order. asset=0"}]}}}}),
        3)
    events = transport.poll(3)
    reports = [e.report for e in events if isinstance(e, Reported)]
    assert isinstance(reports[0], Ack) and reports[0].venue_order_id == "11"
    assert isinstance(reports[1], Reject) and reports[1].code is RejectCode.INSUFFICIENT_FUNDS
    transport.on_message(frame("orderUpdates", [{"order": {
        "coin": "BTC", "side": "B", "limitPx": "100000", "sz": "0.001", "oid": 11,
        "timestamp": 1, "origSz": "0.001", "cloid": encode_cloid("mm1-1")},
        "status": "open", "statusTimestamp": 2}]), 4)
    assert transport.poll(4) == []  # the stream's ack of an order already acked
    send(transport, CancelIntent("mm1-1", "BTC-PERP"))
    cancel_tag, _m, params = recorder.calls[-1]
    assert params["action"] == {"type": "cancelByCloid", "cancels": [
        {"asset": 0, "cloid": encode_cloid("mm1-1")}]}
    transport.on_message(RestDone(cancel_tag, {"ok": {"status": "ok", "response": {
        "type": "cancel", "data": {"statuses": ["success"]}}}}), 5)
    assert [type(e.report) for e in transport.poll(5) if isinstance(e, Reported)] == [CancelAck]
    send(transport, order("mm1-3"))
    transport.on_message(RestDone(recorder.calls[-1][0], None, "throttled", "429", 2.0), 6)
    events = transport.poll(6)
    assert RateLimited(2_000_000_000, 6) in events
    assert [e.report.code for e in events if isinstance(e, Reported)] == [
        RejectCode.RATE_LIMITED]
    send(transport, order("mm1-4"))
    transport.on_message(RestDone(recorder.calls[-1][0], {"refused": "Invalid nonce"}), 7)
    (rej,) = [e.report for e in transport.poll(7) if isinstance(e, Reported)]
    assert isinstance(rej, Reject) and "nonce" in rej.message
    market = OrderIntent("mm1-5", "BTC-PERP", Side.BUY, OrderType.MARKET, 1, None)
    send(transport, market)
    (refusal,) = [e.report for e in transport.poll(8) if isinstance(e, Reported)]
    assert "no market orders" in refusal.message


def test_fills_once_per_tid_and_trades_replayed_once() -> None:
    transport, _recorder, _ = opened()
    send(transport, order("mm1-1"))
    fill = {"coin": "BTC", "px": "100000", "sz": "0.0005", "side": "B", "time": 9, "oid": 11,
            "tid": 77, "crossed": False, "fee": "-0.001", "feeToken": "USDC",
            "cloid": encode_cloid("mm1-1")}
    transport.on_message(frame("userFills", {"user": "0xabc", "fills": [fill]}), 4)
    transport.on_message(frame("userFills", {"isSnapshot": True, "user": "0xabc",
                                             "fills": [fill]}), 5)
    fills = [e.report for e in transport.poll(5) if isinstance(e, Reported)]
    assert fills == [Fill("mm1-1", "BTC-77", 50, 100_000, Decimal("-0.001"),
                          fills[0].liquidity, "USDC", venue_ns=9_000_000)]
    trade = {"coin": "BTC", "px": "105056.0", "sz": "0.1", "side": "B", "time": 1, "tid": 5,
             "hash": "0x0"}
    transport.on_message(frame("trades", [trade]), 6)
    transport.on_message(frame("trades", [trade, {**trade, "tid": 6}]), 7)  # a resubscribe
    data = [e.message for e in transport.poll(7) if isinstance(e, MarketData)]
    assert [[t.tid for t in m.trades] for m in data] == [[5], [6]]


def test_asset_ctx_is_oracle_mark_and_funding_and_a_decade_is_a_new_tick() -> None:
    transport, _recorder, _ = opened()
    transport.on_message(frame("activeAssetCtx", {"coin": "BTC", "ctx": CTX}), 5)
    events = transport.poll(5)
    assert OracleUpdate("BTC-PERP", 210_100, 210_111, None, 5) in events
    assert FundingUpdate("BTC-PERP", "0.00001", None, 5) in events
    transport.on_message(frame("activeAssetCtx", {"coin": "BTC", "ctx": {
        **CTX, "midPx": "9999.5", "markPx": "9999.5", "oraclePx": "9999.1"}}), 6)
    (spec,) = [e for e in transport.poll(6) if isinstance(e, SpecUpdate)]
    assert spec.spec.tick_size == Decimal("0.1")


def test_a_reconnect_resyncs_and_reconciles() -> None:
    transport, recorder, _ = opened()
    transport.on_message(WsUp("ws", "ws://x"), 2)
    transport.reconcile(3)
    transport.on_message(RestDone(("reconcile",), {"state": {"assetPositions": [
        {"position": {"coin": "BTC", "szi": "-0.002"}}], "marginSummary": {
        "accountValue": "1000"}}, "open": []}), 4)
    positions = [e for e in transport.poll(4) if isinstance(e, VenuePositions)]
    assert positions[0].positions == (("BTC-PERP", -200),)
    transport.on_message(WsUp("ws", "ws://x"), 5)
    events = transport.poll(5)
    assert [dict(e.labels)["reason"] for e in events] == ["reconnect"]
    assert recorder.calls[-1][0] == ("reconcile",)


def test_observe_without_keys_subscribes_public_data_and_reconciles_empty() -> None:
    transport, _recorder, _ = opened(wallet="")
    assert not any("orderUpdates" in s for s in transport.subscriptions)
    transport.reconcile(3)
    assert transport.poll(3) == [VenuePositions((), (), 3)]


def test_batches_on_the_period_never_mix_alo_with_ioc() -> None:
    transport, recorder, _ = opened(period_ms=100)
    send(transport, order("a", TimeInForce.POST_ONLY), order("i", TimeInForce.IOC), now=0)
    send(transport, order("g"), order("b", TimeInForce.POST_ONLY), now=50_000_000)
    assert not [c for c in recorder.calls if c[0][0] == "action"]
    assert transport.next_due_ns() == 100_000_000
    transport.poll(100_000_000)
    actions = [c for c in recorder.calls if c[0][0] == "action"]
    tifs = [[o["t"]["limit"]["tif"] for o in c[2]["action"]["orders"]] for c in actions]
    assert tifs == [["Ioc", "Gtc"], ["Alo", "Alo"]]


def test_reconciliations_wait_out_a_throttle_and_the_budget_hears_of_it() -> None:
    transport, recorder, _ = opened()
    transport.reconcile(3)
    calls = len(recorder.calls)
    transport.on_message(RestDone(("reconcile",), None, "throttled", "429", 2.0), 4)
    assert RateLimited(2_000_000_000, 4) in transport.poll(4)
    transport.reconcile(5)
    assert len(recorder.calls) == calls and transport.next_due_ns() == 2_000_000_004
    transport.poll(2_000_000_004)
    assert [c[0] for c in recorder.calls[calls:]] == [("reconcile",)]


def _resting(cid: str, oid: int) -> dict[str, Any]:
    return {"coin": "BTC", "side": "B", "limitPx": "100000", "sz": "0.001", "oid": oid,
            "timestamp": 1, "origSz": "0.001", "cloid": encode_cloid(cid)}


def _drifts(events: list[Any]) -> int:
    return sum(1 for e in events if getattr(e, "metric", "")
               == "troupe_reconciliation_order_drifts_total")


def test_an_order_that_closed_after_the_venues_list_was_taken_is_no_drift() -> None:
    """The reconciliation's open-order list is the venue's at the moment it was asked for: an
    order of ours that filled after that (its event came before the answer) is still in it.
    That is no drift, and nothing is cancelled; an order nobody here knows still is one."""
    transport, recorder, _ = opened()
    transport.on_message(RestDone(("reconcile",), {"state": {}, "open": []}), 2)  # start-up
    transport.poll(2)
    send(transport, order("mm1-1"), now=3)
    transport.on_message(RestDone(recorder.calls[-1][0], {"ok": {"status": "ok", "response": {
        "type": "order", "data": {"statuses": [{"resting": {"oid": 11}}]}}}}), 3)
    transport.reconcile(4)
    fetch = recorder.calls[-1]
    assert fetch[0] == ("reconcile",)
    transport.on_message(frame("orderUpdates", [{"order": _resting("mm1-1", 11),
                                                 "status": "filled", "statusTimestamp": 5}]), 5)
    transport.poll(5)
    calls = len(recorder.calls)
    stranger = {**_resting("someone-else", 12), "cloid": "0x" + "ab" * 16}
    transport.on_message(RestDone(("reconcile",), {
        "state": {}, "open": [_resting("mm1-1", 11), stranger], "asked_ns": 4}), 6)
    events = transport.poll(6)
    assert _drifts(events) == 1  # the stranger, not ours
    (cancel,) = [c for c in recorder.calls[calls:] if c[0] == ("stranger_cancel",)]
    assert [c["cloid"] for c in cancel[2]["action"]["cancels"]] == [stranger["cloid"]]
