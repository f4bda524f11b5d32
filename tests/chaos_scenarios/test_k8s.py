"""The Kubernetes backend, with the real ``kubernetes`` client talking to a TEST DOUBLE of the
Kubernetes API on 127.0.0.1 (tests/doubles/k8s_double.py). No real cluster is involved:
the double checks the paths, bodies and label selectors the client sends and plays ChaosMesh's
status transitions."""

import json
import socket

import pandas as pd
import pytest

from chaos_scenarios.case_folder import read_label
from chaos_scenarios.errors import ScenarioError
from chaos_scenarios.k8s import KubernetesBackend, cleanup_owned
from chaos_scenarios.manifests import OWNED_SELECTOR
from chaos_scenarios.runner import plan_cases, run_suite
from chaos_scenarios.suite import parse_suite
from collectors import make_spanframe

CHAOS = "/apis/chaos-mesh.org/v1alpha1/namespaces/online-boutique"


class SpanlessBackend(KubernetesBackend):
    """Collecting spans is the Jaeger client's job (tested in collectors/); here it returns one span."""

    def collect_spans(self, start, end):
        self.collected = (start, end)
        return make_spanframe(
            pd.DataFrame(
                {
                    "trace_id": ["t"],
                    "span_id": ["s"],
                    "parent_id": [None],
                    "service": ["frontend"],
                    "operation": ["GET"],
                    "start_us": [int(start * 1e6)],
                    "duration_us": [5],
                    "kind": ["server"],
                    "status": ["ok"],
                    "pod": ["frontend-0"],
                }
            )
        )


def _suite(**defaults):
    return parse_suite(
        {
            "name": "k",
            "defaults": {"namespace": "online-boutique", "warmup": 60, "duration": 120, "cooldown": 30, **defaults},
            "faults": [
                {
                    "name": "cart-delay",
                    "target": "cartservice",
                    "kind": "NetworkChaos",
                    "action": "delay",
                    "parameters": {"latency": "200ms"},
                    "mode": "all",
                    "peer": "redis-cart",
                },
                {"name": "checkout-failure", "target": "checkoutservice", "kind": "PodChaos", "action": "pod-failure"},
            ],
        }
    )


@pytest.fixture
def cluster(fake_k8s):
    for service in ("cartservice", "redis-cart", "checkoutservice"):
        fake_k8s.add_service("online-boutique", service, replicas=2)
    return fake_k8s


@pytest.fixture
def backend(cluster, api_client, clock):
    return SpanlessBackend(
        api_client=api_client,
        jaeger_url=cluster.url,
        poll_interval=1.0,
        sleep=clock.sleep,
        clock=clock,
        inject_timeout=30,
        recover_timeout=30,
        ready_timeout=30,
    )


def _requests(double, method, fragment=""):
    return [r for r in double.requests if r.method == method and fragment in r.path]


def test_full_run_against_the_double(cluster, backend, clock, tmp_path):
    cluster.clock = lambda: clock() + 1000.0  # the cluster's clock differs from ours: labels must use the cluster's
    suite = _suite()
    written = run_suite(suite, backend, tmp_path, progress=False, seed=5)
    assert len(written) == 2
    posts = _requests(cluster, "POST")
    assert [r.path for r in posts] == [f"{CHAOS}/networkchaos", f"{CHAOS}/podchaos"]
    expected = [m for case in plan_cases(suite, "k-s5") for m in case.manifests]
    assert [r.body for r in posts] == expected
    assert [r.path for r in _requests(cluster, "DELETE")] == [
        f"{CHAOS}/networkchaos/rca-001-cart-delay-r1",
        f"{CHAOS}/podchaos/rca-002-checkout-failure-r1",
    ]
    selectors = {r.query.get("labelSelector") for r in _requests(cluster, "GET", "/pods")}
    # None: every pod, listed for the cluster's restarts after each case (changes.json)
    assert selectors == {"app=cartservice", "app=redis-cart", "app=checkoutservice", None}
    assert json.loads((written[0] / "changes.json").read_text()) == []
    assert {
        r.query.get("labelSelector")
        for r in cluster.requests
        if r.method == "GET" and r.path.endswith(("/networkchaos", "/podchaos"))
    } == {OWNED_SELECTOR}
    assert cluster.objects == {}
    label = read_label(written[0])
    # the double stamps Apply after the 2nd read (1 s polls) and Recover on the 2nd read after DELETE
    assert label.injected_at == pytest.approx(1_790_000_000 + 60 + 1 + 1000)
    assert label.recovered_at == pytest.approx(label.injected_at - 1000 + 120 + 1 + 1000)
    assert label.target_pods == ["cartservice-0", "cartservice-1"]
    assert label.backend == "k8s"
    assert label.window_start == 1_790_000_000 + 1000  # windows on the cluster's clock (Date header offset)
    last = read_label(written[-1])
    assert backend.collected == (last.window_start, last.window_end)


