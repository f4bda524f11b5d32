"""Evaluation reports: one Markdown file and one self-contained HTML page per run.

The report is built once as a list of blocks (headings, paragraphs, tables, figures, per-case
sections) and rendered twice, to Markdown (PNG files next to it) and to HTML (figures embedded),
so every table and figure of both comes from the one run. It shows

- a one-paragraph summary, the run (data set, command, code version) and the settings as run,
  each with what it means;
- the methods, what each one's score means, and their parameters;
- accuracy per method (AC@1/3/5, Avg@5, mean rank, failures, detection and ranking time apart)
  with the chance level; bars per method and per fault type;
- the misses of the default method, with what it ranked first instead and why;
- the skipped cases with their reasons;
- per case: the truth, the rank each method gave it, the top candidates of the detailed method
  with their ``why``, the service graph coloured by score, and the most anomalous series with
  the detector's score and threshold, the fault window and the alarms.
"""

from __future__ import annotations

import base64
import html
import importlib.metadata
import inspect
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import graph as graph_pkg
import rca
from core.errors import FrameworkError
from core.times import bucket_floor, format_time
from evaluation import figures
from evaluation.cases import Case
from evaluation.errors import EvaluationError
from evaluation.metrics import REPORTED_KS, Outcome, by_day, by_fault_type
from evaluation.runner import Evaluation
from rca.detection import derived_edge_frame

TOP_SERIES = 4
TOP_CANDIDATES = 5

SETTING_MEANINGS = {
    "detector": "the detector fitted on every edge and service series, with its parameters",
    "bucket": "width of the time buckets of every series",
    "train_window": "history before the injection the detector is trained on",
    "edge_metrics": "series detected on every caller -> callee edge",
    "service_metrics": "series detected on every service's own server spans",
    "event_metrics": "series whose level is their worst bucket, not their median (events such as errors)",
    "min_train": "fewest valid training buckets a series needs to be scored",
    "rel_floor": "noise floor, as a fraction of the baseline level",
    "baseline_points": "training buckets just before the injection that set the baseline level",
    "spread": "how training noise is measured (diff: successive differences; mad: deviations)",
    "strength_source": "what a series' strength is made of (level shift, detector onset, or both)",
    "unconfirmed_weight": "factor on the strength of series the detector raised no alarm on",
    "keep_scores": "whether per-bucket scores were kept (the series figures need them)",
    "share_evidence": "detection once per case, every method ranking the same evidence",
    "before": "history a case needs before its injection to be usable",
    "after": "data a case needs after its injection to be usable",
    "min_spans": "spans (or reporting buckets) needed in each of those two windows",
}

UNITS = (
    "Units. A series' strength is a robust z-score: how many units of its own training noise its "
    "level moved after the injection (averaged with how abrupt the change was), counted only in the "
    "harmful direction (up for latencies and errors, either way for calls per request). "
    "explain-upstream and max-score scores are sums or maxima of strengths, so they are in those noise "
    "units; pagerank's score is 1 + the service's PageRank relative to the top one for services of "
    "the anomalous subgraph (below 1 outside it); random's score is only its order."
)

ACCURACY_NOTE = (
    "AC@k: fraction of usable cases whose root cause is among the top k. Avg@5: mean of AC@1..AC@5. "
    "Mean rank: a root cause that is not ranked (or a failed run) counts as rank N+1 for N candidates. "
    "Chance level: expected AC@k of a random order of each case's candidates. Detect s/case: building "
    "the series and running the detector on them (shared by all methods when evidence is shared); "
    "rank s/case: the method's own ranking."
)


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


# ----------------------------------------------------------------------------- the document model
@dataclass
class Heading:
    level: int
    text: str


@dataclass
class Para:
    text: str


@dataclass
class Table:
    """``header`` None: a key/value table (first column the keys, no header row)."""

    header: list[str] | None
    rows: list[list[str]]


@dataclass
class Section:
    """A per-case section: collapsible in HTML (``css`` colours the verdict), a heading in Markdown."""

    title: str
    verdict: str
    css: str
    blocks: list[Any] = field(default_factory=list)


