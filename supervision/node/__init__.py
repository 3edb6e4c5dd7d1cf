"""A trading node: its assembly from a config, the trading path it wires (`pipeline`: books ->
strategies -> risk -> budget -> venue connection, also used by experiments and tests), its
monitor, the journal (`journal_writer` writes it, `journal` reads it back for a restart), the
live guard, the instance locks (one node per journal and venue account), the venue registry
(`venue.kind` to a venue connection), what it does when part of its tree gives up (the
fail-safe), running it on the live host (`run`; its metrics sink, `node_metrics`; its graceful
stop, `shutdown`; the notice of a halt it restored, `restored`), the process's edges (signals,
console) and what it prints (`status`), backtests in virtual time, and the progress line of a
long run.
"""

__all__ = ['assembly', 'backtest', 'failsafe', 'instance_lock', 'journal', 'journal_writer',
    'live_guard', 'monitor', 'node_metrics', 'observation', 'pipeline', 'process', 'progress',
    'restored', 'run', 'shutdown', 'status', 'venues']
