"""MTAD-GAT and Anomaly Transformer: the paper's building blocks, determinism, checkpoints (tiny models)."""

import io
import subprocess
import sys

import numpy as np
import pytest
from multivariate_helpers import correlated

from core.detector import DetectorError, UnmodelledSeries
from detectors import make_detector

torch = pytest.importorskip("torch")
torch.set_num_threads(1)  # tiny models: threads only add contention on a shared machine

from detectors.multivariate.anomaly_transformer import (  # noqa: E402
    AnomalyTransformerNetwork,
    association_discrepancy,
    kl_rows,
    minimax_losses,
    prior_association,
)

TINY_GAT = dict(sliding_window=28, hidden=8, latent=4, epochs=2, batch_size=32, progress=False, threshold="quantile")
TINY_AT = dict(
    sliding_window=28,
    d_model=8,
    n_heads=2,
    n_layers=1,
    d_ff=8,
    epochs=2,
    batch_size=32,
    progress=False,
    threshold="quantile",
)


def test_prior_rows_sum_to_one_and_peak_on_the_diagonal():
    sigma = torch.rand(2, 3, 20) * 5 + 0.1
    prior = prior_association(sigma, 20)
    assert prior.shape == (2, 3, 20, 20)
    assert torch.allclose(prior.sum(dim=-1), torch.ones(2, 3, 20))
    assert torch.equal(prior.argmax(dim=-1), torch.arange(20).expand(2, 3, 20))


def test_discrepancy_is_zero_when_prior_equals_series_and_positive_otherwise():
    s = torch.softmax(torch.randn(2, 3, 10, 10), dim=-1)
    assert torch.allclose(association_discrepancy([s, s], [s, s]), torch.zeros(2, 10), atol=1e-6)
    other = torch.softmax(torch.randn(2, 3, 10, 10), dim=-1)
    assert (association_discrepancy([s], [other]) > 0).all()
    # symmetric KL by hand for one row
    p, q = torch.tensor([0.5, 0.5]), torch.tensor([0.9, 0.1])
    by_hand = 0.5 * np.log(0.5 / 0.9) + 0.5 * np.log(0.5 / 0.1) + 0.9 * np.log(0.9 / 0.5) + 0.1 * np.log(0.1 / 0.5)
    assert float(kl_rows(p, q) + kl_rows(q, p)) == pytest.approx(by_hand, abs=1e-3)


def _grads(model):
    attention = model.layers[0].attention
    return {
        "sigma": attention.sigma.weight.grad,
        "query": attention.query.weight.grad,
        "key": attention.key.weight.grad,
    }


def _norm(g):
    return 0.0 if g is None else float(g.abs().sum())


def test_minimax_stop_gradients():
    torch.manual_seed(0)
    model = AnomalyTransformerNetwork(3, 12, d_model=8, n_heads=2, n_layers=1, d_ff=8, dropout=0.0)
    x = torch.randn(4, 12, 3)
    _, priors, series = model(x)
    # maximise phase: the prior is held fixed, so the discrepancy term reaches no sigma parameter
    association_discrepancy([p.detach() for p in priors], series).mean().backward()
    g = _grads(model)
    assert _norm(g["sigma"]) == 0.0 and _norm(g["query"]) > 0 and _norm(g["key"]) > 0
    model.zero_grad()
    _, priors, series = model(x)
    # minimise phase: the series association is held fixed, so only sigma learns from the term
    association_discrepancy(priors, [s.detach() for s in series]).mean().backward()
    g = _grads(model)
    assert _norm(g["sigma"]) > 0 and _norm(g["query"]) == 0.0 and _norm(g["key"]) == 0.0
    model.zero_grad()
    maximise, minimise = minimax_losses(model, x, lam=3.0)
    assert float(maximise.detach()) < float(minimise.detach())


def _train_and_score(name, params, seed):
    train, test = correlated(70), correlated(20, seed=1, start="2024-02-01")
    detector = make_detector(name, **params, seed=seed).fit(train)
    return detector, detector.detect(test)


@pytest.mark.parametrize(("name", "params"), [("mtad-gat", TINY_GAT), ("anomaly-transformer", TINY_AT)])
def test_same_seed_same_scores_and_contributions_sum_to_one(name, params):
    detector, first = _train_and_score(name, params, seed=3)
    _, again = _train_and_score(name, params, seed=3)
    _, other = _train_and_score(name, params, seed=4)
    assert np.array_equal(first.score, again.score)
    assert not np.array_equal(first.score, other.score)
    assert len(first.score) == 20 and np.isfinite(first.score).all()
    assert np.allclose(first.contributions.sum(axis=1), 1.0)
    assert np.allclose(first.score, (first.contributions * first.score[:, None]).sum(axis=1))
    d = detector.diagnostics_
    assert set(d) == {"epochIds", "trainLosses", "validationLosses", "latenciesInSeconds"}
    assert d["epochIds"] == [1, 2]


@pytest.mark.parametrize(("name", "params"), [("mtad-gat", TINY_GAT), ("anomaly-transformer", TINY_AT)])
def test_save_and_load_round_trip(name, params):
    detector, _ = _train_and_score(name, params, seed=0)
    test = correlated(20, seed=2, start="2024-03-01")
    buffer = io.BytesIO()
    torch.save(detector.state_dict(), buffer)
    buffer.seek(0)
    restored = type(detector).from_state(torch.load(buffer))
    first, second = detector.detect(test), restored.detect(test)
    assert np.allclose(first.score, second.score) and np.array_equal(first.alarm, second.alarm)
    streamed = [restored.update(row) for row in correlated(5, seed=8).to_numpy()]
    batch = detector.detect(correlated(5, seed=8, start="2024-04-01"))
    assert np.allclose([p.score for p in streamed], batch.score, rtol=1e-5)


def test_window_rules_are_mvad_rules():
    with pytest.raises(DetectorError, match="sliding_window: must be an integer between 28 and 2880"):
        make_detector("mtad-gat", sliding_window=27)
    with pytest.raises(DetectorError, match="sliding_window: must be an integer between 28 and 2880"):
        make_detector("anomaly-transformer", sliding_window=3000)
    with pytest.raises(UnmodelledSeries, match=r"needs at least 38 \(a window of 29 rows"):
        make_detector("mtad-gat", **TINY_GAT).fit(correlated(30))
    with pytest.raises(DetectorError, match="d_model: must be even and divisible by n_heads"):
        make_detector("anomaly-transformer", d_model=10, n_heads=4)


def test_importing_the_framework_does_not_import_torch():
    code = "import sys, rca, detectors; detectors.make_detector('pca'); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
