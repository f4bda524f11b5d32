"""Evaluation reports: one Markdown file and one self-contained HTML page per run.

Both are written from the same :class:`~evaluation.runner.Evaluation` and the same
figure bytes (PNG files next to the Markdown; base64-embedded in the HTML), so every
table and figure comes from the one run. A report records the data set, the
parameters, the code version and the time it was made, then shows

- the accuracy table of every method (AC@1/3/5, Avg@5, mean rank, failures, time per
  case) with the chance level for the cases' numbers of candidates;
- bars per method and per fault type;
- the skipped cases with their reasons;
- per case: the truth, the rank each method gave it, the top candidates of the
  detailed method with their ``why``, the service graph coloured by score and the most
  anomalous edge/service series with the fault window and the alarms drawn in.
"""

from __future__ import annotations

import base64
import html
import importlib.metadata
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import graph as graph_pkg
from core.times import bucket_floor
from evaluation import figures
from evaluation.cases import Case
from evaluation.errors import EvaluationError
from evaluation.metrics import REPORTED_KS, by_fault_type
from evaluation.runner import Evaluation
from rca.detection import derived_edge_frame

TOP_SERIES = 4
TOP_CANDIDATES = 5


def code_version() -> str:
    """``git describe --always --dirty`` of the source tree, else the installed package version."""
    root = Path(__file__).resolve().parents[1]
    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--tags"], cwd=root, capture_output=True, text=True, timeout=10
        )
        if out.returncode == 0 and out.stdout.strip():
            return f"git {out.stdout.strip()}"
    except (OSError, subprocess.SubprocessError):
        pass
    try:
        return f"rca-fluxev {importlib.metadata.version('rca-fluxev')}"
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


@dataclass
class Figure:
    name: str
    caption: str
    data: bytes


