"""Real venue adapters: the I/O end of a venue connection, one package per venue.

Each is a transport under the generic `actors.execution.venue_connection.VenueConnection`
(the contract is `actors.execution.venue_transport`), registered by kind in the node's venue
registry. Sockets and threads live here and nowhere else; the wire formats they speak are pure
codecs in `protocols.venues`. What every adapter does alike lives beside them: `lookups`, the
cycle that settles a request whose answer was lost (UNKNOWN, then a look-up by client id), and
`rest_gate`, which holds an adapter's own requests (snapshots, reconciliations) while the venue
asks us to wait.
"""

__all__ = ["binance", "hyperliquid", "lookups", "rest_gate"]
