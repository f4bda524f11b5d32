"""Anomaly Transformer (Xu, Wu, Wang, Long: "Anomaly Transformer: Time Series Anomaly Detection
with Association Discrepancy", ICLR 2022) on PyTorch (CPU).

Embedding: a circular 1-D convolution (kernel 3) of the variables to ``d_model`` plus the
sinusoidal position encoding. Then ``n_layers`` encoder layers, each an **anomaly-attention**
(residual, LayerNorm, a two-layer 1-D convolution feed-forward of ``d_ff`` with GELU, LayerNorm)
and a final LayerNorm and linear read-out that reconstructs the window. Per layer l and head:

- series association S = softmax(Q K^T / sqrt(d_head)) over the window;
- prior association P_ij = Rescale(exp(-|j-i|^2 / (2 sigma_i^2)) / (sqrt(2 pi) sigma_i)), each
  row scaled to sum 1, with a learned sigma per point (a linear map of the layer input,
  sigma = 3^(sigmoid(5 s) + 1e-5) - 1 as in the authors' code);
- AssDis(P, S; X) = mean over layers and heads of KL(P_i || S_i) + KL(S_i || P_i) per point.

**Minimax** training with stop-gradients: the maximise phase pushes the series association
away from the prior, which is held fixed (L = ||X - X̂||^2 - lambda ||AssDis(P.detach(), S)||),
the minimise phase pulls the prior towards the series association, held fixed
(L = ||X - X̂||^2 + lambda ||AssDis(P, S.detach())||); both are back-propagated each step.
**Score** of a point: softmax over the window of -AssDis / ``temperature`` times its
reconstruction error (the paper's Eq. 6 is ``temperature=1``; the authors' code multiplies
AssDis by 50, i.e. ``temperature=0.02``, which makes the softmax nearly one-hot, so that most
points of a window score 0); here each point is scored by the window that
ends at it (its last position), so scoring streams. Per-variable terms are the softmax weight
times the squared error of each variable / k; they sum to the score, and their shares are the
contributions.

Paper defaults (``AnomalyTransformer()``): window 100, 3 layers, d_model 512, 8 heads, d_ff
512, lambda 3, lr 1e-4, 10 epochs, batch 256. :data:`SMALL_CPU` is the configuration used on
CPU in the benchmarks. Differences from the authors' code: the threshold is set from training
scores only (theirs takes a percentile of training *and test* scores together, and early
stopping there watches the test set); we report point-wise metrics beside point-adjusted ones
(their code reports point-adjusted F1 only); the learning rate is not halved each epoch.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from core.detector import DetectorError
from detectors.multivariate.base import is_int, is_real
from detectors.multivariate.deep import WindowModelDetector

SMALL_CPU = dict(sliding_window=50, d_model=64, n_heads=4, n_layers=2, d_ff=64, epochs=10, batch_size=64, lr=1e-3)
"""A small configuration that trains in seconds per thousand rows on one CPU core."""

EPS = 1e-4


def prior_association(sigma: torch.Tensor, window: int) -> torch.Tensor:
    """Row-normalised Gaussian kernel over |j - i| with one sigma per row; sigma (..., L) ->
    (..., L, L), each row summing to 1."""
    distance = torch.arange(window, dtype=sigma.dtype)
    distance = (distance[None, :] - distance[:, None]).abs()
    s = sigma.unsqueeze(-1)
    gauss = torch.exp(-(distance**2) / (2 * s**2)) / (math.sqrt(2 * math.pi) * s)
    return gauss / gauss.sum(dim=-1, keepdim=True)


def kl_rows(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """KL(p_i || q_i) of every row (last axis); small values keep the logarithms finite."""
    return torch.sum(p * (torch.log(p + EPS) - torch.log(q + EPS)), dim=-1)


def association_discrepancy(priors: list[torch.Tensor], series: list[torch.Tensor]) -> torch.Tensor:
    """AssDis per point (batch, L): mean over layers and heads of the symmetric KL."""
    per_layer = [(kl_rows(p, s) + kl_rows(s, p)).mean(dim=1) for p, s in zip(priors, series)]
    return torch.stack(per_layer).mean(dim=0)


class AnomalyAttention(nn.Module):
    """One anomaly-attention: returns (output, prior P, series S), P and S (batch, heads, L, L)."""

    def __init__(self, d_model: int, n_heads: int, window: int):
        super().__init__()
        self.n_heads = n_heads
        self.query = nn.Linear(d_model, d_model)
        self.key = nn.Linear(d_model, d_model)
        self.value = nn.Linear(d_model, d_model)
        self.sigma = nn.Linear(d_model, n_heads)
        self.out = nn.Linear(d_model, d_model)
        self.window = window

    def forward(self, x: torch.Tensor):
        b, length, d = x.shape
        h = self.n_heads

        def heads(t: torch.Tensor) -> torch.Tensor:
            return t.view(b, length, h, d // h).transpose(1, 2)

        q, k, v = heads(self.query(x)), heads(self.key(x)), heads(self.value(x))
        series = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d // h), dim=-1)
        sigma = torch.sigmoid(5 * self.sigma(x).transpose(1, 2)) + 1e-5
        prior = prior_association(torch.pow(3.0, sigma) - 1, length)
        z = (series @ v).transpose(1, 2).reshape(b, length, d)
        return self.out(z), prior, series


class EncoderLayer(nn.Module):
    def __init__(self, d_model: int, n_heads: int, d_ff: int, window: int, dropout: float):
        super().__init__()
        self.attention = AnomalyAttention(d_model, n_heads, window)
        self.ff1 = nn.Conv1d(d_model, d_ff, 1)
        self.ff2 = nn.Conv1d(d_ff, d_model, 1)
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor):
        z, prior, series = self.attention(x)
        x = self.norm1(x + self.dropout(z))
        y = self.dropout(torch.nn.functional.gelu(self.ff1(x.transpose(1, 2))))
        y = self.dropout(self.ff2(y).transpose(1, 2))
        return self.norm2(x + y), prior, series


class AnomalyTransformerNetwork(nn.Module):
    """Embedding, encoder layers, read-out; ``forward(x)`` -> (reconstruction, priors, series)."""

    def __init__(self, k: int, window: int, d_model: int, n_heads: int, n_layers: int, d_ff: int, dropout: float):
        super().__init__()
        self.token = nn.Conv1d(k, d_model, 3, padding=1, padding_mode="circular", bias=False)
        position = torch.arange(window, dtype=torch.float32).unsqueeze(1)
        rate = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float32) * (-math.log(10000.0) / d_model))
        encoding = torch.zeros(window, d_model)
        encoding[:, 0::2] = torch.sin(position * rate)
        encoding[:, 1::2] = torch.cos(position * rate)[:, : d_model // 2]
        self.position: torch.Tensor
        self.register_buffer("position", encoding, persistent=False)
        self.layers = nn.ModuleList(EncoderLayer(d_model, n_heads, d_ff, window, dropout) for _ in range(n_layers))
        self.norm = nn.LayerNorm(d_model)
        self.read_out = nn.Linear(d_model, k)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor):
        h = self.dropout(self.token(x.transpose(1, 2)).transpose(1, 2) + self.position[: x.shape[1]])
        priors, series = [], []
        for layer in self.layers:
            h, prior, s = layer(h)
            priors.append(prior)
            series.append(s)
        return self.read_out(self.norm(h)), priors, series


def minimax_losses(model: nn.Module, x: torch.Tensor, lam: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(maximise-phase loss, minimise-phase loss) with the stop-gradients of the paper."""
    reconstruction, priors, series = model(x)
    rec = torch.mean((reconstruction - x) ** 2)
    series_term = association_discrepancy([p.detach() for p in priors], series).mean()
    prior_term = association_discrepancy(priors, [s.detach() for s in series]).mean()
    return rec - lam * series_term, rec + lam * prior_term


