"""Venue wire formats: pure parse functions from raw JSON to frozen messages, one module per
venue, and `binance_user` for Binance's account side (user-data events, REST order bodies);
Hyperliquid's account side (`/exchange` actions, user events) is `hyperliquid_user`, and its
price and size rules `hyperliquid_format`."""

__all__ = ["binance", "binance_user", "hyperliquid", "hyperliquid_format", "hyperliquid_user"]
