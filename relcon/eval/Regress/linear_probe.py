"""Linear probe for regression: frozen encoder features -> standardisation -> ridge regression.

Features are standardised on train + val (as the classification probe), targets on train. The
ridge penalty alpha in {1e-3, 1e-2, ..., 1e4} is chosen per target by the mean squared error
(standardised units) on the fold's own validation split; the chosen model is refitted on
train + val. Predictions are mapped back to the targets' units.
"""
from __future__ import annotations

import warnings

import numpy as np
import torch
from scipy.linalg import LinAlgWarning
from sklearn.linear_model import Ridge
from sklearn.preprocessing import StandardScaler

from relcon.eval.Base_Eval import Base_EvalClass, Split
from relcon.eval.scaling import scaler_from_state, scaler_state
from relcon.eval.Regress.targets import TargetScaler

ALPHAS = 10.0 ** np.arange(-3, 5)  # 1e-3 ... 1e4


class Model(Base_EvalClass):
    task = "regression"

    def _fit(self, train: Split, val: Split) -> None:
        f_train, f_val = self.features(train.X, "train features"), self.features(val.X, "val features")
        scaler = StandardScaler().fit(np.concatenate([f_train, f_val]))
        z_train, z_val = scaler.transform(f_train), scaler.transform(f_val)
        targets = TargetScaler.fit(train.y)
        t_train, t_val = targets.transform(train.y), targets.transform(val.y)  # (N, M)
        with warnings.catch_warnings():
            # The smallest penalties can be ill-conditioned on correlated features; validation judges them.
            warnings.simplefilter("ignore", LinAlgWarning)
            val_mse = np.stack([((Ridge(alpha=a).fit(z_train, t_train).predict(z_val).reshape(t_val.shape) - t_val)
                                 ** 2).mean(axis=0) for a in ALPHAS])  # (alphas, M)
            alpha = ALPHAS[np.argmin(val_mse, axis=0)]  # (M,): the first of equal errors
            ridge = Ridge(alpha=alpha).fit(np.concatenate([z_train, z_val]), np.concatenate([t_train, t_val]))
        self.scaler, self.targets = scaler, targets
        self.coef, self.intercept = ridge.coef_.reshape(targets.n_targets, -1), np.ravel(ridge.intercept_)
        self.selection = {"alpha": alpha.tolist(), "val_mse": {f"{a:g}": row.tolist() for a, row in zip(ALPHAS, val_mse)}}

    def _predict(self, X: np.ndarray) -> np.ndarray:
        z = self.scaler.transform(self.features(X, "test features"))
        return self.targets.inverse(z @ self.coef.T + self.intercept)

    def _state(self) -> dict:
        return {**scaler_state(self.scaler),
                "coef": torch.from_numpy(self.coef), "intercept": torch.from_numpy(self.intercept),
                "targets": self.targets.state(), "selection": self.selection}

    def _set_state(self, state: dict) -> None:
        self.scaler = scaler_from_state(state)
        self.coef, self.intercept = state["coef"].numpy(), state["intercept"].numpy()
        self.targets = TargetScaler.from_state(state["targets"])
        self.selection = state.get("selection")
