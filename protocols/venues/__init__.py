"""Venue wire formats: pure parse functions from raw JSON to frozen messages, one module
per venue."""

__all__ = ["binance", "hyperliquid"]
