"""The kill switch on a running paper node: a halt over HTTP, what a wrong token changes
(nothing), and a restart that remembers the halt from the journal."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
TOKEN = "test-token-0123456789"


class Node:
    def __init__(self, journal: Path, *overrides: str) -> None:
        env = {**os.environ, "TROUPE_CONTROL_TOKEN": TOKEN}
        sets = [arg for override in overrides for arg in ("--set", override)]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "supervision.main", "config/paper.toml",
             "--set", f"journal.path={journal}", "--set", "control.listen_port=0",
             "--set", "market.speed=5", *sets],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            found = re.search(r"control plane: http://127\.0\.0\.1:(\d+)", line)
            if found:
                self.base = f"http://127.0.0.1:{found.group(1)}"
                break
        else:
            raise AssertionError(f"no control plane line: {self.proc.stderr.read()}")

    def get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(self.base + path, timeout=5) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def control(self, body: dict[str, Any], token: str | None = TOKEN) -> int:
        headers = {"Content-Type": "application/json"}
        if token is not None:
            headers["X-Auth-Token"] = token
        return self.post("/control", json.dumps(body).encode(), headers)[0]

    def post(self, path: str, body: bytes,
             headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
        request = urllib.request.Request(self.base + path, body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    def wait_for(self, predicate: Any, what: str, timeout: float = 20.0) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what}")

    def readyz(self) -> tuple[int, dict[str, Any]]:
        status, body = self.get("/readyz")
        return status, json.loads(body)

    def metric(self, name: str, labels: str = "") -> float | None:
        """A sample's value; `labels` as the exposition writes them (`a="x",b="y"`)."""
        _, text = self.get("/metrics")
        pattern = rf"{{{re.escape(labels)}}}" if labels else r"(?:{[^}]*})?"
        found = re.search(rf"^{name}{pattern} (\S+)$", text, re.MULTILINE)
        return float(found.group(1)) if found else None

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.communicate(timeout=30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
        return self.proc.returncode


def test_a_halt_over_http_stops_trading_and_survives_a_restart(tmp_path: Path) -> None:
    journal = tmp_path / "journal.jsonl"
    node = Node(journal)
    try:
        node.wait_for(lambda: node.readyz()[0] == 200, "the node to be ready")
        assert node.readyz()[1]["mode"] == "paper"
        assert node.control({"action": "halt", "reason": "drill"}, token="wrong") == 401
        assert node.control({"action": "halt", "reason": "drill"}, token=None) == 401
        assert node.control({"action": "explode", "reason": "drill"}) == 400
        assert node.readyz()[0] == 200  # nothing changed
        assert node.control({"action": "halt", "reason": "drill"}) == 200
        status, ready = node.wait_for(
            lambda: (r := node.readyz())[1]["state"] == "halted" and r, "HALTED")
        assert status == 503
        node.wait_for(lambda: node.metric("troupe_trading_state") == 2, "the gauge (cached 1 s)")
        assert node.metric("troupe_control_actions_total") == 1
    finally:
        assert node.stop() == 0
    node = Node(journal)
    try:
        node.wait_for(lambda: node.readyz()[1]["ready_md"], "market data after the restart")
        status, ready = node.readyz()
        assert ready["state"] == "halted" and status == 503
        assert node.control({"action": "resume", "reason": "drill over"}) == 200
        node.wait_for(lambda: node.readyz()[0] == 200, "ready again after resume")
    finally:
        assert node.stop() == 0
