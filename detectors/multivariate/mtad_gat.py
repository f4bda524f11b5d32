"""MTAD-GAT (Zhao et al., "Multivariate Time-series Anomaly Detection via Graph Attention
Network", ICDM 2020), the model behind Azure's multivariate anomaly detector, on PyTorch (CPU).

For a window of w rows (k variables) before the point t:

1. a 1-D convolution over time (kernel ``kernel_size``, the paper's 7) with ReLU;
2. **feature-oriented GAT**: the k variables are the nodes, node i's vector v_i is its
   w-long series; e_ij = LeakyReLU(a^T [v_i ; v_j]), alpha_ij = softmax_j(e_ij),
   h_i = sigmoid(sum_j alpha_ij v_j) (the paper's Eq. 2-3, original GAT scoring);
3. **time-oriented GAT**: the same with the w timestamps as nodes and the k values as vectors;
4. a GRU (``hidden``, the paper's 300) over the concatenation [conv; feature-GAT; time-GAT]
   (w x 3k), whose last hidden state h feeds two heads:
5. **forecasting**: 3 fully connected layers (``hidden`` units) predict x_t; loss RMSE;
6. **reconstruction**: a VAE, as in the paper, but with this architecture (the paper does not
   fix its decoder): the encoder maps h to the mean and log-variance of z (``latent``
   dimensions), the decoder is a GRU unrolled over the w steps with z as input and a linear
   read-out, reconstructing the input window; loss = MSE + KL(q(z|h) || N(0, I)) / (w k).

Loss = forecast RMSE + reconstruction loss (the paper's joint objective). Inference score of
point t (the paper's Eq. 9 with a squared reconstruction error in place of 1 - reconstruction
probability, which needs a likelihood we do not calibrate): per variable j,
s_j = ((x̂_tj - x_tj)^2 + gamma (x̃_tj - x_tj)^2) / (1 + gamma), where x̂ is the forecast from
the window before t and x̃ the reconstruction (z = its mean) of t in the window ending at t;
score = sum_j s_j, contributions = s_j / score (they sum to 1). The threshold is SPOT (the
paper's POT) or a quantile of the training scores, fixed after training.

Paper defaults (``MTADGAT()``): kernel 7, GRU and forecast/reconstruction layers 300 units,
dropout 0.3, lr 1e-3; the window defaults to MVAD's ``slidingWindow`` 300 (the paper uses 100).
:data:`SMALL_CPU` is the configuration used on CPU in the benchmarks.
"""

from __future__ import annotations

import torch
from torch import nn

from core.detector import DetectorError
from detectors.multivariate.base import is_int, is_real
from detectors.multivariate.deep import WindowModelDetector

SMALL_CPU = dict(sliding_window=32, hidden=64, latent=16, epochs=30, batch_size=64, patience=5)
"""A small configuration that trains in seconds per thousand rows on one CPU core."""


