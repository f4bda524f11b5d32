"""Each simulated fault changes the traces the way the real fault would, and only there."""

from __future__ import annotations

import pandas as pd

from chaos_scenarios.simulator import SimBackend

NS = "online-boutique"


def manifest(kind: str, name: str, app: str, **spec) -> dict:
    body = {"mode": "all", "selector": {"namespaces": [NS], "labelSelectors": {"app": app}}}
    body.update(spec)
    return {
        "apiVersion": "chaos-mesh.org/v1alpha1",
        "kind": kind,
        "metadata": {"name": name, "namespace": NS},
        "spec": body,
    }


def before_during(m: dict, seconds: float = 60.0, seed: int = 3, **backend_kw):
    """Spans of a normal minute, then of the minute the fault is active (fault recovered after)."""
    b = SimBackend(seed=seed, **backend_kw)
    t0 = b.now()
    b.wait(seconds)
    normal = b.collect_spans(t0, t0 + seconds)
    inj = b.inject(m)
    b.wait(seconds)
    faulty = b.collect_spans(inj.injected_at, inj.injected_at + seconds)
    b.recover(m)
    return b, inj, normal, faulty


def client(frame: pd.DataFrame, caller: str, callee: str) -> pd.DataFrame:
    return frame[(frame["kind"] == "client") & (frame["service"] == caller) & (frame["peer_service"] == callee)]


def server(frame: pd.DataFrame, service: str) -> pd.DataFrame:
    return frame[(frame["kind"] == "server") & (frame["service"] == service)]


def median_ms(frame: pd.DataFrame) -> float:
    assert len(frame) > 20, "too few spans to compare"
    return float(frame["duration_us"].median()) / 1000.0


def test_network_delay_raises_callers_client_latency_not_callee_server_time():
    m = manifest(
        "NetworkChaos",
        "pc-delay",
        "productcatalogservice",
        action="delay",
        direction="to",
        delay={"latency": "200ms", "jitter": "0ms"},
    )
    _, _, normal, faulty = before_during(m)
    for caller in ("frontend", "recommendationservice", "checkoutservice"):
        rise = median_ms(client(faulty, caller, "productcatalogservice")) - median_ms(
            client(normal, caller, "productcatalogservice")
        )
        assert 190 <= rise <= 230, (caller, rise)
    own_normal = median_ms(server(normal, "productcatalogservice"))
    own_faulty = median_ms(server(faulty, "productcatalogservice"))
    assert abs(own_faulty - own_normal) < 0.25 * own_normal
    untouched = median_ms(client(faulty, "frontend", "currencyservice"))
    assert untouched < 0.25 * 200


def test_network_delay_on_cart_raises_both_callers_and_cart_emits_no_spans():
    m = manifest("NetworkChaos", "cart-delay", "cartservice", action="delay", delay={"latency": "100ms"})
    _, _, normal, faulty = before_during(m)
    for caller in ("frontend", "checkoutservice"):
        rise = median_ms(client(faulty, caller, "cartservice")) - median_ms(client(normal, caller, "cartservice"))
        # cart's egress carries its replies and its own calls to redis: 2 x 100 ms
        assert 190 <= rise <= 230, (caller, rise)
    assert not (faulty["service"] == "cartservice").any()


def test_delay_with_target_only_hits_traffic_to_that_target():
    m = manifest(
        "NetworkChaos",
        "cart-to-checkout",
        "cartservice",
        action="delay",
        direction="to",
        delay={"latency": "150ms"},
        target={"mode": "all", "selector": {"namespaces": [NS], "labelSelectors": {"app": "checkoutservice"}}},
    )
    _, _, normal, faulty = before_during(m)
    rise_checkout = median_ms(client(faulty, "checkoutservice", "cartservice")) - median_ms(
        client(normal, "checkoutservice", "cartservice")
    )
    rise_frontend = median_ms(client(faulty, "frontend", "cartservice")) - median_ms(
        client(normal, "frontend", "cartservice")
    )
    assert 140 <= rise_checkout <= 170
    assert abs(rise_frontend) < 10


