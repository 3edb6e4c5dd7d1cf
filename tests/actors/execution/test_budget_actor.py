"""The ActionBudget actor on the deterministic host: the flood test at the actor level, backoff
after a 429 per the venue's flags, bans, TTL drops reported to the strategy, the overtakes a
priority mailbox allows, and CancelAll."""

from __future__ import annotations

from typing import Any

import pytest

from actors.execution.budget_actor import BUDGET_LEVELS, ActionBudget, budget_priority
from actors.execution.token_bucket import RateLimit, VenueLimits
from protocols.codec import Side
from protocols.commands import CancelAll
from protocols.decisions import Proposal, Trigger
from protocols.orders import (
    BudgetStatistics,
    CancelIntent,
    Dropped,
    Intent,
    OrderIntent,
    OrderType,
    Priority,
    ReplaceIntent,
)
from protocols.venue_state import (
    Banned,
    BudgetOpened,
    CancelAllOrders,
    RateLimited,
    RequestAccepted,
    SendActions,
)
from supervision.runtime.deterministic import DeterministicHost
from supervision.runtime.mailbox import StablePriority
from supervision.testing import Probe, received

SEC = 10**9
MS = 10**6




def new(i: int | str, *, instrument: str = "BTC", reduce_only: bool = False) -> OrderIntent:
    return OrderIntent(f"c-s-{i}", instrument, Side.BUY, OrderType.LIMIT, 1, 100,
                       reduce_only=reduce_only)


def cancel(i: int | str, instrument: str = "BTC") -> CancelIntent:
    return CancelIntent(f"c-s-{i}", instrument)


class Rig:
    def __init__(self, limits: VenueLimits, capacity: int | None = None) -> None:
        self.host = DeterministicHost(seed=7)
        self.venue = self.host.spawn("venue", Probe)
        self.strategy = self.host.spawn("strategy", Probe)
        venue = self.venue
        self.budget = self.host.spawn(
            "budget", lambda: ActionBudget(limits, venue),
            mailbox=StablePriority(BUDGET_LEVELS, budget_priority, capacity))
        self.host.settle()

    def propose(self, intent: Intent) -> None:
        self.budget.tell(Proposal("s", intent, self.strategy, self.host.monotonic_ns()))

    def seen(self, name: str) -> list[Any]:
        # A budget's start says BudgetOpened to the venue: not one of the actions looked at.
        return [m for m in received(self.host, name) if not isinstance(m, BudgetOpened)]

    def sent(self) -> list[Intent]:
        return [i for m in self.seen("venue") if isinstance(m, SendActions)
                for i in m.batch.intents]

    def ids(self) -> list[str]:
        return [i.client_order_id + ("/cancel" if isinstance(i, CancelIntent) else "")
                for i in self.sent()]

    def stats(self) -> BudgetStatistics:
        stats = self.host.actor("budget").snapshot
        assert isinstance(stats, BudgetStatistics)
        return stats

    def counter(self, metric: str, **labels: str) -> float:
        key = ("budget", metric, tuple(sorted(labels.items())))
        return self.host.metrics.counters.get(key, 0)  # type: ignore[attr-defined]


def per_second(n: int = 10, **kw: Any) -> VenueLimits:
    return VenueLimits(limits=(RateLimit("per_second", n, SEC),), **kw)


# --- priority -----------------------------------------------------------------------------


def test_flood_reduce_only_and_cancel_jump_100k_queued_new_orders() -> None:
    rig = Rig(per_second(10))
    for i in range(100_000):
        rig.propose(new(i))
    rig.host.settle()  # every proposal handled; the bucket paid for the first 10 only
    assert rig.ids() == [f"c-s-{i}" for i in range(10)]
    assert rig.stats().depth[Priority.NEW] == 99_990

    rig.propose(new("exit", reduce_only=True))
    rig.propose(cancel(3))  # an order already at the venue
    rig.host.advance(0.25)  # two tokens come back, one every 100 ms
    assert rig.ids()[10:] == ["c-s-exit", "c-s-3/cancel"]  # reduce-only first, then the cancel
    rig.host.advance(0.1)
    assert rig.ids()[12:] == ["c-s-10"]  # then the flood resumes, in order
    batches = [m.batch for m in rig.seen("venue")[10:12]]
    assert [b.priority for b in batches] == [Priority.REDUCE_ONLY, Priority.CANCEL]
    assert rig.stats().depth[Priority.NEW] == 99_989


