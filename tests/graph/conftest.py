import pandas as pd
import pytest

from collectors import make_spanframe


def spans(rows, **extra):
    """rows: (trace, span, parent, service, operation, kind, start_us, duration_us, status)."""
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
        ],
    )
    data["pod"] = None
    for key, values in extra.items():
        data[key] = values
    return make_spanframe(data)


@pytest.fixture(scope="session")
def make_spans():
    return spans
