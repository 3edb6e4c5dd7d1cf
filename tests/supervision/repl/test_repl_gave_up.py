"""A strategy given up (past its restart budget) leaves the node ACTIVE and ready, as
docs/failures.md says, but never silently: the status line, the stop summary and /readyz name it."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pexpect

from tests.supervision.repl.repl_kit import Console, PaperNode


def test_a_given_up_strategy_is_named_by_the_status_line_the_summary_and_readyz(
        tmp_path: Path) -> None:
    short = Path(pexpect.run("mktemp -d /tmp/repl-XXXX", encoding="utf-8").strip())
    node = PaperNode(short)
    try:
        console = Console.attach(node.socket, tmp_path / "history")
        assert "fail: strategies/mm1 will fail" in console.run('fail("mm1", None)')
        console.detach()
        given_up = node.wait_for(r"node/strategies/mm1 gave up", timeout=30.0)
        node.wait_for(r"state=ACTIVE .* gave up: mm1", timeout=5.0)
        assert given_up
        with urllib.request.urlopen(f"http://127.0.0.1:{node.port}/readyz", timeout=5) as r:
            status, readiness = r.status, json.loads(r.read())
        assert status == 200 and readiness["ready_trading"]  # the documented semantics stand
        assert readiness["detail"]["strategies_given_up"] == ["mm1"]
    finally:
        out = node.stop()
    summary = out[out.index("summary after"):]
    assert "gave up: mm1" in summary, summary
