"""Target standardisation shared by the regression models: fitted on the training split, applied
to every split, inverted on predictions so that metrics are in the targets' own units."""
from __future__ import annotations

import numpy as np
import torch


class TargetScaler:
    """(y - mean) / scale per target column; targets (N,) or (N, M), predictions back alike."""

    def __init__(self, mean: np.ndarray, scale: np.ndarray, one_dim: bool):
        self.mean, self.scale, self.one_dim = np.asarray(mean, np.float64), np.asarray(scale, np.float64), one_dim

    @classmethod
    def fit(cls, y: np.ndarray) -> "TargetScaler":
        y2 = np.asarray(y, dtype=np.float64).reshape(len(y), -1)  # (N, M)
        scale = y2.std(axis=0)
        scale[scale == 0] = 1.0  # a constant target: predictions are its value
        return cls(y2.mean(axis=0), scale, np.ndim(y) == 1)

    @property
    def n_targets(self) -> int:
        return len(self.mean)

    def transform(self, y: np.ndarray) -> np.ndarray:
        """y (N,) or (N, M) -> standardised (N, M) float32."""
        y2 = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
        if y2.shape[1] != self.n_targets or (np.ndim(y) == 1) != self.one_dim:
            raise ValueError(f"targets of shape {np.shape(y)}; the training split had "
                             f"{'(N,)' if self.one_dim else f'(N, {self.n_targets})'}")
        return ((y2 - self.mean) / self.scale).astype(np.float32)

    def inverse(self, z: np.ndarray) -> np.ndarray:
        """Standardised predictions (N, M) -> the targets' units, (N,) or (N, M) as in training."""
        y = np.asarray(z, dtype=np.float64) * self.scale + self.mean
        return y[:, 0] if self.one_dim else y

    def state(self) -> dict:
        return {"mean": torch.from_numpy(self.mean), "scale": torch.from_numpy(self.scale), "one_dim": self.one_dim}

    @classmethod
    def from_state(cls, state: dict) -> "TargetScaler":
        return cls(state["mean"].numpy(), state["scale"].numpy(), bool(state["one_dim"]))
