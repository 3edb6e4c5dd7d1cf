"""What the console shows: actors, top, tree, state, why, trace, metrics, stacks.

Nothing here changes the node (`operations` does). Counters are read directly; a behaviour's
state only through its mailbox (`introspection.inspect`, with a timeout); a strategy's decisions
from the journal on disk, where the node wrote them.
"""

from __future__ import annotations

import difflib
import re
import sys
import threading
import time
import traceback
from collections import deque
from typing import TYPE_CHECKING, Any

from supervision.repl.records import decisions
from supervision.repl.rendering import age, clip, readable, table, tree_lines
from supervision.repl.session import ReplError
from supervision.runtime.affinity import cpu_list, thread_cpus
from supervision.runtime.introspection import inspect
from supervision.runtime.lifecycle import InspectError
from supervision.runtime.supervisor import Supervisor

if TYPE_CHECKING:
    from supervision.node.assembly import Node
    from supervision.repl.session import Session
    from supervision.runtime.introspection import ActorStatistics
    from supervision.runtime.live import LiveCell

ASK_TIMEOUT_S = 2.0
COLUMNS = ("name", "kind", "host", "state", "policy", "depth", "hw", "drops", "handled",
           "last", "age", "restarts", "p99us")
_NUMERIC = {5, 6, 7, 8, 10, 11, 12}
TRACE_LINES_PER_S = 40


def short(name: str) -> str:
    return name[5:] if name.startswith("node/") else name


class Actors:
    """Finding actors by the names an operator types: `mm1`, `strategies/mm1`, `book:BTCUSDT`,
    or the full `node/venue/book:BTCUSDT`."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.host = node.host

    def names(self) -> list[str]:
        return [s.name for s in self.host.statistics() if s.state != "dead"]

    def kind(self, name: str, behaviour_kind: str) -> str:
        """What an actor is: a strategy by its configured kind (every strategy runs in the same
        shell class), anything else by its behaviour's class."""
        prefix = "node/strategies/"
        if name.startswith(prefix):
            for strategy in self.node.config.strategies:
                if strategy.id == name[len(prefix):]:
                    return str(strategy.kind).rsplit(":", 1)[-1]
        return behaviour_kind

    def completions(self) -> list[str]:
        names = self.names()
        return sorted({*map(short, names), *(n.rsplit("/", 1)[-1] for n in names)})

    def resolve(self, name: Any) -> LiveCell:
        if not isinstance(name, str):
            raise ReplError(f"an actor is named by a string, e.g. state('mm1'), not {name!r}")
        names = self.names()
        for candidate in (name, f"node/{name}"):
            if candidate in names:
                return self.host.existing_cell(candidate)
        matches = [n for n in names if n.endswith(f"/{name}")]
        if len(matches) == 1:
            return self.host.existing_cell(matches[0])
        if matches:
            raise ReplError(f"{name!r} is ambiguous: {', '.join(map(short, matches))}")
        close = difflib.get_close_matches(name, self.completions(), n=3, cutoff=0.6)
        hint = (f"; did you mean {' or '.join(map(repr, close))}?" if close
                else "; actors() lists them")
        raise ReplError(f"no actor named {name!r}{hint}")

    def ask_state(self, cell: LiveCell, look: Any, timeout: float = ASK_TIMEOUT_S) -> Any:
        try:
            return inspect(cell, look, timeout)
        except InspectError as exc:
            raise ReplError(str(exc)) from None
        except Exception as exc:  # AskTimeout
            raise ReplError(str(exc)) from None