def fmt(value: Any, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def accuracy_rows(evaluation: Evaluation) -> tuple[list[str], list[list[str]]]:
    header = ["method", *(f"AC@{k}" for k in REPORTED_KS), "Avg@5", "mean rank", "cases", "failed", "s/case"]
    rows = []
    for method in evaluation.methods:
        s = evaluation.summary(method)
        name = f"{method} (default)" if method == evaluation.default_method else method
        rows.append(
            [
                name,
                *(fmt(s[f"AC@{k}"]) for k in REPORTED_KS),
                fmt(s["Avg@5"]),
                fmt(s["mean_rank"]),
                str(s["cases"]),
                str(s["failed"]),
                fmt(s["seconds_per_case"], 3),
            ]
        )
    if evaluation.methods:
        chance = evaluation.summary(evaluation.methods[0])["chance"]
        mean_n = evaluation.summary(evaluation.methods[0])["mean_candidates"]
        rows.append(
            [
                f"chance level (mean {fmt(mean_n, 1)} candidates)",
                *(fmt(chance[f"AC@{k}"]) for k in REPORTED_KS),
                fmt(chance["Avg@5"]),
                "",
                "",
                "",
                "",
            ]
        )
    return header, rows


def fault_rows(evaluation: Evaluation) -> tuple[list[str], list[list[str]]]:
    header = ["fault type", "cases", *(f"{m} AC@1 / AC@3" for m in evaluation.methods)]
    tables = {m: by_fault_type(evaluation.outcomes[m]) for m in evaluation.methods}
    faults = sorted({f for t in tables.values() for f in t})
    rows = []
    for fault in faults:
        n = max(t.get(fault, {}).get("cases", 0) for t in tables.values())
        rows.append(
            [
                fault,
                str(n),
                *(
                    f"{fmt(tables[m].get(fault, {}).get('AC@1'))} / {fmt(tables[m].get(fault, {}).get('AC@3'))}"
                    for m in evaluation.methods
                ),
            ]
        )
    return header, rows


def case_rows(evaluation: Evaluation) -> tuple[list[str], list[list[str]]]:
    header = [
        "case",
        "fault type",
        "root cause",
        *(f"rank ({m})" for m in evaluation.methods),
        "top 3 (detailed method)",
    ]
    detail = evaluation.kept_method or (evaluation.methods[0] if evaluation.methods else None)
    by_method = {m: {o.case_id: o for o in evaluation.outcomes[m]} for m in evaluation.methods}
    rows = []
    for case in evaluation.cases:
        ranks = []
        for m in evaluation.methods:
            o = by_method[m].get(case.case_id)
            if o is None:
                ranks.append("")
            elif o.error:
                ranks.append("failed")
            else:
                ranks.append(str(o.rank) if o.rank is not None else f"miss (>{o.n_candidates})")
        top = (
            by_method[detail][case.case_id].ranking[:3]
            if detail in by_method and case.case_id in by_method[detail]
            else []
        )
        rows.append([case.case_id, case.fault_type, ", ".join(case.root_causes), *ranks, ", ".join(top)])
    return header, rows


def _bucket_of(evidence: Any, case: Case) -> pd.Timedelta:
    if case.edge_series is not None and "bucket" in case.edge_series.attrs:
        return pd.Timedelta(case.edge_series.attrs["bucket"])
    for frame in getattr(evidence, "scores", {}).values():
        steps = np.diff(frame.index.asi8) if len(frame) > 1 else []
        steps = [s for s in steps if s > 0]
        if steps:
            return pd.Timedelta(int(min(steps)), unit="ns")
    return pd.Timedelta("30s")


def series_frames(case: Case, evidence: Any) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    """The case's full edge series (with rca's derived metrics) and service series, for plotting,
    rebuilt from the spans with the bucket the evidence used and aligned on the injection."""
    bucket = _bucket_of(evidence, case)
    edge, service = case.edge_series, None
    spans = case.load_spans() if edge is None else None
    if spans is not None and len(spans):
        first = pd.Timestamp(int(spans["start_us"].min()), unit="us", tz="UTC")
        start = bucket_floor(first, bucket, origin=case.inject_time)
        edge = graph_pkg.edge_series(spans, bucket=bucket, start=start, origin=case.inject_time)
        service = graph_pkg.service_series(spans, bucket=bucket, start=start, origin=case.inject_time)
    if edge is None:
        return None, None
    return derived_edge_frame(edge, service), service


def series_panels(case: Case, result: Any, limit: int = TOP_SERIES) -> list[dict]:
    """The ``limit`` strongest series of the evidence, each with its values and alarms."""
    evidence = getattr(result, "evidence", None)
    table = getattr(evidence, "table", None)
    if table is None or not len(table) or "strength" not in table:
        return []
    top = table[table["strength"] > 0].sort_values("strength", ascending=False).head(limit)
    if top.empty:
        return []
    edge_frame, service_frame = series_frames(case, evidence)
    panels = []
    for _, row in top.iterrows():
        kind, caller, callee, metric = row["kind"], row["caller"], row["callee"], row["metric"]
        key = (kind, caller, callee, metric)
        scored = getattr(evidence, "scores", {}).get(key)
        values = None
        try:
            if kind == "edge" and edge_frame is not None and metric in edge_frame:
                values = edge_frame[metric].xs((caller, callee), level=("caller", "callee"))
            elif kind == "service" and service_frame is not None and metric in service_frame:
                values = service_frame[metric].xs(caller, level="service")
        except KeyError:
            values = None
        if values is None:
            if scored is None or "value" not in scored:
                continue
            values = scored["value"]
        alarms = list(scored.index[scored["alarm"].astype(bool)]) if scored is not None and "alarm" in scored else []
        where = f"{caller} → {callee}" if kind == "edge" else f"service {caller}"
        label = (
            f"{where}: {metric} (strength {fmt(float(row['strength']))}, "
            f"{int(row['alarms']) if pd.notna(row.get('alarms')) else 0} alarm(s))"
        )
        panels.append({"label": label, "values": values, "alarms": alarms, "first_alarm": row.get("first_alarm")})
    return panels


def edge_strengths(result: Any) -> dict[tuple[str, str], float]:
    table = getattr(getattr(result, "evidence", None), "table", None)
    if table is None or not len(table) or "strength" not in table:
        return {}
    edges = table[table["kind"] == "edge"]
    return {
        (str(a), str(b)): float(v)
        for (a, b), v in edges.groupby(["caller", "callee"], observed=True)["strength"].max().items()
    }


def case_figures(case: Case, result: Any, method: str) -> list[Figure]:
    ranking = getattr(result, "ranking", None)
    scores = {str(c.service): float(c.score) for c in getattr(ranking, "candidates", ranking or [])}
    out = []
    graph = getattr(result, "graph", None)
    if graph is not None and graph.number_of_nodes():
        out.append(
            Figure(
                f"{_slug(case.case_id)}-graph",
                f"{case.case_id}: service graph, nodes coloured by "
                f"{method} score, edges by their strongest anomaly; black outline = root cause",
                figures.graph_by_score(graph, scores, case.root_causes, edge_strengths(result)),
            )
        )
    panels = series_panels(case, result)
    out.append(
        Figure(
            f"{_slug(case.case_id)}-series",
            f"{case.case_id}: the {len(panels)} most anomalous series "
            f"(orange: fault window from the injection; red dots: alarms; dotted: first alarm)",
            figures.edge_series_panel(panels, case.inject_time, case.end_time),
        )
    )
    return out


def write_report(
    evaluation: Evaluation,
    out_dir: str | Path,
    *,
    dataset: str,
    parameters: dict | None = None,
    title: str | None = None,
    per_case_figures: bool = True,
) -> tuple[Path, Path]:
    """Write ``report.md`` (+ ``figures/*.png``) and ``report.html`` into ``out_dir``."""
    out_dir = Path(out_dir)
    try:
        (out_dir / "figures").mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EvaluationError(f"{out_dir}: cannot create the report folder ({exc})") from exc
    title = title or f"Root-cause localization on {dataset}"
    made = pd.Timestamp.now(tz="UTC").strftime("%Y-%m-%d %H:%M:%S UTC")
    info = [
        ("data set", dataset),
        ("code version", code_version()),
        ("made", made),
        ("usable cases", str(len(evaluation.cases))),
        ("skipped cases", str(len(evaluation.skipped))),
        ("methods", ", ".join(evaluation.methods)),
        ("default method", evaluation.default_method),
        ("detailed per case", evaluation.kept_method or ""),
    ]
    info += [(str(k), str(v)) for k, v in (parameters or {}).items()]
    info += [(str(k), str(v)) for k, v in evaluation.settings.items()]

    summaries = {m: evaluation.summary(m) for m in evaluation.methods}
    chance = summaries[evaluation.methods[0]]["chance"] if evaluation.methods else {}
    overall = (
        [Figure("accuracy", "AC@k per method; dashed lines: chance level", figures.accuracy_bars(summaries, chance))]
        if evaluation.methods
        else []
    )
    if evaluation.methods and evaluation.cases:
        by_type = {m: by_fault_type(evaluation.outcomes[m]) for m in evaluation.methods}
        overall += [
            Figure(
                f"fault-types-{_slug(metric)}",
                f"{metric} per fault type and method",
                figures.fault_type_bars(by_type, metric),
            )
            for metric in ("AC@1", "AC@3")
        ]

    sections: list[dict[str, Any]] = []
    outcomes = {m: {o.case_id: o for o in evaluation.outcomes[m]} for m in evaluation.methods}
    for case in evaluation.cases:
        result = evaluation.kept.get(case.case_id)
        detail = outcomes.get(evaluation.kept_method or "", {}).get(case.case_id)
        sections.append(
            {
                "case": case,
                "result": result,
                "outcomes": {m: outcomes[m].get(case.case_id) for m in evaluation.methods},
                "error": detail.error if detail else None,
                "figures": case_figures(case, result, evaluation.kept_method or "")
                if (per_case_figures and result is not None)
                else [],
            }
        )

    for figure in overall + [f for s in sections for f in s["figures"]]:
        (out_dir / "figures" / f"{figure.name}.png").write_bytes(figure.data)
    md_path = out_dir / "report.md"
    html_path = out_dir / "report.html"
    md_path.write_text(_markdown(title, info, evaluation, overall, sections))
    html_path.write_text(_html(title, info, evaluation, overall, sections))
    return md_path, html_path


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in text)


