"""The venue's own count of the rate limit spent (`VenueUsage`, from Binance's weight and order
count headers) is adopted by the ActionBudget where it says more was used, in the window the
venue's clock names; and a venue that punishes any request while throttled (Binance: all
priorities in `backoff_blocks`) gets nothing during a Retry-After, then the exits first."""

from __future__ import annotations

import pytest

from actors.execution.token_bucket import LimitModel, RateBudget, RateLimit, VenueLimits
from protocols.commands import CancelAll
from protocols.orders import Priority
from protocols.venue_state import CancelAllOrders, RateLimited, VenueUsage
from tests.actors.execution.test_budget_actor import SEC, Rig, cancel, new

MINUTE = 60 * SEC


def test_a_bucket_adopts_the_venues_count_when_it_says_more_was_used() -> None:
    budget = RateBudget((RateLimit("request_weight", 600, MINUTE),
                         RateLimit("orders_10s", 10, 10 * SEC, frozenset({Priority.NEW}))), 0)
    assert budget.try_spend(1, 0, Priority.NEW)
    assert budget.tokens(0) == {"request_weight": 599, "orders_10s": 9}
    assert budget.adopt("request_weight", 450, 0)  # snapshots and others spent what we did not
    assert budget.tokens(0) == {"request_weight": 150, "orders_10s": 9}
    # A count below ours gives nothing back: the answer is older than our last spending.
    assert budget.adopt("orders_10s", 0, 0)
    assert budget.tokens(0) == {"request_weight": 150, "orders_10s": 9}
    assert budget.adopt("request_weight", 9999, 0)  # past the limit: nothing left, never < 0
    assert budget.tokens(0)["request_weight"] == 0
    assert not budget.adopt("orders_1d", 5, 0)  # a limit this budget does not have


def test_the_actor_adopts_usage_in_the_venues_window_and_holds_what_it_cannot_pay() -> None:
    rig = Rig(VenueLimits(limits=(RateLimit("request_weight", 100, MINUTE,
                                            model=LimitModel.FIXED_WINDOW),)))
    # The host's wall clock is the venue's: this minute began `into` ago.
    epoch = rig.host.time_ns()
    into = epoch % MINUTE
    rig.budget.tell(VenueUsage((("request_weight", 99), ("orders_10s", 3)), 0, epoch))
    for i in range(3):
        rig.propose(new(i))
    rig.host.settle()
    assert rig.ids() == ["c-s-0"]  # one left by the venue's count, not 100
    assert rig.stats().tokens == {"request_weight": 0}
    assert rig.host.metrics.gauges[("budget", "troupe_budget_venue_used",  # type: ignore
                                    (("limit", "request_weight"),))] == 99
    rig.budget.tell(VenueUsage((("request_weight", 0),), 0, epoch))  # older: changes nothing
    rig.host.settle()
    assert rig.ids() == ["c-s-0"]
    rig.host.advance((MINUTE - into) / SEC - 0.001)
    assert rig.ids() == ["c-s-0"]
    rig.host.advance(0.001)  # the venue's next minute: the window starts again
    assert rig.ids() == ["c-s-0", "c-s-1", "c-s-2"]


def test_with_every_priority_blocked_a_429_stops_all_then_exits_go_first() -> None:
    rig = Rig(VenueLimits(limits=(RateLimit("request_weight", 6000, MINUTE),),
                          backoff_blocks=frozenset(Priority)))
    rig.budget.tell(RateLimited(2 * SEC, 0))
    rig.host.settle()
    rig.propose(new(1))
    rig.propose(cancel("resting"))
    rig.propose(new("exit", reduce_only=True))
    rig.budget.tell(CancelAll(None, "operator"))
    rig.host.advance(1.9)
    assert rig.seen("venue") == []  # nothing at all during the Retry-After
    rig.host.advance(0.2)
    seen = rig.seen("venue")
    assert isinstance(seen[0], CancelAllOrders)
    # The exit, then the cancel; the new order went with the cancel-all.
    assert [m.batch.priority for m in seen[1:]] == [Priority.REDUCE_ONLY, Priority.CANCEL]


@pytest.mark.parametrize("bad", [(("w", -1),), (("w", 1.5),), [("w", 1)]])
def test_usage_is_names_and_whole_counts(bad: object) -> None:
    with pytest.raises(ValueError, match="limit name"):
        VenueUsage(bad, 0)  # type: ignore[arg-type]