class TraceHub:
    """One tracer per traced actor, fanning its messages out to every session that traces it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: dict[str, dict[str, Any]] = {}

    def subscribe(self, cell: LiveCell, key: str, callback: Any) -> None:
        with self._lock:
            subscribers = self._subscribers.setdefault(cell.name, {})
            first = not subscribers
            subscribers[key] = callback
        if first:
            cell.trace(self._fan_out(cell.name))

    def unsubscribe(self, cell: LiveCell, key: str) -> bool:
        with self._lock:
            subscribers = self._subscribers.get(cell.name, {})
            found = subscribers.pop(key, None) is not None
            last = not subscribers
        if last:
            cell.trace(None)
        return found

    def _fan_out(self, name: str) -> Any:
        def deliver(message: Any) -> None:
            for callback in list(self._subscribers.get(name, {}).values()):
                callback(name, message)

        return deliver


class TraceFeed:
    """A session's traced messages: queued by the actors (never blocking them), printed by a
    thread of the session at most TRACE_LINES_PER_S lines a second; the rest are counted."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.queue: deque[tuple[str, int, Any]] = deque(maxlen=1000)
        self.dropped = 0
        self.wake = threading.Event()
        self.thread: threading.Thread | None = None

    def push(self, name: str, message: Any) -> None:
        if len(self.queue) == self.queue.maxlen:
            self.dropped += 1
        self.queue.append((name, time.perf_counter_ns(), message))
        self.wake.set()

    def forget(self, name: str) -> None:
        """Drop what is queued from `name`: after trace(name, False), nothing more of it."""
        kept = [entry for entry in list(self.queue) if entry[0] != name]
        self.queue.clear()
        self.queue.extend(kept)

    def start(self) -> None:
        if self.thread is None:
            self.thread = threading.Thread(target=self._pump, daemon=True,
                                           name=f"troupe:repl-trace:{self.session.name}")
            self.thread.start()

    def _pump(self) -> None:
        session, width = self.session, max(40, self.session.cols - 1)
        while not session.closed.is_set():
            self.wake.wait(1.0)
            self.wake.clear()
            lines: list[str] = []
            budget = max(1, TRACE_LINES_PER_S // 4)
            while self.queue and len(lines) < budget:
                name, _, message = self.queue.popleft()
                lines.append(clip(f"[trace {short(name)}] {message!r}", width))
            skipped, self.dropped = len(self.queue) + self.dropped, 0
            self.queue.clear()
            if skipped:
                lines.append(f"[trace] {skipped} more message(s) not shown")
            if lines:
                session.send("out", s="\n".join(lines) + "\n")
            time.sleep(0.25)


class Inspection:
    """The read-only helpers of one session."""

    def __init__(self, node: Node, session: Session, hub: TraceHub) -> None:
        self.node, self.session, self.hub = node, session, hub
        self.actors_by_name = Actors(node)
        self.feed = TraceFeed(session)
        self.traced: set[str] = set()
        session.on_close(self._untrace_all)

    # -- actors, top, tree ------------------------------------------------------------------------
    def _rows(self, sort: str) -> list[list[Any]]:
        if sort not in COLUMNS:
            raise ReplError(f"cannot sort by {sort!r}; columns: {', '.join(COLUMNS)}")
        p99 = _handling_p99_us(self.node)
        kind = self.actors_by_name.kind
        rows = [_row(s, kind(s.name, s.kind), p99.get(s.name))
                for s in self.node.host.statistics()]
        index = COLUMNS.index(sort)
        numeric = index in _NUMERIC
        rows.sort(key=lambda r: str(r[0]))  # ties stay in name order
        return sorted(rows, key=lambda r: _sort_key(r, index, numeric), reverse=numeric)

    def actors(self, sort: str = "name") -> None:
        """One row per actor: its mailbox, messages, restarts and handling time.

        Columns: name, kind, host (loop/thread), state, mailbox policy, depth, high-water mark,
        drops, messages handled, last message and its age, restarts, p99 of handling time in
        us. actors("depth") sorts by a column (numbers: largest first)."""
        print(table(self._rows(sort), COLUMNS, right=_NUMERIC))

    def top(self, sort: str = "depth", interval: float = 1.0) -> None:
        """actors(), refreshed in place until a key is pressed. Sorted by `sort` (largest
        first), every `interval` seconds."""
        rows_fit = max(5, self.session.rows - 4)
        with self.session.keys():
            while True:
                rows = self._rows(sort)
                clock = time.strftime("%H:%M:%S")
                frame = table(rows[:rows_fit], COLUMNS, right=_NUMERIC)
                more = f"  ({len(rows) - rows_fit} more)" if len(rows) > rows_fit else ""
                self.session.send("out", s=(
                    f"\x1b[H\x1b[2J{clock}  troupe top  sorted by {sort}; press any key to "
                    f"stop{more}\n{frame}\n"))
                if self.session.next_key(interval) is not None:
                    return

    def tree(self) -> None:
        """The supervision tree, with restart intensity used and each child's state.

        Each supervisor shows its strategy and restarts used out of its intensity in its
        period; each child its state, restart type and restarts. Actors outside the tree
        come first."""
        stats = {s.name: s for s in self.node.host.statistics()}
        for root in (s for s in stats.values() if s.parent is None and s.state != "dead"):
            label, children = self._subtree(root, stats, "")
            print("\n".join(tree_lines(label, children)))

    def _subtree(self, s: ActorStatistics, stats: dict[str, ActorStatistics],
                 restart: str) -> tuple[str, list[tuple[str, Any]]]:
        label = f"{short(s.name)}  {self.actors_by_name.kind(s.name, s.kind)}  {s.state}{restart}"
        if s.restarts:
            label += f"  restarts {s.restarts}"
        cell = self.node.host.existing_cell(s.name)
        if cell is None or not isinstance(cell.behaviour, Supervisor):
            return label, []
        now = self.node.host.monotonic_ns

        def look(sup: Supervisor) -> tuple[str, int, float, int, list[tuple[str, str]]]:
            spec, period_ns = sup.spec, int(sup.spec.period_s * 1e9)
            used = sum(1 for t in sup._restarts if now() - t <= period_ns)
            kids = [(c.cell.name, c.spec.restart.value) for c in sup._children]
            return spec.strategy.value, spec.intensity, spec.period_s, used, kids

        try:
            strategy, intensity, period, used, kids = self.actors_by_name.ask_state(cell, look)
        except ReplError as exc:
            return f"{label}  ({exc})", []
        label += f"  [{strategy}, restarts {used}/{intensity} in {period:g}s]"
        children = [self._subtree(stats[name], stats, f"  {kind}") for name, kind in kids
                    if name in stats]
        return label, children

    # -- one actor --------------------------------------------------------------------------------
    def state(self, name: str, timeout: float = ASK_TIMEOUT_S) -> None:
        """The actor's own view of its state, asked through its mailbox (timeout in s)."""
        cell = self.actors_by_name.resolve(name)
        answer = self.actors_by_name.ask_state(cell, lambda b: b.snapshot(), timeout)
        kind = self.actors_by_name.kind(cell.name, type(cell.behaviour).__name__)
        print(f"{short(cell.name)} ({kind}, {cell.state.value}):")
        print("\n".join(readable(answer, 1)))

    def why(self, name: str, n: int = 20) -> None:
        """A strategy's last n decisions, each with its one reason (from the journal)."""
        if type(n) is not int or n < 1:
            raise ReplError(f"n is how many decisions to show, a whole number >= 1, not {n!r}")
        cell = self.actors_by_name.resolve(name)
        strategy = cell.name.rsplit("/", 1)[-1]
        ids = {s.id for s in self.node.config.strategies}
        if strategy not in ids:
            raise ReplError(f"{short(cell.name)} is not a strategy; strategies: "
                            f"{', '.join(sorted(ids))}")
        path = self.node.config.journal.path
        lines = decisions(path, strategy, n, self.node.specs)
        print(f"why {strategy}: last {len(lines)} decision(s), oldest first ({path})")
        print("\n".join(lines) if lines else "  (none journaled yet)")

    def trace(self, name: str, on: bool = True) -> None:
        """Print each message `name` handles, as it handles it. trace(name, False) stops.

        At most a few dozen lines a second are printed; the rest are counted."""
        cell = self.actors_by_name.resolve(name)
        if on:
            self.feed.start()
            self.hub.subscribe(cell, self.session.name, self.feed.push)
            self.traced.add(cell.name)
            print(f"tracing {short(cell.name)}; trace({short(cell.name)!r}, False) stops")
        else:
            self.hub.unsubscribe(cell, self.session.name)
            self.traced.discard(cell.name)
            self.feed.forget(cell.name)
            print(f"stopped tracing {short(cell.name)}")

    def _untrace_all(self) -> None:
        for name in list(self.traced):
            cell = self.node.host.existing_cell(name)
            if cell is not None:
                self.hub.unsubscribe(cell, self.session.name)
        self.traced.clear()

    # -- the process ------------------------------------------------------------------------------
    def metrics(self, pattern: str = "") -> None:
        """The node's Prometheus samples whose line matches the regular expression `pattern`."""
        try:
            wanted = re.compile(pattern)
        except re.error as exc:
            raise ReplError(f"bad pattern {pattern!r}: {exc}") from None
        body, _ = self.node.metrics_text()
        lines = [line for line in body.decode().splitlines()
                 if line and not line.startswith("#") and wanted.search(line)]
        print("\n".join(lines) if lines else f"no sample matches {pattern!r}")

    def stacks(self) -> None:
        """Every thread's current stack, innermost call last, and the CPUs it may run on.

        `runtime.loop_cpus` pins the loop's thread and keeps the others off its CPUs."""
        threads = {t.ident: t for t in threading.enumerate()}
        for ident, frame in sys._current_frames().items():
            thread = threads.get(ident)
            cpus = None if thread is None or thread.native_id is None \
                else thread_cpus(thread.native_id)
            where = "" if cpus is None else f", CPU {cpu_list(cpus)}"
            print(f"--- thread {'?' if thread is None else thread.name} ({ident}{where})")
            print("".join(traceback.format_stack(frame)).rstrip())


def _row(s: ActorStatistics, kind: str, p99_us: float | None) -> list[Any]:
    m = s.mailbox
    return [short(s.name), kind, s.executor, s.state, m.policy, m.depth, m.high_water,
            m.dropped + m.rejected, m.handled, s.last_message or "-",
            age(s.last_message_age_s), s.restarts, "-" if p99_us is None else f"{p99_us:.0f}"]


def _sort_key(row: list[Any], index: int, numeric: bool) -> Any:
    value = row[index]
    if not numeric:
        return str(value)
    if index == COLUMNS.index("age"):
        return 0 if value == "-" else _seconds(value)
    return -1.0 if value == "-" else float(value)


def _seconds(text: str) -> float:
    for unit, scale in (("ms", 1e-3), ("s", 1.0), ("m", 60.0)):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * scale
    return 0.0


def _handling_p99_us(node: Node) -> dict[str, float]:
    handling = getattr(node.host.metrics, "handling", None)
    if handling is None:
        return {}
    return {actor: quantiles[1] * 1e6 for actor, quantiles, _, _ in handling.summary()}
