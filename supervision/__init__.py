"""Everything that does I/O or owns threads: the actor runtime (`runtime/`, which knows nothing of
trading), the trading node (`node/`), its configuration (`config/`), control plane (`control/`),
metrics (`metrics/`), the actor-introspection REPL (`repl/`), market sources (`sources/`),
experiments (`experiments/`) and the command line (`main`). It imports `actors` and
`protocols`; nothing imports it.
"""

__all__ = ['config', 'control', 'experiments', 'main', 'metrics', 'node', 'repl', 'runtime',
           'sources']
