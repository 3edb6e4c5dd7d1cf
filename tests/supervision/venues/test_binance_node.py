"""A node against the fake Binance over real loopback sockets, with the real ccxt client: the
operator's way in (`python -m supervision.main CONFIG --execute --confirm-live YES`), then
every fault the fake venue can script while the node trades. Nothing crashes, the books resync,
no order is sent twice, the start-up reconciliation runs, and the metrics count each event."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from supervision.fakevenue import FakeVenue, FakeVenueThread
from supervision.venues.binance.client import make_client

CONFIG = """
[node]
name = "fake-binance"
profile = "live"
status_interval_s = 1.0
lock_dir = "{lock_dir}"

[control]
listen_host = "127.0.0.1"
listen_port = 0
token = {{ env = "TROUPE_CONTROL_TOKEN" }}

[journal]
path = "{journal}"
fsync = "never"

[venue]
name = "binance"
kind = "binance"
account = "fake-{tag}"
rest_url = "{rest}"
ws_url = "{ws}"
api_key = {{ env = "BINANCE_API_KEY" }}
api_secret = {{ env = "BINANCE_API_SECRET" }}
request_timeout_s = 1.0

[[venue.limits]]
name = "request_weight"
capacity = 6000
refill_per_s = 100.0

[market]
source = "venue"

[[instruments]]
symbol = "BTCUSDT"
tick_size = "0.01"
lot_step = "0.00000001"
min_qty = "0.00001"
min_notional = "5"
maker_fee = "0.001"
taker_fee = "0.001"

[[strategies]]
id = "mm1"
kind = "market_maker"
instrument = "BTCUSDT"

[strategies.params]
quote_lots = 10000
max_inventory = 100000
requote_min_interval_s = 0.2
gamma = 2e-10
k = 0.02

[risk]
max_order_notional = "100"
max_total_exposure = "1000"
daily_loss_limit = "50"
max_drawdown = "100"

[node.lock]
"""


def _config(tmp_path: Path, urls: dict[str, str], tag: str) -> Path:
    # The account lock lives in the test's own directory: another test session running this
    # same test at the same time (same tag) must not find the account taken.
    text = CONFIG.format(journal=tmp_path / "journal.jsonl", rest=urls["rest"], ws=urls["ws"],
                         tag=tag, lock_dir=tmp_path / "locks").replace("[node.lock]\n", "")
    path = tmp_path / "fake.toml"
    path.write_text(text)
    return path


def _env() -> dict[str, str]:
    return {**os.environ, "TROUPE_CONTROL_TOKEN": "t" * 32, "BINANCE_API_KEY": "fake-key",
            "BINANCE_API_SECRET": "fake-secret", "PYTHONUNBUFFERED": "1"}


def _metric(text: str, name: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(name) and not line.startswith("#"))


def _run(tmp_path: Path, fake: FakeVenue, urls: dict[str, str], seconds: float,
         faults: list[tuple[float, dict[str, Any]]]) -> tuple[str, str, dict[str, float]]:
    config = _config(tmp_path, urls, tmp_path.name)
    proc = subprocess.Popen(
        [sys.executable, "-m", "supervision.main", str(config), "--execute", "--confirm-live",
         "YES", "--duration", str(seconds)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env=_env())
    assert proc.stdout is not None
    port = None
    lines = []
    for line in proc.stdout:
        lines.append(line)
        found = re.search(r"control plane: http://127.0.0.1:(\d+)", line)
        if found:
            port = int(found.group(1))
            break
    assert port is not None, "".join(lines)
    start = time.monotonic()
    for at, fault in faults:
        time.sleep(max(0.0, start + at - time.monotonic()))
        fake.faults.update(fault)
    time.sleep(max(0.0, start + seconds - 1.5 - time.monotonic()))
    metrics_text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics",
                                          timeout=5).read().decode()
    out, err = proc.communicate(timeout=60)
    names = ("troupe_ws_reconnects_total", "troupe_venue_429_total",
             "troupe_venue_resyncs_total", "troupe_orders_acked_total",
             "troupe_orders_sent_total", "troupe_order_timeouts_total",
             "troupe_book_resyncs_total", "troupe_venue_malformed_frames_total",
             "troupe_fills_total", "troupe_book_ignored_total", "troupe_book_trades_total")
    assert proc.returncode == 0, "".join(lines) + out + err
    return "".join(lines) + out, err, {n: _metric(metrics_text, n) for n in names}


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


def _start(config: Path, seconds: float) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "supervision.main", str(config), "--execute", "--confirm-live",
         "YES", "--duration", str(seconds)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env=_env())


def _wait_for(proc: subprocess.Popen[str], text: str) -> list[str]:
    assert proc.stdout is not None
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if text in line:
            return seen
    raise AssertionError("".join(seen))


def test_a_restart_adopts_its_orders_cancels_strangers_and_reduces_on_drift(
        tmp_path: Path) -> None:
    fake = FakeVenue.binance(speed=4)
    with FakeVenueThread(fake) as urls:
        config = _config(tmp_path, urls, tmp_path.name)
        config.write_text(config.read_text().replace('fsync = "never"', 'fsync = "always"'))
        first = _start(config, 60)
        _wait_for(first, "orders: sent=")
        deadline = time.monotonic() + 20
        while not fake.desk.open_orders(None) and time.monotonic() < deadline:
            time.sleep(0.2)
        first.kill()  # a crash: nothing is cancelled, the journal keeps what was open
        first.communicate(timeout=30)
        ours = {o["clientOrderId"] for o in fake.desk.open_orders(None)}
        assert ours
        outsider = make_client("spot", urls["rest"], api_key="k", secret="s")
        outsider.load_markets()
        outsider.create_order("BTC/USDT", "limit", "buy", 0.001, 50000,
                              {"newClientOrderId": "stranger-1"})
        second = _start(config, 14)
        _wait_for(second, "orders: sent=")
        # While it runs: an order nobody here placed, and a trade that moves the balance.
        outsider.create_order("BTC/USDT", "limit", "buy", 0.001, 50000,
                              {"newClientOrderId": "stranger-2"})
        outsider.create_order("BTC/USDT", "limit", "buy", 0.001, 70000,
                              {"newClientOrderId": "stranger-3"})
        out, err = second.communicate(timeout=60)
        resting = {o["clientOrderId"] for o in fake.desk.open_orders(None)}
    assert second.returncode == 0 and "Traceback" not in out + err, out + err
    summary = re.search(r"start-up reconciliation: (\d+) adopted, (\d+) cancelled, (\d+) "
                        r"unknown", err)
    assert summary is not None, err
    adopted, cancelled, unknown = map(int, summary.groups())
    # What the journal left open is adopted if it still rests (or unknown if it filled or was
    # cancelled meanwhile); the stranger is taken off the book.
    assert adopted + unknown >= 1 and cancelled == 1, err
    assert "stranger-2 rests at the venue, unknown here; cancelling it" in err, err
    assert not resting & {"stranger-1", "stranger-2"}
    assert "state=REDUCING" in out, out + err  # the outsider's trade is a position drift
