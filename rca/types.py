"""The values rca/ hands to its callers: EdgeEvidence, Candidate, Ranking, Result."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import networkx as nx
import pandas as pd

from core.times import format_time

if TYPE_CHECKING:
    from core.changes import Change
    from rca.changes import ChangePrior
    from rca.detection import DetectionConfig
    from rca.metrics import MetricFinding
    from rca.operations import OperationRanking
    from rca.pods import PodFinding
    from rca.ranking import RankingConfig

EVIDENCE_COLUMNS = (
    "kind",
    "caller",
    "callee",
    "metric",
    "n_train",
    "n_test",
    "threshold",
    "alarms",
    "first_alarm",
    "peak_excess",
    "strength",
    "shift",
    "delta",
    "baseline",
    "note",
)
UNMODELLED_COLUMNS = ("kind", "caller", "callee", "metric", "reason")


@dataclass
class EdgeEvidence:
    """What the detector found on every (edge or service, metric) series of one case.

    ``table``: one row per modelled series, columns :data:`EVIDENCE_COLUMNS`:

    - ``kind`` ``"edge"`` (``caller`` -> ``callee``) or ``"service"`` (``caller`` is the
      service, ``callee`` is ``None``); ``metric`` the series' column name;
    - ``n_train`` / ``n_test``: points the detector was fitted on / scored;
    - ``threshold``: the detector's last threshold; ``alarms``: alarms in the test part;
      ``first_alarm``: time of the first one (NaT when none);
    - ``peak_excess``: max over the test part of (score - threshold), in score units
      (negative when no alarm);
    - ``strength``: the anomaly strength the rankers use, >= 0 (see :mod:`rca.detection`);
    - ``shift``: signed level shift of the test median from the training median, in
      training spreads (positive = went up); ``delta``: the same change in the series' units;
      ``baseline``: the training median; ``note``: why the detector did not run, if so.

    ``scores``: per series key ``(kind, caller, callee, metric)`` a DataFrame indexed by
    time with columns ``value, score, threshold, alarm`` over the test part.
    ``unmodelled``: series that could not be modelled, or not by the detector, with the reason.
    ``series``: the values of every series (modelled or not) per bucket over training and test,
    columns keyed ``(kind, caller, callee, metric)`` like ``scores`` (NaN where missing), or None
    when detection ran with ``keep_scores=False``; the multivariate view (:mod:`rca.multivariate`)
    reads it.
    ``config``: the :class:`rca.DetectionConfig` it was made with.
    """

    table: pd.DataFrame
    scores: dict[tuple, pd.DataFrame] = field(default_factory=dict)
    unmodelled: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(UNMODELLED_COLUMNS)))
    train_until: pd.Timestamp | None = None
    end_time: pd.Timestamp | None = None
    config: DetectionConfig | None = None
    series: pd.DataFrame | None = None

    def edges(self) -> pd.DataFrame:
        return self.table[self.table["kind"] == "edge"]

    def services(self) -> pd.DataFrame:
        return self.table[self.table["kind"] == "service"]

    def strength(self, caller: str, callee: str | None, metric: str) -> float:
        """Strength of one series (0 when it was not modelled)."""
        t = self.table
        kind = "service" if callee is None else "edge"
        mask = (t["kind"] == kind) & (t["caller"] == caller) & (t["metric"] == metric)
        if callee is not None:
            mask &= t["callee"] == callee
        values = t.loc[mask, "strength"]
        return float(values.iloc[0]) if len(values) else 0.0

    def __len__(self) -> int:
        return len(self.table)

    def strongest(self, n: int = 10) -> pd.DataFrame:
        """The ``n`` series with the largest strength (strength > 0), strongest first."""
        t = self.table
        return t[t["strength"] > 0].sort_values("strength", ascending=False, kind="stable").head(n)

    def __repr__(self) -> str:
        alarmed = int((self.table["alarms"] > 0).sum()) if len(self.table) else 0
        detector = "" if self.config is None else f", detector {self.config.detector_name}"
        return (
            f"EdgeEvidence({len(self.table)} series, {alarmed} with alarms, {len(self.unmodelled)} unmodelled, "
            f"scored from {_when(self.train_until)}{detector})"
        )

    def _repr_html_(self) -> str:
        top = self.strongest(10)
        rows = [
            [
                series_label(r.kind, r.caller, r.callee),
                r.metric,
                f"{r.strength:.1f}",
                f"{r.shift:+.1f}",
                f"{r.baseline:.3g} → {r.baseline + r.delta:.3g}",
                str(int(r.alarms)),
            ]
            for r in top.itertuples()
        ]
        return f"<p>{html.escape(repr(self))}</p>" + html_table(
            ["series", "metric", "strength", "shift", "level before → after", "alarms"], rows
        )


def series_label(kind: str, caller: str, callee: str | None) -> str:
    """``a → b`` for an edge, ``service a`` for a service series."""
    return f"{caller} → {callee}" if kind == "edge" else f"service {caller}"


def html_table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _when(value) -> str:
    return "?" if value is None or pd.isna(value) else format_time(value)


@dataclass(frozen=True)
class Candidate:
    """One ranked service: ``score`` (higher = more likely the root cause) and ``why``."""

    service: str
    score: float
    why: str


@dataclass
class Ranking:
    """Candidates ordered best first, plus the method that produced them."""

    candidates: list[Candidate]
    method: str = ""

    def services(self) -> list[str]:
        return [c.service for c in self.candidates]

    def rank_of(self, service: str) -> int | None:
        """1-based rank of ``service``; ``None`` when it is not a candidate."""
        for i, c in enumerate(self.candidates, 1):
            if c.service == service:
                return i
        return None

    def top(self, k: int) -> list[Candidate]:
        return self.candidates[:k]

    def __iter__(self):
        return iter(self.candidates)

    def __len__(self) -> int:
        return len(self.candidates)

    def __getitem__(self, i):
        return self.candidates[i]

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "rank": range(1, len(self.candidates) + 1),
                "service": [c.service for c in self.candidates],
                "score": [c.score for c in self.candidates],
                "why": [c.why for c in self.candidates],
            }
        )

    def __repr__(self) -> str:
        top = ", ".join(f"{c.service} {c.score:.3g}" for c in self.candidates[:3])
        more = f", ... ({len(self.candidates)} in all)" if len(self.candidates) > 3 else ""
        return f"Ranking({self.method or 'unnamed'}: {top}{more})"

    def _repr_html_(self) -> str:
        rows = [[str(i), c.service, f"{c.score:.3g}", c.why] for i, c in enumerate(self.candidates[:10], 1)]
        return html_table(["rank", "service", "score", "why"], rows)


@dataclass
class Result:
    """What :func:`rca.localize` returns: the ranking, the evidence behind it, the graph, the
    settings it ran with and how long each stage took (``timings``: seconds for ``series``,
    ``detect`` and ``rank``); ``changes``: the change events inside the look-back window of
    ``change_prior`` (None when no changes were given); ``pod_findings``: the pods that diverge
    from their siblings (:mod:`rca.pods`; empty unless ``localize(pods=...)``); ``operations``:
    the (service, operation) ranking (:mod:`rca.operations`; None unless ``localize(operations=True)``);
    ``metric_findings``: the pod metrics that moved after the onset (:mod:`rca.metrics`; empty unless
    ``localize(metrics=...)``)."""

    ranking: Ranking
    evidence: EdgeEvidence
    graph: nx.DiGraph
    ranking_config: RankingConfig | None = None
    timings: dict[str, float] = field(default_factory=dict)
    changes: list[Change] = field(default_factory=list)
    change_prior: ChangePrior | None = None
    pod_findings: list[PodFinding] = field(default_factory=list)
    operations: OperationRanking | None = None
    metric_findings: list[MetricFinding] = field(default_factory=list)

    def __repr__(self) -> str:
        return (
            f"Result({self.ranking!r}; {len(self.evidence)} series, "
            f"{self.graph.number_of_nodes()} services, {self.graph.number_of_edges()} edges)"
        )

    def explain(self, top: int = 5, truth: list[str] | None = None) -> str:
        """Terminal text: the top candidates, why, and the strongest series behind each."""
        return explain(self, top=top, truth=truth)

    def _repr_html_(self) -> str:
        ev = self.evidence
        parts = [
            f"<p><b>{html.escape(self.ranking.method or 'ranking')}</b>: {len(self.ranking)} candidate "
            f"services, {len(ev)} series scored from {html.escape(_when(ev.train_until))}"
            f"{' to ' + html.escape(_when(ev.end_time)) if ev.end_time is not None else ''}.</p>",
            "<p>Top candidates</p>",
            self.ranking._repr_html_(),
            "<p>Most anomalous series (strength: robust z of the change, in training-noise units)</p>",
            ev._repr_html_(),
        ]
        return "".join(parts)


def explain(result: Result, top: int = 5, truth: list[str] | None = None) -> str:
    """See :meth:`Result.explain`."""
    ev = result.evidence
    end = f" to {_when(ev.end_time)}" if ev.end_time is not None else ""
    lines = [
        f"method {result.ranking.method}: {len(result.ranking)} candidate services, "
        f"{len(ev.table)} series scored, {len(ev.unmodelled)} not (or not by the detector); "
        f"scored from {_when(ev.train_until)}{end}"
    ]
    if result.change_prior is not None:
        window = result.change_prior.describe()["change window"]
        listed = "; ".join(f"{c.service} {c.describe()}" for c in result.changes[:5]) or "none"
        more = f" (+{len(result.changes) - 5} more)" if len(result.changes) > 5 else ""
        lines.append(f"changes in the {window} before the onset: {listed}{more}")
    for f in result.pod_findings[:5]:
        lines.append(
            f"pod {f.pod} ({f.service}) {f.metric} {f.level:.3g} vs siblings {f.siblings:.3g} (z {f.z:.1f}"
            f"{', new pod' if f.new else ''})"
        )
    for m in result.metric_findings[:5]:
        lines.append(f"metric {m.service}: {m.describe()}")
    if truth:
        ranks = [result.ranking.rank_of(t) for t in truth]
        lines.append(f"ground truth {', '.join(truth)}: rank {', '.join(str(r) if r else '-' for r in ranks)}")
    table = ev.table
    for i, cand in enumerate(result.ranking.top(top), 1):
        lines.append(f"{i:2d}. {cand.service:30s} score {cand.score:10.2f}  {cand.why}")
        mine = table[
            ((table["kind"] == "service") & (table["caller"] == cand.service))
            | ((table["kind"] == "edge") & ((table["callee"] == cand.service) | (table["caller"] == cand.service)))
        ]
        mine = mine[mine["strength"] > 0].sort_values("strength", ascending=False).head(3)
        for row in mine.itertuples():
            name = row.caller if row.kind == "service" else f"{row.caller}->{row.callee}"
            first = "" if pd.isna(row.first_alarm) else f", first alarm {_when(row.first_alarm)}"
            lines.append(
                f"      {name} {row.metric}: {row.baseline:.3g} -> {row.baseline + row.delta:.3g} "
                f"(shift {row.shift:+.1f}, {row.alarms} alarm(s){first})"
            )
    if result.operations is not None and len(result.operations):
        lines.append("top operations:")
        for i, op in enumerate(result.operations.top(top), 1):
            lines.append(f"{i:2d}. {op.service} / {op.operation}  score {op.score:.2f}  {op.why}")
    if len(ev.unmodelled):
        reasons = ev.unmodelled["reason"].str.split(":").str[0].value_counts()
        lines.append("not modelled: " + ", ".join(f"{n} {r}" for r, n in reasons.items()))
    return "\n".join(lines)
