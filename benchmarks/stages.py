"""Where tick-to-trade goes, hop by hop: a trace of the live node's order path per market frame.

Every message on the path carries the receive time of the frame it came from (its "origin"):
`WsFrame.recv_ns` into the connection, `FeedEvent.recv_ns` into the book, `BookTop.recv_ns`
into the strategy, `Proposal.trigger_recv_ns` into the gate and the budget, and the owners'
`trigger_recv_ns` of `SendActions` back into the connection. `StageTrace` uses the cells'
own tracing hooks (`Cell.trace`, called before each `receive`, and the host's `on_handled`,
called after it on the same thread) to note, for every message, which stage it is, its origin,
when its handling started and how long it took. Joined by origin and instrument (the frames
of one socket read share their origin, the read's time, and are told one per instrument in
the benchmark's bursts), the records of one frame form a chain:

    receipt -> decode (connection: parse, route) -> book (apply, publish the top)
            -> strategy (decide) -> gate (risk) -> budget (rate limit) -> send (to the transport)

and each hop splits into its wait (since the previous stage finished: queueing behind other
messages and dispatch) and its work (the `receive` itself), and the chain's work summed is
its CPU floor. Only chains that end in a new order or a replace are the tick-to-trade samples
(a market maker's requotes are mostly replaces: the trace joined only its new orders, a few
percent of the samples, until 2026-12-06); a quote's two orders share their frame, and the
chain is the first's. Decode and book are also reported over every frame.
Chains a timer or a report started (no frame: they start at the strategy's handling) and
chains whose order the budget held for the rate limit (its send's wait is that hold) are
reported as groups of their own.

What a wait is made of: every message any actor handles on the loop thread is noted too
(`LoopWork`), so each hop's wait splits into the loop's handling of *other* messages in it (by
actor: other instruments' chains, the portfolio's marks, the gate's book tops ahead of a
proposal: the dispatcher's order) and the rest, when no actor ran: the loop's own tasks
(the websocket reader, trio), another thread holding the GIL, the kernel not running the loop
thread (see the run-queue wait), a collection.

Tracing costs two Python calls per message on the traced actors and one per message on the
others; the benchmark reports the node's own tick-to-trade histogram with it on, and can run
with it off (`--no-stages`).
"""

from __future__ import annotations

import bisect
import gc
import os
import threading
import time
from array import array
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from hdrh.histogram import HdrHistogram

from protocols.decisions import Proposal
from protocols.feed import FeedEvent
from protocols.market import BookTop
from protocols.orders import OrderIntent, ReplaceIntent
from protocols.venue_state import SendActions
from supervision.venues.binance.io import WsFrame

__all__ = ["STAGES", "GcPauses", "LoopWork", "MachineUse", "StageTrace", "child_pids",
           "loop_switches", "process_cpu_s", "process_name", "thread_cpu_s", "thread_waits_s"]

STAGES = ("decode", "book", "strategy", "gate", "budget", "send")


def _stage(actor: str, message: Any) -> tuple[str, int, str] | None:
    """(stage, origin ns, instrument) of a message on the order path, or None. A frame's
    instrument is its combined stream's symbol (`{"stream":"btcusdt@depth@100ms",...`),
    "" where it has none."""
    kind = type(message)
    if kind is WsFrame:
        return ("decode", message.recv_ns, _frame_symbol(message.text)) \
            if message.stream == "market" else None
    if kind is FeedEvent:
        return "book", message.recv_ns, message.instrument
    if kind is BookTop:
        return ("strategy", message.recv_ns, message.instrument) \
            if "/strategies/" in actor else None
    if kind is Proposal:
        instrument = message.intent.instrument
        if actor.endswith("/risk/gate"):
            return "gate", message.trigger_recv_ns, instrument
        return ("budget", message.trigger_recv_ns, instrument) \
            if actor.endswith("/venue/budget") else None
    if kind is SendActions:
        owners = [o for o in message.owners if o is not None]
        # new orders and replaces: the orders the node's tick-to-trade histogram counts
        orders = [i for i in message.batch.intents if type(i) in _ORDERS]
        if owners and orders:
            held = owners[0].held_ns(message.sent_ns) > 0
            return ("held" if held else "send"), owners[0].trigger_recv_ns, \
                orders[0].instrument
    return None


def _frame_symbol(text: str) -> str:
    start = text.find('"stream":"')
    if start < 0:
        return ""
    start += len('"stream":"')
    end = text.find("@", start)
    return text[start:end] if end > start else ""


def _plain_symbol(name: str) -> str:
    """An instrument name as a stream names its symbol: `BTC-USDT`, `btcusdt` -> `BTCUSDT`."""
    return "".join(c for c in name if c.isalnum()).upper()


