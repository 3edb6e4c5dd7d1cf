"""The adapter's own requests in the action budget's pure core: a book snapshot, a
reconciliation, a look-up, a sweep is paid from the same windows as the orders before it goes,
in the design's order (exits like cancels, from the reserve; upkeep before new orders, never from
the reserve), and held by a ban. Time is virtual: integers of nanoseconds passed in."""

from __future__ import annotations

from actors.execution.action_queue import ActionQueue
from actors.execution.budget_actor import BudgetDesk
from actors.execution.token_bucket import LimitModel, RateLimit, VenueLimits
from protocols.orders import Priority
from protocols.venue_state import VenueRequest
from tests.actors.execution.test_budget import cancel, new, sent

SEC = 1_000_000_000
MINUTE = 60 * SEC


def weight_window(capacity: int = 100, reserve: int = 10) -> VenueLimits:
    """Binance's request weight, scaled down: `capacity` a minute, `reserve` kept for exits."""
    return VenueLimits(limits=(RateLimit("request_weight", capacity, MINUTE,
                                         model=LimitModel.FIXED_WINDOW, reserve=reserve),))


def test_an_adapter_request_is_paid_from_the_window_before_it_goes() -> None:
    q = ActionQueue(weight_window(), 0)
    assert q.request(VenueRequest("depth", 50), 0)
    d = q.dispatch(0)
    assert [r.key for r in d.cleared] == ["depth"]
    assert q.budget.tokens(0)["request_weight"] == 50
    # Upkeep never takes the reserve: 50 more would leave 0 of the 10 kept for exits.
    q.request(VenueRequest("reconcile", 50), 0)
    d = q.dispatch(0)
    assert not d.cleared and d.next_wakeup_ns == MINUTE  # the next window
    assert [r.key for r in q.dispatch(MINUTE).cleared] == ["reconcile"]


def test_upkeep_goes_before_new_orders_and_new_orders_wait_behind_it() -> None:
    q = ActionQueue(weight_window(capacity=100, reserve=10), 0)
    for i in range(85):
        q.put(new(i), 0)
    q.request(VenueRequest("reconcile", 10), 0)
    d = q.dispatch(0)
    assert [r.key for r in d.cleared] == ["reconcile"]
    assert len(sent(d)) == 80  # the window less the reserve, less the reconciliation
    # A snapshot that does not fit holds the new orders behind it until it has gone.
    q2 = ActionQueue(weight_window(capacity=100, reserve=10), 0)
    for i in range(60):
        q2.put(new(i), 0)
    assert len(sent(q2.dispatch(0))) == 60
    q2.request(VenueRequest("depth", 50), 0)
    q2.put(new("late"), 0)
    d = q2.dispatch(0)
    assert not d.cleared and not sent(d)  # 30 left: the new order may not take them first
    d = q2.dispatch(MINUTE)
    assert [r.key for r in d.cleared] == ["depth"] and len(sent(d)) == 1


def test_an_exit_spends_the_reserve_and_goes_before_cancels() -> None:
    q = ActionQueue(weight_window(capacity=100, reserve=10), 0)
    for i in range(95):
        q.put(new(i), 0)
    assert len(sent(q.dispatch(0))) == 90  # new orders stop at the reserve
    q.put(cancel(1), 0)
    q.request(VenueRequest(("cancel", "stranger"), 1, exit=True), 0)
    q.request(VenueRequest("look-up", 4), 0)
    d = q.dispatch(0)
    assert [r.key for r in d.cleared] == [("cancel", "stranger")]
    assert [b.priority for b in d.batches] == [Priority.CANCEL]
    assert d.next_wakeup_ns == MINUTE  # the look-up waits for the next window


def test_a_ban_holds_every_request_and_asking_twice_queues_one() -> None:
    q = ActionQueue(weight_window(), 0)
    q.on_banned(0, 5 * SEC)
    q.request(VenueRequest("depth", 5), 0)
    q.request(VenueRequest("depth", 5), 0)
    q.request(VenueRequest("sweep", 1, exit=True), 0)
    d = q.dispatch(SEC)
    assert not d.cleared and d.next_wakeup_ns == 5 * SEC
    assert sorted(r.key for r in q.dispatch(5 * SEC).cleared) == ["depth", "sweep"]
    assert q.waiting_requests() == 0


def test_a_new_order_does_not_jump_a_waiting_request_by_the_fast_path() -> None:
    desk = BudgetDesk(weight_window(capacity=100, reserve=10), 0)
    q = desk.queue
    for i in range(60):
        q.put(new(i), 0)
    q.dispatch(0)
    out = desk.request(VenueRequest("depth", 50), 0)
    assert not out.cleared
    assert q.send_now(new("next"), 0) is None


def test_a_request_no_window_could_hold_is_cleared_at_once_unpaid() -> None:
    desk = BudgetDesk(weight_window(capacity=100, reserve=10), 0)
    out = desk.request(VenueRequest("depth", 250), 0)  # a 5000-level snapshot, 100 a minute
    assert [r.key for r in out.cleared] == ["depth"]
    assert desk.queue.budget.tokens(0)["request_weight"] == 100
