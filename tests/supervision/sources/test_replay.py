"""Replaying the shipped recordings through ReplaySource into OrderBook actors on the deterministic
host: Binance syncs with no gap (and a removed diff is a gap and a resync request), Hyperliquid
applies every l2Book and dedupes trades; pacing in virtual time (recorded pace, x10, flat out in
chunks that let other actors run); malformed lines skipped and counted; and ContinuingSource
carrying a replayed book on with synthetic diffs whose ids join the recording's."""

from __future__ import annotations

import functools
import gzip
import logging
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest

from actors.behaviour import Behaviour
from actors.market.book_actor import OrderBookActor
from actors.market.book_feed import BookConfig
from actors.market.l2_book import BinanceBookSync
from protocols.codec import Side
from protocols.feed import FeedEvent, ResyncRequest
from protocols.market import BookStale, BookTop, TradePrint
from protocols.recording import iter_lines, iter_messages
from protocols.venues.binance import DepthDiff, DepthSnapshot
from protocols.venues.hyperliquid import L2Book, Trades
from supervision.runtime.deterministic import DeterministicHost
from supervision.sources.data import BINANCE_SPOT_BTCUSDT, HYPERLIQUID_BTC
from supervision.sources.synthetic import (
    ContinuingSource,
    ReplayEnded,
    ReplaySource,
    SyntheticEnded,
)
from supervision.testing import Probe, received

SECOND = 10**9
BTC_TICK, BTC_LOT = D("0.01"), D("0.00000001")




def seen(host: DeterministicHost, name: str, kind: type | None = None) -> list[Any]:
    return received(host, name, kind)


def times(host: DeterministicHost, name: str) -> list[int]:
    return [t for t, _ in received(host, name, with_time=True)]


def write_recording(path: Path, lines: list[str]) -> Path:
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.writelines(line + "\n" for line in lines)
    return path


@functools.cache
def raw_lines(path: Path) -> tuple[str, ...]:
    return tuple(f"{ts} {raw}" for ts, raw in iter_lines(path))


def book_rig(config: BookConfig) -> tuple[DeterministicHost, Any]:
    """A book whose subscriber is `strategy` and whose connection is the `connection` stand-in
    (it only records the ResyncRequests: the recording's own snapshot line syncs the book)."""
    host = DeterministicHost(seed=7)
    strategy = host.spawn("strategy", Probe)
    connection = host.spawn("connection", Probe)
    book = host.spawn("book", lambda: OrderBookActor(config, subscribers=[strategy],
                                                     resync=connection))
    return host, book


BINANCE_BOOK = BookConfig("BTC-SPOT", "binance", BTC_TICK, BTC_LOT)
BINANCE_MAP = {"BTCUSDT": "BTC-SPOT"}


# --- sync on the shipped files -----------------------------------------------------------------

def test_binance_recording_syncs_and_never_gaps() -> None:
    host, book = book_rig(BINANCE_BOOK)
    end = host.spawn("end", Probe)
    host.spawn("replay", lambda: ReplaySource(BINANCE_SPOT_BTCUSDT, BINANCE_MAP, book,
                                              speed=None, on_end=end))
    host.settle()
    assert host.metrics.total("troupe_book_gaps_total") == 0
    snapshot = host.actor("book").snapshot
    assert snapshot["state"] == "synced" and snapshot["stale_reason"] is None
    assert seen(host, "connection") == [ResyncRequest("BTC-SPOT", "start")]
    assert seen(host, "strategy", BookStale) == []
    # Every line is delivered: diffs, trades, the snapshot and bookTickers (the book ignores
    # those: counted, not applied).
    (ended,) = seen(host, "end")
    assert ended == ReplayEnded(str(BINANCE_SPOT_BTCUSDT), 41_249,
                                int(raw_lines(BINANCE_SPOT_BTCUSDT)[-1].split(" ")[0]))
    assert host.metrics.total("troupe_book_ignored_total") > 0
    assert host.metrics.total("troupe_replay_messages_total") == 41_249
    assert host.actor("replay").snapshot["done"] is True


