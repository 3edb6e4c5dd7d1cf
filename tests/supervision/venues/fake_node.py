"""A node process against the fake Binance, as an operator runs one: the config (spot or USD-M,
pointed at the fake venue's two loopback URLs), the environment (keys or none), the process,
its output lines and its /metrics. Shared by the node tests of this folder."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from decimal import Decimal
from pathlib import Path
from typing import Any

from supervision.fakevenue import FakeVenue

CONFIG = """
[node]
name = "fake-binance"
profile = "live"
status_interval_s = 1.0
lock_dir = "{lock_dir}"

[control]
listen_host = "127.0.0.1"
listen_port = 0
token = {{ env = "TROUPE_CONTROL_TOKEN" }}

[journal]
path = "{journal}"
fsync = "{fsync}"

[venue]
name = "binance"
kind = "{kind}"
account = "fake-{tag}"
rest_url = "{rest}"
ws_url = "{ws}"
api_key = {{ env = "BINANCE_API_KEY", optional = true }}
api_secret = {{ env = "BINANCE_API_SECRET", optional = true }}
request_timeout_s = 1.0
backoff_blocks = ["reduce_only", "cancel", "new"]
{venue_extra}
[[venue.limits]]
name = "request_weight"
model = "fixed_window"
capacity = 6000
period_s = 60
{limits_extra}
[market]
source = "venue"
{market_maker}
[risk]
max_order_notional = "100"
max_total_exposure = "1000"
daily_loss_limit = "50"
max_drawdown = "100"
"""


MARKET_MAKER = """
[[instruments]]
symbol = "{symbol}"
tick_size = "0.01"
lot_step = "0.00000001"
min_qty = "0.00001"
min_notional = "5"
maker_fee = "0.001"
taker_fee = "0.001"
contract_type = "{contract}"

[[strategies]]
id = "{id}"
kind = "market_maker"
instrument = "{symbol}"

[strategies.params]
quote_lots = 10000
max_inventory = {max_inventory}
requote_min_interval_s = {requote}
gamma = 2e-10
k = 0.02
"""


def market_maker(symbol: str, strategy: str, *, contract: str = "spot",
                 max_inventory: int = 100000, requote_s: float = 0.2) -> str:
    """An instrument and a market maker quoting it, as config text."""
    return MARKET_MAKER.format(symbol=symbol, id=strategy, contract=contract,
                               max_inventory=max_inventory, requote=requote_s)


FIVE_SYMBOLS = ["BTCUSDT", "S01USDT", "S02USDT", "S03USDT", "S04USDT"]


def more_market_makers(symbols: list[str], requote_s: float = 0.1) -> str:
    """A market maker on each symbol after the first (`node_config` quotes the first), as
    config text for its `tail`."""
    return "".join(market_maker(symbol, f"mm_{symbol}", requote_s=requote_s)
                   for symbol in symbols[1:])


def funded_venue(symbols: list[str], speed: float = 4) -> FakeVenue:
    """The fake Binance of `symbols`, the account funded for a market maker on each: each
    quotes both sides, so it holds every base asset (10) and the quote asset (1,000,000 USDT)."""
    balances = {"USDT": Decimal(1_000_000),
                **{symbol.removesuffix("USDT"): Decimal(10) for symbol in symbols}}
    return FakeVenue.binance(symbols, speed=speed, balances=balances)


def node_config(tmp_path: Path, urls: dict[str, str], *, kind: str = "binance",
                fsync: str = "never", venue_extra: str = "", limits_extra: str = "",
                tail: str = "", max_inventory: int = 100000) -> Path:
    """A live config for the fake venue at `urls`. The account lock lives in the test's own
    directory: another test session running the same test at the same time must not find the
    account taken."""
    text = CONFIG.format(journal=tmp_path / "journal.jsonl", rest=urls["rest"], ws=urls["ws"],
                         tag=tmp_path.name, lock_dir=tmp_path / "locks", kind=kind, fsync=fsync,
                         venue_extra=venue_extra, limits_extra=limits_extra,
                         market_maker=market_maker(
                             "BTCUSDT", "mm1", max_inventory=max_inventory,
                             contract="perp" if kind == "binance_usdm" else "spot"))
    path = tmp_path / "fake.toml"
    path.write_text(text + tail)
    return path


def node_env(*, keys: bool = True) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BINANCE_")}
    env.update(TROUPE_CONTROL_TOKEN="t" * 32, PYTHONUNBUFFERED="1")
    if keys:
        env.update(BINANCE_API_KEY="fake-key", BINANCE_API_SECRET="fake-secret")
    return env


def rest_workers_of(node_pid: int, lane: str = "binance-rest") -> list[int]:
    """The node's REST worker processes of `lane`: its children running `rest_process` under
    that name (a lane of several workers: `<lane>-<n>`)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            command = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == node_pid \
                and b"supervision.venues.binance.rest_process" in command \
                and any(arg == lane.encode() or arg.startswith(f"{lane}-".encode())
                        for arg in command):
            found.append(int(entry))
    return sorted(found)