_ORDERS = (OrderIntent, ReplaceIntent)


class StageTrace:
    """Install on a live host's cells with `attach`, read with `report` after `stop`."""

    def __init__(self, clock: Callable[[], int]) -> None:
        self._clock = clock
        self._current: dict[str, tuple[str, int, int, int]] = {}
        # stage (index in STAGES), origin, instrument (its index), start, elapsed: flat, in
        # arrays the garbage collector does not scan (a list of tuples grew its gen2 pauses)
        self.records = array("q")
        # each name seen (`BTC-USDT`, `btcusdt`) -> the index of its plain symbol (`BTCUSDT`)
        self._instruments: dict[str, int] = {}
        self._symbols: dict[str, int] = {}
        self.recording = False
        self.held: set[int] = set()  # origins whose order the budget held for the rate limit
        self.loop_work = LoopWork()
        self._loop_thread: int | None = None
        self._chained: Callable[[str, int], None] | None = None

    def attach(self, host: Any, names: Iterable[str]) -> None:
        """Call on the loop thread (from a trio task of the node's run). The cells `names`
        are the order path's stages; every cell's messages are noted by kind."""
        self._loop_thread = threading.get_ident()
        self._chained = host.on_handled
        host.on_handled = self._handled
        staged = set(names)
        for cell in host.statistics():
            host.cell(cell.name).trace(self._tracer(cell.name, cell.name in staged))

    def _tracer(self, name: str, staged: bool) -> Callable[[Any], None]:
        current, clock, kinds = self._current, self._clock, self.loop_work.message_kinds
        instruments = self._instruments

        def seen(message: Any) -> None:
            kinds[name] = type(message).__name__
            if staged:
                stage = _stage(name, message)
                if stage is not None:
                    key = instruments.get(stage[2])
                    if key is None:
                        key = instruments[stage[2]] = self._symbol_index(stage[2])
                    current[name] = (stage[0], stage[1], key, clock())
        return seen

    def _symbol_index(self, name: str) -> int:
        symbols = self._symbols
        return symbols.setdefault(_plain_symbol(name), len(symbols))

    def _handled(self, actor: str, elapsed_ns: int) -> None:
        if self._chained is not None:
            self._chained(actor, elapsed_ns)
        if self.recording and threading.get_ident() == self._loop_thread:
            self.loop_work.note(actor, self._clock(), elapsed_ns)
        noted = self._current.pop(actor, None)
        if noted is not None and self.recording:
            stage = noted[0]
            if stage == "held":  # a send like any other, in a chain of its own group
                stage = "send"
                self.held.add(noted[1])
            self.records.extend((STAGES.index(stage), noted[1], noted[2], noted[3],
                                 elapsed_ns))

    def report(self, pauses: list[tuple[int, int]] | None = None) -> dict[str, Any]:
        """Per hop of the chains that ended in a new order: wait and work, p50/p99/p99.9 us;
        the same for decode and book over every frame; the chains' end-to-end figures. With
        the collections' `pauses` ((start, end) on this trace's clock, in order), the frames'
        chains are also split by whether one paused them."""
        chains: dict[tuple[int, int], dict[str, tuple[int, int]]] = {}
        every: dict[str, dict[str, HdrHistogram]] = {s: _pair() for s in ("decode", "book")}
        records = self.records
        for at in range(0, len(records), 5):
            index, origin, instrument, start, elapsed = records[at:at + 5]
            stage = STAGES[index]
            if stage in every:
                every[stage]["wait"].record_value(_us(start - origin))
                every[stage]["work"].record_value(_us(elapsed))
            chain = chains.setdefault((origin, instrument), {})
            if stage not in chain:
                chain[stage] = (start, elapsed)
        self.loop_work.seal()
        groups = {"from_frames": _Hops(self.loop_work, pauses),
                  "from_timers_and_reports": _Hops(),
                  "held_by_the_rate_limit": _Hops()}
        decode_starts = sorted(chain["decode"][0] for chain in chains.values()
                               if "decode" in chain)
        ahead = _FramesAhead(decode_starts)
        for (origin, _instrument), chain in chains.items():
            if "send" not in chain:
                continue
            if origin in self.held:
                group = "held_by_the_rate_limit"
            else:
                group = "from_frames" if "decode" in chain else "from_timers_and_reports"
                if group == "from_frames":
                    ahead.add(origin, chain)
            groups[group].add(origin, chain)
        return {"order_chains": {name: hops.report() for name, hops in groups.items()},
                "frames_ahead": ahead.report(),
                "every_frame_us": {s: {k: _quantiles(h) for k, h in pair.items()}
                                   for s, pair in every.items()},
                "frames": int(every["decode"]["work"].get_total_count())}


