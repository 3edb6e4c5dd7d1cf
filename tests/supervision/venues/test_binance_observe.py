"""Observe mode as the operator meets it with the shipped live config: with no API keys the node
watches the public market data and runs its strategies, sending nothing and asking nothing
private; `--execute` without keys refuses to start; an unreachable venue is one line per
attempt, retried, and the node stays not ready."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from supervision.fakevenue import FakeVenue, FakeVenueThread
from tests.supervision.venues.fake_node import (
    NodeProcess,
    metric,
    node_config,
    node_env,
    wait_until,
)

ROOT = Path(__file__).resolve().parents[3]


def test_without_keys_it_observes_the_public_market_and_asks_nothing_private(
        tmp_path: Path) -> None:
    fake = FakeVenue.binance(speed=4)
    with FakeVenueThread(fake) as urls:
        node = NodeProcess(node_config(tmp_path, urls), 60, execute=False, keys=False)
        node.wait_for("orders: observed=")
        assert wait_until(lambda: metric(node.metrics(), "troupe_orders_observed_total"), 15)
        text = node.metrics()
        ready = node.readyz()
        assert wait_until(lambda: "md=synced" in "".join(node.out), 20)
        node.proc.terminate()  # the operator's stop (SIGTERM), once it has seen it all
        out, err = node.finish()
        state = fake.state()
    assert "observing the public market data only" in err, err
    assert "md=synced" in out and "nothing sent" in out, out
    assert metric(text, "troupe_orders_observed_total") >= 1  # the strategy ran
    # No order, no listen key, no account: nothing private reached the venue.
    assert state["creates"] == {} and state["counts"].get("private_requests", 0) == 0, state
    assert state["connections"]["user"] == 0
    assert "reconciliation" not in err  # nothing to reconcile without an account
    assert ready["ready_md"] and not ready["ready_trading"], ready
    assert ready["mode"] == "observe" and ready["detail"]["reconciled"] is False, ready


def test_execute_without_keys_is_one_line_and_exit_code_2() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "supervision.main", "config/live.toml", "--execute",
         "--confirm-live", "YES"], cwd=ROOT, capture_output=True, text=True, timeout=60,
        env=node_env(keys=False))
    assert result.returncode == 2
    assert result.stderr == ("error: --execute needs the venue's keys (venue.api_key, "
                             "venue.api_secret resolved to nothing); without them this config "
                             "can only observe\n")


def test_an_unreachable_venue_is_said_retried_and_never_ready(tmp_path: Path) -> None:
    dead = {"rest": "http://127.0.0.1:9", "ws": "ws://127.0.0.1:9"}  # discard port: refused
    node = NodeProcess(node_config(tmp_path, dead), 6, execute=False, keys=False)
    node.wait_for("md=")
    ready = node.readyz()
    out, err = node.finish()
    lines = [line for line in err.splitlines() if "cannot be reached" in line]
    assert len(lines) >= 2, err  # retried
    assert "retrying in" in lines[0] and "not ready until it answers" in lines[0]
    assert "md=syncing" in out and "orders: observed=0" in out, out
    assert not ready["ready_md"] and not ready["ready_trading"], ready
