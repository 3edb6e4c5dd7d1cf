"""The REST worker in a process of its own: ccxt's CPU off the node's GIL, and its answers read
on the event loop.

`RestProcess` has `RestWorker`'s interface (`submit(tag, method, params)`, `close()`, answers
told to `deliver` as `RestDone`, and `withdraw`, which takes back requests not sent yet), but
ccxt's client lives in a child process (`python -m supervision.venues.binance.rest_process`).
In the node's process a ccxt request costs about a millisecond of Python (building and signing
the request, requests and urllib3) on the REST thread, which takes the GIL from the event loop
while a frame's chain waits for it (docs/benchmarks.md, "Where the time goes"). Here the node
pickles the request onto a pipe (tens of microseconds); the child's CPU runs on another core.
A Binance connection runs several on each of its two REST lanes (`rest_pool`,
`supervision.venues.binance.exits`): a worker's requests go one at a time, and exits must
never wait behind new orders.

The answers are read on the node's trio loop, by a task of its own (a system task, as the
websocket readers are), not by a thread: the answer pipe is non-blocking, the task waits for
it in trio's poll, unpickles each answer (a few kilobytes: tens of microseconds) and tells it
to the connection, which handles it in place. A reader thread did the same work, but each
answer was a hand-over of the GIL from the loop and back, made mid-chain when it came during
one: the loop, which had let the GIL go for a system call (the next request's `write`), then
waited for the thread to be scheduled and to finish, a switch interval or more (measured: an
order's send took 0.6-1.4 ms at the median when an answer arrived during it, 45 us otherwise).
Off a trio loop (a test, a tool), `start` runs the same task on a thread with a loop of its
own. A fork and exec of a new child, and the wait for a dead one's exit, go to a worker
thread (`trio.to_thread`): they never hold up the loop.

What stays exactly as it was:
- Answers are `io.answer`'s, made in the child with the same client and the same mapping:
  the failure kind (`client.classify`), the venue's words (query strings removed), its
  Retry-After, its counters (`client.usage`) and clock (`Date`). The tag never leaves the
  node: the child answers by sequence number and the node puts the tag back.
- One request at a time, in the order submitted: the node queues them and gives the child the
  next only once it has answered the last (the reader does, before it even unpickles the
  answer), so the requests of a venue session reach the venue in order, and a request
  still queued can be taken back (`withdraw`) as from the thread's queue.
- Nothing is ever sent twice. The child writes each request's sequence number to a marker
  file before it calls the venue. If the child dies (detected at once: its answer pipe
  reaches end of file), a request it had started and not answered is answered as `lost`
  (a timeout: UNKNOWN, then the transport's look-up; never a resend), and the requests it
  had not started go, in order and once, to a new child. A child that dies without
  answering anything is restarted after a backoff (0.1 s doubling to 5 s), so a child that
  cannot start does not spin.
- The node never blocks on the child: a request is written only into an empty pipe (the
  child has taken the last one), whose room is raised to 1 MiB.

The child logs at the node's level (its root logger's, when the child starts), and its records
travel back with the next answer to be written by the node's own handlers, so they are
redacted as the node's are (`supervision.config.log_redaction`: at DEBUG, ccxt logs each
request's headers, the API key among them).

The child has its own session (start_new_session): a Ctrl-C in the terminal or a SIGTERM to
the node must not kill it before the node's graceful stop has sent its cancels. It ignores
SIGINT and SIGTERM, and exits when the node closes its request pipe (`close`, or the loop's
end), or dies, or stops reading its answers.
`make_client` is pickled to the child, so it must be picklable (a `functools.partial` of
`client.make_client`), and so must each request's method (a name, or an object such as
`client.Reconciliation`) and each answer's value (ccxt's JSON).
"""

from __future__ import annotations

import collections
import contextlib
import fcntl
import logging
import os
import pickle
import signal
import struct
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from typing import IO, Any

import attrs
import trio

from supervision.venues.binance.io import Deliver, RestDone, answer

__all__ = ["RestProcess", "serve"]

log = logging.getLogger("troupe.venues.binance")
_HEADER = struct.Struct("<I")
_SEQ = struct.Struct("<q")
BACKOFF_MIN_S, BACKOFF_MAX_S = 0.1, 5.0
_READ = 1 << 18  # bytes read from the answer pipe at a time


def _frame(value: Any) -> bytes:
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    return _HEADER.pack(len(data)) + data


def _read_frame(stream: IO[bytes]) -> Any:
    """The next framed value; EOFError at the end (or a frame cut short by a death)."""
    return pickle.loads(_read_raw(stream))


def _read_raw(stream: IO[bytes]) -> bytes:
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        raise EOFError
    (size,) = _HEADER.unpack(header)
    data = stream.read(size)
    if len(data) < size:
        raise EOFError
    return data


@attrs.define(slots=True)
class _Request:
    seq: int
    tag: Any
    frame: bytes  # (seq, method, params), framed: sent again as is to a new child


