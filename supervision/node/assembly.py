"""A node: the supervised troupe a config describes, and what an operator touches.

    node (one_for_one)
     |- venue (rest_for_one): connection -> budget -> market:<i>... -> book:<i>...
     |- risk (one_for_one): portfolio, gate
     |- strategies (one_for_one, transient children, back-off): <strategy id>...
     |- source: the market flow (recorded, then synthetic)
    journal (one_for_one): writer;  monitor: outside the tree, started first and stopped last;
    observation: the daily market statistics' writer (observe and paper nodes), the same

The venue subtree is rest_for_one because everything after the connection holds state derived
from it (a restarted connection knows no orders; books must resync). The connection is the
generic `VenueConnection` over the transport that the venue registry
(`supervision.node.venues`) builds for `venue.kind`, afresh at each (re)start. Actors address
each other by name (`supervision.runtime.refs.NamedRef`): the tree has cycles and supervisors
create children only when they start.

`Node` is also the control plane's `ControlTarget`: `apply` turns an operator command into a
message to the risk gate (trading state, flatten) or the budget (cancel all), counts it in
troupe_control_actions_total{action,source} and journals it (one ControlAction record per
command, applied or refused). An alert's command is bounded (`_alert_refusal`): it only tightens,
and resumes only what an alert decided. `apply` and `readiness` run on the node's event loop
(the control plane, on its own thread, crosses to it through a bridge) and never block.

Failures (docs/failures.md is the operator's table):
- Each strategy has its own restart limit (`budget.restart_intensity` in `restart_period_s`):
  past it, that strategy alone is given up and the others trade on. The risk gate watches every
  strategy: when an incarnation dies, the orders it left are cancelled (scoped to that
  strategy) before its next incarnation can quote, so none is left unknown to it.
- Each strategy's client order ids come from one `ClientOrderIds` the node owns for the life of
  the process, seeded from the journal and reserving blocks in the journal ahead of use: a
  restart, in process or after kill -9, never reissues an id.
- What happens when a supervisor gives up is `supervision.node.failsafe`'s to decide.
- `inject_fault` arms a fault on any actor of the running node, except in live mode.
"""

from __future__ import annotations

import itertools
import logging
from pathlib import Path
from typing import Any

import attrs

from actors.behaviour import Ref
from actors.execution.ids import ClientOrderIds
from actors.execution.venue_connection import VenuePeers
from actors.market.book_actor import book_conflation_key
from actors.recovered import RecoveredState
from protocols.commands import CancelAll
from protocols.control import (
    ControlActionName,
    ControlCommand,
    ControlOutcome,
    ControlSource,
    Readiness,
)
from protocols.decisions import TradingState
from protocols.errors import TroupeError
from protocols.instruments import InstrumentSpec
from protocols.journal import ControlAction, FaultInjected
from protocols.risk import Flatten, ResumeInstrument, SetTradingState
from supervision.config.node import NodeConfig, Profile
from supervision.config.trading import StrategyConfig
from supervision.node.failsafe import FailSafe
from supervision.node.journal_writer import JournalBacklog
from supervision.node.live_guard import Mode
from supervision.node.monitor import NodeMonitor, NodeView, halts_of
from supervision.node.observation import ObservationWriter
from supervision.node.pipeline import PathRefs, StrategyPlan, TradingPath
from supervision.node.venues import connection_factory
from supervision.runtime.faults import Fault
from supervision.runtime.mailbox import BoundedReject, ConflateByKey
from supervision.runtime.refs import RefBook
from supervision.runtime.specs import (
    Backoff,
    ChildSpec,
    RestartLimit,
    Strategy,
    SupervisorSpec,
)
from supervision.runtime.supervisor import Supervisor, supervisor_child

__all__ = ["FaultInjectionRefused", "Node"]

ID_BLOCK = 1000
"""Client order ids reserved in the journal at a time, per strategy (`ClientOrderIds`)."""


