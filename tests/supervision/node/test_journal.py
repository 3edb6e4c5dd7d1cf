"""The journal writer and reader: one JSON line per record, fsync as configured, appends only,
survives a torn last line and a full disk, refuses a damaged middle, never writes a secret."""

from __future__ import annotations

import enum
import errno
import importlib
import json
import logging
import os
import threading
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import pytest

from actors.behaviour import Behaviour
from protocols.decisions import Gate, NoTrade, Proposal, TradingState
from protocols.journal import (
    ControlAction,
    Flush,
    Flushed,
    JournalEntry,
    JournalError,
    NodeStarted,
    ObservedIntent,
    OrderSent,
    sent_record,
)
from protocols.journal_codec import LINE_KEYS
from protocols.orders import CancelIntent, OrderIntent, OrderType, Side
from protocols.risk import DailyLoss, RiskPersistentState
from supervision.node.journal import iter_journal, main
from supervision.node.journal_writer import JournalWriter
from supervision.runtime.deterministic import DeterministicHost

INTENT = OrderIntent("tr-mm-1", "BTC-PERP", Side.BUY, OrderType.LIMIT, 3, 20_000)


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def start(host: Any, path: Path, name: str = "journal", **kwargs: Any) -> tuple[Any, Any]:
    writer = JournalWriter(path, **kwargs)
    return host.spawn(name, lambda: writer, blocking=True), writer


@pytest.fixture
def fsyncs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = os.fsync

    def counting(fd: int) -> None:
        calls.append(fd)
        real(fd)

    monkeypatch.setattr(os, "fsync", counting)
    return calls


# -- the line format --------------------------------------------------------------------------


def test_each_record_is_one_json_line_with_increasing_seq(host: Any, tmp_path: Path) -> None:
    path = tmp_path / "var" / "deep" / "journal.jsonl"  # parents are created
    ref, _ = start(host, path)
    risk = RiskPersistentState(TradingState.HALTED, Gate.TRADING_STATE, "operator",
                               DailyLoss(19_675, Decimal("-12.50"), False))
    host.tell(ref, NodeStarted("node-a", "paper", "paper", "0.1.0"))
    host.tell(ref, OrderSent.from_intent(INTENT, "mm", 123))
    host.tell(ref, NoTrade("mm", "BTC-PERP", "wide_spread", 77, "spread 9 > 8"))
    host.tell(ref, risk)
    host.tell(ref, JournalEntry("OperatorNote", {"text": "rolled the keys"}, "ops"))
    assert host.ask(ref, Flush()) == Flushed(seq=5, healthy=True, backlog=0)

    records = lines(path)
    assert [tuple(r) for r in records] == [LINE_KEYS] * 5
    assert [r["seq"] for r in records] == [1, 2, 3, 4, 5]
    assert [r["kind"] for r in records] == ["NodeStarted", "OrderSent", "NoTrade",
                                           "RiskPersistentState", "OperatorNote"]
    assert [r["source"] for r in records] == ["", "mm", "mm", "", "ops"]
    assert records[1]["data"]["side"] == "buy" and records[1]["data"]["tif"] == "gtc"
    assert records[3]["data"]["trading_state"] == 2
    assert records[3]["data"]["daily"]["realized_pnl"] == "-12.50"  # exact, as a string
    assert all(r["ts_ns"] > 0 and isinstance(r["mono_ns"], int) for r in records)
    assert list(iter_journal(path)) == records


def test_the_writer_runs_on_its_own_thread_on_the_live_host(live: Any, tmp_path: Path) -> None:
    ref, _ = start(live, tmp_path / "j.jsonl")
    live.ask(ref, Flush())
    assert live.actor("journal").executor == "thread"


def test_a_ref_inside_a_record_is_written_as_its_name(tmp_path: Path) -> None:
    host = DeterministicHost()
    ref, _ = start(host, tmp_path / "j.jsonl")
    strategy = host.spawn("strategy:mm", Behaviour)
    host.tell(ref, Proposal("mm", INTENT, strategy, 5))
    host.ask(ref, Flush())
    (record,) = lines(tmp_path / "j.jsonl")
    assert record["data"]["reply_to"] == "strategy:mm"
    assert record["data"]["intent"]["client_order_id"] == "tr-mm-1"


