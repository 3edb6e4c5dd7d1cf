"""Halts are visible and liftable, the way an operator meets them.

A paper node whose journal holds an instrument halt (a spec change) says so loudly at start, shows
it in `/readyz` and the status line, and trades that instrument again only after `resume` names
it over HTTP; an account halt survives a restart and the restarted node says since when, why,
who, and the command that resumes it. In-process, a spec change halts the instrument on the
deterministic host and the same `resume` lifts it, journaled like every action."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs

from protocols.control import ControlActionName, ControlCommand
from protocols.decisions import Gate, TradingState
from protocols.journal import Flush, NodeStarted, NodeStopped
from protocols.market import SpecChanged
from protocols.risk import DailyLoss, InstrumentHalt, InstrumentHalted, RiskPersistentState
from supervision.config.load import NodeConfig, load_config
from supervision.node.assembly import Node
from supervision.node.journal import JournalWriter, iter_journal
from supervision.node.live_guard import Mode
from supervision.runtime.deterministic import DeterministicHost
from supervision.sources.replay import ReplaySource

ROOT = Path(__file__).resolve().parents[3]
TOKEN = "test-token-halts-0123456789"
SPEC_HALT = "spec v1 -> v2: tick_size"


class PaperNode:
    """A paper node in a real process; its stdout and stderr are collected as they come."""

    def __init__(self, journal: Path) -> None:
        env = {**os.environ, "TROUPE_CONTROL_TOKEN": TOKEN}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "supervision.main", "config/paper.toml",
             "--set", f"journal.path={journal}", "--set", "control.listen_port=0",
             "--set", "market.speed=5", "--set", "node.status_interval_s=0.5"],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        self.out: list[str] = []
        self.err: list[str] = []
        for stream, lines in ((self.proc.stdout, self.out), (self.proc.stderr, self.err)):
            threading.Thread(target=_collect, args=(stream, lines), daemon=True).start()
        found = self.wait_for(lambda: _port(self.out), "the control plane line")
        self.base = f"http://127.0.0.1:{found}"

    def wait_for(self, predicate: Any, what: str, timeout: float = 20.0) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            if self.proc.poll() is not None:
                raise AssertionError(f"the node exited: {''.join(self.err)}")
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}")

    def readyz(self) -> tuple[int, dict[str, Any]]:
        try:
            with urllib.request.urlopen(self.base + "/readyz", timeout=5) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    def control(self, **body: str) -> tuple[int, dict[str, Any]]:
        request = urllib.request.Request(
            self.base + "/control", json.dumps(body).encode(), method="POST",
            headers={"Content-Type": "application/json", "X-Auth-Token": TOKEN})
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
        return self.proc.returncode


def _collect(stream: Any, lines: list[str]) -> None:
    for line in stream:
        lines.append(line)


def _port(lines: list[str]) -> str | None:
    for line in list(lines):
        found = re.search(r"control plane: http://127\.0\.0\.1:(\d+)", line)
        if found:
            return found.group(1)
    return None


def seed_halted_instrument(journal: Path) -> None:
    """The journal of an earlier run whose gate halted BTCUSDT on a spec change."""
    halt = InstrumentHalt(Gate.SPEC_CHANGE, SPEC_HALT)
    records = [NodeStarted("paper", "paper", "paper", "0", "earlier"),
               InstrumentHalted("BTCUSDT", Gate.SPEC_CHANGE, SPEC_HALT, 1),
               RiskPersistentState(TradingState.ACTIVE, Gate.TRADING_STATE, "start",
                                   DailyLoss(0, Decimal(0)), (("BTCUSDT", halt),)),
               NodeStopped("SIGTERM")]
    host = DeterministicHost()
    ref = host.spawn("journal", lambda: JournalWriter(journal), blocking=True)
    for record in records:
        host.tell(ref, record)
    host.ask(ref, Flush())
    host.stop(ref)


def test_an_instrument_halt_is_shown_lifted_by_resume_and_an_account_halt_announced(
        tmp_path: Path) -> None:
    journal = tmp_path / "journal.jsonl"
    seed_halted_instrument(journal)
    node = PaperNode(journal)
    try:
        loud = [line for line in node.err if line.startswith("!!!")]
        assert any("instrument BTCUSDT HALTED" in line and SPEC_HALT in line for line in loud)
        assert any('"instrument": "BTCUSDT"' in line and f"{node.base}/control" in line
                   for line in loud), loud
        node.wait_for(lambda: node.readyz()[1]["ready_md"], "market data")
        status, ready = node.readyz()
        assert status == 503 and ready["state"] == "active"
        assert ready["detail"]["halted_instruments"] == {"BTCUSDT": f"spec_change: {SPEC_HALT}"}
        node.wait_for(lambda: any("HALTED BTCUSDT (spec_change" in line for line in node.out),
                      "the status line to show the halt")

        assert node.control(action="resume", reason="spec checked", instrument="ETHUSDT")[0] \
            == 409
        code, reply = node.control(action="resume", reason="spec checked", instrument="BTCUSDT")
        assert code == 200 and reply["ok"], reply
        node.wait_for(lambda: node.readyz()[0] == 200, "ready once the halt is lifted")
        assert node.control(action="halt", reason="drill")[0] == 200
        node.wait_for(lambda: node.readyz()[1]["state"] == "halted", "HALTED")
    finally:
        assert node.stop() == 0
    lifted = [r for r in iter_journal(journal) if r["kind"] == "InstrumentResumed"]
    assert [(r["data"]["instrument"], r["data"]["source"]) for r in lifted] == [("BTCUSDT", "http")]
    assert any(r["kind"] == "ControlAction" and r["data"]["instrument"] == "BTCUSDT"
               for r in iter_journal(journal))

    node = PaperNode(journal)
    try:
        loud = [line for line in node.err if line.startswith("!!!")]
        assert any(re.search(r"RESTORED HALTED from the journal: since \d{4}-\d\d-\d\d "
                             r"\d\d:\d\d:\d\d UTC; who: http; why: halt: drill", line)
                   for line in loud), loud
        assert any('"action": "resume"' in line and "instrument" not in line for line in loud)
        assert not any("instrument BTCUSDT" in line for line in loud)  # that halt was lifted
        assert node.control(action="resume", reason="drill over")[0] == 200
        node.wait_for(lambda: node.readyz()[0] == 200, "ready after resume")
    finally:
        assert node.stop() == 0


def test_a_spec_change_halts_the_instrument_until_resume_names_it(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    config = load_config("config/paper.toml", [f"journal.path={path}"], environ={})
    assert isinstance(config, NodeConfig)
    host = DeterministicHost(seed=1)
    node = Node(config, Mode.PAPER, host, run_id="r")
    mapping = {i.venue_symbol: i.symbol for i in config.instruments}
    node.start(lambda **wiring: JournalWriter(path, "always", **wiring),
               lambda target: ReplaySource(config.market.recording_path(), mapping, target))
    host.advance(5)
    assert node.readiness().ready_trading
    old = node.specs["BTCUSDT"]
    new = attrs.evolve(old, tick_size=old.tick_size * 10, spec_version=old.spec_version + 1)
    host.tell(node.gate, SpecChanged("BTCUSDT", old, new, host.monotonic_ns()))
    host.advance(1)
    ready = node.readiness()
    assert not ready.ready_trading and ready.state == "active"
    assert ready.detail["halted_instruments"]["BTCUSDT"].startswith("spec_change: spec v")
    for action in (ControlActionName.RESUME, ControlActionName.FLATTEN):  # no account resume
        node.apply(ControlCommand(action, "not it", "http"))
    host.advance(1)
    assert "BTCUSDT" in node.view.halts
    outcome = node.apply(ControlCommand(ControlActionName.RESUME, "checked", "http",
                                        instrument="BTCUSDT"))
    assert outcome.ok
    host.advance(2)
    assert node.view.halts == {} and node.readiness().ready_trading
    host.ask(node.journal_writer(), Flush())
    kinds = [r["kind"] for r in iter_journal(path)]
    assert "InstrumentHalted" in kinds and "InstrumentResumed" in kinds