def _case_summary_lines(section: dict, evaluation: Evaluation) -> tuple[list[tuple[str, str]], list[list[str]]]:
    case: Case = section["case"]
    facts = [
        ("root cause", ", ".join(case.root_causes)),
        ("fault type", case.fault_type),
        ("injected", str(case.inject_time)),
        ("ends", str(case.end_time) if case.end_time is not None else "not recorded (scored to the end of the data)"),
        (
            "data",
            f"edge series, {len(case.edge_series)} rows"
            if case.source == "edge_series" and case.edge_series is not None
            else f"{case.metadata.get('spans', len(case.spans) if case.spans is not None else '?')} spans",
        ),
    ]
    for m, o in section["outcomes"].items():
        if o is None:
            continue
        verdict = (
            "failed: " + o.error
            if o.error
            else (f"rank {o.rank} of {o.n_candidates}" if o.rank else f"not ranked ({o.n_candidates} candidates)")
        )
        facts.append((f"{m}", f"{verdict}; {o.seconds:.2f} s"))
    for key, value in case.metadata.items():
        if key in ("layout", "dataset") or (isinstance(value, (dict, list)) and not value):
            continue
        facts.append((str(key), str(value)))
    rows = []
    ranking = getattr(section["result"], "ranking", None)
    truth = set(case.root_causes)
    for i, c in enumerate(list(getattr(ranking, "candidates", ranking or []))[:TOP_CANDIDATES], 1):
        mark = " ✔" if str(c.service) in truth else ""
        rows.append([str(i), f"{c.service}{mark}", fmt(float(c.score), 3), str(c.why)])
    return facts, rows


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    def cell(text: str) -> str:
        return str(text).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _markdown(title, info, evaluation, overall, sections) -> str:
    parts = [
        f"# {title}",
        "",
        _md_table(["", ""], [[k, v] for k, v in info]),
        "",
        "## Accuracy",
        "",
        _md_table(*accuracy_rows(evaluation)),
        "",
        "AC@k: fraction of usable cases whose root cause is among the top k. Avg@5: mean of AC@1..AC@5. "
        "Mean rank: a root cause that is not ranked (or a failed run) counts as rank N+1 for N candidates. "
        "Chance level: expected AC@k of a random order of each case's candidates.",
        "",
    ]
    parts += [f"![{f.caption}](figures/{f.name}.png)" + "\n" for f in overall]
    parts += ["## By fault type", "", _md_table(*fault_rows(evaluation)), "", "## Skipped cases", ""]
    parts += [
        _md_table(["case", "reason"], [[c, r] for c, r in evaluation.skipped]) if evaluation.skipped else "None.",
        "",
        "## Cases",
        "",
        _md_table(*case_rows(evaluation)),
        "",
    ]
    for section in sections:
        facts, rows = _case_summary_lines(section, evaluation)
        parts += [f"### {section['case'].case_id}", "", _md_table(["", ""], [[k, v] for k, v in facts]), ""]
        if rows:
            parts += [
                f"Top candidates ({evaluation.kept_method}):",
                "",
                _md_table(["rank", "service", "score", "why"], rows),
                "",
            ]
        parts += [f"![{f.caption}](figures/{f.name}.png)\n" for f in section["figures"]]
    return "\n".join(parts) + "\n"


