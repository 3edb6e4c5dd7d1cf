"""Configuration: TOML into frozen attrs classes, strictly, with secrets by reference only; and the
effective config back as TOML.

The schema, one module per group of sections: `node` (`NodeConfig` and the node-wide sections),
`venue`, `market`, `trading` (instruments, strategies), `operations` (control plane, journal,
REPL, metrics, report, observation), `experiment` (an `[experiment]` file), and `fields` (the
validators they share). Reading and writing: `load` (the entry point), `overrides` (`--set`
applied to the TOML), `structure`, `secrets`, `dump`, `log_redaction`.
"""

__all__ = [
    'dump',
    'experiment',
    'fields',
    'load',
    'log_redaction',
    'market',
    'node',
    'operations',
    'overrides',
    'secrets',
    'structure',
    'trading',
    'venue',
]
