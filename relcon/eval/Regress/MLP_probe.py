"""MLP probe for regression: standardised frozen features -> one hidden layer of 512 ReLU units
-> M targets, Adam on the mean squared error of the standardised targets, stopped on the loss of
the fold's own (subject-disjoint) validation split; the best validation epoch is kept. The
regularisation (weight decay x dropout, ``REG_GRID`` of the classification probe) is chosen by
the validation mean squared error, as the ridge probe chooses its penalty.

evalnetparams: ``hidden`` (512), ``max_epochs`` (200), ``patience`` (5), ``batch_size`` (200),
``lr`` (1e-3), ``reg_grid``. (The classification probe's ``early_stopping="reference"`` protocol has no
regression counterpart in the paper's code and is refused.)
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.preprocessing import StandardScaler

from relcon.eval.Base_Eval import Base_EvalClass, Split
from relcon.eval.Classify.MLP_probe import REG_GRID, fit_regularised_mlp, linear_layers, mlp_outputs
from relcon.eval.Regress.targets import TargetScaler


def negative_mse(outputs: np.ndarray, targets: np.ndarray) -> float:
    return -float(np.mean((outputs.reshape(targets.shape) - targets) ** 2))


class Model(Base_EvalClass):
    task = "regression"

    def fit_settings(self) -> dict:
        # The grid is part of what was fitted: fits stored before it existed are redone.
        settings = super().fit_settings()
        settings["reg_grid"] = [dict(s) for s in self.config.evalnetparams.get("reg_grid", REG_GRID)]
        return settings

    def _fit(self, train: Split, val: Split) -> None:
        p = self.config.evalnetparams
        if p.get("early_stopping", "subject") != "subject":
            raise ValueError(f"MLP_probe (regression) early_stopping={p['early_stopping']!r}: only 'subject' "
                             f"(the fold's validation split) exists for regression")
        f_train, f_val = self.features(train.X, "train features"), self.features(val.X, "val features")
        scaler = StandardScaler().fit(f_train)
        targets = TargetScaler.fit(train.y)
        grid = list(p.get("reg_grid", REG_GRID))
        net, setting, self.epochs_run, scores = fit_regularised_mlp(
            f_train.shape[1], targets.n_targets, int(p.get("hidden", 512)), F.mse_loss, negative_mse,
            scaler.transform(f_train), targets.transform(train.y), scaler.transform(f_val), targets.transform(val.y),
            float(p.get("lr", 1e-3)), int(p.get("batch_size", 200)), int(p.get("max_epochs", 200)),
            int(p.get("patience", 5)), self.config.seed, self.device, grid)
        self.selection = {"setting": setting, "val_mse": dict(zip(map(str, grid), (-s for s in scores)))}
        self.mean, self.scale, self.targets = scaler.mean_, scaler.scale_, targets
        self.weights = [layer.weight.detach().cpu() for layer in linear_layers(net)]
        self.biases = [layer.bias.detach().cpu() for layer in linear_layers(net)]

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
