"""Running a node on the live host: start-up, the status line, signals, graceful shutdown.

Start-up binds the control plane before anything trades: an address that cannot be bound is one
line and exit code 2, with nothing started.

Shutdown, on SIGINT, SIGTERM or SIGHUP or at the end of `--duration`, is the sequence of
`supervision.node.shutdown` (stop new orders, cancel all, wait, stop the tree, journal and
flush). A second signal forces the exit at once (`supervision.node.process`). Lines go to stdout
through a `Console`: a closed stdout never stops the node. The order-path latencies printed in
the status line come from `supervision.node.node_metrics`.

If the root supervisor gives up (`supervision.node.failsafe`), the node has halted and cancelled
what it could; the same shutdown runs (journaling the reason) and the process exits with
`EXIT_TREE_GAVE_UP` (3), so a process supervisor restarts it: never a live process without a
working tree.
"""

from __future__ import annotations

import logging
import math
import secrets
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import attrs
import trio

from protocols.errors import TroupeError
from protocols.journal import NodeStarted
from supervision.config.load import NodeConfig
from supervision.config.market import MarketSource
from supervision.control.server import BindError
from supervision.node.assembly import Node
from supervision.node.failsafe import EXIT_TREE_GAVE_UP
from supervision.node.instance_lock import (
    InstanceLockError,
    acquire_all,
    node_locks,
    release_all,
)
from supervision.node.journal import JournalError, recover_journal
from supervision.node.journal_writer import LIVE_LINGER_S, JournalWriter, check_journal_opens
from supervision.node.live_guard import ModeDecision
from supervision.node.node_metrics import NodeMetrics
from supervision.node.process import CONSOLE, STOP
from supervision.node.restored import restored_state_notice
from supervision.node.shutdown import shutdown_node
from supervision.node.status import MarketNotices, status_line, summary
from supervision.node.venues import adapter_for, recorded_oracle
from supervision.repl.console import start_repl
from supervision.runtime.affinity import plan_for
from supervision.runtime.bridge import LoopBridge
from supervision.runtime.live import LiveHost
from supervision.sources.replay import ReplaySource, require_asset_ctx
from supervision.sources.synthetic import ContinuingSource

__all__ = ["OFF_THE_ORDER_PATH", "RunningNode", "close_node", "freeze_when_ready", "open_node",
           "run_node"]

SECOND = 1_000_000_000
_TREE_CHECK_S = 0.1  # how often the run loop looks for a tree that gave up
# Loop actors off the order path: they read every book top (marks, readiness, statistics) and
# would otherwise run between a strategy's proposal and the gate (`LiveHost(background=...)`).
OFF_THE_ORDER_PATH = ("node/risk/portfolio", "monitor", "node/venue/observer")


def _version() -> str:
    try:
        return metadata.version("troupe")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def run_node(config: NodeConfig, decision: ModeDecision, *, duration: float | None,
             report: str | None = None) -> int:
    if not STOP.installed:  # `python -m supervision.main` installed it first thing
        STOP.install()
    CONSOLE.guard_stdout()
    try:
        plan_for(config.runtime.loop_cpus)  # the CPUs exist here: before anything starts
        adapter_for(config.venue.kind.value).run_preflight(config, decision.mode)
    except TroupeError as exc:  # CPUs, an unknown kind, or the venue's preflight refusal
        sys.stderr.write(f"error: {exc}\n")
        return 2
    journal_path = Path(config.journal.path)
    try:
        check_journal_opens(journal_path)
    except JournalError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    if recorded_oracle(config):
        try:
            require_asset_ctx(config.market.recording_path())
        except (ValueError, OSError) as exc:
            sys.stderr.write(f"error: {exc}\n")
            return 2
    try:
        locks = acquire_all(node_locks(journal_path, venue_kind=config.venue.kind.value,
                                       account=config.venue.account,
                                       lock_dir=config.node.lock_dir))
    except InstanceLockError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    try:
        code = _run_locked(config, decision, duration, journal_path)
    finally:
        release_all(locks)
    if report is not None and code != 2:
        code = _report(config, journal_path, Path(report)) or code
    return code


def _report(config: NodeConfig, journal_path: Path, directory: Path) -> int:
    """The run's trading report from its journal, flushed at the stop (`supervision.report`)."""
    from supervision.config.load import redacted
    from supervision.report import report_journal

    started = time.perf_counter()
    try:
        out, _ = report_journal(journal_path, config, directory, started=started,
                                config_text=redacted(config))
    except (JournalError, OSError) as exc:
        sys.stderr.write(f"error: cannot write the report to {directory}: {exc}\n")
        return 2
    print(f"report: {out}", flush=True)
    return 0


