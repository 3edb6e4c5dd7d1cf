"""A node against the fake Binance over real loopback sockets, with the real ccxt client: the
operator's way in (`python -m supervision.main CONFIG --execute --confirm-live YES`), then
every fault the fake venue can script while the node trades. Nothing crashes, the books resync,
no order is sent twice, the start-up reconciliation runs, and the metrics count each event."""

from __future__ import annotations

import re
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from supervision.fakevenue import FakeVenue, FakeVenueThread
from supervision.venues.binance.client import make_client
from tests.supervision.venues.fake_node import NodeProcess, metric, node_config, wait_until

LOT = Decimal("0.00000001")
NAMES = ("troupe_ws_reconnects_total", "troupe_venue_429_total", "troupe_venue_resyncs_total",
         "troupe_orders_acked_total", "troupe_orders_sent_total", "troupe_order_timeouts_total",
         "troupe_book_resyncs_total", "troupe_venue_malformed_frames_total",
         "troupe_fills_total", "troupe_book_ignored_total", "troupe_book_trades_total",
         "troupe_book_decode_errors_total", "troupe_book_updates_total")


def _run(tmp_path: Path, fake: FakeVenue, urls: dict[str, str], seconds: float,
         faults: list[tuple[float, dict[str, Any]]]) -> tuple[str, str, dict[str, float]]:
    node = NodeProcess(node_config(tmp_path, urls), seconds)
    node.wait_for("control plane:")
    start = time.monotonic()
    for at, fault in faults:
        time.sleep(max(0.0, start + at - time.monotonic()))
        fake.faults.update(fault)
    time.sleep(max(0.0, start + seconds - 1.5 - time.monotonic()))
    text = node.metrics()
    out, err = node.finish()
    return out, err, {n: metric(text, n) for n in NAMES}


def test_a_live_node_trades_on_the_fake_venue_and_survives_every_fault(tmp_path: Path) -> None:
    fake = FakeVenue.binance(speed=4)
    with FakeVenueThread(fake) as urls:
        out, err, metrics = _run(tmp_path, fake, urls, 14.0, [
            (4.0, {"rate_limit": 2, "retry_after_s": 1}),
            (5.0, {"gap": 1, "malformed": 1}),
            (6.0, {"lose_response": 1}),
            (7.0, {"duplicate_reports": 3, "reorder_reports": 2}),
            (8.0, {"disconnect": 1}),
            (9.0, {"stall_s": 1.5}),
        ])
        state = fake.state()
    assert "Traceback" not in out + err, out + err
    assert state["creates"], out + err
    assert "start-up reconciliation: 0 adopted, 0 cancelled, 0 unknown" in err
    assert "md=synced" in out
    # No order was created twice: every client id the venue accepted, it accepted once.
    assert state["creates"] and set(state["creates"].values()) == {1}
    # The market maker's requotes went as cancel-replaces under their own client ids.
    assert state["replaces"] and set(state["replaces"]) <= set(state["creates"])
    counts = state["counts"]
    for fault in ("rate_limited", "gaps", "malformed", "lost_responses", "duplicate_reports",
                  "reordered_reports", "disconnects", "stalls"):
        assert counts.get(fault, 0) >= 1, (fault, counts)
    assert metrics["troupe_orders_acked_total"] >= 1
    assert metrics["troupe_venue_429_total"] >= 1
    assert metrics["troupe_ws_reconnects_total"] >= 1
    assert metrics["troupe_book_resyncs_total"] >= 2  # the start, then the gap or reconnect
    assert metrics["troupe_venue_resyncs_total"] >= 2
    assert metrics["troupe_order_timeouts_total"] >= 1
    assert metrics["troupe_venue_malformed_frames_total"] >= 1
    # The venue streamed only what the node subscribed: trades and depth, no bookTicker (which
    # nothing reads, and the book would count as ignored).
    assert metrics["troupe_book_trades_total"] >= 1
    assert metrics["troupe_book_ignored_total"] == 0
    # Diffs and trades came decoded in the books' own units: every one applied, none refused.
    assert metrics["troupe_book_updates_total"] >= 100
    assert metrics["troupe_book_decode_errors_total"] == 0


