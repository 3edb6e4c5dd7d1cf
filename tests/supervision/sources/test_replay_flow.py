"""Flow control in virtual time: a replay into a `FlowControl` mailbox waits for its full
consumer instead of dropping (every event arrives, in order), speed "max" keeps the recording's
spacing in virtual time, and unsubscribed streams (bookTicker) are not delivered at all."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

from protocols.feed import FeedBatch, FeedEvent, Stream
from protocols.venues import binance
from supervision.runtime.deterministic import DeterministicHost
from supervision.runtime.mailbox import BoundedReject, FlowControl
from supervision.sources.data import BINANCE_SPOT_BTCUSDT
from supervision.sources.recording_reader import is_ticker_line
from supervision.sources.replay import ReplaySource
from supervision.testing import Probe

SECOND = 10**9


def burst(path: Path, lines: int) -> Path:
    """`lines` trades all received in the same nanosecond: a burst no bounded mailbox holds."""
    with gzip.open(path, "wt") as f:
        for i in range(lines):
            f.write(f'1000 {{"stream":"btcusdt@trade","data":{{"e":"trade","E":1,"s":"BTCUSDT",'
                    f'"t":{i},"p":"100.00","q":"1.0","T":1,"m":true}}}}\n')
    return path


def run(path: Path, *, flow_control: bool, speed: float | None = None,
        streams: Any = frozenset(Stream),
        batch_instants: bool = False) -> tuple[DeterministicHost, Probe, ReplaySource]:
    """A replay in virtual time into a sink of 50 places: flow-controlled when `flow_control`."""
    host = DeterministicHost()
    sink_ref = host.spawn("sink", Probe,
                          mailbox=FlowControl(50) if flow_control else BoundedReject(50))
    host.spawn("source", lambda: ReplaySource(path, {"BTCUSDT": "BTCUSDT"}, sink_ref, speed,
                                              chunk=500, streams=streams, virtual_time=True,
                                              batch_instants=batch_instants))
    host.run_until_idle(max_seconds=1000)
    sink = host.cell("sink").behaviour
    source = host.cell("source").behaviour
    assert isinstance(sink, Probe) and isinstance(source, ReplaySource)
    return host, sink, source


def test_a_lossy_replay_loses_a_burst_a_full_mailbox_refuses(tmp_path: Path) -> None:
    _, sink, _ = run(burst(tmp_path / "b.gz", 2000), flow_control=False)
    assert len(sink.records) < 2000  # the failure flow control exists for


def test_a_flow_controlled_replay_waits_for_its_consumer_and_loses_nothing(
        tmp_path: Path) -> None:
    host, sink, source = run(burst(tmp_path / "b.gz", 2000), flow_control=True)
    ids = [m.message.trade_id for _, m in sink.records]
    assert ids == list(range(2000))  # all of them, in order
    stats = host.actor("sink").mailbox
    assert stats.waits > 0 and source.done
    assert stats.high_water <= 50 + 500  # capacity + one turn of the source (its chunk)
    assert host.metrics.total("troupe_source_refused_total") == 0


def test_speed_max_in_virtual_time_keeps_the_recorded_spacing() -> None:
    _, sink, _ = run(BINANCE_SPOT_BTCUSDT, flow_control=True,
                     streams={Stream.DEPTH, Stream.TRADES})
    stamps = [t for t, _ in sink.records]
    assert stamps == sorted(stamps)
    # ~346 s of recorded data spread over ~346 s of virtual time, not one instant
    assert 300 * SECOND < stamps[-1] - stamps[0] < 400 * SECOND
    assert len(sink.records) == 3451 + 9757 + 1


def test_unsubscribed_tickers_are_skipped_before_decoding() -> None:
    _, sink, source = run(BINANCE_SPOT_BTCUSDT, flow_control=True,
                          streams={Stream.DEPTH, Stream.TRADES})
    kinds = {type(m.message) for _, m in sink.records}
    assert binance.BookTicker not in kinds and binance.Trade in kinds
    assert source.snapshot()["unsubscribed"] == 28040


def test_ticker_lines_are_told_apart_without_decoding() -> None:
    assert is_ticker_line('{"stream":"btcusdt@bookTicker","data":{"u":1}}')
    assert is_ticker_line('{"e":"bookTicker","u":1}')
    assert not is_ticker_line('{"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate"}}')
    assert not is_ticker_line('{"stream":"btcusdt@trade","data":{"e":"trade"}}')


def test_a_feed_event_carries_its_virtual_receive_time(tmp_path: Path) -> None:
    _, sink, _ = run(BINANCE_SPOT_BTCUSDT, flow_control=True, streams={Stream.DEPTH})
    assert all(isinstance(m, FeedEvent) and m.recv_ns == t for t, m in sink.records)


def test_in_virtual_time_lines_travel_ahead_as_timed_tells_stamped_with_their_recorded_time(
        ) -> None:
    host, sink, _ = run(BINANCE_SPOT_BTCUSDT, flow_control=True,
                        streams={Stream.DEPTH, Stream.TRADES})
    recorded = []
    with gzip.open(BINANCE_SPOT_BTCUSDT, "rt") as f:
        for line in f:
            ts, _, body = line.partition(" ")
            if not is_ticker_line(body):
                recorded.append(int(ts))
    start = sink.records[0][0]
    # each line lands when its recorded time comes (lines within 1 us of a group join it)
    offsets = [t - start - (ts - recorded[0]) for (t, _), ts in zip(sink.records, recorded,
                                                                    strict=True)]
    assert all(-1_000 <= d <= 0 for d in offsets)
    # the source wakes once per few dozen lines, not once per recorded timestamp
    assert host.actor("source").mailbox.handled < len(recorded) / 30


def test_batched_the_lines_of_one_instant_travel_as_one_message_and_land_as_before() -> None:
    """`batch_instants`: the lines told ahead for one instant go as one `FeedBatch`. Unpacked,
    the target gets the same events at the same times, in the same order."""
    streams = {Stream.DEPTH, Stream.TRADES}
    _, alone, _ = run(BINANCE_SPOT_BTCUSDT, flow_control=True, streams=streams)
    _, batched, _ = run(BINANCE_SPOT_BTCUSDT, flow_control=True, streams=streams,
                        batch_instants=True)
    unpacked = [(t, e) for t, m in batched.records
                for e in (m.events if isinstance(m, FeedBatch) else (m,))]
    assert unpacked == alone.records
    batches = [m for _, m in batched.records if isinstance(m, FeedBatch)]
    assert batches and all(len(b.events) > 1 for b in batches)
    assert all(len({e.recv_ns for e in b.events}) == 1 for b in batches)
    assert len(batched.records) < len(alone.records) - 1_500  # ~2,000 events share an instant