def test_an_owner_says_what_caused_its_order_and_how_long_the_rate_limit_held_it() -> None:
    rig = Rig(per_second(1))
    rig.budget.tell(Proposal("s", new(1), rig.strategy, 5, Trigger.TIMER))
    rig.propose(new(2))  # no token left: it waits a second for one
    rig.host.settle()
    rig.host.advance(1.0)
    sends = [m for m in rig.seen("venue") if isinstance(m, SendActions)]
    (first,), (second,) = (s.owners for s in sends)
    assert first is not None and second is not None
    assert (first.trigger, first.trigger_recv_ns, first.held_ns(sends[0].sent_ns)) == (
        Trigger.TIMER, 5, 0)
    assert (second.trigger, second.held_ns(sends[1].sent_ns)) == (Trigger.MARKET, SEC)


def test_the_mailbox_hands_over_urgent_proposals_before_a_backlog() -> None:
    rig = Rig(per_second(10))
    for i in range(1_000):
        rig.propose(new(i))
    rig.propose(cancel("other"))
    rig.propose(new("exit", reduce_only=True))  # none handled yet: all still in the mailbox
    rig.host.settle()
    assert rig.ids()[:2] == ["c-s-exit", "c-s-other/cancel"]
    assert rig.ids()[2:] == [f"c-s-{i}" for i in range(8)]


def test_budget_priority_levels() -> None:
    def p(intent: Intent) -> int:
        return budget_priority(Proposal("s", intent, None, 0))

    assert p(new(1, reduce_only=True)) == 0
    assert p(ReplaceIntent("c-s-1", "BTC", 1, 100, reduce_only=True)) == 0
    assert p(cancel(1)) == 1
    assert p(new(1)) == 2 and p(ReplaceIntent("c-s-1", "BTC", 1, 100)) == 2
    assert budget_priority(CancelAll(None, "halt")) == 0
    assert budget_priority(RateLimited(None, 0)) == budget_priority(RequestAccepted(0)) == 0


# --- venue feedback -------------------------------------------------------------------------


def test_429_holds_new_orders_while_cancels_and_reduce_only_keep_flowing() -> None:
    rig = Rig(per_second(10))
    for i in range(20):
        rig.propose(new(i))
    rig.host.settle()
    assert len(rig.sent()) == 10
    rig.budget.tell(RateLimited(retry_after_ns=5 * SEC, recv_ns=0))
    rig.propose(cancel(0))
    rig.propose(new("exit", reduce_only=True))
    rig.host.advance(2)
    assert rig.ids()[10:] == ["c-s-exit", "c-s-0/cancel"]  # at the refill rate, during backoff
    assert rig.stats().blocked == frozenset({Priority.NEW})
    rig.host.advance(2.9)  # 4.9 s: still blocked
    assert len(rig.sent()) == 12
    rig.host.advance(0.2)
    assert rig.ids()[12:] == [f"c-s-{i}" for i in range(10, 20)]  # the backoff ended
    assert rig.counter("troupe_budget_rate_limited_total") == 1
    rig.budget.tell(RequestAccepted(recv_ns=0))
    rig.host.settle()
    assert rig.stats().backoff_ns == SEC


def test_a_venue_that_punishes_any_request_holds_cancels_too() -> None:
    rig = Rig(per_second(10, backoff_blocks=frozenset(Priority)))
    rig.budget.tell(RateLimited(retry_after_ns=SEC, recv_ns=0))
    rig.propose(cancel(0))
    rig.budget.tell(CancelAll(None, "halt"))
    rig.host.advance(0.9)
    assert rig.seen("venue") == []
    rig.host.advance(0.2)
    assert isinstance(rig.seen("venue")[0], CancelAllOrders)
    assert rig.ids() == ["c-s-0/cancel"]


def test_a_ban_stops_everything_until_it_ends() -> None:
    rig = Rig(per_second(10))
    rig.budget.tell(Banned(until_ns=3 * SEC))
    rig.propose(new(1, reduce_only=True))
    rig.propose(cancel(2))
    rig.host.advance(2.9)
    assert rig.seen("venue") == []
    rig.host.advance(0.3)
    assert rig.ids() == ["c-s-1", "c-s-2/cancel"]


# --- drops ----------------------------------------------------------------------------------


def test_a_stale_new_order_is_reported_to_the_strategy_not_sent_late() -> None:
    rig = Rig(per_second(1, new_order_ttl_ns=500 * MS))
    rig.propose(new(1))
    rig.propose(new(2))  # waits for the next token, 1 s away, past its 0.5 s TTL
    rig.host.advance(2)
    assert rig.ids() == ["c-s-1"]
    (drop,) = [m for m in rig.seen("strategy") if isinstance(m, Dropped)]
    assert drop.intent == new(2) and drop.reason == "stale"
    assert rig.counter("troupe_budget_dropped_total", reason="stale") == 1
    assert rig.host.cell("budget").behaviour.desk.tracked() == 0  # type: ignore[union-attr]


