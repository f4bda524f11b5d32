import json
import warnings

import numpy as np
import pytest
from scipy import stats

from core.detector import DetectorError, UnmodelledSeries
from detectors.forecasters import bands
from detectors.forecasters.arima import ARIMA, SARIMA, fit_sarimax
from detectors.forecasters.sma import SMA, residual_std
from detectors.forecasters.stl import STLARIMA
from detectors.selection import AutoSelect
from tests.detectors.conftest import PERIOD, daily_series

rng = np.random.default_rng(11)


def arma_series(n=900):
    e = rng.normal(size=n)
    x = np.zeros(n)
    for t in range(2, n):
        x[t] = 4 + 0.6 * x[t - 1] - 0.2 * x[t - 2] + e[t] + 0.4 * e[t - 1]
    return x


def test_arima_forecasts_are_statsmodels_own():
    x = arma_series()
    d = ARIMA(max_p=1, max_q=1, fit_points=300, feedback=False).fit(x[:600])
    result = d.detect(x[600:])
    fitted = fit_sarimax(x[300:600], d.order_)
    theirs = fitted.apply(x).predict(start=600, end=len(x) - 1)
    np.testing.assert_allclose(result.expected, theirs, rtol=1e-9, atol=1e-9)
    assert d.recursion_.sigma == pytest.approx(np.sqrt(fitted.params[-1]))


def test_arima_order_is_the_lowest_aic():
    x = arma_series(400)
    d = ARIMA(max_p=1, max_q=1, fit_points=200).fit(x)
    aics = {(p, q): fit_sarimax(x[-200:], (p, d.order_[1], q)).aic for p in (0, 1) for q in (0, 1)}
    assert d.order_[::2] == min(aics, key=aics.get)


def test_sarima_forecasts_are_statsmodels_own_and_long_periods_are_refused():
    """The recursion is the steady state of SARIMAX's Kalman filter; a seasonal MA converges once
    per cycle, so after 58 cycles the two agree to about 1e-4 of the noise, not to rounding."""
    s = 8
    e = rng.normal(size=60 * s)
    x = 50 + 5 * np.sin(2 * np.pi * np.arange(len(e)) / s)
    for t in range(s, len(e)):
        x[t] = x[t - s] + e[t] - 0.4 * e[t - s]
    d = SARIMA(period=s, max_p=0, max_q=0, cycles=20, feedback=False).fit(x[: 58 * s])
    r = d.detect(x[58 * s :])
    fitted = fit_sarimax(x[38 * s : 58 * s], d.order_, d.seasonal_order_)
    theirs = fitted.apply(x).predict(start=58 * s, end=60 * s - 1)
    np.testing.assert_allclose(r.expected, theirs, atol=1e-3)
    with pytest.raises(UnmodelledSeries, match="stl-arima"):
        SARIMA(period=200).fit(np.arange(2000.0))


def test_stl_arima_matches_stlforecast():
    from statsmodels.tsa.forecasting.stl import STLForecast
    from statsmodels.tsa.statespace.sarimax import SARIMAX

    from detectors.forecasters.stl import stl_jumps

    x = daily_series(25, seed=4) + np.cumsum(rng.normal(0, 0.1, 25 * PERIOD))
    n = 20 * PERIOD
    d = STLARIMA(period=PERIOD, cycles=20, fit_points=n, max_p=1, max_q=1, feedback=False).fit(x[:n])
    ours = d.detect(x[n : n + 1]).expected[0]
    trend = "c" if d.order_[1] == 0 else "n"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        jumps = stl_jumps(x[:n], PERIOD)
        assert jumps == {"seasonal_jump": 1, "trend_jump": 5, "low_pass_jump": 3}  # windows 7, 47, 25
        model = STLForecast(
            x[:n], SARIMAX, model_kwargs=dict(order=d.order_, trend=trend), period=PERIOD, robust=True, **jumps
        )
        theirs = model.fit(fit_kwargs=dict(disp=False, maxiter=50)).forecast(1)[0]
    assert ours == pytest.approx(theirs, rel=1e-6)


def test_sma_by_hand():
    x = daily_series(6, seed=5)
    d = SMA(period=PERIOD, r=3, alpha=0.25, c=2, o=1).fit(x[: 5 * PERIOD])
    r = d.detect(x[5 * PERIOD : 5 * PERIOD + 1])
    t = 5 * PERIOD
    recent = x[t - 3 : t].mean()
    seasonal = np.mean([x[t - k * PERIOD + o] for k in (1, 2) for o in (-1, 0, 1)])
    assert r.expected[0] == pytest.approx(0.25 * recent + 0.75 * seasonal, rel=1e-12)


def test_truncated_normal_band_edges_are_truncnorm_ppf():
    mu, sd = np.array([1.0, 5.0, 0.2]), np.array([1.0, 0.5, 2.0])
    lower, upper = bands.interval(mu, sd, 0.99, non_negative=True)
    a = -mu / sd
    np.testing.assert_allclose(lower, stats.truncnorm.ppf(0.005, a, np.inf, loc=mu, scale=sd))
    np.testing.assert_allclose(upper, stats.truncnorm.ppf(0.995, a, np.inf, loc=mu, scale=sd))
    assert (lower >= 0).all()
    lo, hi = bands.interval(mu, sd, 0.95, non_negative=False)
    np.testing.assert_allclose(hi - mu, 1.959963984540054 * sd)


