"""priorpt/pamap2: hand IMU accelerometer (±16 g) of PAMAP2, "wrist→wrist" (docs/datasets.md §6).

Raw tree: ``<raw root>/priorpt/pamap2/`` as described in :mod:`relcon.data.process.pamap2_raw`.
"""
from __future__ import annotations

import numpy as np
import scipy.constants

from relcon.data.process import pamap2_raw
from relcon.data.process.common import priorpt_assemble, set_dir, write_priorpt_outputs
from relcon.utils.progress import progress as progress_bar

NAME = "pamap2"
FAMILY = "priorpt"
COLUMNS = (pamap2_raw.COL_TIMESTAMP, pamap2_raw.COL_ACTIVITY) + pamap2_raw.imu_columns("hand", "acc16")  # 0, 1, 4, 5, 6
SCALE = scipy.constants.g  # m/s² -> g
KEEP_LABELS = (1, 2, 3, 4, 12, 13, 16, 17)  # Y.npy keeps these raw ids; fold y = their rank 0..7


def read_file(path) -> np.ndarray:
    """(N, 5) float64 rows ``[timestamp, activity, x, y, z]`` at 100 Hz; rows with a NaN in any
    of these columns (wireless drop-outs) are dropped, so windows span the gaps."""
    data = pamap2_raw.read_columns(path, COLUMNS)
    return data[~np.isnan(data).any(axis=1)]


def build_arrays(set_root, *, progress: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """X (N, 1000, 3) float64 in g, Y (N,) int64 raw activity ids, pid (N,) int64 (101..109)."""
    files = pamap2_raw.list_subject_files(set_root)

    def per_file():
        for f in progress_bar(files, desc="pamap2 files", disable=not progress, leave=False):
            yield read_file(f.path), f.subject

    return priorpt_assemble(per_file(), scale=SCALE, keep=lambda y: np.isin(y, KEEP_LABELS))


def process(raw_root=None, out_root=None, *, download: bool = True, progress: bool = True) -> dict:
    """Process priorpt/pamap2: raw files under ``<raw_root>/priorpt/pamap2`` ->
    ``<out_root>/priorpt/pamap2/processed`` (+ ``processed_leakfree``). Returns a summary."""
    set_root = set_dir(raw_root, FAMILY, NAME)
    pamap2_raw.ensure_raw(set_root, download=download, progress=progress)
    X, Y, pid = build_arrays(set_root, progress=progress)
    return write_priorpt_outputs(out_root, NAME, X, Y, pid)
