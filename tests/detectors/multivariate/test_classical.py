"""PCA T^2 + Q, Isolation Forest and per-variable FluxEV against independent computations."""

import json

import numpy as np
import pandas as pd
import pytest
from multivariate_helpers import correlated
from scipy import stats

from core.detector import DetectorError
from detectors import make_detector
from detectors.multivariate import PCADetector
from detectors.multivariate.pca import q_limit, t2_limit
from fluxev import FluxEV


def test_t2_limit_by_hand():
    # F(0.95; 2, 18) = 3.5546 (tables); limit = k (n-1)(n+1) / (n (n-k)) F = 2*19*21/(20*18) F
    assert t2_limit(2, 20, 0.95) == pytest.approx(2 * 19 * 21 / (20 * 18) * 3.5546, rel=1e-4)


def test_q_limit_matches_chi_square_for_equal_residual_eigenvalues():
    # with m equal residual eigenvalues lambda, Q / lambda is chi-square with m degrees of freedom
    for m, p in ((5, 0.99), (10, 0.999)):
        assert q_limit(np.full(m, 2.0), p) == pytest.approx(2.0 * stats.chi2.ppf(p, m), rel=0.03)


def test_t2_without_pca_is_the_mahalanobis_distance():
    train, test = correlated(200), correlated(30, seed=7)
    detector = PCADetector(statistic="t2").fit(train)
    z_train = (train - train.mean()) / train.std()
    z_test = ((test - train.mean()) / train.std()).to_numpy()
    inverse = np.linalg.inv(np.cov(z_train.to_numpy(), rowvar=False))
    expected = np.einsum("ij,jk,ik->i", z_test, inverse, z_test)
    assert np.allclose(detector.detect(test).score * detector.t2_limit_, expected)


def test_q_is_the_residual_of_scikit_learn_pca():
    decomposition = pytest.importorskip("sklearn.decomposition")
    train, test = correlated(200), correlated(30, seed=7)
    detector = PCADetector(statistic="q", explained_variance=0.9).fit(train)
    assert detector.n_components_ == 1
    z_train = ((train - train.mean()) / train.std()).to_numpy()
    z_test = ((test - train.mean()) / train.std()).to_numpy()
    model = decomposition.PCA(n_components=1).fit(z_train)
    residual = z_test - model.inverse_transform(model.transform(z_test))
    assert np.allclose(detector.detect(test).score * detector.q_limit_, (residual**2).sum(axis=1))


def test_a_broken_correlation_raises_q_and_names_the_variable():
    train, test = correlated(300), correlated(80, seed=2)
    test.iloc[40:, 2] = -test.iloc[40:, 2]
    result = PCADetector().fit(train).detect(test)
    assert result.alarm[40:].mean() > 0.9 and result.alarm[:40].mean() < 0.1
    contributions = result.contribution_frame()
    assert np.allclose(contributions.sum(axis=1), 1.0)
    assert (contributions.iloc[40:].idxmax(axis=1) == "c").mean() > 0.8


def test_smoothing_is_a_running_median_of_the_statistics():
    train, test = correlated(200), correlated(30, seed=4, start="2024-02-01")
    raw = PCADetector(statistic="q").fit(train)
    q = raw.detect(pd.concat([train.iloc[-2:], test])).score
    smoothed = PCADetector(statistic="q", smooth=3).fit(train).detect(test).score
    assert np.allclose(smoothed, pd.Series(q).rolling(3).median().to_numpy()[2:])


@pytest.mark.parametrize("name", ["pca", "iforest", "fluxev-combined"])
def test_state_round_trip_continues_exactly(name):
    train, test = correlated(200), correlated(60, seed=9)
    params = {"smoothing": 1} if name == "fluxev-combined" else {}
    original = make_detector(name, **params).fit(train)
    state = json.loads(json.dumps(original.state_dict()))
    restored = type(original).from_state(state)
    first, second = original.detect(test), restored.detect(test)
    assert np.allclose(first.score, second.score) and first.alarm.tolist() == second.alarm.tolist()
    assert np.allclose(first.contributions, second.contributions)
    with pytest.raises(DetectorError, match="state: not a"):
        type(original).from_state({"params": {}})