def test_a_dropped_diff_is_a_gap_and_a_resync_request(tmp_path: Path) -> None:
    lines = list(raw_lines(BINANCE_SPOT_BTCUSDT)[:3_000])
    snapshot_at = next(i for i, line in enumerate(lines) if "lastUpdateId" in line)
    dropped = next(i for i, line in enumerate(lines)
                   if i > snapshot_at + 50 and "depthUpdate" in line)
    path = write_recording(tmp_path / "holed.gz", lines[:dropped] + lines[dropped + 1:])
    host, book = book_rig(BINANCE_BOOK)
    host.spawn("replay", lambda: ReplaySource(path, BINANCE_MAP, book, speed=None, chunk=200))
    host.settle()
    assert host.metrics.total("troupe_book_gaps_total") == 1
    assert [s.reason for s in seen(host, "strategy", BookStale)] == ["gap"]
    assert seen(host, "connection") == [ResyncRequest("BTC-SPOT", "start"),
                                        ResyncRequest("BTC-SPOT", "gap")]
    assert host.actor("book").snapshot["stale_reason"] == "gap"
    # A plain recording cannot answer: forwarded to the replay, the request is only counted.
    host.tell(host.cell("replay").ref, ResyncRequest("BTC-SPOT", "gap"))
    host.settle()
    assert host.metrics.total("troupe_source_resync_requests_total") == 1


def test_hyperliquid_recording_applies_every_l2book_and_dedupes_trades() -> None:
    host, book = book_rig(BookConfig("BTC-PERP", "hyperliquid", D("1"), D("0.00001")))
    host.spawn("replay", lambda: ReplaySource(HYPERLIQUID_BTC, {"BTC": "BTC-PERP"}, book,
                                              speed=None))
    host.settle()
    messages = [m for _, m in iter_messages(HYPERLIQUID_BTC)]
    books = sum(isinstance(m, L2Book) for m in messages)
    assert host.metrics.total("troupe_book_updates_total") == books
    assert len(seen(host, "strategy", BookTop)) == books
    tids = {t.tid for m in messages if isinstance(m, Trades) for t in m.trades}
    prints = seen(host, "strategy", TradePrint)
    assert len(prints) == len(tids) == len({p.trade_id for p in prints})
    assert seen(host, "strategy", BookStale) == [] and seen(host, "connection") == []


# --- pacing ----------------------------------------------------------------------------------

def paced(speed: float | None, chunk: int = 500) -> tuple[DeterministicHost, list[int], int]:
    host = DeterministicHost(seed=1)
    venue, end = host.spawn("venue", Probe), host.spawn("end", Probe)
    host.spawn("replay", lambda: ReplaySource(HYPERLIQUID_BTC, {"BTC": "BTC"}, venue,
                                              speed=speed, chunk=chunk, on_end=end))
    host.run_until_idle(max_seconds=60)
    stamps = [ts for ts, _ in iter_lines(HYPERLIQUID_BTC)]
    return host, [t - stamps[0] for t in stamps], times(host, "end")[0]


def test_recorded_pace_takes_the_recordings_span_in_virtual_time() -> None:
    host, offsets, ended_at = paced(1.0)
    assert times(host, "venue") == offsets  # every message at its recorded offset, exactly
    assert ended_at == offsets[-1] > 20 * SECOND
    events = seen(host, "venue")
    assert all(isinstance(e, FeedEvent) and e.instrument == "BTC" for e in events)
    assert [e.recv_ns for e in events] == offsets


