"""JaegerClient against tests/doubles/jaeger_double.py (JaegerDouble): a test double on 127.0.0.1 that
speaks Jaeger's query API wire formats (classic JSON and api_v3/OTLP). It is not Jaeger."""

import pandas as pd
import pytest
from jaeger_double import JaegerDouble, _parse_rfc3339

from collectors import CollectError
from collectors.jaeger_client import JaegerClient, rfc3339
from collectors.jaeger_format import to_jaeger_traces

S = 1_000_000
T0 = 1_700_000_000 * S


def client(url, **kw):
    kw.setdefault("backoff", 0.01)
    kw.setdefault("progress", False)
    return JaegerClient(url, **kw)


def canonical(frame):
    cols = [
        "trace_id",
        "span_id",
        "parent_id",
        "service",
        "operation",
        "kind",
        "start_us",
        "duration_us",
        "status",
        "pod",
    ]
    out = frame[cols].astype(object).sort_values(["trace_id", "span_id"]).reset_index(drop=True)
    return out.where(out.notna(), None)


def test_rfc3339_round_trip():
    assert rfc3339(T0 + 123_456) == "2023-11-14T22:13:20.123456000Z"
    assert _parse_rfc3339(rfc3339(T0 + 123_456)) == T0 + 123_456
    assert _parse_rfc3339("2023-11-14T22:13:20Z") == T0


@pytest.mark.parametrize("api", ["v1", "v3"])
def test_collect_everything_with_paging(api, sample):
    spans = sample(30)
    with JaegerDouble(to_jaeger_traces(spans), api=api) as jaeger:
        got = client(jaeger.url, limit=7).collect(T0 / S, (T0 + 40 * S) / S)
        paths = {p for p, _ in jaeger.requests}
    pd.testing.assert_frame_equal(canonical(got), canonical(spans))
    assert got.attrs["queries"] > 2 and got.attrs["truncated_windows"] == 0
    assert got.attrs["refetched_spans"] > 0  # each trace comes back for web and for cart
    assert ("/api/v3/traces" in paths) == (api == "v3")
    assert got.attrs["skipped"] == {}


def test_window_and_empty_answers(sample):
    spans = sample(10)
    with JaegerDouble(to_jaeger_traces(spans)) as jaeger:
        got = client(jaeger.url).collect((T0 + 2 * S) / S, (T0 + 4 * S) / S)
        assert sorted(got["trace_id"].unique()) == [f"{3:032x}", f"{4:032x}"]
        empty = client(jaeger.url).collect((T0 + 100 * S) / S, (T0 + 200 * S) / S)
        assert len(empty) == 0
    with JaegerDouble([]) as jaeger:
        assert client(jaeger.url).services() == []
        assert len(client(jaeger.url, api="v1").collect(T0 / S, T0 / S + 10)) == 0


def test_auto_detects_the_classic_api(sample):
    with JaegerDouble(to_jaeger_traces(sample(3)), api="v1") as jaeger:
        c = client(jaeger.url)
        assert c.services() == ["cart", "web"] and c.api == "v1"


def test_retries_on_5xx_then_gives_up_naming_url_and_status(sample):
    with JaegerDouble(to_jaeger_traces(sample(3)), api="v1") as jaeger:
        jaeger.inject(("status", 503), ("status", 502))
        assert client(jaeger.url, api="v1", retries=2).services() == ["cart", "web"]
        jaeger.inject(*[("status", 500)] * 3)
        with pytest.raises(CollectError, match=r"127\.0\.0\.1.*/api/services.*HTTP 500.*after 3 attempts"):
            client(jaeger.url, api="v1", retries=2).services()


def test_client_errors_are_not_retried():
    with JaegerDouble([], api="v1") as jaeger:
        jaeger.inject(("status", 400), ("status", 400))
        with pytest.raises(CollectError, match="HTTP 400"):
            client(jaeger.url, api="v1", retries=3).services()
        assert len(jaeger.requests) == 1


def test_timeouts(sample):
    with JaegerDouble(to_jaeger_traces(sample(2)), api="v3") as jaeger:
        jaeger.inject(("delay", 0.6))
        assert client(jaeger.url, api="v3", timeout=0.2, retries=1).services() == ["cart", "web"]
        jaeger.inject(("delay", 0.6), ("delay", 0.6))
        with pytest.raises(CollectError, match="request failed.*after 2 attempts"):
            client(jaeger.url, api="v3", timeout=0.2, retries=1).services()


@pytest.mark.parametrize("api", ["v1", "v3"])
def test_malformed_bodies(api, sample):
    with JaegerDouble(to_jaeger_traces(sample(2)), api=api) as jaeger:
        c = client(jaeger.url, api=api)
        c.services()
        jaeger.inject(("malformed", None))
        with pytest.raises(CollectError, match=r"/api/.*traces: answer is not JSON"):
            c.collect(T0 / S, T0 / S + 10, services=["web"])


def test_bad_arguments():
    with pytest.raises(CollectError, match="api must be"):
        JaegerClient("http://127.0.0.1:1", api="v2")
    with pytest.raises(CollectError, match="start < end"):
        JaegerClient("http://127.0.0.1:1", progress=False).collect(10, 5)


def test_unreachable_server_names_url():
    with pytest.raises(CollectError, match=r"http://127\.0\.0\.1:9/api/services: request failed"):
        client("http://127.0.0.1:9", api="v1", retries=0).services()


def test_full_windows_at_the_shortest_width_are_counted(sample):
    spans = sample(6)
    spans["start_us"] = T0
    with JaegerDouble(to_jaeger_traces(spans), api="v1") as jaeger:
        got = client(jaeger.url, api="v1", limit=2, min_window_us=1_000).collect(T0 / S - 1, T0 / S + 1)
    assert got.attrs["truncated_windows"] > 0
    assert got["trace_id"].nunique() < 6


def test_concatenated_json_documents():
    from collectors.jaeger_client import json_documents

    assert json_documents('{"result": {"a": 1}}\n{"result": {"b": 2}}', "u") == [
        {"result": {"a": 1}},
        {"result": {"b": 2}},
    ]
    with pytest.raises(CollectError, match="u: empty answer"):
        json_documents("  ", "u")


def test_v3_limit_parameter_naming_falls_back_on_400(sample):
    with JaegerDouble(to_jaeger_traces(sample(3)), api="v3") as jaeger:
        c = client(jaeger.url, api="v3")
        jaeger.inject(("status", 400))
        got = c.collect(T0 / S, T0 / S + 10, services=["web"])
        first, second = [p for path, p in jaeger.requests if path == "/api/v3/traces"][:2]
    assert len(got) == 9
    assert "query.search_depth" in first and "query.num_traces" in first
    assert "query.num_traces" in second and "query.search_depth" not in second
    assert c._depth_names == ("query.num_traces",)