class _Child:
    """One child process: its pipes and its marker file (the last request it started). The
    request pipe is written only when the child waits for a request (it has answered the last
    one, so the pipe is empty), so a write of a request smaller than the pipe never blocks."""

    def __init__(self, make_client: Callable[[], Any], name: str) -> None:
        self.marker = tempfile.TemporaryFile()  # noqa: SIM115 (closed by reap)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "supervision.venues.binance.rest_process",
             str(self.marker.fileno()), name],  # the name: for ps, top and tests
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, pass_fds=(self.marker.fileno(),),
            start_new_session=True, env=_child_env(), bufsize=0)
        assert self.process.stdin is not None and self.process.stdout is not None
        self.requests = self.process.stdin.fileno()
        with contextlib.suppress(OSError):  # Linux: room for any request (64 KiB otherwise)
            fcntl.fcntl(self.requests, getattr(fcntl, "F_SETPIPE_SZ", 1031), 1 << 20)
        self.answers: IO[bytes] = self.process.stdout
        os.set_blocking(self.answers.fileno(), False)  # read on the loop: never blocks it
        self.answered = 0
        self.send(_frame((make_client, logging.getLogger().getEffectiveLevel())))

    def send(self, frame: bytes) -> None:
        with contextlib.suppress(OSError):  # the child is gone: the reader deals with it
            os.write(self.requests, frame)

    def end(self) -> None:
        """Close our end of the request pipe: the child exits."""
        assert self.process.stdin is not None
        with contextlib.suppress(OSError):
            self.process.stdin.close()

    def reap(self) -> tuple[int, int]:
        """Once the child is gone: its exit code, and the last request it started (0: none)."""
        code = self.process.wait()
        data = os.pread(self.marker.fileno(), _SEQ.size, 0)
        self.answers.close()
        self.marker.close()
        self.end()
        return code, _SEQ.unpack(data)[0] if len(data) == _SEQ.size else 0


