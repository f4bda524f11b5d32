"""What the PyTorch window models share: windows, seeded training with early stopping, scoring,
thresholds from training scores, and checkpoints. Imported by :mod:`.mtad_gat` and
:mod:`.anomaly_transformer` only (this module imports torch; the registry loads them lazily).

Training (``fit``): the rows are standardised with the training mean and standard deviation;
every window of ``unit_length()`` consecutive rows is a training unit; the last ``val_ratio``
of them (in time order) are the validation split. Adam with learning rate ``lr``, mini-batches
of ``batch_size`` shuffled by a generator seeded with ``seed``; after each epoch the
validation loss is measured and training stops after ``patience`` epochs without a better
one, keeping the best weights. ``progress=True`` shows a tqdm bar. ``diagnostics_`` records
MVAD's ``modelState``: ``epochIds, trainLosses, validationLosses, latenciesInSeconds``.

Scoring: each point is scored by the window that ends at it (the model's per-variable terms at
the last position), so ``detect`` and ``update`` are the same arithmetic and need
``context_length()`` rows before the first scored point (kept from training or the previous
call). The threshold is set once from the scores of every training unit (train and
validation split) with :func:`detectors.multivariate.base.threshold_from` (SPOT or a
quantile), never from the points being detected.
"""

from __future__ import annotations

import copy
import time
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from core.detector import DetectorError, UnmodelledSeries
from detectors.multivariate.base import (
    MultivariateDetector,
    check_sliding_window,
    check_threshold,
    is_int,
    is_real,
    threshold_from,
)

MIN_WINDOWS = 10
"""Fewest training units: enough for a validation split and a threshold."""


def seeded(seed: int) -> torch.Generator:
    """Seed torch's global generator (initial weights, dropout) and return one for shuffling."""
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def units(z: np.ndarray, length: int) -> torch.Tensor:
    """Every window of ``length`` consecutive rows: shape (rows - length + 1, length, variables)."""
    view = np.lib.stride_tricks.sliding_window_view(z, length, axis=0)
    return torch.from_numpy(np.ascontiguousarray(view.transpose(0, 2, 1), dtype=np.float32))


