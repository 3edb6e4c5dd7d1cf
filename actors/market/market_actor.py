"""The Market actor: one per instrument, the single owner of what a venue says about it.

    connection --SpecUpdate / StatusUpdate / OracleUpdate / OpenInterestCap / FundingUpdate-->
        MarketActor --MarketState (every change), SpecChanged (material spec change)-->
        subscribers (risk gate, strategies, order book)

Why one owner: the risk gate, the strategies and the book must agree on which tick and lot are
in force, and on when that changed. So the spec and its version live here and nowhere else; the
others hold copies published by this actor.

Rules (the pure `MarketView` below; the actor only publishes what it returns):

- Material spec change: any field other than `spec_version` differs (tick, lot, minimums, fees,
  multiplier, contract type). It yields `SpecChanged(old, new)` first, then the `MarketState`
  carrying the new spec, so the risk gate halts the instrument on the first and finds the second
  already known. A spec for another symbol or venue is refused (misrouted), never adopted.
- Versions: if the venue numbers its specs (`SpecUpdate.versioned`) its number is taken as
  given, and an update whose number is not newer than ours is ignored as out of order (counted).
  Otherwise the venue's number is ignored and each material change gets ours + 1. An update
  that changes nothing material changes nothing, not even the version: a new version alone
  would make the gate see a "different" spec and halt for no reason.
- Oracle updates carry venue time; one older than the last applied is ignored (counted). Every
  accepted oracle update is published, even with unchanged prices, because `oracle_recv_ns` is
  what the risk gate's stale-oracle check reads.
- Everything else is published only when it changes the state (`recv_ns` aside).

Metrics: troupe_market_updates_total{kind}, troupe_market_spec_changes_total,
troupe_market_ignored_total{reason}, gauge troupe_market_spec_version.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import attrs

from actors.behaviour import Behaviour, Context, Ref
from protocols.feed import Subscribe, Unsubscribe
from protocols.instruments import InstrumentSpec
from protocols.market import MarketState, SpecChanged
from protocols.venue_state import (
    FundingUpdate,
    OpenInterestCap,
    OracleUpdate,
    SpecUpdate,
    StatusUpdate,
)

__all__ = ["MarketActor", "MarketView", "material_changes"]

MarketInput = SpecUpdate | StatusUpdate | OracleUpdate | OpenInterestCap | FundingUpdate
_IDENTITY = ("symbol", "venue")
_IGNORED = ("spec_version",)


def material_changes(old: InstrumentSpec, new: InstrumentSpec) -> tuple[str, ...]:
    """Names of the fields that differ, other than identity and version (an empty tuple: the
    same spec). Decimal comparison is by value, so "0.10" equals "0.1"."""
    return tuple(
        f.name
        for f in attrs.fields(InstrumentSpec)
        if f.name not in _IDENTITY + _IGNORED and getattr(old, f.name) != getattr(new, f.name)
    )


class MarketView:
    """The pure core: inputs in, the messages to publish out (and a reason when ignored)."""

    def __init__(self, spec: InstrumentSpec, instrument: str | None = None) -> None:
        self.instrument = instrument or spec.symbol
        self.state = MarketState(self.instrument, spec)
        self.oracle_venue_ns: int | None = None
        self.funding_next_ns: int | None = None
        self.ignored: str | None = None  # why the last input changed nothing, if it was refused

    @property
    def spec(self) -> InstrumentSpec:
        return self.state.spec

    def apply(self, message: MarketInput) -> list[MarketState | SpecChanged]:
        self.ignored = None
        # A spec is matched on (symbol, venue) in `_next_spec`: the runtime's instrument name
        # may differ from the venue's symbol.
        if not isinstance(message, SpecUpdate) and message.instrument != self.instrument:
            return self._ignore("misrouted")
        state = self.state
        out: list[MarketState | SpecChanged] = []
        if isinstance(message, SpecUpdate):
            new_spec = self._next_spec(message)
            if new_spec is None:
                return []
            out.append(SpecChanged(self.instrument, state.spec, new_spec, message.recv_ns))
            new = attrs.evolve(state, spec=new_spec)
        elif isinstance(message, StatusUpdate):
            new = attrs.evolve(state, status=message.status)
        elif isinstance(message, OracleUpdate):
            last = self.oracle_venue_ns
            if message.venue_ns is not None and last is not None and message.venue_ns < last:
                return self._ignore("oracle_time_regression")
            if message.venue_ns is not None:
                self.oracle_venue_ns = message.venue_ns
            new = attrs.evolve(state, oracle_x2=message.oracle_x2, mark_x2=message.mark_x2,
                               oracle_recv_ns=message.recv_ns)
        elif isinstance(message, OpenInterestCap):
            new = attrs.evolve(state, open_interest_capped=message.capped)
        else:
            self.funding_next_ns = message.next_ns
            new = attrs.evolve(state, funding_rate=message.rate)
        if new == state:
            return out
        self.state = attrs.evolve(new, recv_ns=message.recv_ns)
        out.append(self.state)
        return out

    def _next_spec(self, update: SpecUpdate) -> InstrumentSpec | None:
        old, new = self.spec, update.spec
        if (new.symbol, new.venue) != (old.symbol, old.venue):
            self._ignore("wrong_instrument")
            return None
        changed = material_changes(old, new)
        if update.versioned:
            if new.spec_version <= old.spec_version:
                if changed:
                    self._ignore("old_version")
                return None
            return new if changed else None
        if not changed:
            return None
        return attrs.evolve(new, spec_version=old.spec_version + 1)

    def _ignore(self, reason: str) -> list[MarketState | SpecChanged]:
        self.ignored = reason
        return []


class MarketActor(Behaviour):
    """One instrument's market state. Answers an `ask` of any input with the current state."""

    def __init__(
        self,
        spec: InstrumentSpec,
        *,
        subscribers: Iterable[Ref] = (),
        instrument: str | None = None,
    ) -> None:
        self.view = MarketView(spec, instrument)
        self.subscribers: dict[Any, None] = dict.fromkeys(subscribers)

    def on_start(self, ctx: Context) -> None:
        # Subscribers learn the spec in force at once, and again after a restart of this actor.
        view = self.view
        view.state = attrs.evolve(view.state, recv_ns=ctx.monotonic_ns())
        ctx.gauge("troupe_market_spec_version", view.spec.spec_version)
        for ref in self.subscribers:
            self._tell(ref, view.state, ctx)

    def receive(self, message: Any, ctx: Context) -> Any:
        if isinstance(message, Subscribe):
            self.subscribers[message.ref] = None
            self._tell(message.ref, self.view.state, ctx)
        elif isinstance(message, Unsubscribe):
            self.subscribers.pop(message.ref, None)
        elif isinstance(
            message, SpecUpdate | StatusUpdate | OracleUpdate | OpenInterestCap | FundingUpdate
        ):
            ctx.count("troupe_market_updates_total", kind=type(message).__name__)
            out = self.view.apply(message)
            if self.view.ignored is not None:
                ctx.count("troupe_market_ignored_total", reason=self.view.ignored)
            for event in out:
                if isinstance(event, SpecChanged):
                    ctx.count("troupe_market_spec_changes_total")
                    ctx.gauge("troupe_market_spec_version", event.new.spec_version)
                for ref in self.subscribers:
                    self._tell(ref, event, ctx)
        else:
            ctx.count("troupe_market_ignored_total", reason="unknown_message")
        return self.view.state

    @staticmethod
    def _tell(ref: Any, message: Any, ctx: Context) -> None:
        if ctx.tell(ref, message) is not None:
            ctx.count("troupe_market_publish_refused_total")

    def snapshot(self) -> dict[str, Any]:
        view = self.view
        return {
            "instrument": view.instrument,
            "spec_version": view.spec.spec_version,
            "status": view.state.status.value,
            "oracle_x2": view.state.oracle_x2,
            "mark_x2": view.state.mark_x2,
            "open_interest_capped": view.state.open_interest_capped,
            "funding_rate": view.state.funding_rate,
            "funding_next_ns": view.funding_next_ns,
        }
