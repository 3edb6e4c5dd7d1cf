"""Data only: the messages actors exchange, codecs and wire formats. Imports nothing from the rest
of Troupe (`tests/test_layers.py` checks it), so every layer can share these records.

Orders and their answers (`orders`), decisions and refusals (`decisions`), market events
(`market`), instrument specs (`instruments`), portfolio state (`portfolio`), venue state and
reconciliation (`venue_state`), book feed plumbing (`feed`), the risk gate's records and commands
(`risk`), commands that stop order flow (`commands`), journal records (`journal`) and their
codec (`journal_codec`), control-plane schemas (`control`), runtime records (`runtime`), the one
exception base (`errors`), shared codec pieces (`codec`), recordings (`recording`), observation
statistics (`observation`) and the venues' wire formats (`venues/`).
"""

__all__ = ['codec', 'commands', 'control', 'decisions', 'errors', 'feed', 'instruments', 'journal',
    'journal_codec', 'market', 'observation', 'orders', 'portfolio', 'recording', 'risk', 'runtime',
    'venue_state', 'venues']