def test_a_cancel_that_overtakes_its_order_in_the_mailbox_stops_it() -> None:
    rig = Rig(per_second(10))
    rig.propose(new(1))  # level 2
    rig.propose(cancel(1))  # level 1: handled first
    rig.propose(ReplaceIntent("c-s-1", "BTC", 1, 101))  # level 2, after the cancel too
    rig.host.settle()
    assert rig.ids() == ["c-s-1/cancel"]  # the order never reaches the venue
    reasons = [(type(m.intent).__name__, m.reason) for m in rig.seen("strategy")]
    assert reasons == [("OrderIntent", "cancelled_before_send"),
                       ("ReplaceIntent", "cancel_pending")]


def test_cancel_all_drops_queued_and_in_flight_new_orders_but_not_exits() -> None:
    rig = Rig(per_second(2))
    rig.propose(new("a1"))
    rig.propose(new("a2"))
    rig.propose(new("q1"))
    rig.propose(new("q2", instrument="ETH"))
    rig.host.settle()  # a1, a2 sent; q1 and q2 queued in the budget
    for i in range(3):
        rig.propose(new(f"m{i}"))  # approved before the CancelAll, still in the mailbox
    rig.propose(new("exit", reduce_only=True))
    rig.budget.tell(CancelAll("BTC", "spec_change"))
    rig.host.settle()
    rig.propose(new("after"))  # approved after the fence went through
    rig.host.advance(5)

    assert rig.ids() == ["c-s-a1", "c-s-a2", "c-s-exit", "c-s-q2", "c-s-after"]
    cancel_all = [m for m in rig.seen("venue") if isinstance(m, CancelAllOrders)]
    assert [(c.instrument, c.reason) for c in cancel_all] == [("BTC", "spec_change")]
    dropped = {m.intent.client_order_id: m.reason for m in rig.seen("strategy")}
    assert dropped == {"c-s-q1": "cancel_all", "c-s-m0": "cancel_all",
                       "c-s-m1": "cancel_all", "c-s-m2": "cancel_all"}
    assert rig.counter("troupe_budget_dropped_total", reason="cancel_all") == 4


def test_cancel_all_for_every_instrument_empties_the_new_order_level() -> None:
    rig = Rig(per_second(1))
    for i in range(5):
        rig.propose(new(i, instrument="BTC" if i % 2 else "ETH"))
    rig.host.settle()
    rig.budget.tell(CancelAll(None, "halted"))
    rig.host.advance(3)
    assert rig.ids() == ["c-s-0"]
    assert rig.stats().depth[Priority.NEW] == 0
    assert len([m for m in rig.seen("strategy") if m.reason == "cancel_all"]) == 4


# --- what the venue and the metrics see ---------------------------------------------------


def test_sends_carry_their_owners_and_gauges_follow_the_queue() -> None:
    rig = Rig(per_second(2))
    for i in range(5):
        rig.propose(new(i))
    rig.host.settle()
    first = rig.seen("venue")[0]
    assert isinstance(first, SendActions)
    (owner,) = first.owners
    assert owner is not None and owner.strategy == "s" and owner.reply_to is rig.strategy
    gauges = rig.host.metrics.gauges  # type: ignore[attr-defined]
    assert gauges[("budget", "troupe_budget_queue_depth", (("priority", "new"),))] == 3
    assert gauges[("budget", "troupe_budget_tokens_remaining", (("limit", "per_second"),))] == 0
    assert rig.host.ask(rig.budget, "statistics").depth[Priority.NEW] == 3
    assert rig.counter("troupe_budget_sent_total", priority="new") == 2


def test_a_full_new_order_level_refuses_but_exits_are_never_refused() -> None:
    rig = Rig(per_second(1), capacity=3)
    refusals = [rig.budget.tell(Proposal("s", new(i), None, 0)) for i in range(5)]
    assert [r is None for r in refusals] == [True, True, True, False, False]
    assert rig.budget.tell(Proposal("s", new("x", reduce_only=True), None, 0)) is None


@pytest.mark.parametrize("n", [0, 3])
def test_every_proposal_is_sent_or_reported_once(n: int) -> None:
    rig = Rig(per_second(5, new_order_ttl_ns=300 * MS))
    for i in range(20):
        rig.propose(new(i))
        if i % 4 == n:
            rig.propose(cancel(i))
    rig.host.advance(10)
    orders = [i.client_order_id for i in rig.sent() if isinstance(i, OrderIntent)]
    dropped = [m.intent.client_order_id for m in rig.seen("strategy")
               if isinstance(m.intent, OrderIntent)]
    assert sorted(orders + dropped) == sorted(f"c-s-{i}" for i in range(20))
    assert rig.host.cell("budget").behaviour.desk.tracked() == 0  # type: ignore[union-attr]