def at_the_venue(pid: int) -> bool:
    """The worker has started a request (its marker file, argv[1], holds one) and waits in a
    system call that is not the read of its next request (fd 0): on the venue's socket."""
    try:
        marker = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[3].decode()
        started = Path(f"/proc/{pid}/fd/{marker}").read_bytes()
        words = Path(f"/proc/{pid}/syscall").read_text().split()
    except (OSError, IndexError):
        return False
    waiting = len(words) > 1 and words[0] != "running"
    return bool(started.strip(b"\0")) and waiting and (words[0], words[1]) != ("0", "0x0")


def metric(text: str, name: str, **labels: str) -> float:
    """The sum of `name`'s samples in a /metrics text (those with every label given)."""
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name) or line.startswith("#"):
            continue
        head = line.rsplit(" ", 1)[0]
        if head.split("{", 1)[0] != name:
            continue
        if all(f'{k}="{v}"' in head for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


class NodeProcess:
    """`python -m supervision.main CONFIG [--execute --confirm-live YES] --duration S`, its
    stdout and stderr read by threads (a full pipe must never stall the node)."""

    def __init__(self, config: Path, seconds: float, *, execute: bool = True,
                 keys: bool = True) -> None:
        live = ["--execute", "--confirm-live", "YES"] if execute else []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "supervision.main", str(config), *live, "--duration",
             str(seconds)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=node_env(keys=keys))
        self.out: list[str] = []
        self.err: list[str] = []
        self._readers = [threading.Thread(target=_collect, args=(stream, lines), daemon=True)
                         for stream, lines in ((self.proc.stdout, self.out),
                                               (self.proc.stderr, self.err))]
        for reader in self._readers:
            reader.start()
        self.port: int | None = None

    def wait_for(self, text: str, timeout: float = 60.0) -> str:
        """The first stdout line holding `text`, waiting for it (fails if the node ends)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.out):
                found = re.search(r"control plane: http://127.0.0.1:(\d+)", line)
                if found:
                    self.port = int(found.group(1))
                if text in line:
                    return line
            if self.proc.poll() is not None and not self._readers[0].is_alive():
                break
            time.sleep(0.05)
        raise AssertionError(f"no line with {text!r}:\n" + "".join(self.out + self.err))

    def _call(self, path: str, body: dict[str, Any] | None = None) -> Any:
        if self.port is None:
            self.wait_for("control plane:")
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}",
            None if body is None else json.dumps(body).encode(),
            headers={"Content-Type": "application/json", "X-Auth-Token": "t" * 32},
            method="GET" if body is None else "POST")
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.read().decode()
        except urllib.error.HTTPError as exc:  # /readyz answers 503 while not ready
            return exc.read().decode()

    def metrics(self) -> str:
        text: str = self._call("/metrics")
        return text

    def readyz(self) -> dict[str, Any]:
        answer: dict[str, Any] = json.loads(self._call("/readyz"))
        return answer

    def control(self, **body: str) -> dict[str, Any]:
        answer: dict[str, Any] = json.loads(self._call("/control", body))
        return answer

    def finish(self, timeout: float = 90) -> tuple[str, str]:
        """Waits for the end; (stdout, stderr), asserting a clean exit without a traceback."""
        self.proc.wait(timeout=timeout)
        for reader in self._readers:
            reader.join(10)
        out, err = "".join(self.out), "".join(self.err)
        assert self.proc.returncode == 0, out + err
        assert "Traceback" not in out + err, out + err
        return out, err

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=30)


def _collect(stream: Any, lines: list[str]) -> None:
    for line in stream:
        lines.append(line)


def wait_until(condition: object, timeout: float = 30.0, step: float = 0.1) -> bool:
    """Polls `condition()` until true or `timeout` seconds; returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = bool(condition())  # type: ignore[operator]
        if value or time.monotonic() > deadline:
            return value
        time.sleep(step)
