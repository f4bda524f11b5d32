"""Operation-level ranking: graph.operation_series (self time, own errors) by hand, and
rca.rank_operations / localize(operations=True) on a hand-made trace where one operation of a
service is slow (or throws) and its others are not."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import graph
import rca
from collectors import make_spanframe
from collectors.spanframe import SPAN_COLUMNS

T0 = pd.Timestamp("2024-01-01 00:10:00", tz="UTC")
COLUMNS = list(SPAN_COLUMNS)


def test_self_time_and_own_errors_by_hand():
    t = int(T0.timestamp() * 1e6)
    rows = [
        ("t1", "a", None, "front", "GET /cart", t, 10_000, "server", "error", "f-1"),
        ("t1", "b", "a", "front", "Cart/Get", t + 100, 6_000, "client", "error", "f-1"),
        ("t1", "c", "b", "cart", "Cart/Get", t + 200, 5_000, "server", "error", "c-1"),
        ("t1", "d", "c", "cart", "redis GET", t + 300, 1_000, "client", "ok", "c-1"),
    ]
    spans = make_spanframe(pd.DataFrame(rows, columns=COLUMNS))
    series = graph.operation_series(spans, bucket="1min", origin=T0)
    front = series.xs(("front", "GET /cart"), level=("service", "operation")).iloc[0]
    cart = series.xs(("cart", "Cart/Get"), level=("service", "operation")).iloc[0]
    assert front["self_mean_ms"] == pytest.approx(4.0)  # 10 ms minus its 6 ms client child
    assert cart["self_mean_ms"] == pytest.approx(4.0)  # 5 ms minus the 1 ms redis call
    assert front["error_rate"] == 1.0 and front["own_error_rate"] == 0.0  # passed on from cart
    assert cart["own_error_rate"] == 1.0  # raised by cart: its child is fine
    assert cart["gap_mean_ms"] == pytest.approx(1.0)  # front's client span 6 ms, cart's server span 5 ms
    assert np.isnan(front["gap_mean_ms"])  # a root: no client parent
    assert len(series) == 2  # server spans only


def cart_spans(slow: str | None = None, throws: str | None = None, seed: int = 0) -> pd.DataFrame:
    """front GET /cart, /add, /empty call cart's GetCart / AddItem / EmptyCart (and GetCart reads redis),
    four traces a second from T0 - 10 min to T0 + 3 min. After T0 ``slow`` spends 20 ms more of its
    own time and ``throws`` fails a third of its calls."""
    rng = np.random.default_rng(seed)
    routes = {"GET /cart": "GetCart", "POST /add": "AddItem", "POST /empty": "EmptyCart"}
    rows = []
    start_s, end_s = (T0 - pd.Timedelta("10min")).timestamp(), (T0 + pd.Timedelta("3min")).timestamp()
    for i, t in enumerate(np.arange(start_s, end_s, 0.25)):
        route, op = list(routes.items())[i % 3]
        after = t >= T0.timestamp()
        base = int(t * 1e6)
        own = int(3000 + rng.normal(0, 150)) + (20_000 if after and op == slow else 0)
        error = after and op == throws and rng.random() < 1 / 3
        status = "error" if error else "ok"
        child = 1000 if op == "GetCart" else 0
        server = own + child
        tid = f"t{i}"
        rows.append((tid, "a", None, "front", route, base, server + 1500, "server", status, "front-1"))
        rows.append((tid, "b", "a", "front", f"Cart/{op}", base + 200, server + 500, "client", status, "front-1"))
        rows.append((tid, "c", "b", "cart", f"Cart/{op}", base + 400, server, "server", status, "cart-1"))
        if child:
            rows.append((tid, "d", "c", "cart", "redis GET", base + 500, child, "client", "ok", "cart-1"))
    return make_spanframe(pd.DataFrame(rows, columns=COLUMNS), source="hand-made cart")


def test_the_slow_operation_is_ranked_first_and_its_caller_is_not_blamed():
    spans = cart_spans(slow="GetCart")
    result = rca.localize(spans, T0, T0 + pd.Timedelta("3min"), operations=True)
    ops = result.operations
    assert ops[0].service == "cart" and ops[0].operation == "Cart/GetCart"
    assert "self_mean_ms" in ops[0].why
    # the front route that waits for GetCart is slower, but not by its own time
    assert ops.rank_of("front", "GET /cart") > 1
    assert ops.rank_of("front", "GET /cart") is not None
    assert ops[0].score > 10 * max(c.score for c in ops.candidates[1:])
    assert "top operations:\n 1. cart / Cart/GetCart" in result.explain()
    assert result.ranking.services()[0] == "cart"  # the service ranking beside it


def test_the_throwing_operation_is_ranked_first():
    spans = cart_spans(throws="AddItem")
    series = graph.operation_series(spans, bucket="30s", origin=T0)
    ops = rca.rank_operations(series, T0, T0 + pd.Timedelta("3min"))
    assert ops.pairs()[0] == ("cart", "Cart/AddItem")
    assert "own_error_rate 0 -> " in ops[0].why
    assert ops.to_frame().columns.tolist() == ["rank", "service", "operation", "score", "why"]


def test_nothing_changed_nothing_stands_out():
    ops = rca.rank_operations(graph.operation_series(cart_spans(), bucket="30s", origin=T0), T0)
    assert max(c.score for c in ops.candidates) < 3.0


def test_operation_ranking_input_errors():
    with pytest.raises(rca.RCAError, match=r"expected a DataFrame indexed by \(time, service, operation\)"):
        rca.rank_operations(pd.DataFrame({"calls": [1]}), T0)
    with pytest.raises(rca.RCAError, match="operation-level ranking needs spans"):
        rca.localize(inject_time=T0, edge_series=graph.edge_series(cart_spans()), operations=True)


def test_evaluation_report_shows_the_top_operations(tmp_path):
    from evaluation.cases import Case
    from evaluation.report import write_report
    from evaluation.runner import evaluate

    case = Case("slow-get", ["cart"], "cpu", T0, T0 + pd.Timedelta("3min"), spans=cart_spans(slow="GetCart"))
    ev = evaluate([case], ["max-score"], progress=False, operations=True, strict=True)
    assert ev.kept["slow-get"].operations.pairs()[0] == ("cart", "Cart/GetCart")
    md_path, _ = write_report(ev, tmp_path, dataset="hand-made", per_case_figures=False)
    md = md_path.read_text()
    assert "Top operations" in md and "| 1 | cart | Cart/GetCart |" in md
