"""Live trading needs BOTH profile = "live" AND --execute --confirm-live YES; nothing else."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from supervision.node.live_guard import LiveGuardError, Mode, resolve_mode

ROOT = Path(__file__).resolve().parents[3]


def test_live_profile_with_both_flags_is_live() -> None:
    assert resolve_mode("live", execute=True, confirm_live="YES").mode is Mode.LIVE


def test_live_profile_without_flags_runs_in_observe_mode_and_says_so() -> None:
    decision = resolve_mode("live", execute=False, confirm_live=None)
    assert decision.mode is Mode.OBSERVE
    assert "observe mode" in decision.notice and "--execute" in decision.notice


@pytest.mark.parametrize("confirm", [None, "yes", "Y", "YES ", "true"])
def test_execute_without_the_exact_confirmation_is_refused(confirm: str | None) -> None:
    with pytest.raises(LiveGuardError, match="--confirm-live YES"):
        resolve_mode("live", execute=True, confirm_live=confirm)


def test_a_confirmation_without_execute_is_refused() -> None:
    with pytest.raises(LiveGuardError, match="only meaningful with --execute"):
        resolve_mode("live", execute=False, confirm_live="YES")


@pytest.mark.parametrize("profile", ["paper", "observe"])
def test_the_flags_cannot_turn_a_non_live_profile_live(profile: str) -> None:
    with pytest.raises(LiveGuardError, match="only for a live profile"):
        resolve_mode(profile, execute=True, confirm_live="YES")


# live.toml references its secrets by environment variable: give it placeholders.
SECRETS = {"BINANCE_API_KEY": "k" * 16, "BINANCE_API_SECRET": "s" * 16,
           "TROUPE_CONTROL_TOKEN": "t" * 16}


def run_main(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "supervision.main", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, **SECRETS, **(env or {})})


@pytest.mark.parametrize("name", ["TROUPE_EXECUTE", "TROUPE_PROFILE", "TROUPE_CONFIRM_LIVE",
                                  "TROUPE_LIVE"])
def test_no_environment_variable_enables_live_trading(name: str) -> None:
    result = run_main("config/live.toml", "--check-config", env={name: "YES"})
    assert result.returncode == 0, result.stderr
    assert "# mode: observe" in result.stdout
    assert SECRETS["BINANCE_API_SECRET"] not in result.stdout + result.stderr


def test_the_command_line_refuses_a_wrong_confirmation_with_exit_code_2() -> None:
    result = run_main("config/live.toml", "--execute", "--confirm-live", "yes")
    assert result.returncode == 2
    assert "error: --execute needs --confirm-live YES" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_command_line_refuses_execute_alone() -> None:
    result = run_main("config/live.toml", "--execute")
    assert result.returncode == 2 and "--confirm-live YES" in result.stderr
