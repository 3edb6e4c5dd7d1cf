"""What the console prints: readable state with secrets hidden, tables, trees, and a strategy's
decisions read back from the tail of a journal."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import attrs

from protocols.instruments import InstrumentSpec
from supervision.config.secrets import Secret
from supervision.repl.records import decisions, tail_records
from supervision.repl.rendering import readable, table, tree_lines


@attrs.frozen
class Account:
    name: str
    api_key: Secret
    limits: dict[str, int]


def test_secrets_never_appear_whatever_the_shape() -> None:
    state = {"token": "plain-text-token", "am_token": "x", "api_secret": "y",
             "account": Account("main", Secret("k3y"), {"tokens": 5}),
             "nested": [{"password": "hunter2"}], "held": Secret("s3cret"),
             "tokens": {"orders_10s": 7}}
    text = "\n".join(readable(state))
    for secret in ("plain-text-token", "k3y", "hunter2", "s3cret"):
        assert secret not in text
    assert "token: ***" in text and "am_token: ***" in text and "api_secret: ***" in text
    assert "api_key: ***" in text and "held: ***" in text
    assert "tokens: {orders_10s: 7}" in text  # a rate limit's tokens are not a secret


def test_readable_state_nests_and_is_bounded() -> None:
    lines = readable({"q": 3, "entry": Decimal("1.50"), "orders": {"buy": None},
                      "many": list(range(80))})
    assert lines[:3] == ["q: 3", "entry: 1.50", "orders: {buy: None}"]
    assert len(lines) < 10  # a long list is inline, and cut
    deep = readable({"a": {"b": {"c": 1, "d": 2, "e": 3, "f": 4, "g": 5}}})
    assert deep[:3] == ["a:", "  b:", "    c: 1"]


def test_table_aligns_numbers_right_and_tree_draws_branches() -> None:
    assert table([["a", 1], ["bbb", 22]], ["name", "n"], right=[1]).splitlines() == \
        ["name   n", "a      1", "bbb   22"]
    assert tree_lines("node", [("venue", [("connection", [])]), ("risk", [])]) == \
        ["node", "|-- venue", "|   `-- connection", "`-- risk"]


def spec() -> InstrumentSpec:
    return InstrumentSpec(symbol="BTCUSDT", venue="binance", tick_size=Decimal("0.01"),
                          lot_step=Decimal("0.00001"), min_qty=Decimal("0.00001"),
                          min_notional=Decimal("5"), maker_fee=Decimal("0.0001"),
                          taker_fee=Decimal("0.0005"))


def write_journal(path: Path, records: list[dict[str, object]], torn: bool = False) -> None:
    with open(path, "w") as out:
        for seq, record in enumerate(records, 1):
            out.write(json.dumps({"seq": seq, "ts_ns": 1_700_000_000_000_000_000 + seq * 10**6,
                                  "mono_ns": seq, **record}) + "\n")
        if torn:
            out.write('{"seq": 99, "kind": "NoTr')


def test_why_reads_the_strategys_decisions_newest_n_oldest_first(tmp_path: Path) -> None:
    journal = tmp_path / "journal.jsonl"
    filler = {"kind": "Ack", "source": "", "data": {"pad": "x" * 500}}
    records: list[dict[str, object]] = []
    for i in range(300):  # far more than one 64 KiB block: the tail is read backwards
        records.append({"kind": "NoTrade", "source": "mm1",
                        "data": {"instrument": "BTCUSDT", "reason": f"r{i}", "detail": ""}})
        records.append(filler)
    records.append({"kind": "NoTrade", "source": "mm2",
                    "data": {"instrument": "BTCUSDT", "reason": "other", "detail": ""}})
    records.append({"kind": "OrderSent", "source": "mm1",
                    "data": {"client_order_id": "tr-mm1-1", "instrument": "BTCUSDT",
                             "side": "buy", "order_type": "limit", "qty": 10, "price": 6184950,
                             "tif": "post_only", "reduce_only": False}})
    write_journal(journal, records, torn=True)
    lines = decisions(journal, "mm1", 3, {"BTCUSDT": spec()})
    assert [line[14:] for line in lines] == [
        "no trade  r298", "no trade  r299",
        "order     buy 0.00010 @ 61849.50 limit/post_only  tr-mm1-1"]
    assert lines[0][:12] == "22:13:20.597"  # the record's wall time, UTC
    assert len(list(tail_records(journal, 1 << 30))) == len(records)  # the torn line skipped
    assert decisions(tmp_path / "missing.jsonl", "mm1", 3, {}) == []
