"""``rca detect``: a registered detector on one column of a CSV file, alarms printed."""

from __future__ import annotations

import argparse
import inspect
import sys

import pandas as pd
import yaml

import detectors
from application.errors import UsageError
from core.detector import DetectorError
from core.times import to_datetime_index, to_timestamp

DEFAULT_DETECTOR = "fluxev"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "detect",
        help="run a detector (FluxEV by default) on one column of a CSV file and print the alarms",
        description="Run a registered detector on a CSV column: the first --train-len rows (or the rows up to "
        "--train-until) train it, the rest are detected. --list shows the detectors and their "
        "parameters; --set NAME=VALUE sets one.",
    )
    parser.add_argument("csv", nargs="?", help="CSV file (may be .gz)")
    parser.add_argument("--list", action="store_true", help="list the registered detectors and their parameters")
    parser.add_argument(
        "--detector",
        default=DEFAULT_DETECTOR,
        choices=detectors.available(),
        help="registered detector (default: %(default)s)",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        dest="settings",
        help="a detector parameter, e.g. --set q=0.001 (repeatable; values are read as YAML scalars)",
    )
    parser.add_argument(
        "--period",
        type=int,
        default=None,
        help="points per period (day), the same as --set period=N; omit for no periodic smoothing",
    )
    parser.add_argument("--column", default="value", help="value column (default: value)")
    parser.add_argument(
        "--time-column", default=None, help="time column (Unix seconds or ISO times); default: row numbers"
    )
    split = parser.add_mutually_exclusive_group()
    split.add_argument("--train-len", type=int, help="number of leading rows used for training")
    split.add_argument(
        "--train-until", help="last training time (Unix seconds or ISO time; a row number without --time-column)"
    )
    parser.add_argument(
        "--fill", action="store_true", help="fill missing values (FluxEV's day rule) instead of failing on them"
    )
    parser.add_argument("--all", action="store_true", help="print every row, not just alarms")
    parser.set_defaults(func=run)


def parse_settings(items: list[str]) -> dict:
    """``["q=0.001", "period=288"]`` -> ``{"q": 0.001, "period": 288}`` (YAML scalars)."""
    params = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"--set wants NAME=VALUE, got {item!r}")
        try:
            params[name.strip()] = yaml.safe_load(text) if text.strip() else None
        except yaml.YAMLError as exc:
            raise UsageError(f"--set {item}: cannot read the value ({exc})") from exc
    return params


def detector_table() -> str:
    lines = []
    for name in detectors.available():
        cls = detectors.detector_class(name)
        doc = (inspect.getdoc(cls) or "").splitlines()[0] if inspect.getdoc(cls) else ""
        params = ", ".join(f"{k}={v!r}" for k, v in cls.defaults().items())
        lines.append(f"{name:12s} {doc}\n{'':12s} parameters: {params or 'none'}")
    return "\n".join(lines)


def _read(args) -> pd.Series:
    try:
        frame = pd.read_csv(args.csv)
    except (OSError, ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DetectorError(f"{args.csv}: cannot read CSV ({exc})") from exc
    for column in filter(None, (args.column, args.time_column)):
        if column not in frame.columns:
            raise DetectorError(f"{args.csv}: no column {column!r} (columns: {', '.join(map(str, frame.columns))})")
    series = frame[args.column]
    if args.time_column:
        times = frame[args.time_column]
        index = to_datetime_index(times, f"{args.csv}: column {args.time_column!r}", error=DetectorError, units=True)
        series = pd.Series(series.to_numpy(), index=index, name=args.column)
    return series


def _train_until(args, series: pd.Series):
    if args.train_until is None:
        return None
    if isinstance(series.index, pd.DatetimeIndex):
        return to_timestamp(args.train_until, "--train-until", error=UsageError, units=True)
    try:
        return int(args.train_until)
    except ValueError as exc:
        raise UsageError(
            f"--train-until {args.train_until!r}: a row number without --time-column, a time with it"
        ) from exc


def run(args: argparse.Namespace) -> int:
    if args.list:
        print(detector_table())
        return 0
    if args.csv is None:
        raise UsageError("detect: give a CSV file (or --list)")
    if args.train_len is None and args.train_until is None:
        raise UsageError("detect: give --train-len ROWS or --train-until TIME")
    params = parse_settings(args.settings)
    if args.period is not None:
        params["period"] = args.period
    detector = detectors.make_detector(args.detector, **params)
    series = _read(args)
    result = detectors.detect_series(
        series, detector, train_len=args.train_len, train_until=_train_until(args, series), fill=args.fill
    )
    result.insert(0, "value", series.to_numpy())
    shown = result if args.all else result[result["alarm"]]
    with pd.option_context("display.max_rows", None, "display.width", 120):
        print(shown.to_string() if len(shown) else "(no alarms)")
    n_train = int(result["threshold"].isna().sum())
    print(
        f"{detector!r}: {int(result['alarm'].sum())} alarm(s) in {len(result) - n_train} detected points "
        f"({n_train} training points, {result.attrs.get('filled', 0)} filled)",
        file=sys.stderr,
    )
    return 0
