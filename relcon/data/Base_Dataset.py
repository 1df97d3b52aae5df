"""Data configs and the pre-training data layer.

Pre-training data is a tree of segments ``<split>/<subject>/<hour>/*.npy``, each a float
array (T, C): 2.56 s of 3-axis accelerometry at 100 Hz is (256, 3). The parent folder of a
segment (the subject-hour) is the unit of "same user" for RelCon's within-user candidates.

The tree is indexed once (sorted, so the order does not depend on the file system); loaders
never list folders per sample.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch


# ---------------------------------------------------------------- configs
class Base_DatasetConfig:
    """``data_folder`` is relative to the repository root (or absolute). ``generate``, optional:
    ``{"name": generator, "args": {...}}`` from ``relcon.data.generators`` creates the data
    when the folder is missing (synthetic sets)."""

    def __init__(self, data_folder: str, generate: dict | None = None):
        self.data_folder = data_folder
        self.generate = generate
        self.type = None


class SupervisedDataConfig(Base_DatasetConfig):
    """Labelled arrays in ``data_folder``: ``cv{k}_{train,val,test}_{X,y}.npy`` with X (N, C, T)."""

    def __init__(self, X_annotates: list = [""], y_annotate: str = "", **kwargs):
        super().__init__(**kwargs)
        self.X_annotates = list(X_annotates)
        self.y_annotate = y_annotate
        self.type = "supervised"


class SSLDataConfig(Base_DatasetConfig):
    """Unlabelled segment tree: ``data_folder/{train,val,test}/<subject>/<hour>/*.npy``."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.type = "ssl"


# ---------------------------------------------------------------- segment files
class DataError(ValueError):
    """Bad input data; the message names the file and what was expected."""


def load_segment(path, expected_shape: tuple | None = None, shape_source: str | None = None) -> np.ndarray:
    """Load one segment as float32 (T, C), checking it is readable, numeric, 2-D and finite.

    ``shape_source`` names the file that fixed ``expected_shape`` (for the error message).
    """
    path = str(path)
    try:
        array = np.load(path, allow_pickle=False)
    except Exception as e:  # truncated, not an .npy, object arrays, ...
        raise DataError(f"{path}: cannot be read as a numeric .npy array ({type(e).__name__}: {e})") from None
    if not isinstance(array, np.ndarray) or array.dtype.kind != "f":
        raise DataError(f"{path}: dtype {getattr(array, 'dtype', type(array))} found; expected a floating-point "
                        f"array of shape (time, channels)")
    if array.ndim != 2:
        raise DataError(f"{path}: shape {array.shape} found; expected a 2-D array (time, channels)")
    if expected_shape is not None and tuple(array.shape) != tuple(expected_shape):
        raise DataError(f"{path}: shape {array.shape} found; expected {tuple(expected_shape)} like "
                        f"{shape_source or 'the other segments of this dataset'} (all segments must share "
                        f"time length and channel count)")
    if not np.isfinite(array).all():
        bad = np.argwhere(~np.isfinite(array))[0]
        raise DataError(f"{path}: non-finite value {array[tuple(bad)]} at (time={bad[0]}, channel={bad[1]}); "
                        f"expected finite numbers")
    return array.astype(np.float32, copy=False)


class SegmentIndex:
    """Sorted index of the ``*.npy`` segments below ``root``, grouped by parent folder.

    Attributes:
        files: list of file paths (str), sorted.
        folder_of: (n_files,) int64, the folder id of each file.
        folders: list of folder paths (str).
        folder_members: list of (n_in_folder,) int64 arrays of file ids.
    """

    def __init__(self, root, files: list[str]):
        self.root = str(root)
        self.files = files
        parents = [os.path.dirname(f) for f in files]
        self.folders = sorted(set(parents))
        folder_id = {f: i for i, f in enumerate(self.folders)}
        self.folder_of = np.fromiter((folder_id[p] for p in parents), dtype=np.int64, count=len(files))
        order = np.argsort(self.folder_of, kind="stable")
        counts = np.bincount(self.folder_of, minlength=len(self.folders))
        self.folder_members = np.split(order, np.cumsum(counts)[:-1]) if len(files) else []

    @classmethod
    def scan(cls, root) -> "SegmentIndex":
        root = Path(root)
        if not root.is_dir():
            raise FileNotFoundError(f"data folder {root} does not exist")
        files = []
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            files.extend(os.path.join(dirpath, n) for n in sorted(filenames) if n.endswith(".npy"))
        files.sort()
        return cls(root, files)

    def __len__(self) -> int:
        return len(self.files)

    def read(self, file_id: int, expected_shape: tuple | None = None, shape_source: str | None = None) -> np.ndarray:
        """Segment ``file_id`` as float32 (T, C), validated (see ``load_segment``)."""
        return load_segment(self.files[file_id], expected_shape, shape_source)

    def folder_sizes(self) -> np.ndarray:
        return np.array([len(m) for m in self.folder_members], dtype=np.int64)


def seeded_rng(seed: int, stream: int, epoch: int, index: int) -> np.random.Generator:
    """Generator for one sample's random draws: a pure function of (seed, stream, epoch, index).

    Draws then do not depend on worker processes, on the batch order or on where a run was
    resumed, which is what makes resumed runs bitwise identical.
    """
    return np.random.default_rng((int(seed) % (2**32), int(stream), int(epoch), int(index)))


class SegmentDataset(torch.utils.data.Dataset):
    """One segment per item: ``{"signal": (T, C) float32, "index": file id, "filepath": str}``.

    ``set_epoch`` must be called before iterating so that per-sample random draws (in
    subclasses) differ between epochs; validation uses ``stream=1`` and a fixed epoch.
    """

    def __init__(self, index: SegmentIndex, seed: int = 0, train: bool = True, file_ids=None):
        self.index = index
        self.seed = seed
        self.stream = 0 if train else 1
        self.epoch = 0
        self.file_ids = np.arange(len(index), dtype=np.int64) if file_ids is None else np.asarray(file_ids)
        if len(self.file_ids) == 0:
            raise DataError(f"{index.root}: no .npy segments found; expected <subject>/<hour>/*.npy files")
        # The first segment fixes the shape every other segment must have.
        self.shape_source = index.files[int(self.file_ids[0])]
        self.expected_shape = tuple(index.read(int(self.file_ids[0])).shape)

    def check_channels(self, needed: int, what: str, exact: bool = False) -> None:
        """Fail before training when the segments have fewer (or, ``exact``, other) channels than needed."""
        channels = self.expected_shape[1]
        if channels < needed or (exact and channels != needed):
            raise DataError(f"{self.shape_source}: shape {self.expected_shape} found, i.e. {channels} channel(s); "
                            f"{what} expects {'' if exact else 'at least '}{needed} (segments are (time, channels))")

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def rng(self, item: int) -> np.random.Generator:
        return seeded_rng(self.seed, self.stream, self.epoch if self.stream == 0 else 0, item)

    def load(self, file_id: int) -> np.ndarray:
        return self.index.read(int(file_id), self.expected_shape, self.shape_source)

    def __len__(self) -> int:
        return len(self.file_ids)

    def __getitem__(self, item: int) -> dict:
        fid = int(self.file_ids[item])
        return {"signal": torch.from_numpy(self.load(fid)), "index": fid, "filepath": self.index.files[fid]}


def ssl_split_folders(data_config: SSLDataConfig) -> dict:
    """``{"train": Path, "val": Path, "test": Path}`` of an SSL data config, resolved against the repo."""
    from relcon.utils.paths import resolve_path

    root = resolve_path(data_config.data_folder)
    return {split: root / split for split in ("train", "val", "test")}
