"""Alertmanager's webhook, bounded: one payload makes at most one command.

A payload can carry thousands of alerts (a group of a noisy rule, or a forged body). Each used to
be its own command, journal record and log line; now the payload is folded into one decision:

- any matching alert firing: one `disable_live`, its reason listing the alert names
  (`alerts: A, B (+12 more)`); the node refuses it (and changes nothing) unless the account is
  ACTIVE, since an alert only tightens;
- otherwise, with `resume_on_resolved`, a payload resolving alerts of the current *episode* (the
  alerts seen firing since an alert's `disable_live` moved the account to REDUCING), once none
  of them still fires: one `resume` (`resolved: A, B`). A resolved alert never seen firing, or
  one firing while the account was already stricter, resumes nothing; the node and the gate
  check again that the REDUCING is an alert's and not an operator's.
- otherwise nothing.

The tracker is plain state (no I/O), fed in order by the plane's task; `applied` tells it what
the node did with its command. After a restart it knows no episode, so only an operator resumes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import attrs

from protocols.control import (
    MAX_REASON_CHARS,
    AlertmanagerAlert,
    ControlActionName,
    ControlCommand,
    ControlOutcome,
    ControlSource,
    alert_key,
    matching_alerts,
)

__all__ = ["AlertTracker", "WebhookDecision", "alert_names"]

MAX_TRACKED = 10_000  # firing alerts remembered; past it, new ones still tighten but not tracked


def alert_names(alerts: Iterable[AlertmanagerAlert], prefix: str) -> str:
    """`prefix` and the sorted distinct alert names, cut to fit a command's reason."""
    names = sorted({alert.name for alert in alerts})
    text, shown = prefix, 0
    for name in names:
        more = f" (+{len(names) - shown} more)"
        piece = (", " if shown else " ") + name
        if len(text) + len(piece) + len(more) > MAX_REASON_CHARS:
            return text + more
        text, shown = text + piece, shown + 1
    return text


@attrs.frozen
class WebhookDecision:
    command: ControlCommand | None
    firing: int
    resolved: int
    ignored: int


class AlertTracker:
    """Which matching alerts fire, and which of them belong to the current REDUCING episode."""

    def __init__(self, matchers: Mapping[str, str], *, resume_on_resolved: bool) -> None:
        self._matchers = dict(matchers)
        self._resume_on_resolved = resume_on_resolved
        self._firing: set[str] = set()
        self._episode: set[str] = set()  # alerts seen firing since an alert moved us to REDUCING
        self._pending: set[str] = set()  # the firing alerts of the command awaiting `applied`

    def decide(self, alerts: list[AlertmanagerAlert]) -> WebhookDecision:
        firing, resolved = matching_alerts(alerts, self._matchers)
        ignored = len(alerts) - len(firing) - len(resolved)
        resolved_keys = {alert_key(alert) for alert in resolved}
        self._firing -= resolved_keys
        for alert in firing:
            if len(self._firing) < MAX_TRACKED:
                self._firing.add(alert_key(alert))
        command = None
        if firing:
            if self._episode:
                self._episode |= {alert_key(alert) for alert in firing}
            self._pending = {alert_key(alert) for alert in firing}
            command = ControlCommand(ControlActionName.DISABLE_LIVE,
                                     alert_names(firing, "alerts:"), ControlSource.ALERTMANAGER)
        elif (self._resume_on_resolved and resolved_keys & self._episode
              and not self._firing & self._episode):
            command = ControlCommand(ControlActionName.RESUME,
                                     alert_names(resolved, "resolved:"),
                                     ControlSource.ALERTMANAGER)
        return WebhookDecision(command, len(firing), len(resolved), ignored)

    def applied(self, command: ControlCommand, outcome: ControlOutcome) -> None:
        """What the node did with the decision's command."""
        if not outcome.ok:
            return
        if command.action is ControlActionName.DISABLE_LIVE:
            self._episode |= self._pending  # these alerts moved the account to REDUCING
        elif command.action is ControlActionName.RESUME:
            self._episode = set()
