import json

import networkx as nx
import pytest

from application.cli import main
from collectors.jaeger_format import to_jaeger_traces
from graph import GraphError, build_service_graph
from graph.draw import draw_png, edge_table, layered_positions, to_dot


def rows():
    return [
        ("t", "a", None, "web", "GET /", "server", 0, 10_000, "unset"),
        ("t", "b", "a", "web", "p.Cart/Get", "client", 1_000, 4_000, "unset"),
        ("t", "c", "b", "cart", "p.Cart/Get", "server", 1_500, 3_000, "error"),
        ("t", "d", "a", "web", "SELECT shop.items", "client", 6_000, 2_000, "unset"),
    ]


def test_dot_and_table(make_spans):
    g = build_service_graph(make_spans(rows()))
    dot = to_dot(g)
    assert dot.startswith('digraph "services" {') and dot.rstrip().endswith("}")
    assert '"web" -> "cart" [label="1 calls, 1 err\\np50 4.0 ms"];' in dot
    assert '"shop" [label="shop", style=dashed];' in dot
    table = edge_table(g).splitlines()
    assert table[2].split()[:4] == ["web", "cart", "1", "1"]


def test_png(tmp_path, make_spans):
    g = build_service_graph(make_spans(rows()))
    g.add_edge("cart", "web", calls=1)  # a cycle must not break the layout
    path = draw_png(g, tmp_path / "g.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(GraphError, match="empty"):
        draw_png(nx.DiGraph(), tmp_path / "e.png")


def test_rca_graph_command(tmp_path, capsys, make_spans):
    path = tmp_path / "spans.json"
    path.write_text(json.dumps({"data": to_jaeger_traces(make_spans(rows()))}))
    png = tmp_path / "g.png"
    assert main(["graph", str(path), "--png", str(png), "--callee-map", "shop=mysql"]) == 0
    out = capsys.readouterr().out
    assert "web" in out and "mysql" in out and "4 spans, 3 services, 2 edges, 2 calls" in out
    assert "services seen only through their callers' client spans: mysql" in out
    assert png.exists()
    assert main(["graph", str(tmp_path / "missing")]) == 1


def test_layered_positions_put_callers_before_callees_in_both_orientations():
    g = nx.DiGraph([("front", "cart"), ("front", "catalog"), ("cart", "redis"), ("redis", "front")])
    across = layered_positions(g)  # the cycle redis -> front is broken
    down = layered_positions(g, orientation="top-down")
    assert set(across) == set(down) == set(g.nodes)
    assert across["front"][0] < across["cart"][0] < across["redis"][0]
    assert down["front"][1] > down["cart"][1] > down["redis"][1]
    assert all(down[n] == (-across[n][1], -across[n][0]) for n in g.nodes)
    with pytest.raises(GraphError, match="orientation"):
        layered_positions(g, orientation="diagonal")