def test_recover_waits_until_pods_are_ready(cluster, backend, clock):
    cluster.unready_after_recover = 3
    manifest = plan_cases(_suite(), "r")[1].manifests[0]
    backend.inject(manifest)
    before = len(_requests(cluster, "GET", "/pods"))
    backend.recover(manifest)
    assert len(_requests(cluster, "GET", "/pods")) - before == 4  # 3 unready answers, then ready


@pytest.mark.parametrize(
    "setup, message",
    [
        (lambda d: d.namespaces.discard("online-boutique"), "namespace 'online-boutique' does not exist"),
        (lambda d: d.crds.clear(), r"ChaosMesh CRD networkchaos\.chaos-mesh\.org is not installed"),
        (
            lambda d: d.pods["online-boutique"].clear(),
            "fault cart-delay: no running pod with label app=cartservice in namespace 'online-boutique'",
        ),
        (lambda d: d.fail("GET", "/namespaces/online-boutique$", 403), "cannot read namespace.*HTTP 403"),
    ],
)
def test_preflight_errors(cluster, backend, setup, message):
    setup(cluster)
    with pytest.raises(ScenarioError, match=message):
        backend.preflight(_suite())
    assert _requests(cluster, "POST") == []


def test_preflight_reports_pending_pods_and_leftovers(cluster, backend):
    cluster.pods["online-boutique"] = [
        p for p in cluster.pods["online-boutique"] if p["metadata"]["labels"]["app"] != "checkoutservice"
    ]
    cluster.add_service("online-boutique", "checkoutservice", phase="Pending")
    leftover = plan_cases(_suite(), "old")[0].manifests[0]
    cluster.add_object(leftover)
    with pytest.raises(ScenarioError) as info:
        backend.preflight(_suite())
    text = str(info.value)
    assert "found 1 pod(s): Pending" in text and "rca chaos cleanup --namespace online-boutique" in text


def test_preflight_jaeger_unreachable(cluster, backend):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    backend.jaeger_url = f"http://127.0.0.1:{port}"
    with pytest.raises(ScenarioError, match="Jaeger is not reachable"):
        backend.preflight(_suite())


def test_cluster_unreachable(clock):
    from kubernetes import client

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    configuration = client.Configuration(host=f"http://127.0.0.1:{port}")
    configuration.retries = 0
    backend = KubernetesBackend(api_client=client.ApiClient(configuration), sleep=clock.sleep, clock=clock)
    with pytest.raises(ScenarioError, match="cannot reach the Kubernetes API"):
        backend.preflight(_suite())


@pytest.mark.parametrize(
    "namespace, message",
    [
        ("kube-system", "never a fault target"),
        ("chaos-mesh", "never a fault target"),
        ("payments", "not on the allow-list"),
    ],
)
def test_namespace_allow_list(cluster, backend, namespace, message):
    with pytest.raises(ScenarioError, match=message):
        backend.preflight(_suite(namespace=namespace))
    assert cluster.requests == []


def test_conflict_is_not_deleted(cluster, backend, tmp_path):
    cluster.fail("POST", "/networkchaos$", 409)  # someone created the same name after the pre-flight check
    with pytest.raises(ScenarioError, match="already exists.*rca chaos cleanup"):
        run_suite(_suite(), backend, tmp_path, progress=False, seed=1)
    assert _requests(cluster, "DELETE") == []  # not created by this run: left for `rca chaos cleanup`


