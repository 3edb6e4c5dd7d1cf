"""Backtests: the node's own actors over a recording, flat out in virtual time.

    python -m supervision.main config/backtest.toml
    python -m supervision.main config/backtest.toml --set data.path=FILE

A config with `profile = "backtest"` assembles the same supervised tree as the paper node
(`supervision.node.assembly.Node`: books, market maker, risk gate, action budget, simulated
venue with its latency and queue models) on the `DeterministicHost`, and feeds it the recording
in `data.path` (default: `market.recording`). Virtual time follows the recording's receive
timestamps: the host jumps from one event to the next, so the run goes as fast as the CPU
allows while every latency, timer and rate limit sees the recorded spacing. When the recording
ends, the in-flight reports land, the strategies stop (cancelling their quotes), the budget
cancels what is left, and the run prints a summary.

Nothing is lost on the way: the feed's consumers (the venue connection, the books) have
`FlowControl` mailboxes, so a full one makes its sender (the source, the connection) wait until
it has drained, and a backtest sees every diff (the summary shows book gaps and refused feed
events, both 0, and how often a sender waited).

The same config and data give the same orders, fills and PnL, run after run: the host is
deterministic, the run id (part of fill ids) is fixed, and the summary carries a digest of every
order and report the venue connection journaled (`BacktestResult.digest`), which the tests
compare across runs and between the raw recording and its catalog.

A damaged recording (a gzip stream that ends early, a file that is not gzip) is refused with
one line and exit code 2 before anything trades (`check_recording`, see docs/backtest.md for
why): a backtest is never silently shorter than its data.

The recording's venue and symbol are read from its first lines: a one-instrument config replays
a recording of another symbol or venue (Hyperliquid's "BTC" for "BTCUSDT") with a note, so any
shipped recording works as `data.path`.
"""

from __future__ import annotations

import hashlib
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

import attrs

from actors.behaviour import Behaviour, Context
from actors.market.book_feed import BookFeed
from protocols.commands import CancelAll
from protocols.feed import Stream
from supervision.catalog import CatalogSource, build_catalog, is_catalog, read_info
from supervision.config.node import NodeConfig
from supervision.node.assembly import Node
from supervision.node.live_guard import Mode
from supervision.node.process import STOP
from supervision.node.progress import Progress
from supervision.node.venues import recorded_oracle
from supervision.runtime.deterministic import DeterministicHost
from supervision.runtime.introspection import InMemoryMetrics
from supervision.sources.recording_reader import RecordingError, check_recording
from supervision.sources.replay import ReplaySource, require_asset_ctx, sniff_recording

__all__ = ["BacktestResult", "JournalTape", "TallyMetrics", "backtest_data", "run_backtest"]

SECOND = 1_000_000_000
RUN_ID = "backtest"  # fixed: it is part of the simulated venue's fill ids
_SLICE_S = 1.0  # virtual seconds run between progress checks
_DRAIN_S = 2.0  # virtual time after the last event for in-flight requests and reports
_CANCEL_S = 2.0  # virtual time for the final cancels to be acknowledged


@attrs.frozen(slots=True)
class BacktestResult:
    """What a backtest did. Money is exact (Decimal); `digest` fingerprints every order and
    report in order, so two runs agree on it exactly when they traded identically."""

    data: str  # the file replayed: a recording, or its catalog
    lines: int  # recording lines read
    messages: int  # market-data events delivered
    wall_s: float
    virtual_s: float
    orders_sent: int
    acked: int
    rejected: int
    cancelled: int
    fills: int
    realized_pnl: Decimal
    unrealized_pnl: Decimal
    position: str
    state: str
    book_updates: int
    book_trades: int
    book_gaps: int
    feed_refused: int  # market data refused anywhere on the way (always 0: flow control)
    waits: int  # times an actor waited for a full consumer to drain (flow control)
    records: int  # orders and reports journaled
    digest: str
    journal: tuple[Any, ...] = attrs.field(default=(), repr=False, eq=False)  # for the report

    @property
    def lines_per_s(self) -> float:
        return self.lines / self.wall_s if self.wall_s > 0 else 0.0

    def summary(self) -> str:
        return "\n".join([
            f"backtest of {self.data}: {self.lines:,} lines, {self.messages:,} events in "
            f"{self.wall_s:.2f}s ({self.lines_per_s:,.0f} lines/s), {self.virtual_s:.1f}s of "
            "market time",
            f"  orders sent {self.orders_sent}, acked {self.acked}, rejected {self.rejected}, "
            f"cancelled {self.cancelled}, fills {self.fills}",
            f"  pnl realized {self.realized_pnl:+.4f}, unrealized {self.unrealized_pnl:+.4f}; "
            f"position {self.position}; state {self.state}",
            f"  book updates {self.book_updates}, trades {self.book_trades}, gaps "
            f"{self.book_gaps}; refused feed events {self.feed_refused}; flow-control waits "
            f"{self.waits}",
            f"  digest {self.digest[:16]} ({self.records} orders and reports)",
        ])


