"""A paper node in a subprocess and consoles attached to it through a real terminal (pexpect),
as an operator meets them."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pexpect

ROOT = Path(__file__).resolve().parents[3]
PROMPT = ">>> "


class PaperNode:
    """`python -m supervision.main config/paper.toml`, its journal, log and socket in `where`."""

    def __init__(self, where: Path, *extra: str) -> None:
        self.where = where
        self.journal = where / "journal.jsonl"
        self.socket = where / "journal.repl.sock"
        self.log = where / "node.out"
        env = {k: v for k, v in os.environ.items() if k != "TROUPE_CONTROL_TOKEN"}
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "supervision.main", "config/paper.toml",
                 "--set", f"journal.path={self.journal}", "--set", "control.listen_port=0",
                 "--set", "node.status_interval_s=1", "--set", "market.speed=5", *extra],
                cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env=env)
        self.port = int(self.wait_for(r"control plane: http://127\.0\.0\.1:(\d+)").group(1))
        self.wait_for(r"state=ACTIVE md=synced")

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, pattern: str, timeout: float = 30.0) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = re.search(pattern, self.output())
            if found:
                return found
            if self.proc.poll() is not None:
                raise AssertionError(f"the node exited {self.proc.returncode}:\n{self.output()}")
            time.sleep(0.1)
        raise AssertionError(f"no {pattern!r} in the node's output:\n{self.output()}")

    def metric(self, name: str) -> float | None:
        """A sample's value from GET /metrics (the first line starting with `name`)."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=5) as r:
            for line in r.read().decode().splitlines():
                if line.startswith(name):
                    return float(line.rsplit(" ", 1)[1])
        return None

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.output()


class Console:
    """One `python -m supervision.repl` in a pseudo-terminal."""

    def __init__(self, command: list[str], history: Path, *, timeout: float = 15.0,
                 cwd: Path = ROOT, env: dict[str, str] | None = None) -> None:
        env = {**os.environ, "TROUPE_REPL_HISTORY": str(history), "TERM": "dumb", **(env or {})}
        self.child = pexpect.spawn(command[0], command[1:], cwd=str(cwd), env=env,
                                   encoding="utf-8", timeout=timeout, dimensions=(40, 200))

    @classmethod
    def attach(cls, socket: Path, history: Path) -> Console:
        console = cls([sys.executable, "-m", "supervision.repl", "--socket", str(socket)],
                      history)
        console.child.expect_exact(PROMPT)
        return console

    def run(self, line: str, timeout: float | None = None) -> str:
        """Type `line`, wait for the next prompt, return what was printed in between."""
        self.child.sendline(line)
        self.child.expect_exact(PROMPT, timeout=timeout or self.child.timeout)
        text = self.child.before.replace("\r\n", "\n")
        echoed, _, rest = text.partition("\n")
        assert line in echoed, f"the terminal did not echo {line!r}: {text!r}"
        return rest

    def drain(self, quiet: float = 0.6, limit: float = 10.0) -> str:
        """Read until nothing arrives for `quiet` seconds; what was read."""
        seen, deadline = [], time.monotonic() + limit
        while time.monotonic() < deadline:
            try:
                self.child.expect(r".+", timeout=quiet)
            except pexpect.TIMEOUT:
                break
            seen.append(self.child.before + self.child.after)
        return "".join(seen)

    def detach(self) -> int:
        self.child.sendline("exit()")
        self.child.expect(pexpect.EOF)
        self.child.close()
        return int(self.child.exitstatus or 0)

    def kill(self) -> None:
        self.child.close(force=True)
