"""What a node actually does with real money: decided once, at start, from two independent
sources that must agree.

Real orders need BOTH `node.profile = "live"` in the config AND `--execute --confirm-live YES`
on the command line. Neither alone is enough: a config copied from a colleague's live box starts
in observe mode, and a command line pasted from a paper run cannot turn a paper config live. No
environment variable takes part (a stray export must never start live trading), which is why
this function takes its inputs as arguments and reads nothing else.

A half-given confirmation (`--execute` without `--confirm-live YES`, a wrong word, or the
confirmation without `--execute`) is an error, not a quiet fallback: someone who typed it
meant something, and guessing what is exactly the accident this guards against.
"""

from __future__ import annotations

import enum

import attrs

from protocols.errors import TroupeError

__all__ = ["LiveGuardError", "Mode", "ModeDecision", "resolve_mode"]

CONFIRMATION = "YES"


class Mode(enum.StrEnum):
    OBSERVE = "observe"  # strategies run, intents are journaled, nothing is sent
    PAPER = "paper"  # the embedded simulated venue
    LIVE = "live"  # real orders


class LiveGuardError(TroupeError, ValueError):
    """The command line asked for something the guard will not do; exit code 2."""


@attrs.frozen(slots=True)
class ModeDecision:
    mode: Mode
    notice: str  # printed at start-up


def resolve_mode(profile: str, *, execute: bool, confirm_live: str | None) -> ModeDecision:
    if confirm_live is not None and not execute:
        raise LiveGuardError("--confirm-live is only meaningful with --execute")
    if execute and confirm_live != CONFIRMATION:
        shown = "missing" if confirm_live is None else f"{confirm_live!r}"
        raise LiveGuardError(
            f"--execute needs --confirm-live {CONFIRMATION} (exactly; got {shown}): "
            "live trading never starts on a partial confirmation")
    if profile == "live":
        if execute:
            return ModeDecision(Mode.LIVE, "LIVE TRADING: real orders will be sent")
        return ModeDecision(
            Mode.OBSERVE,
            "observe mode: profile is live but --execute --confirm-live YES was not given; "
            "strategies run and their intents are journaled, nothing is sent")
    if execute:
        raise LiveGuardError(f"--execute is only for a live profile; this config's profile is "
                             f"{profile!r}")
    if profile == "observe":
        return ModeDecision(Mode.OBSERVE, "observe mode: nothing is sent")
    if profile == "paper":
        return ModeDecision(Mode.PAPER, "paper mode: orders go to the embedded simulated venue")
    if profile == "backtest":
        return ModeDecision(Mode.PAPER, "backtest: the node's actors over a recording in "
                                        "virtual time; orders go to the simulated venue")
    raise LiveGuardError(f"unknown profile {profile!r}")
