"""The monitor on synthetic streams whose answer is known (tests/monitor/synthetic.py): streaming
buckets equal batch buckets, an injected fault opens one incident near its start that closes after
it and ranks the faulty service first, a resumed monitor gives the same events, late and duplicate
spans are counted, a collection gap is not an incident."""

import dataclasses
import json

import pandas as pd
import pytest

import graph
from monitor import Monitor, MonitorConfig, MonitorError
from monitor.buckets import StreamingBuckets
from monitor.incidents import IncidentTracker
from monitor.series import Alarm
from tests.monitor.synthetic import T0, Fault, S, batches, chain_spans, fan_in_spans

MINUTES = 30
FAULT = Fault("db", 20 * 60, 23 * 60, delay_ms=60.0)
CONFIG = MonitorConfig(methods=("explain-upstream",))


def _incidents(events):
    return [e["incident"] for e in events if e["event"] in ("open", "close")]


def _run(monitor, spans, seconds=10.0):
    events = []
    for batch in batches(spans, seconds):
        events += monitor.ingest(batch)
    return events + monitor.flush()


@pytest.fixture(scope="module")
def faulty():
    return chain_spans(MINUTES * 60, faults=(FAULT,))


@pytest.fixture(scope="module")
def faulty_events(faulty):
    return _run(Monitor(CONFIG), faulty)


def test_streaming_buckets_equal_batch_series(faulty):
    spans = faulty.loc[faulty["start_us"] < T0 + 20 * 60 * S].reset_index(drop=True)
    buckets = StreamingBuckets("30s", lateness="5s", lookback="30s")
    closed = []
    for batch in batches(spans, 7.0):
        closed += buckets.add(batch)
    closed += buckets.flush()
    stream_edges = pd.concat([b.edges for b in closed]).sort_index()
    stream_services = pd.concat([b.services for b in closed]).sort_index()
    batch_edges = graph.edge_series(spans, "30s").sort_index()
    batch_services = graph.service_series(spans, "30s").sort_index()
    batch_edges = batch_edges.loc[batch_edges["calls"] > 0]
    pd.testing.assert_frame_equal(stream_edges, batch_edges, check_freq=False, check_index_type=False)
    pd.testing.assert_frame_equal(
        stream_services, batch_services.loc[stream_services.index], check_freq=False, check_index_type=False
    )
    assert len(closed) == 40 and sum(b.spans for b in closed) == len(spans)


def test_the_fault_opens_one_incident_near_its_start_and_ranks_the_faulty_service_first(faulty_events):
    opened = [e["incident"] for e in faulty_events if e["event"] == "open"]
    assert len(opened) == 1, [i["onset"] for i in opened]
    incident = opened[0]
    onset = incident["onset_unix"] - T0 / S
    assert FAULT.start_s - 30 <= onset <= FAULT.start_s + 60
    assert incident["opened_unix"] - T0 / S <= FAULT.start_s + 120
    first = incident["rankings"]["open"]["explain-upstream"][0]
    assert first["service"] == "db" and first["why"]
    closed = [e["incident"] for e in faulty_events if e["event"] == "close"]
    assert {c["id"] for c in closed} == {incident["id"]}, "a flapping symptom reopens the same incident"
    # it closes after `quiet` without an alarm, which may come before the fault ends: a sustained
    # shift stops alarming once the streaming detector has adapted to it (docs/monitor.md)
    assert closed[-1]["closed_unix"] >= incident["opened_unix"] + 30
    assert closed[-1]["rankings"]["close"]["explain-upstream"][0]["service"] == "db"
    assert 0 < incident["severity"] <= 1
    assert any(s["callee"] == "db" for s in incident["alarmed_series"] if s["kind"] == "edge")


def test_normal_traffic_and_a_collection_gap_open_no_incident():
    spans = chain_spans(30 * 60, gaps=((15 * 60, 20 * 60),), seed=3)
    monitor = Monitor(CONFIG)
    events = _run(monitor, spans)
    assert _incidents(events) == []
    assert monitor.stats.gaps >= 9


def test_a_resumed_monitor_gives_the_events_of_an_uninterrupted_run(faulty, faulty_events, tmp_path):
    _assert_resume_equals_uninterrupted(faulty, faulty_events, FAULT.start_s + 60, tmp_path)