def test_direction_from_delays_requests_into_the_selected_pod():
    m = manifest(
        "NetworkChaos", "pc-from", "productcatalogservice", action="delay", direction="from", delay={"latency": "100ms"}
    )
    _, _, normal, faulty = before_during(m)
    rise = median_ms(client(faulty, "frontend", "productcatalogservice")) - median_ms(
        client(normal, "frontend", "productcatalogservice")
    )
    assert 90 <= rise <= 120
    assert median_ms(server(faulty, "productcatalogservice")) < 2 * median_ms(server(normal, "productcatalogservice"))


def test_pod_failure_gives_unavailable_errors_on_calls_into_the_pod_then_recovers():
    m = manifest("PodChaos", "cur-fail", "currencyservice", action="pod-failure")
    b, inj, normal, faulty = before_during(m)
    calls = client(faulty, "frontend", "currencyservice")
    assert (calls["status"] == "error").all() and (calls["grpc_status"] == 14).all()
    assert server(faulty, "currencyservice").empty
    roots = server(faulty, "frontend")
    pages_calling_currency = roots[~roots["operation"].isin(["POST /setCurrency", "POST /cart"])]
    assert (pages_calling_currency["status"] == "error").all()
    assert (pages_calling_currency["http_status"] == 500).all()
    assert (normal["status"] == "ok").mean() > 0.99
    later = b.collect_spans(b.now(), b.now() + 30)
    assert (client(later, "frontend", "currencyservice")["status"] == "ok").all()


def test_pod_kill_fails_calls_until_restart_and_renames_the_pod():
    m = manifest("PodChaos", "pc-kill", "productcatalogservice", action="pod-kill", gracePeriod=0)
    b, inj, normal, faulty = before_during(m)
    old = inj.pods[0]
    assert old.startswith("productcatalogservice-")
    errors = client(faulty, "frontend", "productcatalogservice")
    t = errors["start_us"] / 1e6 - inj.injected_at
    failing = errors["status"] == "error"
    restart = t[failing].max()
    assert 0 < restart < 20 and (t[~failing] >= restart - 1).all()
    new_pods = set(server(faulty, "productcatalogservice")["pod"].astype(str))
    assert old not in new_pods and len(new_pods) == 1
    assert set(server(normal, "productcatalogservice")["pod"].astype(str)) == {old}


def test_container_kill_restarts_in_the_same_pod():
    m = manifest("PodChaos", "ship-ck", "shippingservice", action="container-kill", containerNames=["server"])
    b, inj, normal, faulty = before_during(m)
    calls = client(faulty, "frontend", "shippingservice")
    t = calls["start_us"] / 1e6 - inj.injected_at
    assert (calls.loc[t < 5, "status"] == "error").all()
    assert (calls.loc[t > 15, "status"] == "ok").all()
    assert set(calls["peer_service"].astype(str)) == {"shippingservice"}
    assert b.pods()["shippingservice"] == inj.pods


def test_cpu_stress_raises_the_services_own_server_time():
    m = manifest("StressChaos", "cur-cpu", "currencyservice", stressors={"cpu": {"workers": 2, "load": 100}})
    _, _, normal, faulty = before_during(m)
    conv_n = server(normal, "currencyservice")
    conv_f = server(faulty, "currencyservice")
    ratio = median_ms(conv_f) / median_ms(conv_n)
    assert ratio > 2.5  # 1 + workers * load / 100 = 3 times the work, plus queueing
    assert median_ms(server(faulty, "productcatalogservice")) < 1.3 * median_ms(server(normal, "productcatalogservice"))


def test_memory_stress_over_the_limit_oom_kills_then_pressure_slows():
    m = manifest(
        "StressChaos", "rec-mem", "recommendationservice", stressors={"memory": {"workers": 1, "size": "512MB"}}
    )
    b, inj, normal, faulty = before_during(m)
    calls = client(faulty, "frontend", "recommendationservice")
    t = calls["start_us"] / 1e6 - inj.injected_at
    err = calls["status"] == "error"
    assert err.any() and (calls.loc[err, "grpc_status"] == 14).all()
    oom = 512 / 250.0
    assert t[err].min() >= oom - 0.5 and t[err].max() <= oom + 12 + 1
    assert client(faulty, "frontend", "recommendationservice")["duration_us"].quantile(0.99) > client(
        normal, "frontend", "recommendationservice"
    )["duration_us"].quantile(0.99)


