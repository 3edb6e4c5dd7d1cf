"""What the node does when part of its supervision tree gives up (DESIGN.md section 4).

Supervisors restart what fails; when restarting does not help, they give up, and a trading node
must then fail *safe*. The host reports every supervision record to `FailSafe.on_record` and the
root supervisor's exit to `FailSafe.on_root_exit`; this module decides by subtree:

| subtree    | who gave up                         | what the node does                          |
|------------|-------------------------------------|---------------------------------------------|
| strategy   | one strategy, past its own limit    | cancels its orders; it quotes no more; the  |
|            |                                     | rest of the node trades on                  |
| strategies | the strategies supervisor           | nothing more: the root restarts it          |
| source     | the market source                   | nothing more: the root restarts it; books   |
|            |                                     | go stale, so strategies stop quoting        |
| risk       | the risk supervisor                 | HALTED (journaled as a supervisor's halt),  |
| venue      | the venue supervisor                | every order cancelled through what survives |
| journal    | the journal writer's supervisor     | as risk: nothing would be recorded any more |
| root       | the node's root supervisor          | as risk, and the process exits non-zero     |

One failure that is not a give-up is handled here too: when the budget or the venue connection
fails, what it held (queued intents, order state) is lost, so no strategy's view of its own
orders can be trusted. Every order is cancelled (the cancel-all waits in the restarting actor's
mailbox) and every strategy restarted as an operator would restart it, from no orders.

The halt goes through `Node.apply` like an operator's, so it is counted, journaled as a
`ControlAction` (recovery restores it even if the gate never confirmed it) and persisted by the
gate when it next runs; the node's view says HALTED at once, with the reason, so `/readyz` is not
ready even while the gate is down. Only an operator resumes. Every give-up is journaled
(`SupervisorGaveUp`), counted in `troupe_supervisor_give_ups_total{subtree}` and alerted on
(`SupervisorGaveUp` in docs/prometheus/alert_rules.yml). Restarts are journaled too
(`ActorRestarted`), so the journal tells the whole story of a failure.

`given_up` names the strategies given up, in order: the node trades on without them, so the
status line, the stop summary and `/readyz` say which are gone.

`failure` is set once the tree cannot trade any more (the root gave up or exited, or the node's
monitor died, so nothing it reports can be trusted): the node is then never ready, and
`supervision.node.run` stops the process with exit code `EXIT_TREE_GAVE_UP`.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from protocols.commands import CancelAll
from protocols.control import ControlActionName, ControlCommand, ControlOutcome, clean_reason
from protocols.decisions import TradingState
from protocols.journal import ActorRestarted, SupervisorGaveUp
from protocols.runtime import FailureRecord
from supervision.node.monitor import NodeView
from supervision.runtime.supervisor import RestartChild

__all__ = ["EXIT_TREE_GAVE_UP", "FailSafe", "subtree_of"]

log = logging.getLogger("troupe.failsafe")

EXIT_TREE_GAVE_UP = 3
"""The process exit code when the root supervisor gave up: a process supervisor restarts it."""

GIVE_UPS = "troupe_supervisor_give_ups_total"
ORDER_PATH = frozenset({"node/venue/budget", "node/venue/connection"})
"""Actors whose restart loses orders in flight: the strategies are restarted with them."""
HALTING = frozenset({"risk", "venue", "journal", "root"})

_ACTIONS = {
    "strategy": "cancelled its orders; it quotes no more, the other strategies trade on",
    "strategies": "left to the root supervisor, which restarts it",
    "source": "left to the root supervisor, which restarts it",
    "risk": "halted trading and cancelled every order",
    "venue": "halted trading and cancelled every order",
    "journal": "halted trading and cancelled every order",
    "root": "halted trading, cancelled every order; the process exits",
    "other": "nothing",
}


def subtree_of(actor: str) -> str:
    """Which part of the node an actor name belongs to (see the module's table)."""
    if actor == "node":
        return "root"
    if actor == "journal":
        return "journal"
    parts = actor.split("/")
    if parts[0] != "node" or len(parts) < 2:
        return "other"
    top = parts[1]
    if top == "strategies":
        return "strategy" if len(parts) > 2 else "strategies"
    return top if top in ("risk", "venue", "source") else "other"


class Guarded(Protocol):
    """What the fail-safe needs of the node (`supervision.node.assembly.Node`)."""

    host: Any
    view: NodeView
    root: Any
    monitor: Any
    journal: Any

    @property
    def budget(self) -> Any: ...

    @property
    def config(self) -> Any: ...

    def ref(self, path: str) -> Any: ...

    def apply(self, command: ControlCommand) -> ControlOutcome: ...


class FailSafe:
    def __init__(self, node: Guarded) -> None:
        self.node = node
        self.failure: str | None = None
        self.given_up: list[str] = []  # strategy ids, in the order they were given up
        for subtree in _ACTIONS:  # exported at 0 from the start, so a rise is seen as one
            node.host.metrics.count("node", GIVE_UPS, 0, {"subtree": subtree})

    def on_record(self, record: FailureRecord) -> None:
        try:
            if record.kind == "restart":
                self._journal(ActorRestarted(record.actor, record.exception))
            elif record.kind == "give_up":
                self._gave_up(record)
            elif record.kind == "failure" and record.actor in ORDER_PATH:
                self._reset_strategies(record)
        except Exception:  # the hook runs inside a supervisor: it must not fail it
            log.exception("fail-safe handling of %s failed", record)

    def on_root_exit(self, notice: Any) -> None:
        """A top-level actor exited. The root or the monitor (whose view `/readyz` and the
        shutdown read) gone means the node can no longer trade safely: halt and exit. The
        journal's own supervisor giving up arrives as a give-up record instead."""
        node, ref = self.node, getattr(notice.cell, "ref", None)
        if ref is None or ref not in (node.root, node.monitor):
            return
        if self.failure is None:
            what = "root supervisor" if ref is node.root else "node monitor"
            reason = f"the {what} exited: {notice.error or notice.reason}"
            self.failure = reason
            self._halt(reason)

    def _reset_strategies(self, record: FailureRecord) -> None:
        """The budget or the connection lost what it held (queued intents, order state): what
        the strategies believe about their orders can no longer be trusted. Cancel everything
        (the cancel-all waits in the mailbox of the restarting actor) and restart every
        strategy, as an operator would: they start again from no orders at all."""
        node, why = self.node, clean_reason(f"{record.actor} failed: {record.exception}")
        node.budget.tell(CancelAll(None, why))
        strategies = node.ref("strategies")
        for strategy in node.config.strategies:
            strategies.tell(RestartChild(strategy.id))
        log.warning("%s: every order cancelled, every strategy restarted", why)

    def _gave_up(self, record: FailureRecord) -> None:
        subtree = subtree_of(record.actor)
        reason = f"{record.actor} gave up: {record.exception}"
        node = self.node
        if subtree == "strategy":
            strategy = record.actor.rsplit("/", 1)[-1]
            if strategy not in self.given_up:
                self.given_up.append(strategy)
            node.budget.tell(CancelAll(None, clean_reason(reason), strategy=strategy))
        elif subtree in HALTING:
            if subtree == "root":
                self.failure = reason
            self._halt(reason)
        action = _ACTIONS[subtree]
        node.host.metrics.count("node", GIVE_UPS, 1, {"subtree": subtree})
        self._journal(SupervisorGaveUp(record.actor, subtree, record.exception, action))
        log.error("%s (%s): %s", reason, subtree, action)

    def _halt(self, reason: str) -> None:
        """HALTED now in the node's view, through the gate when it runs, and every order
        cancelled through the budget (queued in its mailbox if it is down)."""
        node, why = self.node, clean_reason(f"supervisor: {reason}")
        node.view.state, node.view.state_reason = TradingState.HALTED, why
        node.apply(ControlCommand(ControlActionName.HALT, why, "supervisor"))
        node.budget.tell(CancelAll(None, why))

    def _journal(self, record: Any) -> None:
        journal = self.node.journal
        if journal is not None:
            journal.tell(record)
