"""OrderBook: level semantics, derived values, freshness, and a stateful model check."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from actors.market.l2_book import OrderBook, levels_to_units, parse_units
from protocols.codec import MEMO_LIMIT, DecodeError, LevelConverter, Side

BUY, SELL = Side.BUY, Side.SELL


def book_with(bids: list[tuple[int, int]], asks: list[tuple[int, int]]) -> OrderBook:
    book = OrderBook()
    book.apply_snapshot(bids, asks, recv_ns=1_000)
    return book


def test_empty_book_has_no_prices() -> None:
    book = OrderBook()
    assert book.best_bid is None and book.best_ask is None
    assert book.spread is None and book.mid_x2 is None and book.mid_price(D("0.01")) is None
    assert not book.crossed
    assert book.depth(BUY, 5) == [] and book.depth(SELL, 5) == []
    assert book.last_update_ns is None


def test_snapshot_sets_best_spread_and_half_tick_mid() -> None:
    book = book_with([(100, 5), (99, 7), (97, 1)], [(101, 2), (103, 4)])
    assert (book.best_bid, book.best_ask) == (100, 101)
    assert book.spread == 1
    assert book.mid_x2 == 201  # the mid is 100.5 ticks
    assert book.mid_price(D("0.01")) == D("1.005")
    assert book.depth(BUY, 2) == [(100, 5), (99, 7)]
    assert book.depth(SELL, 10) == [(101, 2), (103, 4)]
    assert (book.level_count(BUY), book.level_count(SELL)) == (3, 2)


def test_snapshot_replaces_both_sides_and_skips_zero_levels() -> None:
    book = book_with([(100, 5)], [(101, 2)])
    book.apply_snapshot([(90, 1), (95, 0)], [(120, 3)], recv_ns=2_000)
    assert book.depth(BUY, 10) == [(90, 1)]
    assert book.depth(SELL, 10) == [(120, 3)]
    assert book.qty_at(BUY, 100) == 0


def test_diff_updates_inserts_and_deletes() -> None:
    book = book_with([(100, 5), (99, 7)], [(101, 2), (102, 4)])
    book.apply_diff([(99, 3), (100, 0), (98, 1)], [(101, 0), (104, 9)], recv_ns=2_000)
    assert book.depth(BUY, 5) == [(99, 3), (98, 1)]  # best deleted: next best takes over
    assert book.depth(SELL, 5) == [(102, 4), (104, 9)]
    assert (book.best_bid, book.best_ask) == (99, 102)
    assert book.last_update_ns == 2_000


def test_deleting_an_absent_level_is_a_no_op() -> None:
    book = book_with([(100, 5)], [(101, 2)])
    book.apply_diff([(50, 0)], [(500, 0)], recv_ns=2_000)
    assert book.depth(BUY, 5) == [(100, 5)] and book.depth(SELL, 5) == [(101, 2)]


def test_deleted_then_readded_level_is_best_again() -> None:
    book = book_with([(100, 5), (90, 1)], [(110, 1)])
    book.apply_diff([(100, 0)], [], recv_ns=2)
    assert book.best_bid == 90
    book.apply_diff([(100, 8)], [], recv_ns=3)
    assert book.best_bid == 100 and book.qty_at(BUY, 100) == 8
    book.apply_diff([(100, 0)], [], recv_ns=4)  # a stale heap duplicate of 100 must not return
    assert book.best_bid == 90


@pytest.mark.parametrize(
    ("bid", "ask", "crossed"), [(100, 101, False), (101, 101, True), (102, 101, True)]
)
def test_crossed_when_bid_at_or_above_ask(bid: int, ask: int, crossed: bool) -> None:
    book = book_with([(bid, 1)], [(ask, 1)])
    assert book.crossed is crossed
    assert book.spread == ask - bid


def test_one_sided_book_is_not_crossed() -> None:
    assert not book_with([(100, 1)], []).crossed
    assert not book_with([], [(100, 1)]).crossed


def test_apply_updates_matches_apply_diff() -> None:
    a = book_with([(100, 5), (99, 7)], [(101, 2)])
    b = book_with([(100, 5), (99, 7)], [(101, 2)])
    a.apply_diff([(100, 0), (98, 4)], [(101, 3), (105, 1)], recv_ns=5)
    b.apply_updates([(BUY, 100, 0), (SELL, 101, 3), (BUY, 98, 4), (SELL, 105, 1)], recv_ns=5)
    for side in Side:
        assert a.depth(side, 10) == b.depth(side, 10)
    assert b.last_update_ns == 5


def test_heap_stays_bounded_under_churn() -> None:
    book = book_with([(100, 1)], [(200, 1)])
    for i in range(5_000):  # insert, then delete, the same inner level over and over
        book.apply_diff([(150, 3)], [(160, 3)], recv_ns=2 * i)
        book.apply_diff([(150, 0)], [(160, 0)], recv_ns=2 * i + 1)
    assert book.best_bid == 100 and book.best_ask == 200
    # lazy deletion leaves duplicates behind; compaction keeps them O(levels)
    assert len(book._bid_heap) <= 2 * 2 + 64 + 1
    assert len(book._ask_heap) <= 2 * 2 + 64 + 1


def test_freshness_uses_the_callers_monotonic_time() -> None:
    book = OrderBook()
    assert not book.is_fresh(now_ns=10**9, max_age_ns=10**9)
    book.apply_diff([(1, 1)], [], recv_ns=5_000)
    assert book.is_fresh(now_ns=6_000, max_age_ns=1_000)  # exactly max age: still fresh
    assert not book.is_fresh(now_ns=6_001, max_age_ns=1_000)


def test_decimal_strings_convert_to_exact_units() -> None:
    assert parse_units("61837.63000000", D("0.01")) == 6_183_763
    assert parse_units("93.75658700", D("0.00000001")) == 9_375_658_700
    assert parse_units("0.00000000", D("0.00000001")) == 0
    assert levels_to_units([("105055.0", "3.03622", 5)], D("1"), D("0.00001")) == [
        (105_055, 303_622)
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("61837.635", "not a non-negative multiple of 0.01"),
        ("-1.00", "not a non-negative multiple"),
        ("abc", "not a decimal number"),
        ("", "not a decimal number"),
    ],
)
def test_bad_decimal_strings_are_decode_errors(text: str, message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        parse_units(text, D("0.01"))


def test_levels_must_hold_strings() -> None:
    with pytest.raises(DecodeError, match="should hold decimal strings"):
        levels_to_units([(61837.63, "1")], D("0.01"), D("0.01"))


def test_level_converter_memo_is_bounded_and_exact() -> None:
    units = LevelConverter(D("0.01"), D("0.001"), max_entries=2)
    levels = [("1.00", "0.000"), ("1.01", "0.001"), ("1.02", "0.000"), ("1.00", "2.5")]
    assert units.convert(levels) == [(100, 0), (101, 1), (102, 0), (100, 2500)]
    assert units.convert(levels) == [(100, 0), (101, 1), (102, 0), (100, 2500)]
    # two generations of at most 2 strings each
    assert len(units._ticks) + len(units._ticks._old) <= 4
    assert len(units._lots) + len(units._lots._old) <= 4
    with pytest.raises(DecodeError, match="should hold decimal strings"):
        units.convert([("1.00", 5)])
    with pytest.raises(DecodeError, match="should hold decimal strings"):
        units.convert([(["1.00"], "1")])  # unhashable: still the one clear error
    with pytest.raises(DecodeError, match=r"not a non-negative multiple of 0\.01"):
        units.convert([("1.001", "1")])
    assert "1.001" not in units._ticks  # what does not count is not kept


def test_a_string_still_in_use_survives_the_memo_turnover() -> None:
    units = LevelConverter(D("0.01"), D("0.001"), max_entries=2)
    units.convert([("1.00", "1")])
    for price in ("1.01", "1.02", "1.03", "1.04"):  # 1.00 comes back between every new price
        units.convert([(price, "1"), ("1.00", "1")])
    assert "1.00" in units._ticks or "1.00" in units._ticks._old


def test_converters_of_the_same_units_share_one_memo_sized_for_all_of_them() -> None:
    tick, lot = D("0.0001"), D("0.0000001")  # units no other test uses
    first = LevelConverter(tick, lot)
    first.convert([("2.5000", "0.0000000")])
    second = LevelConverter(tick, lot)
    assert second._ticks is first._ticks and "2.5000" in second._ticks  # found, not reconverted
    assert second.convert([("2.5000", "0.0000000")]) == [(25_000, 0)]
    memo = first._ticks
    holders = memo._holders  # 2 here, unless another test still holds these units
    third = LevelConverter(tick, lot)
    assert memo._limit == MEMO_LIMIT * (holders + 1)  # a memo of its own's room, per converter
    del third
    assert memo._limit == MEMO_LIMIT * holders
    assert LevelConverter(tick, lot, max_entries=8)._ticks is not first._ticks


# --- stateful model check ----------------------------------------------------------------------

PRICES = st.integers(min_value=1, max_value=40)  # narrow: levels collide, books cross
QTYS = st.integers(min_value=0, max_value=4)  # 0 deletes, and is drawn often
LEVELS = st.lists(st.tuples(PRICES, QTYS), max_size=12)


class BookModel(RuleBasedStateMachine):
    """The book against a reference that is obviously right: two dicts and sorting."""

    def __init__(self) -> None:
        super().__init__()
        self.book = OrderBook()
        self.model: dict[Side, dict[int, int]] = {BUY: {}, SELL: {}}
        self.now = 0

    def _tick(self) -> int:
        self.now += 1
        return self.now

    def _model_apply(self, side: Side, levels: list[tuple[int, int]]) -> None:
        for price, qty in levels:
            if qty:
                self.model[side][price] = qty
            else:
                self.model[side].pop(price, None)

    @rule(bids=LEVELS, asks=LEVELS)
    def snapshot(self, bids: list[tuple[int, int]], asks: list[tuple[int, int]]) -> None:
        self.book.apply_snapshot(bids, asks, self._tick())
        # a snapshot may list a price twice; like dict(), the last one wins
        self.model = {BUY: {}, SELL: {}}
        self._model_apply(BUY, bids)
        self._model_apply(SELL, asks)

    @rule(bids=LEVELS, asks=LEVELS)
    def diff(self, bids: list[tuple[int, int]], asks: list[tuple[int, int]]) -> None:
        self.book.apply_diff(bids, asks, self._tick())
        self._model_apply(BUY, bids)
        self._model_apply(SELL, asks)

    @rule(updates=st.lists(st.tuples(st.sampled_from(Side), PRICES, QTYS), max_size=12))
    def updates(self, updates: list[tuple[Side, int, int]]) -> None:
        self.book.apply_updates(updates, self._tick())
        for side, price, qty in updates:
            self._model_apply(side, [(price, qty)])

    @rule(side=st.sampled_from(Side), data=st.data())
    def delete_existing_level(self, side: Side, data: st.DataObject) -> None:
        if self.model[side]:
            price = data.draw(st.sampled_from(sorted(self.model[side])))
            self.book.apply_updates([(side, price, 0)], self._tick())
            del self.model[side][price]

    @rule(side=st.sampled_from(Side))
    def delete_best_level(self, side: Side) -> None:
        if self.model[side]:
            price = max(self.model[side]) if side is BUY else min(self.model[side])
            self.book.apply_updates([(side, price, 0)], self._tick())
            del self.model[side][price]

    @invariant()
    def matches_model(self) -> None:
        bids = sorted(self.model[BUY].items(), reverse=True)
        asks = sorted(self.model[SELL].items())
        best_bid = bids[0][0] if bids else None
        best_ask = asks[0][0] if asks else None
        assert self.book.best_bid == best_bid
        assert self.book.best_ask == best_ask
        assert self.book.depth(BUY, 3) == bids[:3]
        assert self.book.depth(SELL, 3) == asks[:3]
        assert self.book.depth(BUY, 100) == bids
        assert self.book.depth(SELL, 100) == asks
        crossed = best_bid is not None and best_ask is not None and best_bid >= best_ask
        assert self.book.crossed is crossed
        if best_bid is not None and best_ask is not None:
            assert self.book.spread == best_ask - best_bid
            assert self.book.mid_x2 == best_ask + best_bid
        assert self.book.level_count(BUY) == len(bids)
        assert self.book.level_count(SELL) == len(asks)
        assert self.book.last_update_ns == (self.now or None)


BookModel.TestCase.settings = settings(max_examples=300, stateful_step_count=40, deadline=None)
test_book_matches_reference_model = BookModel.TestCase