def text_table(header: list[str], rows: list[list[str]]) -> str:
    """A plain-text table for the terminal: first column left-aligned, the others right-aligned,
    a rule of dashes under the header."""
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    lines = [
        "  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
        for row in [header, *rows]
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def fmt(value: Any, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _time(value: Any) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return "–"
    try:
        return format_time(value)
    except FrameworkError:
        return str(value)


# ----------------------------------------------------------------------------- tables
def accuracy_rows(evaluation: Evaluation) -> tuple[list[str], list[list[str]]]:
    header = [
        "method",
        *(f"AC@{k}" for k in REPORTED_KS),
        "Avg@5",
        "mean rank",
        "cases",
        "failed",
        "detect s/case",
        "rank s/case",
    ]
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
                fmt(s["detect_seconds_per_case"], 3),
                fmt(s["rank_seconds_per_case"], 4),
            ]
        )
    if evaluation.methods:
        first = evaluation.summary(evaluation.methods[0])
        chance = first["chance"]
        rows.append(
            [
                f"chance level (mean {fmt(first['mean_candidates'], 1)} candidates)",
                *(fmt(chance[f"AC@{k}"]) for k in REPORTED_KS),
                fmt(chance["Avg@5"]),
                "",
                "",
                "",
                "",
                "",
            ]
        )
    return header, rows


def fault_rows(evaluation: Evaluation, by=by_fault_type, what: str = "fault type") -> tuple[list[str], list[list[str]]]:
    header = [what, "cases", *(f"{m} AC@1 / AC@3" for m in evaluation.methods)]
    tables = {m: by(evaluation.outcomes[m]) for m in evaluation.methods}
    faults = sorted({f for t in tables.values() for f in t})
    rows = []
    for fault in faults:
        n = max(t.get(fault, {}).get("cases", 0) for t in tables.values())
        cells = [
            f"{fmt(tables[m].get(fault, {}).get('AC@1'))} / {fmt(tables[m].get(fault, {}).get('AC@3'))}"
            for m in evaluation.methods
        ]
        rows.append([fault, str(n), *cells])
    return header, rows


def _rank_text(outcome: Outcome | None) -> str:
    if outcome is None:
        return ""
    if outcome.error:
        return "failed"
    return str(outcome.rank) if outcome.rank is not None else f"miss (>{outcome.n_candidates})"


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
        ranks = [_rank_text(by_method[m].get(case.case_id)) for m in evaluation.methods]
        top = (
            by_method[detail][case.case_id].ranking[:3]
            if detail in by_method and case.case_id in by_method[detail]
            else []
        )
        rows.append([case.case_id, case.fault_type, ", ".join(case.root_causes), *ranks, ", ".join(top)])
    return header, rows


def miss_rows(evaluation: Evaluation) -> tuple[list[str], list[list[str]]]:
    """The default method's cases whose root cause is not ranked first, with what it ranked first."""
    method = evaluation.default_method
    header = ["case", "fault type", "root cause", "rank", "ranked first instead", "why (that one)"]
    rows = []
    for outcome in evaluation.misses(method, k=1) if method in evaluation.outcomes else []:
        result = evaluation.kept.get(outcome.case_id) if evaluation.kept_method == method else None
        ranking = getattr(result, "ranking", None)
        candidates = list(getattr(ranking, "candidates", ranking or []))
        first = outcome.ranking[0] if outcome.ranking else "–"
        why = str(candidates[0].why) if candidates else ""
        rank = "failed: " + outcome.error if outcome.error else _rank_text(outcome)
        rows.append([outcome.case_id, outcome.fault_type, ", ".join(outcome.root_causes), rank, first, why])
    return header, rows


def method_rows(evaluation: Evaluation) -> tuple[list[str], list[list[str]]]:
    header = ["method", "what it does (its score)", "parameters"]
    rows = []
    for method in evaluation.methods:
        fn = rca.METHODS.get(method)
        doc = (inspect.getdoc(fn) or "").split("\n\n")[0].replace("\n", " ") if fn is not None else ""
        params = rca.method_parameters(method) if fn is not None else {}
        name = f"{method} (default)" if method == evaluation.default_method else method
        rows.append(
            [name, doc or "(not a registered method)", ", ".join(f"{k}={v}" for k, v in params.items()) or "none"]
        )
    return header, rows