def _run_locked(config: NodeConfig, decision: ModeDecision, duration: float | None,
                journal_path: Path) -> int:
    try:
        recovered = recover_journal(journal_path) if journal_path.exists() else None
    except (JournalError, OSError) as exc:
        sys.stderr.write(f"error: cannot replay the journal: {exc}\n")
        return 2
    owner = recovered.started.name if recovered and recovered.started else None
    if owner is not None and owner != config.node.name:
        # Its halts, order ids and open orders are that node's: adopting them would trade on
        # another node's state (or hide this one's), so the journal stays untouched.
        sys.stderr.write(
            f"error: the journal {journal_path} belongs to node {owner!r}, and this config is "
            f"node {config.node.name!r}: one node per journal; give this node its own "
            f"journal.path, or name it {owner!r} if it is that node renamed\n")
        return 2
    STOP.arm()  # from here a signal is a graceful stop, not an exit
    return trio.run(_serve, config, decision, duration, recovered)


def _source_factory(config: NodeConfig, node: Node) -> Any:
    market = config.market
    if market.source is MarketSource.VENUE:
        return None  # the venue connection streams the venue's own market data
    mapping = {i.venue_symbol: i.symbol for i in config.instruments}
    specs = dict(node.specs)
    path = market.recording_path()
    synth = market.synthetic
    if market.source is MarketSource.REPLAY:
        return lambda target: ReplaySource(path, mapping, target, market.speed)
    return lambda target: ContinuingSource(path, mapping, target, specs, market.speed,
                                           step_s=synth.step_ms / 1000, levels=synth.levels,
                                           seed=synth.seed)


@attrs.define
class RunningNode:
    """A started node: its tree, its control plane (None when disabled) and when it started."""

    node: Node
    plane: Any
    port: int | None
    started: float
    repl: Any = None
    stopped: str = ""  # what the shutdown did, for the summary


async def open_node(config: NodeConfig, decision: ModeDecision, recovered: Any,
                    nursery: trio.Nursery, *, metrics: NodeMetrics | None = None) -> RunningNode:
    """Start the host, the node's tree and its control plane in `nursery`."""
    metrics = metrics if metrics is not None else NodeMetrics()
    host = LiveHost(seed=config.node.seed, metrics=metrics, background=OFF_THE_ORDER_PATH,
                    loop_cpus=config.runtime.loop_cpus,
                    gc_when_idle=config.runtime.gc_when_idle)
    metrics.attach_host(host, time_handling=config.metrics.hdr_per_actor)
    metrics.set_build_info(version=_version(), mode=decision.mode.value,
                           profile=config.profile.value, node=config.node.name)
    node = Node(config, decision.mode, host, recovered=recovered, run_id=secrets.token_hex(4))
    journal_cfg = config.journal
    repl = start_repl(node)  # before any actor runs: its socket is bound under a strict umask
    await nursery.start(host.serve)
    plan = host.cpu_plan
    metrics.gauge("node", "troupe_loop_pinned_cpus", 0 if plan is None else len(plan.loop), {})
    if plan is not None:
        CONSOLE.say(f"cpu: {plan.describe()} (runtime.loop_cpus)")
    try:  # before anything trades: an address that cannot be bound stops the start here
        plane, port = await _start_control(config, node, nursery)
    except BindError:
        if repl is not None:
            repl.close()
        raise
    if port is not None:
        node.control_url = f"http://{config.control.listen_host}:{port}"
    node.start(lambda **wiring: JournalWriter(journal_cfg.path, journal_cfg.fsync.value,
                                              journal_cfg.fsync_interval_s,
                                              linger_s=LIVE_LINGER_S, **wiring),
               _source_factory(config, node))
    assert node.journal is not None
    await _journal_up(node)
    node.journal.tell(NodeStarted(config.node.name, config.profile.value,
                                  decision.mode.value, _version(), node.run_id))
    _announce(restored_state_notice(recovered, config, node.control_url))
    return RunningNode(node, plane, port, time.monotonic(), repl)


async def close_node(config: NodeConfig, running: RunningNode, reason: str) -> None:
    """The graceful shutdown of the module docstring, then the control plane stops."""
    running.stopped = await shutdown_node(config, running.node, reason)
    if running.repl is not None:
        running.repl.close()
    if running.plane is not None:
        await trio.to_thread.run_sync(running.plane.stop)


