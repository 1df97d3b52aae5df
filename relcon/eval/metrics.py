"""Per-fold metrics and their aggregation over folds."""
from __future__ import annotations

import numpy as np
from sklearn import metrics as skm

CLASSIFICATION_METRICS = ("macro_f1", "kappa", "balanced_accuracy", "accuracy")


def classification_metrics(y_true, y_pred) -> dict:
    """Macro-F1, Cohen's kappa, balanced accuracy and accuracy (scikit-learn definitions)."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    return {
        "macro_f1": float(skm.f1_score(y_true, y_pred, average="macro", zero_division=0)),
        "kappa": float(skm.cohen_kappa_score(y_true, y_pred)),
        "balanced_accuracy": float(skm.balanced_accuracy_score(y_true, y_pred)),
        "accuracy": float(skm.accuracy_score(y_true, y_pred)),
    }


def aggregate(folds: list[dict]) -> tuple[dict, dict]:
    """Mean and (population) standard deviation of each metric over folds."""
    keys = [k for k in folds[0] if all(isinstance(f.get(k), (int, float)) for f in folds)]
    mean = {k: float(np.mean([f[k] for f in folds])) for k in keys}
    std = {k: float(np.std([f[k] for f in folds])) for k in keys}
    return mean, std