def test_a_restart_with_inventory_adopts_its_orders_cancels_strangers_and_sees_real_drift(
        tmp_path: Path) -> None:
    fake = FakeVenue.binance(speed=4)
    with FakeVenueThread(fake) as urls:
        config = node_config(tmp_path, urls, fsync="always")
        first = NodeProcess(config, 60)
        first.wait_for("orders: sent=")
        # A fill first: the account's balance is no longer what it was (a non-zero inventory).
        assert wait_until(lambda: fake.desk.trades and fake.desk.open_orders(None), 40)
        first.kill()  # a crash: nothing is cancelled, the journal keeps what was open
        first_err = "".join(first.err)
        outsider = make_client("spot", urls["rest"], api_key="k", secret="s")
        outsider.load_markets()
        outsider.create_order("BTC/USDT", "limit", "buy", 0.001, 50000,
                              {"newClientOrderId": "stranger-1"})
        second = NodeProcess(config, 90)  # stopped below, once it has seen everything
        second.wait_for("orders: sent=")
        # Reconciliations while the node trades on, with its orders adopted and filling: the
        # inventory the first run left is no drift.
        assert wait_until(lambda: metric(second.metrics(),
                                         "troupe_portfolio_reconciliations_total") >= 3, 30)
        quiet = second.metrics()
        # Then an order nobody here placed, and a trade that moves the balance: real drift.
        outsider.create_order("BTC/USDT", "limit", "buy", 0.001, 50000,
                              {"newClientOrderId": "stranger-2"})
        outsider.create_order("BTC/USDT", "limit", "buy", 0.001, 70000,
                              {"newClientOrderId": "stranger-3"})
        assert wait_until(lambda: metric(second.metrics(),
                                         "troupe_reconciliation_drift_total") >= 1, 20)
        # The drift moves the account to REDUCING (the status line says so every 5 s) and the
        # stranger is cancelled; then the operator stops the node (SIGTERM: a graceful stop).
        assert wait_until(lambda: "state=REDUCING" in "".join(second.out) and not {
            o["clientOrderId"] for o in fake.desk.open_orders(None)} & {"stranger-2"}, 30)
        second.proc.terminate()
        out, err = second.finish()
        resting = {o["clientOrderId"] for o in fake.desk.open_orders(None)}
    # The inventory the first run left, the adopted orders' fills and the node's own are no
    # drift: each fill is counted on both sides.
    assert metric(quiet, "troupe_reconciliation_drift_total") == 0, out + err
    assert metric(quiet, "troupe_fills_total") >= 1 or fake.desk.trades
    summary = re.search(r"start-up reconciliation: (\d+) adopted, (\d+) cancelled, (\d+) "
                        r"unknown", err)
    assert summary is not None, err
    adopted, cancelled, unknown = map(int, summary.groups())
    # What the journal left open is adopted if it still rests (or unknown if it filled or was
    # cancelled meanwhile); the stranger is taken off the book.
    assert adopted + unknown >= 1 and cancelled == 1, err
    # The first start on the account counts from what it held; the restart opens its position
    # at what the account holds beyond that, which the journal remembered.
    assert "BTCUSDT opens at 0 BTC (0 lots): " in first_err, first_err
    assert "BTC held, recorded as the starting inventory" in first_err, first_err
    opens = re.search(r"BTCUSDT opens at (\S+) BTC \((-?\d+) lots\): (\S+) BTC held, starting "
                      r"inventory (\S+) BTC \(journal\)", err)
    assert opens is not None, err
    assert Decimal(opens[3]) - Decimal(opens[4]) == Decimal(opens[1]) == int(opens[2]) * LOT
    assert "stranger-2 rests at the venue, unknown here; cancelling it" in err, err
    assert not resting & {"stranger-1", "stranger-2"}
    assert "state=REDUCING" in out, out + err  # the outsider's trade is a position drift
    # ... exactly the outsider's buy of 0.001 BTC (100 000 lots of 1e-8): where it took from
    # our own quotes (the fake venue lets an account trade with itself), our sell is booked on
    # our side and nets out of the balance on the venue's.
    gaps = re.findall(r"reconciliation drift on BTCUSDT: ours (-?\d+), venue (-?\d+)", err)
    assert gaps and {int(venue) - int(ours) for ours, venue in gaps} == {100_000}, err


def test_a_deep_level_off_the_tick_makes_the_book_resync_after_its_top(tmp_path: Path) -> None:
    """The live decode leaves a large diff's far levels to the book; one that does not count is
    found when the book applies them: the book goes stale ("decode_error"), asks for a snapshot
    and is synced again, and the node trades on."""
    fake = FakeVenue.binance(speed=4)
    with FakeVenueThread(fake) as urls:
        out, err, metrics = _run(tmp_path, fake, urls, 12.0, [(4.0, {"off_tick_deep": 1})])
        state = fake.state()
    assert "Traceback" not in out + err, out + err
    assert state["counts"].get("off_tick_deep", 0) == 1, state["counts"]
    assert metrics["troupe_book_decode_errors_total"] == 1
    assert metrics["troupe_venue_malformed_frames_total"] == 0  # not refused as a frame
    assert metrics["troupe_book_resyncs_total"] >= 2  # the start, then the bad level
    assert metrics["troupe_venue_resyncs_total"] >= 2
    assert "md=synced" in out
    assert state["creates"] and set(state["creates"].values()) == {1}
