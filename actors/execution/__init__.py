"""Getting intents onto the wire: client order ids and nonces, token buckets, the priority action
queue, the ActionBudget actor, the order lifecycle and the venue-connection session.
"""

__all__ = ['action_queue', 'budget_actor', 'ids', 'order_lifecycle', 'token_bucket',
    'venue_session']
