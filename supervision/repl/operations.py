"""What the console changes, and the trading views: tell, ask, restart, stop, fail; halt,
reduce_only, resume, flatten, cancel_all; positions, orders, pnl, budget.

Trading commands take the control plane's own path, `Node.apply` run on the node's event loop
(through its bridge, as the HTTP plane does), with source `repl`: the same state change, the
same `troupe_control_actions_total{action,source}` count and the same `ControlAction` journal
record as `POST /control`. Under the live profile every change asks
for confirmation first, and fault injection is refused outright.
"""

from __future__ import annotations

import logging
import time
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import trio

from protocols.control import (
    ControlActionName,
    ControlCommand,
    ControlRequestError,
    ControlSource,
)
from protocols.runtime import AskTimeout
from supervision.node.assembly import FaultInjectionRefused
from supervision.repl.helpers import ASK_TIMEOUT_S, Actors, short
from supervision.repl.rendering import readable, scalar, table
from supervision.repl.session import ReplError
from supervision.runtime.faults import Fault
from supervision.runtime.supervisor import RestartChild, TerminateChild

if TYPE_CHECKING:
    from supervision.node.assembly import Node
    from supervision.repl.session import Session
    from supervision.runtime.live import LiveCell

log = logging.getLogger("troupe.repl")
DEFAULT_REASON = "operator at the repl"
CONTROL_TIMEOUT_S = 5.0


