"""Strategies: pure engines behind one shell, the kit they share, the registry that finds them by
kind, a blank template, and the built-in market maker and dislocation taker.
"""

__all__ = ['engine', 'kit', 'market_maker', 'params', 'quoting_models', 'registry', 'shell',
    'taker', 'taker_edge', 'template']
