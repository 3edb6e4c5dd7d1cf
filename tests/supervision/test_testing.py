"""The test kit for real hosts: the probe records and answers on both hosts, and the host fixture
reaches any project's tests through the package's pytest11 entry point."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

from supervision.testing import SEEN, Probe, ShowReceived, received

ROOT = Path(__file__).resolve().parents[2]


def test_a_probe_records_with_time_and_answers(host: Any) -> None:
    lifecycle: list[tuple[str, str]] = []
    probe = host.spawn("probe", lambda: Probe(reply=lambda m, _ctx: m * 2, lifecycle=lifecycle))
    probe.tell(1)
    probe.tell("a")
    assert host.ask(probe, 21) == 42
    assert received(host, probe) == [1, "a", 21]
    assert received(host, "probe", str) == ["a"]
    times = [t for t, _ in received(host, probe, with_time=True)]
    assert times == sorted(times)
    assert host.ask(probe, ShowReceived(kind=int)) == [1, 21]
    assert host.ask(probe, SEEN) == [1, "a", 21]  # asking does not record
    host.stop(probe)
    assert lifecycle == [("start", "probe"), ("stop", "probe")]


def test_a_probe_records_into_a_list_the_test_holds(deterministic: Any) -> None:
    into: list[tuple[int, Any]] = []
    probe = deterministic.spawn("p", lambda: Probe(into))
    probe.tell("x")
    deterministic.settle()
    assert into == [(deterministic.monotonic_ns(), "x")]


USER_TEST = """
from supervision.testing import Probe, received


def test_on_each_host(host):
    probe = host.spawn("probe", Probe)
    probe.tell("hello")
    assert received(host, probe) == ["hello"]
"""


def _pytest_in(project: Path, site: Path, **env_extra: str) -> subprocess.CompletedProcess[str]:
    env = {"PYTHONPATH": f"{site}:{ROOT}", "PATH": "/usr/bin:/bin", **env_extra}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           str(project)], cwd=project, capture_output=True, text=True,
                          timeout=120, env=env)


def test_the_host_fixture_reaches_a_project_through_the_entry_point(tmp_path: Path) -> None:
    entry_points = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "entry-points"]["pytest11"]
    assert entry_points == {"supervision.testing": "supervision.testing"}
    # What installing Troupe writes: a distribution declaring the same entry point.
    dist = tmp_path / "site" / "troupe_plugin-0.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: troupe-plugin\nVersion: 0.0\n")
    (dist / "entry_points.txt").write_text(
        "[pytest11]\n" + "".join(f"{k} = {v}\n" for k, v in entry_points.items()))
    project = tmp_path / "project"
    project.mkdir()
    (project / "test_user.py").write_text(USER_TEST)
    first = _pytest_in(project, tmp_path / "site")
    assert "2 passed" in first.stdout, first.stdout + first.stderr
    # A conftest that also names the plugin (as Troupe's own does) is not a second registration.
    (project / "conftest.py").write_text('pytest_plugins = ["supervision.testing"]\n')
    second = _pytest_in(project, tmp_path / "site")
    assert "2 passed" in second.stdout, second.stdout + second.stderr
    # With entry points not loaded and no conftest line there is no fixture: the check bites.
    (project / "conftest.py").unlink()
    bare = _pytest_in(project, tmp_path / "site", PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")
    assert "fixture 'host' not found" in bare.stdout
