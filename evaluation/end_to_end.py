"""End-to-end evaluation: replay a recorded data set through the monitor with no label in sight,
then match the incidents it opened against the labelled faults (``rca evaluate DATASET --onset
detected``).

- An incident **matches** a fault when it opens within [injection - ``early``, injection +
  ``late``] (30 s and 180 s by default); each fault takes the earliest unmatched incident of its
  window, each incident matches at most one fault.
- **recall** = detected faults / usable faults; **precision** = matched incidents / incidents;
  **false incidents per hour** = unmatched incidents that opened outside every fault's window,
  per hour of fault-free time that holds data (seconds with at least one span start, outside
  [injection - ``early``, end of the fault]); **delay** = opening time - injection of each
  detected fault (median and 90th percentile).
- **observable faults** (a diagnostic beside recall, not a replacement): the usable faults a
  monitor could have seen at all, with at least its warm-up of buckets holding data before the
  injection and at least two (an alarm and its confirmation) in the match window after it; their
  recall shows how much of the miss is the data's (collection gaps, a recording that starts just
  before a fault) rather than the detector's.
- **end-to-end AC@k** per ranking method, from the rankings the incident carried when it opened
  (and, separately, when it closed): a fault that was not detected is a miss at every k.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from core.times import to_timedelta
from evaluation.errors import EvaluationError
from evaluation.figures import incident_timeline
from evaluation.metrics import KS, REPORTED_KS, accuracy_at, average_accuracy, rank_of
from evaluation.report import Figure, Heading, Para, Table, fmt, text_table, to_html, to_markdown
from evaluation.streams import Fault, LabelledStream, StartCounter, usable_faults
from monitor import Monitor, MonitorConfig

EARLY = pd.Timedelta("30s")
LATE = pd.Timedelta("180s")
STAGES = ("open", "close")
GAP_SECONDS = 60.0
"""The shortest stretch without any span start that the timeline shows as a collection gap."""


@dataclass
class Replay:
    """What a replay produced: the final state of every incident (its JSON), the counter of span
    starts, the monitor's statistics and the wall time."""

    incidents: list[dict[str, Any]]
    seen: StartCounter
    stats: dict[str, Any]
    seconds: float
    spans: int
    closes: list[dict[str, Any]] = field(default_factory=list)


def replay(
    stream: LabelledStream,
    config: MonitorConfig | None = None,
    *,
    on_batch: Callable[[int, Monitor], None] | None = None,
) -> Replay:
    """Every batch of ``stream`` through one :class:`monitor.Monitor`; ``on_batch(i, monitor)``
    after each (progress)."""
    monitor = Monitor(config or MonitorConfig())
    seen = StartCounter()
    latest: dict[str, dict[str, Any]] = {}
    order: list[str] = []
    started = time.perf_counter()
    spans = 0

    def keep(events):
        for event in events:
            if event["event"] in ("open", "update", "close"):
                incident = event["incident"]
                if incident["id"] not in latest:
                    order.append(incident["id"])
                latest[incident["id"]] = incident

    for i, batch in enumerate(stream.batches()):
        seen.add(batch)
        spans += len(batch)
        keep(monitor.ingest(batch))
        if on_batch is not None:
            on_batch(i, monitor)
    keep(monitor.flush())
    return Replay(
        [latest[i] for i in order],
        seen,
        monitor.stats_json(),
        time.perf_counter() - started,
        spans,
    )


def fault_end(fault: Fault, late: pd.Timedelta = LATE) -> pd.Timestamp:
    """The end of a fault's window: its recorded end, at least ``late`` after the injection."""
    if fault.end_time is None:
        return fault.inject_time + late
    return max(fault.end_time, fault.inject_time + late)


def match(
    faults: list[Fault], incidents: list[dict[str, Any]], early: pd.Timedelta = EARLY, late: pd.Timedelta = LATE
) -> dict[str, dict[str, Any]]:
    """``fault_id -> incident`` for the detected faults (module docstring)."""
    opened = sorted(incidents, key=lambda i: i["opened_unix"])
    taken: set[str] = set()
    matched: dict[str, dict[str, Any]] = {}
    for fault in sorted(faults, key=lambda f: f.inject_time):
        lo = (fault.inject_time - early).value / 1e9
        hi = (fault.inject_time + late).value / 1e9
        for incident in opened:
            if incident["id"] not in taken and lo <= incident["opened_unix"] <= hi:
                matched[fault.fault_id] = incident
                taken.add(incident["id"])
                break
    return matched


def _ranking(incident: dict[str, Any] | None, stage: str, method: str) -> list[str] | None:
    if incident is None:
        return None
    candidates = incident.get("rankings", {}).get(stage, {}).get(method)
    if not candidates:
        return []
    return [c["service"] for c in candidates if c["service"]]