def _child_env() -> dict[str, str]:
    """The child imports what the node imports: the node's own import path, first."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([p for p in sys.path if p]
                                        + [env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


class RestProcess:
    """`submit(tag, method, params)`, `withdraw(wanted)` and `close()`: as `RestWorker`'s, the
    requests run in the child. `start()` starts the first child before any request (else the
    first request does). `restarts` counts the children replaced after a death; `lost_total`
    the requests answered `lost` for one."""

    def __init__(self, make_client: Callable[[], Any], deliver: Deliver,
                 name: str = "binance-rest") -> None:
        self._make_client = make_client
        self._deliver = deliver
        self.name = name
        self._lock = threading.Lock()
        self._queue: collections.deque[_Request] = collections.deque()  # not sent yet
        self._sent: _Request | None = None  # with the child, not answered yet
        self._seq = 0
        self._child: _Child | None = None
        self._closing = False
        self._started = False
        self._thread: threading.Thread | None = None  # only when started off a trio loop
        self.restarts = 0
        self.lost_total = 0

    def start(self) -> None:
        """Starts the reader and its first child now: on the trio loop this is called on
        (a system task, as the websocket readers are), else on a thread running a trio loop
        of its own (a test, a tool)."""
        with self._lock:
            if self._started or self._closing:
                return
            self._started = True
        try:
            trio.lowlevel.current_trio_token()
        except RuntimeError:
            self._thread = threading.Thread(target=trio.run, args=(self._guarded,),
                                            name=self.name, daemon=True)
            self._thread.start()
            return
        trio.lowlevel.spawn_system_task(self._guarded, name=self.name)

    def submit(self, tag: Any, method: str | Callable[[Any, dict[str, Any]], Any],
               params: dict[str, Any] | None = None) -> None:
        # Pickled at once: a copy of `params` would be one more dict for nothing.
        if type(params) is not dict:
            params = dict(params or {})
        with self._lock:
            if self._closing:
                return
            seq = self._seq = self._seq + 1
            self._queue.append(_Request(seq, tag, _frame((seq, method, params))))
            if self._sent is None:  # else the reader sends it, once the child has answered
                self._send_next()
        if not self._started:  # the first request: the first child
            self.start()

    def withdraw(self, wanted: Callable[[Any], bool]) -> list[Any]:
        """Takes the queued requests whose tag `wanted` names out of the queue, unsent, and
        returns their tags in queue order. The request with the child is not among them."""
        with self._lock:
            taken = [r.tag for r in self._queue if wanted(r.tag)]
            if taken:
                self._queue = collections.deque(r for r in self._queue if not wanted(r.tag))
            return taken

    def close(self) -> None:
        """Ends the child once the requests queued so far are done."""
        with self._lock:
            self._closing = True
            self._send_next()

    @property
    def pid(self) -> int | None:
        child = self._child
        return None if child is None else child.process.pid

    def _send_next(self) -> None:
        """(Locked.) The next request to the child, if it waits for one; once closing and
        done, the end."""
        child = self._child
        if child is None or self._sent is not None:
            return
        if self._queue:
            self._sent = self._queue.popleft()
            child.send(self._sent.frame)
        elif self._closing:
            child.end()

    async def _guarded(self) -> None:
        # A system task that raises would end the whole trio run: nothing may escape. Cancelled
        # (the run ends), the child is told to end, as `close` would.
        try:
            await self._read()
        except Exception:
            log.exception("%s: the REST worker's reader failed; requests get no answer",
                          self.name)
        finally:
            child = self._child
            if child is not None:
                child.end()

    async def _read(self) -> None:
        """Starts each child, reads its answers, and buries it."""
        backoff = BACKOFF_MIN_S
        while (child := await self._spawn()) is not None:
            await self._answers(child)
            if not await self._bury(child):
                return
            if child.answered:
                backoff = BACKOFF_MIN_S
            else:  # a child that could not even answer: do not spin
                await trio.sleep(backoff)
                backoff = min(BACKOFF_MAX_S, backoff * 2)

    async def _spawn(self) -> _Child | None:
        """A new child, given the first request waiting; None once closing with none left.
        Started on a worker thread: a fork and exec must not hold up the loop."""
        backoff = BACKOFF_MIN_S
        while True:
            with self._lock:
                if self._closing and not self._queue:
                    return None
            try:
                child = await trio.to_thread.run_sync(_Child, self._make_client, self.name)
            except OSError as exc:
                log.error("%s: cannot start the REST worker process (%s); trying again in "
                          "%.1fs", self.name, exc, backoff)
            else:
                with self._lock:
                    self._child = child
                    self._send_next()
                return child
            await trio.sleep(backoff)
            backoff = min(BACKOFF_MAX_S, backoff * 2)

    async def _answers(self, child: _Child) -> None:
        """Reads the child's answers until its pipe ends (it exited, or died), each handled as
        soon as it is whole. A read that finds nothing waits for the pipe in trio's poll."""
        fd, buffer, header = child.answers.fileno(), bytearray(), _HEADER.size
        in_a_row = 0
        while True:
            try:
                chunk = os.read(fd, _READ)
            except BlockingIOError:
                in_a_row = 0
                await trio.lowlevel.wait_readable(fd)
                continue
            except OSError:
                return
            if not chunk:
                return
            buffer += chunk
            while len(buffer) >= header:
                (size,) = _HEADER.unpack_from(buffer)
                if len(buffer) < header + size:
                    break
                raw = bytes(buffer[header:header + size])
                del buffer[:header + size]
                self._answered(child, raw)
            in_a_row += 1
            if in_a_row >= 16:  # answers without end: let the loop's other tasks in
                in_a_row = 0
                await trio.lowlevel.checkpoint()

    def _answered(self, child: _Child, raw: bytes) -> None:
        with self._lock:  # the next request goes first: the child need not wait for us
            request, self._sent = self._sent, None
            child.answered += 1
            self._send_next()
        seq, done, records = pickle.loads(raw)
        if request is None or request.seq != seq:  # cannot happen: one request at a time
            raise RuntimeError(f"REST worker answered {seq}, expected {request}")
        for record in records:  # through our handlers and their redaction
            logging.getLogger(record.name).handle(record)
        self._deliver(attrs.evolve(done, tag=request.tag))

    async def _bury(self, child: _Child) -> bool:
        """The child is gone: the request it had started and not answered is answered `lost`;
        one it had not started goes first to the next child. False: no next child."""
        code, started = await trio.to_thread.run_sync(child.reap)  # waits for its exit
        with self._lock:
            self._child = None
            request, self._sent = self._sent, None
            lost = request is not None and request.seq <= started
            if request is not None and not lost:
                self._queue.appendleft(request)
            # Closing, the queue still goes to a new child, unless this one never took a request
            # (a child that cannot start would be started again for ever).
            more = not self._closing or (bool(self._queue) and started > 0)
            self.restarts += more
        if lost:
            assert request is not None
            self.lost_total += 1
            self._deliver(RestDone(request.tag, None, "lost",
                                   f"REST worker process exited ({code}) during the request"))
        if more:
            log.warning("%s: the REST worker process exited (%s)%s; %d request(s) go to a new "
                        "one", self.name, code, "; the request it had started is answered "
                        "lost (looked up, never sent again)" if lost else "",
                        len(self._queue))
        return more


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
        try:
            while view:
                view = view[os.write(answers, view):]
        except BrokenPipeError:  # the node is gone (or stopped reading): nobody to answer
            return


def _main() -> None:
    for sig in (signal.SIGINT, signal.SIGTERM):  # the node says when: it closes our pipe
        signal.signal(sig, signal.SIG_IGN)
    answers = os.dup(1)
    os.dup2(2, 1)  # stray prints go to stderr, never into the answers
    with open(0, "rb", buffering=1 << 16, closefd=False) as requests:
        serve(requests, answers, int(sys.argv[1]))


if __name__ == "__main__":
    _main()
