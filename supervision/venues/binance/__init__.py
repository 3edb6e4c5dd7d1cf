"""Binance spot and USD-M futures: REST through ccxt's synchronous client, streams over
trio-websocket.

| module   | what it holds                                                             |
|----------|---------------------------------------------------------------------------|
| `client` | ccxt's client pointed at a base URL; ccxt exceptions as outcome kinds      |
"""

__all__ = ["client"]