class AnomalyTransformer(WindowModelDetector):
    """Anomaly Transformer (module docstring); registered as ``"anomaly-transformer"``. The
    training parameters are those of :mod:`detectors.multivariate.deep`."""

    name = "anomaly-transformer"

    def __init__(
        self,
        sliding_window=100,
        d_model=512,
        n_heads=8,
        n_layers=3,
        d_ff=512,
        dropout=0.0,
        lam=3.0,
        temperature=1.0,
        epochs=10,
        batch_size=256,
        lr=1e-4,
        patience=3,
        val_ratio=0.1,
        seed=0,
        threshold="spot",
        quantile=0.98,
        risk=1e-3,
        progress=True,
        corr_window=30,
        align_mode="Outer",
        fill_na_method="Linear",
        padding_value=None,
        max_missing_ratio=0.2,
    ):
        self.sliding_window = sliding_window
        self.d_model = d_model
        self.n_heads = n_heads
        self.n_layers = n_layers
        self.d_ff = d_ff
        self.dropout = dropout
        self.lam = lam
        self.temperature = temperature
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.patience = patience
        self.val_ratio = val_ratio
        self.seed = seed
        self.threshold = threshold
        self.quantile = quantile
        self.risk = risk
        self.progress = progress
        self.corr_window = corr_window
        self.align_mode = align_mode
        self.fill_na_method = fill_na_method
        self.padding_value = padding_value
        self.max_missing_ratio = max_missing_ratio

    def _check_params(self) -> None:
        self._check_training_params()
        for name in ("d_model", "n_heads", "n_layers", "d_ff"):
            value = getattr(self, name)
            if not is_int(value) or value < 1:
                raise DetectorError(f"{name}: must be a positive integer, got {value!r}")
        if self.d_model % self.n_heads or self.d_model % 2:
            raise DetectorError(f"d_model: must be even and divisible by n_heads = {self.n_heads}, got {self.d_model}")
        if not is_real(self.lam) or self.lam < 0:
            raise DetectorError(f"lam: must be a non-negative number, got {self.lam!r}")
        t = self.temperature
        if not is_real(t) or not t > 0:
            raise DetectorError(f"temperature: must be a positive number, got {t!r}")
        if not is_real(self.dropout) or not 0 <= self.dropout < 1:
            raise DetectorError(f"dropout: must be a number in [0, 1), got {self.dropout!r}")

    def _network(self, p: int) -> nn.Module:
        return AnomalyTransformerNetwork(
            p, int(self.sliding_window), self.d_model, self.n_heads, self.n_layers, self.d_ff, self.dropout
        )

    def _step(self, model, batch, optimizer) -> float:
        optimizer.zero_grad()
        maximise, minimise = minimax_losses(model, batch, float(self.lam))
        maximise.backward(retain_graph=True)
        minimise.backward()
        optimizer.step()
        return float(minimise.detach())

    def _validation_loss(self, model, batch):
        reconstruction, _, _ = model(batch)
        return torch.mean((reconstruction - batch) ** 2)

    def _terms(self, model, batch):
        reconstruction, priors, series = model(batch)
        weight = torch.softmax(-association_discrepancy(priors, series) / float(self.temperature), dim=-1)
        error = (reconstruction[:, -1] - batch[:, -1]) ** 2
        return weight[:, -1:] * error / batch.shape[-1]
