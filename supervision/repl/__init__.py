"""The actor-introspection REPL: a Python console inside a running node, over a Unix socket.

    python -m supervision.repl [--socket PATH]        # attach to a running node
    python -m supervision.main CONFIG --repl          # start a node with the REPL in front

Erlang's `observer_cli` and `sys:get_state`, trio's console and aiomonitor set the bar: see
which actor is backed up or keeps restarting, what a strategy believes and why it does not
quote, and stop trading from the same place, without stopping the node.

The pieces, each small:

- `wire`: the line protocol between the two ends (JSON objects, one per line). Standard library
  only, like `client`, so attaching needs nothing but Python.
- `client`: the thin terminal end: readline (tab completion asked of the node, history kept in a
  file across sessions), Ctrl-C, and raw keys while `top()` runs.
- `server`: the node's end: a listening socket of mode 0600 whose peers must be the node's own
  user (checked again with SO_PEERCRED), served from threads of its own, never from the trading
  loop or the actors' dispatcher, so it answers while actors are busy or a mailbox is flooded.
- `session`: one attached console (`code.InteractiveConsole`) and its output.
- `console`: a session's namespace, `help()`, and `start_repl`, which the node calls.
- `helpers` (looking), `operations` (changing, and the trading views), `records` (a
  strategy's decisions from the journal's tail), `rendering` (tables, trees and readable state,
  with secrets shown as `***`).
- `foreground`: `--repl`, the node as a child process behind the console.

This package's `__init__` imports nothing, so the client runs without the node's dependencies.
"""

__all__ = ['client', 'console', 'foreground', 'helpers', 'operations', 'records', 'rendering',
           'server', 'session', 'wire']
