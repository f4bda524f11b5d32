"""Incremental Jaeger polling against the Jaeger test double (tests/doubles/jaeger_double.py, NOT a
Jaeger server: it serves fixed traces over Jaeger's query APIs), with a clock the test moves."""

import pandas as pd
import pytest
from jaeger_double import JaegerDouble

from collectors import JaegerClient, make_spanframe, to_jaeger_traces
from monitor import MonitorError
from monitor.sources.jaeger import JaegerPoller, span_keys

S = 1_000_000
T0 = 1_700_000_000 * S


def traces(first_second, count, tag=""):
    """``count`` traces a second apart from T0 + ``first_second``: frontend (server) -> cart (server)."""
    rows = []
    for i in range(first_second, first_second + count):
        trace_id = f"{tag}{i + 1:x}".rjust(32, "0")  # an all-zero trace id is invalid in OTLP
        t = T0 + i * S
        rows.append((trace_id, f"{i:08x}00000001", None, "frontend", "GET /", "server", t, 900, "ok", "fe-1"))
        rows.append(
            (trace_id, f"{i:08x}00000002", f"{i:08x}00000001", "cart", "Get", "server", t + 10, 500, "ok", "c-1")
        )
    columns = ["trace_id", "span_id", "parent_id", "service", "operation", "kind", "start_us", "duration_us"]
    frame = pd.DataFrame(rows, columns=[*columns, "status", "pod"])
    return to_jaeger_traces(make_spanframe(frame))


class Clock:
    def __init__(self, seconds):
        self.now = seconds

    def __call__(self):
        return self.now


def poller(jaeger, clock, **kwargs):
    client = JaegerClient(jaeger.url, api=kwargs.pop("api", "auto"), progress=False, retries=0, backoff=0)
    return JaegerPoller(client, start=T0 / S, interval_s=0, lateness_s=60, clock=clock, **kwargs)


@pytest.mark.parametrize("api", ["v1", "v3"])
def test_late_spans_are_picked_up_and_spans_seen_twice_delivered_once(api):
    with JaegerDouble(traces(0, 50), api=api) as jaeger:
        clock = Clock(T0 / S + 50)
        source = poller(jaeger, clock, api=api)
        batches = source.batches()
        first = next(batches)
        assert len(first) == 100 and source.watermark_us == T0 + 50 * S
        assert (first.attrs["window_start_us"], first.attrs["window_end_us"]) == (T0, T0 + 50 * S)
        jaeger.add_traces(traces(40, 5, tag="late") + traces(50, 50))
        clock.now += 50
        second = next(batches)
        served = {(span["traceID"], span["spanID"]) for trace in jaeger.traces for span in trace["spans"]}
    assert source.stats["duplicate_spans"] == 100, "the first 50 s came back in the lateness window"
    assert source.stats["late_spans"] == 10 and source.stats["spans_new"] == 210
    assert len(second) == 110
    both = pd.concat([first, second], ignore_index=True)
    assert not both.duplicated(["trace_id", "span_id"]).any()
    assert set(zip(both["trace_id"], both["span_id"])) == served


def test_the_watermark_only_moves_forward_and_a_clock_step_back_asks_nothing():
    with JaegerDouble(traces(0, 10)) as jaeger:
        clock = Clock(T0 / S + 20)
        source = poller(jaeger, clock, end=T0 / S + 30)
        batches = source.batches()
        next(batches)
        asked = len(jaeger.requests)
        clock.now -= 5
        assert source._window() is None and len(jaeger.requests) == asked
        clock.now = T0 / S + 40
        last = next(batches)
        assert list(batches) == [], "the watermark reached end"
    assert source.watermark_us == T0 + 30 * S, "a window never passes end"
    assert (last.attrs["window_start_us"], last.attrs["window_end_us"]) == (T0, T0 + 30 * S)
    assert source.stats["polls"] == 2 and source.stats["duplicate_spans"] == 20 and len(last) == 0


def test_the_seen_set_is_pruned_to_the_lateness_window_and_bounded():
    with JaegerDouble(traces(0, 100)) as jaeger:
        clock = Clock(T0 / S + 100)
        source = poller(jaeger, clock)
        next(source.batches())
        assert source.stats["seen"] == 2 * 60, "only spans at or after watermark - lateness can come back"
        assert set(source._seen_starts // S - T0 // S) == set(range(40, 100))
        small = poller(jaeger, clock, max_seen=30)
        next(small.batches())
    assert small.stats["seen"] == 30 and small.stats["seen_evicted"] == 120 - 30
    assert (small._seen_starts >= T0 + 85 * S).all(), "the newest are kept"


def test_a_failing_jaeger_is_retried_then_a_monitor_error():
    with JaegerDouble(traces(0, 5)) as jaeger:
        jaeger.inject(*[("status", 503)] * 10)
        source = poller(jaeger, Clock(T0 / S + 5), max_failures=3)
        with pytest.raises(MonitorError, match=r"3 polls of http://127\.0\.0\.1:\d+ failed in a row; last: .*HTTP 503"):
            list(source.batches())
    assert source.stats["poll_errors"] == 3 and source.watermark_us is None


def test_a_failed_poll_asks_the_same_window_again():
    with JaegerDouble(traces(0, 5), api="v1") as jaeger:
        jaeger.inject(("status", 503))
        source = poller(jaeger, Clock(T0 / S + 5), api="v1", end=T0 / S + 5)
        frames = list(source.batches())
    assert [len(f) for f in frames] == [10] and source.stats["poll_errors"] == 1


def test_close_stops_polling():
    with JaegerDouble(traces(0, 3)) as jaeger:
        clock = Clock(T0 / S + 3)
        source = poller(jaeger, clock)
        batches = source.batches()
        next(batches)
        source.close()
        assert list(batches) == []


def test_span_keys_tell_spans_apart_by_trace_and_span_id():
    frame = make_spanframe(
        pd.DataFrame(
            {
                "trace_id": ["a", "a", "b"],
                "span_id": ["1", "2", "1"],
                "parent_id": [None] * 3,
                "service": ["s"] * 3,
                "operation": ["o"] * 3,
                "start_us": [1, 2, 3],
                "duration_us": [1, 1, 1],
                "kind": ["server"] * 3,
                "status": ["ok"] * 3,
                "pod": [None] * 3,
            }
        )
    )
    keys = span_keys(frame)
    assert len(set(keys.tolist())) == 3 and (span_keys(frame.iloc[[2, 0]]) == keys[[2, 0]]).all()


@pytest.mark.parametrize(
    "kwargs,fragment",
    [
        ({"interval_s": -1}, "interval_s must be a number of seconds >= 0"),
        ({"max_seen": 0}, "max_seen must be a positive integer"),
        ({"start": 100, "end": 50}, "end .* must be after start"),
        ({"start": "yesterday"}, "start"),
    ],
)
def test_bad_parameters_are_monitor_errors(kwargs, fragment):
    with pytest.raises(MonitorError, match=fragment):
        JaegerPoller("http://127.0.0.1:1", **kwargs)
    with pytest.raises(MonitorError, match="client must be a JaegerClient or a URL"):
        JaegerPoller(42)
