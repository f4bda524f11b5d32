"""Sub-commands of the ``rca`` CLI contributed by this package: ``rca detect``."""
from __future__ import annotations

import argparse
import sys

import pandas as pd

from fluxev.errors import DetectorError


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add this package's sub-commands to the ``rca`` parser."""
    parser = subparsers.add_parser(
        "detect",
        help="run FluxEV on one column of a CSV file and print the alarms",
        description="Run FluxEV (Li et al., WSDM 2021) on a CSV column: the first --train-len "
                    "rows (or rows up to --train-until) initialise it, the rest are detected.",
    )
    parser.add_argument("csv", help="CSV file (may be .gz)")
    parser.add_argument("--column", default="value", help="value column (default: value)")
    parser.add_argument("--time-column", default=None,
                        help="time column (unix seconds or ISO times); default: row numbers")
    split = parser.add_mutually_exclusive_group(required=True)
    split.add_argument("--train-len", type=int, help="number of leading rows used for training")
    split.add_argument("--train-until", help="last training time (same unit as --time-column)")
    parser.add_argument("--period", type=int, default=None,
                        help="points per period (day); omit for no periodic smoothing")
    parser.add_argument("--s", type=int, default=10, help="sequential window (default 10)")
    parser.add_argument("--p", type=int, default=5, help="periodic window in periods (default 5)")
    parser.add_argument("--h", type=int, default=2, help="half drift window (default 2)")
    parser.add_argument("--q", type=float, default=0.003, help="SPOT risk (default 0.003)")
    parser.add_argument("--level", type=float, default=0.98, help="SPOT initial quantile (default 0.98)")
    parser.add_argument("--smoothing", type=int, choices=(1, 2), default=2)
    parser.add_argument("--estimator", choices=("mom", "mle"), default="mom")
    parser.add_argument("--predictor", choices=("ewma", "holt-winters"), default="ewma")
    parser.add_argument("--fill", action="store_true",
                        help="fill missing values (paper's rule) instead of failing on them")
    parser.add_argument("--all", action="store_true", help="print every row, not just alarms")
    parser.set_defaults(func=_detect)


def _read(args) -> pd.Series:
    try:
        frame = pd.read_csv(args.csv)
    except (OSError, ValueError) as exc:
        raise DetectorError(f"{args.csv}: cannot read CSV ({exc})") from exc
    for column in filter(None, (args.column, args.time_column)):
        if column not in frame.columns:
            raise DetectorError(f"{args.csv}: no column {column!r} (columns: {', '.join(map(str, frame.columns))})")
    series = frame[args.column]
    if args.time_column:
        times = frame[args.time_column]
        if pd.api.types.is_numeric_dtype(times):
            index = pd.to_datetime(times, unit="s", utc=True)
        else:
            index = pd.to_datetime(times, utc=True, errors="coerce")
            if index.isna().any():
                raise DetectorError(f"{args.csv}: column {args.time_column!r} has unparseable times")
        series = pd.Series(series.to_numpy(), index=pd.DatetimeIndex(index), name=args.column)
    return series


def _train_until(args, series: pd.Series):
    if args.train_until is None:
        return None
    if isinstance(series.index, pd.DatetimeIndex):
        try:
            return float(args.train_until)
        except ValueError:
            return pd.Timestamp(args.train_until, tz="UTC") if pd.Timestamp(args.train_until).tz is None \
                else pd.Timestamp(args.train_until)
    try:
        return int(args.train_until)
    except ValueError as exc:
        raise DetectorError("--train-until needs --time-column, or a row number") from exc


def _detect(args) -> int:
    from fluxev.series import detect_series

    series = _read(args)
    params = dict(s=args.s, p=args.p, h=args.h, period=args.period, q=args.q, level=args.level,
                  smoothing=args.smoothing, estimator=args.estimator, predictor=args.predictor)
    result = detect_series(series, train_len=args.train_len, train_until=_train_until(args, series),
                           fill=args.fill, **params)
    result.insert(0, "value", series.to_numpy())
    shown = result if args.all else result[result["alarm"]]
    with pd.option_context("display.max_rows", None, "display.width", 120):
        print(shown.to_string() if len(shown) else "(no alarms)")
    n_train = int(result["threshold"].isna().sum())
    print(f"{int(result['alarm'].sum())} alarm(s) in {len(result) - n_train} detected points "
          f"({n_train} training points, {result.attrs.get('filled', 0)} filled)", file=sys.stderr)
    return 0
