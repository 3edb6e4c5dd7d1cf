"""What a node says at start when the journal hands it back a halt: loudly, on stdout and stderr.

A node that comes back HALTED or REDUCING, or with an instrument halted, is right to (a halt is
never forgotten), but an operator who restarted it to "fix" something must not have to guess why
it does not trade. So it says, for the account and for each halted instrument: the state, since
when (the journal record's time, UTC), why, who (the source that moved it: an operator over
http, alertmanager, the risk gate, the journal), and the exact command that resumes it through
the control plane, the same path and journal as every other action.
"""

from __future__ import annotations

import json
import time

from actors.recovered import RecoveredState
from protocols.decisions import TradingState
from supervision.config.node import NodeConfig

__all__ = ["restored_state_notice"]

_MARK = "!!!"


def restored_state_notice(recovered: RecoveredState | None, config: NodeConfig,
                          control_url: str | None) -> list[str]:
    """The lines to print, or none when the node restored nothing that stops it trading."""
    risk = recovered.risk if recovered is not None else None
    if recovered is None or risk is None:
        return []
    lines: list[str] = []
    if risk.trading_state is not TradingState.ACTIVE:
        lines.append(f"{_MARK} RESTORED {risk.trading_state.name} from the journal: "
                     f"{_since(recovered.state_since_ns)}{_who(recovered.state_source)}"
                     f"why: {risk.reason} ({risk.cause.value})")
        lines.append(f"{_MARK}   new orders stay blocked until an operator resumes; after "
                     "checking why, run:")
        lines.append(f"{_MARK}   {_resume_command(config, control_url, None)}")
    for instrument, halt in risk.halts:
        since = recovered.halted_since_ns.get(instrument)
        lines.append(f"{_MARK} RESTORED instrument {instrument} HALTED from the journal: "
                     f"{_since(since)}who: the risk gate; why: {halt.reason} ({halt.gate.value})")
        lines.append(f"{_MARK}   it trades again only when an operator lifts the halt:")
        lines.append(f"{_MARK}   {_resume_command(config, control_url, instrument)}")
    return lines


def _since(epoch_ns: int | None) -> str:
    if not epoch_ns:
        return "since: unknown (not in the journal); "
    stamp = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(epoch_ns / 1e9))
    return f"since {stamp}; "


def _who(source: str) -> str:
    return f"who: {source}; " if source else "who: unknown; "


def _resume_command(config: NodeConfig, control_url: str | None, instrument: str | None) -> str:
    control = config.control
    if not control.enabled or control_url is None:
        return ("the control plane is disabled (control.enabled = false): enable it and "
                "restart, then POST /control {\"action\": \"resume\", ...}")
    body = {"action": "resume", "reason": "<why it is safe now>"}
    if instrument is not None:
        body["instrument"] = instrument
    command = (f"curl -X POST {control_url}/control -H 'X-Auth-Token: <control token>' "
               f"-d '{json.dumps(body)}'")
    if control.token is None:
        return f"{command}   (POST /control needs a token: set control.token first)"
    return command
