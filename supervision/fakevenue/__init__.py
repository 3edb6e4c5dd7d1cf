"""A fake Binance on loopback, for tests and rehearsals: `python -m supervision.fakevenue`.

It speaks Binance's real wire formats, so the real ccxt client and the real stream code run
against it: REST (hypercorn) for markets, depth snapshots, orders, balances, trades and the
listen key; websockets (trio-websocket) for the recorded market streams and a user-data stream
of the orders it receives. Orders match against the recorded flow with the simulated venue's
engine (`actors.sim.exchange`). Faults are scripted per test (`supervision.fakevenue.faults`).

| module     | what it holds                                                        |
|------------|----------------------------------------------------------------------|
| `venue`    | `FakeVenue`: both servers, the replay, order events, exchangeInfo    |
| `market`   | the recording as Binance streams (spot or USD-M), the venue's book   |
| `desk`     | order endpoints over the matching engine; Binance's order words      |
| `amend`    | cancel-replace, modify, batch orders and cancels                     |
| `limits`   | request weight and order counts as Binance counts them; headers      |
| `rest`     | the REST API as an ASGI app; weight headers, 429s, `/fake/*`         |
| `streams`  | the websocket server: combined streams, SUBSCRIBE, user data         |
| `faults`   | the fault script                                                     |
| `cli`      | the command lines' argument types; Ctrl-C and a taken port, cleanly  |
| `hyperliquid` | the fake Hyperliquid: `/info`, `/exchange`, its websocket, the looped |
|            | recording with a synthesised `activeAssetCtx`                        |
| `hyperliquid_desk` | its `/exchange` actions over the matching engine, the nonce rule |
"""

from supervision.fakevenue.faults import Faults
from supervision.fakevenue.venue import FakeVenue, FakeVenueThread

__all__ = ["FakeVenue", "FakeVenueThread", "Faults"]
