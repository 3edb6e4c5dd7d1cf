"""The venue registry: a node builds its connection from `venue.kind` through it, a new venue is
one entry, and a kind with no entry is one line and exit code 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from actors.execution.mock_transport import MockTransport
from actors.execution.venue_connection import VenueConnection
from actors.sim.venue import SimTransport
from supervision.config.load import NodeConfig, load_config
from supervision.node import venues
from supervision.node.assembly import Node
from supervision.node.live_guard import Mode
from supervision.node.venues import UnknownVenueKind, VenueAdapter, VenueBuild, adapter_for
from supervision.runtime.deterministic import DeterministicHost

ROOT = Path(__file__).resolve().parents[3]
LIVE_ENV = {"TROUPE_CONTROL_TOKEN": "0123456789abcdef0123", "BINANCE_API_KEY": "k",
            "BINANCE_API_SECRET": "s"}


def started_node(path: str, mode: Mode, tmp_path: Path, env: dict[str, str]) -> Node:
    config = load_config(path, [f"journal.path={tmp_path / 'j.jsonl'}"], environ=env)
    assert isinstance(config, NodeConfig)
    node = Node(config, mode, DeterministicHost(seed=1), run_id="r1")
    node.start(None, None)
    node.host.settle()
    return node


def connection(node: Node) -> VenueConnection:
    cell = node.host.existing_cell("node/venue/connection")
    assert cell is not None
    behaviour = cell.behaviour
    assert isinstance(behaviour, VenueConnection)
    return behaviour


def test_the_paper_node_gets_the_simulated_venue_from_the_registry(tmp_path: Path) -> None:
    node = started_node("config/paper.toml", Mode.PAPER, tmp_path, {})
    transport = connection(node).transport
    assert isinstance(transport, SimTransport)
    assert transport.config.session == "r1.1" and transport.config.name == "sim"
    assert not connection(node).config.observe_only


def test_a_new_venue_kind_is_one_registry_entry(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[VenueBuild] = []

    def mock_binance(build: VenueBuild) -> MockTransport:
        built.append(build)
        return MockTransport(build.specs)

    monkeypatch.setitem(venues._REGISTRY, "binance",
                        VenueAdapter("binance", mock_binance, "a stand-in"))
    node = started_node("config/live.toml", Mode.OBSERVE, tmp_path, LIVE_ENV)
    conn = connection(node)
    assert isinstance(conn.transport, MockTransport)
    assert conn.config.observe_only and conn.config.name == node.config.venue.name
    assert [b.session for b in built] == ["r1.1"] and set(built[0].specs) == set(node.specs)
    assert node.view.reconciled  # the mock's first positions went through the connection
    # ... and its specs reached each Market actor
    assert node.host.metrics.total("troupe_market_updates_total") == len(node.specs)


def test_an_adapter_may_name_its_builder_by_import_path() -> None:
    adapter = VenueAdapter("sim", "supervision.node.venues:_sim_transport")
    assert adapter.builder() is venues._sim_transport


def test_a_kind_with_no_adapter_is_one_clear_error() -> None:
    with pytest.raises(UnknownVenueKind) as caught:
        adapter_for("okx")
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("venue kind 'okx' needs a live venue adapter")
    assert "registered: binance, binance_usdm, hyperliquid, sim" in message


def test_the_operator_meets_a_venue_refusal_as_one_line_and_exit_code_2(tmp_path: Path) -> None:
    # An adapter's preflight runs before anything starts: Hyperliquid refuses --execute
    # without its keys (observe mode would stream public data without them).
    env = {k: v for k, v in os.environ.items() if not k.startswith("HYPERLIQUID_")}
    env.update(TROUPE_CONTROL_TOKEN=LIVE_ENV["TROUPE_CONTROL_TOKEN"])
    result = subprocess.run(
        [sys.executable, "-m", "supervision.main", "config/live_hyperliquid.toml", "--duration",
         "1", "--set", f"journal.path={tmp_path / 'j.jsonl'}", "--set",
         f"node.lock_dir={tmp_path / 'locks'}", "--execute", "--confirm-live", "YES"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 2
    assert result.stderr.startswith("error: hyperliquid --execute needs venue.api_key")
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert not (tmp_path / "j.jsonl").exists()  # refused before anything started
