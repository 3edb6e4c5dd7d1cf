"""The stage trace joins a frame's records into its own chain even when the frames of one socket
read share their origin (the read's time): joined by origin alone, one frame's strategy and
another's proposal made one chain, and the second frame's wait behind the first read as the
gate's."""

from __future__ import annotations

from benchmarks.stages import STAGES, StageTrace, _frame_symbol, _plain_symbol


def record(trace: StageTrace, stage: str, origin: int, instrument: int, *, start: int,
           elapsed: int) -> None:
    trace.records.extend((STAGES.index(stage), origin, instrument, start, elapsed))


def test_two_frames_of_one_read_are_two_chains() -> None:
    trace = StageTrace(lambda: 0)
    origin, us = 1_000_000, 1_000
    # Frame A's chain runs first, then frame B's; each stage 10 us, no wait between.
    for instrument, begin in ((0, origin), (1, origin + 60 * us)):
        at = begin
        for stage in STAGES:
            record(trace, stage, origin, instrument, start=at, elapsed=10 * us)
            at += 10 * us
    chains = trace.report()["order_chains"]["from_frames"]
    assert chains["orders"] == 2
    assert chains["hops_us"]["gate"]["wait"]["p99"] <= 1  # no frame waits at its gate
    assert chains["end_to_end_us"]["p50"] <= 61
    assert chains["end_to_end_us"]["p99"] > 119  # B waited for A's whole chain, at decode


def test_a_frames_symbol_is_read_from_its_combined_stream_name() -> None:
    assert _plain_symbol(_frame_symbol('{"stream":"s01usdt@depth@100ms","data":{}}')) \
        == "S01USDT"
    assert _frame_symbol('{"e":"depthUpdate"}') == ""
    # an instrument named otherwise than its venue symbol still meets its frames
    assert _plain_symbol("BTC-USDT") == _plain_symbol(_frame_symbol(
        '{"stream":"btcusdt@trade","data":{}}')) == "BTCUSDT"
