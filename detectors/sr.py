"""Spectral Residual saliency (Ren et al., "Time-Series Anomaly Detection Service at Microsoft",
KDD 2019, Sec. 3.2; the unsupervised part of SR-CNN), batch and streaming.

Each point is judged on the ``window`` points that end at it (the streaming setting of the paper):

1. extension (Sec. 3.2, Eq. 4-5): g = (1/m) sum_{i=1..m} (y - x_{k-i}) / i, the mean gradient of
   y = x_k to the m points before it; x_est = x_{k-m+1} + g m is appended ``estimate`` (kappa)
   times, so the tested point is not at the edge of the transform. As in the authors' code, k is
   the point before the tested one: written literally with k = n (the tested point), Eq. 4-5 copy
   a spike into the estimated points, which then hide it;
2. A(f) = |FFT(x)|, L(f) = log A(f), AL(f) = L convolved with the q-point average filter h_q
   (circular: the spectrum of a real series is periodic), R(f) = L(f) - AL(f) (Eq. 1-2);
3. saliency S = |IFFT(exp(R(f) + i P(f)))|, P the phase of the FFT (Eq. 3);
4. score O = (S_n - mean(S_{n-z..n-1})) / mean(S_{n-z..n-1}) (z preceding saliency values of the
   window), alarm when O > tau (Eq. 6).

Defaults are the published ones: q = 3, z = 21, tau = 3 (paper, Sec. 4), m = 5 preceding points
and kappa = 5 estimated points, window 64 (the reference implementation of the same authors in
ML.NET, ``DetectAnomalyBySrCnn``: windowSize 64, backAddWindowSize 5, lookaheadWindowSize 5,
averagingWindowSize 3, judgementWindowSize 21). Nothing is learned: ``fit`` keeps the last
window - 1 training points as the history of the first test point.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from core.detector import DetectionResult, Detector, DetectorError, PointResult, UnmodelledSeries
from core.values import as_finite_scalar, as_finite_values, positive_int

EPS = 1e-8
_CHUNK = 4096


def extend(windows: np.ndarray, m: int, kappa: int) -> np.ndarray:
    """Rows of ``windows`` with kappa estimated points appended (module docstring, step 1)."""
    last = windows[:, -2:-1]
    steps = np.arange(1, m + 1)
    previous = windows[:, -2 - steps]
    g = ((last - previous) / steps).mean(axis=1)
    estimate = windows[:, -1 - m] + g * m
    return np.concatenate((windows, np.repeat(estimate[:, None], kappa, axis=1)), axis=1)


def saliency(rows: np.ndarray, q: int = 3) -> np.ndarray:
    """Saliency map of each row (module docstring, steps 2-3)."""
    spectrum = np.fft.fft(rows, axis=1)
    amplitude = np.abs(spectrum)
    log_amp = np.log(np.maximum(amplitude, EPS))
    n = rows.shape[1]
    kernel = np.zeros(n)
    kernel[np.arange(-(q // 2), q - q // 2) % n] = 1.0 / q
    averaged = np.real(np.fft.ifft(np.fft.fft(log_amp, axis=1) * np.fft.fft(kernel), axis=1))
    phase = np.divide(spectrum, amplitude, out=np.ones_like(spectrum), where=amplitude > EPS)
    return np.abs(np.fft.ifft(np.exp(log_amp - averaged) * phase, axis=1))


class SpectralResidual(Detector):
    """Spectral Residual (module docstring): ``window`` points per judgement, ``q`` average filter,
    ``z`` preceding saliency values, ``threshold`` tau, ``m`` points behind the gradient, ``estimate``
    kappa estimated points."""

    name = "sr"

    def __init__(self, window=64, q=3, z=21, threshold=3.0, m=5, estimate=5):
        self.window = window
        self.q = q
        self.z = z
        self.threshold = threshold
        self.m = m
        self.estimate = estimate

    def _check_params(self) -> None:
        for name in ("window", "q", "z", "m", "estimate"):
            positive_int(getattr(self, name), name)
        if self.z >= self.window:
            raise DetectorError(f"z: the {self.z} preceding saliency values must fit in window = {self.window}")
        if self.m + 2 > self.window:
            raise DetectorError(f"m: the gradient needs m + 2 <= window = {self.window} points, got m = {self.m}")
        if isinstance(self.threshold, bool) or not isinstance(self.threshold, (int, float)) or not self.threshold > 0:
            raise DetectorError(f"threshold: must be a positive number, got {self.threshold!r}")

    def scores(self, windows: np.ndarray) -> np.ndarray:
        """O for the last point of each row of ``windows`` (rows of ``window`` values)."""
        out = np.empty(len(windows))
        w, z = self.window, self.z
        for start in range(0, len(windows), _CHUNK):
            rows = windows[start : start + _CHUNK]
            s = saliency(extend(rows, self.m, self.estimate), self.q)
            local = s[:, w - 1 - z : w - 1].mean(axis=1)
            out[start : start + len(rows)] = (s[:, w - 1] - local) / np.maximum(local, EPS)
        return out

    def fit(self, train) -> SpectralResidual:
        self._check_params()
        x = as_finite_values(train, "train")
        if len(x) < self.window - 1:
            raise UnmodelledSeries(
                f"train: {len(x)} points, SR needs window - 1 = {self.window - 1} as the history of the first point"
            )
        self.history_ = x[len(x) - (self.window - 1) :].copy()
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "history_"):
            raise DetectorError("detector: call fit(train) (or from_state) before detect/update")

    def detect(self, test) -> DetectionResult:
        self._check_fitted()
        x = as_finite_values(test, "test")
        ext = np.concatenate((self.history_, x))
        score = self.scores(sliding_window_view(ext, self.window)) if len(x) else np.empty(0)
        self.history_ = ext[len(ext) - (self.window - 1) :].copy()
        return DetectionResult(score, np.full(len(x), float(self.threshold)), score > self.threshold)

    def update(self, x) -> PointResult:
        self._check_fitted()
        value = as_finite_scalar(x, "x")
        row = np.append(self.history_, value)
        score = float(self.scores(row[None, :])[0])
        self.history_ = row[1:]
        return PointResult(score, float(self.threshold), score > self.threshold)

    def state_dict(self) -> dict[str, Any]:
        self._check_fitted()
        return {"params": self.get_params(), "history": self.history_.tolist()}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> SpectralResidual:
        try:
            detector = cls(**state["params"])
            detector._check_params()
            detector.history_ = np.asarray(state["history"], dtype=float)
        except (KeyError, TypeError, ValueError) as exc:
            raise DetectorError(f"state: not a {cls.__name__} state_dict ({exc!r})") from exc
        if detector.history_.shape != (detector.window - 1,):
            raise DetectorError(f"state: history must hold window - 1 = {detector.window - 1} values")
        return detector
