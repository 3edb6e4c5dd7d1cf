"""The embedded simulated venue: matching, account, latency and queue models, the SimVenue actor,
and synthetic market flow.
"""

__all__ = ['account', 'exchange', 'latency', 'matching', 'queue_models', 'synthetic_market',
    'venue']