class Operations:
    def __init__(self, node: Node, session: Session, actors: Actors) -> None:
        self.node, self.session, self.actors = node, session, actors

    def _confirm(self, what: str) -> None:
        question = f"{what} on the live node {self.node.config.node.name!r}?"
        if not self.session.confirm(question):
            raise ReplError("cancelled: nothing was changed")

    # -- messages ---------------------------------------------------------------------------------
    def tell(self, name: str, message: Any) -> None:
        """Send `message` to an actor (the message classes are in the namespace)."""
        cell = self.actors.resolve(name)
        self._confirm(f"tell {short(cell.name)} {message!r}")
        refused = cell.ref.tell(message)
        if refused is not None:
            raise ReplError(f"{short(cell.name)} refused it: {refused.reason}")
        print(f"sent to {short(cell.name)}")

    def ask(self, name: str, message: Any, timeout: float = ASK_TIMEOUT_S) -> Any:
        """Send `message`, wait up to `timeout` s, and return the actor's answer."""
        cell = self.actors.resolve(name)
        self._confirm(f"ask {short(cell.name)} {message!r}")
        try:
            answer = self.node.host.ask(cell.ref, message, timeout=timeout)
        except AskTimeout as exc:
            raise ReplError(str(exc)) from None
        except Exception as exc:  # the actor failed on it: one line, and it was supervised
            raise ReplError(f"{short(cell.name)} failed on it: {type(exc).__name__}: {exc}") \
                from None
        if answer is None:
            print(f"{short(cell.name)} answered None")
        return answer

    # -- supervision ------------------------------------------------------------------------------
    def restart(self, name: str, timeout: float = 5.0) -> None:
        """Stop the actor and start a fresh incarnation, through its supervisor.

        An operator's restart spends none of the supervisor's restart intensity."""
        cell = self.actors.resolve(name)
        self._confirm(f"restart {short(cell.name)}")
        starts = cell.starts
        self._through_parent(cell, RestartChild)
        self._wait(cell, lambda: cell.starts > starts and cell.state.value == "running", timeout)
        print(f"{short(cell.name)} restarted ({cell.restarts} restart(s) in all)")

    def stop(self, name: str, timeout: float = 5.0) -> None:
        """Stop the actor and leave it stopped (restart(name) starts it again)."""
        cell = self.actors.resolve(name)
        self._confirm(f"stop {short(cell.name)}")
        self._through_parent(cell, TerminateChild)
        self._wait(cell, lambda: cell.state.value != "running", timeout)
        print(f"{short(cell.name)} stopped; restart({short(cell.name)!r}) starts it again")

    def _through_parent(self, cell: LiveCell, request: type) -> None:
        parent = cell.parent
        if parent is None:
            raise ReplError(f"{short(cell.name)} has no supervisor; stop the node instead")
        child_id = cell.name.rsplit("/", 1)[-1]
        try:
            accepted = self.node.host.ask(parent.ref, request(child_id), timeout=ASK_TIMEOUT_S)
        except AskTimeout as exc:
            raise ReplError(str(exc)) from None
        if not accepted:
            raise ReplError(f"{short(parent.name)} refused: it is stopping or does not "
                            f"supervise {child_id}")

    @staticmethod
    def _wait(cell: LiveCell, done: Any, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() > deadline:
                raise ReplError(f"{short(cell.name)} is {cell.state.value} after {timeout:g}s")
            time.sleep(0.01)

    def fail(self, name: str, times: int | None = 1, message_type: str | None = None) -> None:
        """Make an actor fail on demand (fault injection). Refused under the live profile.

        Its next `times` messages (None: every one; 0: disarm), only those of the class named
        `message_type` if given, raise instead of being handled, and its supervisor does what
        it does with any failure (docs/failures.md). Armed through the node's own hook on the
        node's loop; journaled (FaultInjected) and counted, with source repl."""
        if self.node.config.profile.value == "live":
            raise ReplError("fault injection is refused under the live profile")
        cell = self.actors.resolve(name)
        if cell.name != "node" and not cell.name.startswith("node/"):
            raise ReplError(f"fault injection reaches the node's tree; {short(cell.name)} is "
                            "outside it")
        try:
            fault = None if times == 0 else Fault(times, message_type, "injected at the repl")
        except (TypeError, ValueError) as exc:
            raise ReplError(str(exc)) from None
        try:
            described = self._on_node_loop(self.node.inject_fault, cell.name, fault,
                                           ControlSource.REPL.value)
        except FaultInjectionRefused as exc:
            raise ReplError(str(exc)) from None
        what = f"will fail {described}" if described else "disarmed"
        print(f"fail: {short(cell.name)} {what}; journaled, source repl")

    # -- trading ----------------------------------------------------------------------------------
    def _control(self, action: ControlActionName, reason: str) -> None:
        try:
            command = ControlCommand(action, reason, ControlSource.REPL)
        except (ValueError, TypeError, ControlRequestError) as exc:
            raise ReplError(str(exc)) from None
        self._confirm(f"{action.value} (reason: {reason})")
        outcome = self._on_node_loop(self.node.apply, command)
        log.warning("%s", command.log_line())
        if not outcome.ok:
            raise ReplError(f"{action.value} refused: {outcome.detail}")
        print(f"{action.value}: done (state {outcome.state}); journaled, source repl")

    def _on_node_loop(self, fn: Any, *args: Any) -> Any:
        """`fn(*args)` where the control plane runs it: on the node's event loop."""
        bridge = self.node.host.dispatcher.bridge
        if bridge is None:
            raise ReplError("the node's event loop is not running")
        try:
            return bridge.call_and_wait(fn, *args, timeout=CONTROL_TIMEOUT_S)
        except TimeoutError:
            raise ReplError(f"the node's event loop did not take the command within "
                            f"{CONTROL_TIMEOUT_S:g} s; it may still apply: see "
                            "metrics('trading_state')") from None
        except trio.RunFinishedError:
            raise ReplError("the node is stopping") from None

    def halt(self, reason: str) -> None:
        """HALTED: cancels only (an explicit flatten may still exit)."""
        self._control(ControlActionName.HALT, reason)

    def reduce_only(self, reason: str) -> None:
        """REDUCING: only reduce-only orders and cancels."""
        self._control(ControlActionName.REDUCE_ONLY, reason)

    def resume(self, reason: str = DEFAULT_REASON) -> None:
        """ACTIVE again."""
        self._control(ControlActionName.RESUME, reason)

    def flatten(self, reason: str = DEFAULT_REASON) -> None:
        """Close every position with reduce-only orders."""
        self._control(ControlActionName.FLATTEN, reason)

    def cancel_all(self, reason: str = DEFAULT_REASON) -> None:
        """Cancel every open order."""
        self._control(ControlActionName.CANCEL_ALL, reason)

    # -- trading views ----------------------------------------------------------------------------
    def positions(self) -> None:
        """Positions as the portfolio last published them, in units and prices."""
        snap = self.node.view.portfolio
        if snap is None:
            print("no portfolio published yet")
            return
        rows = []
        for p in snap.positions:
            spec = self.node.specs.get(p.instrument)
            size = p.qty * spec.lot_step if spec is not None else p.qty
            price = (p.avg_price * spec.tick_size).quantize(spec.tick_size / 100) \
                if spec is not None else p.avg_price
            rows.append([p.instrument, _money(Decimal(size)), _money(Decimal(price)),
                         _money(p.realized_pnl), _money(p.unrealized_pnl), _money(p.fees)])
        print(table(rows, ("instrument", "size", "avg_price", "realized", "unrealized", "fees"),
                    right=range(1, 6)) if rows else "flat: no position")

    def pnl(self) -> None:
        """Realized, unrealized and today's PnL, equity and drawdown."""
        snap = self.node.view.portfolio
        if snap is None:
            print("no portfolio published yet")
            return
        rows: list[tuple[str, Decimal]] = [
            ("realized", snap.realized_pnl), ("unrealized", snap.unrealized_pnl),
            ("total", snap.realized_pnl + snap.unrealized_pnl),
            ("today realized", snap.daily_realized_pnl), ("equity", snap.equity),
            ("peak equity", snap.peak_equity), ("drawdown", snap.peak_equity - snap.equity),
            ("exposure", snap.total_exposure)]
        print(table([[k, _money(v)] for k, v in rows], ("pnl", "quote"), right=[1]))

    def orders(self) -> None:
        """Open orders as the venue connection tracks them (asked through its mailbox)."""
        cell = self.actors.resolve("venue/connection")

        def look(venue: Any) -> list[list[Any]]:
            session = venue.session
            rows = []
            for cid in session.open_orders():
                order, owner = session.order(cid), session.owner_of(cid)
                if order is None:
                    continue
                intent = order.intent
                rows.append([cid, getattr(owner, "strategy", owner), intent.instrument,
                             intent.side, intent.qty, intent.price, order.filled_qty,
                             order.state, intent.reduce_only])
            return rows

        rows = self.actors.ask_state(cell, look)
        shown = [self._order_row(row) for row in rows]
        print(table(shown, ("client_order_id", "strategy", "instrument", "side", "size",
                            "price", "filled", "state", "reduce_only"), right=(4, 5, 6))
              if shown else "no open order")

    def _order_row(self, row: list[Any]) -> list[Any]:
        spec = self.node.specs.get(row[2])
        if spec is not None:
            row[4] = _money(Decimal(row[4]) * spec.lot_step)
            row[6] = _money(Decimal(row[6]) * spec.lot_step)
            row[5] = "market" if row[5] is None else _money(Decimal(row[5]) * spec.tick_size)
        return [scalar(v) for v in row]

    def budget(self) -> None:
        """The action budget: queued actions by priority, tokens left, back-off."""
        cell = self.actors.resolve("venue/budget")
        stats = self.actors.ask_state(cell, lambda b: b.snapshot())
        if stats is None:
            print("the budget has not started")
            return
        print("\n".join(readable(stats)))


def _money(value: Decimal) -> str:
    return format(value.normalize(), "f") if value == value.to_integral() else format(value, "f")
