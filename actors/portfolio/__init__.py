"""Positions and PnL: the exact ledger (`ledger`), the average-cost position of one instrument it
sums (`holding`), the decomposed fills and totals it gives reports (`fill_records`), and the
Portfolio actor around it (`portfolio_actor`)."""

__all__ = ['fill_records', 'holding', 'ledger', 'portfolio_actor']
