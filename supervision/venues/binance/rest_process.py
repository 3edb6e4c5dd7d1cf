"""The REST worker in a process of its own: ccxt's CPU off the node's GIL.

`RestProcess` has `RestWorker`'s interface (`submit(tag, method, params)`, `close()`, answers
told to `deliver` as `RestDone`), but ccxt's client lives in a child process
(`python -m supervision.venues.binance.rest_process`). In the node's process a ccxt request
costs about a millisecond of Python (building and signing the request, requests and urllib3)
on the REST thread, which takes the GIL from the event loop while a frame's chain waits for
it (docs/benchmarks.md, "Where the time goes"). Here the node pickles the request onto a pipe
(tens of microseconds on the loop) and one reader thread, blocked in `read` without the GIL,
takes each answer back; the child's CPU runs on the other core.

What stays exactly as it was:
- Answers are `io.answer`'s, made in the child with the same client and the same mapping:
  the failure kind (`client.classify`), the venue's words (query strings removed), its
  Retry-After, its counters (`client.usage`) and clock (`Date`). The tag never leaves the
  node: the child answers by sequence number and the node puts the tag back.
- One request at a time, in the order submitted: the child reads the next request only after
  answering the last, so the requests of a venue session reach the venue in order.
- Nothing is ever sent twice. The child writes each request's sequence number to a marker
  file before it calls the venue. If the child dies (detected at once: its answer pipe
  reaches end of file), a request it had started and not answered is answered as `lost`
  (a timeout: UNKNOWN, then the transport's look-up; never a resend), and the requests it
  had not started go, in order and once, to a new child. A child that dies without
  answering anything is restarted after a backoff (0.1 s doubling to 5 s), so a child that
  cannot start does not spin.
- The node never blocks on the child: the request pipe is written without blocking, and what
  does not fit waits in the node's outbox until the child reads (it reads one request per
  answer, and each answer flushes the outbox).

The child logs at the node's level (its root logger's, when the child starts), and its records
travel back with the next answer to be written by the node's own handlers, so they are
redacted as the node's are (`supervision.config.log_redaction`: at DEBUG, ccxt logs each
request's headers, the API key among them).

The child has its own session (start_new_session): a Ctrl-C in the terminal or a SIGTERM to
the node must not kill it before the node's graceful stop has sent its cancels. It ignores
SIGINT and SIGTERM, and exits when the node closes its request pipe (`close`), or dies.
`make_client` is pickled to the child, so it must be picklable (a `functools.partial` of
`client.make_client`), and so must each request's method (a name, or an object such as
`client.Reconciliation`) and each answer's value (ccxt's JSON).
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import pickle
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from typing import IO, Any

import attrs

from supervision.venues.binance.io import Deliver, RestDone, answer

__all__ = ["RestProcess", "serve"]

log = logging.getLogger("troupe.venues.binance")
_HEADER = struct.Struct("<I")
_SEQ = struct.Struct("<q")
BACKOFF_MIN_S, BACKOFF_MAX_S = 0.1, 5.0


def _frame(value: Any) -> bytes:
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    return _HEADER.pack(len(data)) + data


def _read_frame(stream: IO[bytes]) -> Any:
    """The next framed value; EOFError at the end (or a frame cut short by a death)."""
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        raise EOFError
    (size,) = _HEADER.unpack(header)
    data = stream.read(size)
    if len(data) < size:
        raise EOFError
    return pickle.loads(data)


@attrs.define(slots=True)
class _Request:
    seq: int
    tag: Any
    frame: bytes  # (seq, method, params), framed: sent again as is to a new child


class _Child:
    """One child process: its pipes and its marker file (the last request it started)."""

    def __init__(self, make_client: Callable[[], Any]) -> None:
        self.marker = tempfile.TemporaryFile()  # noqa: SIM115 (closed by reap)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "supervision.venues.binance.rest_process",
             str(self.marker.fileno())],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, pass_fds=(self.marker.fileno(),),
            start_new_session=True, env=_child_env())
        assert self.process.stdin is not None and self.process.stdout is not None
        self.requests = self.process.stdin.fileno()
        os.set_blocking(self.requests, False)
        self.answers: IO[bytes] = self.process.stdout
        self.outbox = bytearray(_frame((make_client, logging.getLogger().getEffectiveLevel())))
        self.answered = 0

    def flush(self) -> None:
        """Write what the pipe takes now; the rest waits for the child to read."""
        while self.outbox:
            try:
                written = os.write(self.requests, self.outbox)
            except BlockingIOError:
                return
            except OSError:  # the child is gone: its reader thread deals with it
                self.outbox.clear()
                return
            del self.outbox[:written]

    def end(self) -> None:
        """Close our end of the request pipe: the child finishes what it has and exits."""
        self.outbox.clear()
        assert self.process.stdin is not None
        with contextlib.suppress(OSError):
            self.process.stdin.close()

    def reap(self) -> tuple[int, int]:
        """Once the child is gone: its exit code, and the last request it started (0: none)."""
        code = self.process.wait()
        data = os.pread(self.marker.fileno(), _SEQ.size, 0)
        self.answers.close()
        self.marker.close()
        if self.process.stdin is not None:
            self.process.stdin.close()
        return code, _SEQ.unpack(data)[0] if len(data) == _SEQ.size else 0


def _child_env() -> dict[str, str]:
    """The child imports what the node imports: the node's own import path, first."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([p for p in sys.path if p]
                                        + [env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


class RestProcess:
    """`submit(tag, method, params)`: as `RestWorker`'s, run in the child. `restarts` counts the
    children replaced after a death; `lost_total` the requests answered `lost` for one."""

    def __init__(self, make_client: Callable[[], Any], deliver: Deliver,
                 name: str = "binance-rest") -> None:
        self._make_client = make_client
        self._deliver = deliver
        self.name = name
        self._lock = threading.Lock()
        self._waiting: collections.deque[_Request] = collections.deque()  # sent, not answered
        self._seq = 0
        self._child: _Child | None = None
        self._closed = False
        self._reader: threading.Thread | None = None
        self.restarts = 0
        self.lost_total = 0

    def submit(self, tag: Any, method: str | Callable[[Any, dict[str, Any]], Any],
               params: dict[str, Any] | None = None) -> None:
        with self._lock:
            if self._closed:
                return
            self._seq += 1
            request = _Request(self._seq, tag, _frame((self._seq, method, dict(params or {}))))
            self._waiting.append(request)
            if self._reader is None:  # the first request: the first child
                self._reader = threading.Thread(target=self._read, name=self.name, daemon=True)
                self._reader.start()
            elif self._child is not None:  # None: a new child is on its way, and sends it
                self._child.outbox += request.frame
                self._child.flush()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._child is not None:
                self._child.end()

    @property
    def pid(self) -> int | None:
        child = self._child
        return None if child is None else child.process.pid

    def _read(self) -> None:
        """The reader thread: starts each child, reads its answers, and buries it."""
        backoff = BACKOFF_MIN_S
        while (child := self._spawn()) is not None:
            try:
                while True:
                    seq, done, records = _read_frame(child.answers)
                    for record in records:  # through our handlers and their redaction
                        logging.getLogger(record.name).handle(record)
                    self._answered(child, seq, done)
            except (EOFError, OSError, pickle.UnpicklingError):
                pass
            if not self._bury(child):
                return
            if child.answered:
                backoff = BACKOFF_MIN_S
            else:  # a child that could not even answer: do not spin
                time.sleep(backoff)
                backoff = min(BACKOFF_MAX_S, backoff * 2)

    def _spawn(self) -> _Child | None:
        """A new child, given every request not yet answered, in order; None if closing."""
        backoff = BACKOFF_MIN_S
        while True:
            with self._lock:
                if self._closed:
                    self._reader = None
                    return None
                try:
                    self._child = child = _Child(self._make_client)
                except OSError as exc:
                    log.error("%s: cannot start the REST worker process (%s); trying again in "
                              "%.1fs", self.name, exc, backoff)
                else:
                    for request in self._waiting:
                        child.outbox += request.frame
                    child.flush()
                    return child
            time.sleep(backoff)
            backoff = min(BACKOFF_MAX_S, backoff * 2)

    def _answered(self, child: _Child, seq: int, done: RestDone) -> None:
        with self._lock:
            request = self._waiting.popleft()
            child.answered += 1
            child.flush()
        if request.seq != seq:  # cannot happen: one pipe, one request at a time, in order
            raise RuntimeError(f"REST worker answered {seq}, expected {request.seq}")
        self._deliver(attrs.evolve(done, tag=request.tag))

    def _bury(self, child: _Child) -> bool:
        """The child is gone: what it started and did not answer is answered `lost`; the rest
        stays for the next child. False if we are closing (no next child)."""
        with self._lock:
            self._child = None
        code, started = child.reap()
        with self._lock:
            lost = [r for r in self._waiting if r.seq <= started]
            self._waiting = collections.deque(r for r in self._waiting if r.seq > started)
            closed, left = self._closed, len(self._waiting)
            self.restarts += not closed
            if closed:
                self._reader = None
        self.lost_total += len(lost)
        for request in lost:
            self._deliver(RestDone(request.tag, None, "lost",
                                   f"REST worker process exited ({code}) during the request"))
        if not closed:
            log.warning("%s: the REST worker process exited (%s); %d request(s) it had started "
                        "answered lost (looked up, never resent), %d go to a new one",
                        self.name, code, len(lost), left)
        return not closed


class _Records(logging.Handler):
    """The child's log records, kept to travel back with the next answer: the node's own
    handlers write them (and redact them: ccxt logs request headers at DEBUG)."""

    def __init__(self) -> None:
        super().__init__()
        self.kept: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        record.msg, record.args = record.getMessage(), None
        if record.exc_info:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
        self.kept.append(record)

    def take(self) -> list[logging.LogRecord]:
        kept, self.kept = self.kept, []
        return kept


def serve(requests: IO[bytes], answers: int, marker: int) -> None:
    """The child: make the client, then answer each request in turn until the pipe closes."""
    records = _Records()
    root = logging.getLogger()
    root.addHandler(records)
    try:
        make_client, level = _read_frame(requests)
        root.setLevel(level)
        client = make_client()
    except Exception as exc:  # the node logs the exit and tries again after a backoff
        sys.exit(f"REST worker: cannot make the venue client: {type(exc).__name__}: {exc}")
    while True:
        try:
            seq, method, params = _read_frame(requests)
        except EOFError:
            return
        os.pwrite(marker, _SEQ.pack(seq), 0)  # before the venue can have seen it
        done = answer(client, None, method, params)
        try:
            frame = _frame((seq, done, records.take()))
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            frame = _frame((seq, RestDone(None, None, "lost",
                                          f"answer could not be carried: {exc}"[:300]), []))
        view = memoryview(frame)
        while view:
            view = view[os.write(answers, view):]


def _main() -> None:
    for sig in (signal.SIGINT, signal.SIGTERM):  # the node says when: it closes our pipe
        signal.signal(sig, signal.SIG_IGN)
    answers = os.dup(1)
    os.dup2(2, 1)  # stray prints go to stderr, never into the answers
    with open(0, "rb", buffering=1 << 16, closefd=False) as requests:
        serve(requests, answers, int(sys.argv[1]))


if __name__ == "__main__":
    _main()
