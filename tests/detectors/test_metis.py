import itertools
import math

import numpy as np
import pandas as pd
import pytest

from core.detector import DetectorError
from detectors.metis import (
    extract_features,
    feature_names,
    first_level,
    metis_series,
    rate_predict,
    rows_from_series,
    value_predict,
)
from detectors.metis.features import statistical
from detectors.metis.first_level import ewma_chart, polynomial_deviation, ridge_hat_row, sigma_deviation

rng = np.random.default_rng(5)


def windows(w=180, level=100.0, last=None):
    c = level + rng.normal(0, 1, 2 * w + 1)
    b = level + rng.normal(0, 1, 2 * w + 1)
    a = level + rng.normal(0, 1, w + 1)
    if last is not None:
        a[-1] = last
    return a, b, c


def test_windows_accept_text_floats_and_any_window():
    a, b, c = windows(36)
    row, w = metis_series(",".join(map(str, a)), list(b), c)
    assert w == 36 and len(row) == 5 * 36 + 3
    np.testing.assert_array_equal(row[-37:], a)


@pytest.mark.parametrize(
    "args, message",
    [
        (("", "1", "1"), "dataA can not be empty"),
        (("1,x", "1", "1"), "dataA contains illegal numbers"),
        (("1,2", "1,2,3", "1,2"), "dataC length does not match"),
        (("1,2", "1,2", "1,2,3"), "dataB length does not match"),
        (("1,nan", "1,2,3", "1,2,3"), "illegal numbers"),
    ],
)
def test_window_errors(args, message):
    with pytest.raises(DetectorError, match=message):
        metis_series(*args)


def test_three_sigma_and_ewma_by_hand():
    a, b, c = windows(20, last=150.0)
    row = np.concatenate((c, b, a))
    rest = row[:-1]
    assert sigma_deviation(row[None, :])[0] == pytest.approx((row[-1] - rest.mean()) / rest.std())
    s = [row[0]]
    for v in row[1:]:
        s.append(0.3 * v + 0.7 * s[-1])
    s = np.array(s)
    fires = abs(s[-1] - s.mean()) > 3 * row.std() * math.sqrt(0.3 / 1.7)
    assert ewma_chart(row[None, :])[0] == fires
    assert first_level(row[None, :])[0]


def test_polynomial_fit_is_scikit_learns_ridge():
    sklearn = pytest.importorskip("sklearn")
    from sklearn.linear_model import Ridge
    from sklearn.preprocessing import PolynomialFeatures

    assert sklearn
    w = 30
    a, b, c = windows(w, level=50.0, last=58.0)
    row = np.concatenate((c, b, a))
    t = np.concatenate((np.arange(2 * w + 1), np.arange(2 * w + 1), np.arange(w + 1))).astype(float)[:, None]
    y = row / a.mean()
    features = PolynomialFeatures(4, include_bias=False).fit_transform(t)
    fit = Ridge(alpha=1.0, solver="svd").fit(features, y).predict(features[-1:])[0]
    assert (ridge_hat_row(w) @ y) == pytest.approx(fit, rel=1e-7)
    assert polynomial_deviation(row[None, :])[0] == pytest.approx(abs(y[-1] - fit), rel=1e-5)


def test_constant_windows_never_fire():
    row = np.full((1, 5 * 10 + 3), 0.1)
    assert not first_level(row)[0]


def test_statistical_features_match_pandas_and_hand():
    x = np.round(rng.normal(0, 1, (4, 50)), 1)
    f = statistical(x)
    names = list(feature_names()[:30])
    s = pd.Series(x[0])
    col = {n.removeprefix("stat_"): f[0, i] for i, n in enumerate(names)}
    assert col["skewness"] == pytest.approx(s.skew())
    assert col["kurtosis"] == pytest.approx(s.kurt())
    assert col["median"] == pytest.approx(s.median())
    counts = s.value_counts()
    assert col["ratio_value_number_to_time_series_length"] == pytest.approx(len(counts) / 50)
    assert col["sum_of_reoccurring_values"] == pytest.approx(counts[counts > 1].index.to_numpy().sum())
    assert col["sum_of_reoccurring_data_points"] == pytest.approx(s[s.map(counts) > 1].sum())
    above = (x[0] > x[0].mean()).astype(int)
    runs = max(len(r) for r in "".join(map(str, above)).split("0"))
    assert col["longest_strike_above_mean"] == runs
    assert col["last_location_of_maximum"] == pytest.approx(1 - np.argmax(x[0][::-1]) / 50)


def test_features_for_any_window():
    assert len(feature_names()) == 307 == len(set(feature_names()))
    for w in (6, 36, 180):
        f = extract_features(rng.normal(10, 1, (3, 5 * w + 3)))
        assert f.shape == (3, 307) and np.isfinite(f).all()


