"""`python -m supervision.main CONFIG --repl` under the live profile: the node runs behind the
console, every change asks first, fault injection is refused, and leaving the console stops the
node gracefully. (A live profile without --execute runs in observe mode: nothing is sent.)"""

from __future__ import annotations

import sys
from pathlib import Path

import pexpect

from supervision.node.journal import iter_journal
from tests.supervision.repl.repl_kit import PROMPT, Console

SECRET = "s3cret-control-token-0123456789"


def answer(console: Console, command: str, question: str, reply: str) -> str:
    console.child.sendline(command)
    console.child.expect_exact(question)
    console.child.sendline(reply)
    console.child.expect_exact(PROMPT)
    return str(console.child.before)


def test_a_live_node_in_front_confirms_changes_and_stops_when_the_console_ends(
        tmp_path: Path) -> None:
    journal = tmp_path / "journal.jsonl"
    console = Console([sys.executable, "-m", "supervision.main", "config/paper.toml",
                       "--set", "node.profile=live", "--set", f"journal.path={journal}",
                       "--set", "control.listen_port=0", "--set", "market.speed=5", "--repl"],
                      tmp_path / "history", timeout=30,
                      env={"TROUPE_CONTROL_TOKEN": SECRET})
    try:
        console.child.expect(r"node: pid \d+, output in (\S+); leaving the console stops it")
        log = Path(console.child.match.group(1))
        assert log == tmp_path / "journal.node.log"
        console.child.expect_exact(PROMPT)
        assert "profile live, mode observe" in console.child.before
        question = "halt (reason: drill) on the live node 'paper'? [y/N] "
        assert "error: cancelled: nothing was changed" in answer(console, 'halt("drill")',
                                                                 question, "n")
        assert "halt: done (state halted)" in answer(console, 'halt("drill")', question, "y")
        assert "error: cancelled" in answer(console, 'restart("mm1")',
                                            "restart strategies/mm1 on the live node", "")
        assert console.run('fail("mm1")').strip() == \
            "error: fault injection is refused under the live profile"
        assert "market_maker" in console.run('state("mm1")')  # looking asks nothing
        shown = console.run("node.config.control") + console.run("node.config.control.token")
        assert "token=***" in shown and shown.endswith("***\n") and SECRET not in shown
        console.child.sendeof()
        console.child.expect_exact("stopping the node...")
        console.child.expect_exact("summary after")
        console.child.expect(pexpect.EOF)
    finally:
        console.kill()
    assert console.child.exitstatus == 0
    actions = [r["data"] for r in iter_journal(journal) if r["kind"] == "ControlAction"]
    assert [(a["action"], a["source"]) for a in actions] == [("halt", "repl")]  # once: the "n"
    stopped = [r["data"] for r in iter_journal(journal) if r["kind"] == "NodeStopped"]
    assert stopped == [{"reason": "SIGTERM"}]
    assert "Traceback" not in log.read_text() and SECRET not in log.read_text()