class _FramesAhead:
    """For each order a frame caused: how many other frames the connection began to decode
    between that frame's receipt and its own decode (the frames of its burst handled first),
    and the orders' end-to-end time by that count. Frames taken from the websocket together
    are stamped together, so a burst's k-th frame waits for the k-1 chains before it."""

    BUCKETS = ((0, 0), (1, 2), (3, 5), (6, 10), (11, 20), (21, 1 << 30))

    def __init__(self, decode_starts: list[int]) -> None:
        self._starts = decode_starts
        self._by_bucket = {bucket: _histogram() for bucket in self.BUCKETS}
        self._counts = _histogram()

    def add(self, origin: int, chain: dict[str, tuple[int, int]]) -> None:
        start = chain["decode"][0]
        ahead = (bisect.bisect_left(self._starts, start)
                 - bisect.bisect_left(self._starts, origin))
        end = chain["send"][0] + chain["send"][1]
        self._counts.record_value(ahead + 1)
        for bucket in self.BUCKETS:
            if bucket[0] <= ahead <= bucket[1]:
                self._by_bucket[bucket].record_value(_us(end - origin))
                break

    def report(self) -> dict[str, Any]:
        counts = self._counts
        return {"frames_ahead_p50": max(0, counts.get_value_at_percentile(50) - 1)
                if counts.get_total_count() else None,
                "frames_ahead_p99": max(0, counts.get_value_at_percentile(99) - 1)
                if counts.get_total_count() else None,
                "by_frames_ahead": {
                    (f"{low}" if low == high else f"{low}+" if high >= 1 << 30
                     else f"{low}-{high}"): {"orders": int(h.get_total_count()),
                                            **_quantiles(h)}
                    for (low, high), h in self._by_bucket.items() if h.get_total_count()}}


class _Hops:
    """Wait and work per stage over chains, and their end-to-end time (origin to the send's
    end). A chain without a frame (a timer's or a report's decision) starts at its trigger.
    With `loop_work`, each stage's waits are also split by what the loop handled in them."""

    def __init__(self, loop_work: LoopWork | None = None,
                 pauses: list[tuple[int, int]] | None = None) -> None:
        self.hops = {s: _pair() for s in STAGES}
        self.total = _histogram()
        self.work = _histogram()  # the chain's own handling, all its stages: its CPU floor
        # the collections' (start, end), sorted; orders whose chain one paused, and the rest
        self.pauses = pauses
        self._pause_starts = [start for start, _ in pauses or ()]
        self.by_pause = {"paused": _histogram(), "not_paused": _histogram()}
        self.others = _histogram()  # messages of other chains the loop handled meanwhile
        self.loop_work = loop_work
        self.waited = dict.fromkeys(STAGES, 0)
        self.within: dict[str, Counter[str]] = {s: Counter() for s in STAGES}

    def add(self, origin: int, chain: dict[str, tuple[int, int]]) -> None:
        previous_end, work = origin, 0
        for stage in STAGES:
            if stage in chain:
                start, elapsed = chain[stage]
                work += elapsed
                self.hops[stage]["wait"].record_value(_us(start - previous_end))
                self.hops[stage]["work"].record_value(_us(elapsed))
                if self.loop_work is not None and start > previous_end:
                    self.waited[stage] += start - previous_end
                    self.within[stage].update(self.loop_work.within(previous_end, start))
                previous_end = start + elapsed
        self.total.record_value(_us(previous_end - origin))
        self.work.record_value(_us(work))
        if self.pauses is not None:
            paused = self._paused(origin, previous_end)
            self.by_pause["paused" if paused else "not_paused"].record_value(
                _us(previous_end - origin))
        if self.loop_work is not None:
            handled = self.loop_work.started_within(origin, previous_end)
            self.others.record_value(1 + max(0, handled - len(chain)))

    def report(self) -> dict[str, Any]:
        out = {"orders": int(self.total.get_total_count()),
               "end_to_end_us": _quantiles(self.total),
               "chain_work_us": _quantiles(self.work),
               "hops_us": {s: {k: _quantiles(h) for k, h in pair.items()}
                           for s, pair in self.hops.items()}}
        if self.loop_work is not None and self.others.get_total_count():
            # 1 + the count, so that 0 can be recorded: take the 1 back
            out["other_messages_in_chain"] = {
                k: None if v is None else v - 1 for k, v in _quantiles(self.others).items()}
        if self.loop_work is not None:
            out["waits"] = {s: _composition(self.waited[s], self.within[s]) for s in STAGES
                            if self.waited[s]}
        if self.pauses is not None:
            out["by_collection"] = {k: {"orders": int(h.get_total_count()),
                                        "end_to_end_us": _quantiles(h)}
                                    for k, h in self.by_pause.items()}
        return out

    def _paused(self, begin: int, end: int) -> bool:
        """Whether a collection overlapped [begin, end)."""
        at = bisect.bisect_left(self._pause_starts, end)
        return at > 0 and self.pauses is not None and self.pauses[at - 1][1] > begin


