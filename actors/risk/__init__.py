"""Pre-trade risk: the account's limits, the views and trading state the rules read, the ordered
rules, and the RiskGate actor.
"""

__all__ = ['account', 'gate', 'limits', 'notional_limits', 'rules', 'views']
