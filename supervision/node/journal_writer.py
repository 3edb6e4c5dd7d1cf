"""The journal writer: the actor that appends every record to the journal on disk.

The journal is the node's memory across restarts and its evidence afterwards: every order sent
or observed, every venue report, control action, decision not to trade, restart and risk state
(`protocols.journal_codec` says what a line is). Two promises shape this module:

- **Nothing is lost quietly.** Records are written unbuffered, with one `os.write` call for the
  records the writer took in one go: a record's arrival tells the writer to write, after the
  records already queued behind it (`_WriteDue`), so a burst of records is one call, not one
  each (each `os.write` hands the GIL to another thread, which the writer must then win back
  from the event loop). With `fsync = "always"`, each record is written and fsynced before the
  next is taken. Durability on disk is the fsync policy:
  `always` fsyncs every record, `interval` at most every `fsync_interval_s` and on stop, `never`
  leaves it to the OS. A write that fails (disk full) is logged, counted
  (`troupe_journal_write_errors_total`), and the record waits in a bounded backlog that is
  retried in order, a partial write finished where it stopped; meanwhile `healthy` is False in
  `snapshot()`, the gauge `troupe_journal_healthy` is 0 and the writer's `watchers` are told a
  `JournalHealth` (the node's risk gate stops new risk on it, the node is not ready; an operator
  resumes once it writes again). A file that cannot be opened is retried the same way. A record
  that does not fit in the backlog is dropped and counted: its `seq` is then missing. The
  backlog lives in a `JournalBacklog` the node keeps, so a writer restarted by its supervisor
  retries what its last incarnation had accepted.
- **A crash mid-write does not stop the next start.** A process killed mid-write leaves an
  unfinished last line. The next writer starts on a fresh line and journals a `TornLine` naming
  the fragment's offset, and the reader (`supervision.node.journal`) skips exactly the lines so
  named. Before anything can trade, `check_journal_opens` makes sure the file can be appended
  to: a node that cannot journal must not start.

The writer is a `Behaviour` meant to run with `blocking=True` on the live host, so disk latency
never stalls the event loop. It takes its times from the context, so it also runs on the
deterministic host (with real files) in tests.

**What it costs the event loop.** Its thread runs Python holding the GIL the loop needs, and
each time it wakes it may take the GIL from the loop in the middle of an order's chain. A live
node journals ~1,400 records a second under the tick-to-trade benchmark's load (84 % of them
`NoTrade`: every decision not to trade has its record), so the writer keeps its per-record
work small and wakes as seldom as it can:
- records are encoded by `protocols.journal_codec`'s fast way (a plan per class, orjson: the
  same bytes as the generic way, in a third of the time);
- the records a batch took are counted (`troupe_journal_records_total{kind}`) when it is
  written, once a kind, not once a record (a labelled count costs ~2-3 us on the node's
  Prometheus sink, more than encoding the record);
- with `linger_s` > 0 (the live node: `LIVE_LINGER_S`, 10 ms), after each write the writer
  sleeps that long on the same turn: the records told meanwhile queue without waking its
  thread and are written together by the next write. A wake-up (the loop's `Event.set`, the
  thread's wait, winning the GIL back) cost the writer more than the ~5 records it served,
  so fewer, larger batches take the GIL fewer times. The price: a record can reach the file
  up to `linger_s` later than it would otherwise (it waits in the mailbox, as it did until
  the writer's thread woke); a `Flush` and a stop come at most `linger_s` later. It changes
  no promise above: a `Flush` still writes everything told before it, `stop` still drains
  the backlog, and `fsync = "always"` never lingers (each record is on disk before the next
  is taken). The writer's handling time (`troupe_actor_handling_seconds`) counts the linger
  in the turn that writes. The deterministic host's writers do not linger (0, the default).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import time
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs

from actors.behaviour import Behaviour, Context, Ref
from protocols.journal import (
    Flush,
    Flushed,
    FsyncPolicy,
    JournalError,
    JournalHealth,
    TornLine,
)
from protocols.journal_codec import Encoded, JournalCodec, decode_line, format_line

__all__ = ["LIVE_LINGER_S", "JournalBacklog", "JournalWriter", "check_journal_opens"]

log = logging.getLogger("troupe.journal")

_TICK_KEY = "journal.tick"
_TAIL_BLOCK = 64 * 1024
_RETRY_S = 1.0
_WRITE_AT_ONCE = 1 << 20  # bytes of records in one os.write, at most
_MAX_LINGER_S = 0.05
LIVE_LINGER_S = 0.01  # the live node's writer (supervision.node.run): see the docstring
_linger = time.sleep  # apart, so a test can hold the writer in its linger


class JournalBacklog:
    """The records told to the writer and not yet on disk, kept outside the writer: a writer
    restarted by its supervisor takes them over and retries them, so a crash of the writer does
    not lose what it had accepted. `partial_head`: the first record is partly written already
    (the file ends with its beginning, which the next incarnation must finish, not mark torn)."""

    def __init__(self) -> None:
        self.entries: deque[tuple[int, bytes]] = deque()
        self.partial_head = False


@attrs.frozen(slots=True)
class _Tick:
    """The writer's own timer: an fsync is due, or the backlog should be retried."""


