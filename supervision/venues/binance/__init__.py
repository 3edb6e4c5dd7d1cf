"""Binance spot and USD-M futures: REST through ccxt's synchronous client in worker processes
on two lanes (orders, exits), streams over trio-websocket on the node's loop. Registered in
`supervision.node.venues` as kinds `binance` and `binance_usdm`.

| module      | what it holds                                                              |
|-------------|----------------------------------------------------------------------------|
| `adapter`   | the registry's builder: settings from the config, the transport, its I/O  |
| `transport` | `BinanceTransport`: markets, streams, books' snapshots, requests out      |
| `settings`  | `BinanceSettings`, and the ccxt method of each request in each dialect    |
| `orders`    | what the venue's answers about orders mean (REST and user-data stream)    |
| `amend`     | replaces (spot cancel-replace, USD-M modify) and USD-M batches            |
| `exits`     | the exits' own REST lane; a cancel-all takes back the new orders queued   |
| `fills`     | fills the user stream missed: myTrades sweeps, orders settled at the venue |
| `reconcile` | the start-up summary (adopted, cancelled, unknown) and positions, pure    |
| `mapping`   | specs from exchangeInfo, order parameters, reports and reject codes, pure |
| `io`        | the answers, a ccxt worker thread, the websocket readers              |
| `rest_process` | a ccxt worker process, its answers read on the loop: off the GIL |
| `rest_pool` | a lane of worker processes: symbols at once, a symbol's requests in order |
| `client`    | ccxt's client pointed at a base URL; ccxt exceptions as outcome kinds      |
| `weights`   | Binance's request weight of each request the adapter makes of its own     |
"""

__all__ = ["adapter", "amend", "client", "exits", "fills", "io", "mapping", "orders", "reconcile",
           "rest_pool", "rest_process", "settings", "transport", "weights"]