def test_a_monitor_resumed_between_a_close_and_the_reopen_still_reopens(tmp_path):
    flapping = chain_spans(
        MINUTES * 60, faults=(Fault("db", 20 * 60, 21 * 60, 60.0), Fault("db", 23 * 60, 24 * 60, 60.0))
    )
    events = _run(Monitor(CONFIG), flapping)
    seen = [(e["event"], e["incident"]["id"]) for e in events if e["event"] in ("open", "update", "close")]
    # the second fault comes within the hold-off: it reopens the first incident
    assert seen == [(t, "incident-0001") for t in ("open", "close", "update", "close")]
    _assert_resume_equals_uninterrupted(flapping, events, 23 * 60, tmp_path)


def _assert_resume_equals_uninterrupted(spans, expected_events, cut_s, tmp_path):
    """Killed (saved) at ``cut_s``, resumed from the checkpoint: the events of an uninterrupted run."""
    cut = T0 + cut_s * S
    head = spans.loc[spans["start_us"] < cut].reset_index(drop=True)
    tail = spans.loc[spans["start_us"] >= cut].reset_index(drop=True)
    first = Monitor(CONFIG)
    events = []
    for batch in batches(head):
        events += first.ingest(batch)
    first.save(tmp_path / "state")
    first.save(tmp_path / "state")
    assert len(list((tmp_path / "state").glob("state-*"))) == 1
    resumed = Monitor.load(tmp_path / "state")
    assert first.tail is not None and first.tail.size > 0, "the pooled tail holds scores by the cut"
    assert resumed.tail is not None and resumed.tail.state() == first.tail.state()
    assert first.stats_json()["pooled_scores"] == first.tail.size
    events += _run(resumed, tail)
    strip = [{k: v for k, v in e.items() if k != "stats"} for e in events]
    expected = [{k: v for k, v in e.items() if k != "stats"} for e in expected_events]
    assert json.dumps(strip, sort_keys=True, default=str) == json.dumps(expected, sort_keys=True, default=str)


def test_a_monitor_resumed_inside_a_collection_gap_that_closed_an_incident_gives_the_same_events(tmp_path):
    faults = (Fault("db", 20 * 60, 23 * 60, 60.0), Fault("api", 27 * 60, 29 * 60, 60.0))
    spans = chain_spans(MINUTES * 60 + 300, faults=faults, gaps=((21 * 60, 25 * 60),), seed=6)
    events = _run(Monitor(CONFIG), spans)
    closes = [e for e in events if e["event"] == "close"]
    assert closes and closes[0]["incident"]["closed_unix"] == T0 / S + 21 * 60, "closed where the gap begins"
    _assert_resume_equals_uninterrupted(spans, events, 23 * 60, tmp_path)


def test_the_monitor_keeps_only_the_newest_incidents_and_so_does_its_checkpoint(tmp_path):
    faults = tuple(Fault("db", m * 60, (m + 1.5) * 60, error_rate=0.5) for m in (12, 19, 26))
    monitor = Monitor(dataclasses.replace(CONFIG, keep_incidents=2))
    events = _run(monitor, chain_spans(MINUTES * 60 + 120, faults=faults, seed=7))
    opened = [e["incident"]["id"] for e in events if e["event"] == "open"]
    assert len(opened) == 3 and monitor.stats.incidents == 3
    assert [i.id for i in monitor.incidents] == opened[1:]
    monitor.save(tmp_path / "state")
    assert [i.id for i in Monitor.load(tmp_path / "state").incidents] == opened[1:]


def test_late_and_duplicate_spans_are_counted_not_dropped_silently():
    spans = chain_spans(600, seed=5)
    monitor = Monitor(MonitorConfig(lateness="10s", methods=("explain-upstream",)))
    t = spans["start_us"].to_numpy()
    early = spans.loc[t < T0 + 300 * S].reset_index(drop=True)
    old = early.iloc[:20].copy()
    old["span_id"] = [f"{i:016x}" for i in range(len(old))]
    for batch in batches(early):
        monitor.ingest(batch)
    monitor.ingest(early.iloc[:50])
    monitor.ingest(old)
    assert monitor.stats.duplicate_spans == 50
    assert monitor.stats.late_spans == 20
    stats = monitor.stats_json()
    assert stats["late_spans"] == 20 and stats["duplicate_spans"] == 50
    assert (stats["pooled_scores"], stats["pooled_threshold"]) == (0, None), "no series is past its warm-up"


