"""MLP probe for regression: standardised frozen features -> one hidden layer of 512 ReLU units
-> M targets, fitted as the classification probe's default protocol is: full-batch L-BFGS on the
mean squared error of the standardised targets plus an L2 penalty ``alpha / (2 N) * sum ||W||^2``;
the penalty of ``ALPHA_GRID`` with the lowest mean squared error on the fold's own
(subject-disjoint) validation split is refitted on train + val, as the ridge probe chooses and
refits its penalty (features standardised on train + val, targets on train).

evalnetparams: ``hidden`` (512), ``alpha_grid``, ``max_iter`` (200). (The classification probe's
``early_stopping="reference"`` protocol has no regression counterpart in the paper's code and is
refused.)
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.preprocessing import StandardScaler

from relcon.eval.Base_Eval import Base_EvalClass, Split
from relcon.eval.Classify.MLP_probe import (fit_penalised_mlp, lbfgs_fit_settings, lbfgs_params, mlp_outputs,
                                            refit_mlp)
from relcon.eval.Regress.targets import TargetScaler


def negative_mse(outputs: np.ndarray, targets: np.ndarray) -> float:
    return -float(np.mean((outputs.reshape(targets.shape) - targets) ** 2))


class Model(Base_EvalClass):
    task = "regression"

    def fit_settings(self) -> dict:
        # How the probe is fitted is part of what was fitted: fits stored before it are redone.
        settings = super().fit_settings()
        alphas, max_iter, _ = lbfgs_params(self.config.evalnetparams, "MLP_probe (regression)")
        settings["fitting"] = lbfgs_fit_settings(alphas, max_iter, "val_mse")
        return settings

    def _fit(self, train: Split, val: Split) -> None:
        p = self.config.evalnetparams
        if p.get("early_stopping", "subject") != "subject":
            raise ValueError(f"MLP_probe (regression) early_stopping={p['early_stopping']!r}: only 'subject' "
                             f"(the fold's validation split) exists for regression")
        alphas, max_iter, hidden = lbfgs_params(p, "MLP_probe (regression)")
        f_train, f_val = self.features(train.X, "train features"), self.features(val.X, "val features")
        scaler = StandardScaler().fit(np.concatenate([f_train, f_val]))
        targets = TargetScaler.fit(train.y)
        z_train, z_val = scaler.transform(f_train), scaler.transform(f_val)
        t_train, t_val = targets.transform(train.y), targets.transform(val.y)
        alpha, scores = fit_penalised_mlp(f_train.shape[1], targets.n_targets, hidden, F.mse_loss, negative_mse,
                                          z_train, t_train, z_val, t_val, alphas, max_iter, self.config.seed,
                                          self.device)
        self.selection = {"alpha": alpha, "val_mse": {f"{float(a):g}": -s for a, s in zip(alphas, scores)}}
        self.weights, self.biases = refit_mlp(f_train.shape[1], targets.n_targets, hidden, F.mse_loss,
                                              np.concatenate([z_train, z_val]), np.concatenate([t_train, t_val]),
                                              alpha, max_iter, self.config.seed, self.device)
        self.mean, self.scale, self.targets = scaler.mean_, scaler.scale_, targets

    def _predict(self, X: np.ndarray) -> np.ndarray:
        z = (self.features(X, "test features") - self.mean) / self.scale
        return self.targets.inverse(mlp_outputs(z, self.weights, self.biases))

    def _state(self) -> dict:
        return {"mean": torch.from_numpy(np.asarray(self.mean, dtype=np.float64)),
                "scale": torch.from_numpy(np.asarray(self.scale, dtype=np.float64)), "weights": self.weights,
                "biases": self.biases, "targets": self.targets.state(), "selection": getattr(self, "selection", None)}

    def _set_state(self, state: dict) -> None:
        self.mean, self.scale = state["mean"].numpy(), state["scale"].numpy()
        self.weights, self.biases = state["weights"], state["biases"]
        self.targets = TargetScaler.from_state(state["targets"])
        self.selection = state.get("selection")
