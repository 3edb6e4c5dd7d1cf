"""The order half of the Hyperliquid transport: actions out, and what their answers mean.

`HlOrderAnswers` is the base of `supervision.venues.hyperliquid.transport.HyperliquidTransport`
(kept apart for size): the batched actions (`_flush`, `_submit_action`), their answers
(`_on_action`), the look-up of an UNKNOWN order by its cloid (how to ask, `_lookup_request`, and
what the answer means, `_looked_up`, in the cycle every adapter shares:
`supervision.venues.lookups.OrderLookups`), the order events of the user stream
(`_order_update`), the reconciliations (`_on_reconcile`: the start-up summary, adopted /
cancelled / unknown, and later drifts) and the bookkeeping they
share. The rules are in the transport's docstring; the pure translations in `mapping`.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from actors.execution.ids import encode_cloid
from actors.execution.venue_transport import (
    Counted,
    Reported,
    TransportEvent,
    throttled_reports,
)
from protocols.codec import DecodeError
from protocols.instruments import InstrumentSpec
from protocols.orders import (
    CancelIntent,
    CancelReject,
    CancelRejectCode,
    Intent,
    OrderIntent,
    Reject,
    RejectCode,
    ReplaceIntent,
    VenueReport,
)
from protocols.portfolio import VenuePositions
from protocols.venue_state import OpenInterestCap, RequestAccepted
from protocols.venues.hyperliquid_user import (
    OrderStatusEvent,
    OrderUpdates,
    cancel_action,
    order_action,
    parse_statuses,
    parse_user_message,
)
from supervision.venues.binance.io import RestDone
from supervision.venues.binance.orders import SETTLE_S
from supervision.venues.binance.reconcile import StartSummary
from supervision.venues.hyperliquid.batching import ActionBatcher
from supervision.venues.hyperliquid.discovery import HlMarketInfo
from supervision.venues.hyperliquid.mapping import (
    order_wire,
    reports_of_status,
    reports_of_update,
)
from supervision.venues.lookups import OrderLookups
from supervision.venues.rest_gate import RestGate, budget_answer

__all__ = ["HlOrderAnswers"]

log = logging.getLogger("troupe.venues.hyperliquid")
SECOND = 1_000_000_000


class HlOrderAnswers(OrderLookups):
    """State shared with the transport, set up by `_init_orders`."""

    settings: Any
    io: Any
    markets: dict[str, HlMarketInfo]
    by_coin: dict[str, str]
    specs: dict[str, InstrumentSpec]

    def _init_orders(self) -> None:
        settings = self.settings
        self.batcher = ActionBatcher(int(settings.batch_period_ms * 1_000_000))
        self.cids: dict[str, str] = {encode_cloid(c): c for c in settings.expected_open}
        self.by_oid: dict[int, str] = {}
        self.cancelling: set[str] = set()
        self.instrument_of: dict[str, str] = {}  # client id -> our instrument, for cancels
        self.start_summary: StartSummary | None = None
        self._queue: list[TransportEvent] = []
        self._due: dict[str, int] = {}
        self._answered: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._init_lookups()
        self.gate = RestGate()  # reconciliations wait out the venue's 429

    def _order_update(self, update: OrderStatusEvent, now_ns: int) -> None:
        cid = self.cids.get(update.cloid or "") or self.by_oid.get(update.oid)
        if cid is None:
            return  # not ours: another client of the account
        self.by_oid[update.oid] = cid
        if update.status != "open":
            self._closed(cid, now_ns)
        self._pass(reports_of_update(cid, update, cancel_requested=cid in self.cancelling))

    def _pass(self, reports: list[VenueReport]) -> None:
        for report in reports:
            key = (report.client_order_id, type(report).__name__)
            if key in self._answered:
                continue
            self._answered[key] = None
            if len(self._answered) > 20_000:
                self._answered.popitem(last=False)
            self._queue.append(Reported(report))

    # -- actions -------------------------------------------------------------------------------
    def _flush(self, now_ns: int) -> None:
        for lane, intents in self.batcher.due(now_ns):
            self._submit_action(lane, intents, now_ns)

    def _submit_action(self, lane: str, intents: tuple[Intent, ...], now_ns: int) -> None:
        if lane == "cancel":
            action = cancel_action([(self.markets[i.instrument].asset,
                                     encode_cloid(i.client_order_id)) for i in intents])
        else:
            wires = [order_wire(i, self.markets[i.instrument]) for i in intents
                     if isinstance(i, OrderIntent)]
            action = order_action([w for w in wires if not isinstance(w, str)])
        self.io.rest.submit(("action", lane, intents), self.io.post_action, {"action": action})

    def _on_action(self, done: RestDone, now_ns: int) -> None:
        lane, intents = done.tag[1], list(done.tag[2])
        throttled = budget_answer(done, now_ns)
        if throttled is not None:
            self._queue.append(throttled)
            self._queue += [Reported(r) for r in throttled_reports(intents, done.message, now_ns)]
            return
        if done.failure is not None:  # lost: UNKNOWN, then ask the venue by cloid
            self._lost(intents, now_ns)
            return
        self._queue.append(RequestAccepted(now_ns))
        value = done.value or {}
        if "refused" in value:
            log.warning("hyperliquid refused a %s action: %s", lane, value["refused"])
            for intent in intents:
                self._refuse(intent, str(value["refused"]), now_ns)
            return
        try:
            statuses = parse_statuses(value["ok"])
        except DecodeError as exc:
            for intent in intents:
                self._refuse(intent, str(exc), now_ns)
            return
        for intent, status in zip(intents, statuses, strict=False):
            cid = intent.client_order_id
            if status.oid is not None:
                self.by_oid[status.oid] = cid
            if status.kind == "error" and isinstance(intent, OrderIntent):
                self._closed(cid, now_ns)
                if "open interest" in status.message.lower():
                    self._queue.append(OpenInterestCap(intent.instrument, True, now_ns))
            self._pass(reports_of_status(cid, status, now_ns, cancel=lane == "cancel"))

    def _lookup_request(self, intent: OrderIntent | ReplaceIntent) -> tuple[
            Callable[[Any, dict[str, Any]], Any], dict[str, Any]]:
        wallet, cloid = self.settings.wallet, encode_cloid(intent.client_order_id)
        return lambda client, _p: client.publicPostInfo(
            {"type": "orderStatus", "user": wallet, "oid": cloid}), {}

    def _looked_up(self, done: RestDone, now_ns: int) -> bool | None:
        body = done.value if isinstance(done.value, Mapping) else {}
        if done.failure == "unknown" or body.get("status") == "unknownOid":
            return False
        if done.failure is not None or body.get("status") != "order":
            return None
        try:
            parsed = parse_user_message({"channel": "orderUpdates", "data": [body["order"]]})
        except DecodeError:
            return True  # the order, in words we cannot read: nothing more to ask
        if isinstance(parsed, OrderUpdates):
            for update in parsed.updates:
                self._order_update(update, now_ns)
        return True

    def _on_reconcile(self, done: RestDone, now_ns: int) -> None:
        if done.failure is not None:
            log.warning("hyperliquid reconciliation failed (%s); trying again", done.message)
            self._due.setdefault("reconcile", now_ns + 5 * SECOND)
            return
        state, open_rows = done.value["state"], done.value["open"]
        lots: dict[str, int] = {}
        for row in state.get("assetPositions", []):
            position = row.get("position", {})
            name = self.by_coin.get(position.get("coin", ""))
            if name is not None:
                lots[name] = int(Decimal(position["szi"]) / self.specs[name].lot_step)
        value = Decimal(str(state.get("marginSummary", {}).get("accountValue", "0")))
        self._queue.append(VenuePositions(tuple(sorted(lots.items())), (("USDC", value),),
                                          now_ns))
        at_venue = {str(o.get("cloid")): o for o in open_rows if o.get("cloid")}
        if self.start_summary is None:
            expected = {encode_cloid(c): c for c in self.settings.expected_open}
            adopted = [expected[c] for c in at_venue if c in expected]
            strangers = [c for c in at_venue if c not in expected]
            self.start_summary = StartSummary(
                tuple(sorted(adopted)), tuple(sorted(strangers)),
                tuple(sorted(c for k, c in expected.items() if k not in at_venue)))
            log.warning("hyperliquid start-up reconciliation: %s", self.start_summary.line())
            self.known_open.update(adopted)
            for cloid, row in at_venue.items():
                if cloid in expected and str(row.get("coin")) in self.by_coin:
                    self.instrument_of[expected[cloid]] = self.by_coin[str(row.get("coin"))]
            self._cancel_strangers(strangers, at_venue, now_ns)
            return
        # One point in time, the venue's (as on Binance): an order of ours that closed here
        # after the list was asked for, or up to SETTLE_S before (the list may lag the
        # matching engine), is in it still; that is no drift.
        since = done.value.get("asked_ns", now_ns) - int(SETTLE_S * SECOND)
        ours = {encode_cloid(c) for c in self.known_open}
        ours |= {encode_cloid(c) for c, at in self._closed_at.items() if at >= since}
        drifts = [c for c in at_venue if c not in ours]
        for cloid in drifts:
            self._count("troupe_reconciliation_order_drifts_total")
            log.warning("hyperliquid reconciliation drift: %s rests at the venue, unknown here",
                        cloid)
        self._cancel_strangers(drifts, at_venue, now_ns)

    def _cancel_strangers(self, cloids: Sequence[str], rows: Mapping[str, Any],
                          now_ns: int) -> None:
        if self.settings.observe or not cloids:
            return
        pairs = []
        for cloid in cloids:
            name = self.by_coin.get(str(rows[cloid].get("coin")))
            if name is not None:
                pairs.append((self.markets[name].asset, cloid))
        self.io.rest.submit(("stranger_cancel",), self.io.post_action,
                            {"action": cancel_action(pairs)})

    def _on_stranger_cancel(self, done: RestDone, now_ns: int) -> None:
        if done.failure is not None or "refused" in (done.value or {}):
            log.warning("hyperliquid could not cancel orders unknown here: %s",
                        done.message or done.value)

    # -- helpers -------------------------------------------------------------------------------
    def _instrument_of(self, cid: str) -> str | None:
        return self.instrument_of.get(cid)

    def _refuse(self, intent: Intent, words: str, now_ns: int) -> None:
        report: VenueReport = (
            CancelReject(intent.client_order_id, CancelRejectCode.OTHER, words, venue_ns=now_ns)
            if isinstance(intent, CancelIntent)
            else Reject(intent.client_order_id, RejectCode.OTHER, words, venue_ns=now_ns))
        self._queue.append(Reported(report))

    def _count(self, metric: str, **labels: str) -> None:
        self._queue.append(Counted(metric, (("venue", self.settings.name),
                                            *sorted(labels.items()))))
