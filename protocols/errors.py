"""The one base of every exception Troupe raises on purpose: `TroupeError`.

`except TroupeError` catches every error Troupe means to report, and nothing it did not mean to
raise (a `KeyError` from a bug still shows as a bug). Each subclass lives next to the code that
raises it and keeps its builtin base where callers catch it by that (`ValueError`, `KeyError`),
so adding this base changed no `except` clause. When to raise which:

Bad input from outside the process: refuse it with one clear line, change nothing.
- `protocols.codec.DecodeError` (ValueError): a venue frame or recorded line that cannot be
  parsed; the feed counts it and skips the frame.
- `protocols.control.ControlRequestError`: a control-plane request we refuse; carries the HTTP
  status to answer.
- `protocols.journal.JournalError` (ValueError): a journal that cannot be read or replayed (a
  damaged line, an unknown record kind); names the file and line.
- `supervision.config.load.ConfigError`: a configuration that cannot be used; one
  `path: problem` line per problem. `supervision.config.structure.Problems` is its internal
  collector while a config is structured, and never leaves `load_config`.
- `actors.strategies.registry.UnknownStrategy` (ValueError): a strategy kind that names
  nothing buildable (not built in, an import that fails, not an engine); one line, which the
  config loader reports at `strategies.N.kind`.
- `supervision.config.secrets.SecretError` (ValueError): a secret reference that cannot be
  resolved; the message never contains the value.
- `supervision.node.live_guard.LiveGuardError` (ValueError): the command line asked for live
  trading without every confirmation; the process exits with code 2.
- `supervision.node.venues.UnknownVenueKind` (KeyError): `venue.kind` names no registered venue
  adapter; the node refuses to start with one line, exit code 2.
- `supervision.node.instance_lock.InstanceLockError`: another node holds the journal or the
  venue account (the line names its pid), or the lock file cannot be made; exit code 2.
- `supervision.runtime.affinity.PinningError`: `runtime.loop_cpus` names CPUs this process
  may not run on, or all of them, or the platform cannot pin threads; one line, exit code 2.
- `supervision.repl.session.ReplError`: an operator's mistake or refusal at the REPL (an unknown
  actor, a timeout, a cancelled confirmation); the console prints it as one `error:` line.
- `supervision.repl.server.ReplSocketError`: the REPL's socket path cannot be served (too long,
  not a socket, another node's); the node runs on without the REPL and says why.
- `supervision.fakevenue.faults.FaultError` (ValueError): a fault the fake venue does not know
  or a value it cannot take (not a number, negative, not finite, a fraction of a count), named
  with what it takes; nothing is armed. `--fault` exits 2, `POST /fake/faults` answers 400.
- `supervision.fakevenue.desk.VenueError`: the fake venue refuses an order request with
  Binance's HTTP status, code and words (it becomes the REST answer, never a crash).
- `supervision.venues.hyperliquid.nonces.NonceWindowError` (ValueError): the next Hyperliquid
  nonce would lie outside the venue's window (a clock or a nonce file a day ahead); the action
  is refused before it is signed.
- `supervision.venues.hyperliquid.discovery.PreflightError` (ValueError): the venue's markets do
  not fit the config (a DEX not named or not listed, a coin two DEXs list, spot mixed with
  perp, too many subscriptions); the node refuses to start with one line, exit code 2.
- `supervision.fakevenue.limits.Throttled` (a `VenueError`): a request past the fake venue's
  weight or order-count limit; answered 429 with its Retry-After.
- `supervision.replay.ReplayError` (ValueError): a recording the replay tool cannot build a
  book from (no snapshot, none that joins, another venue's file); one line, exit code 2.
- `supervision.sources.recording_reader.RecordingError` (ValueError): a recording damaged as a
  whole (a gzip stream that ends early, a file that is not gzip), named in one line with its
  last line.
- `supervision.experiments.sweep.SweepError` (ValueError): a `--sweep` or `--space` that is
  malformed, or values the config refuses; every problem at once, before any variant runs.
- `supervision.experiments.ranking.ObjectiveError` (ValueError): a `--rank` or `--optimize`
  field that report.json does not have (the line names the keys there are), or a direction
  that is neither max nor min.
- `supervision.experiments.spans.SpanError` (ValueError): a `--span` or `--walk-forward` that
  is malformed, falls outside the data or holds no line of it.
- `supervision.experiments.executors.ExecutorError` (RuntimeError): the Dask scheduler cannot
  be reached, or a variant was lost for good (its workers kept dying, a local process died).
- `supervision.repl.wire.WireError`: a REPL peer sent something that is not the protocol; that
  session ends.
- `supervision.control.server.BindError` (OSError): the control plane cannot listen where the
  config says (a port in use, an address this machine does not have); the node exits with
  code 2 and one line naming the address, before anything else has started.
- `supervision.control.replies.RequestRefused`: a control-plane guard refused a request (a
  foreign Host, a wrong content type, too many readers waiting, too many failed tokens);
  carries the reply and is counted as `troupe_control_refused_total{reason}`.
- `supervision.control.guard.ClientGone`: an HTTP client left before its whole request arrived;
  the control plane drops the request without an answer or a change.

A request between actors that got no answer: the request may or may not have been handled.
- `protocols.runtime.AskTimeout`: no reply within the ask's timeout.
- `protocols.runtime.ActorDead`: the target was removed for good or stopped before handling it.
- `supervision.runtime.context.AskRefused`: the target's mailbox refused the request (full,
  closed); carries the `Refused` record.
- `supervision.runtime.lifecycle.InspectError`: an actor asked about its state could not answer
  (not running, or the question itself failed); it is unharmed.

A fault injected on purpose, or refused:
- `supervision.runtime.faults.InjectedFault` (RuntimeError): raised by an armed `Fault` in place
  of handling a message, so a rehearsed failure takes the ordinary failure path.
- `supervision.node.assembly.FaultInjectionRefused` (ValueError): fault injection asked of a
  live-mode node (real orders), or of an actor the node does not have.

A fact the pure logic cannot book:
- `actors.portfolio.ledger.UnknownInstrument` (KeyError): a fill for an instrument with no spec.

A new error subclasses `TroupeError` (and the builtin its callers already catch), says in its
docstring when it is raised, and is added to this list.
"""

from __future__ import annotations

__all__ = ["TroupeError"]


class TroupeError(Exception):
    """Base of every exception Troupe raises on purpose. See the module docstring for the kinds."""