def _accuracy(ranks: list[int | None]) -> dict[str, float]:
    out = {f"AC@{k}": accuracy_at(ranks, k) for k in KS}
    out["Avg@5"] = average_accuracy(ranks, 5)
    return out


def score(
    faults: list[Fault],
    run: Replay,
    methods: list[str],
    *,
    early: pd.Timedelta = EARLY,
    late: pd.Timedelta = LATE,
    skipped: list[tuple[str, str]] | None = None,
    monitor: MonitorConfig | None = None,
) -> dict[str, Any]:
    """The ``results.json`` of ``--onset detected``: per method the end-to-end AC@k at open (the
    keys of the labelled-onset results) with an ``at_close`` object, and ``detection`` (with
    ``observable`` when the ``monitor`` that ran is given: its warm-up and bucket)."""
    matched = match(faults, run.incidents, early, late)
    delays = [matched[f.fault_id]["opened_unix"] - f.inject_time.value / 1e9 for f in faults if f.fault_id in matched]
    windows = [((f.inject_time - early).value // 10**9, fault_end(f, late).value // 10**9) for f in faults]
    seconds = run.seen.seconds_with_data()
    inside = np.zeros(len(seconds), dtype=bool)
    for lo, hi in windows:
        inside |= (seconds >= lo) & (seconds < hi)
    free_hours = float((~inside).sum()) / 3600
    matched_ids = {i["id"] for i in matched.values()}

    def in_a_window(incident):
        return any(lo <= incident["opened_unix"] < hi for lo, hi in windows)

    false_free = [i for i in run.incidents if i["id"] not in matched_ids and not in_a_window(i)]
    detection = {
        "faults": len(faults),
        "detected": len(matched),
        "recall": len(matched) / len(faults) if faults else float("nan"),
        "incidents": len(run.incidents),
        "matched_incidents": len(matched),
        "precision": len(matched) / len(run.incidents) if run.incidents else float("nan"),
        "false_per_hour": len(false_free) / free_hours if free_hours > 0 else float("nan"),
        "false_incidents_outside_faults": len(false_free),
        "fault_free_hours": round(free_hours, 3),
        "delay_median_s": float(np.median(delays)) if delays else float("nan"),
        "delay_p90_s": float(np.percentile(delays, 90)) if delays else float("nan"),
        "window": {"early_s": early.total_seconds(), "late_s": late.total_seconds()},
        "replay_seconds": round(run.seconds, 3),
        "spans": run.spans,
        "monitor": run.stats,
    }
    by_type: dict[str, dict[str, Any]] = {}
    for fault in faults:
        entry = by_type.setdefault(fault.fault_type, {"faults": 0, "detected": 0})
        entry["faults"] += 1
        entry["detected"] += fault.fault_id in matched
    for entry in by_type.values():
        entry["recall"] = entry["detected"] / entry["faults"]
    detection["by_fault_type"] = by_type
    if monitor is not None:
        warmup, bucket = to_timedelta(monitor.warmup), to_timedelta(monitor.bucket)
        seen = observable_faults(faults, seconds, warmup, bucket, late)
        found = sum(f.fault_id in matched for f in seen)
        detection["observable"] = {
            "faults": len(seen),
            "detected": found,
            "recall": found / len(seen) if seen else float("nan"),
            "rule": (
                f">= {int(warmup // bucket)} buckets of {bucket.total_seconds():g} s with data before the "
                f"injection, >= 2 in the {late.total_seconds():g} s after"
            ),
            "not_observable": [f.fault_id for f in faults if f not in seen],
        }

    results: dict[str, Any] = {"onset": "detected", "detection": detection}
    for method in methods:
        per_stage: dict[str, dict[str, Any]] = {}
        for stage in STAGES:
            per_case = []
            for fault in faults:
                incident = matched.get(fault.fault_id)
                ranking = _ranking(incident, stage, method)
                rank = None if ranking is None else rank_of(ranking, fault.root_causes)
                per_case.append(
                    {
                        "case_id": fault.fault_id,
                        "fault_type": fault.fault_type,
                        "root_causes": fault.root_causes,
                        "injected_at": fault.inject_time.isoformat(),
                        "incident": None if incident is None else incident["id"],
                        "delay_s": None
                        if incident is None
                        else round(incident["opened_unix"] - fault.inject_time.value / 1e9, 3),
                        "rank": rank,
                        "ranking": (ranking or [])[:5],
                    }
                )
            ranks = [c["rank"] for c in per_case]
            per_stage[stage] = {**_accuracy(ranks), "cases": len(faults), "per_case": per_case}
        results[method] = {**per_stage["open"], "at_close": per_stage["close"]}
    results["timeline"] = {
        "faults": [
            [f.inject_time.value / 1e9, fault_end(f, late).value / 1e9, ",".join(f.root_causes)] for f in faults
        ],
        "gaps": collection_gaps(seconds),
        "span": [float(seconds[0]), float(seconds[-1]) + 1] if len(seconds) else None,
    }
    results["skipped"] = [{"case_id": c, "reason": r} for c, r in (skipped or [])]
    results["incidents"] = [_incident_summary(i) for i in run.incidents]
    return results


def observable_faults(
    faults: list[Fault], seconds: np.ndarray, warmup: pd.Timedelta, bucket: pd.Timedelta, late: pd.Timedelta = LATE
) -> list[Fault]:
    """The faults with at least ``warmup // bucket`` buckets holding data (``seconds``: the Unix
    seconds with a span start) before the injection and at least 2 in [injection, injection +
    ``late``) (module docstring)."""
    width = bucket.total_seconds()
    buckets = np.unique(np.floor_divide(seconds, width)) * width
    needed = max(1, int(warmup // bucket))
    out = []
    for fault in faults:
        inject = fault.inject_time.value / 1e9
        start = np.floor(inject / width) * width
        before = int(np.count_nonzero(buckets < start))
        after = int(np.count_nonzero((buckets >= start) & (buckets < inject + late.total_seconds())))
        if before >= needed and after >= 2:
            out.append(fault)
    return out


def collection_gaps(seconds: np.ndarray, at_least: float = GAP_SECONDS) -> list[list[float]]:
    """``[start, end)`` (Unix seconds) of every stretch of at least ``at_least`` seconds without a
    span start, between the first and the last second that holds data."""
    if len(seconds) < 2:
        return []
    step = np.diff(seconds)
    where = np.flatnonzero(step > at_least)
    return [[float(seconds[i]) + 1, float(seconds[i + 1])] for i in where]


def write_detection_report(results: dict[str, Any], out_dir: Path, methods: list[str]) -> tuple[Path, Path]:
    """``report.md`` (+ ``figures/timeline.png``) and ``report.html`` of an end-to-end run."""
    try:
        (out_dir / "figures").mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EvaluationError(f"{out_dir}: cannot create the report folder ({exc})") from exc
    d = results["detection"]
    matched = {c["incident"] for c in results[methods[0]]["per_case"] if c["incident"]} if methods else set()
    timeline = results["timeline"]
    blocks: list[Any] = [
        Para(
            "The recorded data was replayed through the monitor with no label in sight; incidents opened by the "
            f"monitor were then matched to the labelled faults (an incident matches a fault when it opens within "
            f"{d['window']['early_s']:g} s before to {d['window']['late_s']:g} s after the injection)."
        ),
        Heading(2, "Detection"),
        Table(
            None,
            [
                ["faults (usable)", str(d["faults"])],
                ["detected", f"{d['detected']} (recall {fmt(d['recall'])})"],
                *(
                    [
                        [
                            "observable faults (a diagnostic)",
                            f"{d['observable']['faults']}, {d['observable']['detected']} detected "
                            f"(recall {fmt(d['observable']['recall'])}; {d['observable']['rule']})",
                        ]
                    ]
                    if "observable" in d
                    else []
                ),
                ["incidents", f"{d['incidents']} ({d['matched_incidents']} matched, precision {fmt(d['precision'])})"],
                ["false incidents per fault-free hour", f"{fmt(d['false_per_hour'])} ({d['fault_free_hours']} h)"],
                ["delay median / p90", f"{fmt(d['delay_median_s'], 0)} s / {fmt(d['delay_p90_s'], 0)} s"],
                ["replay", f"{d['spans']} spans in {fmt(d['replay_seconds'], 1)} s"],
            ],
        ),
        Table(
            ["fault type", "faults", "detected", "recall"],
            [
                [k, str(v["faults"]), str(v["detected"]), fmt(v["recall"])]
                for k, v in sorted(d["by_fault_type"].items())
            ],
        ),
    ]
    if timeline["span"] is not None:
        incidents = [
            (i["onset_unix"], i["closed_unix"] or timeline["span"][1], i["severity"], i["id"] in matched)
            for i in results["incidents"]
        ]
        data = incident_timeline(timeline["faults"], incidents, timeline["gaps"], tuple(timeline["span"]))
        blocks.append(Figure("timeline", "Incidents (severity) against the labelled faults, and collection gaps", data))
    blocks += [
        Heading(2, "End-to-end accuracy"),
        Table(
            ["method", "AC@1", "AC@3", "AC@5", "at close AC@1", "at close AC@3"],
            [
                [
                    m,
                    *(fmt(results[m][f"AC@{k}"]) for k in (1, 3, 5)),
                    fmt(results[m]["at_close"]["AC@1"]),
                    fmt(results[m]["at_close"]["AC@3"]),
                ]
                for m in methods
            ],
        ),
    ]
    if methods:
        blocks += [
            Heading(2, f"Faults ({methods[0]})"),
            Table(
                ["fault", "type", "root cause", "incident", "delay s", "rank at open", "ranked first"],
                [
                    [
                        c["case_id"],
                        c["fault_type"],
                        ", ".join(c["root_causes"]),
                        c["incident"] or "missed",
                        fmt(c["delay_s"], 0),
                        "-" if c["rank"] is None else str(c["rank"]),
                        (c["ranking"] or ["-"])[0],
                    ]
                    for c in results[methods[0]]["per_case"]
                ],
            ),
        ]
    title = f"End-to-end detection and localization on {results.get('dataset', 'a data set')}"
    for figure in (b for b in blocks if isinstance(b, Figure)):
        (out_dir / "figures" / f"{figure.name}.png").write_bytes(figure.data)
    md_path, html_path = out_dir / "report.md", out_dir / "report.html"
    md_path.write_text(to_markdown(title, blocks))
    html_path.write_text(to_html(title, blocks))
    return md_path, html_path


def _incident_summary(incident: dict[str, Any]) -> dict[str, Any]:
    return {
        k: incident[k]
        for k in ("id", "onset", "onset_unix", "opened_at", "opened_unix", "closed_unix", "severity", "reopened")
    } | {"alarmed_series": len(incident["alarmed_series"])}


def evaluate_stream(
    stream: LabelledStream,
    methods: list[str],
    config: MonitorConfig | None = None,
    *,
    before: str | pd.Timedelta = "10min",
    after: str | pd.Timedelta = "3min",
    min_spans: int = 1,
    early: pd.Timedelta = EARLY,
    late: pd.Timedelta = LATE,
    on_batch: Callable[[int, Monitor], None] | None = None,
) -> dict[str, Any]:
    """Replay ``stream``, decide which faults are usable from the spans it held (the rule of
    ``rca evaluate``), and score (module docstring)."""
    config = config or MonitorConfig(methods=tuple(methods))
    run = replay(stream, config, on_batch=on_batch)
    usable, skipped = usable_faults(stream.faults, run.seen, before=before, after=after, min_spans=min_spans)
    results = score(usable, run, methods, early=early, late=late, skipped=skipped, monitor=config)
    results["dataset"] = stream.name
    results["layout"] = stream.layout
    results["notes"] = stream.notes
    results["monitor_config"] = config.to_json()
    return results


def format_detection(results: dict[str, Any], methods: list[str], labelled: dict[str, Any] | None = None) -> str:
    """The text ``rca evaluate --onset detected`` prints: detection, then AC@k per method."""
    d = results["detection"]
    lines = [
        f"faults {d['faults']}  detected {d['detected']}  recall {d['recall']:.2f}  |  incidents {d['incidents']}  "
        f"matched {d['matched_incidents']}  precision {_f(d['precision'])}  |  false/hour {_f(d['false_per_hour'])}  "
        f"|  delay median {_f(d['delay_median_s'], 0)} s, p90 {_f(d['delay_p90_s'], 0)} s",
    ]
    if "observable" in d:
        o = d["observable"]
        lines.append(
            f"  of which observable ({o['rule']}): {o['faults']}, detected {o['detected']}, recall {_f(o['recall'])}"
            " (a diagnostic: the recall above is the measure)"
        )
    for kind, entry in sorted(d["by_fault_type"].items()):
        lines.append(
            f"  {kind:<24} faults {entry['faults']:>3}  detected {entry['detected']:>3}  recall {entry['recall']:.2f}"
        )
    header = ["method", *(f"AC@{k}" for k in REPORTED_KS), "close AC@1", "close AC@3"]
    if labelled:
        header += ["labelled AC@1", "labelled AC@3"]
    rows = []
    for m in methods:
        r = results[m]
        row = [m, *(_f(r[f"AC@{k}"]) for k in REPORTED_KS), _f(r["at_close"]["AC@1"]), _f(r["at_close"]["AC@3"])]
        if labelled:
            lab = labelled.get(m, {})
            row += [_f(lab.get("AC@1")), _f(lab.get("AC@3"))]
        rows.append(row)
    table = text_table(header, rows)
    return "\n".join([*lines, "", "end-to-end AC@k (an undetected fault is a miss at every k):", table])


def _f(value, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "-"
    return f"{value:.{digits}f}"
