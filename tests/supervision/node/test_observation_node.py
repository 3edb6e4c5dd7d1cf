"""Observation statistics as an operator meets them: a paper node writes one Parquet file a day
beside its journal, and `python -m supervision.node.observation DIR` prints it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from supervision.config.load import NodeConfig, load_config
from supervision.node.assembly import Node
from supervision.node.journal_writer import JournalWriter
from supervision.node.live_guard import Mode
from supervision.node.observation import ObservationFiles, read_statistics
from supervision.runtime.deterministic import DeterministicHost
from supervision.sources.replay import ReplaySource

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def statistics_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """config/paper_taker.toml on the deterministic host over the whole recording, stopped."""
    journal = tmp_path_factory.mktemp("paper") / "journal.jsonl"
    config = load_config(ROOT / "config" / "paper_taker.toml", [f"journal.path={journal}"],
                         environ={})
    assert isinstance(config, NodeConfig)
    host = DeterministicHost(seed=1)
    node = Node(config, Mode.PAPER, host, run_id="r")
    mapping = {i.venue_symbol: i.symbol for i in config.instruments}
    node.start(lambda **wiring: JournalWriter(journal, **wiring),
               lambda target: ReplaySource(config.market.recording_path(), mapping, target, 1.0))
    host.advance(30.0)
    assert node.root is not None and node.observation is not None
    host.stop(node.root)  # the observer's last word reaches the writer as it stops
    files = host.ask(node.observation, ObservationFiles(), timeout=5.0)
    assert files == (journal.parent / "observation" / "observation-2025-01-26.parquet",)
    return journal.parent / "observation"


def test_a_paper_node_writes_the_days_statistics_beside_its_journal(statistics_dir: Path) -> None:
    [row] = read_statistics(statistics_dir)
    assert (row["day"], row["instrument"]) == ("2025-01-26", "BTCUSDC")
    assert row["book_updates"] == 46 and row["bbo_null_rate"] == 0.0  # every l2Book of it
    assert 400 < row["bbo_interval_ms_p50"] < 700  # Hyperliquid's ~0.5 s snapshots
    assert row["oracle_updates"] > 20 and row["oracle_age_ms_p99"] < 1_000  # every 0.5 s
    assert row["edge_after_fees_bps_p50"] < 0 < row["edge_after_fees_bps_max"]
    assert row["crossings"] >= 1 and row["partial"]


def test_the_command_prints_the_days_and_refuses_what_is_not_statistics(
        statistics_dir: Path, tmp_path: Path) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "supervision.node.observation", *args],
                              cwd=ROOT, capture_output=True, text=True, timeout=60)
    done = run(str(statistics_dir))
    assert done.returncode == 0, done.stderr
    header, line = done.stdout.splitlines()[:2]
    assert "crossings" in header and "edge bps p50" in header
    assert line.split()[:3] == ["2025-01-26*", "BTCUSDC", "46"]
    for bad in (str(tmp_path / "missing"), str(tmp_path)):
        done = run(bad)
        assert done.returncode == 2 and done.stderr.count("\n") == 1
        assert "Traceback" not in done.stderr


def test_a_write_that_fails_is_counted_and_stops_nothing(tmp_path: Path) -> None:
    from actors.testing import FakeContext
    from protocols.observation import MarketStatistics
    from supervision.node.observation import ObservationWriter

    blocked = tmp_path / "not-a-dir"
    blocked.write_text("a file where the directory should be")
    ctx, writer = FakeContext("observation"), ObservationWriter(blocked)
    row = MarketStatistics(
        day="2025-01-26", instrument="BTC", partial=True, book_updates=0, bbo_null=0,
        bbo_null_rate=0.0, bbo_interval_ms_p50=None, bbo_interval_ms_p95=None,
        bbo_interval_ms_p99=None, oracle_updates=0, oracle_age_ms_p50=None,
        oracle_age_ms_p95=None, oracle_age_ms_p99=None, crossings=0, crossing_updates_p50=None,
        crossing_updates_max=0, crossing_ms_p50=None, crossing_ms_p95=None,
        crossing_depth_ticks_max=0.0, edge_after_fees_bps_p50=None, edge_after_fees_bps_p95=None,
        edge_after_fees_bps_p99=None, edge_after_fees_bps_max=None, edge_positive_share=0.0)
    ctx.deliver(writer, row)
    assert [m.metric for m in ctx.metrics] == ["troupe_observation_write_errors_total"]
    assert ctx.deliver(writer, ObservationFiles()) == [()]
    writer.directory = tmp_path / "ok"  # the disk is back: the next update writes the day
    ctx.deliver(writer, row)
    assert read_statistics(tmp_path / "ok")[0]["instrument"] == "BTC"
