"""The public entry points beside the readers: times and units, FluxEV, suites, rca.localize and
the command line; each input gives a result or the framework's own error, within the watchdog."""

from __future__ import annotations

import contextlib
import io
import math

import numpy as np
import pandas as pd
from fuzz_helpers import FUZZ, outcome
from hypothesis import given, settings
from hypothesis import strategies as st

from application.cli import main
from chaos_scenarios.suite import parse_suite
from core import units
from core.times import to_datetime_index, to_timedelta, to_timestamp
from fluxev import FluxEV

ANY = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(["nan", "inf", "-inf", "1661142963", "1661142963000", "2022-08-22T04:36:03Z", "10min", "-5s"]),
)


@FUZZ
@given(value=ANY, convert=st.booleans())
def test_times(value, convert):
    kind, stamp = outcome(to_timestamp, value, units=convert)
    if kind == "result":
        assert stamp.tzinfo is not None and not pd.isna(stamp)
    outcome(to_timedelta, value)
    outcome(to_datetime_index, [value, value], units=convert)


@settings(FUZZ, max_examples=60)
@given(seconds=st.floats(min_value=1e8, max_value=9e9), unit=st.sampled_from(list(units.UNITS)))
def test_the_unit_rule_recovers_the_time_in_every_unit(seconds, unit):
    value = np.array([seconds * units.UNITS[unit]])
    codes = units.unit_codes(value, "us")
    assert units.NAMES[("s", "ms", "us", "ns")[codes[0]]] == units.NAMES[unit]
    assert abs(units.convert(value, codes, "s")[0] - seconds) <= 1


def test_the_unit_rule_by_hand():
    assert [units.unit_of(v, "ns") for v in (5.0, 1.6e9, 1.6e12, 1.6e15, 1.6e18, 1e20, math.nan)] == [
        "ns", "s", "ms", "us", "ns", None, None
    ]  # fmt: skip
    codes = units.unit_codes(np.array([1661142963, 1661142963000, 12]), "us")
    assert units.convert(np.array([1661142963, 1661142963000, 12]), codes, "us").tolist() == [
        1661142963000000, 1661142963000000, 12
    ]  # fmt: skip
    assert units.conversions(codes, "us", "start") == {"start in seconds": 1, "start in milliseconds": 1}
    assert units.follow(np.array([5.0]), np.array([0]), "us", "us").tolist() == [5e6]


SERIES = st.lists(
    st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.floats(-1e6, 1e6), st.just(1e308)),
    min_size=0,
    max_size=60,
)


@FUZZ
@given(train=SERIES, test=SERIES, s=st.integers(-1, 6), q=st.floats(allow_nan=True) | st.sampled_from([0.01, -5]))
def test_fluxev(train, test, s, q):
    kind, result = outcome(lambda: FluxEV(s=s, smoothing=1, q=q).fit(train).detect(test))
    if kind == "result":
        assert np.isfinite(result.score).all()


SUITE_VALUES = st.one_of(ANY, st.sampled_from(["3m", "1000h", "90s", 10**9, 0, -1, "cartservice", "NetworkChaos"]))


@st.composite
def suites(draw):
    fault = {"name": "f", "target": "cartservice", "kind": "NetworkChaos", "action": "delay"}
    for key in draw(st.lists(st.sampled_from(["warmup", "duration", "cooldown", "repetitions", "mode", "value",
                                               "parameters", "name", "kind", "action", "peer"]), max_size=3)):  # fmt: skip
        fault[key] = draw(SUITE_VALUES)
    defaults = {k: draw(SUITE_VALUES) for k in draw(st.lists(st.sampled_from(["warmup", "repetitions",
                                                                                 "concurrency", "namespace"]), max_size=2))}  # fmt: skip
    return {"defaults": defaults, "faults": [fault] * draw(st.integers(0, 3))}


@FUZZ
@given(data=suites() | ANY)
def test_suites(data):
    outcome(parse_suite, data)


_SPANS: dict[str, pd.DataFrame] = {}


def _spans():
    if "spans" not in _SPANS:
        from malformed_inputs import INJECT, synthetic_spans

        _SPANS["spans"] = synthetic_spans(slow_after=INJECT)
    return _SPANS["spans"]


@settings(FUZZ, max_examples=10)
@given(
    offset=st.one_of(st.floats(-1e6, 1e6), st.sampled_from([0.0, -600.0, 3600.0, 1e9])),
    end=st.one_of(st.none(), st.floats(-1e3, 1e4)),
    bucket=st.sampled_from(["30s", "garbage", "0s", "-1min", 30, "1ns"]),
    window=st.sampled_from(["10min", None, "-10min", "0s", "1h"]),
)
def test_localize(offset, end, bucket, window):
    from malformed_inputs import INJECT

    import rca

    def run():
        config = rca.DetectionConfig(bucket=bucket, train_window=window)
        return rca.localize(_spans(), INJECT + offset, None if end is None else INJECT + end, detection=config)

    kind, result = outcome(run)
    if kind == "result":
        assert result.ranking.candidates


ARGS = st.sampled_from(["--start", "--end", "nan", "inf", "-1", "0", "1661142963", "1661142963000", "x", "",
                        "2022-08-22", "--dot", "--callee-map", "a=b", "=", "--png"])  # fmt: skip


@settings(FUZZ, max_examples=15)
@given(extra=st.lists(ARGS, max_size=4))
def test_graph_command(tmp_path_factory, extra):
    from malformed_inputs import BASE, write_jaeger

    folder = tmp_path_factory.mktemp("g")
    write_jaeger(BASE, folder / "s.json")
    argv = ["graph", str(folder / "s.json"), *[str(folder / a) if a in ("x",) else a for a in extra]]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = outcome(main, argv)[1]
        except SystemExit as exc:  # argparse's own refusal
            code = exc.code
    assert code in (0, 1, 2), (argv, code, err.getvalue())
