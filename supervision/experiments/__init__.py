"""Experiments run through the real actors: Avellaneda & Stoikov (2008), section 3.3; sweeps and
optimisation of backtests, on local processes or a Dask cluster (`cli`, docs/backtest.md)."""

__all__ = ['as_paper', 'as_report', 'as_run', 'as_tables', 'avellaneda_stoikov', 'cli',
           'executors', 'jobs', 'optimize', 'ranking', 'spans', 'sweep', 'sweep_html', 'variants']