def test_score_is_the_level_at_the_band_edge():
    mu, sd = np.array([10.0, 0.5]), np.array([2.0, 1.0])
    for level in (0.9, 0.99, 0.999):
        lower, upper = bands.band(mu, sd, level, non_negative=True, jitter=0.0)
        score = bands.nines(upper, mu, sd, non_negative=True, jitter=0.0)
        np.testing.assert_allclose(score, -np.log10(1 - level), rtol=1e-6)
    assert bands.severity(np.array([0.0, 1.5, 2.5, 3.5]), (0.95, 0.99, 0.999)).tolist() == [0, 1, 2, 3]


def test_jitter_and_relative_floor_widen_tight_bands():
    mu, sd = np.array([100.0]), np.array([0.01])
    floored = bands.effective_std(mu, sd, 0.05)
    assert floored[0] == 5.0
    lower, upper = bands.band(mu, floored, 0.99, non_negative=True, jitter=0.2)
    assert (lower[0], upper[0]) == (80.0, 120.0)
    assert bands.nines(np.array([119.0]), mu, floored, True, 0.2)[0] == 0.0
    assert bands.nines(np.array([121.0]), mu, floored, True, 0.2)[0] > 2


def test_smape_by_hand():
    assert bands.smape([100, 0, 50], [110, 0, 25]) == pytest.approx(100 / 3 * (20 / 210 + 0 + 50 / 75))
    with pytest.raises(DetectorError):
        bands.smape([], [])


def test_feedback_replaces_an_alarm_by_its_forecast():
    x = daily_series(8, seed=6)
    t = 7 * PERIOD
    spiked = x.copy()
    spiked[t] += 50
    with_fb = SMA(period=PERIOD).fit(spiked[:t])
    r = with_fb.detect(spiked[t : t + 3])
    assert r.alarm[0]
    clean = x.copy()
    clean[t] = r.expected[0]
    reference = SMA(period=PERIOD).fit(clean[:t]).detect(clean[t : t + 3])
    np.testing.assert_allclose(r.expected[1:], reference.expected[1:])
    without = SMA(period=PERIOD, feedback=False).fit(spiked[:t]).detect(spiked[t : t + 3])
    assert without.expected[1] > r.expected[1]


def test_residual_std():
    e = rng.normal(0, 2, 1000)
    assert residual_std(np.r_[e, np.nan]) == pytest.approx(e.std(ddof=1))


def test_auto_prefers_sma_when_it_forecasts_well_and_reports_smape():
    x = daily_series(20, seed=8)
    small = {
        "arima": dict(max_p=1, max_q=0, fit_points=100),
        "xgboost": dict(n_estimators=5, fit_points=200, lags=4, cycles=2),
    }
    d = AutoSelect(period=PERIOD, candidate_params=small, alternatives=("arima",)).fit(x)
    assert d.chosen_ == "sma" and d.smape_["sma"] < 50
    noisy = rng.lognormal(0, 2, 20 * PERIOD)
    d = AutoSelect(period=PERIOD, threshold=1.0, candidate_params=small, alternatives=("arima",)).fit(noisy)
    assert d.chosen_ == "spot" and d.smape_["sma"] >= 1.0
    with pytest.raises(UnmodelledSeries, match="no candidate"):
        AutoSelect(period=PERIOD, threshold=1.0, fallback=None, alternatives=("arima",), candidate_params=small).fit(
            noisy
        )


def test_forecaster_parameter_errors():
    with pytest.raises(DetectorError, match="level"):
        SMA(level=1.5).validate()
    with pytest.raises(DetectorError, match="side"):
        ARIMA(side="up").validate()
    with pytest.raises(DetectorError, match="criterion"):
        ARIMA(criterion="hqc").validate()
    with pytest.raises(DetectorError, match="candidate"):
        AutoSelect(first="prophet").validate()


def test_xgboost_forecast_is_the_previous_value_plus_the_boosters_prediction_on_hand_made_features():
    xgboost = pytest.importorskip("xgboost")
    from detectors.forecasters.xgb import XGBoostForecaster

    x = daily_series(12, seed=9)
    n, lags, cycles = 10 * PERIOD, 4, 2
    d = XGBoostForecaster(period=PERIOD, lags=lags, cycles=cycles, n_estimators=20, fit_points=150, feedback=False)
    d.fit(x[:n])
    r = d.detect(x[n : n + 3])
    rows = []
    for t in range(n, n + 3):
        base = x[t - 1]
        lagged = [x[t - j] - base for j in range(2, lags + 1)]
        same = [x[t - k * PERIOD] - base for k in range(1, cycles + 1)]
        rows.append(
            [
                *lagged,
                np.std([*lagged, 0.0]),
                *same,
                np.mean(same),
                x[t - PERIOD : t].mean() - base,
                (t % PERIOD) / PERIOD,
                (t // PERIOD) % 7,
            ]
        )
    booster = d.booster_
    assert isinstance(booster, xgboost.Booster) and booster.num_boosted_rounds() <= 20
    theirs = x[n - 1 : n + 2] + booster.predict(xgboost.DMatrix(np.array(rows)))
    np.testing.assert_allclose(r.expected, theirs, rtol=1e-6)
    config = json.loads(booster.save_config())["learner"]["gradient_booster"]["tree_train_param"]
    assert float(config["reg_lambda"]) == 10.0 and int(config["max_depth"]) == 5
