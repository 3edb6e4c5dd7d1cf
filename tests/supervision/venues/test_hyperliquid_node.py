"""A node running `config/live_hyperliquid.toml` against the fake Hyperliquid over loopback,
the operator's way in (`python -m supervision.main`): observe mode without keys reaches
READY-MD on public data and rides out a disconnect and a one-sided bbo; `--execute` places and
cancels orders by cloid through signed, batched actions, survives a lost answer and a 429, and a
restart never repeats a nonce; a preflight refusal stops the start with one line."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from supervision.fakevenue import FakeVenueThread
from supervision.fakevenue.hyperliquid import HyperliquidFakeVenue

ROOT = Path(__file__).resolve().parents[3]
WALLET = "0x" + "22" * 20
KEY = "0x" + "11" * 32
MARKET_MAKER = """[[strategies]]
id = "mm1"
kind = "market_maker"
instrument = "BTC-USDC"

[strategies.params]
quote_lots = 50
vol_min_samples = 5
max_inventory = 1000
requote_min_interval_s = 0.2
gamma = 0.00001
k = 0.5

"""


def config(tmp_path: Path, urls: dict[str, str], *, dex: str = "default",
           market_maker: bool = False) -> Path:
    """The shipped config, pointed at the fake venue (and a market maker, which rests and
    cancels orders, for the --execute runs)."""
    text = (ROOT / "config" / "live_hyperliquid.toml").read_text()
    text = text.replace('path = "var/live-hyperliquid.jsonl"',
                        f'path = "{tmp_path / "journal.jsonl"}"')
    text = text.replace("listen_port = 8321", "listen_port = 0")
    text = text.replace("status_interval_s = 5.0",
                        f'status_interval_s = 1.0\nlock_dir = "{tmp_path / "locks"}"')
    text = text.replace('# rest_url = "https://api.hyperliquid.xyz"',
                        f'rest_url = "{urls["rest"]}"  #')
    text = text.replace('# ws_url = "wss://api.hyperliquid.xyz/ws"', f'ws_url = "{urls["ws"]}"')
    text = text.replace("heartbeat_s = 45.0", "heartbeat_s = 3.0")
    text = text.replace("request_timeout_s = 10.0", "request_timeout_s = 1.0")
    text = text.replace('dex = "default"', f'dex = "{dex}"')
    if market_maker:
        start, end = text.index("[[strategies]]"), text.index("[risk]")
        text = text[:start] + MARKET_MAKER + text[end:]
    path = tmp_path / "hyperliquid.toml"
    path.write_text(text)
    return path


def env(keys: bool) -> dict[str, str]:
    out = {**os.environ, "TROUPE_CONTROL_TOKEN": "t" * 32, "PYTHONUNBUFFERED": "1"}
    out.pop("HYPERLIQUID_WALLET", None)
    out.pop("HYPERLIQUID_PRIVATE_KEY", None)
    if keys:
        out.update(HYPERLIQUID_WALLET=WALLET, HYPERLIQUID_PRIVATE_KEY=KEY)
    return out


@pytest.fixture
def venue() -> Iterator[tuple[HyperliquidFakeVenue, dict[str, str]]]:
    fake = HyperliquidFakeVenue.build(dex_coins={"xyz": ("XYZ100", "BTC")}, speed=4)
    with FakeVenueThread(fake) as urls:
        yield fake, urls


def start(path: Path, seconds: float, *, execute: bool,
          keys: bool | None = None) -> subprocess.Popen[str]:
    flags = ["--execute", "--confirm-live", "YES"] if execute else []
    return subprocess.Popen(
        [sys.executable, "-m", "supervision.main", str(path), "--duration", str(seconds),
         *flags], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=env(execute if keys is None else keys), cwd=ROOT)


def control_port(proc: subprocess.Popen[str]) -> tuple[int, list[str]]:
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:
        lines.append(line)
        found = re.search(r"control plane: http://127.0.0.1:(\d+)", line)
        if found:
            return int(found.group(1)), lines
    raise AssertionError("".join(lines) + (proc.stderr.read() if proc.stderr else ""))


def get(port: int, path: str) -> Any:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as answer:
        body = answer.read().decode()
    return json.loads(body) if path == "/readyz" else body


def metric(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def wait_ready_md(port: int, timeout_s: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    ready: dict[str, Any] = {}
    while time.monotonic() < deadline:
        try:
            ready = get(port, "/readyz")
        except urllib.error.HTTPError as exc:  # 503 while not ready, with the same body
            ready = json.loads(exc.read().decode())
        if ready.get("ready_md"):
            return ready
        time.sleep(0.2)
    raise AssertionError(f"never READY-MD: {ready}")


def wait_metric(port: int, name: str, timeout_s: float = 10) -> str:
    """The metrics once `name` has counted something (a fault's effect takes the next action,
    and a lost answer its timeout)."""
    deadline = time.monotonic() + timeout_s
    while True:
        text: str = get(port, "/metrics")
        if metric(text, name) >= 1 or time.monotonic() > deadline:
            return text
        time.sleep(0.3)


def test_observe_mode_without_keys_reaches_ready_md_and_rides_out_faults(
        tmp_path: Path, venue: Any) -> None:
    fake, urls = venue
    proc = start(config(tmp_path, urls), 14, execute=False)
    port, lines = control_port(proc)
    ready = wait_ready_md(port)
    assert ready["mode"] == "observe" and ready["detail"]["books"] == {"BTC-USDC": "synced"}
    fake.faults.update({"null_bbo": 1})
    time.sleep(1.5)
    fake.faults.update({"disconnect": 1})
    time.sleep(1.5)
    fake.faults.update({"stall_s": 4.5})  # longer than the 3 s heartbeat: a reconnect
    time.sleep(6)
    wait_ready_md(port)  # back after every fault
    text = get(port, "/metrics")
    out, err = proc.communicate(timeout=60)
    state = fake.state()
    assert proc.returncode == 0 and "Traceback" not in out + err, out + err
    assert metric(text, "troupe_book_bbo_null_side_total") >= 1
    assert metric(text, "troupe_book_stale_total", reason="bbo_null_side") >= 1
    assert metric(text, "troupe_ws_reconnects_total", reason="closed") >= 1
    assert metric(text, "troupe_ws_reconnects_total", reason="silent") >= 1
    assert metric(text, "troupe_venue_resyncs_total", reason="reconnect") >= 2
    assert metric(text, "troupe_book_duplicate_trades_total") == 0  # deduped before the book
    assert state["creates"] == {} and "nothing sent" in out
    assert "0 adopted" not in err  # no keys: no account to reconcile
    assert "".join(lines).count("observe mode") >= 1


def test_execute_places_and_cancels_by_cloid_and_nonces_survive_a_restart(
        tmp_path: Path, venue: Any) -> None:
    fake, urls = venue
    path = config(tmp_path, urls, market_maker=True)
    first = start(path, 20, execute=True)
    port, _ = control_port(first)
    wait_ready_md(port)
    time.sleep(3)
    fake.faults.update({"rate_limit": 1, "retry_after_s": 1})
    text = wait_metric(port, "troupe_venue_429_total")
    fake.faults.update({"lose_response": 1})
    text = wait_metric(port, "troupe_order_timeouts_total")
    out, err = first.communicate(timeout=60)
    assert first.returncode == 0 and "Traceback" not in out + err, out + err
    nonce_mark = int((tmp_path / "journal.jsonl.nonce").read_text())
    second = start(path, 5, execute=True)  # a restart on the same journal and nonce file
    out2, err2 = second.communicate(timeout=60)
    assert second.returncode == 0 and "Traceback" not in out2 + err2, out2 + err2
    state = fake.state()
    counts = state["counts"]
    assert counts.get("order_actions", 0) >= 2 and counts.get("cancel_actions", 0) >= 1
    assert state["creates"] and set(state["creates"].values()) == {1}  # never twice
    assert all(re.fullmatch(r"0x[0-9a-f]{32}", c) for c in state["creates"])
    assert counts.get("nonce_refused", 0) == 0  # across bursts and the restart
    assert counts.get("mixed_alo_actions", 0) == 0
    assert counts.get("lost_responses") == 1 and counts.get("rate_limited") == 1
    assert int((tmp_path / "journal.jsonl.nonce").read_text()) > nonce_mark
    assert metric(text, "troupe_orders_acked_total") >= 1
    cancelled = re.search(r"summary after .*\n\s+state \w+; orders: sent=\d+ .*cancelled (\d+)",
                          out)
    assert cancelled is not None and int(cancelled.group(1)) >= 1, out  # by cloid
    assert metric(text, "troupe_order_timeouts_total") >= 1
    assert metric(text, "troupe_venue_429_total") >= 1
    assert "start-up reconciliation: 0 adopted" in err
    assert re.search(r"start-up reconciliation: \d+ adopted", err2)
    assert "open orders cancelled (none left open)" in out + out2
    assert state["open_orders"] == 0


def test_preflight_refuses_an_unknown_dex_and_a_coin_two_dexs_list(
        tmp_path: Path, venue: Any) -> None:
    _fake, urls = venue
    unknown = start(config(tmp_path, urls, dex="nope"), 5, execute=False)
    _out, err = unknown.communicate(timeout=60)
    assert unknown.returncode == 2 and "Traceback" not in err
    assert err.strip() == ("error: hyperliquid has no DEX named 'nope' (builder DEXs: xyz)")
    path = config(tmp_path, urls, dex="xyz")
    path.write_text(path.read_text().replace('venue_symbol = "BTC"', 'venue_symbol = "xyz:BTC"'))
    clash = start(path, 5, execute=False)
    _out, err = clash.communicate(timeout=60)
    assert clash.returncode == 2 and len(err.strip().splitlines()) == 1, err
    assert "'BTC' is listed on the xyz DEX and on the default DEX: a collision" in err
    keyless = start(config(tmp_path, urls), 5, execute=True, keys=False)
    _out, err = keyless.communicate(timeout=60)
    assert keyless.returncode == 2
    assert err.strip() == ("error: hyperliquid --execute needs venue.api_key (the wallet "
                           "address) and venue.api_secret (the API wallet's private key); "
                           "observe mode needs neither")
