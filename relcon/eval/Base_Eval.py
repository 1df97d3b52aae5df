"""Evaluation configs and the pieces every evaluation model shares.

An evaluation judges a pre-trained encoder on a labelled task over cross-validation folds
(``relcon/data/folds.py``: ``cv{k}_{train,val,test}_{X,y}.npy``, X (N, C, T) in the units the
encoder was pre-trained on, y (N,) class ids or (N,)/(N, M) regression targets).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch

# Re-exported: fold reading lived here before relcon/data/folds.py.
from relcon.data.folds import Split, data_hint, load_fold, load_split  # noqa: F401
from relcon.models.Base_Model import Base_ModelConfig
from relcon.runs import CheckpointError, checkpoint_path, load_checkpoint, state_digest, training_state
from relcon.utils.io import atomic_torch_save
from relcon.utils.inference import batched_inference

ENCODER_INITS = ("pretrained", "random", "features")
# Row label suffix and folder suffix of the baseline encoders.
INIT_LABELS = {"random": " [random init]", "features": " [hand-crafted features]"}
INIT_FOLDERS = {"random": "_randominit", "features": "_features"}


@dataclass(kw_only=True)
class Base_EvalConfig(Base_ModelConfig):
    """``relcon.eval.<model_folder>.<model_file>.Model`` run over ``cv_splits`` folds.

    Args (the reference's keywords, plus two):
        name: the evaluation's name (its folder under the run, its row in the results).
        pretrain_epoch: pre-trained checkpoint: "best", "latest" or an epoch number.
        evalnetparams: model-specific settings, e.g. embed_dim, mlp_dim, class_num for the
            fine-tuning head; see each model's docstring.
        cv_splits: folds k = 0 .. cv_splits - 1 are read and evaluated.
        verbose: the reference's verbosity flag (kept for its configs).
        encoder_init: "pretrained" (default), "random": the same encoder architecture from a
            seeded random initialisation, or "features": hand-crafted features, no learning
            (``relcon/nets/Features/Features_Net.py``; frozen-encoder evaluations only). The
            last two are baseline rows.
    """

    trainer_package: ClassVar[str] = "relcon.eval"

    name: str = ""
    pretrain_epoch: object = "best"
    evalnetparams: dict = field(default_factory=dict)
    cv_splits: int = 1
    verbose: int = 1
    encoder_init: str = "pretrained"

    def __post_init__(self):
        super().__post_init__()
        if self.encoder_init not in ENCODER_INITS:
            raise ValueError(f"encoder_init={self.encoder_init!r}: expected one of {ENCODER_INITS}")
        self.evalnetparams = dict(self.evalnetparams)

    @property
    def label(self) -> str:
        """Row label in the results: ``name/model_file`` (+ ``[random init]``)."""
        text = f"{self.name}/{self.model_file}" if self.name else self.model_file
        return text + INIT_LABELS.get(self.encoder_init, "")

    @property
    def folder(self) -> str:
        """Folder of this evaluation under the run: ``name/model_file[_randominit|_features]``."""
        return str(Path(self.name or ".") / (self.model_file + INIT_FOLDERS.get(self.encoder_init, "")))


# ----------------------------------------------------------------------------- encoders
state_fingerprint = state_digest  # the name this module exported before relcon/runs.py


def extract_features(encoder: torch.nn.Module, X: np.ndarray, batch_size: int = 256, device=None,
                     desc: str = "features", precision: str = "fp32") -> np.ndarray:
    """Frozen-encoder features: eval mode, no gradients, in batches, the forward pass in
    ``precision`` ("fp32" or "bf16"). X (N, C, T) -> (N, D) float32."""
    return batched_inference(encoder, X, batch_size=batch_size, device=device, desc=desc, precision=precision)


class Base_EvalClass:
    """An evaluation model for one fold: ``fit(train, val)``, ``predict(X)``, saved in ``run_dir``.

    Subclasses set ``task`` ("classification" or "regression") and implement ``_fit``,
    ``_predict``, ``_save`` / ``_load``. The encoder's identity (checkpoint and weights digest), the
    evaluation settings and the fold files' identity are stored with the fitted model, so a stale
    fit is redone instead of reused (``stale_reason``).
    """

    task = "classification"
    frozen_encoder = True

    def __init__(self, config: Base_EvalConfig, encoder: torch.nn.Module, run_dir, device, encoder_source: dict):
        self.config = config
        self.encoder = encoder
        self.run_dir = Path(run_dir)
        self.device = torch.device(device)
        self.encoder_source = dict(encoder_source)

    # --- what subclasses supply
    def _fit(self, train: Split, val: Split) -> None:
        raise NotImplementedError

    def _predict(self, X: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _state(self) -> dict:
        raise NotImplementedError

    def _set_state(self, state: dict) -> None:
        raise NotImplementedError

    # --- shared
    @property
    def checkpoint(self) -> Path:
        return checkpoint_path(self.run_dir, "best")

    def fit_settings(self) -> dict:
        """The evaluation config's settings that shape the fitted model (stored with it)."""
        c = self.config
        settings = {"model": f"{c.model_folder}/{c.model_file}", "evalnetparams": c.evalnetparams,
                    "epochs": c.epochs, "lr": c.lr, "batch_size": c.batch_size, "seed": c.seed}
        if c.precision != "fp32":  # absent for fp32, so that fits stored before the option stay valid
            settings["precision"] = c.precision
        return json.loads(json.dumps(settings, sort_keys=True, default=str))  # plain, comparable after a load

    @staticmethod
    def fit_data(*splits: Split) -> dict:
        """Size and modification time of the files the fit read (a re-processed fold refits)."""
        identity = {}
        for split in splits:
            for path in (split.path, split.y_path):
                if path and os.path.exists(path):
                    stat = os.stat(path)
                    identity[str(path)] = [int(stat.st_size), int(stat.st_mtime_ns)]
        return identity

    def stale_reason(self, train: Split | None = None, val: Split | None = None) -> str | None:
        """Why the stored fit cannot be reused (None: it can). ``train``/``val`` given: their
        files must also be the ones it was fitted on."""
        if not self.checkpoint.exists():
            return "no fitted model yet"
        try:
            state = load_checkpoint(self.checkpoint)
        except CheckpointError as e:
            return f"the stored fit cannot be read ({e})"
        if state.get("encoder_source") != self.encoder_source:
            return "the encoder changed"
        if state.get("fit_settings") != self.fit_settings():
            return "the evaluation settings changed (model, evalnetparams, epochs, lr, batch_size, seed or precision)"
        if not self.frozen_encoder:  # trained through the shared trainer: a killed run is not a fit
            if training_state(self.run_dir, self.config.epochs) != "finished":
                return "its training did not finish"
        if train is not None and state.get("fit_data") != self.fit_data(*(s for s in (train, val) if s is not None)):
            return "the fold's train/val files changed"
        return None

    def is_fitted(self, train: Split | None = None, val: Split | None = None) -> bool:
        return self.stale_reason(train, val) is None

    def fit(self, train: Split, val: Split) -> None:
        before = state_digest(self.encoder) if self.frozen_encoder else None
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._fit(train, val)
        if self.frozen_encoder:
            assert state_digest(self.encoder) == before, "a probe changed the frozen encoder's weights"
        state = self._state()
        state.update(encoder_source=self.encoder_source, fit_settings=self.fit_settings(),
                     fit_data=self.fit_data(train, val))
        atomic_torch_save(state, self.checkpoint)

    def load(self) -> None:
        self._set_state(load_checkpoint(self.checkpoint, map_location=self.device))

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self._predict(X)

    def features(self, X: np.ndarray, desc: str = "features") -> np.ndarray:
        return extract_features(self.encoder, X, batch_size=max(self.config.batch_size, 256), device=self.device,
                                desc=desc, precision=self.config.precision)
