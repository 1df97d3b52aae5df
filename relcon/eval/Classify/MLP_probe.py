"""MLP probe: frozen encoder features -> one hidden layer of 512 units -> classes.

Two early-stopping protocols (``evalnetparams["early_stopping"]``):

* ``"subject"`` (default): standardised features, a PyTorch MLP trained with Adam on the fold's
  training split and stopped on the macro-F1 of the fold's own validation split, whose subjects
  are disjoint from training (patience 20 epochs); the weights of the best validation epoch are
  kept. Its regularisation is chosen on that split as the linear probe chooses C: one MLP per
  setting of ``REG_GRID`` (L2 weight decay x dropout after the hidden layer); the setting with
  the best validation macro-F1 (the first of equal scores; the grid starts with no
  regularisation) is then refitted on train + val for its best epoch count, as the linear probe
  is refitted on train + val. Stopping on the metric that selects the setting, not on the
  validation cross-entropy, matters on small validation splits: the cross-entropy of a
  confident net starts rising while its macro-F1 still improves, and 5 epochs of patience on
  the loss stopped the MLP below the linear probe (demo: 0.573 against 0.584 macro-F1).
* ``"reference"``: the paper's protocol: scikit-learn's ``MLPClassifier(hidden 512,
  early_stopping=True, n_iter_no_change=5, random_state=42, shuffle=False)`` fitted on the
  pooled val + train windows, with a *random* validation fraction of size |val| / (|val| +
  |train|): windows of training subjects leak into the stopping set.

Other evalnetparams: ``hidden`` (512), ``max_epochs`` (200), ``patience`` (20 for "subject", 5
for "reference", scikit-learn's ``n_iter_no_change``), ``batch_size`` (200, scikit-learn's
default), ``lr`` (1e-3), ``reg_grid`` (``REG_GRID``; a list of ``{"weight_decay": float,
"dropout": float}``).
"""
from __future__ import annotations

import copy
import warnings

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import f1_score
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler

from relcon.eval.Base_Eval import Base_EvalClass, Split

PROTOCOLS = ("subject", "reference")
PATIENCE = {"subject": 20, "reference": 5}  # epochs without improvement before stopping
REG_GRID = [{"weight_decay": wd, "dropout": p} for p in (0.0, 0.5) for wd in (0.0, 1e-3, 1e-2, 1e-1)]


def mlp(d_in: int, hidden: int, d_out: int, dropout: float = 0.0) -> torch.nn.Module:
    layers = [torch.nn.Linear(d_in, hidden), torch.nn.ReLU()]
    if dropout:
        layers.append(torch.nn.Dropout(dropout))
    return torch.nn.Sequential(*layers, torch.nn.Linear(hidden, d_out))


def linear_layers(net: torch.nn.Module) -> list:
    return [m for m in net if isinstance(m, torch.nn.Linear)]


def mlp_outputs(z: np.ndarray, weights: list, biases: list) -> np.ndarray:
    """Outputs of the one-hidden-layer ReLU MLP stored as (weights, biases) tensors, for z (N, D)."""
    h = torch.relu(torch.from_numpy(z.astype(np.float32)) @ weights[0].T + biases[0])
    return (h @ weights[1].T + biases[1]).numpy()