@attrs.frozen(slots=True)
class _WriteDue:
    """Told to itself by the writer at the first record since the last write: the records
    queued by then are written together when it comes."""


class JournalWriter(Behaviour):
    """Appends every message it receives to the journal at `path`, one JSON line per record.

    Answers `Flush()` (an ask) with `Flushed` once the backlog is written and the file fsynced,
    whatever the policy: shutdown asks it last. A stop overtakes queued messages (it travels
    on the system lane), so ask `Flush()` *before* stopping the writer, or what was told to it
    just before may never be written. The file is opened for appending, never truncated;
    missing parent directories are created.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        fsync: FsyncPolicy | str = FsyncPolicy.INTERVAL,
        fsync_interval_s: float = 1.0,
        *,
        max_backlog: int = 10_000,
        watchers: Sequence[Ref] = (),
        backlog: JournalBacklog | None = None,
        linger_s: float = 0.0,
    ) -> None:
        try:
            self.fsync = FsyncPolicy(fsync)
        except ValueError:
            choices = ", ".join(p.value for p in FsyncPolicy)
            raise ValueError(f"fsync must be one of {choices}; got {fsync!r}") from None
        if not fsync_interval_s > 0:
            raise ValueError(f"fsync_interval_s must be > 0, got {fsync_interval_s!r}")
        if not 0 <= linger_s <= _MAX_LINGER_S:
            raise ValueError(f"linger_s must be within 0 and {_MAX_LINGER_S}, got {linger_s!r}")
        self.linger_s = 0.0 if self.fsync is FsyncPolicy.ALWAYS else linger_s
        self.path = Path(path)
        self.fsync_interval_ns = int(fsync_interval_s * 1e9)
        self.max_backlog = max_backlog
        self._codec = JournalCodec()
        self._fd: int | None = None
        self._seq = 0  # the last seq given to a record
        self._seq_on_disk = 0
        self.watchers = tuple(watchers)
        self._kept = backlog if backlog is not None else JournalBacklog()
        self._backlog = self._kept.entries  # (seq, bytes still to write)
        self._io_ok = True
        self._told_healthy: bool | None = None
        self._dirty = False  # written since the last fsync
        self._last_sync_ns: int | None = None
        self._tick_armed = False
        self._write_due = False  # a _WriteDue is queued: the backlog's tail awaits it
        self._uncounted: dict[str, int] = {}  # records accepted, by kind, not yet counted
        self.written = 0
        self.write_errors = 0
        self.unserializable = 0
        self.dropped = 0
        self.last_error = ""

    @property
    def healthy(self) -> bool:
        """The last disk operation worked and nothing waits to be written (but the records
        taken since the last write, whose write is due)."""
        return self._io_ok and (not self._backlog or self._write_due)

    # -- lifecycle ---------------------------------------------------------------------------
    def on_start(self, ctx: Context) -> None:
        if self._open(ctx):
            self._drain(ctx)
        ctx.gauge("troupe_journal_healthy", int(self.healthy))
        self._tell_health(ctx)

    def _open(self, ctx: Context) -> bool:
        """Open the file and continue its sequence; on failure, retry later (unhealthy)."""
        try:
            self._fd = self._open_file()
            last_seq, torn = _scan_tail(self.path)
        except OSError as exc:
            self._close_fd()
            self._failed(exc, ctx)
            self._arm(_RETRY_S, ctx)
            return False
        kept = self._backlog[-1][0] if self._backlog else 0
        self._seq, self._seq_on_disk = max(last_seq, kept), last_seq
        if torn is not None and not self._kept.partial_head:
            self._after_torn(torn, ctx)
        return True

    def _after_torn(self, torn: tuple[int, bytes, int | None], ctx: Context) -> None:
        offset, fragment, fragment_seq = torn
        if fragment_seq is not None:  # a whole record that only lacks its newline
            self._seq = max(self._seq, fragment_seq)
            self._seq_on_disk = max(self._seq_on_disk, fragment_seq)
            self._backlog.appendleft((fragment_seq, b"\n"))
            return
        log.warning("%s: the last line was unfinished (%d bytes at offset %d; the process "
                    "stopped mid-write): starting on a fresh line", self.path, len(fragment),
                    offset)
        self._seq += 1
        marker = self._codec.encode(TornLine(offset, len(fragment)))
        line = format_line(self._seq, ctx.time_ns(), ctx.monotonic_ns(), marker)
        self._backlog.appendleft((self._seq, b"\n" + line))

    # The three calls that touch the disk, apart so a test can make them fail like a full disk.
    def _open_file(self) -> int:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
        return os.open(self.path, flags, 0o640)

    def _write(self, fd: int, data: bytes) -> int:
        return os.write(fd, data)

    def _fsync(self, fd: int) -> None:
        os.fsync(fd)

    def _close_fd(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)

    def on_stop(self, ctx: Context) -> None:
        self._count_records(ctx)
        self._drain(ctx)
        if self.fsync is not FsyncPolicy.NEVER:
            self._sync(ctx)
        if self._backlog:
            log.error("%s: stopping with %d records not written (last error: %s)", self.path,
                      len(self._backlog), self.last_error)
        if self._fd is not None:
            try:
                os.close(self._fd)
            except OSError as exc:
                self._failed(exc, ctx)
            self._fd = None

    # -- messages ----------------------------------------------------------------------------
    def receive(self, message: Any, ctx: Context) -> Any:
        kind = type(message)
        if kind is _WriteDue:  # the common message but records: one a batch
            self._write_due = False
            self._drain(ctx)
            self._after_write(ctx)
            self._count_records(ctx)
            if self.linger_s:
                # The thread stays on this turn, so the records told meanwhile queue without
                # waking it (a wake-up costs the writer more than a record does).
                _linger(self.linger_s)
            return None
        if kind is Flush:
            self._drain(ctx)
            self._sync(ctx)
            self._count_records(ctx)
            return Flushed(self._seq_on_disk, self.healthy, len(self._backlog))
        if kind is _Tick:
            self._tick_armed = False
            if self._fd is None and not self._open(ctx):
                return None
            self._drain(ctx)
            self._after_write(ctx)
            return None
        self._append(self._codec.encode(message), ctx)
        return None

    def _append(self, record: Encoded, ctx: Context) -> None:
        if record.unserializable:
            self.unserializable += record.unserializable
            ctx.count("troupe_journal_unserializable_total", record.unserializable)
            log.warning("%s: %d field(s) of a %s were not data; written as their type",
                        self.path, record.unserializable, record.kind)
        self._seq += 1
        if len(self._backlog) >= self.max_backlog:
            self.dropped += 1
            ctx.count("troupe_journal_dropped_total")
            log.error("%s: backlog full, record seq %d (%s) dropped", self.path, self._seq,
                      record.kind)
            return
        counts = self._uncounted
        counts[record.kind] = counts.get(record.kind, 0) + 1
        self._backlog.append(
            (self._seq, format_line(self._seq, ctx.time_ns(), ctx.monotonic_ns(), record)))
        if self.fsync is FsyncPolicy.ALWAYS:
            self._drain(ctx)
            self._after_write(ctx)
            self._count_records(ctx)
        elif not self._write_due:
            self._write_due = True
            ctx.tell(ctx.self_ref, _WriteDue())

    def _count_records(self, ctx: Context) -> None:
        """Add the records accepted since the last call to `troupe_journal_records_total`:
        once a batch, not once a record (a labelled count costs ~2 us on the Prometheus
        sink, a fifth of what a record cost the writer once encoding was cheap)."""
        counts = self._uncounted
        if counts:
            for kind, n in counts.items():
                ctx.count("troupe_journal_records_total", n, kind=kind)
            counts.clear()

    # -- disk --------------------------------------------------------------------------------
    def _drain(self, ctx: Context) -> None:
        """Write the backlog in order, up to `_WRITE_AT_ONCE` bytes a call; a partial write
        leaves the remainder of the record it cut at the head."""
        backlog, fd = self._backlog, self._fd
        if fd is None:
            return
        while backlog:
            size, count = 0, 0
            for _seq, data in backlog:
                if count and size + len(data) > _WRITE_AT_ONCE:
                    break
                size, count = size + len(data), count + 1
            chunk = backlog[0][1] if count == 1 else b"".join(
                data for _seq, data in itertools.islice(backlog, count))
            try:
                n = self._write(fd, chunk)
                if n <= 0:
                    raise OSError(f"write returned {n}")
            except OSError as exc:
                self._failed(exc, ctx)
                self._arm(_RETRY_S, ctx)
                return
            self._dirty = True
            while n:
                seq, data = backlog[0]
                if n < len(data):
                    backlog[0] = (seq, data[n:])
                    self._kept.partial_head = True
                    break
                n -= len(data)
                backlog.popleft()
                self._kept.partial_head = False
                self.written += 1
                self._seq_on_disk = seq
            self._succeeded(ctx)

    def _after_write(self, ctx: Context) -> None:
        if not self._dirty or self.fsync is FsyncPolicy.NEVER:
            return
        if self.fsync is FsyncPolicy.ALWAYS:
            self._sync(ctx)
            return
        now = ctx.monotonic_ns()
        last = self._last_sync_ns
        if last is None or now - last >= self.fsync_interval_ns:
            self._sync(ctx)
        else:
            self._arm((self.fsync_interval_ns - (now - last)) / 1e9, ctx)

    def _sync(self, ctx: Context) -> None:
        if self._fd is None or not self._dirty:
            return
        started = time.perf_counter()
        try:
            self._fsync(self._fd)
        except OSError as exc:
            self._failed(exc, ctx)
            self._arm(_RETRY_S, ctx)
            return
        ctx.observe("troupe_journal_fsync_seconds", time.perf_counter() - started)
        self._dirty = False
        self._last_sync_ns = ctx.monotonic_ns()
        self._succeeded(ctx)

    def _arm(self, delay_s: float, ctx: Context) -> None:
        # Armed once: re-scheduling the same key would push a due fsync back on every record.
        if not self._tick_armed:
            self._tick_armed = True
            ctx.schedule(delay_s, _Tick(), key=_TICK_KEY)

    def _failed(self, exc: OSError, ctx: Context) -> None:
        self.write_errors += 1
        self.last_error = f"{type(exc).__name__}: {exc}"
        ctx.count("troupe_journal_write_errors_total")
        if self._io_ok:
            log.error("%s: journal write failed (%s); %d record(s) wait, retrying", self.path,
                      self.last_error, len(self._backlog))
            self._io_ok = False
            ctx.gauge("troupe_journal_healthy", 0)
        self._tell_health(ctx)

    def _succeeded(self, ctx: Context) -> None:
        if not self._io_ok:
            self._io_ok = True
            log.warning("%s: journal writes work again", self.path)
        if not self._backlog:
            ctx.gauge("troupe_journal_healthy", 1)
            self._tell_health(ctx)

    def _tell_health(self, ctx: Context) -> None:
        """Tell the watchers when the health they last heard of changed."""
        healthy = self.healthy
        if healthy is self._told_healthy:
            return
        self._told_healthy = healthy
        notice = JournalHealth(healthy, "" if healthy else self.last_error or "records wait",
                               len(self._backlog))
        for watcher in self.watchers:
            ctx.tell(watcher, notice)

    def snapshot(self) -> dict[str, Any]:
        return {
            "path": str(self.path), "fsync": self.fsync.value, "seq": self._seq,
            "seq_on_disk": self._seq_on_disk, "written": self.written, "healthy": self.healthy,
            "backlog": len(self._backlog), "write_errors": self.write_errors,
            "dropped": self.dropped, "unserializable": self.unserializable,
            "last_error": self.last_error,
        }


def check_journal_opens(path: str | os.PathLike[str]) -> None:
    """Make sure the writer will be able to append to `path` (creating it and its directories),
    or raise `JournalError` in one line. The node calls it before anything can trade: a node
    that cannot journal must not start (its ids, its halts and its evidence live there)."""
    path = Path(path)
    if path.is_dir():
        raise JournalError(f"cannot open the journal {path}: it is a directory")
    for parent in path.parents:
        if parent.exists() and not parent.is_dir():
            raise JournalError(f"cannot open the journal {path}: {parent} is a file, not a "
                               "directory")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0),
                     0o640)
    except OSError as exc:
        where = exc.filename if exc.filename not in (None, str(path)) else None
        detail = exc.strerror or str(exc)
        raise JournalError(f"cannot open the journal {path}: {detail}"
                           + (f" ({where})" if where else "")) from None
    os.close(fd)


def _scan_tail(path: Path) -> tuple[int, tuple[int, bytes, int | None] | None]:
    """The last record's seq, and the unfinished last line if there is one:
    `(offset, fragment, its seq if the fragment is a whole record lacking only "\\n")`.

    Reads backwards from the end in growing blocks, so a long journal costs one block."""
    with path.open("rb") as f:
        size = f.seek(0, os.SEEK_END)
        start, block, buf = size, _TAIL_BLOCK, b""
        while start > 0:
            new_start = max(0, start - block)
            f.seek(new_start)
            buf = f.read(start - new_start) + buf
            start, block = new_start, block * 2
            lines = buf.split(b"\n")
            if start > 0:
                lines = lines[1:]  # may begin mid-line
                if not lines:
                    continue  # no newline yet: the last line starts further back
            seq = _last_seq(lines[:-1])
            if seq is not None or start == 0:
                break
        else:
            return 0, None
        fragment = lines[-1]
        torn = None
        if fragment:
            try:
                fragment_seq: int | None = decode_line(fragment)["seq"]
            except JournalError:
                fragment_seq = None
            torn = (size - len(fragment), fragment, fragment_seq)
        return seq or 0, torn


def _last_seq(lines: list[bytes]) -> int | None:
    for raw in reversed(lines):
        try:
            return int(decode_line(raw)["seq"])
        except JournalError:
            continue
    return None
