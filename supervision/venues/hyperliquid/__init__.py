"""Hyperliquid perps (and HIP-3 builder-deployed DEXs): REST through ccxt's `hyperliquid` client
on a worker thread (it signs actions), streams over trio-websocket on the node's loop.
Registered in `supervision.node.venues` as kind `hyperliquid`.

| module      | what it holds                                                              |
|-------------|----------------------------------------------------------------------------|
| `nonces`    | nonces that never repeat across bursts and restarts (a file reserved ahead)|
| `batching`  | the 100 ms action batcher, ALO apart from IOC/GTC, pure                    |
| `client`    | ccxt's client pointed at a base URL, signing; whole-action refusals        |
"""

__all__ = ["batching", "client", "nonces"]
