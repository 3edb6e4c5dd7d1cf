"""What Binance charges, in request weight, for each request the adapter makes of its own.

Orders, cancels and replaces are paid by the action budget at the weights the config declares
(`venue.order_weight` ...); the adapter's own requests are paid through the budget too
(`supervision.venues.rest_gate`), at these weights, which are Binance's published ones for the
endpoints ccxt calls here (spot `/api/v3`, USD-M `/fapi`):

| request                          | spot                   | USD-M                       |
|----------------------------------|------------------------|-----------------------------|
| markets (`exchangeInfo`)         | 20                     | 1                           |
| book snapshot (`depth`, limit)   | 5 / 25 / 50 / 250      | 2 / 5 / 10 / 20             |
|                                  | (<=100, 500, 1000, 5000)| (<=50, 100, 500, 1000)     |
| open orders, every symbol        | 80                     | 40                          |
| account                          | 20                     | 5 (and positionRisk 5)      |
| our trades of a symbol           | 20 (`myTrades`)        | 5 (`userTrades`)            |
| our trades of one order          | 5                      | 5                           |
| an order by client id            | 4                      | 1                           |
| listen key: new, keep-alive      | 2                      | 1                           |
| cancel, cancel a symbol's orders | 1                      | 1                           |

A reconciliation is one composite request (`reconcile_weight`): the open orders, the account,
(USD-M) the positions, and the trades of each symbol due a sweep.
"""

from __future__ import annotations

__all__ = ["WEIGHTS", "depth_weight", "reconcile_weight"]

WEIGHTS: dict[str, dict[str, int]] = {
    "spot": {"markets": 20, "open_orders": 80, "account": 20, "positions": 0, "trades": 20,
             "order_trades": 5, "query": 4, "listen_key": 2, "keepalive": 2, "cancel": 1,
             "cancel_all": 1},
    "usdm": {"markets": 1, "open_orders": 40, "account": 5, "positions": 5, "trades": 5,
             "order_trades": 5, "query": 1, "listen_key": 1, "keepalive": 1, "cancel": 1,
             "cancel_all": 1},
}
_DEPTH = {"spot": ((100, 5), (500, 25), (1000, 50), (5000, 250)),
          "usdm": ((50, 2), (100, 5), (500, 10), (1000, 20))}


def depth_weight(dialect: str, limit: int) -> int:
    """A book snapshot of `limit` levels."""
    steps = _DEPTH[dialect]
    return next((weight for most, weight in steps if limit <= most), steps[-1][1])


def reconcile_weight(dialect: str, symbols_swept: int) -> int:
    """A reconciliation reading the trades of `symbols_swept` symbols."""
    w = WEIGHTS[dialect]
    return w["open_orders"] + w["account"] + w["positions"] + w["trades"] * symbols_swept