def _composition(waited: int, within: Counter[str]) -> dict[str, Any]:
    """A stage's waits in all: how much the loop spent handling other messages in them (by
    actor kind, in % of the waits), and the rest."""
    handled = sum(within.values())
    return {"total_ms": round(waited / 1e6, 2),
            "other_messages_pct": round(100 * handled / waited, 1),
            "by_actor_pct": {k: round(100 * v / waited, 1) for k, v in within.most_common(6)},
            "no_actor_ran_pct": round(100 * (waited - handled) / waited, 1)}


class LoopWork:
    """Every message an actor on the loop thread handled while recording: which kind of actor
    and message (`book.FeedEvent`, `gate.BookTop`, `portfolio._PublishDue` ...), when it
    started and ended, in arrays."""

    def __init__(self) -> None:
        self.kinds: list[str] = []  # "actor kind.message type", e.g. "portfolio.BookTop"
        self.message_kinds: dict[str, str] = {}  # actor -> the type of its current message
        self._index: dict[tuple[str, str], int] = {}
        self.spans = array("q")  # kind index, start, end
        self._starts: list[int] = []
        self._order: list[int] = []
        self._longest = 0

    def note(self, actor: str, end_ns: int, elapsed_ns: int) -> None:
        key = (actor, self.message_kinds.get(actor, "?"))
        index = self._index.get(key)
        if index is None:
            parts = actor.split("/")
            kind = "strategy" if parts[-2:-1] == ["strategies"] else parts[-1].split(":")[0]
            kind = f"{kind}.{key[1]}"
            if kind not in self.kinds:
                self.kinds.append(kind)
            index = self._index[key] = self.kinds.index(kind)
        self.spans.extend((index, end_ns - elapsed_ns, end_ns))

    def seal(self) -> None:
        """Sort the spans by start (once, before `within`)."""
        spans = self.spans
        self._order = sorted(range(0, len(spans), 3), key=lambda at: spans[at + 1])
        self._starts = [spans[at + 1] for at in self._order]
        self._longest = max((spans[at + 2] - spans[at + 1] for at in self._order), default=0)

    def started_within(self, begin: int, end: int) -> int:
        """How many messages the loop began to handle inside [begin, end)."""
        return bisect.bisect_left(self._starts, end) - bisect.bisect_left(self._starts, begin)

    def within(self, begin: int, end: int) -> Counter[str]:
        """ns of handling inside [begin, end), by actor kind."""
        spans, out = self.spans, Counter[str]()
        at = bisect.bisect_left(self._starts, begin - self._longest)
        while at < len(self._order) and self._starts[at] < end:
            row = self._order[at]
            overlap = min(spans[row + 2], end) - max(spans[row + 1], begin)
            if overlap > 0:
                out[self.kinds[spans[row]]] += overlap
            at += 1
        return out


class GcPauses:
    """The garbage collector's pauses while installed (`gc.callbacks`), by generation: a
    collection stops the whole loop, so each pause lands on whatever frames wait meanwhile."""

    def __init__(self) -> None:
        self.pauses: dict[int, list[int]] = {0: [], 1: [], 2: []}
        self.spans: list[tuple[int, int]] = []  # (start, end) on the trace's clock, in order
        self._started = 0

    def __enter__(self) -> GcPauses:
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.monotonic_ns()
        else:
            end = time.monotonic_ns()
            self.pauses[info["generation"]].append(end - self._started)
            self.spans.append((self._started, end))

    def report(self) -> dict[str, dict[str, float]]:
        return {f"gen{g}": {"count": len(p), "max_ms": round(max(p, default=0) / 1e6, 2),
                            "total_ms": round(sum(p) / 1e6, 1)} for g, p in self.pauses.items()}


