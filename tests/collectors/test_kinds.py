import pandas as pd

from collectors import make_spanframe
from collectors.kinds import db_name, infer_kinds, rpc_service_name


def frame(rows):
    cols = ["trace_id", "span_id", "parent_id", "service", "operation"]
    data = pd.DataFrame(rows, columns=cols)
    data["start_us"] = 0
    data["duration_us"] = 1
    data["kind"] = "unknown"
    data["status"] = "unset"
    data["pod"] = None
    return make_spanframe(data)


def test_names():
    assert rpc_service_name("hipstershop.CartService/GetCart") == "CartService"
    assert rpc_service_name("/grpc.shop.Email/Send") == "Email"
    assert rpc_service_name("GET /api/items") is None
    assert db_name("SELECT shop.items") == "shop"
    assert db_name("sql.conn.query") is None


def test_structural_rules():
    f = frame(
        [
            ("t", "r", None, "web", "p.Web/Recv."),  # root -> server
            ("t", "c1", "r", "web", "p.Cart/Get"),  # child in other service -> client
            ("t", "s1", "c1", "cart", "p.Cart/Get"),  # parent in other service -> server
            ("t", "i1", "s1", "cart", "p.Cart/Helper"),  # own work -> internal
            ("t", "c2", "r", "web", "p.Cart/Get"),  # same op as c1 but lost callee -> client
            ("t", "c3", "r", "web", "p.Pay/Charge"),  # leaf, foreign RPC -> client (uninstrumented)
            ("t", "d1", "s1", "cart", "SELECT carts.items"),  # leaf DB statement -> client
            ("t", "w", "r", "web", "p.WebImpl/render"),  # foreign name but has children -> internal
            ("t", "w2", "w", "web", "render.template"),
            ("t", "o", "gone", "cart", "p.Cart/Get"),  # orphan serving its own RPC -> server
        ]
    )
    kinds = dict(zip(f["span_id"], infer_kinds(f)))
    assert kinds == {
        "r": "server",
        "c1": "client",
        "s1": "server",
        "i1": "internal",
        "c2": "client",
        "c3": "client",
        "d1": "client",
        "w": "internal",
        "w2": "internal",
        "o": "server",
    }


def test_recorded_kinds_are_kept():
    f = frame([("t", "r", None, "web", "op"), ("t", "x", "r", "web", "op2")])
    f["kind"] = pd.Categorical(["server", "producer"], dtype=f["kind"].dtype)
    assert infer_kinds(f).tolist() == ["server", "producer"]
    assert infer_kinds(f, only_unknown=False).tolist() == ["server", "internal"]