def test_an_odd_field_is_written_as_its_type_and_counted(tmp_path: Path) -> None:
    @attrs.frozen
    class Odd:
        name: str
        lock: Any
        when: float

    host = DeterministicHost()
    ref, writer = start(host, tmp_path / "j.jsonl")
    host.tell(ref, Odd("x", threading.Lock(), float("nan")))
    host.tell(ref, JournalEntry("Note", {("a", 1): {3, 1, 2}, "error": ValueError("boom")}))
    host.ask(ref, Flush())
    odd, note = lines(tmp_path / "j.jsonl")
    assert odd["data"] == {"name": "x", "lock": "<class '_thread.lock'>", "when": "nan"}
    assert note["data"] == {"('a', 1)": [1, 2, 3], "error": "<class 'ValueError'>"}
    assert writer.unserializable == 2
    assert host.metrics.total("troupe_journal_unserializable_total") == 2
    assert host.actor("journal").snapshot["unserializable"] == 2


def _config_secret() -> Any:
    """The config's Secret (repr `***`), wherever the config helper put it."""
    for module in ("supervision.config.load", "supervision.config.secrets"):
        try:
            return importlib.import_module(module).Secret
        except (ImportError, AttributeError):
            continue
    pytest.skip("no Secret class in the config yet")


def test_secrets_are_never_written_in_clear(tmp_path: Path) -> None:
    ConfigSecret = _config_secret()

    class Secret:  # any class of that name: the journal does not import the config
        def __init__(self, value: str) -> None:
            self.value = value

    @attrs.frozen
    class VenueConfig:
        api_key: Any
        keys: tuple[Any, ...]

    host = DeterministicHost()
    ref, _ = start(host, tmp_path / "j.jsonl")
    host.tell(ref, VenueConfig(ConfigSecret("hunter2", "env:API_KEY"), (Secret("hunter3"),)))
    host.tell(ref, JournalEntry("ConfigLoaded", {"token": Secret("hunter4"),
                                                 "nested": [{"t": ConfigSecret("hunter5")}]}))
    host.tell(ref, ControlAction("halt", "alert", "http", detail="ok"))
    host.ask(ref, Flush())
    text = (tmp_path / "j.jsonl").read_text()
    assert "hunter" not in text
    first, second, _ = lines(tmp_path / "j.jsonl")
    assert first["data"] == {"api_key": "***", "keys": ["***"]}
    assert second["data"] == {"token": "***", "nested": [{"t": "***"}]}


def test_observed_and_sent_intents_keep_their_ids(tmp_path: Path) -> None:
    host = DeterministicHost()
    ref, _ = start(host, tmp_path / "j.jsonl")
    host.tell(ref, ObservedIntent.from_intent(INTENT, "mm", 9))
    host.tell(ref, sent_record(CancelIntent("tr-mm-1", "BTC-PERP"), "mm", 10))
    host.ask(ref, Flush())
    observed, cancel = lines(tmp_path / "j.jsonl")
    assert (observed["kind"], observed["data"]["action"]) == ("ObservedIntent", "new")
    assert (cancel["kind"], cancel["data"]["client_order_id"]) == ("CancelSent", "tr-mm-1")


# -- fsync policies ---------------------------------------------------------------------------


def test_fsync_always_syncs_every_record(tmp_path: Path, fsyncs: list[int]) -> None:
    host = DeterministicHost()
    ref, _ = start(host, tmp_path / "j.jsonl", fsync="always")
    for n in range(3):
        host.tell(ref, JournalEntry("Tick", {"n": n}))
    host.run_until_idle()
    assert len(fsyncs) == 3


def test_fsync_interval_syncs_at_most_once_per_interval(tmp_path: Path,
                                                        fsyncs: list[int]) -> None:
    host = DeterministicHost()
    ref, _ = start(host, tmp_path / "j.jsonl", fsync="interval", fsync_interval_s=1.0)
    for n in range(5):
        host.tell(ref, JournalEntry("Tick", {"n": n}))
    host.settle()
    # The five, told together, are written together, and the first write after a quiet
    # spell is synced at once.
    assert len(fsyncs) == 1
    host.tell(ref, JournalEntry("Tick", {"n": 5}))
    host.settle()
    host.advance(0.5)
    assert len(fsyncs) == 1
    host.advance(0.6)
    assert len(fsyncs) == 2  # a record within the interval: synced one interval later
    host.advance(5)
    assert len(fsyncs) == 2  # nothing new, nothing to sync
    host.tell(ref, JournalEntry("Tick", {"n": 6}))
    host.settle()
    assert len(fsyncs) == 3
    host.tell(ref, JournalEntry("Tick", {"n": 7}))
    host.settle()
    assert len(fsyncs) == 3
    host.stop(ref)
    assert len(fsyncs) == 4  # and on stop
    assert len(lines(tmp_path / "j.jsonl")) == 8