def test_value_predict_returns_a_probability_and_flags_a_spike():
    a, b, c = windows(180)
    ret, p = value_predict(a, b, c)
    assert ret == 1 and 0 <= p <= 1 and isinstance(p, float)
    a2, b2, c2 = windows(180, last=400.0)
    ret2, p2 = value_predict(",".join(f"{v:.3f}" for v in a2), b2, c2)
    assert ret2 == 0 and p2 < 0.15


def test_value_predict_no_anomaly_just_for_a_non_positive_mean():
    a, b, c = windows(60, level=-5.0)
    ret, p = value_predict(a, b, c)
    assert ret == 1 and p > 0.15


def test_rate_predict_p_is_the_normal_tail():
    a, b, c = windows(180, level=99.0, last=90.0)
    row = np.concatenate((c, b, a))
    z = abs(row[-1] - row[:-1].mean()) / row[:-1].std()
    ret, p = rate_predict(a, b, c)
    assert ret == 0 and p == pytest.approx(math.erfc(z / math.sqrt(2)))


def test_rows_from_series_cut_yesterday_and_last_week():
    x = np.arange(1000.0)
    rows = rows_from_series(x, np.array([900]), window=5, period=100)
    np.testing.assert_array_equal(rows[0, :11], np.arange(195, 206))
    np.testing.assert_array_equal(rows[0, 11:22], np.arange(795, 806))
    np.testing.assert_array_equal(rows[0, 22:], np.arange(895, 901))


def _tsfresh_reference(x: np.ndarray) -> dict[str, float]:
    """tsfresh's feature calculators (``tsfresh.feature_extraction.feature_calculators``, v0.20)
    written out for one series, the slow way, from their documented definitions."""
    s = pd.Series(x)
    n = len(x)
    counts = s.value_counts()

    def strike(mask):
        best = run = 0
        for m in mask:
            run = run + 1 if m else 0
            best = max(best, run)
        return best

    return {
        "maximum": max(x),
        "minimum": min(x),
        "mean": s.mean(),
        "variance": float(np.var(x)),
        "standard_deviation": float(np.std(x)),
        "skewness": s.skew(),
        "kurtosis": s.kurtosis(),
        "median": s.median(),
        "abs_energy": sum(v * v for v in x),
        "absolute_sum_of_changes": sum(abs(b - a) for a, b in itertools.pairwise(x)),
        "variance_larger_than_standard_deviation": float(np.var(x) > np.std(x)),
        "count_above_mean": sum(v > s.mean() for v in x),
        "count_below_mean": sum(v < s.mean() for v in x),
        "first_location_of_maximum": list(x).index(max(x)) / n,
        "first_location_of_minimum": list(x).index(min(x)) / n,
        "last_location_of_maximum": 1.0 - list(x[::-1]).index(max(x)) / n,
        "last_location_of_minimum": 1.0 - list(x[::-1]).index(min(x)) / n,
        "has_duplicate": float(len(set(x)) != n),
        "has_duplicate_max": float(list(x).count(max(x)) >= 2),
        "has_duplicate_min": float(list(x).count(min(x)) >= 2),
        "longest_strike_above_mean": strike(x > s.mean()),
        "longest_strike_below_mean": strike(x < s.mean()),
        "mean_abs_change": np.mean([abs(b - a) for a, b in itertools.pairwise(x)]),
        "mean_change": (x[-1] - x[0]) / (n - 1),
        "percentage_of_reoccurring_datapoints_to_all_datapoints": counts[counts > 1].sum() / n,
        "ratio_value_number_to_time_series_length": len(counts) / n,
        "sum_of_reoccurring_data_points": sum(v * c for v, c in counts.items() if c > 1),
        "sum_of_reoccurring_values": sum(v for v, c in counts.items() if c > 1),
        "sum_values": s.sum(),
        "range": max(x) - min(x),
    }


@pytest.mark.parametrize("kind", ["rounded", "distinct", "ties at the extremes", "large"])
def test_every_statistical_feature_is_tsfreshs_definition(kind):
    x = {
        "rounded": np.round(rng.normal(0, 1, 40), 1),
        "distinct": rng.normal(5, 2, 37),
        "ties at the extremes": np.array([3.0, 1.0, 3.0, 2.0, 1.0, 2.5, 3.0, 1.0, 0.5, 0.5, 3.0]),
        "large": rng.normal(0, 3, 60).round(0),
    }[kind]
    ours = statistical(x[None, :])[0]
    expected = _tsfresh_reference(x)
    names = [n.removeprefix("stat_") for n in feature_names()[:30]]
    assert set(names) == set(expected)
    for i, name in enumerate(names):
        assert ours[i] == pytest.approx(expected[name], rel=1e-9, abs=1e-12), name