class FaultInjectionRefused(TroupeError, ValueError):
    """A fault cannot be armed: live mode (real orders), or no such actor. One-line message."""


log = logging.getLogger("troupe.node")
SECOND = 1_000_000_000
RENDER_PAUSE_S = 0.0002

_STATE_OF = {
    ControlActionName.DISABLE_LIVE: TradingState.REDUCING,
    ControlActionName.REDUCE_ONLY: TradingState.REDUCING,
    ControlActionName.HALT: TradingState.HALTED,
    ControlActionName.RESUME: TradingState.ACTIVE,
}


class Node:
    def __init__(self, config: NodeConfig, mode: Mode, host: Any, *,
                 recovered: RecoveredState | None = None, run_id: str = "run",
                 book_venue: str | None = None) -> None:
        self.config, self.mode, self.host = config, mode, host
        self.recovered = recovered
        # This process's run (journaled in NodeStarted); each venue incarnation is a session
        # of it, "<run_id>.<n>", which the simulated venue puts in its fill ids.
        self.run_id = run_id
        self._venue_sessions = itertools.count(1)
        # An in-process venue (the simulated exchange), built once: it outlives every connection.
        self.venues: dict[str, Any] = {}
        self.refs = RefBook(host)
        self.specs: dict[str, InstrumentSpec] = {
            i.symbol: i.to_spec(book_venue or _book_venue(config)) for i in config.instruments}
        self.view = NodeView(tuple(self.specs))
        if recovered is not None and recovered.risk is not None:
            # The gate starts in the restored state and announces only later changes.
            self.view.state = recovered.trading_state
            self.view.state_reason = f"restored from the journal: {recovered.risk.reason}"
            self.view.state_source = "journal"
            self.view.halts = halts_of(recovered.risk)
        self.root: Ref | None = None
        self.monitor: Ref | None = None
        self.observation: Ref | None = None  # the statistics writer, when this node keeps them
        self.journal: Ref | None = None  # the writer, by name: stable across its restarts
        self.journal_root: Ref | None = None  # its supervisor
        self.control_url: str | None = None  # set by whoever serves the control plane
        self.peers = VenuePeers()
        self.ids: dict[str, ClientOrderIds] = {}  # per strategy id, for the life of the process
        self.failsafe = FailSafe(self)

    # -- names ---------------------------------------------------------------------------------
    def ref(self, path: str) -> Any:
        return self.refs(f"node/{path}")

    @property
    def gate(self) -> Any:
        return self.ref("risk/gate")

    @property
    def budget(self) -> Any:
        return self.ref("venue/budget")

    @property
    def connection(self) -> Any:
        return self.ref("venue/connection")

    def journal_writer(self) -> Any:
        """The writer's current cell ref (for an ask: a name only tells), or None."""
        cell = self.host.existing_cell("journal/writer")
        return None if cell is None else cell.ref

    # -- assembly ------------------------------------------------------------------------------
    def start(self, journal_factory: Any | None, source_factory: Any | None) -> None:
        """Spawn the journal, the monitor and the tree. `source_factory(target)` builds the
        market source once the tree is up; None leaves the market flow to the caller.

        `journal_factory(watchers=..., backlog=...)` builds the journal writer (a
        `JournalWriter`), which runs under its own supervisor, "journal", like any other actor:
        a writer that fails is restarted and takes over the records its last incarnation had
        not written yet (`backlog`), and tells `watchers` (the gate, the monitor) when its
        health changes."""
        host = self.host
        if journal_factory is not None:
            watchers, backlog, caps = [self.gate, self.refs("monitor")], JournalBacklog(), \
                self.config.budget
            writer = ChildSpec("writer", lambda: journal_factory(watchers=watchers,
                                                                 backlog=backlog),
                               blocking=True)
            spec = SupervisorSpec([writer], Strategy.ONE_FOR_ONE,
                                  intensity=caps.restart_intensity,
                                  period_s=caps.restart_period_s)
            self.journal_root = host.spawn("journal", lambda: Supervisor(spec))
            self.journal = self.refs("journal/writer")
        view = self.view
        self.monitor = host.spawn("monitor", lambda: NodeMonitor(view),
                                  mailbox=ConflateByKey(book_conflation_key))
        if self.keeps_statistics():
            directory = self.config.observation.dir or str(
                Path(self.config.journal.path).parent / "observation")
            self.observation = host.spawn("observation", lambda: ObservationWriter(directory),
                                          blocking=True)
        host.on_record = self.failsafe.on_record
        host.on_root_exit = self.failsafe.on_root_exit
        self.root = host.spawn("node", lambda: Supervisor(self._tree(source_factory)))

    def keeps_statistics(self) -> bool:
        """Observe and paper nodes write the daily market statistics; backtests do not."""
        return (self.config.observation.enabled and self.mode in (Mode.OBSERVE, Mode.PAPER)
                and self.config.profile is not Profile.BACKTEST)

    def _tree(self, source_factory: Any | None) -> SupervisorSpec:
        budget_cfg = self.config.budget
        groups = self._path().children(self.ref)
        intensity, period = budget_cfg.restart_intensity, budget_cfg.restart_period_s
        strategies = groups["strategies"]
        children = [
            # Everything after the connection holds state derived from it: rest_for_one.
            supervisor_child(SupervisorSpec(groups["venue"], Strategy.REST_FOR_ONE,
                                            intensity=intensity, period_s=period), "venue"),
            supervisor_child(SupervisorSpec(groups["risk"], Strategy.ONE_FOR_ONE,
                                            intensity=intensity, period_s=period), "risk"),
            # The strategies' supervisor's limit is the sum of theirs: it gives up only when
            # more strategies fail than any one could alone.
            supervisor_child(SupervisorSpec(
                strategies, Strategy.ONE_FOR_ONE,
                intensity=max(intensity, 1) * max(len(strategies), 1), period_s=period,
                backoff=Backoff(min_s=0.5, max_s=30.0, jitter=0.2)), "strategies")]
        if source_factory is not None:
            connection = self.connection
            children.append(ChildSpec("source", lambda: source_factory(connection),
                                      mailbox=BoundedReject(budget_cfg.mailbox_capacity),
                                      blocking=True))
        return SupervisorSpec(children, Strategy.ONE_FOR_ONE,
                              intensity=budget_cfg.restart_intensity,
                              period_s=budget_cfg.restart_period_s)

    def _path(self) -> TradingPath:
        cfg, caps = self.config, self.config.budget
        plans = [StrategyPlan(s.id, s.instrument, self._strategy_build(s))
                 for s in cfg.strategies]
        # Each strategy has its own restart limit; see _tree for the supervisor's.
        limit = RestartLimit(max(caps.restart_intensity, 1), caps.restart_period_s)
        return TradingPath(
            specs=self.specs, strategies=plans,
            # A cancel-all of everything sweeps instrument by instrument (Binance spot): paid so.
            limits=attrs.evolve(cfg.venue.to_venue_limits(),
                                sweep_requests=max(1, len(cfg.instruments))),
            connection=self._connection, risk=cfg.risk, restored=self._risk_state,
            watchers=[self.monitor] if self.monitor is not None else [], journal=self.journal,
            # A backtest has no /readyz or status line to read the books' health.
            watch_books=cfg.profile is not Profile.BACKTEST,
            strategy_limit=limit, mailbox_capacity=caps.mailbox_capacity,
            venue_mailbox_capacity=caps.venue_mailbox_capacity,
            budget_mailbox_capacity=caps.action_budget_mailbox_capacity,
            book_mailbox_capacity=caps.book_mailbox_capacity,
            remember_cancelled=caps.remember_cancelled, observation=self.observation,
            observation_interval_s=cfg.observation.interval_s,
            flow_control=cfg.profile is Profile.BACKTEST)

    def _connection(self, refs: PathRefs) -> Any:
        """The venue connection `venue.kind` names (`supervision.node.venues`), told where the
        rest of the node is."""
        peers = self.peers
        peers.budget, peers.portfolio, peers.journal = refs.budget, refs.portfolio, self.journal
        peers.watchers = [self.monitor] if self.monitor is not None else []
        peers.source = self.ref("source")
        for name in self.specs:
            peers.books[name] = refs.book(name)
            peers.markets[name] = refs.market(name)
        recovered = self.recovered
        return connection_factory(self.config, self.mode, self.specs, peers,
                                  self._next_venue_session, expected_open=frozenset(
                                      recovered.open_orders if recovered is not None else ()),
                                  venues=self.venues, recovered=recovered)

    def _risk_state(self) -> Any:
        """What a (re)started gate restores: its own latest record if it ran in this process,
        else what the journal held at start."""
        if self.view.risk_state is not None:
            return self.view.risk_state
        return self.recovered.risk if self.recovered is not None else None

    def _strategy_build(self, strategy: StrategyConfig) -> Any:
        spec = self.specs[strategy.instrument]
        build, ids = strategy.entry.build, self._ids_for(strategy)
        config = strategy.to_config(spec, id_high_water=ids.high_water, ids=ids)
        return lambda gate, journal: build(config, gate, journal)

    def _ids_for(self, strategy: Any) -> ClientOrderIds:
        """The strategy's one id source: every incarnation (and every rebuild of the tree)
        continues it; the first is seeded from the journal."""
        ids = self.ids.get(strategy.id)
        if ids is None:
            prefix = str(strategy.params.get("id_prefix", "tr"))
            high_water = (self.recovered.high_water(prefix, strategy.id)
                          if self.recovered is not None else 0)
            ids = self.ids[strategy.id] = ClientOrderIds(
                prefix, strategy.id, high_water, block=ID_BLOCK, reserve=self._journal_record)
        return ids

    def _journal_record(self, record: Any) -> None:
        if self.journal is not None:
            self.journal.tell(record)

    def _next_venue_session(self) -> str:
        return f"{self.run_id}.{next(self._venue_sessions)}"

    # -- control ---------------------------------------------------------------------------------
    def apply(self, command: ControlCommand) -> ControlOutcome:
        action, reason, source = command.action, command.reason, command.source
        instrument = command.instrument
        refusal = self._refusal(command)
        state = self.view.state.name.lower()
        if refusal is not None:
            pass
        elif action is ControlActionName.RESUME and instrument is not None:
            self.gate.tell(ResumeInstrument(instrument, f"resume: {reason}", source))
        elif action in _STATE_OF:
            target_state = _STATE_OF[action]
            alert = source == ControlSource.ALERTMANAGER
            self.gate.tell(SetTradingState(
                target_state, f"{action.value}: {reason}", source,
                only_tighten=alert and target_state is not TradingState.ACTIVE,
                only_from=ControlSource.ALERTMANAGER.value
                if alert and target_state is TradingState.ACTIVE else None))
            state = target_state.name.lower()
        elif action is ControlActionName.FLATTEN:
            self.gate.tell(Flatten(instrument, reason))
        else:
            self.budget.tell(CancelAll(instrument, reason))
        self.host.metrics.count("control", "troupe_control_actions_total", 1,
                                {"action": action.value, "source": source})
        if self.journal is not None:
            self.journal.tell(ControlAction(action.value, reason, source, refusal is None,
                                            refusal or state, instrument))
        return ControlOutcome(refusal is None, state, refusal or "")

    def _alert_refusal(self, action: ControlActionName) -> str | None:
        """Why an alert's command changes nothing, or None. Only an operator relaxes an
        operator's decision: an alert only tightens (never HALTED -> REDUCING), and its resume
        undoes only a REDUCING an alert decided, where the config allows it. The gate checks
        the same against its own state (`SetTradingState.only_tighten/only_from`), so a command
        racing this view cannot slip through."""
        view = self.view
        state = view.state.name.lower()
        if action is ControlActionName.DISABLE_LIVE:
            if view.state >= TradingState.REDUCING:
                return f"already {state}: an alert only tightens"
            return None
        if action is ControlActionName.RESUME:
            if not self.config.control.alertmanager.resume_on_resolved:
                return "resume_on_resolved is off: only an operator resumes"
            if (view.state is not TradingState.REDUCING
                    or view.state_source != ControlSource.ALERTMANAGER):
                return (f"{state} was decided by {view.state_source}, not by an alert: "
                        "only an operator resumes it")
            return None
        return f"an alert may only disable_live or resume, not {action.value}"

    def _refusal(self, command: ControlCommand) -> str | None:
        """Why the node refuses `command` (nothing changes then), or None."""
        if command.source == ControlSource.ALERTMANAGER:
            refusal = self._alert_refusal(command.action)
            if refusal is not None:
                return refusal
        instrument, view = command.instrument, self.view
        if instrument is not None and instrument not in self.specs:
            return f"unknown instrument {instrument!r}; this node trades {', '.join(self.specs)}"
        if command.action is ControlActionName.RESUME and instrument is not None:
            if instrument not in view.halts:
                return f"{instrument} is not halted: nothing to resume"
            return None
        if command.action is ControlActionName.RESUME and not view.journal_healthy:
            return (f"the journal cannot write ({view.journal_error}): trading resumes "
                    "once it writes again")
        return None

    def inject_fault(self, actor: str, fault: Fault | None, source: str = "test") -> str:
        """Arm `fault` on the actor at `actor` ("strategies/mm1", "venue/book:BTCUSDT", "risk":
        a path below the node, or "node" for the root), or disarm it with None. Refused in live
        mode: rehearsing failures is for paper and observe nodes. Returns what was armed."""
        if self.mode is Mode.LIVE:
            raise FaultInjectionRefused(
                "fault injection is refused in live mode: this node sends real orders")
        name = actor if actor == "node" or actor.startswith("node/") else f"node/{actor}"
        cell = self.host.existing_cell(name)
        if cell is None or cell.state.value == "dead":
            raise FaultInjectionRefused(f"no actor named {name!r} in this node")
        cell.inject_fault(fault)
        described = "" if fault is None else fault.describe()
        if fault is not None:
            self.host.metrics.count("node", "troupe_faults_injected_total", 1, {"actor": name})
        self._journal_record(FaultInjected(name, described, source))
        log.warning("fault %s on %s by %s", described or "disarmed", name, source)
        return described

    def readiness(self) -> Readiness:
        view = self.view
        max_age = self.config.risk.stale_book_ms * 1_000_000
        md, detail = view.md_ready(self.host.monotonic_ns(), max_age)
        failure = self.failsafe.failure
        trading = (md and view.reconciled and view.state is TradingState.ACTIVE
                   and view.journal_healthy and failure is None and not view.halts)
        journal = "ok" if view.journal_healthy else f"failing: {view.journal_error}"
        extra: dict[str, Any] = {} if failure is None else {"tree": failure}
        if self.failsafe.given_up:  # still ready: the other strategies trade on
            extra["strategies_given_up"] = list(self.failsafe.given_up)
        return Readiness(md, trading, self.mode.value, view.state.name.lower(),
                         {"books": detail, "reconciled": view.reconciled,
                          "state_reason": view.state_reason, "journal": journal,
                          "halted_instruments": dict(view.halts), **extra})

    def metrics_text(self) -> tuple[bytes, str]:
        # Rendered on the control plane's thread: give the GIL back between metric families.
        text: tuple[bytes, str] = self.host.metrics.text(pause_s=RENDER_PAUSE_S)
        return text


def _book_venue(config: NodeConfig) -> str:
    """The wire format of the books: the sim venue speaks the recording's format."""
    recording = config.market.recording.lower()
    kind = config.venue.kind.value
    if "hyperliquid" in recording or kind == "hyperliquid":
        return "hyperliquid"
    return "binance"