def test_fsync_never_only_flushes_but_an_explicit_flush_syncs(tmp_path: Path,
                                                              fsyncs: list[int]) -> None:
    host = DeterministicHost()
    ref, _ = start(host, tmp_path / "j.jsonl", fsync="never")
    host.tell(ref, JournalEntry("Tick", {}))
    host.advance(10)
    assert fsyncs == []
    assert len(lines(tmp_path / "j.jsonl")) == 1  # written through, whatever the policy
    assert host.ask(ref, Flush()).seq == 1
    assert len(fsyncs) == 1


def test_a_bad_policy_is_a_clear_error(tmp_path: Path) -> None:
    class ConfigPolicy(enum.StrEnum):  # the config schema's own enum of the same values
        ALWAYS = "always"

    with pytest.raises(ValueError, match="fsync must be one of always, interval, never"):
        JournalWriter(tmp_path / "j.jsonl", fsync="sometimes")
    assert JournalWriter(tmp_path / "j.jsonl", fsync=ConfigPolicy.ALWAYS).fsync == "always"


# -- reopening, torn lines, damage ------------------------------------------------------------


def run_once(path: Path, *records: Any) -> None:
    host = DeterministicHost()
    ref, _ = start(host, path)
    for record in records:
        host.tell(ref, record)
    host.ask(ref, Flush())  # a stop overtakes queued messages: shutdown flushes first
    host.stop(ref)


