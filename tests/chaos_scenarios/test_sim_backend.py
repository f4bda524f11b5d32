"""SimBackend: the Backend protocol, determinism, trace structure, tracing quirks, manifest errors."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from chaos_scenarios.errors import ScenarioError
from chaos_scenarios.simulator import EPOCH, SimBackend, parse_manifest
from chaos_scenarios.simulator.faults import parse_duration, parse_size_mb
from collectors.spanframe import SPAN_COLUMNS, make_spanframe, skipped_counts

ROOT = Path(__file__).resolve().parents[2]
NS = "online-boutique"


def manifest(kind: str, name: str = "f", app: str = "cartservice", **spec) -> dict:
    body = {"mode": "all", "selector": {"namespaces": [NS], "labelSelectors": {"app": app}}}
    body.update(spec)
    return {
        "apiVersion": "chaos-mesh.org/v1alpha1",
        "kind": kind,
        "metadata": {"name": name, "namespace": NS},
        "spec": body,
    }


@pytest.fixture(scope="module")
def minute() -> pd.DataFrame:
    b = SimBackend(seed=11)
    return b.collect_spans(b.now(), b.now() + 60)


def test_clock_starts_at_the_fixed_epoch_and_only_moves_on_wait():
    b = SimBackend()
    assert b.now() == EPOCH
    b.wait(12.5)
    assert b.now() == EPOCH + 12.5
    with pytest.raises(ScenarioError, match="negative"):
        b.wait(-1)


def test_same_seed_same_spans_other_seed_other_spans():
    a = SimBackend(seed=4).collect_spans(EPOCH, EPOCH + 30)
    b = SimBackend(seed=4).collect_spans(EPOCH, EPOCH + 30)
    c = SimBackend(seed=5).collect_spans(EPOCH, EPOCH + 30)
    pd.testing.assert_frame_equal(a, b)
    assert not set(a["trace_id"]) & set(c["trace_id"])


def test_traffic_is_the_same_whatever_window_it_is_collected_in():
    b = SimBackend(seed=8)
    long = b.collect_spans(EPOCH, EPOCH + 180)
    short = b.collect_spans(EPOCH + 60, EPOCH + 120)
    roots = long[long["parent_id"].isna() & (long["service"] == "frontend")]
    inside = roots[(roots["start_us"] >= (EPOCH + 60) * 1e6) & (roots["start_us"] <= (EPOCH + 120) * 1e6)]
    short_roots = short[short["parent_id"].isna() & (short["service"] == "frontend")]
    assert set(short_roots["trace_id"]) == set(inside["trace_id"])
    assert len(short_roots) == short_roots["trace_id"].nunique() > 1000


def test_output_is_a_valid_spanframe(minute):
    assert list(minute.columns[: len(SPAN_COLUMNS)]) == list(SPAN_COLUMNS)
    assert skipped_counts(minute) == {}
    again = make_spanframe(minute.copy(), source="again")
    assert len(again) == len(minute) and skipped_counts(again) == {}
    assert set(minute["kind"].astype(str)) == {"server", "client"}
    assert minute["span_id"].str.len().eq(16).all() and minute["trace_id"].str.len().eq(32).all()
    assert (minute["duration_us"] > 0).all()


def test_traffic_volume_is_a_few_thousand_traces_per_minute(minute):
    assert 1000 <= minute["trace_id"].nunique() <= 5000


def test_every_parent_is_in_the_same_trace_and_starts_no_later(minute):
    spans = minute.set_index(["trace_id", "span_id"])
    with_parent = minute[minute["parent_id"].notna()]
    keys = pd.MultiIndex.from_arrays([with_parent["trace_id"], with_parent["parent_id"]])
    assert keys.isin(spans.index).all()
    parent_start = spans.loc[keys, "start_us"].to_numpy()
    assert (parent_start <= with_parent["start_us"].to_numpy()).all()


def test_cart_shipping_and_ad_emit_no_spans_but_callers_client_spans_show_them(minute):
    silent = {"cartservice", "shippingservice", "adservice", "redis-cart"}
    assert not set(minute["service"].astype(str)) & silent
    peers = set(minute.loc[minute["kind"] == "client", "peer_service"].dropna())
    assert {"cartservice", "shippingservice", "adservice"} <= peers
    assert "redis-cart" not in peers


def test_checkout_calls_to_currency_start_new_traces(minute):
    client = minute[(minute["service"] == "checkoutservice") & (minute["peer_service"] == "currencyservice")]
    server_roots = minute[(minute["service"] == "currencyservice") & minute["parent_id"].isna()]
    assert len(client) > 0 and len(server_roots) == len(client)
    assert not set(server_roots["trace_id"]) & set(client["trace_id"])
    frontend_calls = minute[(minute["service"] == "frontend") & (minute["peer_service"] == "currencyservice")]
    nested = minute[(minute["service"] == "currencyservice") & minute["parent_id"].notna()]
    assert len(nested) == len(frontend_calls)


def test_edge_set_is_online_boutiques_call_graph(minute):
    c = minute[minute["kind"] == "client"]
    edges = set(zip(c["service"].astype(str), c["peer_service"].astype(str)))
    assert edges == {
        ("frontend", s)
        for s in (
            "currencyservice",
            "productcatalogservice",
            "cartservice",
            "recommendationservice",
            "shippingservice",
            "checkoutservice",
            "adservice",
        )
    } | {
        ("checkoutservice", s)
        for s in (
            "cartservice",
            "productcatalogservice",
            "currencyservice",
            "shippingservice",
            "paymentservice",
            "emailservice",
        )
    } | {("recommendationservice", "productcatalogservice")}


def test_grpc_method_names_and_pod_names(minute):
    ops = set(minute["operation"].astype(str))
    assert {
        "hipstershop.CartService/GetCart",
        "hipstershop.CheckoutService/PlaceOrder",
        "grpc.hipstershop.CurrencyService/Convert",
        "/hipstershop.EmailService/SendOrderConfirmation",
        "/hipstershop.ProductCatalogService/ListProducts",
        "hipstershop.AdService/GetAds",
    } <= ops
    pods = minute["pod"].astype(str)
    assert pods.str.fullmatch(r"[a-z]+-[bcdfghjklmnpqrstvwxz2456789]{10}-[bcdfghjklmnpqrstvwxz2456789]{5}").all()
    assert (pods.str.rsplit("-", n=2).str[0] == minute["service"].astype(str)).all()


def test_spans_per_trace_follow_the_page_call_trees(minute):
    roots = minute[minute["parent_id"].isna() & (minute["service"] == "frontend")]
    sizes = minute.groupby("trace_id").size()
    per_page = (
        sizes[roots.set_index("trace_id").index].groupby(roots["operation"].astype(str).to_numpy()).agg(["min", "max"])
    )
    # GET /: root + 2 GetSupportedCurrencies + 2 ListProducts + GetCart + 9 x 2 Convert + GetAds
    assert tuple(per_page.loc["GET /"]) == (25, 25)
    assert tuple(per_page.loc["POST /setCurrency"]) == (1, 1)
    assert tuple(per_page.loc["POST /cart"]) == (4, 4)


def test_replicas_spread_calls_and_mode_one_selects_one_pod():
    b = SimBackend(seed=1, replicas={"productcatalogservice": 3})
    assert len(b.pods()["productcatalogservice"]) == 3
    inj = b.inject(manifest("PodChaos", "k", "productcatalogservice", action="pod-kill", mode="one"))
    assert len(inj.pods) == 1
    b.wait(60)
    spans = b.collect_spans(inj.injected_at, inj.injected_at + 60)
    calls = spans[(spans["service"] == "frontend") & (spans["peer_service"] == "productcatalogservice")]
    # one retry on another pick: a call fails only if both picks hit the killed pod (1/9)
    early = calls[calls["start_us"] < (inj.injected_at + 5) * 1e6]
    assert 0.03 < (early["status"] == "error").mean() < 0.25
    assert spans.loc[spans["service"] == "productcatalogservice", "pod"].nunique() == 3


def test_injection_and_recovery_times_come_from_the_simulated_clock():
    b = SimBackend(seed=0)
    b.wait(100)
    m = manifest("PodChaos", "pf", "cartservice", action="pod-failure")
    inj = b.inject(m)
    assert inj.injected_at == EPOCH + 100 and inj.pods == b.pods()["cartservice"]
    b.wait(30)
    healthy = b.recover(m)
    assert healthy == EPOCH + 130 + 15  # cartservice restarts in 15 s after the pause image goes
    assert b.now() == healthy
    with pytest.raises(ScenarioError, match="no chaos object named"):
        b.recover(manifest("PodChaos", "other", action="pod-failure"))


def test_cleanup_ends_every_active_fault_and_is_idempotent():
    b = SimBackend(seed=0)
    m = manifest("PodChaos", "pf", "currencyservice", action="pod-failure")
    b.inject(m)
    b.wait(10)
    b.cleanup()
    b.cleanup()
    b.wait(60)
    spans = b.collect_spans(b.now() - 30, b.now())
    assert not (spans["grpc_status"] == 14).any()
    assert (spans.loc[spans["parent_id"].isna(), "status"] == "ok").all()


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"apiVersion": "v1", "kind": "PodChaos", "metadata": {"name": "x"}, "spec": {}}, "apiVersion"),
        (manifest("IOChaos", action="latency"), "IOChaos.*cannot be simulated"),
        (manifest("NetworkChaos", action="duplicate", duplicate={"duplicate": "10"}), "duplicate.*cannot be simulated"),
        (manifest("NetworkChaos", action="bandwidth"), "bandwidth.*cannot be simulated"),
        (manifest("NetworkChaos", action="delay", delay={"jitter": "1ms"}), "latency: missing"),
        (manifest("NetworkChaos", action="delay", delay={"latency": 200}), "duration string"),
        (manifest("NetworkChaos", action="delay", direction="sideways", delay={"latency": "1ms"}), "direction"),
        (manifest("NetworkChaos", action="loss", loss={"loss": "130"}), "outside"),
        (manifest("PodChaos", action="container-kill"), "containerNames"),
        (manifest("PodChaos", action="pod-kill", mode="sometimes"), "mode"),
        (manifest("PodChaos", action="pod-kill", mode="fixed", value="many"), "numeric value"),
        (manifest("StressChaos", stressors={"io": {"workers": 1}}), "io.*cannot be simulated"),
        (manifest("StressChaos", stressors={"cpu": {"load": 50}}), "workers"),
        (manifest("StressChaos", stressors={"memory": {"workers": 1, "size": "lots"}}), "memory size"),
        (manifest("HTTPChaos", app="frontend", target="Request", port=8080, replace={"code": 500}), "replace"),
        (manifest("HTTPChaos", app="frontend", target="Body", port=8080, abort=True), "Request or Response"),
        (
            {
                "apiVersion": "chaos-mesh.org/v1alpha1",
                "kind": "PodChaos",
                "metadata": {"name": "x"},
                "spec": {"action": "pod-kill", "mode": "all", "selector": {"nodes": ["n1"]}},
            },
            "cannot evaluate",
        ),
        ("not a manifest", "expected a mapping"),
    ],
)
def test_malformed_or_unsupported_manifests_are_clear_errors(bad, message):
    with pytest.raises(ScenarioError, match=message):
        parse_manifest(bad)
    with pytest.raises(ScenarioError):
        SimBackend().inject(bad)


@pytest.mark.parametrize(
    "bad, message",
    [
        (manifest("PodChaos", app="nosuchservice", action="pod-kill"), "selects no pods"),
        (manifest("HTTPChaos", app="cartservice", target="Request", port=8080, abort=True), "only the frontend"),
        (manifest("HTTPChaos", app="frontend", target="Request", port=9555, abort=True), "port 9555"),
        (manifest("PodChaos", action="pod-kill", mode="fixed-percent", value="10"), "selects 0"),
    ],
)
def test_manifests_that_select_nothing_here_are_errors(bad, message):
    with pytest.raises(ScenarioError, match=message):
        SimBackend().inject(bad)


def test_namespace_must_match_the_simulated_shop():
    b = SimBackend(namespace="shop")
    with pytest.raises(ScenarioError, match="runs in 'shop'"):
        b.inject(manifest("PodChaos", action="pod-kill"))


def test_collect_spans_rejects_bad_windows():
    b = SimBackend()
    with pytest.raises(ScenarioError, match="after start"):
        b.collect_spans(EPOCH + 10, EPOCH)
    with pytest.raises(ScenarioError, match="time zone"):
        b.collect_spans(pd.Timestamp("2026-01-05 08:00"), EPOCH + 10)
    spans = b.collect_spans(pd.Timestamp(EPOCH, unit="s", tz="UTC"), EPOCH + 5)
    assert (spans.loc[spans["parent_id"].isna(), "start_us"] >= EPOCH * 1e6).all()


def test_duration_percent_and_size_parsers():
    assert parse_duration("1m30s", "x") == 90.0
    assert parse_duration("250ms", "x") == 0.25
    assert parse_size_mb("256MB", "x", 128) == 256.0
    assert parse_size_mb("1GiB", "x", 128) == pytest.approx(2**30 / 1e6)
    assert parse_size_mb("50%", "x", 128) == 64.0
    with pytest.raises(ScenarioError):
        parse_duration("5 seconds", "x")


def test_preflight_accepts_every_fault_of_the_shipped_suites():
    from chaos_scenarios.suite import builtin_suites, load_suite

    assert builtin_suites()
    for name in builtin_suites():
        SimBackend().preflight(load_suite(name))


def test_frontend_down_means_no_traces_at_all():
    b = SimBackend(seed=3)
    m = manifest("PodChaos", "fe", "frontend", action="pod-failure")
    inj = b.inject(m)
    b.wait(20)
    spans = b.collect_spans(inj.injected_at + 1, inj.injected_at + 20)
    assert len(spans) == 0 and list(spans.columns[: len(SPAN_COLUMNS)]) == list(SPAN_COLUMNS)