def test_a_bad_setting_names_itself():
    with pytest.raises(MonitorError, match="reopen"):
        MonitorConfig(reopen="sometimes")
    with pytest.raises(MonitorError, match="warmup"):
        MonitorConfig(warmup="5s")
    with pytest.raises(MonitorError, match="methods"):
        MonitorConfig(methods=("no-such-method",))
    with pytest.raises(MonitorError, match=r"keep_incidents: must be an integer >= 2, got 1"):
        MonitorConfig(keep_incidents=1)
    with pytest.raises(MonitorError, match=r"gap_confirm_edges: must be an integer >= 0, got -1"):
        MonitorConfig(gap_confirm_edges=-1)
    with pytest.raises(MonitorError, match="not a monitor checkpoint"):
        Monitor.load("/nonexistent/checkpoint")


def _alarm(service, minute, severity=0.5):
    key = ("edge", "web", service, "latency_mean_ms")
    return Alarm(key, pd.Timestamp(T0 + int(minute * 60 * S), unit="us", tz="UTC"), 9.0, 1.0, 5.0, 2.0, severity)


def _tracker(reopen, min_services=1):
    minute = pd.Timedelta("1min")
    return IncidentTracker(min_services, minute, minute, 3 * minute, pd.Timedelta("30s"), reopen)


def _bucket_end(minute):
    """The end of the 30 s bucket that starts ``minute`` minutes after T0."""
    return pd.Timestamp(T0 + int((minute + 0.5) * 60 * S), unit="us", tz="UTC")


def _drive(tracker, alarms_by_minute, minutes=20, gaps=()):
    """Bucket by bucket (30 s); the transitions as (minute, transition, incident id). ``gaps``:
    (from, to) minutes of collection gap."""
    out = []
    for step in range(2 * minutes):
        minute = step / 2
        alarms = [_alarm(s, minute, sev) for s, sev in alarms_by_minute.get(minute, [])]
        observed = not any(lo <= minute < hi for lo, hi in gaps)
        out += [(minute, t, i.id) for t, i in tracker.step(_bucket_end(minute), alarms, observed=observed)]
    return out


def test_incident_rule_open_update_close_and_reopen_within_the_holdoff():
    alarms = {1.0: [("db", 0.4)], 1.5: [("db", 0.9)], 4.0: [("api", 0.5)], 12.0: [("api", 0.5)]}
    seen = _drive(_tracker("any"), alarms)
    assert seen == [
        (1.0, "open", "incident-0001"),
        (1.5, "update", "incident-0001"),
        (2.5, "close", "incident-0001"),  # two quiet buckets (quiet = 1 min)
        (4.0, "update", "incident-0001"),  # within the 3 min hold-off: reopened
        (5.0, "close", "incident-0001"),
        (12.0, "open", "incident-0002"),  # long after: a new incident
        (13.0, "close", "incident-0002"),
    ]
    same = _drive(_tracker("same-services"), alarms)
    assert (4.0, "open", "incident-0002") in same, "api was not implicated by incident-0001"


def test_a_larger_burst_on_other_services_opens_a_new_incident_instead_of_reopening_a_blip():
    def burst(service, minute, metrics):
        return [dataclasses.replace(_alarm(service, minute), key=("edge", "web", service, m)) for m in metrics]

    tracker = _tracker("any")
    blip = burst("pay", 1.0, ["latency_p90_ms"])
    fault = burst("db", 2.5, ["latency_mean_ms", "latency_p90_ms", "gap_mean_ms"])
    tail = burst("api", 4.0, ["latency_mean_ms"])
    seen = []
    for minute, alarms in ((1.0, blip), (1.5, []), (2.0, []), (2.5, fault), (3.0, []), (3.5, []), (4.0, tail)):
        seen += [(minute, t, i.id) for t, i in tracker.step(_bucket_end(minute), alarms, observed=True)]
    assert seen == [
        (1.0, "open", "incident-0001"),
        (2.0, "close", "incident-0001"),
        (2.5, "open", "incident-0002"),  # 3 series on db: more than the blip ever had, none of its services
        (3.5, "close", "incident-0002"),
        (4.0, "update", "incident-0002"),  # one series on api: the fault's symptom on a caller, reopened
    ]


