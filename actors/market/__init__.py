"""Market data inside the troupe: the L2 book and its venue sync machines, the OrderBook and Market
actors, and the venue's quantization rules.
"""

__all__ = ['book_actor', 'book_feed', 'l2_book', 'market_actor', 'observation', 'quantization']
