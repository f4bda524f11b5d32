"""STL-ARIMA (seed 001, "STL"): the season from an STL decomposition (Cleveland et al. 1990;
statsmodels ``STL``, robust, with R's LOESS jumps: :func:`stl_jumps`), ARIMA (order selected as
:class:`ARIMA`'s) on the rest, as statsmodels' ``STLForecast`` does: expected_t = seasonal[t mod P]
of the last decomposed cycle + the ARIMA one-step forecast of the seasonally adjusted series x - seasonal. With several
``periods`` MSTL (Bandara et al. 2021; statsmodels ``MSTL``) gives one seasonal component per
period, and each repeats its last cycle.

The decomposition is fitted on the last ``cycles`` cycles of the longest period, and the ARIMA on
the last ``fit_points`` of x minus its decomposed season; the seasonal profile then stays fixed
while the ARIMA part follows the level.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from core.detector import DetectorError, UnmodelledSeries
from core.values import non_negative_int, positive_int
from detectors.forecasters.arima import ARMARecursion, recursion_of, select_order
from detectors.forecasters.base import BAND_DEFAULTS, Forecaster, check_history


def stl_jumps(x: np.ndarray, period: int) -> dict[str, int]:
    """The LOESS jumps of R's ``stl`` (Cleveland et al. 1990, Sec. 3.5): each smoother is evaluated
    every ceil(window / 10) points and interpolated linearly between, for statsmodels' default
    windows. statsmodels' default jump is 1: on 10 days of 1-minute data (trend window 2751 points)
    a robust STL then cost minutes, with these jumps under a second, its season within 0.02 % of
    the season's spread (measured; docs/detectors.md)."""
    from statsmodels.tsa.seasonal import STL

    config = STL(x, period=period).config  # the default windows; nothing is fitted
    return {f"{k}_jump": math.ceil(config[k] / 10) for k in ("seasonal", "trend", "low_pass")}


def seasonal_profiles(x: np.ndarray, periods: tuple[int, ...]) -> tuple[list[np.ndarray], np.ndarray]:
    """The last cycle of each seasonal component, indexed by phase (t mod P, t counted from the
    start of ``x``), and the sum of the seasonal components over ``x``."""
    from statsmodels.tsa.seasonal import MSTL, STL

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if len(periods) == 1:
            jumps = stl_jumps(x, periods[0])
            seasonals = [np.asarray(STL(x, period=periods[0], robust=True, **jumps).fit().seasonal)]
        else:
            fitted = np.asarray(MSTL(x, periods=periods).fit().seasonal)
            seasonals = [fitted[:, k] for k in range(len(periods))]
    profiles = []
    for period, seasonal in zip(periods, seasonals):
        last = seasonal[len(x) - period :]
        phases = (np.arange(len(x) - period, len(x))) % period
        profile = np.empty(period)
        profile[phases] = last
        profiles.append(profile)
    return profiles, np.sum(seasonals, axis=0)


class STLARIMA(Forecaster):
    """STL (or MSTL) + ARIMA (module docstring); ``periods`` None uses ``period`` alone."""

    name = "stl-arima"

    def __init__(
        self,
        period="auto",
        periods=None,
        cycles=10,
        max_p=2,
        max_d=1,
        max_q=2,
        criterion="aic",
        fit_points=300,
        level=BAND_DEFAULTS["level"],
        tiers=BAND_DEFAULTS["tiers"],
        rel_floor=BAND_DEFAULTS["rel_floor"],
        jitter=BAND_DEFAULTS["jitter"],
        side=BAND_DEFAULTS["side"],
        non_negative=BAND_DEFAULTS["non_negative"],
        feedback=True,
    ):
        self.period = period
        self.periods = periods
        self.cycles = cycles
        self.max_p = max_p
        self.max_d = max_d
        self.max_q = max_q
        self.criterion = criterion
        self.fit_points = fit_points
        self.level = level
        self.tiers = tiers
        self.rel_floor = rel_floor
        self.jitter = jitter
        self.side = side
        self.non_negative = non_negative
        self.feedback = feedback

    def _check_params(self) -> None:
        self._check_band()
        if self.periods is None:
            self._check_period(required=True)
        elif not (isinstance(self.periods, (tuple, list)) and self.periods):
            raise DetectorError(f"periods: must be a non-empty list of periods, got {self.periods!r}")
        else:
            for p in self.periods:
                if positive_int(p, "periods") < 2:
                    raise DetectorError(f"periods: each must be at least 2 points, got {p}")
        positive_int(self.cycles, "cycles")
        positive_int(self.fit_points, "fit_points")
        for name in ("max_p", "max_d", "max_q"):
            non_negative_int(getattr(self, name), name)

    def _fit_model(self, x: np.ndarray) -> None:
        if self.periods is None:
            self.periods_: tuple[int, ...] = (int(self._resolve_period(x, required=True)),)  # type: ignore[arg-type]
        else:
            self.periods_ = tuple(sorted(int(p) for p in self.periods))
        longest = self.periods_[-1]
        check_history(x, 2 * longest + 1, f"STL with period {longest} (2 cycles)")
        start = max(0, len(x) - self.cycles * longest)
        tail = x[start:]
        profiles, seasonal = seasonal_profiles(tail, self.periods_)
        self.profiles_ = [np.roll(p, start % len(p)) for p in profiles]
        adjusted = x - self._season(0, len(x))
        adjusted[start:] = tail - seasonal
        fit_tail = adjusted[-self.fit_points :]
        if not fit_tail.std() > 0:
            raise UnmodelledSeries("train: constant after removing the season; ARIMA has nothing to fit")
        order, result = select_order(fit_tail, self.max_p, self.max_d, self.max_q, self.criterion)
        if result is None:
            raise UnmodelledSeries("train: no ARIMA order could be fitted to the seasonally adjusted series")
        self.order_ = order
        self.recursion_ = recursion_of(result, order)
        self.recursion_.start(adjusted)
        self.n_seen_ = len(x)

    def _season(self, start: int, count: int) -> np.ndarray:
        t = start + np.arange(count)
        return sum((p[t % len(p)] for p in self.profiles_), np.zeros(count))

    def _forecast(self, block):
        season = self._season(self.n_seen_, len(block))
        e = self.recursion_.innovations(block - season)
        return block - e, np.full(len(block), self.recursion_.sigma)

    def _advance(self, values):
        self.recursion_.innovations(values - self._season(self.n_seen_, len(values)), advance=True)
        self.n_seen_ += len(values)

    def _model_state(self) -> dict[str, Any]:
        return {
            "periods": list(self.periods_),
            "profiles": [p.tolist() for p in self.profiles_],
            "order": list(self.order_),
            "recursion": self.recursion_.state_dict(),
            "n_seen": self.n_seen_,
        }

    def _load_model_state(self, state: dict[str, Any]) -> None:
        self.periods_ = tuple(int(p) for p in state["periods"])
        self.profiles_ = [np.asarray(p, dtype=float) for p in state["profiles"]]
        self.order_ = tuple(state["order"])
        self.recursion_ = ARMARecursion.from_state(state["recursion"])
        self.n_seen_ = int(state["n_seen"])
        if [len(p) for p in self.profiles_] != list(self.periods_):
            raise DetectorError("state: seasonal profiles do not match the periods")
