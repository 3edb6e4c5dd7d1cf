"""The fake venue's `--balance` option: an account funded for the symbols it serves (the
tick-to-trade benchmark's twenty market makers each hold their base asset), and a bad amount is
one clear line."""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal

import pytest

from supervision.fakevenue.__main__ import balances_arg, symbols_arg


def test_each_funds_every_symbols_base_asset_and_an_asset_named_is_its_own() -> None:
    funded = balances_arg(["USDT=1000000", "each=10", "btc=2"], symbols_arg("3"))
    assert funded == {"USDT": Decimal(1_000_000), "BTC": Decimal(2), "S01": Decimal(10),
                      "S02": Decimal(10)}
    assert balances_arg([], symbols_arg("3")) is None  # the venue's own default


@pytest.mark.parametrize("text", ["USDT", "USDT=x", "=3", "USDT=-1", "USDT=NaN"])
def test_a_bad_balance_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="expected ASSET=AMOUNT"):
        balances_arg([text], ["BTCUSDT"])


def test_the_command_says_a_bad_balance_in_one_line() -> None:
    done = subprocess.run([sys.executable, "-m", "supervision.fakevenue", "--balance", "USDT=x"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr == "error: --balance 'USDT=x': expected ASSET=AMOUNT\n"
