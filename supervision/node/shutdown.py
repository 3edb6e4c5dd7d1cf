"""The graceful stop of a running node, in the order that keeps nothing resting unmanaged.

On SIGINT, SIGTERM or SIGHUP or at the end of `--duration`:
  1. stop new orders: the strategies subtree is stopped first (a stopping market maker cancels
     its own quotes), so nothing can propose a new order any more;
  2. cancel all open orders: a CancelAll to the action budget (it fences new orders still in its
     mailbox and tells the connection to cancel everything resting);
  3. wait, up to `shutdown.cancel_timeout_s`, until the connection has no open order left;
  4. stop the rest of the tree in reverse start order (the supervisors do that);
  5. journal a NodeStopped record and flush the journal (fsync), then stop it.
A second signal forces the exit at once: the line "forced exit", exit code 130
(`supervision.node.process`, which also covers the moments before the loop runs). Shutdown does
not change the trading state: a halt is the operator's word and persists; a clean stop is not a
halt.

Each step is bounded: the cancels by `shutdown.cancel_timeout_s` (what is still open is named
on the console and in the summary), the journal flush and the observation statistics by a
five-second ask, so a stuck actor delays the stop but never prevents it.
"""

from __future__ import annotations

import trio

from protocols.commands import CancelAll
from protocols.journal import Flush, NodeStopped
from supervision.config.load import NodeConfig
from supervision.node.assembly import Node
from supervision.node.observation import ObservationFiles
from supervision.node.process import CONSOLE
from supervision.node.status import open_orders, orders_at_stop

__all__ = ["shutdown_node"]


async def shutdown_node(config: NodeConfig, node: Node, reason: str) -> str:
    """The stop of the module docstring; returns what it did, for the summary."""
    host = node.host
    strategies = host.existing_cell("node/strategies")
    if strategies is not None:
        await trio.to_thread.run_sync(host.stop, strategies.ref)
    node.budget.tell(CancelAll(None, f"shutdown: {reason}"))
    deadline = trio.current_time() + config.shutdown.cancel_timeout_s
    left = open_orders(node)
    while left and trio.current_time() < deadline:
        await trio.sleep(0.02)
        left = open_orders(node)
    if left:
        CONSOLE.say(f"shutdown: {len(left)} order(s) still open after "
                    f"{config.shutdown.cancel_timeout_s}s: {', '.join(left[:5])}")
    orders = orders_at_stop(node.mode, reconciled=node.view.reconciled, left=left)
    journal = "journal not flushed (no writer)"
    if node.root is not None:
        await trio.to_thread.run_sync(host.stop, node.root)
    if node.monitor is not None:
        await trio.to_thread.run_sync(host.stop, node.monitor)
    statistics = await _stop_observation(node)
    writer = node.journal_writer()
    if node.journal is not None and writer is not None:
        node.journal.tell(NodeStopped(reason))
        try:
            flushed = await trio.to_thread.run_sync(
                lambda: host.ask(writer, Flush(), timeout=5.0))
            journal = (f"journal flushed ({config.journal.path} to seq {flushed.seq})"
                       if getattr(flushed, "healthy", False) else
                       f"journal NOT fully flushed: {getattr(flushed, 'backlog', '?')} "
                       "record(s) still in memory")
        except Exception as exc:  # the flush failed: say so, the node still stops
            CONSOLE.say(f"shutdown: journal flush failed: {exc}")
            journal = f"journal flush failed ({exc})"
    if node.journal_root is not None:
        await trio.to_thread.run_sync(host.stop, node.journal_root)
    return f"{orders}; {journal}{statistics}"


async def _stop_observation(node: Node) -> str:
    """Stop the statistics' writer once it has written what the stopped observer sent last;
    what to add to the summary's stop line."""
    writer, host = node.observation, node.host
    if writer is None:
        return ""
    try:
        files = await trio.to_thread.run_sync(
            lambda: host.ask(writer, ObservationFiles(), timeout=5.0))
    except Exception as exc:  # the statistics are not worth a stuck stop
        files, note = (), f"; observation statistics not confirmed ({exc})"
    else:
        note = ("; observation statistics in " + ", ".join(str(f) for f in files)
                if files else "; no observation statistics (no book seen)")
    await trio.to_thread.run_sync(host.stop, writer)
    return note
