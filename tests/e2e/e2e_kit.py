"""Small tools for end-to-end tests that run real processes on loopback.

Every process writes its stdout and stderr to files in the test's tmp dir (a pipe nobody reads
fills up and blocks a chatty Prometheus), so a failed wait can quote the tail of each log. Waits
are bounded: `wait_for` polls until a probe returns something truthy, and fails with the
probe's last answer and the logs of every process involved, or at once when one of them died.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import pytest
from prometheus_client.parser import text_string_to_metric_families

T = TypeVar("T")


def require_binaries(*choices: tuple[str, ...]) -> list[str]:
    """The full path of one program per choice (a tuple of alternative names, e.g. Debian's
    and upstream's), or a test failure (never a skip) naming every one that is missing."""
    paths: list[str] = []
    missing: list[str] = []
    for names in choices:
        found = next((p for p in map(shutil.which, names) if p is not None), None)
        if found is None:
            missing.append(" or ".join(names))
        else:
            paths.append(found)
    if missing:
        pytest.fail(
            f"not on PATH: {'; '.join(missing)}. Install the Debian packages with "
            "`apt-get install -y --no-install-recommends prometheus prometheus-alertmanager` "
            "(tests/run does this).",
            pytrace=False,
        )
    return paths


def free_port() -> int:
    """A loopback port nobody listened on a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Process:
    """One child process whose output goes to `<dir>/<name>.out` and `<dir>/<name>.err`."""

    def __init__(self, name: str, argv: list[str], log_dir: Path, *, cwd: Path | None = None,
                 env: Mapping[str, str] | None = None) -> None:
        self.name = name
        self.stdout_path = log_dir / f"{name}.out"
        self.stderr_path = log_dir / f"{name}.err"
        with self.stdout_path.open("wb") as out, self.stderr_path.open("wb") as err:
            self.popen = subprocess.Popen(argv, cwd=cwd, env=None if env is None else dict(env),
                                          stdin=subprocess.DEVNULL, stdout=out, stderr=err)

    @property
    def returncode(self) -> int | None:
        return self.popen.poll()

    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    def tail(self, lines: int = 15) -> str:
        parts = []
        for path in (self.stdout_path, self.stderr_path):
            text = path.read_text(errors="replace").rstrip().splitlines()[-lines:]
            parts.append(f"--- {path.name} (last {len(text)} lines)\n" + "\n".join(text))
        state = "running" if self.returncode is None else f"exited {self.returncode}"
        return f"=== {self.name} ({state})\n" + "\n".join(parts)

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM, wait up to `timeout`, then SIGKILL. The exit code (negative: a signal)."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                return self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
        return self.popen.wait(5)


def logs(processes: Iterable[Process]) -> str:
    return "\n".join(process.tail() for process in processes)


def wait_for(probe: Callable[[], T | None], *, timeout: float, what: str,
             processes: Iterable[Process] = (), interval: float = 0.25) -> T:
    """Poll `probe` until it returns something truthy; fail after `timeout` seconds, or as soon
    as one of `processes` has exited, with `what`, the probe's last answer and their logs."""
    watched = list(processes)
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            last = probe()
        except (OSError, ValueError, KeyError) as exc:  # refused, timed out, bad/odd JSON
            last = f"{type(exc).__name__}: {exc}"
        else:
            if last:
                return last
        dead = [p.name for p in watched if p.returncode is not None]
        if dead or time.monotonic() > deadline:
            reason = f"{', '.join(dead)} exited" if dead else f"timed out after {timeout:.0f}s"
            pytest.fail(f"{what}: {reason}; last answer: {last!r}\n{logs(watched)}",
                        pytrace=False)
        time.sleep(interval)


# -- HTTP, standard library only ------------------------------------------------------------------

def http(method: str, url: str, body: Any = None, timeout: float = 5.0,
         headers: Mapping[str, str] | None = None) -> tuple[int, bytes]:
    """(status, body) of one request; a 4xx/5xx answer is returned, not raised. `body` is sent
    as JSON when given."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.read()


def get_json(url: str) -> tuple[int, Any]:
    status, body = http("GET", url)
    return status, json.loads(body)


def prometheus_query(base_url: str, promql: str) -> list[dict[str, Any]]:
    """The result vector of an instant query (`[]` when nothing matches)."""
    url = f"{base_url}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    status, answer = get_json(url)
    if status != 200 or answer.get("status") != "success":
        raise ValueError(f"query {promql!r} answered {status}: {answer}")
    result: list[dict[str, Any]] = answer["data"]["result"]
    return result


def single_value(result: list[dict[str, Any]]) -> float | None:
    """The value of a one-element instant vector, or None (empty, or NaN: no rate yet)."""
    if len(result) != 1:
        return None
    value = float(result[0]["value"][1])
    return None if math.isnan(value) else value


def metric_samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Prometheus text as {(sample name, labels): value}."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def sample(samples: Mapping[tuple[str, frozenset[tuple[str, str]]], float], name: str,
           **labels: str) -> float | None:
    """The value of the series `name` whose labels include `labels`, if exactly one matches."""
    wanted = set(labels.items())
    found = [v for (n, ls), v in samples.items() if n == name and wanted <= ls]
    return found[0] if len(found) == 1 else None


def env_with(**extra: str) -> dict[str, str]:
    return {**os.environ, **extra}