# ----------------------------------------------------------------------------- per-case figures
def _bucket_of(evidence: Any, case: Case) -> pd.Timedelta:
    config = getattr(evidence, "config", None)
    if case.edge_series is not None and "bucket" in case.edge_series.attrs:
        return pd.Timedelta(case.edge_series.attrs["bucket"])
    if config is not None:
        return pd.Timedelta(config.bucket)
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
    """The ``limit`` strongest series of the evidence, each with its values, scores and alarms."""
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
        scored = getattr(evidence, "scores", {}).get((kind, caller, callee, metric))
        values = None
        if kind == "edge" and edge_frame is not None and metric in edge_frame:
            values = edge_frame[metric].xs((caller, callee), level=("caller", "callee"))
        elif kind == "service" and service_frame is not None and metric in service_frame:
            values = service_frame[metric].xs(caller, level="service")
        if values is None:
            if scored is None or "value" not in scored:
                continue
            values = scored["value"]
        where = f"{caller} → {callee}" if kind == "edge" else f"service {caller}"
        label = (
            f"{where}: {metric} (strength {fmt(float(row['strength']))}, shift {float(row['shift']):+.1f}, "
            f"{int(row['alarms']) if pd.notna(row.get('alarms')) else 0} alarm(s))"
        )
        panels.append(
            {
                "label": label,
                "metric": metric,
                "values": values,
                "scored": scored,
                "baseline": float(row["baseline"]) if pd.notna(row["baseline"]) else None,
                "first_alarm": row.get("first_alarm"),
            }
        )
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
                f"{case.case_id}: service graph, boxes coloured by the {method} score, edges by their strongest "
                "anomaly; black frame = root cause",
                figures.graph_by_score(graph, scores, case.root_causes, edge_strengths(result)),
            )
        )
    panels = series_panels(case, result)
    out.append(
        Figure(
            f"{_slug(case.case_id)}-series",
            f"{case.case_id}: the {len(panels)} most anomalous series (left axis: the value, dotted: its training "
            "baseline; right axis: the detector's score, dashed, and threshold, red dotted; orange: the fault "
            "window; red dots: alarms)",
            figures.edge_series_panel(panels, case.inject_time, case.end_time),
        )
    )
    return out


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in text)


# ----------------------------------------------------------------------------- the report
def _summary(evaluation: Evaluation, dataset: str) -> str:
    n = len(evaluation.cases)
    if not evaluation.methods or not n:
        return f"{n} usable case(s) of {dataset}, {len(evaluation.skipped)} skipped."
    s = evaluation.summary(evaluation.default_method) if evaluation.default_method in evaluation.outcomes else None
    text = f"{n} usable case(s) of {dataset} ({len(evaluation.skipped)} skipped), {len(evaluation.methods)} method(s)."
    if s is not None:
        hits1 = round(s["AC@1"] * n)
        hits3 = round(s["AC@3"] * n)
        text += (
            f" The default method, {evaluation.default_method}, ranked the root cause first in {hits1} of {n} "
            f"cases (AC@1 {fmt(s['AC@1'])}) and in its top 3 in {hits3} (AC@3 {fmt(s['AC@3'])}); chance is "
            f"{fmt(s['chance']['AC@1'])} / {fmt(s['chance']['AC@3'])}."
        )
    return text


def _case_section(
    case: Case, result: Any, outcomes: dict[str, Outcome | None], evaluation: Evaluation, case_figs: list[Figure]
) -> Section:
    facts = [
        ["root cause", ", ".join(case.root_causes)],
        ["fault type", case.fault_type],
        ["injected", _time(case.inject_time)],
        ["ends", _time(case.end_time) if case.end_time is not None else "not recorded (scored to the end of the data)"],
        [
            "data",
            f"edge series, {len(case.edge_series)} rows"
            if case.source == "edge_series" and case.edge_series is not None
            else f"{case.metadata.get('spans', len(case.spans) if case.spans is not None else '?')} spans",
        ],
    ]
    for m, o in outcomes.items():
        if o is None:
            continue
        verdict = (
            "failed: " + o.error
            if o.error
            else f"rank {o.rank} of {o.n_candidates}"
            if o.rank
            else f"not ranked ({o.n_candidates} candidates)"
        )
        facts.append([m, verdict])
    for key, value in case.metadata.items():
        if key in ("layout", "dataset") or (isinstance(value, (dict, list)) and not value):
            continue
        facts.append([str(key), str(value)])
    blocks: list[Any] = [Table(None, facts)]
    ranking = getattr(result, "ranking", None)
    truth = set(case.root_causes)
    rows = [
        [str(i), f"{c.service}{' ✔' if str(c.service) in truth else ''}", fmt(float(c.score), 3), str(c.why)]
        for i, c in enumerate(list(getattr(ranking, "candidates", ranking or []))[:TOP_CANDIDATES], 1)
    ]
    if rows:
        blocks += [
            Para(f"Top candidates ({evaluation.kept_method}):"),
            Table(["rank", "service", "score", "why"], rows),
        ]
    operations = getattr(result, "operations", None)
    if operations is not None and len(operations):
        blocks += [
            Para("Top operations (own time, own errors, gap and call share against training):"),
            Table(
                ["rank", "service", "operation", "score", "why"],
                [
                    [str(i), c.service, c.operation, fmt(float(c.score), 3), c.why]
                    for i, c in enumerate(operations.top(TOP_CANDIDATES), 1)
                ],
            ),
        ]
    blocks += case_figs
    detail = outcomes.get(evaluation.kept_method or "")
    verdict = _rank_text(detail)
    verdict = f"rank {verdict}" if verdict.isdigit() else verdict
    css = "hit" if detail is not None and detail.rank == 1 else "miss"
    return Section(f"{case.case_id} — {case.fault_type} on {', '.join(case.root_causes)}", verdict, css, blocks)