async def _serve(config: NodeConfig, decision: ModeDecision, duration: float | None,
                 recovered: Any) -> int:
    STOP.attach()
    say = CONSOLE.say
    say(f"troupe node {config.node.name!r}: {decision.notice}")
    _fills_on_stdout()
    if recovered is not None:
        for note in recovered.notes:
            say(f"journal: {note}")
        if recovered.open_orders and config.venue.kind.value == "sim":
            # The embedded venue starts empty: what rested on it before the restart is gone.
            say(f"journal: {len(recovered.open_orders)} order(s) were open at the last stop; "
                "the simulated venue restarted empty, so none rests now")
        elif recovered.open_orders:
            say(f"journal: {len(recovered.open_orders)} order(s) were open at the last stop; "
                "the venue's start-up reconciliation decides what happens to them")
    async with trio.open_nursery() as nursery:
        try:
            running = await open_node(config, decision, recovered, nursery)
        except BindError as exc:
            sys.stderr.write(f"error: control plane: {exc}\n")
            nursery.cancel_scope.cancel()
            return 2
        reason = await _run_until_stop(config, running.node, duration, running.started)
        await close_node(config, running, reason)
        nursery.cancel_scope.cancel()
    say(summary(running.node, time.monotonic() - running.started, running.stopped))
    return 0 if running.node.failsafe.failure is None else EXIT_TREE_GAVE_UP


class _ConsoleLines(logging.Handler):
    """Log records said on stdout among the status lines, as plain lines."""

    def emit(self, record: logging.LogRecord) -> None:
        CONSOLE.say(record.getMessage())


def _fills_on_stdout() -> None:
    """Each fill is a line on stdout (logger `troupe.orders` at INFO; `--log-level DEBUG` adds
    every order sent), not on stderr with the warnings."""
    orders = logging.getLogger("troupe.orders")
    if orders.getEffectiveLevel() > logging.INFO:
        orders.setLevel(logging.INFO)
    if not any(isinstance(h, _ConsoleLines) for h in orders.handlers):
        orders.addHandler(_ConsoleLines())
    orders.propagate = False


def _announce(lines: list[str]) -> None:
    """Lines an operator must not miss: on stdout (the log) and stderr (the terminal)."""
    for line in lines:
        CONSOLE.say(line)
        sys.stderr.write(line + "\n")
    sys.stderr.flush()


async def _journal_up(node: Node) -> None:
    """Wait for the journal's supervisor to have started its writer: records told to the
    writer's name before that would be refused."""
    with trio.fail_after(5):
        while node.host.existing_cell("journal/writer") is None:
            await trio.sleep(0.001)


async def _start_control(config: NodeConfig, node: Node,
                         nursery: trio.Nursery) -> tuple[Any, int | None]:
    control, metrics = config.control, node.host.metrics
    if not control.enabled:
        CONSOLE.say("control plane: disabled by config")
        return None, None
    from supervision.control.http import ControlPlane
    from supervision.control.server import ControlPlaneThread

    plane = ControlPlane(node, host=control.listen_host, port=control.listen_port,
                         token=control.token, max_body_bytes=control.max_body_bytes,
                         am_matchers=dict(control.alertmanager.matchers),
                         am_resume_on_resolved=control.alertmanager.resume_on_resolved,
                         am_token=control.alertmanager.token,
                         am_max_body_bytes=control.alertmanager.max_body_bytes,
                         allowed_hosts=control.allowed_hosts,
                         node_bridge=LoopBridge(trio.lowlevel.current_trio_token()),
                         count=lambda metric, labels: metrics.count("control", metric, 1,
                                                                    dict(labels)))
    server = ControlPlaneThread(plane)
    port = await trio.to_thread.run_sync(server.start)
    note = "" if control.token is not None else " (POST /control disabled: no token configured)"
    CONSOLE.say(f"control plane: http://{control.listen_host}:{port} "
                f"(/metrics /healthz /readyz /control /am-webhook){note}")
    return server, port


async def _run_until_stop(config: NodeConfig, node: Node, duration: float | None,
                          started: float) -> str:
    """The stop signal's name, or "duration"; a status line every `status_interval_s`."""
    interval = config.node.status_interval_s
    deadline = math.inf if duration is None else trio.current_time() + duration
    next_status = trio.current_time() + interval
    notices = MarketNotices()
    frozen = False
    while True:
        frozen = frozen or freeze_when_ready(node)
        with trio.move_on_at(min(deadline, next_status, trio.current_time() + _TREE_CHECK_S)):
            name = await STOP.wait()
            CONSOLE.say(f"\n{name}: stopping (send it again to force)")
            return name
        if node.failsafe.failure is not None:
            CONSOLE.say(f"stopping: {node.failsafe.failure}")
            return f"tree gave up: {node.failsafe.failure}"
        for notice in notices.check(node):
            CONSOLE.say(notice)
        if trio.current_time() >= deadline:
            return "duration"
        if trio.current_time() >= next_status:
            CONSOLE.say(status_line(node, time.monotonic() - started))
            next_status += interval


def freeze_when_ready(node: Node) -> bool:
    """Start-up is over once the node is first ready for trading: what it built (venue
    clients, books, actors) is frozen out of the full collections (`LiveHost.freeze_heap`).
    True once done."""
    if not node.readiness().ready_trading:
        return False
    node.host.freeze_heap()
    return True