def test_isolation_forest_thresholds_come_from_training():
    train, test = correlated(200), correlated(50, seed=3)
    auto = make_detector("iforest").fit(train)
    assert auto.threshold_ == 0.5
    share = make_detector("iforest", contamination=0.1).fit(train)
    train_scores = -share.forest_.score_samples(train.to_numpy())
    assert share.threshold_ == pytest.approx(np.quantile(train_scores, 0.9))
    again = make_detector("iforest", contamination=0.1).fit(train)
    assert np.array_equal(share.detect(test).score, again.detect(test).score)
    with pytest.raises(DetectorError, match="contamination: must be 'auto' or a number in"):
        make_detector("iforest", contamination=0.9)


def test_fluxev_combined_is_the_largest_per_variable_ratio():
    train, test = correlated(200), correlated(80, seed=6)
    test.iloc[50, 0] += 6.0
    combined = make_detector("fluxev-combined", smoothing=1, s=5).fit(train).detect(test)
    ratios, alarms = [], []
    for column in train.columns:
        single = FluxEV(smoothing=1, s=5).fit(train[column].to_numpy())
        r = single.detect(test[column].to_numpy())
        ratios.append(np.where(np.isfinite(r.threshold), r.score / r.threshold, 0.0))
        alarms.append(r.alarm)
    assert combined.alarm.tolist() == np.any(alarms, axis=0).tolist()
    assert combined.alarm[50] and combined.contribution_frame().iloc[50].idxmax() == "a"
    quiet = ~combined.alarm
    assert np.allclose(combined.score[quiet], np.max(ratios, axis=0)[quiet])


def test_a_repeated_eigenvalue_is_kept_or_left_out_whole():
    # six variables that moved in training and six that did not: with ridge=1 and no scaling the
    # six constant ones share the eigenvalue 1, and 85 % of the variance ends inside that group;
    # a subspace cut through it would depend on which basis of it eigh returns
    rng = np.random.default_rng(3)
    moving = rng.normal(0, 1, (200, 6)) * [3, 1, 0.7, 0.5, 0.4, 0.3]
    x = np.hstack([moving, np.zeros((200, 6))])
    test = np.hstack([moving[:20], rng.normal(0, 2, (20, 6))])
    scores = []
    for order in (np.arange(12), np.r_[0:6, 11, 6, 10, 7, 9, 8]):
        model = PCADetector(scale=False, ridge=1.0).fit(pd.DataFrame(x[:, order]))
        lam = np.sort(model.eigenvalues_)[::-1]
        k = model.n_components_
        assert k == len(lam) or lam[k - 1] - lam[k] > 1e-6, "the principal subspace ends between distinct eigenvalues"
        scores.append(model.detect(pd.DataFrame(test[:, order])).score)
    np.testing.assert_allclose(scores[0], scores[1], rtol=1e-9)


def test_whole_eigenspaces_keeps_or_leaves_out_a_tie():
    from detectors.multivariate.pca import whole_eigenspaces

    lam = np.array([5.0, 2.0, 1.0, 1.0, 1.0, 0.5])
    assert whole_eigenspaces(lam, 1) == 1 and whole_eigenspaces(lam, 2) == 2  # no tie cut
    assert whole_eigenspaces(lam, 3) == 5 and whole_eigenspaces(lam, 4) == 5  # grown over the tie
    assert whole_eigenspaces(lam, 3, limit=5) == 2  # 5 components would need more rows: left out
    assert whole_eigenspaces(np.ones(4), 2, limit=3) == 4  # a tie that starts the spectrum stays whole