def build_report(
    evaluation: Evaluation, *, dataset: str, parameters: dict | None = None, per_case_figures: bool = True
) -> list[Any]:
    """The report as blocks (see the module docstring); :func:`write_report` renders them."""
    made = pd.Timestamp.now(tz="UTC").strftime("%Y-%m-%d %H:%M:%S UTC")
    parameters = dict(parameters or {})
    run = [
        ["data set", dataset],
        ["code version", code_version()],
        ["made", made],
        ["usable cases", str(len(evaluation.cases))],
        ["skipped cases", str(len(evaluation.skipped))],
        ["methods", ", ".join(evaluation.methods)],
        ["default method", evaluation.default_method],
        ["detailed per case", evaluation.kept_method or ""],
    ]
    if "command" in parameters:
        run.append(["command", str(parameters.pop("command"))])
    settings = {**{str(k): str(v) for k, v in parameters.items()}, **evaluation.settings}
    blocks: list[Any] = [Para(_summary(evaluation, dataset)), Heading(2, "Run"), Table(None, run)]
    if settings:
        blocks += [
            Heading(2, "Settings"),
            Table(["setting", "value", "meaning"], [[k, v, SETTING_MEANINGS.get(k, "")] for k, v in settings.items()]),
        ]
    if evaluation.methods:
        blocks += [Heading(2, "Methods"), Table(*method_rows(evaluation)), Para(UNITS)]
        summaries = {m: evaluation.summary(m) for m in evaluation.methods}
        chance = summaries[evaluation.methods[0]]["chance"]
        blocks += [
            Heading(2, "Accuracy"),
            Table(*accuracy_rows(evaluation)),
            Para(ACCURACY_NOTE),
            Figure("accuracy", "AC@k per method; dashed lines: chance level", figures.accuracy_bars(summaries, chance)),
        ]
        misses = miss_rows(evaluation)
        blocks += [
            Heading(2, f"Misses of {evaluation.default_method}"),
            Para(
                f"{len(misses[1])} of {len(evaluation.cases)} case(s) where the default method did not rank "
                "the root cause first."
            )
            if misses[1]
            else Para("None: every root cause was ranked first."),
        ]
        if misses[1]:
            blocks.append(Table(*misses))
    if evaluation.methods and evaluation.cases:
        by_type = {m: by_fault_type(evaluation.outcomes[m]) for m in evaluation.methods}
        blocks += [Heading(2, "By fault type"), Table(*fault_rows(evaluation))]
        if len({o.day for o in evaluation.outcomes[evaluation.methods[0]]}) > 1:
            blocks += [Heading(2, "By day"), Table(*fault_rows(evaluation, by_day, "day"))]
        blocks += [
            Figure(
                f"fault-types-{_slug(metric)}",
                f"{metric} per fault type and method",
                figures.fault_type_bars(by_type, metric),
            )
            for metric in ("AC@1", "AC@3")
        ]
    blocks += [
        Heading(2, "Skipped cases"),
        Table(["case", "reason"], [[c, r] for c, r in evaluation.skipped]) if evaluation.skipped else Para("None."),
    ]
    blocks += [Heading(2, "Cases"), Table(*case_rows(evaluation))]
    outcomes = {m: {o.case_id: o for o in evaluation.outcomes[m]} for m in evaluation.methods}
    for case in evaluation.cases:
        result = evaluation.kept.get(case.case_id)
        figs = (
            case_figures(case, result, evaluation.kept_method or "") if per_case_figures and result is not None else []
        )
        blocks.append(
            _case_section(
                case, result, {m: outcomes[m].get(case.case_id) for m in evaluation.methods}, evaluation, figs
            )
        )
    return blocks


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
    blocks = build_report(evaluation, dataset=dataset, parameters=parameters, per_case_figures=per_case_figures)
    for figure in _figures(blocks):
        (out_dir / "figures" / f"{figure.name}.png").write_bytes(figure.data)
    md_path, html_path = out_dir / "report.md", out_dir / "report.html"
    md_path.write_text(to_markdown(title, blocks))
    html_path.write_text(to_html(title, blocks))
    return md_path, html_path