def test_memory_stress_under_the_limit_does_not_restart():
    m = manifest(
        "StressChaos", "rec-mem-small", "recommendationservice", stressors={"memory": {"workers": 1, "size": "64MB"}}
    )
    _, _, _, faulty = before_during(m)
    assert (client(faulty, "frontend", "recommendationservice")["status"] == "ok").all()


def test_network_loss_adds_tcp_retransmission_delays_on_the_legs():
    m = manifest("NetworkChaos", "pay-loss", "paymentservice", action="loss", loss={"loss": "30"})
    _, _, normal, faulty = before_during(m, seconds=120)
    n = client(normal, "checkoutservice", "paymentservice")["duration_us"] / 1e3
    f = client(faulty, "checkoutservice", "paymentservice")["duration_us"] / 1e3
    delayed = (f > 200).mean() - (n > 200).mean()
    assert 0.2 < delayed < 0.4  # the reply leg leaves payment's pod: P(lost at least once) = 0.3
    assert median_ms(server(faulty, "paymentservice")) < 1.0


def test_partition_times_out_calls_at_the_deadline():
    m = manifest("NetworkChaos", "ad-part", "adservice", action="partition", direction="both")
    _, _, _, faulty = before_during(m)
    ads = client(faulty, "frontend", "adservice")
    assert (ads["grpc_status"] == 4).all() and (ads["duration_us"] == 100_000).all()
    # the frontend ignores ad errors: its pages still succeed
    assert (server(faulty, "frontend")["status"] == "ok").all()


def test_http_abort_on_request_drops_matching_pages_only():
    m = manifest("HTTPChaos", "fe-abort", "frontend", target="Request", port=8080, path="/cart*", abort=True)
    _, _, normal, faulty = before_during(m)
    ops_n = set(server(normal, "frontend")["operation"].astype(str))
    ops_f = set(server(faulty, "frontend")["operation"].astype(str))
    assert {"GET /cart", "POST /cart", "POST /cart/checkout"} <= ops_n
    assert ops_f == ops_n - {"GET /cart", "POST /cart", "POST /cart/checkout"}


def test_http_delay_on_request_thins_closed_loop_traffic():
    m = manifest("HTTPChaos", "fe-delay", "frontend", target="Request", port=8080, path="*", delay="5s")
    _, _, normal, faulty = before_during(m, seconds=120)
    ratio = faulty["trace_id"].nunique() / normal["trace_id"].nunique()
    expected = (5.5 + 0.2) / (5.5 + 0.2 + 5.0)
    assert abs(ratio - expected) < 0.1


def test_faults_outside_the_window_leave_spans_unchanged():
    m = manifest("PodChaos", "cur-fail2", "currencyservice", action="pod-failure")
    clean = SimBackend(seed=5)
    start = clean.now()
    reference = clean.collect_spans(start, start + 60)
    b = SimBackend(seed=5)
    b.wait(600)
    b.inject(m)
    b.wait(60)
    b.recover(m)
    pd.testing.assert_frame_equal(b.collect_spans(start, start + 60), reference)


def test_pod_failure_respects_manifest_duration():
    m = manifest("PodChaos", "cur-fail3", "currencyservice", action="pod-failure", duration="10s")
    b = SimBackend(seed=2)
    inj = b.inject(m)
    b.wait(60)
    spans = b.collect_spans(inj.injected_at, inj.injected_at + 60)
    calls = client(spans, "frontend", "currencyservice")
    t = calls["start_us"] / 1e6 - inj.injected_at
    assert (calls.loc[t < 9.5, "status"] == "error").all()
    assert (calls.loc[t > 10 + 10.5, "status"] == "ok").all()
    assert b.recover(m) == inj.injected_at + 60  # ended by itself; recover() returns when it is called
