"""Venue wire formats: pure parse functions from raw JSON to frozen messages, one module per
venue, and `binance_user` for Binance's account side (user-data events, REST order bodies)."""

__all__ = ["binance", "binance_user", "hyperliquid"]
