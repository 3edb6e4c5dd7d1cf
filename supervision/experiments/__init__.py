"""Experiments run through the real actors: Avellaneda & Stoikov (2008), section 3.3; sweeps and
optimisation of backtests, on local processes or a Dask cluster (`cli`, docs/backtest.md)."""

__all__ = ['as_report', 'avellaneda_stoikov', 'cli', 'executors', 'jobs', 'optimize', 'ranking',
           'spans', 'sweep', 'sweep_html', 'variants']