def test_the_holdoff_runs_to_the_bucket_of_the_first_new_alarm_not_to_its_confirmation():
    # closed at the end of minute 2.0 (2.5); a level alarm of the bucket at 5.0 (ending 5.5, 3 min
    # after the close) is confirmed by the next bucket, which ends 3.5 min after the close
    def run(alarm_minute, delivered_minute):
        tracker = _tracker("any")
        seen = []
        for step in range(2 * 8):
            minute = step / 2
            alarms = [_alarm("db", 1.0)] if minute == 1.0 else []
            if minute == delivered_minute:
                alarms = [_alarm("db", alarm_minute)]
            seen += [(minute, t, i.id) for t, i in tracker.step(_bucket_end(minute), alarms, observed=True)]
        return seen

    assert (5.5, "update", "incident-0001") in run(5.0, 5.5), "reopened: the symptom came back within 3 min"
    assert (6.0, "open", "incident-0002") in run(5.5, 6.0), "3.5 min after the close: a new incident"


def test_a_collection_gap_closes_the_incident_at_the_end_of_the_last_bucket_seen():
    tracker = _tracker("any")
    seen = _drive(tracker, {1.0: [("db", 0.5)]}, gaps=((1.5, 5.0),))
    assert seen == [(1.0, "open", "incident-0001"), (1.5, "close", "incident-0001")]
    assert tracker.last_closed is not None and tracker.last_closed.closed_at == _bucket_end(1.0)


def test_alarms_confirmed_as_a_gap_begins_open_or_update_an_incident_that_the_gap_closes():
    # no incident open: known at the end of the gap's first bucket, they open one that closes then
    tracker = _tracker("any")
    assert tracker.step(_bucket_end(0.5), [], observed=True) == []
    seen = tracker.step(_bucket_end(1.5), [_alarm("db", 1.0)], observed=False)
    assert [t for t, _ in seen] == ["open", "close"]
    incident = seen[0][1]
    assert incident.onset == _alarm("db", 1.0).time
    assert incident.opened_at == incident.closed_at == _bucket_end(1.5)
    # an incident open: they update it before the gap closes it
    tracker = _tracker("any")
    tracker.step(_bucket_end(1.0), [_alarm("db", 1.0)], observed=True)
    seen = tracker.step(_bucket_end(2.0), [_alarm("api", 1.5)], observed=False)
    assert [t for t, _ in seen] == ["update", "close"]
    assert seen[1][1].services() == {"db", "api"} and seen[1][1].closed_at == _bucket_end(1.5)


GAP_FAULT = Fault("api", 20 * 60, 23 * 60, delay_ms=60.0)
GAP_AFTER_ONE_BUCKET = ((20 * 60 + 30, 27 * 60),)


@pytest.fixture(scope="module")
def fan_in_gap():
    """api slows down at 20:00 and the collection stops 30 s later, until after the fault: only
    the first bucket of the fault is seen, so no level alarm can be confirmed by its next value."""
    return fan_in_spans(32 * 60, faults=(GAP_FAULT,), gaps=GAP_AFTER_ONE_BUCKET, seed=3)


def test_level_alarms_of_two_edges_waiting_when_a_gap_begins_confirm_each_other(fan_in_gap):
    fault, gap, spans = GAP_FAULT, GAP_AFTER_ONE_BUCKET, fan_in_gap
    incidents = _incidents(_run(Monitor(CONFIG), spans))
    assert {i["id"] for i in incidents} == {"incident-0001"}
    incident = incidents[-1]
    assert incident["onset_unix"] - T0 / S == fault.start_s
    assert incident["opened_unix"] - T0 / S == incident["closed_unix"] - T0 / S == fault.start_s + 60, (
        "opened and closed when the gap's first bucket closes"
    )
    callers = {s["caller"] for s in incident["alarmed_series"] if s["kind"] == "edge" and s["callee"] == "api"}
    assert callers == {"web", "gate"}
    assert incident["rankings"]["open"]["explain-upstream"][0]["service"] == "api"
    # off, or a fault seen on one edge only (the chain: web alone calls api), the gap drops them
    assert _incidents(_run(Monitor(dataclasses.replace(CONFIG, gap_confirm_edges=0)), spans)) == []
    chain = chain_spans(32 * 60, faults=(fault,), gaps=gap, seed=3)
    assert _incidents(_run(Monitor(CONFIG), chain)) == []


