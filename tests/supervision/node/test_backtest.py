"""Backtests as an operator runs them (`python -m supervision.main config/backtest.toml`) and as
a researcher relies on them: nothing lost, every shipped format, the same result every run."""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from protocols.feed import FeedBatch
from supervision.config.load import NodeConfig, load_config
from supervision.node import backtest
from supervision.node.backtest import run_backtest
from supervision.runtime.deterministic import DeterministicHost
from supervision.sources.data import BINANCE_SPOT_BTCUSDT, HYPERLIQUID_BTC
from supervision.sources.replay import ReplaySource

ROOT = Path(__file__).resolve().parents[3]
CONFIG = ROOT / "config" / "backtest.toml"


@pytest.fixture(scope="module")
def short_recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first ~100 s of the Binance recording: the snapshot, thousands of diffs and trades."""
    path = tmp_path_factory.mktemp("data") / "binance_short.gz"
    with gzip.open(BINANCE_SPOT_BTCUSDT, "rt") as src, gzip.open(path, "wt") as dst:
        for i, line in enumerate(src):
            if i >= 12_000:
                break
            dst.write(line)
    return path


def config(*overrides: str) -> NodeConfig:
    loaded = load_config(CONFIG, list(overrides))
    assert isinstance(loaded, NodeConfig)
    return loaded


def test_the_backtest_command_replays_a_recording_to_its_end_and_loses_nothing(
        short_recording: Path, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "supervision.main", str(CONFIG), "--set",
         f"data.path={short_recording}", "--set", f"data.catalog_dir={tmp_path}",
         "--set", "data.progress=lines",
         "--set", "data.progress_interval_s=0.01"],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "backtest of" in out and "12,000 lines" in out
    assert "gaps 0; refused feed events 0" in out
    assert "fills" in out and "digest" in out
    # progress goes to stderr, as plain lines when stderr is not a terminal
    assert "backtest binance_short.gz" in done.stderr and "%" in done.stderr
    assert "\r" not in done.stderr


def test_a_backtest_is_the_same_run_after_run(short_recording: Path) -> None:
    first = run_backtest(config(f"data.path={short_recording}", "data.catalog=false"))
    second = run_backtest(config(f"data.path={short_recording}", "data.catalog=false"))
    assert first.orders_sent > 0 and first.fills > 0
    assert first.book_gaps == 0 and first.feed_refused == 0
    same = ("orders_sent", "acked", "fills", "realized_pnl", "unrealized_pnl", "position",
            "digest", "records")
    assert {k: getattr(first, k) for k in same} == {k: getattr(second, k) for k in same}


def _traced_backtest(monkeypatch: pytest.MonkeyPatch, path: Path, *,
                     batched: bool) -> tuple[str, list[tuple[str, str]], int]:
    """The digest, every message every actor handled (a `FeedBatch` as its events), in order,
    and how many messages that took."""
    handled: list[tuple[str, str]] = []
    told = [0]

    class TracedHost(DeterministicHost):
        def create_cell(self, name: str, factory: Any, **kw: Any) -> Any:
            cell = super().create_cell(name, factory, **kw)

            def trace(message: Any) -> None:
                told[0] += 1
                events = message.events if isinstance(message, FeedBatch) else (message,)
                handled.extend((name, repr(m)) for m in events)

            cell.trace(trace)
            return cell

    class Source(ReplaySource):
        def __init__(self, *args: Any, **kw: Any) -> None:
            super().__init__(*args, **{**kw, "batch_instants": batched})

    monkeypatch.setattr(backtest, "DeterministicHost", TracedHost)
    monkeypatch.setattr(backtest, "ReplaySource", Source)
    result = run_backtest(config(f"data.path={path}", "data.catalog=false"))
    return result.digest, handled, told[0]


def test_one_instants_events_as_one_message_change_nothing_any_actor_sees(
        short_recording: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The replay sends the lines of one instant as one `FeedBatch`, and the venue passes what
    lands at our book at one instant on as one: every actor still handles the same messages in
    the same order (the venue connection and the book unpack the batches), in fewer hops."""
    digest, handled, told = _traced_backtest(monkeypatch, short_recording, batched=False)
    batched_digest, batched_handled, batched_told = _traced_backtest(
        monkeypatch, short_recording, batched=True)
    assert len(handled) > 10_000
    assert batched_handled == handled and batched_digest == digest
    assert batched_told < told - 500


def test_a_hyperliquid_recording_backtests_with_the_same_config(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "supervision.main", str(CONFIG), "--set",
         f"data.path={HYPERLIQUID_BTC}", "--set", "data.progress=off",
         "--set", f"data.catalog_dir={tmp_path}"],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "hyperliquid BTC: replayed as BTCUSDT" in done.stdout
    assert "catalog: built" in done.stdout
    assert "gaps 0; refused feed events 0" in done.stdout
    assert "book updates 46" in done.stdout


def test_a_burst_no_mailbox_holds_reaches_the_book_whole(tmp_path: Path) -> None:
    """15,000 trades received in the same nanosecond: the simulated wire lands them in our
    book's 10,000-message mailbox at one instant. Nothing is refused: a FlowControl mailbox
    queues what lands at one instant as it queues one sender's turn, and drains it before
    virtual time moves on."""
    path = tmp_path / "burst.gz"
    with gzip.open(path, "wt") as f:
        for i in range(15_000):
            f.write(f'1000 {{"stream":"btcusdt@trade","data":{{"e":"trade","E":1,"s":"BTCUSDT",'
                    f'"t":{i},"p":"100.00","q":"1.0","T":1,"m":true}}}}\n')
    result = run_backtest(config(f"data.path={path}", "data.catalog=false"))
    assert result.feed_refused == 0
    assert result.book_trades == 15_000


def test_a_missing_data_path_is_one_clear_line(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "supervision.main", str(CONFIG), "--set",
         f"data.path={tmp_path / 'nope.gz'}"],
        cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "data.path: no recording or catalog at" in done.stderr
    assert "Traceback" not in done.stderr
