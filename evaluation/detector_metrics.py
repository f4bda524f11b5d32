"""Detector metrics side by side: point-wise, point-adjusted, PA%K, event-wise, false alarms.

All take boolean (or 0/1) alarm and label arrays; :func:`detector_scores` scores several series
pooled (each series adjusted on its own, then every point counted once).

- **point-wise** precision, recall, F1 over points; **FAR** = FP / (FP + TN) (false-alarm
  rate) and **MAR** = FN / (FN + TP) (missed-alarm rate), as SKAB's leaderboard reports them;
- **point-adjusted F1** (Xu et al., WWW 2018; the protocol of Anomaly Transformer, Xu et al.,
  ICLR 2022): a labelled segment with any alarm inside counts as detected at every point.
  This is :func:`evaluation.point_adjust.adjust_alarms` without a delay limit. It rewards a
  single lucky alarm in a long segment, so random scores reach high values (Kim et al. 2022);
- **PA%K** (Kim, Choi, Choi, Lee, Yoon: "Towards a Rigorous Evaluation of Time-series Anomaly
  Detection", AAAI 2022): a segment is adjusted to detected only when more than K % of its
  points are alarmed; otherwise its alarms stay as they are. K = 0 is point adjustment, K =
  100 is point-wise. ``pa_k_auc`` is the area under F1(K) for K = 0, 1, ..., 100 (trapezoid
  rule, divided by 100, so it lies in [0, 1]);
- **event-wise recall**: the fraction of labelled segments with at least one alarm inside
  (each segment counts once, whatever its length);
- **false alarms per day**: false alarm *events* (maximal runs of alarmed points that touch no
  labelled point) per day of scored time, given the seconds one point covers.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass

import numpy as np

from evaluation.errors import EvaluationError
from evaluation.point_adjust import _binary, adjust_alarms, segments

KS = tuple(range(101))


def _pair(alarm, label) -> tuple[np.ndarray, np.ndarray]:
    pred = _binary(alarm, "alarm")
    lab = _binary(label, "label")
    if len(pred) != len(lab):
        raise EvaluationError(f"alarm and label differ in length ({len(pred)} vs {len(lab)})")
    return pred, lab


def _f1(tp: int, fp: int, fn: int) -> float:
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def _counts(pred: np.ndarray, lab: np.ndarray) -> tuple[int, int, int, int]:
    tp = int(np.count_nonzero(pred & lab))
    fp = int(np.count_nonzero(pred & ~lab))
    fn = int(np.count_nonzero(~pred & lab))
    tn = int(np.count_nonzero(~pred & ~lab))
    return tp, fp, fn, tn


def point_adjust(alarm, label) -> np.ndarray:
    """Alarms after point adjustment: every labelled segment with an alarm inside is all alarmed."""
    pred, lab = _pair(alarm, label)
    return adjust_alarms(pred, lab, delay=max(len(lab), 1))


def pa_k_adjust(alarm, label, k: float) -> np.ndarray:
    """Alarms after PA%K: a segment is all alarmed when more than ``k`` % of it is alarmed."""
    pred, lab = _pair(alarm, label)
    if isinstance(k, bool) or not isinstance(k, (int, float, np.number)) or not 0 <= k <= 100:
        raise EvaluationError(f"k: must be a number in [0, 100], got {k!r}")
    out = pred.copy()
    segs = segments(lab)
    if len(segs):
        hits = np.concatenate(([0], np.cumsum(pred)))
        ratio = (hits[segs[:, 1]] - hits[segs[:, 0]]) / (segs[:, 1] - segs[:, 0])
        for (a, b), r in zip(segs.tolist(), ratio.tolist()):
            if r > k / 100:
                out[a:b] = True
    return out


def event_recall(alarm, label) -> float:
    """Fraction of labelled segments with at least one alarm (NaN without segments)."""
    pred, lab = _pair(alarm, label)
    n = len(segments(lab))
    return _detected(pred, lab) / n if n else math.nan


def false_alarm_events(alarm, label) -> int:
    """Maximal runs of alarms that touch no labelled point."""
    pred, lab = _pair(alarm, label)
    runs = segments(pred)
    if not len(runs):
        return 0
    inside = np.concatenate(([0], np.cumsum(lab)))
    return int(np.count_nonzero(inside[runs[:, 1]] == inside[runs[:, 0]]))


@dataclass(frozen=True)
class DetectorScores:
    """Every metric of the module docstring for one detector (fractions, not percent)."""

    precision: float
    recall: float
    f1: float
    far: float
    mar: float
    f1_pa: float
    f1_pa_k: float
    k: float
    pa_k_auc: float
    event_recall: float
    events: int
    false_alarm_events: int
    false_alarms_per_day: float
    true_positives: int
    false_positives: int
    false_negatives: int
    true_negatives: int

    def as_dict(self) -> dict:
        return asdict(self)


def detector_scores(alarms, labels, *, k: float = 20, seconds_per_point: float | None = None) -> DetectorScores:
    """Score alarm series against label series (lists of arrays, or one array each), pooled.

    Each series is adjusted on its own (segments never span two series); then every point of
    every series counts once. ``seconds_per_point`` gives false alarms per day (NaN without it).
    """
    if isinstance(alarms, np.ndarray) and alarms.ndim == 1:
        alarms, labels = [alarms], [labels]
    alarms, labels = list(_as_list(alarms)), list(_as_list(labels))
    if len(alarms) != len(labels):
        raise EvaluationError(f"{len(alarms)} alarm series but {len(labels)} label series")
    if not alarms:
        raise EvaluationError("no series to score")
    pairs = [_pair(a, lab) for a, lab in zip(alarms, labels)]
    pred = np.concatenate([p for p, _ in pairs])
    lab = np.concatenate([lb for _, lb in pairs])
    tp, fp, fn, tn = _counts(pred, lab)
    pa = np.concatenate([point_adjust(p, lb) for p, lb in pairs])
    f1_k = []
    for kk in KS:
        adjusted = np.concatenate([pa_k_adjust(p, lb, kk) for p, lb in pairs])
        f1_k.append(_f1(*_counts(adjusted, lab)[:3]))
    at_k = np.concatenate([pa_k_adjust(p, lb, k) for p, lb in pairs])
    n_events = sum(len(segments(lb)) for _, lb in pairs)
    detected = sum(_detected(p, lb) for p, lb in pairs)
    false_events = sum(false_alarm_events(p, lb) for p, lb in pairs)
    if seconds_per_point is not None:
        if not isinstance(seconds_per_point, (int, float)) or not seconds_per_point > 0:
            raise EvaluationError(f"seconds_per_point: must be a positive number, got {seconds_per_point!r}")
        per_day = false_events / (len(pred) * seconds_per_point / 86400)
    else:
        per_day = math.nan
    return DetectorScores(
        precision=tp / (tp + fp) if tp + fp else 0.0,
        recall=tp / (tp + fn) if tp + fn else 0.0,
        f1=_f1(tp, fp, fn),
        far=fp / (fp + tn) if fp + tn else math.nan,
        mar=fn / (fn + tp) if fn + tp else math.nan,
        f1_pa=_f1(*_counts(pa, lab)[:3]),
        f1_pa_k=_f1(*_counts(at_k, lab)[:3]),
        k=float(k),
        pa_k_auc=float(np.trapezoid(f1_k, KS) / 100),
        event_recall=detected / n_events if n_events else math.nan,
        events=n_events,
        false_alarm_events=false_events,
        false_alarms_per_day=per_day,
        true_positives=tp,
        false_positives=fp,
        false_negatives=fn,
        true_negatives=tn,
    )


def _detected(pred: np.ndarray, lab: np.ndarray) -> int:
    segs = segments(lab)
    if not len(segs):
        return 0
    hits = np.concatenate(([0], np.cumsum(pred)))
    return int(np.count_nonzero(hits[segs[:, 1]] > hits[segs[:, 0]]))


def _as_list(values) -> Iterable:
    if isinstance(values, np.ndarray) and values.ndim == 2:
        return list(values)
    return values
