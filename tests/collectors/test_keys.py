import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from collectors.keys import duplicate_spans, parent_positions
from collectors.spanframe import ID_DTYPE


def ids(trace, span, parent):
    return pd.DataFrame(
        {
            "trace_id": pd.array(trace, dtype=ID_DTYPE),
            "span_id": pd.array(span, dtype=ID_DTYPE),
            "parent_id": pd.array(parent, dtype=ID_DTYPE),
        }
    )


def naive_parents(frame):
    first = {}
    for i, (t, s) in enumerate(zip(frame["trace_id"], frame["span_id"])):
        first.setdefault((t, s), i)
    return [first.get((t, p), -1) if p is not pd.NA else -1 for t, p in zip(frame["trace_id"], frame["parent_id"])]


def naive_duplicates(frame):
    seen, out = set(), []
    for key in zip(frame["trace_id"], frame["span_id"]):
        out.append(key in seen)
        seen.add(key)
    return out


def test_span_ids_repeated_across_traces():
    frame = ids(["t1", "t1", "t2", "t2", "t3"], ["a", "b", "a", "b", "c"], [None, "a", None, "a", "a"])
    assert parent_positions(frame).tolist() == [-1, 0, -1, 2, -1]
    assert duplicate_spans(frame).tolist() == [False] * 5


def test_parent_id_matching_a_span_of_another_trace_is_missing():
    frame = ids(["t1", "t2"], ["a", "b"], [None, "a"])
    assert parent_positions(frame).tolist() == [-1, -1]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from("xyz"), st.sampled_from("abcd"), st.sampled_from(["a", "b", "c", None])), max_size=25
    )
)
def test_matches_naive_join(rows):
    frame = ids([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])
    assert parent_positions(frame).tolist() == naive_parents(frame)
    assert duplicate_spans(frame).tolist() == naive_duplicates(frame)
    assert isinstance(parent_positions(frame), np.ndarray)


def test_fixed_width_view():
    from collectors.keys import fixed_width_view

    view = fixed_width_view(pd.Series(pd.array(["ab", "cd", "ef"], dtype=ID_DTYPE)).iloc[1:])
    assert view.tolist() == [b"cd", b"ef"]
    assert fixed_width_view(pd.Series(pd.array(["ab", "c"], dtype=ID_DTYPE))) is None
    assert fixed_width_view(pd.Series(pd.array(["ab", None], dtype=ID_DTYPE))) is None