def _figures(blocks: list[Any]) -> list[Figure]:
    out = []
    for block in blocks:
        if isinstance(block, Figure):
            out.append(block)
        elif isinstance(block, Section):
            out += _figures(block.blocks)
    return out


# ----------------------------------------------------------------------------- renderers
def _md_cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _md_table(table: Table) -> str:
    header = table.header or ["", ""]
    rows = table.rows
    if table.header is None and rows:
        header, rows = [f"**{_md_cell(rows[0][0])}**", rows[0][1]], rows[1:]
    lines = ["| " + " | ".join(_md_cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    cells = [[f"**{_md_cell(r[0])}**", *r[1:]] if table.header is None else r for r in rows]
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in cells]
    return "\n".join(lines)


def _md_blocks(blocks: list[Any], level_offset: int = 0) -> list[str]:
    parts: list[str] = []
    for block in blocks:
        if isinstance(block, Heading):
            parts += ["#" * (block.level + level_offset) + " " + block.text, ""]
        elif isinstance(block, Para):
            parts += [block.text, ""]
        elif isinstance(block, Table):
            parts += [_md_table(block), ""]
        elif isinstance(block, Figure):
            parts += [f"![{block.caption}](figures/{block.name}.png)", ""]
        elif isinstance(block, Section):
            parts += [f"### {block.title}: {block.verdict}", "", *_md_blocks(block.blocks, 1)]
    return parts


def to_markdown(title: str, blocks: list[Any]) -> str:
    return "\n".join([f"# {title}", "", *_md_blocks(blocks)]) + "\n"


def _html_table(table: Table) -> str:
    if table.header is None:
        body = "".join(
            f"<tr><th>{html.escape(str(row[0]))}</th>"
            + "".join(f"<td>{html.escape(str(c))}</td>" for c in row[1:])
            + "</tr>"
            for row in table.rows
        )
        return f'<table class="kv"><tbody>{body}</tbody></table>'
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in table.header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in table.rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _img(figure: Figure) -> str:
    data = base64.b64encode(figure.data).decode("ascii")
    return (
        f'<figure><img alt="{html.escape(figure.caption)}" src="data:image/png;base64,{data}">'
        f"<figcaption>{html.escape(figure.caption)}</figcaption></figure>"
    )


STYLE = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1150px;color:#222;padding:0 1em;line-height:1.4}
table{border-collapse:collapse;margin:.6em 0;font-size:.88em}
td,th{border:1px solid #ccc;padding:.25em .55em;text-align:left;vertical-align:top}
th{background:#f3f3f3} table.kv th{font-weight:600;white-space:nowrap}
figure{margin:.8em 0} img{max-width:100%}
figcaption{font-size:.8em;color:#555} details{margin:.4em 0;border-top:1px solid #ddd;padding-top:.3em}
summary{cursor:pointer;font-weight:600} .hit{color:#17813a} .miss{color:#b3261e}
"""


OPEN_ON_HASH = (
    "<script>if (location.hash === '#open') document.querySelectorAll('details').forEach(d => d.open = true);</script>"
)
"""Opening ``report.html#open`` shows every case expanded (for reading it whole, or a screenshot)."""


def _html_blocks(blocks: list[Any]) -> list[str]:
    parts: list[str] = []
    for block in blocks:
        if isinstance(block, Heading):
            parts.append(f"<h{block.level}>{html.escape(block.text)}</h{block.level}>")
        elif isinstance(block, Para):
            parts.append(f"<p>{html.escape(block.text)}</p>")
        elif isinstance(block, Table):
            parts.append(_html_table(block))
        elif isinstance(block, Figure):
            parts.append(_img(block))
        elif isinstance(block, Section):
            parts.append(
                f"<details><summary>{html.escape(block.title)}: "
                f"<span class='{block.css}'>{html.escape(block.verdict)}</span></summary>"
            )
            parts += _html_blocks(block.blocks)
            parts.append("</details>")
    return parts


def to_html(title: str, blocks: list[Any]) -> str:
    """A self-contained page (cases collapsed; ``report.html#open`` expands them all)."""
    return "\n".join(
        [
            f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head><body>",
            f"<h1>{html.escape(title)}</h1>",
            *_html_blocks(blocks),
            OPEN_ON_HASH,
            "</body></html>",
        ]
    )