def _one_epoch(net, opt, loss_fn, zt, yt, g, batch_size, device) -> None:
    """One pass over (zt, yt) in minibatches drawn from the generator ``g``."""
    for idx in torch.randperm(len(zt), generator=g).split(batch_size):
        idx = idx.to(device)
        loss = loss_fn(net(zt[idx]), yt[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()


def train_mlp_early_stopping(net, loss_fn, z_train, y_train, z_val, y_val, lr, batch_size, max_epochs, patience,
                             seed, device, weight_decay: float = 0.0, score_fn=None):
    """Adam (with L2 ``weight_decay``) on (z_train, y_train), evaluated on (z_val, y_val) after
    every epoch; stops after ``patience`` epochs without improvement and restores the best
    epoch's weights. Improvement: the validation loss falls by more than 1e-4 or, when
    ``score_fn(val outputs (N, d_out) numpy, y_val)`` is given, that score rises (higher is
    better; the first of equal scores is kept). Returns the best epoch (counted from 1)."""
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    net.to(device)
    opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=weight_decay)
    zt, yt = torch.as_tensor(z_train, dtype=torch.float32, device=device), torch.as_tensor(y_train, device=device)
    zv, yv = torch.as_tensor(z_val, dtype=torch.float32, device=device), torch.as_tensor(y_val, device=device)
    best, best_state, waited, best_epoch = -np.inf, copy.deepcopy(net.state_dict()), 0, 1
    for epoch in range(1, max_epochs + 1):
        net.train()
        _one_epoch(net, opt, loss_fn, zt, yt, g, batch_size, device)
        net.eval()
        with torch.no_grad():
            out = net(zv)
            if score_fn is None:
                value, margin = -float(loss_fn(out, yv)), 1e-4
            else:
                value, margin = float(score_fn(out.cpu().numpy(), y_val)), 0.0
        if value > best + margin:
            best, best_state, waited, best_epoch = value, copy.deepcopy(net.state_dict()), 0, epoch
        else:
            waited += 1
            if waited >= patience:
                break
    net.load_state_dict(best_state)
    net.eval()
    return best_epoch


def train_mlp_epochs(net, loss_fn, z, y, lr, batch_size, epochs, seed, device, weight_decay: float = 0.0):
    """Adam (with L2 ``weight_decay``) on (z, y) for a fixed number of epochs: the refit on
    train + val, where no split is left to stop on."""
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    net.to(device)
    opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=weight_decay)
    zt, yt = torch.as_tensor(z, dtype=torch.float32, device=device), torch.as_tensor(y, device=device)
    net.train()
    for _ in range(epochs):
        _one_epoch(net, opt, loss_fn, zt, yt, g, batch_size, device)
    net.eval()


def fit_regularised_mlp(d_in, d_out, hidden, loss_fn, score_fn, z_train, y_train, z_val, y_val, lr, batch_size,
                        max_epochs, patience, seed, device, grid=REG_GRID, stop_on_score: bool = False):
    """One early-stopped MLP per regularisation setting of ``grid``; returns (the net whose
    ``score_fn(val outputs (N, d_out) numpy, y_val)`` is highest (the first of equal scores),
    its setting, its best epoch, the validation score of every setting). Each MLP stops on the
    validation loss or, with ``stop_on_score``, on ``score_fn``."""
    best, scores = None, []
    for setting in grid:
        torch.manual_seed(seed)  # the same initial weights for every setting
        net = mlp(d_in, hidden, d_out, float(setting.get("dropout", 0.0)))
        epochs = train_mlp_early_stopping(net, loss_fn, z_train, y_train, z_val, y_val, lr, batch_size, max_epochs,
                                          patience, seed, device, float(setting.get("weight_decay", 0.0)),
                                          score_fn if stop_on_score else None)
        with torch.no_grad():
            out = net(torch.as_tensor(z_val, dtype=torch.float32, device=device)).cpu().numpy()
        scores.append(float(score_fn(out, y_val)))
        if best is None or scores[-1] > best[3]:
            best = (net.cpu(), dict(setting), epochs, scores[-1])
    return best[0], best[1], best[2], scores


def macro_f1_score(outputs: np.ndarray, y: np.ndarray) -> float:
    return f1_score(y, np.argmax(outputs, axis=1), average="macro", zero_division=0)


