"""ARIMA with automatic order selection and SARIMA (statsmodels ``SARIMAX``), as FreeWheel's
first detector (seed 001, "ARIMA", "Seasonal ARIMA"): parameters by maximum likelihood on the last
``fit_points`` training points (300: the seed finds 200-300 points enough for ARIMA), then
one-step forecasts over the stream with those parameters.

Order selection (the seed's "自动定阶", a grid search on an information criterion): d by repeated
KPSS tests (level stationarity at 5 %, at most ``max_d`` differences, as Hyndman & Khandakar's
auto.arima), then every (p, q) with p <= max_p, q <= max_q is fitted and the lowest ``criterion``
(AIC or BIC) wins.

Forecasting: with the fitted polynomials, Phi(L) = phi(L) Phi_s(L^s) (1 - L)^d (1 - L^s)^D and
Theta(L) = theta(L) Theta_s(L^s), the innovations are e_t = Phi(L) x_t - c - (Theta(L) - 1) e_t
(``scipy.signal.lfilter`` with the saved filter state), and the one-step forecast is x_t - e_t,
with standard error sqrt(sigma^2). This is the limit the Kalman filter of SARIMAX reaches once its
state has converged (tests compare both), so the recursion is run over the whole training series
before the first forecast; it costs O(len(Phi) + len(Theta)) per point.

SARIMA refuses seasonal periods above ``max_period`` (default 168 points, the seed's hourly weekly
case, which it reports takes more than 5 minutes to fit): the state of SARIMAX grows with the
period, so a daily period of 1-minute data (1440) is out of reach. ``UnmodelledSeries`` names
"stl-arima", which models such periods (STL for the season, ARIMA for the rest).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from scipy import signal

from core.detector import DetectorError, UnmodelledSeries
from core.values import non_negative_int, positive_int
from detectors.forecasters.base import BAND_DEFAULTS, Forecaster, check_history

CRITERIA = ("aic", "bic")


class ARMARecursion:
    """One-step forecasts x_t - e_t of a fitted (S)ARIMA (module docstring); the state is the last
    len(Phi) - 1 values and the filter state of 1 / Theta(L)."""

    def __init__(self, phi: np.ndarray, theta: np.ndarray, intercept: float, sigma: float):
        self.phi = np.asarray(phi, dtype=float)
        self.theta = np.asarray(theta, dtype=float)
        self.intercept = float(intercept)
        self.sigma = float(sigma)

    @property
    def lags(self) -> int:
        return len(self.phi) - 1

    def start(self, history: np.ndarray) -> None:
        """Run over ``history`` (at least ``lags`` points) to set the state."""
        self.values = np.asarray(history[: self.lags], dtype=float)
        self.zi = np.zeros(max(len(self.theta) - 1, 0))
        self.innovations(history[self.lags :], advance=True)

    def innovations(self, block: np.ndarray, advance: bool = False) -> np.ndarray:
        ext = np.concatenate((self.values, block))
        u = np.convolve(ext, self.phi, mode="valid") - self.intercept if self.lags else block - self.intercept
        if len(self.theta) > 1:
            e, zi = signal.lfilter([1.0], self.theta, u, zi=self.zi)
        else:
            e, zi = u, self.zi
        if advance:
            self.values = ext[len(ext) - self.lags :] if self.lags else ext[:0]
            self.zi = zi
        return e

    def state_dict(self) -> dict[str, Any]:
        return {
            "phi": self.phi.tolist(),
            "theta": self.theta.tolist(),
            "intercept": self.intercept,
            "sigma": self.sigma,
            "values": self.values.tolist(),
            "zi": self.zi.tolist(),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> ARMARecursion:
        rec = cls(state["phi"], state["theta"], state["intercept"], state["sigma"])
        rec.values = np.asarray(state["values"], dtype=float)
        rec.zi = np.asarray(state["zi"], dtype=float)
        if len(rec.values) != rec.lags or len(rec.zi) != max(len(rec.theta) - 1, 0):
            raise DetectorError("state: ARMA state does not match its polynomials")
        return rec


def _differencing(d: int, seasonal_d: int, period: int) -> np.ndarray:
    poly = np.array([1.0])
    for _ in range(d):
        poly = np.convolve(poly, [1.0, -1.0])
    for _ in range(seasonal_d):
        poly = np.convolve(poly, np.concatenate(([1.0], np.zeros(period - 1), [-1.0])))
    return poly


_BLAS: Any = None


def _one_blas_thread():
    """A context in which BLAS runs on one thread. SARIMAX's Kalman filter multiplies tiny
    matrices; with a multi-threaded OpenBLAS on a shared 2-core machine each product waits for
    the other thread, and a fit of ARMA(1, 1) on 300 points took 1.3-1.7 s instead of 0.08-0.24 s
    (measured; docs/detectors.md)."""
    global _BLAS
    if _BLAS is None:
        from threadpoolctl import ThreadpoolController

        _BLAS = ThreadpoolController()
    return _BLAS.limit(limits=1, user_api="blas")


def fit_sarimax(x: np.ndarray, order, seasonal_order=(0, 0, 0, 0)):
    """statsmodels SARIMAX fitted by MLE (intercept only without differencing), BLAS on one
    thread; None if it fails."""
    from statsmodels.tsa.statespace.sarimax import SARIMAX

    d, seasonal_d = order[1], seasonal_order[1]
    trend = "c" if d + seasonal_d == 0 else "n"
    with warnings.catch_warnings(), _one_blas_thread():
        warnings.simplefilter("ignore")
        try:
            model = SARIMAX(x, order=order, seasonal_order=seasonal_order, trend=trend)
            return model.fit(disp=False, maxiter=50)
        except (np.linalg.LinAlgError, ValueError):
            return None


def recursion_of(result, order, seasonal_order=(0, 0, 0, 0)) -> ARMARecursion:
    """The ARMARecursion of a fitted SARIMAX result."""
    ar = np.asarray(result.polynomial_reduced_ar, dtype=float)
    ma = np.asarray(result.polynomial_reduced_ma, dtype=float)
    phi = np.convolve(ar, _differencing(order[1], seasonal_order[1], max(seasonal_order[3], 1)))
    params = dict(zip(result.model.param_names, np.asarray(result.params, dtype=float)))
    return ARMARecursion(phi, ma, params.get("intercept", 0.0), float(np.sqrt(max(params["sigma2"], 0.0))))


def kpss_differences(x: np.ndarray, max_d: int) -> int:
    """How many differences make ``x`` level-stationary by KPSS at 5 % (at most max_d)."""
    from statsmodels.tsa.stattools import kpss

    d = 0
    y = x
    while d < max_d and len(y) > 10 and y.std() > 0:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            p_value = kpss(y, regression="c", nlags="auto")[1]
        if p_value >= 0.05:
            break
        y = np.diff(y)
        d += 1
    return d


def select_order(x: np.ndarray, max_p: int, max_d: int, max_q: int, criterion: str, seasonal_order=(0, 0, 0, 0)):
    """(order, result) minimising the criterion (module docstring), or (None, None)."""
    d = kpss_differences(x if seasonal_order[1] == 0 else x[seasonal_order[3] :] - x[: -seasonal_order[3]], max_d)
    best: tuple[Any, Any] = (None, None)
    best_value = np.inf
    for p in range(max_p + 1):
        for q in range(max_q + 1):
            result = fit_sarimax(x, (p, d, q), seasonal_order)
            if result is None:
                continue
            value = float(getattr(result, criterion))
            if np.isfinite(value) and value < best_value:
                best, best_value = ((p, d, q), result), value
    return best


class _ARIMABase(Forecaster):
    max_p: int
    max_d: int
    max_q: int
    criterion: str
    fit_points: Any

    def _check_arima(self) -> None:
        self._check_band()
        non_negative_int(self.max_p, "max_p")
        non_negative_int(self.max_d, "max_d")
        non_negative_int(self.max_q, "max_q")
        positive_int(self.fit_points, "fit_points")
        if self.criterion not in CRITERIA:
            raise DetectorError(f"criterion: must be one of {CRITERIA}, got {self.criterion!r}")

    def _start(self, x: np.ndarray, result, order, seasonal_order=(0, 0, 0, 0)) -> None:
        self.order_ = tuple(order)
        self.seasonal_order_ = tuple(seasonal_order)
        self.recursion_ = recursion_of(result, order, seasonal_order)
        check_history(x, self.recursion_.lags + 1, f"{type(self).__name__}{self.order_}{self.seasonal_order_}")
        self.recursion_.start(x)

    def _forecast(self, block):
        e = self.recursion_.innovations(block)
        return block - e, np.full(len(block), self.recursion_.sigma)

    def _advance(self, values):
        self.recursion_.innovations(values, advance=True)

    def _model_state(self) -> dict[str, Any]:
        return {
            "order": list(self.order_),
            "seasonal_order": list(self.seasonal_order_),
            "recursion": self.recursion_.state_dict(),
        }

    def _load_model_state(self, state: dict[str, Any]) -> None:
        self.order_ = tuple(state["order"])
        self.seasonal_order_ = tuple(state["seasonal_order"])
        self.recursion_ = ARMARecursion.from_state(state["recursion"])


class ARIMA(_ARIMABase):
    """ARIMA(p, d, q) with the order selected per series (module docstring)."""

    name = "arima"

    def __init__(
        self,
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
        self._check_arima()

    def _fit_model(self, x: np.ndarray) -> None:
        check_history(x, 20, "ARIMA")
        tail = x[-self.fit_points :]
        if not tail.std() > 0:
            raise UnmodelledSeries("train: constant over the fitting window; ARIMA has nothing to fit")
        order, result = select_order(tail, self.max_p, self.max_d, self.max_q, self.criterion)
        if result is None:
            raise UnmodelledSeries("train: no ARIMA order could be fitted")
        self._start(x, result, order)


class SARIMA(_ARIMABase):
    """SARIMA(p, d, q)(P, D, Q)_s: (p, d, q) selected as ARIMA's (max 1 each by default), the
    seasonal part fixed to ``seasonal_order`` = (P, D, Q), fitted on the last ``cycles`` periods;
    periods above ``max_period`` are refused (module docstring)."""

    name = "sarima"

    def __init__(
        self,
        period="auto",
        seasonal_order=(0, 1, 1),
        max_p=1,
        max_d=1,
        max_q=1,
        criterion="aic",
        cycles=6,
        max_period=168,
        level=BAND_DEFAULTS["level"],
        tiers=BAND_DEFAULTS["tiers"],
        rel_floor=BAND_DEFAULTS["rel_floor"],
        jitter=BAND_DEFAULTS["jitter"],
        side=BAND_DEFAULTS["side"],
        non_negative=BAND_DEFAULTS["non_negative"],
        feedback=True,
    ):
        self.period = period
        self.seasonal_order = seasonal_order
        self.max_p = max_p
        self.max_d = max_d
        self.max_q = max_q
        self.criterion = criterion
        self.cycles = cycles
        self.max_period = max_period
        self.level = level
        self.tiers = tiers
        self.rel_floor = rel_floor
        self.jitter = jitter
        self.side = side
        self.non_negative = non_negative
        self.feedback = feedback

    @property
    def fit_points(self) -> int:
        return self.cycles * (self.period_ if isinstance(getattr(self, "period_", None), int) else 1)

    def _check_params(self) -> None:
        self._check_band()
        self._check_period(required=True)
        positive_int(self.cycles, "cycles")
        positive_int(self.max_period, "max_period")
        non_negative_int(self.max_p, "max_p")
        non_negative_int(self.max_d, "max_d")
        non_negative_int(self.max_q, "max_q")
        if self.criterion not in CRITERIA:
            raise DetectorError(f"criterion: must be one of {CRITERIA}, got {self.criterion!r}")
        so = self.seasonal_order
        if not (isinstance(so, (tuple, list)) and len(so) == 3):
            raise DetectorError(f"seasonal_order: must be (P, D, Q), got {so!r}")
        for name, v in zip(("P", "D", "Q"), so):
            non_negative_int(v, f"seasonal_order {name}")

    def _fit_model(self, x: np.ndarray) -> None:
        period = self._resolve_period(x, required=True)
        self.period_ = int(period)  # type: ignore[arg-type]
        if self.period_ > self.max_period:
            raise UnmodelledSeries(
                f"train: seasonal period {self.period_} > max_period {self.max_period}: SARIMAX's state grows "
                "with the period and its fit would take too long; use 'stl-arima' for long periods"
            )
        check_history(x, 3 * self.period_, f"SARIMA with period {self.period_} (3 periods)")
        tail = x[-self.cycles * self.period_ :]
        if not tail.std() > 0:
            raise UnmodelledSeries("train: constant over the fitting window; SARIMA has nothing to fit")
        seasonal = (*tuple(self.seasonal_order), self.period_)
        order, result = select_order(tail, self.max_p, self.max_d, self.max_q, self.criterion, seasonal)
        if result is None:
            raise UnmodelledSeries("train: no SARIMA order could be fitted")
        self._start(x, result, order, seasonal)

    def _model_state(self) -> dict[str, Any]:
        return {**super()._model_state(), "period": self.period_}

    def _load_model_state(self, state: dict[str, Any]) -> None:
        super()._load_model_state(state)
        self.period_ = int(state["period"])
