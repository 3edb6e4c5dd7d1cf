"""Hyperliquid perps (and HIP-3 builder-deployed DEXs): REST through ccxt's `hyperliquid` client
on a worker thread (it signs actions), streams over trio-websocket on the node's loop.
Registered in `supervision.node.venues` as kind `hyperliquid`.

| module      | what it holds                                                              |
|-------------|----------------------------------------------------------------------------|
| `adapter`   | the registry's builder and preflight: settings from the config, the I/O   |
| `transport` | `HyperliquidTransport`: discovery, streams, market data, user events      |
| `orders`    | its order half: batched actions out, answers in, look-ups, reconciliation |
| `discovery` | market discovery and the preflight checks (DEX, collisions, spot/perp)    |
| `mapping`   | orders to the wire, answers and user events to reports, pure              |
| `batching`  | the 100 ms action batcher, ALO apart from IOC/GTC, pure                    |
| `nonces`    | nonces that never repeat across bursts and restarts (a file reserved ahead)|
| `client`    | ccxt's client pointed at a base URL, signing; whole-action refusals        |
"""

__all__ = ["adapter", "batching", "client", "discovery", "mapping", "nonces", "orders",
           "transport"]