class GraphAttention(nn.Module):
    """Single-head GAT over the rows of ``v`` (batch, nodes, dim): sigmoid(softmax(e) v)."""

    def __init__(self, dim: int):
        super().__init__()
        self.source = nn.Linear(dim, 1)
        self.target = nn.Linear(dim, 1, bias=False)
        self.leaky = nn.LeakyReLU(0.2)

    def forward(self, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        e = self.leaky(self.source(v) + self.target(v).transpose(1, 2))
        alpha = torch.softmax(e, dim=-1)
        return torch.sigmoid(alpha @ v), alpha


class MTADGATNetwork(nn.Module):
    """The network of the module docstring; ``forward(window)`` -> (forecast, reconstruction,
    mu, logvar) for windows of shape (batch, w, k)."""

    def __init__(self, k: int, window: int, kernel_size: int, hidden: int, latent: int, dropout: float):
        super().__init__()
        self.conv = nn.Conv1d(k, k, kernel_size, padding=kernel_size // 2)
        self.feature_gat = GraphAttention(window)
        self.time_gat = GraphAttention(k)
        self.gru = nn.GRU(3 * k, hidden, batch_first=True)
        self.forecast = nn.Sequential(
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, k),
        )
        self.encode = nn.Linear(hidden, 2 * latent)
        self.decoder = nn.GRU(latent, hidden, batch_first=True)
        self.read_out = nn.Linear(hidden, k)
        self.window = window

    def forward(self, x: torch.Tensor):
        c = torch.relu(self.conv(x.transpose(1, 2)))[:, :, : x.shape[1]]
        h_feature, _ = self.feature_gat(c)
        c = c.transpose(1, 2)
        h_time, _ = self.time_gat(c)
        _, h = self.gru(torch.cat((c, h_feature.transpose(1, 2), h_time), dim=-1))
        h = h[-1]
        forecast = self.forecast(h)
        mu, logvar = self.encode(h).chunk(2, dim=-1)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar) if self.training else mu
        decoded, _ = self.decoder(z.unsqueeze(1).expand(-1, self.window, -1))
        return forecast, self.read_out(decoded), mu, logvar


class MTADGAT(WindowModelDetector):
    """MTAD-GAT (module docstring); registered as ``"mtad-gat"``. The training parameters are
    those of :mod:`detectors.multivariate.deep`."""

    name = "mtad-gat"

    def __init__(
        self,
        sliding_window=300,
        kernel_size=7,
        hidden=300,
        latent=300,
        dropout=0.3,
        gamma=1.0,
        epochs=30,
        batch_size=256,
        lr=1e-3,
        patience=5,
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
        self.kernel_size = kernel_size
        self.hidden = hidden
        self.latent = latent
        self.dropout = dropout
        self.gamma = gamma
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
        for name in ("kernel_size", "hidden", "latent"):
            value = getattr(self, name)
            if not is_int(value) or value < 1:
                raise DetectorError(f"{name}: must be a positive integer, got {value!r}")
        if self.kernel_size % 2 == 0:
            raise DetectorError(f"kernel_size: must be odd (a centred convolution), got {self.kernel_size}")
        if not is_real(self.dropout) or not 0 <= self.dropout < 1:
            raise DetectorError(f"dropout: must be a number in [0, 1), got {self.dropout!r}")
        if not is_real(self.gamma) or self.gamma < 0:
            raise DetectorError(f"gamma: must be a non-negative number, got {self.gamma!r}")

    def unit_length(self) -> int:
        """w rows of input and the point after them."""
        return int(self.sliding_window) + 1

    def _network(self, p: int) -> nn.Module:
        return MTADGATNetwork(p, int(self.sliding_window), self.kernel_size, self.hidden, self.latent, self.dropout)

    def _losses(self, model: nn.Module, batch: torch.Tensor) -> torch.Tensor:
        window, target = batch[:, :-1], batch[:, -1]
        forecast, reconstruction, mu, logvar = model(window)
        rmse = torch.sqrt(torch.mean((forecast - target) ** 2) + 1e-12)
        kl = -0.5 * torch.mean(torch.sum(1 + logvar - mu**2 - logvar.exp(), dim=-1)) / window[0].numel()
        return rmse + torch.mean((reconstruction - window) ** 2) + kl

    def _step(self, model, batch, optimizer) -> float:
        optimizer.zero_grad()
        loss = self._losses(model, batch)
        loss.backward()
        optimizer.step()
        return float(loss.detach())

    def _validation_loss(self, model, batch):
        return self._losses(model, batch)

    def _terms(self, model, batch):
        window, target = batch[:, :-1], batch[:, -1]
        forecast, _, _, _ = model(window)
        _, reconstruction, _, _ = model(batch[:, 1:])
        recon_last = reconstruction[:, -1]
        gamma = float(self.gamma)
        return ((forecast - target) ** 2 + gamma * (recon_last - target) ** 2) / (1 + gamma)
