"""Per-fold metrics and their aggregation over folds."""
from __future__ import annotations

import numpy as np
from sklearn import metrics as skm

CLASSIFICATION_METRICS = ("macro_f1", "kappa", "balanced_accuracy", "accuracy")
REGRESSION_METRICS = ("mae", "rmse", "pearson_r", "r2")
# How tables and figures name each metric.
PRETTY = {"macro_f1": "macro-F1", "kappa": "Cohen's κ", "balanced_accuracy": "bal. acc.", "accuracy": "acc.",
          "mae": "MAE", "rmse": "RMSE", "pearson_r": "Pearson r", "r2": "R²"}


def classification_metrics(y_true, y_pred) -> dict:
    """Macro-F1, Cohen's kappa, balanced accuracy and accuracy (scikit-learn definitions)."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    return {
        "macro_f1": float(skm.f1_score(y_true, y_pred, average="macro", zero_division=0)),
        "kappa": float(skm.cohen_kappa_score(y_true, y_pred)),
        "balanced_accuracy": float(skm.balanced_accuracy_score(y_true, y_pred)),
        "accuracy": float(skm.accuracy_score(y_true, y_pred)),
    }


def _pearson_r(t: np.ndarray, p: np.ndarray) -> float:
    """Pearson correlation; NaN when undefined (fewer than 2 values or a constant side)."""
    if len(t) < 2 or np.ptp(t) == 0 or np.ptp(p) == 0:
        return float("nan")
    dt, dp = t - t.mean(), p - p.mean()
    return float(np.dot(dt, dp) / np.sqrt(np.dot(dt, dt) * np.dot(dp, dp)))


def _r2(t: np.ndarray, p: np.ndarray) -> float:
    """Coefficient of determination 1 - SS_res / SS_tot; NaN when the targets are constant."""
    ss_tot = float(((t - t.mean()) ** 2).sum())
    return float("nan") if ss_tot == 0 else 1.0 - float(((t - p) ** 2).sum()) / ss_tot


def regression_metrics(y_true, y_pred) -> dict:
    """MAE, RMSE, Pearson r and R² per target, in the targets' units.

    ``y_true``/``y_pred`` of shape (N,) give ``mae``, ``rmse``, ``pearson_r``, ``r2``; of shape
    (N, M) they give ``mae[m]`` ... per target m and the plain names as the mean over targets.
    Undefined values (a constant side for r, constant targets for R²) are NaN.
    """
    y_true, y_pred = np.asarray(y_true, dtype=np.float64), np.asarray(y_pred, dtype=np.float64)
    if y_true.shape != y_pred.shape or y_true.ndim not in (1, 2) or len(y_true) == 0:
        raise ValueError(f"regression metrics: targets {y_true.shape} and predictions {y_pred.shape}; expected the "
                         f"same shape (N,) or (N, M) with N > 0")
    t2, p2 = y_true.reshape(len(y_true), -1), y_pred.reshape(len(y_pred), -1)  # (N, M)
    per = {name: [] for name in REGRESSION_METRICS}
    for t, p in zip(t2.T, p2.T):
        err = p - t
        per["mae"].append(float(np.abs(err).mean()))
        per["rmse"].append(float(np.sqrt((err ** 2).mean())))
        per["pearson_r"].append(_pearson_r(t, p))
        per["r2"].append(_r2(t, p))
    if y_true.ndim == 1:
        return {name: values[0] for name, values in per.items()}
    out = {f"{name}[{m}]": v for name, values in per.items() for m, v in enumerate(values)}
    out.update({name: float(np.mean(values)) for name, values in per.items()})
    return out


def aggregate(folds: list[dict]) -> tuple[dict, dict]:
    """Mean and (population) standard deviation of each metric over folds."""
    keys = [k for k in folds[0] if all(isinstance(f.get(k), (int, float)) for f in folds)]
    mean = {k: float(np.mean([f[k] for f in folds])) for k in keys}
    std = {k: float(np.std([f[k] for f in folds])) for k in keys}
    return mean, std
