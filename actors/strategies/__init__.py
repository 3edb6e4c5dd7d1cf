"""Strategies: pure engines behind one shell, the kit they share, and the built-in market maker and
dislocation taker.
"""

__all__ = ['kit', 'market_maker', 'quoting_models', 'taker', 'taker_edge']
