"""Reconciling with Binance, pure: the start-up summary and the account as `VenuePositions`.

Start-up (`summarize`), fail closed: every order open at the venue is either ours and known to
the journal (`adopted`: it rests on, told to the session as a `VenueOrder`, so its fills reach
the portfolio; one whose report comes before the reconciliation is adopted then) or
not (`cancelled`: an order nobody here can account for is taken off the book, except in observe
mode, where it is only reported); every order the journal left open that the venue does not
list is `unknown` (filled or cancelled while we were away: its fills come from `myTrades` and
the state machine's reconciliation). Trading is not ready until this has run.

Positions (`positions_of`): USD-M reports signed positions (`positionRisk`'s `positionAmt`) and
wallet balances. Spot has no positions: a spot instrument's position is the base asset held
beyond its starting inventory (`SpotInventory`): the configured `venue.starting_inventory`, else
the journal's, else, at the first start on the account, the balance found then (journaled with
the opening, so the next start counts from the same amount). The first reconciliation takes
the venue's balance as the truth: each instrument's opening (`PositionAdopted`, for the
portfolio, which books its fills on top of it) is the balance beyond the starting inventory,
less the fills the portfolio books that the balance already held; the start-up summary says
where each opens and how much of it the journal's fills explain (the rest was traded while the
node was away, or by another client of the account). From then on the venue's side is the
balance beyond the starting inventory plus the commissions paid in the base asset since
(Binance takes a buy's fee from what it bought: the balance grows by less than the fill). The
inventory belongs to the node, not to one connection: a restarted connection keeps it (the
registry's `venue` builder makes it once per node), so its first reconciliation is not a fresh
start. A trade the node did not make (another client of the account) is a drift.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import attrs

from protocols.instruments import InstrumentSpec
from protocols.orders import Fill
from protocols.portfolio import PositionAdopted, VenuePositions
from protocols.venues.binance_user import OrderUpdate

__all__ = ["SpotInventory", "StartSummary", "UsdmOpenings", "base_asset", "positions_of",
           "summarize", "usdm_openings"]


@attrs.frozen(slots=True)
class StartSummary:
    adopted: tuple[str, ...]
    cancelled: tuple[str, ...]
    unknown: tuple[str, ...]
    positions: tuple[str, ...] = ()  # spot: where each instrument's position opens, and why

    def line(self) -> str:
        return (f"{len(self.adopted)} adopted, {len(self.cancelled)} cancelled, "
                f"{len(self.unknown)} unknown"
                + "".join(f"; {k}: {', '.join(v[:5])}" for k, v in (
                    ("adopted", self.adopted), ("cancelled", self.cancelled),
                    ("unknown", self.unknown)) if v)
                + "".join(f"; {text}" for text in self.positions))


def summarize(venue_open: Sequence[OrderUpdate], expected: frozenset[str]) -> StartSummary:
    at_venue = [u.client_order_id for u in venue_open]
    return StartSummary(
        adopted=tuple(sorted(c for c in at_venue if c in expected)),
        cancelled=tuple(sorted(c for c in at_venue if c not in expected)),
        unknown=tuple(sorted(expected - set(at_venue))))


def _balances(account: Mapping[str, Any]) -> dict[str, Decimal]:
    if "balances" in account:  # spot
        return {b["asset"]: Decimal(b["free"]) + Decimal(b["locked"])
                for b in account["balances"]}
    return {a["asset"]: Decimal(a["walletBalance"]) for a in account.get("assets", ())}


@attrs.define
class SpotInventory:
    """A spot account's inventory as the venue's balances show it, for one node (see above).

    `configured` (`venue.starting_inventory`) and `remembered` (the journal's, with where it
    came from) give each base asset's starting inventory; `expected` is the position the
    journal expects per instrument, for the start-up summary.

    Whether a fill is already in the baseline balance is decided by the venue's clocks, not by
    which answer reached us first: the account's `updateTime` against the fill's trade time
    (`T`), since the account read and the fill's event travel separately. Without times, a fill
    booked before the baseline is taken is in it, one booked after is not. A fill found to be
    in it after the opening was adopted corrects the opening (the portfolio books it on top).
    The same clocks make every reconciliation compare both sides after the same fills: a booked
    fill executed after the balance's time is added to the venue's side until a balance holds
    it (a fill the balance holds whose event is still on its way is the reverse gap, which
    clears at the next reconciliation: the portfolio alerts only on a gap that stays)."""

    configured: Mapping[str, Decimal] = attrs.Factory(dict)
    remembered: Mapping[str, tuple[Decimal, str]] = attrs.Factory(dict)
    expected: Mapping[str, int] = attrs.Factory(dict)
    baseline: dict[str, Decimal] | None = None  # base asset -> balance at the first reconcile
    as_of_ms: int | None = None  # the venue's time of that balance (the account's updateTime)
    starting: dict[str, tuple[Decimal, str]] = attrs.Factory(dict)  # base -> (amount, source)
    opening: dict[str, int] = attrs.Factory(dict)  # instrument -> lots held at the baseline
    booked_before: dict[str, int] = attrs.Factory(dict)  # instrument -> lots in the baseline
    fees: dict[str, Decimal] = attrs.Factory(dict)  # base asset -> commission paid since
    _lot: dict[str, tuple[str, Decimal]] = attrs.Factory(dict)  # instrument -> (base, lot)
    _adopted: list[PositionAdopted] = attrs.Factory(list)  # openings not yet handed over
    _early: list[tuple[str, str, int, Fill, int]] = attrs.Factory(list)  # before the baseline
    _seen: OrderedDict[str, None] = attrs.Factory(OrderedDict)  # fill ids: each counts once
    # Fills booked after the baseline, by trade time, until a balance is known to hold them.
    _pending: deque[tuple[str, int, int]] = attrs.Factory(deque)

    def on_fill(self, name: str, symbol: str, fill: Fill, buy: bool, time_ms: int = 0) -> None:
        """A fill the portfolio books (the venue's trade id makes a duplicate report harmless);
        `time_ms`: the venue's trade time, 0 if unknown."""
        if fill.fill_id in self._seen:
            return
        self._seen[fill.fill_id] = None
        if len(self._seen) > 50_000:
            self._seen.popitem(last=False)
        signed = fill.qty if buy else -fill.qty
        if self.baseline is None:
            self._early.append((name, base_asset(symbol), signed, fill, time_ms))
        else:
            self._count(name, base_asset(symbol), signed, fill, time_ms, in_baseline=False)

    def _count(self, name: str, base: str, signed: int, fill: Fill, time_ms: int, *,
               in_baseline: bool) -> None:
        if self.as_of_ms is not None and time_ms:
            in_baseline = time_ms <= self.as_of_ms
        if in_baseline:  # the balance we started from has it; the portfolio books it on top
            self.booked_before[name] = self.booked_before.get(name, 0) + signed
            self._open(name)
            return
        if fill.fee_asset == base:
            self.fees[base] = self.fees.get(base, Decimal(0)) + Decimal(fill.fee)
        if time_ms:
            self._pending.append((name, signed, time_ms))

    def positions(self, balances: Mapping[str, Decimal], specs: Mapping[str, InstrumentSpec],
                  symbols: Mapping[str, str], as_of_ms: int | None = None) -> dict[str, int]:
        """Signed lots per instrument: the base asset held beyond its starting inventory, plus
        the base-asset fees paid since the baseline (the portfolio counts fills, not what is
        left of them). The first call sets the baseline (`as_of_ms`: the venue's time of these
        balances, if it said) and the openings (`adopted`)."""
        if self.baseline is None:
            self._start(balances, specs, symbols, as_of_ms)
        assert self.baseline is not None
        lots = {}
        for symbol, name in symbols.items():
            base = base_asset(symbol)
            start = self.starting.get(base, (Decimal(0), ""))[0]
            held = balances.get(base, Decimal(0)) - start + self.fees.get(base, Decimal(0))
            lots[name] = int(held / specs[name].lot_step)
        for name, signed in self._executed_after(as_of_ms):
            if name in lots:
                lots[name] += signed
        return lots

    def _start(self, balances: Mapping[str, Decimal], specs: Mapping[str, InstrumentSpec],
               symbols: Mapping[str, str], as_of_ms: int | None) -> None:
        self.baseline, self.as_of_ms = {}, as_of_ms
        for symbol, name in symbols.items():
            base = base_asset(symbol)
            held = self.baseline[base] = balances.get(base, Decimal(0))
            if base in self.configured:
                self.starting[base] = (self.configured[base], "config")
            elif base in self.remembered:
                self.starting[base] = (self.remembered[base][0], "journal")
            else:  # the first start on this account: what it holds now is where it starts
                self.starting[base] = (held, "recorded")
            self._lot[name] = (base, specs[name].lot_step)
        for name, base, signed, fill, time_ms in self._early:
            self._count(name, base, signed, fill, time_ms, in_baseline=True)
        self._early.clear()
        for name in self._lot:
            self._open(name)

    def _open(self, name: str) -> None:
        """The instrument's opening: the baseline's lots beyond the starting inventory, less
        the fills in it the portfolio books on top."""
        if self.baseline is None or name not in self._lot:
            return
        base, lot = self._lot[name]
        amount, source = self.starting[base]
        lots = int((self.baseline[base] - amount) / lot) - self.booked_before.get(name, 0)
        if self.opening.get(name) != lots:
            self.opening[name] = lots
            self._adopted.append(PositionAdopted(name, lots, base, amount, source))

    def adopted(self) -> list[PositionAdopted]:
        """The openings set or corrected since the last call, for the portfolio (in order)."""
        out, self._adopted = self._adopted, []
        return out

    def describe(self, name: str) -> str:
        """What the start-up summary says of the instrument's opening."""
        if self.baseline is None or name not in self._lot:
            return ""
        base, lot = self._lot[name]
        amount, source = self.starting[base]
        lots = self.opening[name] + self.booked_before.get(name, 0)
        text = (f"{name} opens at {_plain(lots * lot)} {base} ({lots} lots): "
                f"{_plain(self.baseline[base])} {base} held, ")
        if source == "recorded":
            return text + ("recorded as the starting inventory (the first start on this "
                           "account; venue.starting_inventory sets another)")
        text += f"starting inventory {_plain(amount)} {base} ({source})"
        expected = self.expected.get(name)
        if expected is None:
            return text
        if expected == lots:
            return text + "; the journal's fills explain it"
        return (text + f"; the journal's fills explain {expected} lots, {lots - expected} not "
                "(traded while this node was away, or by another client of the account)")

    def _executed_after(self, as_of_ms: int | None) -> list[tuple[str, int]]:
        """The booked fills these balances cannot hold yet: executed after the venue's time of
        them. The balance and the fill's event travel separately, and an event can overtake
        the account read; counting them here compares both sides after the same fills. A
        balance holds every fill up to its time, so those are not looked at again."""
        if as_of_ms is None:
            self._pending.clear()
            return []
        while self._pending and self._pending[0][2] <= as_of_ms:
            self._pending.popleft()
        return [(name, signed) for name, signed, time_ms in self._pending if time_ms > as_of_ms]


def positions_of(value: Mapping[str, Any], specs: Mapping[str, InstrumentSpec],
                 symbols: Mapping[str, str], now_ns: int,
                 inventory: SpotInventory | None = None) -> VenuePositions:
    """`value`: {"account": ..., "positions": [...]} as the REST worker fetched them;
    `symbols`: Binance symbol -> our name. `inventory` reads a spot account's positions."""
    balances = _balances(value["account"])
    lots: dict[str, int] = {}
    for row in value.get("positions") or ():
        name = symbols.get(row.get("symbol", ""))
        if name is not None:
            lots[name] = int(Decimal(row["positionAmt"]) / specs[name].lot_step)
    if not value.get("positions") and inventory is not None:
        as_of = value["account"].get("updateTime")
        lots = inventory.positions(balances, specs, symbols,
                                   as_of if isinstance(as_of, int) and as_of > 0 else None)
    return VenuePositions(tuple(sorted(lots.items())), tuple(sorted(balances.items())), now_ns)


def usdm_openings(rows: Sequence[Mapping[str, Any]], specs: Mapping[str, InstrumentSpec],
                  symbols: Mapping[str, str], early: Sequence[tuple[str, int, int]],
                  expected: Mapping[str, int]) -> tuple[list[PositionAdopted], list[str]]:
    """USD-M's openings at start, and what the summary says of each: the venue's signed
    position (`positionRisk`'s `positionAmt`) less the fills the portfolio booked before it
    that the position already holds (`early`: (instrument, signed lots, trade time ms); held
    if executed by the row's `updateTime`, or, without times, all). Every instrument opens
    (at 0 too: the portfolio takes what the account holds, not what the journal remembers);
    the summary names the open ones and whether the journal's fills (`expected`) explain
    them."""
    adopted, said = [], []
    for row in rows:
        name = symbols.get(row.get("symbol", ""))
        if name is None:
            continue
        spec = specs[name]
        held = int(Decimal(row["positionAmt"]) / spec.lot_step)
        as_of = row.get("updateTime")
        within = [signed for n, signed, time_ms in early if n == name
                  and (not time_ms or not isinstance(as_of, int) or not as_of
                       or time_ms <= as_of)]
        adopted.append(PositionAdopted(name, held - sum(within), source="venue"))
        known = expected.get(name)
        if held == 0 and not known:
            continue
        text = f"{name} opens at {_plain(held * spec.lot_step)} ({held} lots) as the venue holds it"
        if known is not None:
            text += ("; the journal's fills explain it" if known == held else
                     f"; the journal's fills explain {known} lots, {held - known} not (traded "
                     "while this node was away, or by another client of the account)")
        said.append(text)
    return adopted, said


@attrs.define
class UsdmOpenings:
    """USD-M: where each position opened at start, and as of when (the `positionRisk` row's
    `updateTime`), so a fill of ours booked after the opening that the position already held
    (a fill of an order that closed while the node was away, found in `userTrades` after the
    positions were read) corrects the opening instead of counting twice. Without a time, a
    fill of an order the start-up found `unknown` (closed while away: before the read) is
    held; any other is not."""

    _opened: dict[str, tuple[int, int | None]] = attrs.Factory(dict)
    _away: frozenset[str] = frozenset()

    def opened(self, openings: Sequence[PositionAdopted], rows: Sequence[Mapping[str, Any]],
               symbols: Mapping[str, str], unknown: Sequence[str]) -> None:
        as_of = {symbols.get(row.get("symbol", "")): row.get("updateTime") for row in rows}
        for opening in openings:
            time_ms = as_of.get(opening.instrument)
            self._opened[opening.instrument] = (
                opening.qty, time_ms if isinstance(time_ms, int) and time_ms > 0 else None)
        self._away = frozenset(unknown)

    def late_fill(self, name: str, signed: int, time_ms: int,
                  client_order_id: str) -> PositionAdopted | None:
        """The corrected opening if the position read at start already held this fill."""
        opened = self._opened.get(name)
        if opened is None:
            return None
        lots, as_of = opened
        held = (time_ms <= as_of) if as_of is not None and time_ms \
            else client_order_id in self._away
        if not held:
            return None
        self._opened[name] = (lots - signed, as_of)
        return PositionAdopted(name, lots - signed, source="venue")


def base_asset(symbol: str) -> str:
    for quote in ("USDT", "USDC", "FDUSD", "BUSD", "BTC", "ETH"):
        if symbol.endswith(quote) and len(symbol) > len(quote):
            return symbol[: -len(quote)]
    return symbol


def _plain(amount: Decimal) -> str:
    return f"{amount.normalize():f}" if amount else "0"