def _html_table(header, rows, cls="") -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _img(figure: Figure) -> str:
    data = base64.b64encode(figure.data).decode("ascii")
    return (
        f'<figure><img alt="{html.escape(figure.caption)}" src="data:image/png;base64,{data}">'
        f"<figcaption>{html.escape(figure.caption)}</figcaption></figure>"
    )


STYLE = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222;padding:0 1em}
table{border-collapse:collapse;margin:.6em 0;font-size:.88em}
td,th{border:1px solid #ccc;padding:.25em .55em;text-align:left;vertical-align:top}
th{background:#f3f3f3} figure{margin:.8em 0} img{max-width:100%}
figcaption{font-size:.8em;color:#555} details{margin:.4em 0;border-top:1px solid #ddd;padding-top:.3em}
summary{cursor:pointer;font-weight:600} .hit{color:#17813a} .miss{color:#b3261e}
"""


def _html(title, info, evaluation, overall, sections) -> str:
    parts = [
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        _html_table(["", ""], [[k, v] for k, v in info]),
        "<h2>Accuracy</h2>",
        _html_table(*accuracy_rows(evaluation)),
        "<p>AC@k: fraction of usable cases whose root cause is among the top k. Avg@5: mean of AC@1..AC@5. "
        "Mean rank: a root cause that is not ranked (or a failed run) counts as rank N+1 for N candidates. "
        "Chance level: expected AC@k of a random order of each case's candidates.</p>",
    ]
    parts += [_img(f) for f in overall]
    parts += [
        "<h2>By fault type</h2>",
        _html_table(*fault_rows(evaluation)),
        "<h2>Skipped cases</h2>",
        _html_table(["case", "reason"], [[c, r] for c, r in evaluation.skipped])
        if evaluation.skipped
        else "<p>None.</p>",
        "<h2>Cases</h2>",
        _html_table(*case_rows(evaluation)),
    ]
    for section in sections:
        case = section["case"]
        facts, rows = _case_summary_lines(section, evaluation)
        detail = section["outcomes"].get(evaluation.kept_method)
        hit = detail is not None and detail.rank == 1
        verdict = (
            (
                "failed"
                if detail is not None and detail.error
                else f"rank {detail.rank}"
                if detail is not None and detail.rank
                else "not ranked"
            )
            if detail
            else ""
        )
        parts.append(
            f"<details><summary>{html.escape(case.case_id)} — {html.escape(case.fault_type)} on "
            f"{html.escape(', '.join(case.root_causes))}: <span class='{'hit' if hit else 'miss'}'>"
            f"{html.escape(verdict)}</span></summary>"
        )
        parts.append(_html_table(["", ""], [[k, v] for k, v in facts]))
        if rows:
            parts.append(f"<p>Top candidates ({html.escape(evaluation.kept_method or '')}):</p>")
            parts.append(_html_table(["rank", "service", "score", "why"], rows))
        parts += [_img(f) for f in section["figures"]]
        parts.append("</details>")
    parts.append("</body></html>")
    return "\n".join(parts)
