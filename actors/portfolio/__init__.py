"""Positions and PnL: the exact ledger (`ledger`), the average-cost position of one instrument it
sums (`holding`), its running sums in integers where marks move them (`running_sums`), the
decomposed fills and totals it gives reports (`fill_records`), and the Portfolio actor around it
(`portfolio_actor`)."""

__all__ = ['fill_records', 'holding', 'ledger', 'portfolio_actor', 'running_sums']
