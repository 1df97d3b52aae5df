"""Evaluation configs and the pieces every evaluation model shares.

An evaluation judges a pre-trained encoder on a labelled task over cross-validation folds:
``<data_folder>/cv{k}_{train,val,test}_{X,y}.npy`` with X of shape (N, C, T) (channels first,
accelerometry in the units the encoder was pre-trained on) and y of shape (N,) (class ids for
classification; targets (N,) or (N, M) for regression).
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from relcon.models.Base_Model import Base_ModelConfig
from relcon.utils.paths import resolve_path
from relcon.utils.progress import progress

ENCODER_INITS = ("pretrained", "random")


class Base_EvalConfig(Base_ModelConfig):
    """``relcon.eval.<model_folder>.<model_file>.Model`` run over ``cv_splits`` folds.

    Args (the reference's keywords, plus two):
        name: the evaluation's name (its folder under the run, its row in the results).
        pretrain_epoch: pre-trained checkpoint: "best", "latest" or an epoch number.
        evalnetparams: model-specific settings, e.g. embed_dim, mlp_dim, class_num for the
            fine-tuning head; see each model's docstring.
        cv_splits: folds k = 0 .. cv_splits - 1 are read and evaluated.
        encoder_init: "pretrained" (default) or "random": the same encoder architecture from a
            seeded random initialisation (a baseline row).
    """

    def __init__(self, model_folder: str, model_file: str, data_config, name: str = "", epochs=50, lr=0.001,
                 batch_size=16, save_epochfreq=100, pretrain_epoch="best", evalnetparams={}, cv_splits=1,
                 num_threads=-1, verbose=1, seed=1234, encoder_init: str = "pretrained", **kwargs):
        super().__init__(model_folder=model_folder, model_file=model_file, data_config=data_config,
                         net_config=None, epochs=epochs, lr=lr, batch_size=batch_size,
                         save_epochfreq=save_epochfreq, seed=seed, num_threads=num_threads, **kwargs)
        if encoder_init not in ENCODER_INITS:
            raise ValueError(f"encoder_init={encoder_init!r}: expected one of {ENCODER_INITS}")
        self.name = name
        self.pretrain_epoch = pretrain_epoch
        self.evalnetparams = dict(evalnetparams)
        self.cv_splits = cv_splits
        self.verbose = verbose
        self.encoder_init = encoder_init

    @property
    def label(self) -> str:
        """Row label in the results: ``name/model_file`` (+ ``[random init]``)."""
        text = f"{self.name}/{self.model_file}" if self.name else self.model_file
        return text + (" [random init]" if self.encoder_init == "random" else "")

    @property
    def folder(self) -> str:
        """Folder of this evaluation under the run: ``name/model_file[_randominit]``."""
        return str(Path(self.name or ".") / (self.model_file + ("_randominit" if self.encoder_init == "random" else "")))


# ----------------------------------------------------------------------------- fold data
@dataclass
class Split:
    X: np.ndarray  # (N, C, T) float32
    y: np.ndarray  # (N,) or (N, M)
    path: str  # the X file, for messages
    y_path: str = ""
    dropped: int = 0  # regression: windows whose targets were not finite


def data_hint(folder: Path) -> str:
    """The command that creates a benchmark folder, for error messages."""
    text = str(folder)
    if "/sslbench/" in text:
        return "python relcon/data/process/process_comparesslbench_datasets.py"
    if "/priorpt/" in text:
        return "python relcon/data/process/process_comparepriorpt_datasets.py"
    if "synthetic_gait" in text or "pamap2_gait" in text:
        return ("python relcon/data/process/process_pamap2_gait.py" if "pamap2_gait" in text
                else "python relcon/data/process/process_synthetic_gait.py")
    if "synthetic_har" in text:
        return "python relcon/data/process/process_synthetic_har.py"
    return "the matching script in relcon/data/process/"


def _load_array(path: Path, what: str) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except Exception as e:
        raise ValueError(f"{path}: cannot be read as a numeric .npy array ({type(e).__name__}: {e}); "
                         f"expected {what}") from None


def load_split(folder, fold: int, mode: str, in_channels: int | None = None, task: str = "classification",
               class_num: int | None = None) -> Split:
    """Read and check ``cv{fold}_{mode}_{X,y}.npy``."""
    folder = Path(folder)
    x_path, y_path = folder / f"cv{fold}_{mode}_X.npy", folder / f"cv{fold}_{mode}_y.npy"
    for path in (x_path, y_path):
        if not path.exists():
            raise FileNotFoundError(f"{path} is missing (fold {fold}, {mode} split); create the folds with "
                                    f"`{data_hint(folder)}`")
    X = _load_array(x_path, "a float array (N, channels, time)")
    y = _load_array(y_path, "labels (N,)")
    if X.dtype.kind not in "fiu" or X.ndim != 3:
        raise ValueError(f"{x_path}: {X.dtype} array of shape {X.shape} found; expected a numeric array "
                         f"(N, channels, time)")
    if in_channels is not None and X.shape[1] != in_channels:
        raise ValueError(f"{x_path}: shape {X.shape} has {X.shape[1]} channels on axis 1; the encoder expects "
                         f"(N, {in_channels}, time) (channels first)")
    if len(X) == 0:
        raise ValueError(f"{x_path}: the {mode} split of fold {fold} is empty; expected at least one window")
    if len(y) != len(X):
        raise ValueError(f"{y_path}: {len(y)} labels for {len(X)} windows in {x_path.name}; expected equal counts")
    if not np.isfinite(X).all():
        raise ValueError(f"{x_path}: {int((~np.isfinite(X)).sum())} non-finite values; expected finite numbers")
    if task not in ("classification", "regression"):
        raise ValueError(f"task={task!r}: expected 'classification' or 'regression'")
    dropped = 0
    if task == "classification":
        if y.ndim != 1 or y.dtype.kind not in "fiu" or (y.dtype.kind == "f" and not np.all(np.mod(y, 1) == 0)):
            raise ValueError(f"{y_path}: {y.dtype} labels of shape {y.shape} found; expected integer class ids (N,)")
        y = y.astype(np.int64)
        upper = class_num if class_num is not None else None
        bad = (y < 0) | (y >= upper) if upper is not None else (y < 0)
        if bad.any():
            raise ValueError(f"{y_path}: label {int(y[bad][0])} found; expected class ids in "
                             f"[0, {upper if upper is not None else 'class_num'})"
                             + (" (class_num comes from evalnetparams)" if upper is not None else ""))
    else:
        if y.dtype.kind not in "fiu" or y.ndim not in (1, 2) or (y.ndim == 2 and y.shape[1] == 0):
            raise ValueError(f"{y_path}: {y.dtype} targets of shape {y.shape} found; expected numbers (N,) or (N, M)")
        y = y.astype(np.float64)
        finite = np.isfinite(y).reshape(len(y), -1).all(axis=1)
        dropped = int((~finite).sum())
        if dropped == len(y):
            raise ValueError(f"{y_path}: all {len(y)} targets of the {mode} split of fold {fold} are non-finite; "
                             f"expected finite numbers")
        if dropped:
            X, y = X[finite], y[finite]
    return Split(X.astype(np.float32, copy=False), y, str(x_path), str(y_path), dropped)


def load_fold(folder, fold: int, **kwargs) -> dict:
    return {mode: load_split(folder, fold, mode, **kwargs) for mode in ("train", "val", "test")}


# ----------------------------------------------------------------------------- encoders
def state_fingerprint(module: torch.nn.Module) -> str:
    """sha256 over a module's state_dict (parameters and buffers)."""
    h = hashlib.sha256()
    for key, value in module.state_dict().items():
        h.update(key.encode())
        h.update(value.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


@torch.no_grad()
def extract_features(encoder: torch.nn.Module, X: np.ndarray, batch_size: int = 256, device=None,
                     desc: str = "features") -> np.ndarray:
    """Frozen-encoder features: eval mode, no gradients, in batches. X (N, C, T) -> (N, D)."""
    device = device or next(encoder.parameters()).device
    was_training = encoder.training
    encoder.eval()
    out = []
    try:
        for start in progress(range(0, len(X), batch_size), desc=desc, leave=False):
            batch = torch.from_numpy(np.ascontiguousarray(X[start:start + batch_size])).to(device)
            out.append(encoder(batch).float().cpu().numpy())
    finally:
        encoder.train(was_training)
    return np.concatenate(out)


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
        return self.run_dir / "checkpoint_best.pkl"

    def fit_settings(self) -> dict:
        """The evaluation config's settings that shape the fitted model (stored with it)."""
        c = self.config
        settings = {"model": f"{c.model_folder}/{c.model_file}", "evalnetparams": c.evalnetparams,
                    "epochs": c.epochs, "lr": c.lr, "batch_size": c.batch_size, "seed": c.seed}
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
        from relcon.models.Base_Model import CheckpointError, load_checkpoint

        try:
            state = load_checkpoint(self.checkpoint)
        except CheckpointError as e:
            return f"the stored fit cannot be read ({e})"
        if state.get("encoder_source") != self.encoder_source:
            return "the encoder changed"
        if state.get("fit_settings") != self.fit_settings():
            return "the evaluation settings changed (model, evalnetparams, epochs, lr, batch_size or seed)"
        if not self.frozen_encoder:  # trained through the shared trainer: a killed run is not a fit
            from relcon.experiments.runner import training_state

            if training_state(self.run_dir, self.config.epochs) != "finished":
                return "its training did not finish"
        if train is not None and state.get("fit_data") != self.fit_data(*(s for s in (train, val) if s is not None)):
            return "the fold's train/val files changed"
        return None

    def is_fitted(self, train: Split | None = None, val: Split | None = None) -> bool:
        return self.stale_reason(train, val) is None

    def fit(self, train: Split, val: Split) -> None:
        from relcon.utils.io import atomic_torch_save

        before = state_fingerprint(self.encoder) if self.frozen_encoder else None
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._fit(train, val)
        if self.frozen_encoder:
            assert state_fingerprint(self.encoder) == before, "a probe changed the frozen encoder's weights"
        state = self._state()
        state.update(encoder_source=self.encoder_source, fit_settings=self.fit_settings(),
                     fit_data=self.fit_data(train, val))
        atomic_torch_save(state, self.checkpoint)

    def load(self) -> None:
        from relcon.models.Base_Model import load_checkpoint

        self._set_state(load_checkpoint(self.checkpoint, map_location=self.device))

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self._predict(X)

    def features(self, X: np.ndarray, desc: str = "features") -> np.ndarray:
        return extract_features(self.encoder, X, batch_size=max(self.config.batch_size, 256), device=self.device,
                                desc=desc)


def resolve_data_folder(config) -> Path:
    return resolve_path(config.data_config.data_folder)