class JournalTape(Behaviour):
    """The backtest's journal: keeps every record in memory, in arrival order, for the digest.
    A backtest has nothing to recover, so nothing is written."""

    def __init__(self) -> None:
        self.records: list[Any] = []

    def receive(self, message: Any, ctx: Context) -> Any:
        self.records.append(message)
        return None

    def digest(self) -> str:
        h = hashlib.sha256()
        for record in self.records:
            h.update(repr(record).encode())
            h.update(b"\n")
        return h.hexdigest()


def backtest_data(config: NodeConfig) -> Path:
    """The recording a backtest replays: `data.path`, else `market.recording`."""
    return Path(config.data.path) if config.data.path else config.market.recording_path()


def _sniff(path: Path) -> tuple[str, tuple[str, ...]]:
    if not is_catalog(path):
        return sniff_recording(path)
    info = read_info(path)
    if not info.venue:
        raise ValueError(f"{path}: a catalog with no market data")
    return info.venue, info.symbols


def _fit_instruments(config: NodeConfig, path: Path,
                     notes: Callable[[str], None]) -> tuple[NodeConfig, str]:
    """Map the recording's symbol onto a one-instrument config, and name its book venue."""
    venue, symbols = _sniff(path)
    wanted = {i.venue_symbol for i in config.instruments}
    if symbols and not wanted & set(symbols) and len(config.instruments) == 1 \
            and len(symbols) == 1:
        instrument = config.instruments[0]
        notes(f"data: {path.name} is {venue} {symbols[0]}: replayed as {instrument.symbol}")
        config = attrs.evolve(
            config, instruments=(attrs.evolve(instrument, venue_symbol=symbols[0]),))
    elif not wanted & set(symbols):
        raise ValueError(f"{path}: its symbols ({', '.join(symbols) or 'none'}) match no "
                         f"instrument of the config ({', '.join(sorted(wanted))})")
    return config, venue


def run_backtest(config: NodeConfig, *, data: Path | None = None,
                 progress: Progress | None = None,
                 notes: Callable[[str], None] = lambda _: None) -> BacktestResult:
    """Run one backtest to the end of its data and return what it did."""
    path, streams = _data(config, data if data is not None else backtest_data(config), notes)
    config, venue = _fit_instruments(config, path, notes)
    metrics = TallyMetrics()
    host = DeterministicHost(seed=config.node.seed, metrics=metrics)
    node = Node(config, Mode.PAPER, host, run_id=RUN_ID, book_venue=venue)
    mapping = {i.venue_symbol: i.symbol for i in config.instruments}
    speed = config.market.speed

    units = {i.venue_symbol: (i.tick_size, i.lot_step) for i in config.instruments}

    # The venue connection takes one instant's lines as one message (`FeedBatch`).
    def source(target: Any) -> ReplaySource:
        if is_catalog(path):
            return CatalogSource(path, mapping, target, speed, streams=BookFeed.STREAMS,
                                 virtual_time=True, units=units, batch_instants=True)
        # A Binance recording's diffs and trades come converted, as from the catalog.
        return ReplaySource(path, mapping, target, speed, streams=streams, virtual_time=True,
                            units=units if venue == "binance" else None, batch_instants=True)

    tape: list[JournalTape] = []

    def journal(**_: Any) -> JournalTape:
        tape.append(JournalTape())
        return tape[-1]

    started = time.perf_counter()
    node.start(journal, source)
    host.settle()  # the supervisors start their children
    replay = host.cell("node/source").behaviour
    if not isinstance(replay, ReplaySource):
        failure = host.cell("node/source").last_failure or "it did not start"
        raise ValueError(f"the replay of {path} failed: {failure}")
    while not replay.done:
        host.advance(_SLICE_S)
        if progress is not None:
            progress.update(replay.fraction(),
                            f"{replay.lines_read:,} lines {host.monotonic_ns() / SECOND:,.0f}s")
    _refuse_damage(replay)
    host.advance(_DRAIN_S)
    strategies = host.existing_cell("node/strategies")
    if strategies is not None:
        host.stop(strategies.ref)
    node.budget.tell(CancelAll(None, "backtest: end of data"))
    host.advance(_CANCEL_S)
    wall = time.perf_counter() - started
    if progress is not None:
        progress.done(f"{replay.lines_read:,} lines")
    result = _result(node, metrics, replay, tape[-1] if tape else JournalTape(),
                     path=path, wall=wall)
    if node.root is not None:
        host.stop(node.root)
    return result