@pytest.mark.parametrize("status, message", [(403, "not allowed to create"), (500, "failed: HTTP 500")])
def test_create_errors_still_clean_up(cluster, backend, tmp_path, status, message):
    cluster.fail("POST", "/networkchaos$", status)
    with pytest.raises(ScenarioError, match=message):
        run_suite(_suite(), backend, tmp_path, progress=False)
    assert len(_requests(cluster, "DELETE", "/networkchaos/")) == 1  # may exist after a 500: removed


def test_injection_failure_times_out_and_deletes(cluster, backend, tmp_path):
    cluster.inject_error = "tc: command not found"
    with pytest.raises(ScenarioError, match="could not be injected: tc: command not found"):
        run_suite(_suite(), backend, tmp_path, progress=False)
    assert cluster.objects == {} and len(cluster.deleted) == 1
    assert json.loads((tmp_path / "run.json").read_text())["status"] == "failed"


def test_api_error_while_polling_deletes_the_fault(cluster, backend, tmp_path):
    cluster.fail("GET", "/networkchaos/rca-", 500)
    with pytest.raises(ScenarioError, match="reading NetworkChaos/.* failed: HTTP 500"):
        run_suite(_suite(), backend, tmp_path, progress=False)
    assert cluster.objects == {}


def test_ctrl_c_in_the_middle_deletes_the_fault(cluster, backend, clock, tmp_path):
    def interrupt(seconds):
        if seconds == 120.0:  # the hold
            raise KeyboardInterrupt

    clock.on_sleep = interrupt
    with pytest.raises(KeyboardInterrupt):
        run_suite(_suite(), backend, tmp_path, progress=False)
    assert [r.path for r in _requests(cluster, "DELETE")] == [f"{CHAOS}/networkchaos/rca-001-cart-delay-r1"]
    assert cluster.objects == {}
    assert json.loads((tmp_path / "run.json").read_text())["status"] == "interrupted"


def test_cleanup_owned_removes_only_ours(cluster, backend):
    ours = plan_cases(_suite(), "old")[0].manifests[0]
    foreign = {**ours, "metadata": {**ours["metadata"], "name": "someone-else", "labels": {"team": "x"}}}
    cluster.add_object(ours)
    cluster.add_object(foreign)
    assert cleanup_owned(backend, dry_run=True) == [f"NetworkChaos online-boutique/{ours['metadata']['name']}"]
    assert len(cluster.objects) == 2
    removed = cleanup_owned(backend)
    assert removed == [f"NetworkChaos online-boutique/{ours['metadata']['name']}"]
    assert list(cluster.objects) == [("online-boutique", "networkchaos", "someone-else")]
    lists = [r for r in cluster.requests if r.method == "GET" and r.path == "/apis/chaos-mesh.org/v1alpha1/podchaos"]
    assert lists and lists[0].query["labelSelector"] == OWNED_SELECTOR


def test_chaos_cleanup_command_uses_kubeconfig(cluster, tmp_path, monkeypatch, capsys):
    from application.cli import main

    ours = plan_cases(_suite(), "old")[1].manifests[0]
    cluster.add_object(ours)
    cluster.recover_after = 0
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "double",
                "clusters": [{"name": "double", "cluster": {"server": cluster.url}}],
                "contexts": [{"name": "double", "context": {"cluster": "double", "user": "u"}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
            }
        )
    )
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    assert main(["chaos", "cleanup", "--namespace", "online-boutique"]) == 0
    assert "deleted 1 chaos object(s)" in capsys.readouterr().out
    assert cluster.objects == {}
    assert all(r.path.startswith(f"{CHAOS}/") for r in cluster.requests)


def test_collect_spans_uses_the_jaeger_client(monkeypatch):
    from chaos_scenarios import k8s

    seen = {}

    class FakeJaegerClient:
        def __init__(self, url):
            seen["url"] = url

        def collect(self, start, end):
            seen["window"] = (start, end)
            return "spans"

    monkeypatch.setattr(k8s, "JaegerClient", FakeJaegerClient)
    backend = KubernetesBackend(api_client=object(), jaeger_url="http://jaeger:16686")
    assert backend.collect_spans(10.0, 20.0) == "spans"
    assert seen == {"url": "http://jaeger:16686", "window": (10.0, 20.0)}


