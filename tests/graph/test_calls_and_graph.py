import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from graph import GraphError, build_service_graph, calls

S = 1_000_000


def basic(make_spans):
    return make_spans(
        [
            # trace 1: web server -> web client -> cart server (error); web client to pay, no pay span
            ("t1", "a", None, "web", "p.Web/Recv", "server", 0, 10_000, "unset"),
            ("t1", "b", "a", "web", "p.Cart/Get", "client", 1_000, 4_000, "unset"),
            ("t1", "c", "b", "cart", "p.Cart/Get", "server", 1_500, 3_000, "error"),
            ("t1", "d", "a", "web", "p.Pay/Charge", "client", 6_000, 2_000, "unset"),
            # trace 2: clock skew, the cart server starts before its caller's client span
            ("t2", "e", None, "web", "p.Web/Recv", "server", 30 * S, 8_000, "unset"),
            ("t2", "f", "e", "web", "p.Cart/Get", "client", 30 * S + 1_000, 6_000, "unset"),
            ("t2", "g", "f", "cart", "p.Cart/Get", "server", 30 * S - 5_000, 2_000, "unset"),
            # an orphan server span: its parent was lost
            ("t3", "h", "lost", "cart", "p.Cart/Get", "server", 31 * S, 1_000, "unset"),
        ]
    )


def test_calls_table(make_spans):
    table = calls(basic(make_spans))
    rows = {(r.caller, r.callee, r.start_us): r for r in table.itertuples()}
    first = rows[("web", "cart", 1_000)]
    assert first.latency_us == 4_000 and first.server_us == 3_000 and first.error
    assert first.callee_from == "span"
    pay = rows[("web", "pay", 6_000)]
    assert pay.latency_us == 2_000 and math.isnan(pay.server_us) and pay.callee_from == "operation"
    skewed = rows[("web", "cart", 30 * S + 1_000)]
    assert skewed.latency_us == 6_000 and skewed.server_us == 2_000
    assert (table["latency_us"] >= 0).all() and (table["server_us"].dropna() >= 0).all()
    assert table.attrs["roots"] == 2 and table.attrs["orphans"] == 1 and table.attrs["trees"] == 3
    assert len(table) == 3


def test_service_graph_attributes(make_spans):
    g = build_service_graph(basic(make_spans))
    assert set(g.edges) == {("web", "cart"), ("web", "pay")}
    edge = g.edges["web", "cart"]
    assert edge["calls"] == 2 and edge["errors"] == 1
    assert edge["latency_mean_ms"] == pytest.approx(5.0)
    assert edge["latency_p50_ms"] == pytest.approx(np.quantile([4, 6], 0.5))
    assert edge["latency_p99_ms"] == pytest.approx(np.quantile([4, 6], 0.99))
    assert edge["server_mean_ms"] == pytest.approx(2.5)
    assert g.nodes["pay"]["instrumented"] is False and g.nodes["cart"]["instrumented"] is True
    assert g.nodes["cart"]["calls"] == 3 and g.nodes["cart"]["errors"] == 1
    assert g.graph["orphans"] == 1


def test_callee_from_attributes_and_mapping(make_spans):
    frame = make_spans(
        [
            ("t", "a", None, "web", "GET /", "server", 0, 10, "unset"),
            ("t", "b", "a", "web", "redis GET", "client", 1, 2, "unset"),
            ("t", "c", "a", "web", "query", "client", 3, 2, "unset"),
            ("t", "d", "a", "web", "p.Cart/Get", "client", 5, 2, "unset"),
            ("t", "e", "a", "web", "p.Stock/Get", "client", 6, 2, "unset"),
            ("t", "f", "a", "web", "mystery", "client", 7, 2, "error"),
        ],
        peer_service=[None, "cache", None, None, None, None],
        server_address=[None, None, "db-1.prod.svc:5432", None, None, None],
        rpc_service=[None, None, None, None, "p.Stock", None],
    )
    table = calls(frame, callee_map={"Cart": "carts-v2", "db-1": "postgres"})
    found = dict(zip(table["operation"].astype(str), zip(table["callee"].astype(str), table["callee_from"])))
    assert found == {
        "redis GET": ("cache", "attribute"),
        "query": ("postgres", "attribute"),
        "p.Cart/Get": ("carts-v2", "operation"),
        "p.Stock/Get": ("stock", "attribute"),
    }
    assert table.attrs["unplaced"] == {"web: mystery": 1}


def test_rpc_name_learned_from_server_spans(make_spans):
    frame = make_spans(
        [
            ("t", "a", None, "web", "GET /", "server", 0, 10, "unset"),
            ("t", "b", "a", "web", "p.Basket/Get", "client", 1, 2, "unset"),
            ("u", "c", None, "shop-cart", "p.Basket/Get", "server", 5, 2, "unset"),
        ]
    )
    assert calls(frame)["callee"].tolist() == ["shop-cart"]


def test_server_parent_without_client_span(make_spans):
    frame = make_spans(
        [
            ("t", "a", None, "web", "GET /", "server", 0, 10_000, "unset"),
            ("t", "b", "a", "cart", "Get", "server", 2_000, 3_000, "unset"),
        ]
    )
    row = calls(frame).iloc[0]
    assert (row["caller"], row["callee"], row["latency_us"], row["server_us"], row["start_us"]) == (
        "web",
        "cart",
        3_000,
        3_000.0,
        2_000,
    )


def test_retried_children_count_once(make_spans):
    frame = make_spans(
        [
            ("t", "a", None, "web", "GET /", "server", 0, 10_000, "unset"),
            ("t", "b", "a", "web", "p.Cart/Get", "client", 1_000, 8_000, "unset"),
            ("t", "c", "b", "cart", "p.Cart/Get", "server", 2_000, 1_000, "error"),
            ("t", "d", "b", "cart", "p.Cart/Get", "server", 5_000, 1_000, "unset"),
        ]
    )
    table = calls(frame)
    assert len(table) == 1 and table.attrs["extra_children"] == 1 and table["server_us"].iloc[0] == 1_000


def test_empty_and_bad_input(make_spans):
    empty = make_spans([])
    assert len(calls(empty)) == 0
    assert build_service_graph(empty).number_of_edges() == 0
    with pytest.raises(GraphError):
        calls("spans.parquet")


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 30), st.sampled_from(["a", "b", "c"]), st.integers(-50_000, 50_000), st.integers(0, 10_000)
        ),
        min_size=1,
        max_size=30,
    )
)
def test_every_cross_service_pair_is_one_call(make_spans, nodes):
    """Random trees (parent index < own index) with random skew: one call per cross-service
    parent/child pair, never a negative value, never a self-edge."""
    rows = []
    for i, (parent, service, start, duration) in enumerate(nodes):
        parent_id = None if i == 0 else f"s{parent % i}"
        rows.append(("t", f"s{i}", parent_id, service, f"op{i}", "unknown", 1_000_000 + start, duration, "unset"))
    frame = make_spans(rows)
    table = calls(frame)
    services = {f"s{i}": s for i, (_, s, _, _) in enumerate(nodes)}
    pairs = sum(1 for r in rows if r[2] is not None and services[r[2]] != r[3])
    assert len(table) == pairs
    assert (table["latency_us"] >= 0).all() and (table["server_us"] >= 0).all()
    assert (table["caller"].astype(str) != table["callee"].astype(str)).all()
