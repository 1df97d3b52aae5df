"""Cross-validation fold files: the one place that writes and reads them.

A labelled set is a folder of ``cv{k}_{split}_{X,y}.npy`` for folds k = 0 .. n-1 and splits
train / val / test: X of shape (N, C, T) (channels first, accelerometry in g, float32 or
float64), y of shape (N,) (integer class ids for classification; targets (N,) or (N, M) for
regression). Writers put both files of a split atomically (temporary file, fsync, rename) and
remove the files of folds beyond the ones just written, so a folder describes exactly one split.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from relcon.utils.io import atomic_save_npy

SPLITS = ("train", "val", "test")
FOLD_FILE = re.compile(r"^cv(\d+)_(train|val|test)_(X|y)\.npy$")


def fold_file(folder, fold: int, split: str, part: str) -> Path:
    """``folder/cv{fold}_{split}_{part}.npy`` (part "X" or "y")."""
    return Path(folder) / f"cv{fold}_{split}_{part}.npy"


def write_fold(folder, fold: int, split: str, X: np.ndarray, y: np.ndarray) -> None:
    """Write one split of one fold: X (N, C, T) and y (N,) or (N, M), each file atomically."""
    if len(X) != len(y):
        raise ValueError(f"fold {fold} {split}: {len(X)} windows but {len(y)} labels; expected equal counts")
    Path(folder).mkdir(parents=True, exist_ok=True)
    atomic_save_npy(fold_file(folder, fold, split, "X"), X)
    atomic_save_npy(fold_file(folder, fold, split, "y"), y)


def remove_stale_folds(folder, n_folds: int) -> list[Path]:
    """Delete fold files of folds >= ``n_folds`` (left by an earlier split of the same folder)."""
    removed = []
    for path in sorted(Path(folder).iterdir()) if Path(folder).is_dir() else []:
        m = FOLD_FILE.match(path.name)
        if m and int(m.group(1)) >= n_folds:
            path.unlink()
            removed.append(path)
    return removed


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
    if "capture24" in text:
        return "python relcon/data/process/process_capture24.py"
    if "shoulderphysio" in text:
        return "python relcon/data/process/process_shoulderphysio.py"
    return "the matching script in relcon/data/process/"


def _load_array(path: Path, what: str) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except Exception as e:
        raise ValueError(f"{path}: cannot be read as a numeric .npy array ({type(e).__name__}: {e}); "
                         f"expected {what}") from None


def load_split(folder, fold: int, mode: str, in_channels: int | None = None, task: str = "classification",
               class_num: int | None = None) -> Split:
    """Read and check ``cv{fold}_{mode}_{X,y}.npy``.

    Classification labels must be integer class ids in [0, class_num); regression windows whose
    targets are not finite are dropped and counted (``Split.dropped``).

    Raises:
        FileNotFoundError: a file is missing (the message names the command that creates it).
        ValueError: a file that is not a numeric array of the expected shape, an empty split, a
            label count that differs from the window count, non-finite signals, bad labels.
    """
    x_path, y_path = fold_file(folder, fold, mode, "X"), fold_file(folder, fold, mode, "y")
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
    """``{"train": Split, "val": Split, "test": Split}`` of fold ``fold`` (see ``load_split``)."""
    return {mode: load_split(folder, fold, mode, **kwargs) for mode in SPLITS}
