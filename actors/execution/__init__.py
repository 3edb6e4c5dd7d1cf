"""Getting intents onto the wire: client order ids and nonces, the venue's rate limits (token
buckets and fixed windows), the priority action queue, the ActionBudget actor, the order
lifecycle, and the venue connection: its session, its generic actor (`venue_connection`), one
instant's market data to a book as one message (`landings`), the adapter contract its
transports keep (`venue_transport`) and a scriptable mock transport for tests
(`mock_transport`).
"""

__all__ = ['action_queue', 'budget_actor', 'connection_records', 'fixed_window', 'ids',
    'landings', 'lost_replaces', 'mock_transport', 'order_lifecycle', 'token_bucket',
    'venue_connection', 'venue_session', 'venue_transport']
