"""Binance's order limit as a node meets it at full speed: twenty market makers requoting every
50 ms want far more than the venue's 100 orders per 10 s, and the budget, declared with the
venue's real limits in fixed windows, lets through what each window holds and never provokes a
429 (which would hold the cancels too, and lead Binance to ban the IP). At the end a halt's
cancel-all still goes through at once: no backoff holds it, and new orders left each window a
reserve for exits."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import trio

from supervision.fakevenue import FakeVenue, FakeVenueThread
from supervision.fakevenue.__main__ import symbols_arg
from supervision.fakevenue.limits import VenueCounters
from tests.supervision.venues.fake_node import (
    NodeProcess,
    market_maker,
    metric,
    node_config,
    wait_until,
)

RUN_S = 35.0  # three whole 10 s windows after the first order, at least: the first may
# still be the strategies warming up (a loaded clean-clone run once used 78 of its 90)


def shipped_order_limits() -> str:
    """The order limits the shipped live config declares (Binance spot's: 100 per 10 s, 200,000
    a day, each keeping a reserve for exits), as config text."""
    text = (Path(__file__).parents[3] / "config" / "live.toml").read_text()
    blocks = [block.split("\n\n")[0] for block in text.split("[[venue.limits]]")[1:]]
    found = "".join(f"[[venue.limits]]{b}\n" for b in blocks if 'name = "orders_' in b)
    assert 'name = "orders_10s"' in found and "capacity = 100\n" in found, found
    return found



class CountedWindows(VenueCounters):
    """The fake venue's own counters, keeping the orders it took in each of its 10 s windows."""

    def __init__(self, dialect: str) -> None:
        super().__init__(dialect)
        self.orders: dict[int, int] = {}

    def charge(self, weight: int, orders: int, now_ms: int, weight_limit: int = 0,
               order_limit: int = 0) -> list[tuple[bytes, bytes]]:
        headers = super().charge(weight, orders, now_ms, weight_limit, order_limit)
        if orders:
            window = now_ms // 10_000
            self.orders[window] = self.orders.get(window, 0) + orders
        return headers


def venue_clock(thread: FakeVenueThread) -> float:
    """The fake venue's trio clock, the one its request log is stamped with."""
    now: float = trio.from_thread.run_sync(trio.current_time, trio_token=thread._token)
    return now


def test_twenty_market_makers_at_full_speed_never_provoke_a_429(tmp_path: Path) -> None:
    symbols = symbols_arg("20")
    fake = FakeVenue.binance(symbols, speed=4)
    fake.faults.update({"order_limit": 100})  # Binance spot's published 100 orders per 10 s
    counted = fake.rest.limits = CountedWindows("spot")
    thread = FakeVenueThread(fake)
    with thread as urls:
        config = node_config(tmp_path, urls, limits_extra=shipped_order_limits(), tail="".join(
            market_maker(s, f"mm_{s}", requote_s=0.05) for s in symbols[1:]))
        node = NodeProcess(config, RUN_S + 90)  # stopped below, once the sweep is seen
        node.wait_for("control plane:")
        assert wait_until(lambda: fake.desk.open_orders(None), 60), "".join(node.out + node.err)
        start = time.monotonic()
        wait_until(lambda: time.monotonic() - start > RUN_S, RUN_S + 5, 0.5)
        text = node.metrics()
        halted = venue_clock(thread)
        node.control(action="halt", reason="end of the run")
        assert wait_until(lambda: not fake.desk.open_orders(None), 10, 0.02)
        swept = venue_clock(thread) - halted
        # (Every order may have been gone already: then the sweep comes after.)
        wait_until(lambda: any(m == "DELETE" and e == "openOrders" and t > halted
                               for t, m, e, _c, _s in list(fake.rest.log)), 10, 0.02)
        log = list(fake.rest.log)
        node.proc.send_signal(signal.SIGTERM)  # the stop, as systemd asks for it
        out, err = node.finish()
        state = fake.state()
    assert state["counts"].get("rate_limited", 0) == 0, state["counts"]
    assert metric(text, "troupe_venue_429_total") == 0
    assert not [entry for entry in log if entry[4] == 429]
    # At full speed: the budget held orders (sent once the window turned, or dropped when
    # held past their TTL of 1 s: which, depends on when in its window each was proposed), and
    # the venue's whole windows (two of the three, at least) were used up to the new orders'
    # share (100 less the reserve of 10), never past its 100.
    assert metric(text, "troupe_budget_held_seconds_count") + metric(
        text, "troupe_budget_dropped_total", reason="stale") > 0, text
    assert max(counted.orders.values()) <= 100, counted.orders
    assert sum(n >= 80 for n in counted.orders.values()) >= 2, counted.orders
    # The halt's cancel-all went out at once, nothing held it, and every order was gone
    # soon after: its sweep waits only for the requests already in the REST worker's queue
    # (up to a window's worth of orders the budget let go at its start).
    sweeps = [t - halted for t, m, e, _c, _s in log
              if m == "DELETE" and e == "openOrders" and t > halted]
    assert sweeps and sweeps[0] < 2.0 and swept < 5.0, (sweeps, swept)
    assert {s for _t, m, e, _c, s in log if m == "DELETE" and e == "openOrders"} == {200}
    assert "Traceback" not in out + err
