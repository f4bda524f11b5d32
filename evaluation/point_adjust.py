"""Point-adjusted scoring of point-wise anomaly alarms (AIOps Challenge 2018 KPI rule).

For every labelled anomaly segment: if any alarm falls within its first ``delay + 1`` points, the
whole segment counts as detected, otherwise the whole segment counts as missed (even if alarms
come later). Alarms outside segments stay as they are. Precision, recall and F1 are computed once
over all series pooled (Ren et al., "Time-Series Anomaly Detection Service at Microsoft", KDD 2019,
Sec. 5.1; the challenge's evaluation script).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from evaluation.errors import EvaluationError


def _binary(values, name: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise EvaluationError(f"{name}: expected a 1-D array, got shape {arr.shape}")
    if arr.dtype != bool:
        if not np.issubdtype(arr.dtype, np.number) or not np.isin(arr, (0, 1)).all():
            raise EvaluationError(f"{name}: expected 0/1 or boolean values")
        arr = arr.astype(bool)
    return arr


def segments(label) -> np.ndarray:
    """``[start, stop)`` rows of the runs of anomalous points."""
    lab = _binary(label, "label")
    edges = np.diff(np.concatenate(([0], lab.astype(np.int8), [0])))
    return np.stack((np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)), axis=1)


def adjust_alarms(alarm, label, delay: int = 7) -> np.ndarray:
    """Alarms after the delayed point adjustment (module docstring)."""
    pred = _binary(alarm, "alarm")
    lab = _binary(label, "label")
    if len(pred) != len(lab):
        raise EvaluationError(f"alarm and label differ in length ({len(pred)} vs {len(lab)})")
    if isinstance(delay, bool) or not isinstance(delay, (int, np.integer)) or delay < 0:
        raise EvaluationError(f"delay: must be a non-negative integer, got {delay!r}")
    out = pred.copy()
    segs = segments(lab)
    if len(segs):
        hits = np.concatenate(([0], np.cumsum(pred)))
        early_stop = np.minimum(segs[:, 0] + delay + 1, segs[:, 1])
        detected = hits[early_stop] > hits[segs[:, 0]]
        cover = np.repeat(detected, segs[:, 1] - segs[:, 0])
        inside = np.concatenate([np.arange(a, b) for a, b in segs.tolist()])
        out[inside] = cover
    return out


@dataclass(frozen=True)
class Scores:
    precision: float
    recall: float
    f1: float
    true_positives: int
    false_positives: int
    false_negatives: int


def pooled_scores(adjusted, label) -> Scores:
    """Precision, recall, F1 of adjusted alarms against labels (0 where undefined)."""
    pred = _binary(adjusted, "alarm")
    lab = _binary(label, "label")
    if len(pred) != len(lab):
        raise EvaluationError(f"alarm and label differ in length ({len(pred)} vs {len(lab)})")
    tp = int(np.count_nonzero(pred & lab))
    fp = int(np.count_nonzero(pred & ~lab))
    fn = int(np.count_nonzero(~pred & lab))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Scores(precision, recall, f1, tp, fp, fn)


def point_adjusted_scores(alarms, labels, delay: int = 7) -> Scores:
    """Adjust each series' alarms on its own, then score all series pooled."""
    alarms, labels = list(alarms), list(labels)
    if len(alarms) != len(labels):
        raise EvaluationError(f"{len(alarms)} alarm series but {len(labels)} label series")
    if not alarms:
        raise EvaluationError("no series to score")
    adjusted = [adjust_alarms(a, lab, delay) for a, lab in zip(alarms, labels)]
    return pooled_scores(np.concatenate(adjusted), np.concatenate([_binary(x, "label") for x in labels]))
