"""Prometheus metrics: the catalogue of every metric, the node's sink, and what is computed at
scrape time.
"""

__all__ = ['catalog', 'prometheus', 'scrape', 'series']
