"""The detector protocol that every anomaly detector of the framework implements.

A detector is an estimator in the scikit-learn sense and a streaming model in river's:

- **parameters** are the keyword arguments of ``__init__``, stored unchanged as attributes of the
  same name (``__init__`` does no other work). :meth:`Detector.get_params` reads them from the
  signature, :meth:`Detector.set_params` changes them, :meth:`Detector.validate` checks them and
  :meth:`Detector.clone` copies them into a new, unfitted detector. An unknown parameter name is
  a :class:`DetectorError` that lists the valid ones;
- **learned state** lives in attributes with a trailing underscore, set by ``fit``;
- **batch**: ``fit(train) -> self`` learns from a training series; ``detect(test) ->``
  :class:`DetectionResult` scores the points that follow it (per point: ``score``,
  ``threshold``, ``alarm`` and, where the detector forecasts, ``expected``, ``lower``, ``upper``);
- **streaming**: ``update(x) ->`` :class:`PointResult` does the same arithmetic for one point, so
  that batch and streaming agree (each detector's tests prove it);
- **checkpoints**: ``state_dict()`` returns plain Python values (JSON-able with NaN/inf);
  ``Class.from_state(state)`` returns a fitted detector that continues exactly where the saved one
  stopped.

Errors: :class:`DetectorError` for a bad parameter or input; :class:`UnmodelledSeries` (a
subclass) when a valid series cannot be modelled by this detector — shorter than its warm-up,
constant where it needs variation. Callers that run one detector over many series (``rca``) list
those series with the reason and go on; every other error propagates.
"""

from __future__ import annotations

import difflib
import functools
import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

import numpy as np
import pandas as pd

from core.errors import FrameworkError


class DetectorError(FrameworkError):
    """Invalid parameters or input for a detector; the message names the input and the problem."""


class UnmodelledSeries(DetectorError):
    """This detector cannot model this (valid) series, e.g. it is shorter than the warm-up."""


@dataclass(frozen=True)
class DetectionResult:
    """Per-point output of ``detect``: numpy arrays of equal length.

    ``score``: the detector's anomaly score (higher = more anomalous; NaN where it has none);
    ``threshold``: the alarm threshold in force at the point; ``alarm``: bool; ``expected``,
    ``lower``, ``upper``: the forecast and its band, None for detectors that do not forecast.
    """

    score: np.ndarray
    threshold: np.ndarray
    alarm: np.ndarray
    expected: np.ndarray | None = None
    lower: np.ndarray | None = None
    upper: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.score)
        for name in ("threshold", "alarm", "expected", "lower", "upper"):
            value = getattr(self, name)
            if value is not None and len(value) != n:
                raise DetectorError(f"DetectionResult: {name} has {len(value)} points, score has {n}")

    def __len__(self) -> int:
        return len(self.score)

    def to_frame(self, index=None) -> pd.DataFrame:
        """Columns ``score, threshold, alarm`` (and ``expected, lower, upper`` when present)."""
        columns: dict[str, Any] = {"score": self.score, "threshold": self.threshold, "alarm": self.alarm}
        for name in ("expected", "lower", "upper"):
            if getattr(self, name) is not None:
                columns[name] = getattr(self, name)
        return pd.DataFrame(columns, index=index)


class PointResult(NamedTuple):
    """Output of ``update(x)`` for one point (``expected``/``lower``/``upper`` NaN without a forecast)."""

    score: float
    threshold: float
    alarm: bool
    expected: float = math.nan
    lower: float = math.nan
    upper: float = math.nan


def _parameter_names(init: Callable) -> list[str]:
    names = []
    for name, p in list(inspect.signature(init).parameters.items())[1:]:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            raise TypeError(f"{init.__qualname__}: a detector's __init__ takes named parameters only, not *{name}")
        names.append(name)
    return names


