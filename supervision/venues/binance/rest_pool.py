"""A REST lane of several worker processes: requests of different symbols in flight at once,
those of one symbol in the order they were submitted.

One worker answers one request at a time, so a lane of one is a queue: when twenty market
makers requote together, the twentieth order waits for nineteen round trips before it leaves
(measured on loopback against the fake venue, 20 instruments: the venue's ack at p50 ~40-60 ms,
of which a round trip is ~2-4 ms; on a real venue a round trip is 5-30 ms). `RestPool` has
`RestProcess`'s interface (`start`, `submit`, `withdraw`, `close`, `restarts`, `lost_total`)
and keeps `workers` of them, each given one request at a time, so it still knows, for every
request, whether it has left.

What the order of a lane promised, and still holds:

- **One symbol's requests reach the venue in the order submitted.** A request names its symbol
  (`params["symbol"]`); while one of that symbol's is with a worker, the symbol's later
  requests wait, and no later request of the symbol overtakes an earlier one still waiting.
  An order's new order, replaces, cancel and look-ups are all its symbol's, so they keep
  their order; so does a sweep (a cancel-all of the symbol) against the orders around it.
- **A request that names no symbol is a barrier** (a reconciliation, a batch across symbols,
  the user stream's key): it leaves once everything submitted before it is answered, and
  nothing submitted after it leaves before it is answered. So a reconciliation's snapshot
  still follows every request sent before it, as on a lane of one.
- **Nothing is sent twice, nothing is lost.** Each worker is a `RestProcess`, with its child's
  death handled as before: a request it had started is answered `lost` (looked up, never sent
  again), one it had not goes to its new child. A request is with at most one worker.
- **`withdraw` takes back what has not left**: the requests still waiting here, and any a
  worker still holds after its child died.

Answers come back in the order the venue gives them, which across symbols is not the order
submitted; every answer carries its tag, and the transport's state is per order. The venue's
rate-limit counters in an answer may be older than another's already read: the budget adopts a
count only where it says more was spent (`actors.execution.budget_actor`), so an older count
changes nothing.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable, Hashable
from typing import Any

from supervision.venues.binance.io import Deliver, RestDone
from supervision.venues.binance.rest_process import RestProcess

__all__ = ["RestPool", "symbol_of"]

_BARRIER = None


def symbol_of(method: Any, params: dict[str, Any] | None) -> Hashable | None:
    """The symbol a request is about (None: it is about the account, or several symbols)."""
    if params is None or not isinstance(method, str):
        return _BARRIER
    symbol = params.get("symbol")
    return symbol if isinstance(symbol, str) and symbol else _BARRIER


class _Waiting:
    __slots__ = ("key", "method", "params", "tag")

    def __init__(self, key: Hashable | None, tag: Any, method: Any,
                 params: dict[str, Any] | None) -> None:
        self.key, self.tag, self.method, self.params = key, tag, method, params


class RestPool:
    """`workers` REST worker processes behind one lane (module docstring). With one worker it
    is that worker, in behaviour: one request at a time, in order. (`worker` makes each:
    `RestProcess`, or a test's stand-in with its interface.)"""

    def __init__(self, make_client: Callable[[], Any], deliver: Deliver, name: str,
                 workers: int, worker: Callable[..., Any] = RestProcess) -> None:
        if workers < 1:
            raise ValueError(f"a REST lane needs at least one worker, not {workers}")
        self.name = name
        self._deliver = deliver
        self._lock = threading.RLock()
        self._waiting: collections.deque[_Waiting] = collections.deque()
        self._idle: list[int] = list(range(workers - 1, -1, -1))  # popped from the end: 0 first
        self._busy: dict[int, Hashable | None] = {}  # worker -> the key of its request
        self._closing = False
        self._workers = [
            worker(make_client, self._answer_of(i),
                   name=name if workers == 1 else f"{name}-{i + 1}")
            for i in range(workers)]

    # -- RestProcess's interface -----------------------------------------------------------
    def start(self) -> None:
        for worker in self._workers:
            worker.start()

    def submit(self, tag: Any, method: str | Callable[[Any, dict[str, Any]], Any],
               params: dict[str, Any] | None = None) -> None:
        with self._lock:
            if self._closing:
                return
            self._waiting.append(_Waiting(symbol_of(method, params), tag, method, params))
            self._dispatch()

    def withdraw(self, wanted: Callable[[Any], bool]) -> list[Any]:
        """The waiting requests whose tag `wanted` names, taken back unsent, in the order
        submitted (then those a worker held after its child died)."""
        with self._lock:
            taken = [w.tag for w in self._waiting if wanted(w.tag)]
            if taken:
                self._waiting = collections.deque(w for w in self._waiting
                                                  if not wanted(w.tag))
            for i, worker in enumerate(self._workers):
                held = worker.withdraw(wanted)
                if held and i in self._busy:  # it held only that one: free again
                    self._free(i)
                taken += held
            self._dispatch()
            return taken

    def close(self) -> None:
        """Ends the workers once every request submitted so far is done."""
        with self._lock:
            self._closing = True
            self._dispatch()

    @property
    def restarts(self) -> int:
        return sum(w.restarts for w in self._workers)

    @property
    def lost_total(self) -> int:
        return sum(w.lost_total for w in self._workers)

    @property
    def pids(self) -> list[int | None]:
        return [w.pid for w in self._workers]

    @property
    def in_flight(self) -> int:
        """Requests with a worker, not answered yet."""
        return len(self._busy)

    # -- dispatch ----------------------------------------------------------------------------
    def _dispatch(self) -> None:
        """(Locked.) Gives idle workers the first requests that may leave: in the order
        submitted, past a request whose symbol is out (and so past only those), and never
        past a barrier."""
        kept: collections.deque[_Waiting] = collections.deque()
        waiting = self._waiting
        while waiting:
            request = waiting[0]
            if _BARRIER in self._busy.values():
                break  # a barrier is out: nothing leaves until it is answered
            if request.key is _BARRIER:
                if self._busy or kept or not self._idle:
                    break  # it waits for everything before it; nothing passes it
            elif not self._idle:
                break
            elif request.key in self._busy.values():  # (so are all its symbol's after it)
                kept.append(waiting.popleft())
                continue
            waiting.popleft()
            self._send(request)
        if kept:
            kept.extend(waiting)
            self._waiting = kept
        if self._closing and not self._waiting:
            for worker in self._workers:
                worker.close()

    def _send(self, request: _Waiting) -> None:
        i = self._idle.pop()
        self._busy[i] = request.key
        self._workers[i].submit(request.tag, request.method, request.params)

    def _free(self, i: int) -> None:
        del self._busy[i]
        self._idle.append(i)

    def _answer_of(self, i: int) -> Deliver:
        def answered(done: RestDone) -> None:
            with self._lock:
                if i in self._busy:
                    self._free(i)
                self._dispatch()  # the next request leaves before this answer is handled
            self._deliver(done)
        return answered
