"""The base of multivariate detectors: MVAD's input rules, one result type, MVAD-shaped output.

Input (``fit``/``detect``): a DataFrame with one column per variable (rows = timestamps), a
mapping ``{variable: pandas.Series}`` whose series carry their own timestamps, or a 2-D array.
The rules are those of Azure's multivariate anomaly detector (MVAD, "best practices" and the
v1.1 API):

- ``align_mode`` ``"Outer"`` (default: every timestamp at which any variable has a value) or
  ``"Inner"`` (only timestamps at which every variable has one), applied when variables are
  joined, and to the rows of a DataFrame;
- ``fill_na_method`` ``"Linear"`` (default), ``"Previous"``, ``"Subsequent"``, ``"Zero"`` or
  ``"Fixed"`` (with ``padding_value``) for what alignment leaves missing; values before the
  first (after the last) valid one take the nearest valid value for Linear, Previous and
  Subsequent;
- at most ``max_missing_ratio`` (default 0.2: "missing value ratio of training data under
  20 %") of a variable's values may be filled; at most 301 variables; the variables at
  detection must be those of training;
- windowed models take ``sliding_window`` points of context (28..2880, default 300), need at
  least ``sliding_window + min_windows`` training rows, and keep the last window of what they
  saw, so that ``detect`` scores every point it is given (MVAD's batch inference needs
  ``slidingWindow`` points before ``startTime`` for the same reason).

A bad input or parameter is a :class:`core.DetectorError` naming the input, the field, the
value and what is expected; valid input that is too short is :class:`core.UnmodelledSeries`.

Output: :class:`MultivariateResult` (score, threshold, alarm, and per point the variables'
contributions, rows summing to 1), and :meth:`MultivariateDetector.anomaly_states`, the
per-timestamp records MVAD's API returns (``isAnomaly, severity, score, interpretation
[{variable, contributionScore, correlationChanges}]``, ``topContributorCount``).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, TypeGuard

import numpy as np
import pandas as pd

from core.detector import DetectionResult, Detector, DetectorError, PointResult, UnmodelledSeries
from fluxev.spot import SPOT

ALIGN_MODES = ("Inner", "Outer")
FILL_METHODS = ("Previous", "Subsequent", "Linear", "Zero", "Fixed")
WINDOW_RANGE = (28, 2880)
MAX_VARIABLES = 301
CHANGED_CORRELATION = 0.5
"""A pair of variables whose correlation moved by more than this is a correlation change."""


@dataclass(frozen=True)
class MultivariateResult(DetectionResult):
    """:class:`core.DetectionResult` plus, per point, the variables' ``contributions`` (shape
    (n, variables), each row summing to 1), the ``variables``' names and the rows' ``index``
    (timestamps when the input had them)."""

    contributions: np.ndarray | None = None
    variables: tuple[str, ...] = ()
    index: pd.Index | None = None

    @property
    def severity(self) -> np.ndarray:
        """0 where there is no alarm, else 1 - threshold / score: in (0, 1), growing with how far
        the score passed its threshold."""
        score = np.asarray(self.score, dtype=float)
        threshold = np.asarray(self.threshold, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            value = np.where(score > 0, 1.0 - threshold / score, 0.0)
        return np.where(self.alarm, np.clip(np.nan_to_num(value), 0.0, 1.0), 0.0)

    def to_frame(self, index=None) -> pd.DataFrame:
        frame = super().to_frame(self.index if index is None else index)
        frame["severity"] = self.severity
        return frame

    def contribution_frame(self) -> pd.DataFrame:
        """Contributions as a DataFrame (rows = points, columns = variables)."""
        if self.contributions is None:
            raise DetectorError("this result carries no contributions")
        return pd.DataFrame(self.contributions, index=self.index, columns=list(self.variables))


def is_real(value: Any) -> TypeGuard[float]:
    """A real number that is not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def is_int(value: Any) -> TypeGuard[int]:
    """An integer that is not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _name(value: Any, name: str, choices: tuple[str, ...]) -> str:
    if isinstance(value, str):
        for choice in choices:
            if value.lower() == choice.lower():
                return choice
    raise DetectorError(f"{name}: must be one of {', '.join(choices)}, got {value!r}")


def check_sliding_window(value: Any) -> int:
    low, high = WINDOW_RANGE
    if not is_int(value) or not low <= value <= high:
        raise DetectorError(f"sliding_window: must be an integer between {low} and {high} (MVAD), got {value!r}")
    return int(value)


class MultivariateDetector(Detector):
    """Base of the multivariate detectors (module docstring). Subclasses define ``__init__``
    with the input parameters (``align_mode``, ``fill_na_method``, ``padding_value``,
    ``max_missing_ratio``) among their own, and implement ``_fit(x)`` (x: float array, rows x
    variables, already checked, aligned and filled) and ``_score(x) -> (score, threshold,
    contributions)``, where ``x`` holds the points to score after ``context_length()`` rows
    of context."""

    multivariate: ClassVar[bool] = True

    align_mode: str
    fill_na_method: str
    padding_value: float | None
    max_missing_ratio: float
    variables_: tuple[str, ...]
    context_: np.ndarray
    variable_states_: list[dict[str, Any]]

    # ------------------------------------------------------------------ parameters
    @property
    def _align(self) -> str:
        return _name(self.align_mode, "align_mode", ALIGN_MODES)

    @property
    def _fill(self) -> str:
        return _name(self.fill_na_method, "fill_na_method", FILL_METHODS)

    def _check_input_params(self) -> None:
        _name(self.align_mode, "align_mode", ALIGN_MODES)
        if self._fill == "Fixed":
            if self.padding_value is None:
                raise DetectorError(
                    "padding_value: required when fill_na_method is 'Fixed' (MVAD RequiredPaddingValue)"
                )
            if not is_real(self.padding_value):
                raise DetectorError(f"padding_value: must be a finite number, got {self.padding_value!r}")
            if not math.isfinite(self.padding_value):
                raise DetectorError(f"padding_value: must be a finite number, got {self.padding_value!r}")
        ratio = self.max_missing_ratio
        if not is_real(ratio) or not 0 <= ratio < 1:
            raise DetectorError(f"max_missing_ratio: must be a number in [0, 1), got {ratio!r}")

    def _check_params(self) -> None:
        self._check_input_params()

    def context_length(self) -> int:
        """Rows of context before each scored point (0 for point-wise models)."""
        return 0

    def min_train_rows(self) -> int:
        """Fewest training rows ``fit`` accepts."""
        return 2

    # ------------------------------------------------------------------ input rules
    def prepare(self, data, name: str = "train") -> tuple[np.ndarray, tuple[str, ...], pd.Index, list[dict[str, Any]]]:
        """(values, variables, index, MVAD ``variableStates``) after alignment and filling; a
        variable's state: ``variable, filledNARatio, effectiveCount, firstTimestamp,
        lastTimestamp`` (its first and last valid index value)."""
        frame = self._aligned(data, name)
        if frame.shape[1] == 0:
            raise DetectorError(f"{name}: no variables (MVAD NoVariablesFound)")
        if frame.shape[1] > MAX_VARIABLES:
            raise DetectorError(f"{name}: {frame.shape[1]} variables, at most {MAX_VARIABLES} (MVAD limit)")
        names = tuple(str(c) for c in frame.columns)
        if len(set(names)) != len(names):
            dup = sorted({n for n in names if names.count(n) > 1})
            raise DetectorError(f"{name}: duplicated variable(s) {dup} (MVAD DuplicatedVariables)")
        values = np.empty(frame.shape, dtype=float)
        for j, column in enumerate(frame.columns):
            series = frame[column]
            if series.dtype == bool or not (pd.api.types.is_numeric_dtype(series) or series.dtype == object):
                raise DetectorError(f"{name}: variable {names[j]!r} is not numeric (dtype {series.dtype})")
            try:
                values[:, j] = pd.to_numeric(series, errors="raise").to_numpy(dtype=float)
            except (TypeError, ValueError) as exc:
                raise DetectorError(f"{name}: variable {names[j]!r} holds a non-numeric value ({exc})") from None
        if np.isinf(values).any():
            j = int(np.flatnonzero(np.isinf(values).any(axis=0))[0])
            raise DetectorError(f"{name}: variable {names[j]!r} holds an infinite value")
        missing = np.isnan(values)
        ratios = missing.mean(axis=0) if len(values) else np.zeros(values.shape[1])
        for j in np.flatnonzero(ratios > self.max_missing_ratio).tolist():
            raise DetectorError(
                f"{name}: variable {names[j]!r} has {ratios[j]:.1%} missing values after {self._align} "
                f"alignment, more than max_missing_ratio = {self.max_missing_ratio:.0%} (MVAD best practice: "
                "under 20 %)"
            )
        states = []
        for j, variable in enumerate(names):
            valid = np.flatnonzero(~missing[:, j])
            first = _timestamp(frame.index[valid[0]]) if len(valid) else None
            last = _timestamp(frame.index[valid[-1]]) if len(valid) else None
            states.append(
                {
                    "variable": variable,
                    "filledNARatio": float(ratios[j]),
                    "effectiveCount": len(valid),
                    "firstTimestamp": first,
                    "lastTimestamp": last,
                }
            )
        values = self._filled(values, missing)
        return values, names, frame.index, states

    def _aligned(self, data, name: str) -> pd.DataFrame:
        if isinstance(data, Mapping):
            if not data:
                raise DetectorError(f"{name}: no variables (MVAD NoVariablesFound)")
            series = {}
            for key, value in data.items():
                if not isinstance(value, pd.Series):
                    raise DetectorError(f"{name}: variable {key!r} must be a pandas Series with its timestamps")
                if value.index.has_duplicates:
                    raise DetectorError(f"{name}: variable {key!r} has duplicated timestamps")
                series[str(key)] = value
            frame = pd.concat(series, axis=1, join="inner" if self._align == "Inner" else "outer", sort=True)
        elif isinstance(data, pd.DataFrame):
            frame = data
            if self._align == "Inner":
                frame = frame.dropna(how="any")
        elif isinstance(data, np.ndarray):
            if data.ndim != 2:
                raise DetectorError(f"{name}: expected a 2-D array (rows x variables), got shape {data.shape}")
            frame = pd.DataFrame(data, columns=[f"x{j}" for j in range(data.shape[1])])
            if self._align == "Inner":
                frame = frame.dropna(how="any")
        else:
            raise DetectorError(
                f"{name}: expected a DataFrame (one column per variable), a mapping of Series or a 2-D array, "
                f"got {type(data).__name__}"
            )
        if isinstance(frame.index, pd.DatetimeIndex) and not frame.index.is_monotonic_increasing:
            raise DetectorError(f"{name}: timestamps are not sorted")
        if frame.index.has_duplicates:
            raise DetectorError(f"{name}: duplicated timestamps")
        return frame

    def _filled(self, values: np.ndarray, missing: np.ndarray) -> np.ndarray:
        if not missing.any():
            return values
        frame = pd.DataFrame(values)
        method = self._fill
        if method == "Zero":
            return frame.fillna(0.0).to_numpy()
        if method == "Fixed":
            return frame.fillna(float(self.padding_value)).to_numpy()  # type: ignore[arg-type]
        if method == "Previous":
            frame = frame.ffill().bfill()
        elif method == "Subsequent":
            frame = frame.bfill().ffill()
        else:
            frame = frame.interpolate(method="linear", limit_direction="both")
        out = frame.to_numpy(dtype=float)
        empty = np.isnan(out).all(axis=0)
        if empty.any():
            raise DetectorError(f"variable(s) at position(s) {np.flatnonzero(empty).tolist()} have no value at all")
        return out

    # ------------------------------------------------------------------ protocol
    def _fit(self, x: np.ndarray) -> None:
        raise NotImplementedError

    def _score(self, full: np.ndarray) -> tuple[np.ndarray, Any, np.ndarray]:
        """(score, threshold, contributions) of the rows of ``full`` after the context."""
        raise NotImplementedError

    def fit(self, train) -> MultivariateDetector:
        """Check the parameters and the training data, learn, keep the last context rows."""
        self._check_params()
        x, names, _, states = self.prepare(train, "train")
        needed = self.min_train_rows()
        if len(x) < needed:
            raise UnmodelledSeries(
                f"train: {len(x)} rows after {self._align} alignment, {type(self).__name__} needs at least "
                f"{needed}{self._length_reason()} (MVAD NotEnoughInput)"
            )
        self.variables_ = names
        self.variable_states_ = states
        with np.errstate(divide="ignore", invalid="ignore"):
            self.correlation_ = np.nan_to_num(np.corrcoef(x, rowvar=False)).reshape(x.shape[1], x.shape[1])
        self._fit(x)
        k = self.context_length()
        self.context_ = x[max(len(x) - k, 0) :].copy() if k else np.empty((0, x.shape[1]))
        r = self._recent_length()
        self.recent_ = x[max(len(x) - r, 0) :].copy() if r else np.empty((0, x.shape[1]))
        return self

    def _recent_length(self) -> int:
        return max(int(getattr(self, "corr_window", 0) or 0) - 1, 0)

    def _base_state(self) -> dict[str, Any]:
        """The parameters and the state every multivariate detector keeps (plain values)."""
        return {
            "params": self.get_params(),
            "variables": list(self.variables_),
            "variable_states": self.variable_states_,
            "correlation": self.correlation_.tolist(),
            "context": self.context_.tolist(),
            "recent": self.recent_.tolist(),
        }

    @classmethod
    def _restore_base(cls, state: Mapping[str, Any]):
        """A detector with the parameters and base state of ``state`` (KeyError/TypeError/
        ValueError for a malformed one; callers turn them into DetectorError)."""
        detector = cls(**state["params"])
        detector._check_params()
        detector.variables_ = tuple(str(v) for v in state["variables"])
        p = len(detector.variables_)
        detector.variable_states_ = [dict(v) for v in state["variable_states"]]
        detector.correlation_ = np.asarray(state["correlation"], dtype=float).reshape(p, p)
        detector.context_ = np.asarray(state["context"], dtype=float).reshape(-1, p)
        detector.recent_ = np.asarray(state["recent"], dtype=float).reshape(-1, p)
        return detector

    def _length_reason(self) -> str:
        return ""

    def _check_fitted(self) -> None:
        if not hasattr(self, "variables_"):
            raise DetectorError(f"{type(self).__name__}: call fit(train) (or from_state) before detect/update")

    def _test_values(self, test, name: str = "test") -> tuple[np.ndarray, pd.Index]:
        self._check_fitted()
        x, names, index, _ = self.prepare(test, name)
        if names != self.variables_:
            missing = [v for v in self.variables_ if v not in names]
            extra = [v for v in names if v not in self.variables_]
            if missing or extra:
                raise DetectorError(
                    f"{name}: the variables must be those of training (MVAD); missing {missing}, unexpected {extra}"
                )
            order = [names.index(v) for v in self.variables_]
            x = x[:, order]
        return x, index

    def detect(self, test) -> MultivariateResult:
        """Score every row of ``test`` (the rows that follow the training data or the last
        detected rows); contributions per row sum to 1."""
        x, index = self._test_values(test)
        p = len(self.variables_)
        if len(x) == 0:
            return MultivariateResult(
                np.empty(0), np.empty(0), np.zeros(0, dtype=bool), None, None, None, np.empty((0, p)), self.variables_
            )
        full = np.concatenate((self.context_, x))
        score, threshold, contributions = self._score(full)
        k = self.context_length()
        if k:
            self.context_ = full[len(full) - k :].copy()
        r = self._recent_length()
        self.recent_ = np.concatenate((self.recent_, x))[-r:].copy() if r else self.recent_
        score = np.asarray(score, dtype=float)
        threshold = np.broadcast_to(np.asarray(threshold, dtype=float), score.shape).copy()
        alarm = np.isfinite(score) & (score > threshold)
        return MultivariateResult(
            score,
            threshold,
            alarm,
            contributions=normalized(contributions),
            variables=self.variables_,
            index=index,
        )

    def update(self, x) -> PointResult:
        """One new row (a mapping variable -> value, or values in the training order); the same
        arithmetic as ``detect`` on a one-row frame."""
        self._check_fitted()
        if isinstance(x, Mapping):
            row = pd.DataFrame([dict(x)])
        else:
            values = np.asarray(x, dtype=float).reshape(1, -1)
            if values.shape[1] != len(self.variables_):
                raise DetectorError(f"x: expected {len(self.variables_)} values, got {values.shape[1]}")
            row = pd.DataFrame(values, columns=list(self.variables_))
        result = self.detect(row)
        return PointResult(float(result.score[0]), float(result.threshold[0]), bool(result.alarm[0]))

    # ------------------------------------------------------------------ interpretation
    def _correlation_deltas(self, recent: np.ndarray, x: np.ndarray, rows: np.ndarray) -> np.ndarray | None:
        """For the scored rows ``rows`` of ``x``, the variables' correlation over the last
        ``corr_window`` rows (``recent``, the rows seen before ``x``, included) minus their
        training correlation; shape (len(rows), variables, variables). Models with their own
        view of the relations (MTAD-GAT's feature attention) override this."""
        base = self.correlation_
        w = int(getattr(self, "corr_window", 0) or 0)
        if w < 3:
            return None
        full = np.concatenate((recent, x))
        k = len(recent)
        out = np.zeros((len(rows), *base.shape))
        for r, i in enumerate(rows.tolist()):
            stop = k + i + 1
            window = full[max(0, stop - w) : stop]
            if len(window) >= 3:
                with np.errstate(divide="ignore", invalid="ignore"):
                    out[r] = np.nan_to_num(np.corrcoef(window, rowvar=False)) - base
        return out

    def anomaly_states(self, test, top_contributor_count: int = 10) -> list[dict[str, Any]]:
        """Detect ``test`` and return MVAD's per-timestamp results (``AnomalyState``):
        ``{"timestamp", "value": {"isAnomaly", "severity", "score", "interpretation":
        [{"variable", "contributionScore", "correlationChanges": {"changedVariables",
        "changedValues"}}]}, "errors": []}``. ``interpretation`` lists the
        ``top_contributor_count`` (1..30, MVAD's default 10) largest contributors of anomalous
        timestamps, largest first; their contribution scores are those of the whole row
        (summing to 1 over all variables). ``changedVariables`` of a contributor are the
        variables whose relation to it moved by more than :data:`CHANGED_CORRELATION`
        (``changedValues``: by how much), largest first."""
        if not is_int(top_contributor_count):
            raise DetectorError(f"top_contributor_count: must be an integer 1..30, got {top_contributor_count!r}")
        if not 1 <= top_contributor_count <= 30:
            raise DetectorError(f"top_contributor_count: must be an integer 1..30, got {top_contributor_count!r}")
        x, _ = self._test_values(test)
        recent = self.recent_
        result = self.detect(test)
        rows = np.flatnonzero(result.alarm)
        deltas = self._correlation_deltas(recent, x, rows) if len(rows) else None
        by_row = {} if deltas is None else dict(zip(rows.tolist(), deltas))
        return states_from(result, int(top_contributor_count), by_row)


def states_from(
    result: MultivariateResult, top: int = 10, correlation: Mapping[int, np.ndarray] | None = None
) -> list[dict[str, Any]]:
    """MVAD ``AnomalyState`` records from a :class:`MultivariateResult` (see ``anomaly_states``;
    ``correlation``: row position -> matrix of correlation changes)."""
    severity = result.severity
    index = result.index if result.index is not None else pd.RangeIndex(len(result))
    names = result.variables
    correlation = correlation or {}
    states = []
    for i in range(len(result)):
        interpretation = []
        if result.alarm[i] and result.contributions is not None:
            row = result.contributions[i]
            delta_matrix = correlation.get(i)
            for j in np.argsort(-row, kind="stable")[:top].tolist():
                changed: list[str] = []
                values: list[float] = []
                if delta_matrix is not None:
                    delta = delta_matrix[j]
                    for m in np.argsort(-np.abs(delta), kind="stable").tolist():
                        if m != j and abs(delta[m]) > CHANGED_CORRELATION:
                            changed.append(names[m])
                            values.append(float(delta[m]))
                interpretation.append(
                    {
                        "variable": names[j],
                        "contributionScore": float(row[j]),
                        "correlationChanges": {"changedVariables": changed, "changedValues": values},
                    }
                )
        stamp = index[i]
        states.append(
            {
                "timestamp": _timestamp(stamp),
                "value": {
                    "isAnomaly": bool(result.alarm[i]),
                    "severity": float(severity[i]),
                    "score": float(result.score[i]),
                    "interpretation": interpretation,
                },
                "errors": [],
            }
        )
    return states


def _timestamp(stamp: Any) -> Any:
    if isinstance(stamp, pd.Timestamp):
        return stamp.isoformat()
    return stamp.item() if isinstance(stamp, np.generic) else stamp


def normalized(contributions) -> np.ndarray:
    """Non-negative rows scaled to sum to 1 (a row of zeros becomes uniform)."""
    c = np.clip(np.nan_to_num(np.asarray(contributions, dtype=float)), 0.0, None)
    total = c.sum(axis=1, keepdims=True)
    uniform = np.full_like(c, 1.0 / max(c.shape[1], 1))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(total > 0, c / np.where(total > 0, total, 1.0), uniform)


THRESHOLDS = ("quantile", "spot")


def check_threshold(method: Any, quantile: Any, risk: Any, extra: tuple[str, ...] = ()) -> None:
    """DetectorError for an unknown threshold method or a quantile / SPOT risk out of (0, 1)."""
    choices = (*extra, *THRESHOLDS)
    if method not in choices:
        raise DetectorError(f"threshold: must be one of {', '.join(choices)}, got {method!r}")
    for name, value in (("quantile", quantile), ("risk", risk)):
        if not is_real(value) or not 0 < value < 1:
            raise DetectorError(f"{name}: must be a number in (0, 1), got {value!r}")


def threshold_from(train_scores: np.ndarray, method: str, quantile: float, risk: float) -> float:
    """A fixed alarm threshold from training (or validation) scores only, never test scores:
    ``"quantile"``: their ``quantile``; ``"spot"``: the tail quantile of probability ``risk``
    that :class:`fluxev.SPOT` estimates (GPD over the peaks above their ``quantile``,
    Siffer et al., KDD 2017)."""
    finite = np.asarray(train_scores, dtype=float)
    finite = finite[np.isfinite(finite)]
    if len(finite) < 2:
        raise UnmodelledSeries(f"{len(finite)} finite training score(s): too few to set a threshold from")
    if method == "quantile":
        return float(np.quantile(finite, quantile))
    if method == "spot":
        if risk >= 1 - quantile:
            raise DetectorError(f"risk: must be below 1 - quantile = {1 - quantile:g} for SPOT, got {risk!r}")
        z = SPOT(q=risk, level=quantile).fit(finite).z_
        if not math.isfinite(z):
            raise UnmodelledSeries("SPOT could not estimate the tail of the training scores (too few distinct peaks)")
        return float(z)
    raise DetectorError(f"threshold: must be one of {', '.join(THRESHOLDS)}, got {method!r}")
