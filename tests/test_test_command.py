"""The README's test command is one script, `tests/run`, and it installs what the tests need.

The Quickstart promises that a machine with only Python and pip runs the suite. So the script
installs the Debian packages behind `promtool`, `prometheus`, `alertmanager` and `chromium` when
they are missing, then the Python test extras, then runs pytest; `.ci/run` runs that same
command. The script is run here against a PATH of stand-ins that record what they were asked to
do.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tests" / "run"
TOOLS = ("bash", "dirname", "env", "id", "cat")


def quickstart_commands() -> list[str]:
    section = ROOT.joinpath("README.md").read_text().split("## Quickstart", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block is not None
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_the_quickstart_is_two_commands_and_the_second_is_the_test_script() -> None:
    commands = quickstart_commands()
    assert len(commands) == 2
    assert commands[1] == "tests/run"


def test_ci_runs_exactly_the_readmes_test_command_then_the_linters() -> None:
    lines = [line.strip() for line in ROOT.joinpath(".ci", "run").read_text().splitlines()
             if line.strip() and not line.lstrip().startswith(("#", "set ", "cd "))]
    assert lines == [quickstart_commands()[1], "ruff check .", "mypy"]


def fake_path(tmp_path: Path, present: tuple[str, ...]) -> tuple[dict[str, str], Path]:
    """A PATH holding the few real tools the script uses, stand-ins for apt-get, sudo and
    python that log their arguments, and stand-ins for the `present` test tools."""
    bin_dir, log = tmp_path / "bin", tmp_path / "calls.log"
    bin_dir.mkdir()
    for tool in TOOLS:
        real = shutil.which(tool)
        assert real is not None, tool
        (bin_dir / tool).symlink_to(real)
    for name in ("apt-get", "sudo", "python", *present):
        stub = bin_dir / name
        stub.write_text(f'#!{shutil.which("bash")}\necho "{name} $*" >> "{log}"\n')
        stub.chmod(0o755)
    return {"PATH": str(bin_dir), "HOME": str(tmp_path)}, log


def run_script(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SCRIPT), *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)


def test_on_a_fresh_machine_it_installs_the_packages_then_the_extras_then_runs_pytest(
        tmp_path: Path) -> None:
    env, log = fake_path(tmp_path, present=())
    result = run_script(env, "-q", "tests/supervision")
    assert result.returncode == 0, result.stderr
    lines = log.read_text().splitlines()
    # As root the real `env` runs the apt-get stand-in; otherwise the sudo stand-in logs it all.
    assert any(line.startswith("sudo") for line in lines) is (os.geteuid() != 0)
    calls = [line.removeprefix("sudo ").removeprefix("env DEBIAN_FRONTEND=noninteractive ")
             for line in lines]
    assert calls == [
        "apt-get update -qq",
        "apt-get install -y -qq --no-install-recommends prometheus prometheus-alertmanager "
        "chromium",
        "python -m pip install -q -e .[test]",
        "python -m pytest -q tests/supervision",
    ]


def test_with_the_tools_present_nothing_is_installed_from_apt(tmp_path: Path) -> None:
    present = ("promtool", "prometheus", "amtool", "prometheus-alertmanager", "chromium")
    env, log = fake_path(tmp_path, present=present)
    result = run_script(env)
    assert result.returncode == 0, result.stderr
    assert log.read_text().splitlines() == ["python -m pip install -q -e .[test]",
                                            "python -m pytest"]


def test_only_the_missing_package_is_installed(tmp_path: Path) -> None:
    env, log = fake_path(tmp_path, present=("promtool", "prometheus", "amtool", "chromium"))
    assert run_script(env).returncode == 0
    installs = [line for line in log.read_text().splitlines() if " install -y" in line]
    assert len(installs) == 1 and installs[0].endswith("--no-install-recommends "
                                                       "prometheus-alertmanager")