def test_refuses_objects_not_labelled_as_ours(backend):
    manifest = plan_cases(_suite(), "r")[0].manifests[0]
    stranger = {**manifest, "metadata": {**manifest["metadata"], "labels": {}}}
    with pytest.raises(ScenarioError, match="refusing to touch"):
        backend.inject(stranger)


def test_end_to_end_with_the_jaeger_client(cluster, api_client, clock, tmp_path):
    """Kubernetes double + collectors' Jaeger query-API double (both test doubles, not servers):
    the case folder holds exactly the spans that started inside the case window."""
    from jaeger_double import JaegerDouble

    from collectors.jaeger_format import to_jaeger_traces

    t0 = clock()
    starts = [t0 - 100 + 10 * i for i in range(60)]  # every 10 s from 100 s before the run to 490 s after
    spans = make_spanframe(
        pd.DataFrame(
            {
                "trace_id": [f"t{i:03d}" for i in range(len(starts))],
                "span_id": ["s1"] * len(starts),
                "parent_id": [None] * len(starts),
                "service": ["frontend"] * len(starts),
                "operation": ["GET /"] * len(starts),
                "start_us": [int(s * 1e6) for s in starts],
                "duration_us": [1000] * len(starts),
                "kind": ["server"] * len(starts),
                "status": ["ok"] * len(starts),
                "pod": ["frontend-0"] * len(starts),
            }
        )
    )
    suite = parse_suite(
        {
            "defaults": {"namespace": "online-boutique", "warmup": 60, "duration": 120, "cooldown": 30},
            "faults": [
                {
                    "name": "cart-loss",
                    "target": "cartservice",
                    "kind": "NetworkChaos",
                    "action": "loss",
                    "parameters": {"loss": 20},
                }
            ],
        }
    )
    with JaegerDouble(to_jaeger_traces(spans)) as jaeger:
        backend = KubernetesBackend(
            api_client=api_client, jaeger_url=jaeger.url, poll_interval=1.0, sleep=clock.sleep, clock=clock
        )
        [case] = run_suite(suite, backend, tmp_path, progress=False)
    from chaos_scenarios.case_folder import read_spans

    label = read_label(case)
    got = read_spans(case)
    expected = [s for s in starts if label.window_start <= s < label.window_end]
    assert 15 <= len(expected) < len(starts)
    assert sorted(got["start_us"] // 1_000_000) == [int(s) for s in expected]


def test_rollouts_and_restarts_are_read_as_change_events(cluster, backend, clock):
    t = clock()
    cluster.add_replicaset("online-boutique", "cartservice", "cartservice-6d9f", t - 7200, 1, "reg.io/cart:v1")
    cluster.add_replicaset("online-boutique", "cartservice", "cartservice-7b2c", t - 120, 2, "reg.io/cart:v2")
    cluster.add_restart("online-boutique", "checkoutservice-1", t - 60, "OOMKilled", 137, restarts=3)
    changes = backend.changes("online-boutique", t - 600, t)
    assert [(c.service, c.kind, c.version, c.time.timestamp()) for c in changes] == [
        ("cartservice", "rollout", "v2", t - 120),
        ("checkoutservice", "restart", "", t - 60),
    ]
    assert changes[0].detail == "ReplicaSet cartservice-7b2c, revision 2, image reg.io/cart:v2"
    assert changes[1].detail == "pod checkoutservice-1 container server: OOMKilled, exit code 137, 3 restart(s)"
    assert changes[1].pods == ("checkoutservice-1",)
    assert [c.version for c in backend.changes("online-boutique", t - 8000, t)] == ["v1", "v2", ""]
    assert any(r.path == "/apis/apps/v1/namespaces/online-boutique/replicasets" for r in cluster.requests)
    cluster.fail("GET", "/replicasets", 403)
    with pytest.raises(ScenarioError, match="listing ReplicaSets and pods in 'online-boutique' failed: HTTP 403"):
        backend.changes("online-boutique", t - 600, t)
    with pytest.raises(ScenarioError, match="not on the allow-list"):
        backend.changes("payments", t - 600, t)
