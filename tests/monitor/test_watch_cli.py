"""``rca watch --replay`` and ``rca evaluate --onset detected`` on a synthetic timeline folder (the
layout ``rca suite run --timeline`` writes) holding two faults whose answer is known."""

import json

import pytest

from application.cli import main
from chaos_scenarios.case_folder import CaseLabel
from chaos_scenarios.timeline import SPANS_FILE, TIMELINE_FILE, TIMELINE_FORMAT
from tests.monitor.synthetic import T0, Fault, S, chain_spans

FAULTS = (Fault("db", 20 * 60, 23 * 60, delay_ms=60.0), Fault("api", 31 * 60, 34 * 60, error_rate=0.5))


@pytest.fixture(scope="module")
def timeline(tmp_path_factory):
    folder = tmp_path_factory.mktemp("timeline")
    spans = chain_spans(40 * 60, faults=FAULTS, seed=11)
    spans.to_parquet(folder / SPANS_FILE)
    labels = [
        CaseLabel(
            case_id=f"case-{i}",
            root_cause=[f.service],
            fault_type="delay" if f.delay_ms else "errors",
            chaos_kind="NetworkChaos",
            action="delay" if f.delay_ms else "abort",
            injected_at=T0 / S + f.start_s,
            recovered_at=T0 / S + f.end_s,
            window_start=T0 / S + f.start_s - 600,
            window_end=T0 / S + f.end_s + 120,
            backend="synthetic",
        ).to_json()
        for i, f in enumerate(FAULTS)
    ]
    info = {
        "format": TIMELINE_FORMAT,
        "suite": "synthetic",
        "backend": "synthetic",
        "start": T0 / S,
        "end": T0 / S + 40 * 60,
        "lead_in": 1500,
        "spans": len(spans),
        "faults": labels,
    }
    (folder / TIMELINE_FILE).write_text(json.dumps(info))
    return folder


def test_watch_replay_writes_the_incidents_as_json_lines(timeline, tmp_path, capsys):
    out = tmp_path / "incidents.jsonl"
    code = main(
        [
            "watch",
            "--replay",
            str(timeline),
            "--output",
            str(out),
            "-m",
            "explain-upstream",
            "--checkpoint",
            str(tmp_path / "cp"),
        ]
    )
    assert code == 0
    events = [json.loads(line) for line in out.read_text().splitlines()]
    opened = [e["incident"] for e in events if e["event"] == "open"]
    assert [i["rankings"]["open"]["explain-upstream"][0]["service"] for i in opened] == ["db", "api"]
    assert (tmp_path / "cp" / "CURRENT").is_file()
    assert "2 incident(s)" in capsys.readouterr().err


def test_evaluate_onset_detected_scores_detection_and_rankings(timeline, tmp_path):
    out = tmp_path / "r.json"
    code = main(
        [
            "evaluate",
            str(timeline),
            "--onset",
            "detected",
            "-m",
            "explain-upstream",
            "--json",
            str(out),
            "--out",
            str(tmp_path / "report"),
            "-q",
        ]
    )
    assert code == 0
    results = json.loads(out.read_text())
    d = results["detection"]
    assert results["onset"] == "detected"
    assert (d["faults"], d["detected"], d["recall"], d["incidents"], d["precision"]) == (2, 2, 1.0, 2, 1.0)
    assert 0 <= d["delay_median_s"] <= 90 and d["false_per_hour"] == 0
    assert (d["observable"]["faults"], d["observable"]["recall"], d["observable"]["not_observable"]) == (2, 1.0, [])
    method = results["explain-upstream"]
    assert method["AC@1"] == 1.0 and method["at_close"]["AC@1"] == 1.0
    assert results["labelled"] is None, "a timeline folder has no case layout for the labelled comparison"
    assert (tmp_path / "report" / "report.html").is_file()
    assert (tmp_path / "report" / "figures" / "timeline.png").stat().st_size > 1000


def test_options_the_monitor_does_not_use_are_refused_not_ignored(timeline, capsys):
    assert main(["evaluate", str(timeline), "--onset", "detected", "--pods", "--changes"]) == 1
    assert "--changes, --pods: not available with --onset detected" in capsys.readouterr().err
    assert main(["evaluate", str(timeline), "--monitor-set", "warmup=20min"]) == 1
    assert "applies to --onset detected only" in capsys.readouterr().err


def test_bad_monitor_setting_is_a_usage_error(timeline, capsys):
    assert main(["watch", "--replay", str(timeline), "--monitor-set", "warmup"]) == 1
    assert "KEY=VALUE" in capsys.readouterr().err
    assert main(["watch", "--replay", str(timeline), "--monitor-set", "min_services=two"]) == 1


def test_watch_jaeger_polls_the_double_until_end(tmp_path, capsys):
    """Against the Jaeger test double (tests/doubles/jaeger_double.py, NOT a Jaeger server): the
    synthetic spans served over the classic API, polled from --start to --end."""
    from jaeger_double import JaegerDouble

    from collectors import to_jaeger_traces

    spans = chain_spans(12 * 60, seed=2)
    out = tmp_path / "events.jsonl"
    with JaegerDouble(to_jaeger_traces(spans), api="v1") as jaeger:
        code = main(
            [
                "watch",
                "--jaeger",
                jaeger.url,
                "--start",
                str(T0 // S),
                "--end",
                str(T0 // S + 12 * 60),
                "--interval",
                "0",
                "--output",
                str(out),
                "--stats",
                "-m",
                "explain-upstream",
            ]
        )
    assert code == 0
    stats = [json.loads(line)["stats"] for line in out.read_text().splitlines() if '"stats"' in line]
    assert stats and stats[-1]["spans_ingested"] == len(spans)
    assert f"{len(spans)} spans" in capsys.readouterr().err
    assert main(["watch", "--replay", "x", "--end", "5"]) == 1