def test_ten_times_faster_takes_a_tenth() -> None:
    host, offsets, ended_at = paced(10.0)
    assert times(host, "venue") == [o // 10 for o in offsets]
    assert ended_at == offsets[-1] // 10


def test_as_fast_as_possible_takes_no_virtual_time() -> None:
    host, offsets, ended_at = paced(None)
    assert set(times(host, "venue")) == {0} and ended_at == 0
    assert len(times(host, "venue")) == len(offsets)


class Busy(Behaviour):
    """Another actor with work of its own: it tells itself `turns` times, logging each turn."""

    def __init__(self, log: list[Any], turns: int) -> None:
        self.log, self.turns = log, turns

    def on_start(self, ctx: Any) -> None:
        ctx.tell(ctx.self_ref, "again")

    def receive(self, message: Any, ctx: Any) -> Any:
        self.log.append("busy")
        self.turns -= 1
        if self.turns:
            ctx.tell(ctx.self_ref, "again")


def feed_runs(chunk: int) -> list[int]:
    """Replay flat out next to a busy actor: the lengths of the stretches of feed deliveries
    that ran with no turn of the busy actor in between."""
    log: list[Any] = []
    host = DeterministicHost(seed=1)
    venue = host.spawn("venue", lambda: Probe(reply=lambda _message, _ctx: log.append("feed")))
    host.spawn("busy", lambda: Busy(log, 1_000))
    host.spawn("replay", lambda: ReplaySource(HYPERLIQUID_BTC, {"BTC": "BTC"}, venue,
                                              speed=None, chunk=chunk))
    host.settle()
    assert len(seen(host, "venue")) == 55 and "busy" in log
    runs, run = [], 0
    for entry in log:
        if entry == "feed":
            run += 1
        elif run:
            runs.append(run)
            run = 0
    return [*runs, run] if run else runs


def test_as_fast_as_possible_goes_in_chunks_and_lets_others_run() -> None:
    # One chunk holds the whole file: nobody else runs while it is delivered.
    assert feed_runs(500) == [55]
    # Chunks of 5: the busy actor gets turns all along. (The host may give an actor two turns
    # in a row, so a stretch can hold two chunks, never more.)
    runs = feed_runs(5)
    assert sum(runs) == 55 and max(runs) <= 10 and len(runs) >= 55 // 10


# --- malformed input -------------------------------------------------------------------------

def test_malformed_lines_are_skipped_counted_and_logged_with_their_position(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    good = list(raw_lines(HYPERLIQUID_BTC)[:2])
    t = int(good[1].split(" ")[0])
    path = write_recording(tmp_path / "bad.gz", [
        good[0],
        "garbage without a timestamp",
        f"{t} {{not json",
        f"{t} {{\"channel\": \"weird\", \"data\": {{}}}}",
        f"{t} {{\"stream\": \"btcusdt@trade\", \"data\": {{\"e\": \"trade\"}}}}",
        "",
        good[1],
    ])
    host = DeterministicHost(seed=1)
    venue, end = host.spawn("venue", Probe), host.spawn("end", Probe)
    with caplog.at_level(logging.WARNING, logger="troupe.sources"):
        host.spawn("replay", lambda: ReplaySource(path, {"BTC": "BTC"}, venue, speed=None,
                                                  on_end=end))
        host.settle()
    assert len(seen(host, "venue")) == 2
    assert host.metrics.total("troupe_replay_decode_errors_total") == 4
    assert host.metrics.total("troupe_replay_messages_total") == 2
    (ended,) = seen(host, "end")
    assert isinstance(ended, ReplayEnded) and ended.messages == 2
    logged = caplog.text
    for lineno in (2, 3, 4, 5):
        assert f"bad.gz:{lineno}:" in logged
    assert host.actor("replay").snapshot["decode_errors"] == 4


def test_a_truncated_gzip_file_ends_the_replay_with_an_error_not_a_crash(tmp_path: Path) -> None:
    whole = write_recording(tmp_path / "whole.gz", list(raw_lines(HYPERLIQUID_BTC)))
    cut = tmp_path / "cut.gz"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    host = DeterministicHost(seed=1)
    venue, end = host.spawn("venue", Probe), host.spawn("end", Probe)
    host.spawn("replay", lambda: ReplaySource(cut, {"BTC": "BTC"}, venue, speed=None,
                                              on_end=end))
    host.settle()
    assert host.actor("replay").state == "running" and host.actor("replay").failures == 0
    # the damage is the file's, not a line's: kept apart for the owner (a backtest refuses)
    assert host.metrics.total("troupe_replay_decode_errors_total") == 0
    replay = host.cell("replay").behaviour
    assert replay.damage is not None
    assert replay.damage.startswith(f"{cut}: truncated after line ")
    assert replay.damage.endswith(" (the gzip stream ends early)")
    assert len(seen(host, "end")) == 1 and 0 < len(seen(host, "venue")) < 55


def test_bad_arguments_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no recording"):
        ReplaySource(tmp_path / "missing.gz", {}, None, speed=1.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="speed"):
        ReplaySource(HYPERLIQUID_BTC, {}, None, speed=0)  # type: ignore[arg-type]


# --- continuing on synthetic data --------------------------------------------------------------

def test_continuing_source_carries_the_replayed_book_on_without_a_gap(tmp_path: Path) -> None:
    path = write_recording(tmp_path / "short.gz", list(raw_lines(BINANCE_SPOT_BTCUSDT)[:2_000]))
    host, book = book_rig(BINANCE_BOOK)
    end = host.spawn("end", Probe)
    host.spawn("source", lambda: ContinuingSource(
        path, BINANCE_MAP, book, {"BTC-SPOT": (BTC_TICK, BTC_LOT)}, speed=None, on_end=end,
        step_s=0.01, steps=500, seed=5))
    host.run_until_idle(max_seconds=6)  # 500 steps of 10 ms
    replayed, synthetic = seen(host, "end")
    assert isinstance(replayed, ReplayEnded) and isinstance(synthetic, SyntheticEnded)
    assert synthetic.steps == 500
    assert host.metrics.total("troupe_book_gaps_total") == 0
    assert seen(host, "strategy", BookStale) == []
    tops = seen(host, "strategy", BookTop)
    assert tops[-1].sequence > replayed.messages // 4  # the book kept moving after the seam
    prints = seen(host, "strategy", TradePrint)
    ids = [int(p.trade_id) for p in prints]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert host.actor("book").snapshot["state"] == "synced"
    snap = host.actor("source").snapshot
    assert snap["done"] and snap["continuing"]["steps"] == 500


def test_continuing_source_answers_a_resync_from_its_copy_of_the_book(tmp_path: Path) -> None:
    lines = list(raw_lines(BINANCE_SPOT_BTCUSDT)[:2_000])
    host = DeterministicHost(seed=7)
    venue = host.spawn("venue", Probe)
    source = host.spawn("source", lambda: ContinuingSource(
        write_recording(tmp_path / "r.gz", lines), BINANCE_MAP, venue,
        {"BTC-SPOT": (BTC_TICK, BTC_LOT)}, speed=None, steps=0))
    host.settle()
    last_u = max(e.message.final_update_id for e in seen(host, "venue")
                 if isinstance(e.message, DepthDiff))
    source.tell(ResyncRequest("BTC-SPOT", "gap"))
    host.settle()
    answer = seen(host, "venue")[-1]
    assert isinstance(answer.message, DepthSnapshot) and answer.message.last_update_id == last_u
    # The answer alone rebuilds the book the whole replayed stream built.
    replayed, rebuilt = BinanceBookSync(BTC_TICK, BTC_LOT), BinanceBookSync(BTC_TICK, BTC_LOT)
    for event in seen(host, "venue")[:-1]:
        if isinstance(event.message, DepthDiff):
            replayed.on_diff(event.message, 0)
        elif isinstance(event.message, DepthSnapshot):
            replayed.on_snapshot(event.message, 0)
    rebuilt.on_snapshot(answer.message, 0)
    assert replayed.gaps == 0 and replayed.last_update_id == rebuilt.last_update_id
    for side in Side:
        assert rebuilt.book.depth(side, 5_000) == replayed.book.depth(side, 5_000)


class Counter(Behaviour):
    def __init__(self) -> None:
        self.count = 0
        self.ended: Any = None

    def receive(self, message: Any, ctx: Any) -> Any:
        if isinstance(message, FeedEvent):
            self.count += 1
        elif isinstance(message, ReplayEnded):
            self.ended = message
        return None

    def snapshot(self) -> Any:
        return {"count": self.count, "ended": self.ended}


def test_the_same_replay_runs_on_both_hosts(host: Any) -> None:
    venue = host.spawn("venue", Counter)
    host.spawn("replay", lambda: ReplaySource(HYPERLIQUID_BTC, {"BTC": "BTC"}, venue,
                                              speed=100.0, chunk=5, on_end=venue))
    for _ in range(60):  # 25 s of recording at x100: about 0.25 s, virtual or real
        host.advance(0.05)
        if host.actor("replay").snapshot["done"]:
            break
    host.settle()
    assert host.actor("venue").snapshot["count"] == 55
    assert host.actor("venue").snapshot["ended"].messages == 55
    assert host.actor("replay").snapshot["done"] is True
