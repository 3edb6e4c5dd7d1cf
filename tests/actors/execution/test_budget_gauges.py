"""The ActionBudget's gauges read, after every message, what its statistics say at that moment:
queue depth per priority, tokens left per limit and of the cancel allowance. The actor sets
only the gauges whose values changed, so this drives it through every kind of change (sends
that spend, queues that fill and drain, refills, fixed windows that roll, the venue's counts,
a 429, a cancel paid from the allowance) and compares each time, in both metrics sinks."""

from __future__ import annotations

import random
from typing import Any

import pytest

from actors.execution.budget_actor import BUDGET_LEVELS, ActionBudget, budget_priority
from actors.execution.token_bucket import LimitModel, LimitUnit, RateLimit, VenueLimits
from protocols.decisions import Proposal
from protocols.orders import Intent, Priority, ReplaceIntent
from protocols.venue_state import RateLimited, RequestAccepted, VenueUsage
from supervision.metrics.prometheus import PrometheusMetrics
from supervision.runtime.deterministic import DeterministicHost
from supervision.runtime.introspection import InMemoryMetrics
from supervision.runtime.mailbox import StablePriority
from supervision.testing import Probe
from tests.actors.execution.test_budget_actor import MS, SEC, cancel, new

LIMITS = VenueLimits(
    limits=(RateLimit("weight", 12, SEC, reserve=2),
            RateLimit("orders_10s", 8, 10 * SEC, model=LimitModel.FIXED_WINDOW,
                      unit=LimitUnit.ORDERS, reserve=1)),
    cancel_allowance=RateLimit("cancels", 2, 3 * SEC),
    window_margin_ns=100 * MS)
GAUGES = ("troupe_budget_queue_depth", "troupe_budget_tokens_remaining")


def gauges(metrics: Any) -> dict[tuple[str, str], float]:
    return {(metric, labels[0][1]): value for (actor, metric, labels), value
            in metrics.gauges.items() if actor == "budget" and metric in GAUGES}


def expected(host: DeterministicHost) -> dict[tuple[str, str], float]:
    stats = host.actor("budget").snapshot
    return {**{("troupe_budget_queue_depth", p.name.lower()): n for p, n in stats.depth.items()},
            **{("troupe_budget_tokens_remaining", name): n for name, n in stats.tokens.items()},
            ("troupe_budget_tokens_remaining", "cancel_allowance"): stats.cancel_tokens}


def intent(rng: random.Random, i: int) -> Intent:
    kind = rng.choice(("new", "new", "reduce_only", "cancel", "replace"))
    if kind == "cancel":
        return cancel(rng.randrange(max(1, i)))
    if kind == "replace":
        return ReplaceIntent(f"c-s-{rng.randrange(max(1, i))}", "BTC", 2, 101)
    return new(i, reduce_only=kind == "reduce_only")


@pytest.mark.parametrize("sink", [InMemoryMetrics, PrometheusMetrics])
def test_after_every_message_the_gauges_read_the_statistics(sink: type) -> None:
    metrics = sink()
    host = DeterministicHost(seed=3, metrics=metrics)
    venue = host.spawn("venue", Probe)
    budget = host.spawn("budget", lambda: ActionBudget(LIMITS, venue),
                        mailbox=StablePriority(BUDGET_LEVELS, budget_priority, None))
    host.settle()
    assert gauges(metrics) == expected(host)
    rng = random.Random(11)
    for i in range(400):
        roll = rng.random()
        if roll < 0.6:
            budget.tell(Proposal("s", intent(rng, i), None, host.monotonic_ns()))
        elif roll < 0.75:
            budget.tell(VenueUsage((("orders_10s", rng.randrange(10)), ("weight", 1)), 0,
                                   host.time_ns()))
        elif roll < 0.78:
            budget.tell(RateLimited(rng.choice((None, 300 * MS)), 0))
        else:
            budget.tell(RequestAccepted(0))
        host.settle()
        assert gauges(metrics) == expected(host), i
        if rng.random() < 0.3:  # time passes: refills, wake-ups, a window's boundary
            host.advance(rng.choice((0.05, 0.4, 1.5, 4.0)))
            budget.tell(RequestAccepted(0))  # a message at the new time, then compare
            host.settle()
            assert gauges(metrics) == expected(host), i
    depths = {p.name.lower() for p in Priority}
    assert {p for (m, p) in gauges(metrics) if m == GAUGES[0]} == depths
