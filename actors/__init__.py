"""Behaviours: pure state machines over messages, which act only through their context.

One subpackage per concept: `strategies/` (the engines, their shell and kit), `market/` (books,
book sync, market state, quantization), `risk/` (limits, rules, the RiskGate), `execution/`
(budget, action queue, ids, order lifecycle, venue connection), `portfolio/` (ledger and actor),
`sim/` (the embedded simulated venue), `analytics/` (the trading report from a node's journal
records); `behaviour` is the behaviour/context contract, `recovery` the pure fold of a journal
into what a restart gets back (`recovered`), `testing` the fake context. `actors` imports
`protocols`, never `supervision` (`tests/test_layers.py` checks it).
"""

__all__ = ['analytics', 'behaviour', 'execution', 'market', 'portfolio', 'recovered', 'recovery',
    'risk', 'sim', 'strategies', 'testing']