class WindowModelDetector(MultivariateDetector):
    """Base of the PyTorch window detectors (module docstring). Subclasses define the network
    (``_network(p)``), the unit (``unit_length()``), one optimisation step (``_step``), the
    validation loss (``_validation_loss``) and the per-variable score terms of the last
    position of each unit (``_terms``)."""

    sliding_window: int
    epochs: int
    batch_size: int
    lr: float
    patience: int
    val_ratio: float
    seed: int
    threshold: str
    quantile: float
    risk: float
    progress: bool

    # ------------------------------------------------------------------ parameters
    def _check_training_params(self) -> None:
        self._check_input_params()
        check_sliding_window(self.sliding_window)
        for name in ("epochs", "batch_size"):
            value = getattr(self, name)
            if not is_int(value) or value < 1:
                raise DetectorError(f"{name}: must be a positive integer, got {value!r}")
        if not is_int(self.patience) or self.patience < 0:
            raise DetectorError(f"patience: must be a non-negative integer, got {self.patience!r}")
        if not is_real(self.lr) or not self.lr > 0:
            raise DetectorError(f"lr: must be a positive number, got {self.lr!r}")
        ratio = self.val_ratio
        if not is_real(ratio) or not 0 < ratio < 0.5:
            raise DetectorError(f"val_ratio: must be a number in (0, 0.5), got {ratio!r}")
        if not is_int(self.seed):
            raise DetectorError(f"seed: must be an integer, got {self.seed!r}")
        if not isinstance(self.progress, bool):
            raise DetectorError(f"progress: must be True or False, got {self.progress!r}")
        check_threshold(self.threshold, self.quantile, self.risk)

    def unit_length(self) -> int:
        return int(self.sliding_window)

    def context_length(self) -> int:
        return self.unit_length() - 1

    def min_train_rows(self) -> int:
        return self.unit_length() + MIN_WINDOWS - 1

    def _length_reason(self) -> str:
        return f" (a window of {self.unit_length()} rows and {MIN_WINDOWS} windows to train, validate and threshold)"

    # ------------------------------------------------------------------ to implement
    def _network(self, p: int) -> nn.Module:
        raise NotImplementedError

    def _step(self, model: nn.Module, batch: torch.Tensor, optimizer: torch.optim.Optimizer) -> float:
        raise NotImplementedError

    def _validation_loss(self, model: nn.Module, batch: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _terms(self, model: nn.Module, batch: torch.Tensor) -> torch.Tensor:
        """Per-variable score terms (batch, variables) of the last row of every unit."""
        raise NotImplementedError

    # ------------------------------------------------------------------ training
    def _fit(self, x: np.ndarray) -> None:
        generator = seeded(int(self.seed))
        self.mean_ = x.mean(axis=0)
        std = x.std(axis=0)
        self.scale_ = np.where(std > 1e-12 * np.maximum(1.0, np.abs(self.mean_)), std, 1.0)
        data = units(self._standardise(x), self.unit_length())
        n_val = max(1, round(self.val_ratio * len(data)))
        train, val = data[:-n_val], data[-n_val:]
        if len(train) < 1:
            raise UnmodelledSeries(f"train: {len(data)} windows leave none to train on after the validation split")
        model = self._network(x.shape[1])
        optimizer = torch.optim.Adam(model.parameters(), lr=float(self.lr))
        best, best_state, waited = np.inf, copy.deepcopy(model.state_dict()), 0
        diagnostics: dict[str, list] = {
            "epochIds": [],
            "trainLosses": [],
            "validationLosses": [],
            "latenciesInSeconds": [],
        }
        bar = tqdm(range(int(self.epochs)), desc=type(self).__name__, disable=not self.progress, leave=False)
        for epoch in bar:
            started = time.perf_counter()
            model.train()
            order = torch.randperm(len(train), generator=generator)
            losses = []
            for start in range(0, len(train), int(self.batch_size)):
                losses.append(self._step(model, train[order[start : start + int(self.batch_size)]], optimizer))
            model.eval()
            with torch.no_grad():
                val_loss = float(
                    np.mean(
                        [
                            float(self._validation_loss(model, val[s : s + int(self.batch_size)]))
                            for s in range(0, len(val), int(self.batch_size))
                        ]
                    )
                )
            diagnostics["epochIds"].append(epoch + 1)
            diagnostics["trainLosses"].append(float(np.mean(losses)))
            diagnostics["validationLosses"].append(val_loss)
            diagnostics["latenciesInSeconds"].append(time.perf_counter() - started)
            bar.set_postfix(train=f"{np.mean(losses):.4g}", validation=f"{val_loss:.4g}")
            if val_loss < best - 1e-9:
                best, best_state, waited = val_loss, copy.deepcopy(model.state_dict()), 0
            else:
                waited += 1
                if waited > self.patience:
                    break
        bar.close()
        model.load_state_dict(best_state)
        model.eval()
        self.model_ = model
        self.diagnostics_ = diagnostics
        self.n_epochs_ = len(diagnostics["epochIds"])
        self.train_score_ = self._unit_scores(data).sum(axis=1)
        self.threshold_ = threshold_from(self.train_score_, self.threshold, self.quantile, self.risk)

    def _standardise(self, x: np.ndarray) -> np.ndarray:
        return (x - self.mean_) / self.scale_

    def _unit_scores(self, data: torch.Tensor) -> np.ndarray:
        out = []
        with torch.no_grad():
            for start in range(0, len(data), int(self.batch_size)):
                out.append(self._terms(self.model_, data[start : start + int(self.batch_size)]).double().numpy())
        return np.concatenate(out) if out else np.empty((0, len(self.variables_)))

    # ------------------------------------------------------------------ scoring
    def _score(self, full: np.ndarray):
        if len(full) < self.unit_length():
            raise DetectorError(f"test: {len(full)} rows with context, a window needs {self.unit_length()}")
        terms = self._unit_scores(units(self._standardise(full), self.unit_length()))
        return terms.sum(axis=1), self.threshold_, terms

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        """Plain values (JSON-able) plus ``"model"``: the network's torch state dict."""
        self._check_fitted()
        return {
            **self._base_state(),
            "mean": self.mean_.tolist(),
            "scale": self.scale_.tolist(),
            "threshold": self.threshold_,
            "diagnostics": self.diagnostics_,
            "model": {k: v.detach().clone() for k, v in self.model_.state_dict().items()},
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]):
        try:
            detector = cls._restore_base(state)
            detector.mean_ = np.asarray(state["mean"], dtype=float)
            detector.scale_ = np.asarray(state["scale"], dtype=float)
            detector.threshold_ = float(state["threshold"])
            detector.diagnostics_ = dict(state["diagnostics"])
            detector.n_epochs_ = len(detector.diagnostics_["epochIds"])
            model = detector._network(len(detector.variables_))
            model.load_state_dict(state["model"])
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise DetectorError(f"state: not a {cls.__name__} state_dict ({exc!r})") from exc
        model.eval()
        detector.model_ = model
        return detector