def test_a_monitor_resumed_while_alarms_wait_for_confirmation_before_a_gap_gives_the_same_events(fan_in_gap, tmp_path):
    # the wall clock closes the fault's first bucket, then the monitor is killed: the waiting
    # alarms are in the checkpoint, and the gap that the next spans reveal confirms them
    cut = T0 + (GAP_FAULT.start_s + 30) * S
    head = fan_in_gap.loc[fan_in_gap["start_us"] < cut].reset_index(drop=True)
    tail = fan_in_gap.loc[fan_in_gap["start_us"] >= cut].reset_index(drop=True)
    clock = pd.Timestamp(cut + 61 * S, unit="us", tz="UTC")

    def until_the_cut(monitor):
        return [e for batch in batches(head) for e in monitor.ingest(batch)] + monitor.tick(clock)

    uninterrupted = Monitor(CONFIG)
    expected = until_the_cut(uninterrupted) + _run(uninterrupted, tail)
    first = Monitor(CONFIG)
    events = until_the_cut(first)
    assert sum(m.pending is not None for m in first.series.values()) >= 2
    first.save(tmp_path / "state")
    events += _run(Monitor.load(tmp_path / "state"), tail)
    assert [e["incident"]["id"] for e in expected if e["event"] == "open"] == ["incident-0001"]
    strip = [{k: v for k, v in e.items() if k != "stats"} for e in events]
    want = [{k: v for k, v in e.items() if k != "stats"} for e in expected]
    assert json.dumps(strip, sort_keys=True, default=str) == json.dumps(want, sort_keys=True, default=str)


def test_after_a_gap_longer_than_the_holdoff_alarms_open_a_new_incident_after_a_short_one_they_reopen():
    # closed at 1.5 (the gap's start); the hold-off is 3 min of wall time, the gap included
    long_gap = _drive(_tracker("any"), {1.0: [("db", 0.5)], 5.0: [("db", 0.5)]}, gaps=((1.5, 5.0),))
    assert (5.0, "open", "incident-0002") in long_gap
    short_gap = _drive(_tracker("any"), {1.0: [("db", 0.5)], 3.0: [("db", 0.5)]}, gaps=((1.5, 2.5),))
    assert (3.0, "update", "incident-0001") in short_gap and len({i for _, _, i in short_gap}) == 1


def test_a_fault_right_after_a_collection_gap_is_ranked_on_the_clean_traffic_before_the_gap():
    # the 10 min of wall time before the onset hold one minute of traffic: the training window
    # stretches back over the gap to 10 min of observed buckets
    fault = Fault("db", 29 * 60, 32 * 60, delay_ms=60.0)
    spans = chain_spans(40 * 60, faults=(fault,), gaps=((18 * 60, 28.5 * 60),), seed=4)
    opened = [e["incident"] for e in _run(Monitor(CONFIG), spans) if e["event"] == "open"]
    assert len(opened) == 1
    assert fault.start_s - 30 <= opened[0]["onset_unix"] - T0 / S <= fault.start_s + 60
    first = opened[0]["rankings"]["open"]["explain-upstream"][0]
    assert first["service"] == "db", first["why"]


def test_incident_needs_min_services_within_the_window():
    tracker = _tracker("any", min_services=2)
    assert _drive(tracker, {1.0: [("db", 0.5)], 3.0: [("api", 0.5)]}) == []
    tracker = _tracker("any", min_services=2)
    opened = _drive(tracker, {1.0: [("db", 0.5)], 1.5: [("api", 0.5)]})
    assert opened[0] == (1.5, "open", "incident-0001")
    assert tracker.last_closed is not None and tracker.last_closed.onset == _alarm("db", 1.0).time
    assert tracker.last_closed.severity == 0.5 and tracker.last_closed.services() == {"db", "api"}
