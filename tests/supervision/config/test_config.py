"""The node's configuration: what an operator reads when a config is wrong, and how `--set`
edits it (secrets and the environment: test_secrets.py).

Each error test pins the exact `path: problem` line, since that line is the whole interface
between a mistyped config and the person who has to fix it.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from actors.execution.token_bucket import LimitModel, LimitUnit
from actors.strategies.market_maker import MarketMakerConfig
from actors.strategies.quoting_models import PricingModel
from protocols.instruments import InstrumentSpec
from supervision.config.load import (
    ConfigError,
    ExperimentConfig,
    NodeConfig,
    Secret,
    load_config,
    parse_override,
    redacted,
)
from supervision.config.node import Profile
from supervision.config.venue import QueueModelName, VenueKind
from tests.supervision.config.config_kit import (
    EXPERIMENT,
    INSTRUMENT,
    LIVE,
    LIVE_ENV,
    MINIMAL,
    PAPER,
    problems,
)

# ------------------------------------------------------------------------------------------
# The shipped configs


def test_paper_config_loads_without_any_environment() -> None:
    config = load_config(PAPER, environ={})
    assert isinstance(config, NodeConfig)
    assert config.profile is Profile.PAPER
    assert config.venue.kind is VenueKind.SIM
    assert config.venue.sim.queue_model is QueueModelName.RISK_AVERSE
    assert config.venue.sim.balances == {"USDT": Decimal(100_000), "BTC": Decimal(1)}
    assert config.control.token is None  # POST /control disabled, but the node starts
    assert config.market.recording_path().is_file()
    spec = config.instrument("BTCUSDT").to_spec("binance")
    assert spec == InstrumentSpec(
        symbol="BTCUSDT", venue="binance", tick_size=Decimal("0.01"),
        lot_step=Decimal("0.00000001"), min_qty=Decimal("0.00001"), min_notional=Decimal(5),
        maker_fee=Decimal("0.0001"), taker_fee=Decimal("0.0005"),
    )  # fmt: skip
    mm = config.strategies[0].to_config(spec, id_high_water=41)
    assert isinstance(mm, MarketMakerConfig)
    assert (mm.strategy, mm.quote_lots, mm.gamma, mm.id_high_water) == ("mm1", 10_000, 2e-10, 41)


def test_paper_config_takes_the_control_token_from_the_environment() -> None:
    config = load_config(PAPER, environ={"TROUPE_CONTROL_TOKEN": "tok-123-0123456789"})
    assert isinstance(config, NodeConfig)
    assert config.control.token == Secret("tok-123-0123456789")
    assert config.control.token is not None
    assert config.control.token.reference == "env:TROUPE_CONTROL_TOKEN"


def test_live_config_loads_with_its_keys_and_limits() -> None:
    config = load_config(LIVE, environ=LIVE_ENV)
    assert isinstance(config, NodeConfig)
    assert config.profile is Profile.LIVE
    assert config.venue.kind is VenueKind.BINANCE
    assert config.venue.api_key is not None
    assert config.venue.api_key.reveal() == "key-0123456789"
    limits = config.venue.to_venue_limits()
    weight, orders, daily = limits.limits
    # Binance's published limits, counted as Binance counts them: fixed windows on its clock.
    assert {limit.model for limit in limits.limits} == {LimitModel.FIXED_WINDOW}
    assert (weight.capacity, weight.period_ns, weight.unit) == (6000, 60 * 10**9,
                                                               LimitUnit.WEIGHT)
    assert (orders.capacity, orders.period_ns, orders.unit) == (100, 10 * 10**9,
                                                               LimitUnit.ORDERS)
    assert (daily.capacity, daily.period_ns) == (200_000, 86_400 * 10**9)
    assert (weight.reserve, orders.reserve) == (300, 10)  # kept for exits
    assert limits.window_margin_ns == 250 * 10**6


def test_flatten_on_exit_is_gone_it_never_did_anything(write: Any) -> None:
    """Shutdown cancels every order and leaves positions to the operator: no actor can send the
    reduce-only exits once the strategies have stopped, so the knob was a promise, not a feature."""
    path = write('[node]\nprofile = "paper"\n[shutdown]\nflatten_on_exit = true\n')
    assert problems(path) == [
        "shutdown.flatten_on_exit: unknown key (allowed: cancel_timeout_s)"]


def test_live_config_names_its_missing_token_and_may_observe_without_keys() -> None:
    """The venue keys are optional references: without them the node observes the public
    market only (`--execute` refuses then, tests/supervision/venues/test_binance_observe.py)."""
    assert problems(LIVE) == [
        "control.token: environment variable TROUPE_CONTROL_TOKEN is not set",
    ]


def test_a_live_venue_key_may_be_optional_only_when_the_config_says_so(write: Any) -> None:
    base = ('[node]\nprofile = "live"\n[venue]\nkind = "binance"\n'
            'api_key = { env = "NO_SUCH_KEY_VAR"%s }\napi_secret = { env = "NO_SUCH_SECRET"%s }\n'
            '[[venue.limits]]\nname = "w"\nmodel = "fixed_window"\ncapacity = 10\nperiod_s = 10\n'
            '[market]\nsource = "venue"\n')
    config = load_config(write(base % (", optional = true", ", optional = true")), environ={})
    assert isinstance(config, NodeConfig) and config.venue.api_key is None
    assert problems(write(base % ("", ", optional = true"))) == [
        "venue.api_key: environment variable NO_SUCH_KEY_VAR is not set"]


def test_experiment_config_loads_with_the_papers_parameters() -> None:
    config = load_config(EXPERIMENT, environ={})
    assert isinstance(config, ExperimentConfig)
    e = config.experiment
    assert (e.s0, e.T, e.sigma, e.dt, e.q0, e.k, e.A, e.paths) == (
        Decimal(100), 1.0, 2.0, 0.005, 0, 1.5, 140.0, 1000,
    )  # fmt: skip
    assert e.steps == 200
    assert config.strategy.gammas == (0.1, 0.01, 0.5) and config.strategy.gamma is None
    assert config.strategy.gamma_list == (0.1, 0.01, 0.5)
    assert [v.value for v in e.variants] == ["paper", "post_only"]


def test_experiment_gamma_is_set_from_the_command_line() -> None:
    config = load_config(EXPERIMENT, ["strategy.gamma=0.01"])
    assert isinstance(config, ExperimentConfig)
    assert config.strategy.gamma == 0.01 and config.strategy.gamma_list == (0.01,)
    assert problems(EXPERIMENT, ("strategy.gamma=0",)) == [
        "strategy.gamma: must be > 0, got 0 (from --set)"
    ]


# ------------------------------------------------------------------------------------------
# Every kind of mistake, with its message


def test_unknown_key_suggests_the_closest_one(write: Any) -> None:
    path = write('[node]\nnmae = "x"\nprofile = "paper"\n[metrics]\nfoo = 1\n')
    assert problems(path) == [
        "node.nmae: unknown key (did you mean 'name'?)",
        "metrics.foo: unknown key (allowed: hdr_per_actor)",
    ]


def test_unknown_section_is_an_unknown_key(write: Any) -> None:
    assert problems(write(MINIMAL + "[venu]\nkind = 'sim'\n")) == [
        "venu: unknown key (did you mean 'venue'?)"
    ]


def test_wrong_types_are_not_coerced(write: Any) -> None:
    path = write(
        '[node]\nprofile = "paper"\nstatus_interval_s = "fast"\nseed = 1.5\nname = 7\n'
        "[metrics]\nhdr_per_actor = 1\n"
    )
    assert problems(path) == [
        "node.name: expected a string, got the integer 7",
        "node.status_interval_s: expected a number, got the string 'fast'",
        "node.seed: expected an integer, got the number 1.5",
        "metrics.hdr_per_actor: expected true or false, got the integer 1",
    ]


def test_out_of_range_values_say_the_bound(write: Any) -> None:
    path = write(
        MINIMAL + "[venue.sim.latency]\ninsert_ms = -1\ncancel_ms = -0.5\n"
        "[control]\nlisten_port = 70000\n"
    )
    assert problems(path) == [
        "control.listen_port: must be a TCP port, 0 to 65535 (0: any free port), got 70000",
        "venue.sim.latency.insert_ms: must be >= 0, got -1",
        "venue.sim.latency.cancel_ms: must be >= 0, got -0.5",
    ]


def test_bad_choice_lists_the_allowed_values(write: Any) -> None:
    path = write('[node]\nprofile = "papr"\n[venue.sim]\nqueue_model = "fifo"\n')
    assert problems(path) == [
        "node.profile: must be one of 'observe', 'paper', 'live', 'backtest', got 'papr'",
        "venue.sim.queue_model: must be one of 'risk_averse', 'power_prob', got 'fifo'",
    ]


def test_missing_profile_is_required_and_never_guessed(write: Any) -> None:
    assert problems(write('[node]\nname = "x"\n')) == [
        "node.profile: required key missing (one of 'observe', 'paper', 'live', 'backtest')"
    ]
    assert problems(write("")) == [
        "node.profile: required key missing (one of 'observe', 'paper', 'live', 'backtest')"
    ]


def test_float_money_is_refused_with_the_string_to_write_instead(write: Any) -> None:
    path = write(
        MINIMAL + INSTRUMENT.replace('"0.01"', "0.01") + "[venue.sim]\nbalances = { USDT = 1e5 }\n"
    )
    assert problems(path) == [
        "venue.sim.balances.USDT: got the float 1e5, which binary floating point cannot hold "
        'exactly: use a string, e.g. "1e5"',
        "instruments.0.tick_size: got the float 0.01, which binary floating point cannot hold "
        'exactly: use a string, e.g. "0.01"',
    ]


def test_money_from_an_integer_or_a_string(write: Any) -> None:
    config = load_config(write(MINIMAL + INSTRUMENT + "[venue.sim]\nbalances = { USDT = 250 }\n"))
    assert isinstance(config, NodeConfig)
    assert config.venue.sim.balances == {"USDT": Decimal(250)}
    assert config.instruments[0].tick_size == Decimal("0.01")
    assert problems(write(MINIMAL + INSTRUMENT.replace('"5"', '"five"'))) == [
        "instruments.0.min_notional: expected a decimal number, e.g. \"0.01\", got 'five'"
    ]


def test_every_problem_is_reported_at_once(write: Any) -> None:
    path = write(
        '[node]\nprofile = "papr"\nseed = "1"\n[journal]\nfsync = "sometimes"\n'
        "[shutdown]\ncancel_timeout_s = 0\n"
    )
    assert len(problems(path)) == 4


def test_toml_syntax_error_gives_line_and_column(write: Any) -> None:
    path = write('[node]\nprofile = "paper"\nname = \n')
    assert problems(path) == [f"{path}:3:8: invalid TOML: Invalid value"]


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    assert problems(path) == [f"{path}: no such file"]


def test_strategy_params_are_checked_against_the_strategy_config(write: Any) -> None:
    path = write(
        MINIMAL + INSTRUMENT + '[[strategies]]\nid = "mm1"\ninstrument = "BTCUSDT"\n'
        '[strategies.params]\nquote_lots = 1.5\ngama = 0.1\nspec = "x"\nmodel = "glf"\n'
    )
    assert problems(path) == [
        "strategies.0.params.quote_lots: expected an integer, got the number 1.5",
        "strategies.0.params.gama: unknown parameter of a market_maker (did you mean 'gamma'?)",
        "strategies.0.params.spec: set by the node, not by the config",
        "strategies.0.params.model: must be one of "
        + ", ".join(repr(model.value) for model in PricingModel)
        + ", got 'glf'",
        "strategies.0.params.max_inventory: required parameter of a market_maker missing",
        "strategies.0.params.gamma: required parameter of a market_maker missing",
        "strategies.0.params.k: required parameter of a market_maker missing",
    ]


def test_strategy_params_are_typed(write: Any) -> None:
    path = write(
        MINIMAL + INSTRUMENT + '[[strategies]]\nid = "mm1"\ninstrument = "BTCUSDT"\n'
        "[strategies.params]\nquote_lots = 2\nmax_inventory = 10\ngamma = 1\nk = 2\n"
        'model = "glft"\nhorizon = { mode = "rolling", window_s = 30 }\n'
    )
    config = load_config(path)
    assert isinstance(config, NodeConfig)
    params = config.strategies[0].params
    assert params["model"] is PricingModel.GLFT
    assert params["gamma"] == 1.0 and isinstance(params["gamma"], float)
    assert params["horizon"].window_s == 30.0


def test_a_strategy_kind_that_names_nothing_is_one_line(write: Any) -> None:
    strategy = MINIMAL + INSTRUMENT + '[[strategies]]\nid = "s1"\ninstrument = "BTCUSDT"\n'
    assert problems(write(strategy + 'kind = "market_makr"\n[strategies.params]\nx = 1\n')) == [
        "strategies.0.kind: unknown strategy kind 'market_makr' (built in: 'market_maker', "
        "'taker'; or an import path \"package.module:Class\")"
    ]
    assert problems(write(strategy + 'kind = "nowhere.engines:Mine"\n')) == [
        "strategies.0.kind: cannot import 'nowhere.engines' for strategy kind "
        "'nowhere.engines:Mine': ModuleNotFoundError: No module named 'nowhere'"
    ]


def test_a_strategy_from_outside_is_loaded_by_its_import_path(write: Any, tmp_path: Path) -> None:
    path = write(
        MINIMAL + INSTRUMENT + '[[strategies]]\nid = "blank1"\ninstrument = "BTCUSDT"\n'
        'kind = "actors.strategies.template:BlankEngine"\n[strategies.params]\nid_prefix = "zz"\n'
    )
    config = load_config(path)
    assert isinstance(config, NodeConfig)
    strategy = config.strategies[0]
    built = strategy.to_config(config.instrument("BTCUSDT").to_spec("sim"), id_high_water=4)
    assert (type(built).__name__, built.id_prefix, built.id_high_water) == ("BlankConfig", "zz", 4)
    again = tmp_path / "again.toml"
    again.write_text(redacted(config))
    assert 'kind = "actors.strategies.template:BlankEngine"' in again.read_text()
    assert load_config(again) == config
    assert problems(write(path.read_text() + "gamma = 0.1\n")) == [
        "strategies.0.params.gamma: unknown parameter of a "
        "actors.strategies.template:BlankEngine (allowed: id_prefix)"
    ]


def test_a_strategy_must_name_a_configured_instrument(write: Any) -> None:
    path = write(
        MINIMAL + INSTRUMENT + '[[strategies]]\nid = "mm1"\ninstrument = "ETHUSDT"\n'
        "[strategies.params]\nquote_lots = 1\nmax_inventory = 1\ngamma = 0.1\nk = 1\n"
    )
    assert problems(path) == [
        "strategies.0.instrument: no instrument 'ETHUSDT' in [[instruments]] (have: BTCUSDT)"
    ]


def test_a_paper_node_never_reaches_a_real_venue(write: Any) -> None:
    path = write(MINIMAL + '[venue]\nkind = "binance"\n[[venue.limits]]\nname = "w"\n'
                 'model = "fixed_window"\ncapacity = 10\nperiod_s = 10\n')  # fmt: skip
    assert problems(path) == [
        'venue.kind: a paper node trades on the simulated venue: use "sim", '
        "or profile observe/live for 'binance'"
    ]


BINANCE = ('[node]\nprofile = "observe"\n[venue]\nkind = "binance"\n[market]\n'
           'source = "venue"\n')


def test_a_binance_limit_is_counted_in_fixed_windows_never_a_token_bucket(write: Any) -> None:
    path = write(BINANCE + '[[venue.limits]]\nname = "orders_10s"\ncapacity = 100\n'
                 "refill_per_s = 10\n")  # fmt: skip
    assert problems(path) == [
        'venue.limits.0.model: binance counts its limits in fixed windows on its clock: use '
        '"fixed_window" with period_s (a token bucket at the venue\'s capacity lets twice it '
        "through in one window)"]


@pytest.mark.parametrize(("limit", "problem"), [
    ('capacity = 10\n', "venue.limits.0: give period_s (the venue's interval) or refill_per_s, "
     "one of the two"),
    ("capacity = 10\nperiod_s = 10\nrefill_per_s = 1\n", "venue.limits.0: give period_s (the "
     "venue's interval) or refill_per_s, one of the two"),
    ("capacity = 10\nperiod_s = 10\nreserve = 10\n",
     "venue.limits.0: reserve must be under capacity (10), got 10"),
    ("capacity = 10\nperiod_s = 0.4\n", "venue.window_margin_ms: must be under half of every "
     "fixed window's period: 'w' is 0.4 s, got 250 ms"),
])
def test_a_limit_says_its_period_once_and_leaves_room_above_its_reserve(
        write: Any, limit: str, problem: str) -> None:
    path = write(BINANCE + '[[venue.limits]]\nname = "w"\nmodel = "fixed_window"\n' + limit)
    assert problems(path) == [problem]


def test_a_cancel_allowance_is_a_bucket(write: Any) -> None:
    path = write(BINANCE + '[[venue.limits]]\nname = "w"\nmodel = "fixed_window"\n'
                 "capacity = 10\nperiod_s = 10\n[venue.cancel_allowance]\nname = \"c\"\n"
                 'model = "fixed_window"\ncapacity = 10\nperiod_s = 10\n')  # fmt: skip
    assert problems(path) == [
        'venue.cancel_allowance.model: a cancel allowance is a grant that refills: '
        '"token_bucket"']


def test_a_live_real_venue_needs_its_keys(write: Any) -> None:
    path = write('[node]\nprofile = "live"\n[venue]\nkind = "binance"\n[market]\n'
                 'source = "venue"\n')  # fmt: skip
    assert problems(path) == [
        "venue.limits: a binance venue needs its rate limits (at least one [[venue.limits]])",
        'venue.api_key: required for a live binance venue: give { env = "NAME" } or '
        '{ file = "/path" }',
        'venue.api_secret: required for a live binance venue: give { env = "NAME" } or '
        '{ file = "/path" }',
    ]


def test_a_live_hyperliquid_venue_observes_without_keys(write: Any) -> None:
    # Its observe mode streams public data; --execute without keys is refused at start-up by
    # the adapter's preflight (tests/supervision/venues/test_hyperliquid_node.py).
    path = write('[node]\nprofile = "live"\n[venue]\nkind = "hyperliquid"\n[market]\n'
                 'source = "venue"\n[[venue.limits]]\nname = "w"\ncapacity = 10\n'
                 "refill_per_s = 1\n")  # fmt: skip
    config = load_config(path, environ={})
    assert config.venue.api_key is None and config.venue.hyperliquid.dex == "default"


# ------------------------------------------------------------------------------------------
# Overrides


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a.b.c=0.1", (("a", "b", "c"), 0.1)),
        ("node.seed=7", (("node", "seed"), 7)),
        ("x=true", (("x",), True)),
        ("x=[1, 2]", (("x",), [1, 2])),
        ('x="0.01"', (("x",), "0.01")),
        ("node.name=paper", (("node", "name"), "paper")),  # not TOML: a bare string
        ("x = spaced words ", (("x",), "spaced words")),
        ('x={ env = "T" }', (("x",), {"env": "T"})),
        ("instruments.0.tick_size=0.1", (("instruments", "0", "tick_size"), 0.1)),
        ('matchers."team.name"=ops', (("matchers", "team.name"), "ops")),
        ("x=", (("x",), "")),
    ],
)

def test_parse_override(text: str, expected: tuple[tuple[str, ...], Any]) -> None:
    assert parse_override(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("nope", "--set nope: expected KEY=VALUE, e.g. strategy.gamma=0.1"),
        ("=1", "--set =1: expected KEY=VALUE, e.g. strategy.gamma=0.1"),
        ("a..b=1", "--set a..b=1: 'a..b' is not a key path like venue.sim.kind"),
        # meant as TOML (a quote, an array, a table) but not TOML: not taken as a bare word
        ('node.name="a', '--set node.name="a: "a is not a TOML value (Unterminated string)'),
        ("x=[1, 2", "--set x=[1, 2: [1, 2 is not a TOML value (Unclosed array)"),
        ("x={ env = T }", "--set x={ env = T }: { env = T } is not a TOML value "
         "(Invalid value)"),
    ],
)
def test_malformed_override(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_override(text)
    assert caught.value.problems == [message]


def test_override_scalar_nested_and_new_section() -> None:
    config = load_config(
        PAPER,
        [
            "node.status_interval_s=1",
            "venue.sim.latency.insert_ms=7.5",
            "journal.fsync=always",  # no [journal] in paper.toml: created
            "market.speed=max",
            "venue.sim.balances.ETH=2",
        ],
        environ={},
    )
    assert isinstance(config, NodeConfig)
    assert config.node.status_interval_s == 1.0
    assert config.venue.sim.latency.insert_ms == 7.5
    assert config.journal.fsync == "always"
    assert config.market.speed is None
    assert config.venue.sim.balances["ETH"] == Decimal(2)


def test_override_into_an_array_of_tables_by_index() -> None:
    config = load_config(
        PAPER, ["instruments.0.tick_size=0.1", "strategies.0.params.gamma=0.5"], environ={}
    )
    assert isinstance(config, NodeConfig)
    # A float typed on the command line is exact: its text is the value.
    assert config.instruments[0].tick_size == Decimal("0.1")
    assert config.strategies[0].params["gamma"] == 0.5


def test_override_adds_an_array_entry_and_an_optional_table() -> None:
    config = load_config(
        LIVE,
        [
            "venue.limits.3.name=raw_requests",  # index 3 of 3 entries: a new one
            "venue.limits.3.model=fixed_window",
            "venue.limits.3.capacity=61000",
            "venue.limits.3.period_s=300",
            "venue.limits.0.kinds.0=cancel",
            "venue.cancel_allowance.name=cancels",
            "venue.cancel_allowance.capacity=5",
            "venue.cancel_allowance.refill_per_s=1",
        ],
        environ=LIVE_ENV,
    )
    assert isinstance(config, NodeConfig)
    assert [limit.name for limit in config.venue.limits][-1] == "raw_requests"
    assert [kind.value for kind in config.venue.limits[0].kinds or ()] == ["cancel"]
    allowance = config.venue.to_venue_limits().cancel_allowance
    assert allowance is not None and (allowance.capacity, allowance.period_ns) == (5, 5 * 10**9)


def test_override_whole_values_of_any_type() -> None:
    config = load_config(
        PAPER,
        [
            'control.alertmanager.matchers={ severity = "page", team = "mm" }',
            'venue.backoff_blocks=["new", "cancel"]',
            'control.token={ env = "MY_TOKEN" }',
            "metrics.hdr_per_actor=false",
        ],
        environ={"MY_TOKEN": "abc-0123456789-xyz"},
    )
    assert isinstance(config, NodeConfig)
    assert config.control.alertmanager.matchers == {"severity": "page", "team": "mm"}
    assert [b.value for b in config.venue.backoff_blocks] == ["new", "cancel"]
    assert config.control.token == Secret("abc-0123456789-xyz")
    assert config.metrics.hdr_per_actor is False


def test_bad_override_paths_name_the_key() -> None:
    assert problems(
        PAPER,
        (
            "node.nmae=x",
            "node.name.first=x",
            "instruments.tick_size=1",
            "instruments.x.tick_size=1",
            "strategies.-1.id=y",
            "instruments.5.symbol=X",
            "venue.sim.latency.insert_us=1",
        ),
    ) == [
        "node.nmae: unknown key (did you mean 'name'?) (from --set)",
        "node.name: is a string, not a table: cannot set node.name.first (from --set)",
        "instruments: is an array: index it from 0, e.g. instruments.0.tick_size (from --set)",
        "instruments: is an array: index it from 0, e.g. instruments.0.tick_size, not 'x' "
        "(from --set)",
        "strategies: is an array: index it from 0, e.g. strategies.0.id, not '-1' (from --set)",
        "instruments.5: no such entry: the array has 1 (index 1 would add one) (from --set)",
        "venue.sim.latency.insert_us: unknown key (did you mean 'insert_ms'?) (from --set)",
    ]


def test_bad_override_values_get_the_same_checks_as_the_file() -> None:
    assert problems(
        PAPER,
        ("node.status_interval_s=fast", "venue.sim.latency.feed_ms=-3", "node.profile=prod"),
    ) == [
        "node.profile: must be one of 'observe', 'paper', 'live', 'backtest', got 'prod' "
        "(from --set)",
        "node.status_interval_s: expected a number, got the string 'fast' (from --set)",
        "venue.sim.latency.feed_ms: must be >= 0, got -3 (from --set)",
    ]
