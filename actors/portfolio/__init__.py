"""Positions and PnL: the exact ledger and the Portfolio actor around it."""

__all__ = ['ledger', 'portfolio_actor']