class MachineUse:
    """What the node's threads and the venue's process used of the machine from construction
    to `since()`: CPU seconds, the loop thread's wait for a CPU, the load average. The node's
    CPU includes its worker processes (the REST worker: every child of this process but the
    venue), listed with its threads."""

    def __init__(self, venue_pid: int) -> None:
        self.venue = str(venue_pid)
        self.load = os.getloadavg()[0]
        self.cpu, self.waits = self._node_cpu_s(), thread_waits_s()
        self.switches = loop_switches()
        self.venue_cpu = process_cpu_s(self.venue)
        self.wall = time.monotonic()

    def since(self) -> dict[str, Any]:
        wall = time.monotonic() - self.wall
        cpu = {k: v - self.cpu.get(k, 0.0) for k, v in self._node_cpu_s().items()}
        waits = {k: v - self.waits.get(k, 0.0) for k, v in thread_waits_s().items()}
        return {"wall_s": round(wall, 3),
                "load_average": {"before_1m": self.load, "after_1m": os.getloadavg()[0]},
                "cpu_s": {"node": round(sum(cpu.values()), 3),
                          "venue": round(process_cpu_s(self.venue) - self.venue_cpu, 3),
                          "node_threads": {k: round(v, 3) for k, v in sorted(cpu.items()) if v}},
                "loop_waited_for_cpu_s": round(waits.get("MainThread", 0.0), 3),
                "loop_switches": {k: v - self.switches.get(k, 0)
                                  for k, v in loop_switches().items()}}

    def _node_cpu_s(self) -> dict[str, float]:
        cpu = thread_cpu_s()
        for pid in child_pids():
            if pid != self.venue:
                name = f"process {process_name(pid)}"
                cpu[name] = cpu.get(name, 0.0) + process_cpu_s(pid)
        return cpu


def loop_switches() -> dict[str, int]:
    """The loop thread's context switches so far: `voluntary` (it blocked: waiting for the GIL
    another thread holds, or for I/O when idle) and `involuntary` (the kernel took its CPU)."""
    out = {}
    try:
        with open(f"/proc/self/task/{threading.main_thread().native_id}/status") as status:
            for line in status:
                name, _, value = line.partition(":")
                if name.endswith("ctxt_switches"):
                    out[name.split("_", 1)[0]] = int(value)
    except (OSError, ValueError):
        pass
    return out


def child_pids() -> list[str]:
    """The pids of this process's children, alive now."""
    parent, out = str(os.getpid()), []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    if stat.read().rsplit(")", 1)[1].split()[1] == parent:
                        out.append(entry)
            except (OSError, IndexError):
                continue
    return out


def process_name(pid: str) -> str:
    """A short name for a process: the module it runs (`python -m X`) and its arguments that
    are not numbers (a REST worker's lane), else its command."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            words = cmdline.read().decode(errors="replace").split("\0")
    except OSError:
        return pid
    if "-m" in words[:-1]:
        at = words.index("-m") + 1
        named = [w for w in words[at + 1:] if w and not w.isdigit()]  # a REST worker's lane
        return " ".join([words[at].rsplit(".", 1)[-1], *named])
    return os.path.basename(words[0]) if words and words[0] else pid


def thread_waits_s() -> dict[str, float]:
    """Seconds each live thread of this process spent runnable but waiting for a CPU (the
    kernel's run-queue delay, /proc/.../schedstat): time the machine's load took from it."""
    out: dict[str, float] = {}
    for thread in threading.enumerate():
        try:
            with open(f"/proc/self/task/{thread.native_id}/schedstat") as stat:
                waited = int(stat.read().split()[1]) / 1e9
        except (OSError, IndexError, ValueError):
            continue
        out[thread.name] = out.get(thread.name, 0.0) + waited
    return out


def thread_cpu_s() -> dict[str, float]:
    """CPU seconds (user + system) of each live thread of this process, by thread name."""
    out: dict[str, float] = {}
    for thread in threading.enumerate():
        tid = thread.native_id
        if tid is None:
            continue
        out[thread.name] = out.get(thread.name, 0.0) + process_cpu_s(f"self/task/{tid}")
    return out


def process_cpu_s(which: str) -> float:
    """CPU seconds of /proc/<which> (a pid, or self/task/<tid>); 0 if it is gone."""
    try:
        with open(f"/proc/{which}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _histogram() -> HdrHistogram:
    return HdrHistogram(1, 60_000_000, 3)


def _pair() -> dict[str, HdrHistogram]:
    return {"wait": _histogram(), "work": _histogram()}


def _us(ns: int) -> int:
    return max(1, ns // 1000)


def _quantiles(histogram: HdrHistogram) -> dict[str, int | None]:
    if histogram.get_total_count() == 0:
        return {"p50": None, "p99": None, "p99.9": None}
    return {f"p{q:g}": int(histogram.get_value_at_percentile(q)) for q in (50, 99, 99.9)}
