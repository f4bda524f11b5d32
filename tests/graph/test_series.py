import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from graph import GraphError, edge_series, service_series
from graph.series import group_quantiles

S = 1_000_000
COLUMNS = [
    "calls",
    "errors",
    "error_rate",
    "latency_mean_ms",
    "latency_p50_ms",
    "latency_p90_ms",
    "latency_p99_ms",
    "server_mean_ms",
    "server_p50_ms",
    "server_p90_ms",
    "server_p99_ms",
]


def frame(make_spans):
    rows = []
    for i, (t, dur, status) in enumerate([(1, 4_000, "unset"), (5, 2_000, "error"), (70, 6_000, "unset")]):
        rows += [
            (f"t{i}", "r", None, "web", "GET", "server", t * S, dur + 1_000, "unset"),
            (f"t{i}", "c", "r", "web", "p.Cart/Get", "client", t * S + 10, dur, "unset"),
            (f"t{i}", "s", "c", "cart", "p.Cart/Get", "server", t * S + 20, dur // 2, status),
        ]
    return make_spans(rows)


def test_edge_series_values_and_empty_buckets(make_spans):
    series = edge_series(frame(make_spans), bucket="30s")
    assert list(series.columns) == COLUMNS
    assert series.index.names == ["time", "caller", "callee"]
    assert str(series.index.get_level_values("time").dtype) == "datetime64[ns, UTC]"
    assert series.attrs["bucket"] == pd.Timedelta("30s")
    times = sorted(set(series.index.get_level_values("time")))
    assert times == [pd.Timestamp(x, unit="s", tz="UTC") for x in (0, 30, 60)]
    first = series.loc[(pd.Timestamp(0, unit="s", tz="UTC"), "web", "cart")]
    assert first["calls"] == 2 and first["errors"] == 1 and first["error_rate"] == 0.5
    assert first["latency_mean_ms"] == pytest.approx(3.0)
    assert first["latency_p90_ms"] == pytest.approx(np.quantile([4, 2], 0.9))
    assert first["server_mean_ms"] == pytest.approx(1.5)
    empty = series.loc[(pd.Timestamp(30, unit="s", tz="UTC"), "web", "cart")]
    assert empty["calls"] == 0 and np.isnan(empty["latency_mean_ms"]) and np.isnan(empty["error_rate"])
    assert series["calls"].dtype == np.int64 and series["errors"].dtype == np.int64


def test_range_and_bucket_width(make_spans):
    series = edge_series(frame(make_spans), bucket="1min", start=pd.Timestamp(0, unit="s", tz="UTC"), end=180.0)
    assert len(series) == 3 and series["calls"].tolist() == [2, 1, 0]
    with pytest.raises(GraphError, match="bucket"):
        edge_series(frame(make_spans), bucket="soon")
    with pytest.raises(GraphError, match="after"):
        edge_series(frame(make_spans), start=100.0, end=50.0)


def test_service_series(make_spans):
    series = service_series(frame(make_spans), bucket="30s")
    assert series.index.names == ["time", "service"]
    cart = series.xs("cart", level="service")
    assert cart["calls"].tolist() == [2, 0, 1] and cart["errors"].tolist() == [1, 0, 0]
    assert cart["latency_mean_ms"].iloc[0] == pytest.approx(1.5)
    web = series.xs("web", level="service")
    assert web["latency_p50_ms"].iloc[0] == pytest.approx(4.0)


def test_empty_spans(make_spans):
    assert len(edge_series(make_spans([]))) == 0
    assert len(service_series(make_spans([]))) == 0


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4), st.floats(0, 1e6, allow_nan=False)), min_size=1, max_size=60))
def test_group_quantiles_match_numpy(pairs):
    groups = np.array([g for g, _ in pairs])
    values = np.array([v for _, v in pairs])
    out = group_quantiles(groups, values, 5)
    for g in range(5):
        chosen = values[groups == g]
        if len(chosen):
            assert np.allclose(out[g], np.quantile(chosen, [0.5, 0.9, 0.99]))
        else:
            assert np.isnan(out[g]).all()


def test_origin_aligns_buckets(make_spans):
    series = edge_series(frame(make_spans), bucket="30s", origin=10.0)
    times = sorted(set(series.index.get_level_values("time")))
    assert times == [pd.Timestamp(x, unit="s", tz="UTC") for x in (-20, 10, 40, 70)]
    assert series["calls"].tolist() == [2, 0, 0, 1]
    services = service_series(frame(make_spans), bucket="30s", origin=pd.Timestamp(10, unit="s", tz="UTC"))
    assert services.xs("cart", level="service")["calls"].tolist() == [2, 0, 0, 1]