class Model(Base_EvalClass):
    task = "classification"

    def fit_settings(self) -> dict:
        # The grid is part of what was fitted: fits stored before it existed are redone.
        settings = super().fit_settings()
        if self.config.evalnetparams.get("early_stopping", "subject") == "subject":
            settings["reg_grid"] = [dict(s) for s in self.config.evalnetparams.get("reg_grid", REG_GRID)]
            settings["stopping"] = {"on": "val_macro_f1", "patience": self._params()[3]}
        return settings

    def _params(self):
        p = self.config.evalnetparams
        protocol = p.get("early_stopping", "subject")
        if protocol not in PROTOCOLS:
            raise ValueError(f"MLP_probe early_stopping={protocol!r}: expected one of {PROTOCOLS}")
        return protocol, int(p.get("hidden", 512)), int(p.get("max_epochs", 200)), \
            int(p.get("patience", PATIENCE[protocol])), \
            int(p.get("batch_size", 200)), float(p.get("lr", 1e-3))

    def _fit(self, train: Split, val: Split) -> None:
        protocol, hidden, max_epochs, patience, batch_size, lr = self._params()
        grid = list(self.config.evalnetparams.get("reg_grid", REG_GRID))
        f_train, f_val = self.features(train.X, "train features"), self.features(val.X, "val features")
        self.protocol = protocol
        if protocol == "reference":
            clf = MLPClassifier(hidden_layer_sizes=hidden, early_stopping=True, n_iter_no_change=patience,
                                validation_fraction=len(f_val) / (len(f_val) + len(f_train)), random_state=42,
                                shuffle=False, max_iter=max_epochs)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                clf.fit(np.concatenate([f_val, f_train]), np.concatenate([val.y, train.y]))
            self.mean, self.scale = np.zeros(f_train.shape[1]), np.ones(f_train.shape[1])
            self.weights = [torch.from_numpy(w.T.astype(np.float32)) for w in clf.coefs_]
            self.biases = [torch.from_numpy(b.astype(np.float32)) for b in clf.intercepts_]
            self.classes = clf.classes_.astype(np.int64)
            self.binary = len(self.classes) == 2
            return
        scaler = StandardScaler().fit(f_train)
        n_classes = int(max(train.y.max(), val.y.max())) + 1
        _, setting, epochs, scores = fit_regularised_mlp(
            f_train.shape[1], n_classes, hidden, F.cross_entropy, macro_f1_score, scaler.transform(f_train), train.y,
            scaler.transform(f_val), val.y, lr, batch_size, max_epochs, patience, self.config.seed, self.device, grid,
            stop_on_score=True)
        self.selection = {"setting": setting, "epochs": epochs, "val_macro_f1": dict(zip(map(str, grid), scores))}
        # As the linear probe: the chosen setting refitted on train + val (standardised on both),
        # for the epochs that were best on validation.
        f_all, y_all = np.concatenate([f_train, f_val]), np.concatenate([train.y, val.y])
        scaler = StandardScaler().fit(f_all)
        torch.manual_seed(self.config.seed)
        net = mlp(f_all.shape[1], hidden, n_classes, float(setting.get("dropout", 0.0)))
        train_mlp_epochs(net, F.cross_entropy, scaler.transform(f_all), y_all, lr, batch_size, epochs,
                         self.config.seed, self.device, float(setting.get("weight_decay", 0.0)))
        net.cpu()
        self.mean, self.scale = scaler.mean_, scaler.scale_
        self.weights = [layer.weight.detach().cpu() for layer in linear_layers(net)]
        self.biases = [layer.bias.detach().cpu() for layer in linear_layers(net)]
        self.classes = np.arange(n_classes, dtype=np.int64)
        self.binary = False

    def _predict(self, X: np.ndarray) -> np.ndarray:
        out = mlp_outputs((self.features(X, "test features") - self.mean) / self.scale, self.weights, self.biases)
        if self.binary:  # scikit-learn's binary MLP has one logistic output unit
            return self.classes[(out[:, 0] > 0).astype(int)]
        return self.classes[np.argmax(out, axis=1)]

    def _state(self) -> dict:
        return {"protocol": self.protocol, "mean": torch.from_numpy(np.asarray(self.mean, dtype=np.float64)),
                "scale": torch.from_numpy(np.asarray(self.scale, dtype=np.float64)), "weights": self.weights,
                "biases": self.biases, "classes": torch.from_numpy(self.classes), "binary": self.binary,
                "selection": getattr(self, "selection", None)}

    def _set_state(self, state: dict) -> None:
        self.protocol = state["protocol"]
        self.mean, self.scale = state["mean"].numpy(), state["scale"].numpy()
        self.weights, self.biases = state["weights"], state["biases"]
        self.classes, self.binary = state["classes"].numpy(), state["binary"]
        self.selection = state.get("selection")
