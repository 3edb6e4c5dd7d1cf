"""A strategy's long-lived `DecisionCarrier` (which keeps each WHY's value, each timer key's
Wake, its peers and counters from one decision to the next) does exactly what carrying out
each decision afresh by the rules does: the same tells, in the same order, the same counts,
the same timers, the same roll-backs of unsent intents. The reference below is the rule as
`carry_out` first wrote it; random sequences of decisions go through both."""

from __future__ import annotations

import enum
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from actors.strategies.kit import (
    NO_TRADE_METRIC,
    PROPOSAL_METRIC,
    Decision,
    DecisionCarrier,
    Wake,
    carry_out,
)
from actors.testing import FakeContext
from protocols.decisions import NoTrade, Proposal, Trigger
from protocols.orders import CancelIntent, Intent, OrderIntent, OrderType, Side, TimeInForce


class Why(enum.StrEnum):
    NO_CHANGE = "no_change"
    REQUOTE_INTERVAL = "requote_interval"
    RISK_REFUSED = "risk_refused"


class OtherWhy(enum.StrEnum):  # another strategy's codes, one spelled like one of ours
    NO_CHANGE = "no_change"
    WARMUP = "warmup"


def reference(decision: Decision, ctx: FakeContext, *, strategy: str, instrument: str,
              risk_gate: Any, journal: Any, on_unsent: Any, trigger: Trigger) -> None:
    cause = trigger if decision.trigger is None else decision.trigger
    for intent in decision.intents:
        proposal = Proposal(strategy, intent, ctx.self_ref, decision.trigger_ns, cause)
        if ctx.tell(risk_gate, proposal) is not None:
            on_unsent(intent)
        ctx.count(PROPOSAL_METRIC, strategy=strategy, kind=type(intent).__name__)
    if decision.why is not None:
        record = NoTrade(strategy, instrument, decision.why.value, decision.trigger_ns,
                         decision.detail)
        ctx.count(NO_TRADE_METRIC, strategy=strategy, reason=record.reason)
        if journal is not None:
            ctx.tell(journal, record)
    for key, delay in decision.timers:
        ctx.schedule(delay, Wake(key), key=(strategy, key))
    for message in decision.to_self:
        ctx.tell(ctx.self_ref, message)


def _intent(n: int, kind: int) -> Intent:
    if kind:
        return CancelIntent(f"c{n}", "BTCUSDT")
    return OrderIntent(f"o{n}", "BTCUSDT", Side.BUY, OrderType.LIMIT, 10, 100 + n,
                       TimeInForce.POST_ONLY)


decisions = st.builds(
    lambda intents, why, detail, timers, trigger_ns, to_self, trigger: Decision(
        tuple(_intent(n, k) for n, k in enumerate(intents)), why, detail, tuple(timers),
        trigger_ns, tuple(to_self), trigger),
    st.lists(st.integers(0, 1), max_size=3),
    st.one_of(st.none(), st.sampled_from([*Why, *OtherWhy])),
    st.sampled_from(["", "q=3", "1200ns"]),
    st.lists(st.tuples(st.one_of(st.sampled_from(["requote", "risk", "flow"]),
                                 st.integers(0, 200).map(lambda i: f"key{i}")),
                       st.floats(0.0, 2.0)), max_size=3),
    st.integers(0, 10**12),
    st.lists(st.sampled_from(["again", Wake("self")]), max_size=2),
    st.one_of(st.none(), st.sampled_from(Trigger)),
)


def _effects(ctx: FakeContext, unsent: list[Intent]) -> tuple[Any, ...]:
    """Everything the context recorded; messages by repr, since each run has its own refs."""
    return ([(name, repr(message)) for name, message in ctx.sent], ctx.metrics,
            sorted(ctx.timers.values(), key=lambda t: t.seq), unsent)


@settings(max_examples=150, deadline=None)
@given(steps=st.lists(st.tuples(decisions, st.sampled_from(Trigger), st.booleans()),
                      min_size=1, max_size=120),
       journaled=st.booleans())
def test_a_kept_carrier_does_what_the_rule_does_decision_by_decision(
        steps: list[tuple[Decision, Trigger, bool]], journaled: bool) -> None:
    runs = {}
    for way in ("kept", "reference", "afresh"):
        ctx, unsent = FakeContext("strategies/mm"), []
        gate, journal = ctx.ref("gate"), ctx.ref("journal") if journaled else None
        carrier = DecisionCarrier("mm", "BTCUSDT", risk_gate=gate, journal=journal,
                                  on_unsent=unsent.append)
        for decision, trigger, gate_full in steps:
            gate.refuse = "full" if gate_full else None
            ctx.advance(0.001)
            if way == "kept":
                carrier(decision, ctx, trigger)
            elif way == "afresh":
                carry_out(decision, ctx, strategy="mm", instrument="BTCUSDT", risk_gate=gate,
                          journal=journal, on_unsent=unsent.append, trigger=trigger)
            else:
                reference(decision, ctx, strategy="mm", instrument="BTCUSDT", risk_gate=gate,
                          journal=journal, on_unsent=unsent.append, trigger=trigger)
        runs[way] = _effects(ctx, unsent)
    assert runs["kept"] == runs["reference"]
    assert runs["afresh"] == runs["reference"]


def test_a_reason_is_journaled_as_its_plain_value() -> None:
    ctx = FakeContext("strategies/mm")
    journal = ctx.ref("journal")
    carrier = DecisionCarrier("mm", "BTCUSDT", risk_gate=ctx.ref("gate"), journal=journal,
                              on_unsent=lambda intent: None)
    for why in (Why.NO_CHANGE, OtherWhy.NO_CHANGE, Why.NO_CHANGE):
        carrier(Decision(why=why, trigger_ns=5), ctx)
    assert [type(r.reason) for r in journal.messages] == [str, str, str]
    assert [r.reason for r in journal.messages] == ["no_change"] * 3


@settings(max_examples=60, deadline=None)
@given(steps=st.lists(st.tuples(decisions, st.sampled_from(Trigger), st.booleans()),
                      min_size=1, max_size=60))
def test_a_kept_carrier_counts_in_whichever_context_it_is_given(
        steps: list[tuple[Decision, Trigger, bool]]) -> None:
    """The counters a carrier keeps (the last WHY's, each intent type's) are bound in one
    context: handed another (a test's, a restart's), it counts there, as the rule does."""
    kept = [FakeContext("strategies/mm"), FakeContext("strategies/mm")]
    ruled = [FakeContext("strategies/mm"), FakeContext("strategies/mm")]
    carrier = DecisionCarrier("mm", "BTCUSDT", risk_gate=kept[0].ref("gate"), journal=None,
                              on_unsent=lambda intent: None)
    for n, (decision, trigger, other) in enumerate(steps):
        which = int(other)
        for ctx in (kept[which], ruled[which]):
            ctx.advance(0.001)
        carrier(decision, kept[which], trigger)
        reference(decision, ruled[which], strategy="mm", instrument="BTCUSDT",
                  risk_gate=ruled[which].ref("gate"), journal=None,
                  on_unsent=lambda intent: None, trigger=trigger)
        assert kept[which].metrics == ruled[which].metrics, n