def unknown_parameter_message(owner: str, unknown: list[str], valid: list[str]) -> str:
    """``FluxEV: unknown parameter 'smoothin' (did you mean 'smoothing'?); valid parameters: ...``."""
    parts = []
    for name in unknown:
        close = difflib.get_close_matches(name, valid, n=1)
        parts.append(f"{name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    plural = "s" if len(unknown) > 1 else ""
    return f"{owner}: unknown parameter{plural} {', '.join(parts)}; valid parameters: {', '.join(valid) or 'none'}"


class Detector:
    """Base class of the protocol (module docstring). Subclasses implement ``fit`` and ``detect``;
    streaming detectors also ``update``, ``state_dict`` and ``from_state``; ``_check_params``
    raises :class:`DetectorError` for invalid parameter values."""

    name: ClassVar[str] = ""
    multivariate: ClassVar[bool] = False
    """True for detectors whose ``fit``/``detect`` take a DataFrame (one column per variable)."""
    score_in_series_units: ClassVar[bool] = False
    """True when the score is in the series' own units (a forecast error or its fluctuation), so
    that scores divided by each series' noise are comparable across series (the monitor's pooled
    calibration, :mod:`monitor.calibration`)."""

    def __init__(self) -> None:
        """A detector without parameters; subclasses define their own."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "__init__" in cls.__dict__:
            cls.__init__ = _checked_init(cls.__dict__["__init__"])  # type: ignore[method-assign]

    # ------------------------------------------------------------------ parameters
    @classmethod
    def parameter_names(cls) -> list[str]:
        """The names of the parameters, in ``__init__``'s order."""
        return _parameter_names(cls.__init__)

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        """Parameter name -> default value (parameters without a default are left out)."""
        signature = inspect.signature(cls.__init__)
        return {k: p.default for k, p in signature.parameters.items() if p.default is not p.empty}

    def get_params(self) -> dict[str, Any]:
        """Parameter name -> current value, read from ``__init__``'s signature."""
        return {name: getattr(self, name) for name in self.parameter_names()}

    def set_params(self, **params: Any) -> Detector:
        """Change parameters (unknown names are an error); returns self, unfitted state kept."""
        valid = self.parameter_names()
        unknown = [k for k in params if k not in valid]
        if unknown:
            raise DetectorError(unknown_parameter_message(type(self).__name__, unknown, valid))
        for name, value in params.items():
            setattr(self, name, value)
        return self

    def _check_params(self) -> None:
        """Raise DetectorError when a parameter value is invalid (subclasses override)."""

    def validate(self) -> Detector:
        """Check the parameter values; returns self."""
        self._check_params()
        return self

    def clone(self) -> Detector:
        """A new, unfitted detector with the same parameters."""
        return type(self)(**self.get_params())

    @property
    def is_fitted(self) -> bool:
        return any(k.endswith("_") and not k.startswith("_") for k in vars(self))

    def __repr__(self) -> str:
        defaults = self.defaults()
        shown = [f"{k}={v!r}" for k, v in self.get_params().items() if k not in defaults or not _same(v, defaults[k])]
        return f"{type(self).__name__}({', '.join(shown)})"

    # ------------------------------------------------------------------ the protocol
    def fit(self, train) -> Detector:
        raise NotImplementedError

    def detect(self, test) -> DetectionResult:
        raise NotImplementedError

    def update(self, x) -> PointResult:
        raise DetectorError(f"{type(self).__name__} does not stream; use fit/detect")

    def state_dict(self) -> dict[str, Any]:
        raise DetectorError(f"{type(self).__name__} cannot save its state")

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Detector:
        raise DetectorError(f"{cls.__name__} cannot restore a state")


def _checked_init(init: Callable) -> Callable:
    """``init`` that raises DetectorError, listing the valid names, for an unknown parameter."""
    valid = _parameter_names(init)

    @functools.wraps(init)
    def checked_init(self, *args, **params):
        unknown = [k for k in params if k not in valid]
        if unknown:
            raise DetectorError(unknown_parameter_message(type(self).__name__, unknown, valid))
        if len(args) > len(valid):
            raise DetectorError(f"{type(self).__name__}: takes at most {len(valid)} parameters, got {len(args)}")
        init(self, *args, **params)

    return checked_init


Detector.__init__ = _checked_init(Detector.__init__)  # type: ignore[method-assign]


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return a is b
