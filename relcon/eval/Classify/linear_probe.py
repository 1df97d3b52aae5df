"""Linear probe: frozen encoder features -> standardisation -> logistic regression.

The reference's grid, L2 with C in {1e-1, 1e-2, 1e-3, 1e-4, 1e-5} and no penalty, is scored by
macro-F1 on the fold's own validation split; the chosen setting is refitted on train + val
(the standardisation is fitted on train + val, as in the reference).

evalnetparams: ``max_iter`` (default 100, scikit-learn's and the reference's).
"""
from __future__ import annotations

import warnings

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.preprocessing import StandardScaler

from relcon.eval.Base_Eval import Base_EvalClass, Split
from relcon.eval.scaling import scaler_from_state, scaler_state

GRID = [{"penalty": "l2", "C": c} for c in (1e-1, 1e-2, 1e-3, 1e-4, 1e-5)] + [{"penalty": None, "C": 1.0}]


def _logreg(setting: dict, max_iter: int) -> LogisticRegression:
    if setting["penalty"] is None:
        return LogisticRegression(C=np.inf, random_state=42, max_iter=max_iter)
    return LogisticRegression(C=setting["C"], random_state=42, max_iter=max_iter)


class Model(Base_EvalClass):
    task = "classification"

    def _fit(self, train: Split, val: Split) -> None:
        max_iter = int(self.config.evalnetparams.get("max_iter", 100))
        f_train, f_val = self.features(train.X, "train features"), self.features(val.X, "val features")
        scaler = StandardScaler().fit(np.concatenate([f_train, f_val]))
        z_train, z_val = scaler.transform(f_train), scaler.transform(f_val)
        scores = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            for setting in GRID:
                clf = _logreg(setting, max_iter).fit(z_train, train.y)
                scores.append(f1_score(val.y, clf.predict(z_val), average="macro", zero_division=0))
            best = GRID[int(np.argmax(scores))]  # first of equal scores, as GridSearchCV
            clf = _logreg(best, max_iter).fit(np.concatenate([z_train, z_val]), np.concatenate([train.y, val.y]))
        self.scaler, self.clf = scaler, clf
        self.selection = {"setting": best, "val_macro_f1": dict(zip([str(g) for g in GRID], map(float, scores)))}

    def _predict(self, X: np.ndarray) -> np.ndarray:
        scores = self.scaler.transform(self.features(X, "test features")) @ self.coef.T + self.intercept
        if scores.shape[1] == 1:  # binary: one decision function
            return self.classes[(scores[:, 0] > 0).astype(int)]
        return self.classes[np.argmax(scores, axis=1)]

    @property
    def coef(self):
        return self.clf.coef_

    @property
    def intercept(self):
        return self.clf.intercept_

    @property
    def classes(self):
        return self.clf.classes_

    def _state(self) -> dict:
        return {**scaler_state(self.scaler),
                "coef": torch.from_numpy(self.clf.coef_), "intercept": torch.from_numpy(self.clf.intercept_),
                "classes": torch.from_numpy(self.clf.classes_.astype(np.int64)), "selection": self.selection}

    def _set_state(self, state: dict) -> None:
        self.scaler = scaler_from_state(state)
        clf = LogisticRegression()
        clf.coef_, clf.intercept_ = state["coef"].numpy(), state["intercept"].numpy()
        clf.classes_ = state["classes"].numpy()
        self.clf = clf
        self.selection = state.get("selection")
