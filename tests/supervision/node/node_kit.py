"""Shared builders for the node's tests: a journal written by the real writer, the paper node on
the deterministic host, and the paper node as a real process an operator would run."""

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
from collections.abc import Callable
from pathlib import Path
from typing import Any

from protocols.journal import Flush
from supervision.config.load import NodeConfig, load_config
from supervision.node.assembly import Node
from supervision.node.journal_writer import JournalWriter
from supervision.node.live_guard import Mode
from supervision.runtime.deterministic import DeterministicHost
from supervision.sources.replay import ReplaySource

ROOT = Path(__file__).resolve().parents[3]
TOKEN = "test-token-node-kit-0123456789"


def write_journal(path: Path, *records: Any) -> None:
    """One run of a node that journals `records`, as the real writer writes them."""
    host = DeterministicHost()
    ref = host.spawn("journal", lambda: JournalWriter(path), blocking=True)
    for record in records:
        host.tell(ref, record)
    host.ask(ref, Flush())
    host.stop(ref)


def paper_node_on_host(path: Path, writer: Callable[..., JournalWriter] | None = None
                       ) -> tuple[DeterministicHost, Node]:
    """config/paper.toml on the deterministic host with the recorded market flow, journaling to
    `path` through `writer(**wiring)` (default: a `JournalWriter` that fsyncs every record)."""
    config = load_config("config/paper.toml", [f"journal.path={path}"], environ={})
    assert isinstance(config, NodeConfig)
    host = DeterministicHost(seed=1)
    node = Node(config, Mode.PAPER, host, run_id="r")
    mapping = {i.venue_symbol: i.symbol for i in config.instruments}
    recording = config.market.recording_path()
    make = writer or (lambda **wiring: JournalWriter(path, "always", **wiring))
    node.start(make, lambda target: ReplaySource(recording, mapping, target, 1.0))
    return host, node


class PaperProcess:
    """`python -m supervision.main config/paper.toml` in a real process, on an ephemeral port,
    with its stdout and stderr collected line by line as they come."""

    def __init__(self, journal: Path, *overrides: str) -> None:
        env = {**os.environ, "TROUPE_CONTROL_TOKEN": TOKEN}
        sets = [f"journal.path={journal}", "control.listen_port=0", "market.speed=5",
                "node.status_interval_s=0.5", *overrides]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "supervision.main", "config/paper.toml",
             *(arg for value in sets for arg in ("--set", value))],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        self.out: list[str] = []
        self.err: list[str] = []
        for stream, lines in ((self.proc.stdout, self.out), (self.proc.stderr, self.err)):
            threading.Thread(target=_collect, args=(stream, lines), daemon=True).start()
        port = self.wait_for(lambda: _port(self.out), "the control plane line")
        self.base = f"http://127.0.0.1:{port}"

    def wait_for(self, predicate: Callable[[], Any], what: str, timeout: float = 20.0) -> Any:
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
        return self._call(urllib.request.Request(self.base + "/readyz"))

    def control(self, **body: str) -> tuple[int, dict[str, Any]]:
        return self._call(urllib.request.Request(
            self.base + "/control", json.dumps(body).encode(), method="POST",
            headers={"Content-Type": "application/json", "X-Auth-Token": TOKEN}))

    @staticmethod
    def _call(request: urllib.request.Request) -> tuple[int, dict[str, Any]]:
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
