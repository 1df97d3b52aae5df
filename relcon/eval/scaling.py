"""Saving and restoring the feature standardisation of the linear probes."""
from __future__ import annotations

import torch
from sklearn.preprocessing import StandardScaler


def scaler_state(scaler: StandardScaler) -> dict:
    """The fitted scaler's mean and scale as tensors (checkpoint entries)."""
    return {"scaler_mean": torch.from_numpy(scaler.mean_), "scaler_scale": torch.from_numpy(scaler.scale_)}


def scaler_from_state(state: dict) -> StandardScaler:
    """A fitted StandardScaler rebuilt from ``scaler_state``'s entries."""
    scaler = StandardScaler()
    scaler.mean_, scaler.scale_ = state["scaler_mean"].numpy(), state["scaler_scale"].numpy()
    scaler.var_ = scaler.scale_ ** 2
    scaler.n_features_in_ = len(scaler.mean_)
    return scaler
