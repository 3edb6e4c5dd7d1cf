"""The engine contract: what a strategy is, as far as the shell that runs it is concerned.

A strategy is a pure engine plus a config class. The engine is a state machine over the
messages a strategy gets; each hook returns a `Decision` (intents, at most one WHY, timers,
messages to itself) or None for "nothing to do", and never touches a context, so it is tested
without a host. `actors.strategies.shell.StrategyShell` runs any engine: it routes each message
to its hook, reads the clock, and hands the decision to `actors.strategies.kit.carry_out`.

Times are int nanoseconds: `now` is the monotonic clock (freshness, timeouts, timers), `epoch`
the wall clock (session ends, records). Both are read once per message by the shell.

Required (the engine does not run without them)

    ============================  ==============================================================
    `config_class` (class attr)   the attrs class of its config; the engine is built as
                                  `Engine(config)`. Fields `strategy` (the instance id: metric
                                  label, NoTrade record, client-order-id namespace) and `spec`
                                  (the `InstrumentSpec` it trades) are set by the node, and
                                  `id_high_water` and `ids` too when the class has them:
                                  take client order ids from `config.ids` (one
                                  `ClientOrderIds` for all incarnations, journaled ahead of
                                  use) so a restart never reissues one.
    `config` (attribute)          the config it was built with
    ============================  ==============================================================

Optional (each has a default that does nothing, or reads the config)

    ============================  ==============================================================
    `strategy`, `instrument`      identity for the shell: `config.strategy`, `config.spec.symbol`
    `on_start(now, epoch)`        before the first message: arm a first timer, say
    `on_book(book, ...)`          a `BookTop`: the usual decision point
    `on_trade(trade, ...)`        a public `TradePrint`
    `on_stale(stale, ...)`        `BookStale`: the book cannot be trusted until the next top
    `on_market_state(state, ...)` `MarketState`: spec, status, oracle and mark prices
    `on_report(answer, ...)`      an answer about one of our intents: the venue's reports
                                  (`Ack`, `Reject`, `Fill`, ...), `OwnFill`, the gate's
                                  `RiskRefused` / `Scaled`, the budget's `Dropped`
    `on_wake(cause, ...)`         a timer armed by `Decision.timers` fired; `cause` is its key
    `on_pause(reason, ...)`       an operator's `PauseQuoting` (reason) or `ResumeQuoting` (None)
    `on_message(message, ...)`    anything else: what the engine told itself
                                  (`Decision.to_self`), the gate's broadcasts (`Flatten`,
                                  `TradingStateChanged`, ...)
    `unsent(intent)`              a proposal the risk gate's mailbox refused: it never left, so
                                  no report will settle it; roll the local view back
    `on_stop(now, epoch)`         the actor stops: return the cancels that pull our quotes
                                  (a stopping strategy leaves no quotes behind)
    `inventory_lots()`            the position as the engine sees it, for the inventory gauge
    `snapshot()`                  what introspection shows (no secrets)
    ============================  ==============================================================

Every hook that decides not to trade should say why with exactly one WHY (`Decision.why`, an
`enum.StrEnum` of the engine's own reasons): it is counted and journaled as a `NoTrade`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Protocol

if TYPE_CHECKING:
    from actors.strategies.kit import Decision
    from protocols.market import BookStale, BookTop, MarketState, TradePrint
    from protocols.orders import Intent, IntentAnswer

__all__ = ["Engine"]


class Engine(Protocol):
    """A strategy's pure state machine. Subclass it to inherit the defaults of the optional
    hooks; see the module docstring for the table of hooks."""

    config_class: ClassVar[type[Any]]
    config: Any

    @property
    def strategy(self) -> str:
        return str(self.config.strategy)

    @property
    def instrument(self) -> str:
        return str(self.config.spec.symbol)

    def on_start(self, now: int, epoch: int) -> Decision | None:
        return None

    def on_book(self, book: BookTop, now: int, epoch: int) -> Decision | None:
        return None

    def on_trade(self, trade: TradePrint, now: int, epoch: int) -> Decision | None:
        return None

    def on_stale(self, stale: BookStale, now: int, epoch: int) -> Decision | None:
        return None

    def on_market_state(self, state: MarketState, now: int, epoch: int) -> Decision | None:
        return None

    def on_report(self, answer: IntentAnswer, now: int, epoch: int) -> Decision | None:
        return None

    def on_wake(self, cause: str, now: int, epoch: int) -> Decision | None:
        return None

    def on_pause(self, reason: str | None, now: int, epoch: int) -> Decision | None:
        return None

    def on_message(self, message: Any, now: int, epoch: int) -> Decision | None:
        return None

    def unsent(self, intent: Intent) -> None:
        return None

    def on_stop(self, now: int, epoch: int) -> Decision | None:
        return None

    def inventory_lots(self) -> int | None:
        return None

    def snapshot(self) -> Any:
        return None
