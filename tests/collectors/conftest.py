import pandas as pd
import pytest

from collectors import make_spanframe

S = 1_000_000
T0 = 1_700_000_000 * S


def sample_spans(n_traces=30):
    """Traces web (server) -> web (client) -> cart (server); every fifth cart span is an error."""
    rows = []
    for i in range(n_traces):
        t = T0 + i * S
        rows += [
            (f"{i + 1:032x}", f"{i:08x}aaaaaaaa", None, "web", "GET /", "server", t, 9_000, "unset", "web-1"),
            (
                f"{i + 1:032x}",
                f"{i:08x}bbbbbbbb",
                f"{i:08x}aaaaaaaa",
                "web",
                "Cart/Get",
                "client",
                t + 100,
                5_000,
                "unset",
                "web-1",
            ),
            (
                f"{i + 1:032x}",
                f"{i:08x}cccccccc",
                f"{i:08x}bbbbbbbb",
                "cart",
                "Cart/Get",
                "server",
                t + 200,
                3_000,
                "error" if i % 5 == 0 else "ok",
                "cart-1",
            ),
        ]
    data = pd.DataFrame(
        rows,
        columns=[
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
        ],
    )
    return make_spanframe(data)


@pytest.fixture
def sample():
    return sample_spans
