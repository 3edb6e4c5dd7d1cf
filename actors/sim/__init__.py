"""The embedded simulated venue: matching, account, latency and queue models, the exchange that
outlives our connection to it (`venue_end`), the simulated venue's transport (and `SimVenue`,
the generic venue connection over it), and synthetic market flow.
"""

__all__ = [
    'account',
    'exchange',
    'latency',
    'market_state',
    'matching',
    'queue_models',
    'synthetic_market',
    'venue',
    'venue_end',
]
