"""Everything that does I/O or owns threads: the actor runtime (`runtime/`, which knows nothing of
trading), the trading node (`node/`), its configuration (`config/`), control plane (`control/`),
metrics (`metrics/`), the actor-introspection REPL (`repl/`), market sources (`sources/`), the
data catalog of decoded recordings (`catalog/`), experiments (`experiments/`), the real venue
adapters (`venues/`), the fake venue for tests and rehearsals (`fakevenue/`), the command line
(`main`), the recording-to-book tool (`replay`), the trading report's writers (`report`: JSON,
Parquet; `report_html`: the offline page) and the test kit for real hosts (`testing`: a
probe actor, the run-on-both-hosts pytest fixture). It imports `actors` and `protocols`; nothing
imports it.
"""

__all__ = ['catalog', 'config', 'control', 'experiments', 'fakevenue', 'main', 'metrics', 'node',
           'repl', 'replay', 'report', 'report_html', 'runtime', 'sources', 'testing', 'venues']
