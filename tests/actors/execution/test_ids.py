"""Nonces and client order ids: unique, increasing, deterministic, restart-stable."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from actors.execution.ids import (
    MAX_CLIENT_ID_LEN,
    ClientOrderIds,
    NonceManager,
    encode_cloid,
    parse_client_order_id,
)
from actors.recovery import recover
from protocols.journal import IdsReserved

BINANCE_CLIENT_ID = re.compile(r"[a-zA-Z0-9_-]{1,36}")
CLOID = re.compile(r"0x[0-9a-f]{32}")


def test_nonce_starts_at_the_given_time_and_increases_under_a_regressing_clock() -> None:
    nonces = NonceManager(now_ms=1_000)
    got = [nonces.next(t) for t in (1_000, 1_000, 999, 500, 1_001, 1_003, 2_000)]
    assert got == [1_000, 1_001, 1_002, 1_003, 1_004, 1_005, 2_000]
    assert nonces.high_water == 2_000


def test_nonce_restored_high_water_is_never_reused() -> None:
    before = NonceManager(now_ms=5_000)
    issued = {before.next(5_000) for _ in range(3)}  # 5000, 5001, 5002
    after = NonceManager(now_ms=4_000, last_used=before.high_water)  # restarted, clock behind
    assert after.next(4_000) == 5_003
    assert after.next(4_001) not in issued


@given(st.integers(0, 10**13), st.lists(st.integers(-(10**6), 10**6), max_size=200))
def test_nonces_strictly_increase_and_never_lag_the_clock(start: int, steps: list[int]) -> None:
    nonces = NonceManager(now_ms=start)
    clock, last = start, start - 1
    for step in steps:
        clock = max(0, clock + step)
        n = nonces.next(clock)
        assert n > last and n >= clock
        last = n


def test_client_order_ids_are_deterministic() -> None:
    a = ClientOrderIds("tr", "mm_btc")
    b = ClientOrderIds("tr", "mm_btc")
    ids = [a.next() for _ in range(3)]
    assert ids == [b.next() for _ in range(3)] == ["tr-mm_btc-1", "tr-mm_btc-2", "tr-mm_btc-3"]
    assert a.high_water == 3


def test_restart_from_the_persisted_high_water_never_reuses_an_id() -> None:
    before = ClientOrderIds("tr", "arb")
    issued = {before.next() for _ in range(1_000)}
    persisted = before.high_water
    after = ClientOrderIds("tr", "arb", high_water=persisted)
    fresh = [after.next() for _ in range(1_000)]
    assert fresh[0] == "tr-arb-1001"
    assert issued.isdisjoint(fresh)


def test_ids_fit_binance_even_at_the_longest() -> None:
    prefix, strategy = "p" * 10, "S_9" * 4  # 10 + 12 + 2 separators + 12 counter digits = 36
    ids = ClientOrderIds(prefix, strategy, high_water=10**12 - 2)
    longest = ids.next()
    assert len(longest) == MAX_CLIENT_ID_LEN
    assert BINANCE_CLIENT_ID.fullmatch(longest)


@pytest.mark.parametrize(
    ("prefix", "strategy"),
    [("tr", "has-dash"), ("", "x"), ("tr", "sp ace"), ("tr", "ü"), ("p" * 11, "S" * 12)],
)
def test_invalid_or_too_long_parts_are_refused(prefix: str, strategy: str) -> None:
    with pytest.raises(ValueError):
        ClientOrderIds(prefix, strategy)


def test_parse_round_trips_and_refuses_foreign_ids() -> None:
    assert parse_client_order_id("tr-mm_btc-42") == ("tr", "mm_btc", 42)
    assert parse_client_order_id("x_AbC123") is None


def test_cloid_is_34_chars_deterministic_and_carries_the_counter() -> None:
    cloid = encode_cloid("tr-mm_btc-42")
    assert len(cloid) == 34 and CLOID.fullmatch(cloid)
    assert cloid == encode_cloid("tr-mm_btc-42")
    assert int(cloid[-16:], 16) == 42
    # Same strategy: same high half, so consecutive ids cannot collide.
    assert encode_cloid("tr-mm_btc-43")[:18] == cloid[:18] != encode_cloid("tr-other-42")[:18]
    assert cloid != encode_cloid("tr-mm_btc-43")


def test_cloid_of_a_foreign_id_is_a_hash() -> None:
    cloid = encode_cloid("some-foreign-order")
    assert CLOID.fullmatch(cloid) and cloid == encode_cloid("some-foreign-order")
    assert cloid != encode_cloid("some-foreign-orders")


@given(st.integers(1, 10**12 - 1), st.integers(1, 10**12 - 1))
def test_cloids_of_distinct_counters_are_distinct(a: int, b: int) -> None:
    assert (encode_cloid(f"tr-s-{a}") == encode_cloid(f"tr-s-{b}")) == (a == b)


def test_ids_are_reserved_in_the_journal_a_half_block_ahead_of_use() -> None:
    reserved: list[IdsReserved] = []
    ids = ClientOrderIds("tr", "mm", 7, block=10, reserve=reserved.append)
    assert reserved == [IdsReserved("tr", "mm", 17)]  # before the first id is issued
    issued = []
    for _ in range(25):
        issued.append(int(ids.next().rsplit("-", 1)[1]))
        # Every id issued, and the next half block, was reserved before it was handed out.
        assert reserved[-1].up_to >= issued[-1] + 5
    assert issued == list(range(8, 33))
    assert [r.up_to for r in reserved] == [17, 27, 37, 47]
    assert ClientOrderIds("tr", "mm", 3).reserved == 3  # no reserve hook: nothing ahead


def test_a_kill_after_a_reservation_restarts_above_it() -> None:
    reserved: list[IdsReserved] = []
    ids = ClientOrderIds("tr", "mm", 0, block=10, reserve=reserved.append)
    for _ in range(3):
        ids.next()  # these three never reached any other record: killed right after
    lines = [{"seq": n + 1, "ts_ns": 0, "mono_ns": 0, "kind": "IdsReserved", "source": "mm",
              "data": {"prefix": r.prefix, "strategy": r.strategy, "up_to": r.up_to}}
             for n, r in enumerate(reserved)]
    restarted = ClientOrderIds("tr", "mm", recover(lines).high_water("tr", "mm"))
    assert int(restarted.next().rsplit("-", 1)[1]) > 3
