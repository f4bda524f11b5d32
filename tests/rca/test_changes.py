"""Change events as a prior: the Change value, the changes file, rca.apply_changes and localize(changes=)."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests_rca_helpers import INJECT, ZDetector, build_series

import rca
from collectors import CollectError, read_changes
from core.changes import Change, change_from_dict
from core.errors import InputError

ONSET = pd.Timestamp("2023-09-22 15:59:00", tz="UTC")


def _ranking(*pairs):
    return rca.Ranking([rca.Candidate(s, float(v), f"evidence of {s}") for s, v in pairs], "m")


def test_change_value_checks_its_fields():
    change = Change("adservice", "2023-09-22T15:56:36Z", "rollout", version="v2", pods="adservice-v2-a;adservice-v2-b")
    assert change.time == pd.Timestamp("2023-09-22 15:56:36", tz="UTC")
    assert change.pods == ("adservice-v2-a", "adservice-v2-b")
    assert change.describe() == "rolled out v2 at 2023-09-22 15:56:36 UTC"
    with pytest.raises(InputError, match="kind 'deploy' is not one of rollout, config, scale, restart, other"):
        Change("a", 0, "deploy")
    with pytest.raises(InputError, match="service must be a service name"):
        Change(" ", 0)
    with pytest.raises(InputError, match="change of a: time: cannot read 'soon'"):
        Change("a", "soon")
    with pytest.raises(InputError, match=r"unknown field\(s\) \['servce'\]"):
        change_from_dict({"servce": "a", "time": 0})


def test_prior_by_hand():
    ranking = _ranking(("a", 10), ("b", 6), ("c", 0), ("d", 0), ("e", 0))
    changes = [
        Change("b", ONSET - pd.Timedelta("5min"), version="v2"),
        Change("d", ONSET - pd.Timedelta("29min"), "config"),
        Change("e", ONSET - pd.Timedelta("31min")),  # before the 30-minute window
        Change("a", ONSET + pd.Timedelta("1s"), "restart"),  # after the onset: an effect, not a cause
        Change("x", ONSET - pd.Timedelta("2min"), "scale"),  # not in the graph
    ]
    out = rca.apply_changes(ranking, changes, ONSET)
    assert [(c.service, c.score) for c in out] == [
        ("b", 12.0),
        ("a", 10.0),
        ("d", 0.0),
        ("x", 0.0),
        ("c", 0.0),
        ("e", 0.0),
    ]
    assert out[0].why == "rolled out v2 at 2023-09-22 15:54:00 UTC, 5.0 min before the onset (prior x2); evidence of b"
    assert out[3].why.startswith("scaled at 2023-09-22 15:57:00 UTC, 2.0 min before the onset (prior x2); no trace")
    assert ranking.services() == ["a", "b", "c", "d", "e"]  # the input is not modified
    # a stronger prior lets the changed service overtake more; boost 0 only reorders ties
    only_b = changes[:1]
    assert rca.apply_changes(_ranking(("a", 10), ("b", 4)), only_b, ONSET).services() == ["a", "b"]
    strong = rca.ChangePrior(boost=2.0)
    assert rca.apply_changes(_ranking(("a", 10), ("b", 4)), only_b, ONSET, strong).services() == ["b", "a"]
    none = rca.ChangePrior(boost=0)
    assert rca.apply_changes(ranking, changes, ONSET, none).services() == ["a", "b", "d", "x", "c", "e"]
    later = rca.ChangePrior(after="10s", kinds=("restart",))
    assert rca.apply_changes(_ranking(("b", 6), ("a", 4)), changes, ONSET, later).services() == ["a", "b"]
    assert rca.apply_changes(ranking, [], ONSET).services() == ranking.services()


def test_prior_settings_are_checked():
    with pytest.raises(rca.RCAError, match="ChangePrior.boost: must be a number >= 0"):
        rca.ChangePrior(boost=-1)
    with pytest.raises(rca.RCAError, match=r"ChangePrior.kinds: unknown kind\(s\) \['rolout'\]"):
        rca.ChangePrior(kinds=("rolout",))
    with pytest.raises(rca.RCAError, match="ChangePrior.window"):
        rca.ChangePrior(window="-5min")
    with pytest.raises(rca.RCAError, match="changes: expected a list"):
        rca.apply_changes(_ranking(("a", 1)), "a", ONSET)


@settings(max_examples=60, deadline=None)
@given(
    scores=st.lists(st.floats(0, 100, allow_nan=False), min_size=1, max_size=8),
    changed=st.sets(st.integers(0, 7)),
    boost=st.floats(0, 5),
)
def test_a_changed_service_never_drops_and_order_within_groups_is_kept(scores, changed, boost):
    names = [f"s{i}" for i in range(len(scores))]
    before = rca.Ranking(
        sorted((rca.Candidate(n, v, "") for n, v in zip(names, scores)), key=lambda c: -c.score), "m"
    ).services()
    ranking = _ranking(*[(n, scores[names.index(n)]) for n in before])
    changes = [Change(names[i], ONSET - pd.Timedelta("1min")) for i in changed if i < len(names)]
    after = rca.apply_changes(ranking, changes, ONSET, rca.ChangePrior(boost=boost)).services()
    assert sorted(after) == sorted(before)
    touched = {c.service for c in changes}
    for name in touched:
        assert after.index(name) <= before.index(name)
    for group in (touched, set(names) - touched):
        assert [n for n in after if n in group] == [n for n in before if n in group]


def test_changes_file_round_trip(tmp_path):
    changes = [
        Change("cart", "2023-09-22T15:50:00Z", "config", "timeout 2s -> 200ms"),
        Change("adservice", 1695398196, "rollout", version="v2", pods=("adservice-v2-a",)),
    ]
    (tmp_path / "changes.json").write_text(json.dumps([c.to_dict() for c in changes]))
    assert read_changes(tmp_path / "changes.json") == sorted(changes, key=lambda c: c.time)
    (tmp_path / "changes.csv").write_text(
        "service,time,kind,detail,version,pods\n"
        'cart,2023-09-22T15:50:00Z,config,"timeout 2s -> 200ms",,\n'
        "adservice,1695398196000,rollout,,v2,adservice-v2-a\n"  # milliseconds: read by the unit rule
    )
    with pytest.warns(UserWarning, match="milliseconds"):
        assert read_changes(tmp_path / "changes.csv") == sorted(changes, key=lambda c: c.time)


def test_changes_file_errors_name_the_row(tmp_path):
    path = tmp_path / "changes.csv"
    path.write_text("service,time,kind\na,1695398196,rollout\nb,yesterday,rollout\n")
    with pytest.raises(CollectError, match=r"changes.csv: row 3: time: cannot read 'yesterday'"):
        read_changes(path)
    path.write_text("service,when\na,1\n")
    with pytest.raises(CollectError, match=r"unknown column\(s\) \['when'\]"):
        read_changes(path)
    path.write_text("service,time,kind\na,1695398196,deploy\n")
    with pytest.raises(CollectError, match="row 2: change of a: kind 'deploy' is not one of"):
        read_changes(path)
    with pytest.raises(CollectError, match="no such changes file"):
        read_changes(tmp_path / "missing.csv")


def test_localize_with_an_innocent_and_a_guilty_change():
    edges = [("a", "b"), ("a", "c"), ("b", "d")]
    es, ss = build_series(edges, fault={"slow": {"d": 20.0}})
    plain = rca.localize(edge_series=es, service_series=ss, inject_time=INJECT, detector=ZDetector)
    assert plain.ranking.services()[0] == "d" and plain.changes == [] and plain.change_prior is None
    # the change of c is innocent: c has no anomalous evidence, so the prior cannot put it first
    innocent = [Change("c", INJECT - pd.Timedelta("2min"), version="v2")]
    result = rca.localize(edge_series=es, service_series=ss, inject_time=INJECT, detector=ZDetector, changes=innocent)
    assert result.ranking.services()[0] == "d"
    assert result.ranking.rank_of("c") <= plain.ranking.rank_of("c")
    assert result.changes == innocent
    assert "changes in the 30min before the onset: c rolled out v2" in result.explain()
    # a change of the slow service: it stays first, and its why says so
    guilty = rca.localize(
        edge_series=es,
        service_series=ss,
        inject_time=INJECT,
        detector=ZDetector,
        changes=[{"service": "d", "time": (INJECT - pd.Timedelta("2min")).isoformat()}],
    )
    assert guilty.ranking[0].service == "d" and "2.0 min before the onset (prior x2)" in guilty.ranking[0].why
    assert guilty.ranking[0].score == pytest.approx(2 * plain.ranking[0].score)
    # no changes given: exactly the method's own ranking
    again = rca.localize(edge_series=es, service_series=ss, inject_time=INJECT, detector=ZDetector, changes=None)
    assert [(c.service, c.score, c.why) for c in again.ranking] == [(c.service, c.score, c.why) for c in plain.ranking]
