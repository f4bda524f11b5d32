"""Sub-commands of the ``rca`` CLI contributed by this package: ``rca rank``."""
from __future__ import annotations

import argparse
from pathlib import Path

from rca.errors import RCAError


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add this package's sub-commands to the ``rca`` parser."""
    p = subparsers.add_parser(
        "rank",
        help="rank the root-cause services of one case and explain the top candidates",
        description="Rank one case: a case folder written by chaos_scenarios (label.json + "
                    "spans.parquet), or a span file/directory with --inject-time.",
    )
    p.add_argument("case", help="case folder, or a span file / directory of span files")
    p.add_argument("--inject-time", help="injection start (Unix seconds or ISO time); "
                                         "required unless CASE is a case folder")
    p.add_argument("--end-time", help="end of the scored window (default: inject + 3 min for "
                                      "span input, the recorded recovery for a case folder)")
    from rca.ranking import METHODS

    p.add_argument("--method", default="default", choices=sorted(METHODS),
                   help="ranking method (default: %(default)s)")
    p.add_argument("--bucket", default="30s", help="time bucket of the series (default: %(default)s)")
    p.add_argument("--train-window", default="10min",
                   help="training history before the injection (default: %(default)s)")
    p.add_argument("--top", type=int, default=5, help="candidates to show (default: %(default)s)")
    p.set_defaults(func=_rank_command)


def _time(value):
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return value


def _load(args):
    """(spans, inject_time, end_time, truth) from the command's arguments."""
    import pandas as pd

    from rca.detection import _to_timestamp

    path = Path(args.case)
    if not path.exists():
        raise RCAError(f"{path}: no such file or directory")
    truth = None
    from chaos_scenarios.case_folder import is_case_folder, read_label, read_spans

    if path.is_dir() and is_case_folder(path):
        label = read_label(path)
        spans = read_spans(path)
        inject = _to_timestamp(_time(args.inject_time) if args.inject_time else label.injected_at, "inject time")
        end = args.end_time or label.recovered_at
        end = _to_timestamp(_time(end), "end time") if end is not None else inject + pd.Timedelta("3min")
        truth = list(label.root_cause)
        return spans, inject, end, truth
    if args.inject_time is None:
        raise RCAError(f"{path}: not a case folder (no label.json of format rca-case/1); "
                       "give --inject-time to rank a span file or directory")
    from collectors import read_spans as read_span_files

    inject = _to_timestamp(_time(args.inject_time), "--inject-time")
    end = _to_timestamp(_time(args.end_time), "--end-time") if args.end_time else inject + pd.Timedelta("3min")
    start = inject - pd.Timedelta(args.train_window)
    spans = read_span_files(path, start=start, end=end)
    return spans, inject, end, truth


def _rank_command(args) -> int:
    import rca

    spans, inject, end, truth = _load(args)
    result = rca.localize(spans=spans, inject_time=inject, end_time=end, method=args.method,
                          bucket=args.bucket, train_window=args.train_window)
    print(explain(result, top=args.top, truth=truth))
    return 0


def explain(result, top: int = 5, truth: list[str] | None = None) -> str:
    """Terminal text: the top candidates, why, and the strongest series behind them."""
    ev = result.evidence
    lines = [f"method {result.ranking.method}: {len(result.ranking)} candidate services, "
             f"{len(ev.table)} series modelled, {len(ev.unmodelled)} not modelled; "
             f"scored from {ev.train_until} to {ev.end_time}"]
    if truth:
        ranks = [result.ranking.rank_of(t) for t in truth]
        lines.append(f"ground truth {', '.join(truth)}: rank {', '.join(str(r) if r else '-' for r in ranks)}")
    table = ev.table
    for i, cand in enumerate(result.ranking.top(top), 1):
        lines.append(f"{i:2d}. {cand.service:30s} score {cand.score:10.2f}  {cand.why}")
        mine = table[((table["kind"] == "service") & (table["caller"] == cand.service))
                     | ((table["kind"] == "edge") & ((table["callee"] == cand.service)
                                                     | (table["caller"] == cand.service)))]
        mine = mine[mine["strength"] > 0].sort_values("strength", ascending=False).head(3)
        for row in mine.itertuples():
            name = row.caller if row.kind == "service" else f"{row.caller}->{row.callee}"
            first = "" if str(row.first_alarm) == "NaT" else f", first alarm {row.first_alarm}"
            lines.append(f"      {name} {row.metric}: {row.baseline:.3g} -> {row.baseline + row.delta:.3g} "
                         f"(shift {row.shift:+.1f}, {row.alarms} alarm(s){first})")
    if len(ev.unmodelled):
        reasons = ev.unmodelled["reason"].str.split(":").str[0].value_counts()
        lines.append("not modelled: " + ", ".join(f"{n} {r}" for r, n in reasons.items()))
    return "\n".join(lines)