def _data(config: NodeConfig, path: Path,
          notes: Callable[[str], None]) -> tuple[Path, frozenset[Stream]]:
    """What the backtest replays (the recording, or its catalog, built if need be) and the
    streams it delivers. A damaged recording is refused here, before anything trades."""
    streams = BookFeed.STREAMS
    if recorded_oracle(config):
        if is_catalog(path):
            raise ValueError(f'venue.sim.market.oracle = "recorded" replays a recording, and '
                             f"{path} is a catalog (it keeps no activeAssetCtx)")
        check_recording(path)
        require_asset_ctx(path)
        if config.data.catalog:
            notes("catalog: not used, the recorded oracle reads the recording itself")
        return path, streams | {Stream.CONTEXT}
    if config.data.catalog and not is_catalog(path):
        # No check of its own: building refuses a damaged recording (and caches nothing), and
        # a cached catalog was built from these very bytes (its key is their hash), whole.
        began = time.perf_counter()
        path, built = build_catalog(path, Path(config.data.catalog_dir))
        notes(f"catalog: built {path} in {time.perf_counter() - began:.1f}s" if built
              else f"catalog: {path}")
    elif not is_catalog(path):
        check_recording(path)
    return path, streams


def _refuse_damage(replay: ReplaySource) -> None:
    """The file changed after the check and the replay met its end early: still no result."""
    if replay.damage is not None:
        raise RecordingError(f"{replay.damage}; the backtest stopped there and is void")


def _result(node: Node, metrics: InMemoryMetrics, replay: ReplaySource, tape: JournalTape, *,
            path: Path, wall: float) -> BacktestResult:
    def total(name: str) -> int:
        return int(metrics.total(name))

    snap = node.view.portfolio
    positions = [] if snap is None else [
        f"{p.instrument} {p.qty * node.specs[p.instrument].lot_step:+}"
        for p in snap.positions if p.qty and p.instrument in node.specs]
    return BacktestResult(
        data=str(path), lines=replay.lines_read, messages=replay.messages, wall_s=wall,
        virtual_s=node.host.monotonic_ns() / SECOND,
        orders_sent=total("troupe_orders_sent_total"),
        acked=total("troupe_orders_acked_total"),
        rejected=total("troupe_orders_rejected_total"),
        cancelled=total("troupe_orders_cancelled_total"),
        fills=total("troupe_fills_total"),
        realized_pnl=Decimal(0) if snap is None else snap.realized_pnl,
        unrealized_pnl=Decimal(0) if snap is None else snap.unrealized_pnl,
        position=", ".join(positions) or "flat", state=node.view.state.name,
        book_updates=total("troupe_book_updates_total"),
        book_trades=total("troupe_book_trades_total"),
        book_gaps=total("troupe_book_gaps_total"),
        feed_refused=total("troupe_venue_feed_refused_total")
        + total("troupe_source_refused_total") + total("troupe_book_publish_refused_total")
        + total("troupe_timed_tell_refused_total"),
        waits=sum(actor.mailbox.waits for actor in node.host.actors()),
        records=len(tape.records), digest=tape.digest(), journal=tuple(tape.records))


def main_backtest(config: NodeConfig, notice: str, *, stderr: TextIO | None = None,
                  report: str | None = None) -> int:
    """The command line's backtest: progress on stderr, the summary on stdout, and with
    `report` the trading report in that directory (`supervision.report`)."""
    err = stderr if stderr is not None else sys.stderr
    path = backtest_data(config)
    STOP.unarmed_line = ("interrupted: the backtest stopped part-way (virtual time, nothing was "
                         "trading; no summary or report)")
    print(f"troupe node {config.node.name!r}: {notice}", flush=True)
    progress = Progress(f"backtest {path.name}", mode=config.data.progress,
                        interval_s=config.data.progress_interval_s, stream=err)
    started = time.perf_counter()
    try:
        result = run_backtest(config, data=path, progress=progress,
                              notes=lambda text: print(text, flush=True))
    except (ValueError, OSError) as exc:
        err.write(f"error: {exc}\n")
        return 2
    print(result.summary(), flush=True)
    if report is not None:
        from supervision.config.load import redacted
        from supervision.report import report_from_records, settings_for

        try:
            out = report_from_records(result.journal, settings_for(config), Path(report),
                                      started=started, config_text=redacted(config))
        except OSError as exc:
            err.write(f"error: cannot write the report to {report}: {exc}\n")
            return 2
        print(f"report: {out}", flush=True)
    return 0


class TallyMetrics(InMemoryMetrics):
    """A backtest's metrics: counters and gauges as `InMemoryMetrics` keeps them, observations
    folded into a count and a sum, so memory does not grow with the data. No Prometheus
    registry: nobody scrapes a backtest."""

    def __init__(self) -> None:
        super().__init__()
        self.tallies: dict[tuple[str, str], list[float]] = {}

    def observe(self, actor: str, metric: str, value: float, labels: dict[str, str]) -> None:
        tally = self.tallies.get((actor, metric))
        if tally is None:
            tally = self.tallies[(actor, metric)] = [0, 0.0]
        tally[0] += 1
        tally[1] += value