def test_reopening_appends_and_continues_the_sequence(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    run_once(path, JournalEntry("A", {}), JournalEntry("B", {}))
    run_once(path, JournalEntry("C", {}))
    assert [(r["seq"], r["kind"]) for r in iter_journal(path)] == [(1, "A"), (2, "B"), (3, "C")]


def test_a_torn_last_line_is_skipped_and_the_next_writer_starts_fresh(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "j.jsonl"
    run_once(path, JournalEntry("A", {}), JournalEntry("B", {}))
    whole = path.stat().st_size
    fragment = b'{"seq":3,"ts_ns":17,"mono_ns":4,"kind":"Ord'  # killed mid-write
    with path.open("ab") as f:
        f.write(fragment)

    with caplog.at_level(logging.WARNING, "troupe.journal"):
        assert [r["kind"] for r in iter_journal(path)] == ["A", "B"]
    assert "unfinished last line" in caplog.text

    run_once(path, JournalEntry("C", {}))
    caplog.clear()
    with caplog.at_level(logging.WARNING, "troupe.journal"):
        records = list(iter_journal(path))
    assert [(r["seq"], r["kind"]) for r in records] == [(1, "A"), (2, "B"), (3, "TornLine"),
                                                        (4, "C")]
    assert records[2]["data"] == {"offset": whole, "length": len(fragment)}
    assert "left by a crash" in caplog.text
    run_once(path, JournalEntry("D", {}))  # and the journal stays readable afterwards
    assert [r["seq"] for r in iter_journal(path)] == [1, 2, 3, 4, 5]


def test_a_whole_record_missing_only_its_newline_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    run_once(path, JournalEntry("A", {}))
    path.write_bytes(path.read_bytes().rstrip(b"\n"))
    assert [r["kind"] for r in iter_journal(path)] == ["A"]
    run_once(path, JournalEntry("B", {}))
    assert [(r["seq"], r["kind"]) for r in iter_journal(path)] == [(1, "A"), (2, "B")]


def test_a_malformed_line_in_the_middle_is_an_error_naming_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "j.jsonl"
    run_once(path, JournalEntry("A", {}), JournalEntry("B", {}), JournalEntry("C", {}))
    text = path.read_text().splitlines()
    text[1] = text[1][:30] + "#" + text[1][31:]
    path.write_text("\n".join(text) + "\n")

    with pytest.raises(JournalError, match=r"j\.jsonl:2: malformed journal line \(not JSON"):
        list(iter_journal(path))
    assert main([str(path)]) == 2
    err = capsys.readouterr().err
    assert "j.jsonl:2: malformed journal line" in err and "Traceback" not in err


def test_a_line_that_is_json_but_not_a_record_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    path.write_text('{"seq":1,"ts_ns":1,"mono_ns":1,"kind":"A","source":"","data":{}}\n'
                    '{"seq":"2","ts_ns":1,"mono_ns":1,"kind":"A","source":"","data":{}}\n')
    with pytest.raises(JournalError, match=r":2: malformed journal line \(field 'seq'"):
        list(iter_journal(path))


def test_a_missing_journal_has_no_records(tmp_path: Path) -> None:
    assert list(iter_journal(tmp_path / "none.jsonl")) == []


def test_records_told_together_are_written_in_one_call_unless_each_is_fsynced(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real_write = os.write

    def counted(fd: int, data: Any) -> int:
        calls.append(bytes(data).count(b"\n"))
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", counted)
    for fsync, expected in (("never", [5, 1]), ("always", [1, 1, 1, 1, 1, 1])):
        calls.clear()
        host = DeterministicHost()
        path = tmp_path / f"{fsync}.jsonl"
        ref, _ = start(host, path, fsync=fsync)
        for n in range(5):  # a burst: one call (each os.write hands the GIL over)
            host.tell(ref, JournalEntry("Tick", {"n": n}))
        host.settle()
        host.tell(ref, JournalEntry("Tick", {"n": 5}))
        host.settle()
        host.stop(ref)
        assert calls == expected, fsync
        assert [r["data"]["n"] for r in lines(path)] == list(range(6))
        assert [r["seq"] for r in lines(path)] == list(range(1, 7))


# -- a full disk ------------------------------------------------------------------------------


def test_a_write_error_is_counted_and_the_record_written_later(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    host = DeterministicHost()
    path = tmp_path / "j.jsonl"
    ref, writer = start(host, path)
    host.tell(ref, JournalEntry("A", {}))
    host.settle()
    real_write = os.write
    room = [10]  # bytes left on the "disk": the next line is written halfway

    def full_disk(fd: int, data: Any) -> int:
        if fd != writer._fd:
            return real_write(fd, data)
        if room[0] <= 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        n = real_write(fd, bytes(data[:room[0]]))
        room[0] -= n
        return n

    monkeypatch.setattr(os, "write", full_disk)
    host.tell(ref, JournalEntry("B", {"payload": "x" * 50}))
    host.tell(ref, JournalEntry("C", {}))
    host.settle()
    snap = host.actor("journal").snapshot
    assert (snap["healthy"], snap["backlog"], snap["last_error"][:7]) == (False, 2, "OSError")
    assert host.metrics.total("troupe_journal_write_errors_total") >= 1
    assert host.ask(ref, Flush()) == Flushed(seq=1, healthy=False, backlog=2)

    room[0] = 10**6  # space again: the retry timer finishes the half line, then the rest
    host.advance(1.5)
    assert host.actor("journal").snapshot["healthy"] is True
    assert [(r["seq"], r["kind"]) for r in iter_journal(path)] == [(1, "A"), (2, "B"), (3, "C")]


def test_a_full_backlog_drops_and_counts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    host = DeterministicHost()
    ref, writer = start(host, tmp_path / "j.jsonl", max_backlog=2)
    host.settle()

    def no_space(fd: int, data: Any) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", no_space)
    for n in range(4):
        host.tell(ref, JournalEntry("Tick", {"n": n}))
    host.settle()
    assert (writer.dropped, len(writer._backlog)) == (2, 2)
    assert host.metrics.total("troupe_journal_dropped_total") == 2


def test_a_torn_line_on_either_host_is_marked_and_the_sequence_continues(
        host: Any, tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    first, _ = start(host, path, name="journal-1")
    host.tell(first, JournalEntry("A", {}))
    host.ask(first, Flush())
    host.stop(first)
    with path.open("ab") as f:
        f.write(b'{"seq":2,"ts_')
    second, _ = start(host, path, name="journal-2")
    host.tell(second, JournalEntry("B", {}))
    assert host.ask(second, Flush()).seq == 3
    assert [r["kind"] for r in iter_journal(path)] == ["A", "TornLine", "B"]


def test_a_long_journal_and_a_long_torn_line_are_found_from_the_end(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    run_once(path, *(JournalEntry("Bulk", {"pad": "x" * 900, "n": n}) for n in range(300)))
    assert path.stat().st_size > 4 * 64 * 1024
    with path.open("ab") as f:
        f.write(b'{"seq":301,"data":"' + b"y" * 200_000)  # longer than a read block
    run_once(path, JournalEntry("After", {}))
    records = list(iter_journal(path))
    assert [r["seq"] for r in records[-2:]] == [301, 302]
    assert [r["kind"] for r in records[-2:]] == ["TornLine", "After"]


class FakeContext:
    """Just enough of a context to drive the writer without any host."""

    def __init__(self) -> None:
        self.now = 5_000_000_000
        self.timers: list[tuple[float, Any]] = []
        self.counts: dict[str, int] = {}
        self.self_ref = object()
        self.told: list[Any] = []  # to itself: the writer's _WriteDue

    def tell(self, ref: Any, message: Any) -> None:
        assert ref is self.self_ref
        self.told.append(message)

    def monotonic_ns(self) -> int:
        return self.now

    def time_ns(self) -> int:
        return 1_700_000_000_000_000_000 + self.now

    def schedule(self, delay: float, message: Any, *, key: Any = None) -> Any:
        self.timers.append((delay, message))
        return key

    def count(self, metric: str, amount: int = 1, **labels: str) -> None:
        self.counts[metric] = self.counts.get(metric, 0) + amount

    def gauge(self, metric: str, value: float, **labels: str) -> None:
        pass

    def observe(self, metric: str, value: float, **labels: str) -> None:
        pass


def test_the_writer_on_its_own(tmp_path: Path, fsyncs: list[int]) -> None:
    ctx: Any = FakeContext()
    writer = JournalWriter(tmp_path / "j.jsonl", fsync="interval", fsync_interval_s=2.0)
    writer.on_start(ctx)
    writer.receive(JournalEntry("A", {"n": 1}), ctx)
    assert writer.healthy and len(ctx.told) == 1  # the write is due: the record's turn is over
    writer.receive(ctx.told.pop(), ctx)
    ctx.now += 1_000_000_000
    writer.receive(JournalEntry("B", {"n": 2}), ctx)
    writer.receive(ctx.told.pop(), ctx)
    assert len(fsyncs) == 1
    assert [round(delay, 3) for delay, _ in ctx.timers] == [1.0]  # the rest of the interval
    ctx.now += 1_000_000_000
    writer.receive(ctx.timers[0][1], ctx)
    assert len(fsyncs) == 2
    writer.on_stop(ctx)
    assert [r["mono_ns"] for r in iter_journal(tmp_path / "j.jsonl")] == [5 * 10**9, 6 * 10**9]
    assert ctx.counts == {"troupe_journal_records_total": 2}


@pytest.mark.parametrize("fsync", ["interval", "always"])
def test_records_are_counted_by_kind_once_written(tmp_path: Path, fsync: str) -> None:
    host = DeterministicHost()
    ref, writer = start(host, tmp_path / "j.jsonl", fsync=fsync, max_backlog=3)
    for i in range(5):
        host.tell(ref, NoTrade("mm", "BTC-PERP", "no_book", i))
    host.tell(ref, OrderSent.from_intent(INTENT, "mm", 1))
    host.tell(ref, JournalEntry("Note", {"n": 1}))
    assert host.ask(ref, Flush()).seq == 7 - writer.dropped
    counted = {labels: n for (_a, metric, labels), n in host.metrics.counters.items()
               if metric == "troupe_journal_records_total"}
    written = [r["kind"] for r in lines(tmp_path / "j.jsonl")]
    assert counted == {(("kind", k),): written.count(k) for k in set(written)}
    assert sum(counted.values()) + writer.dropped == 7


def test_records_told_while_the_writer_lingers_are_written_together(
        live: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lingering, release = threading.Event(), threading.Event()
    lingered: list[float] = []

    def held(seconds: float) -> None:  # the writer's sleep, held until the records are told
        lingered.append(seconds)
        lingering.set()
        assert release.wait(5)

    monkeypatch.setattr("supervision.node.journal_writer._linger", held)
    ref, writer = start(live, tmp_path / "j.jsonl", linger_s=0.01)
    writes: list[int] = []
    real_write = writer._write

    def counting(fd: int, data: bytes) -> int:
        writes.append(data.count(b"\n"))
        return real_write(fd, data)

    writer._write = counting  # type: ignore[method-assign]
    live.tell(ref, NoTrade("mm", "BTC-PERP", "no_book", 0))
    assert lingering.wait(5)
    assert len(lines(tmp_path / "j.jsonl")) == 1  # written before the linger, not after
    for i in range(1, 21):
        live.tell(ref, NoTrade("mm", "BTC-PERP", "no_book", i))
    release.set()
    assert live.ask(ref, Flush()) == Flushed(seq=21, healthy=True, backlog=0)
    assert writes == [1, 20]
    assert lingered[0] == 0.01
    assert [r["data"]["recv_ns"] for r in lines(tmp_path / "j.jsonl")] == list(range(21))


def test_the_linger_is_bounded_and_never_delays_a_record_fsynced_each_time(
        tmp_path: Path) -> None:
    for bad in (-0.001, 0.051, float("nan")):
        with pytest.raises(ValueError, match="linger_s"):
            JournalWriter(tmp_path / "j.jsonl", linger_s=bad)
    assert JournalWriter(tmp_path / "j.jsonl", linger_s=0.01).linger_s == 0.01
    assert JournalWriter(tmp_path / "j.jsonl", "always", linger_s=0.01).linger_s == 0.0
