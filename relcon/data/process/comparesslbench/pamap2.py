"""sslbench/pamap2: ankle IMU accelerometer (±16 g) of PAMAP2, "wrist→leg" (docs/datasets.md §4).

Raw tree: ``<raw root>/sslbench/pamap2/`` as described in :mod:`relcon.data.process.pamap2_raw`.
"""
from __future__ import annotations

import numpy as np

from relcon.data.process import pamap2_raw
from relcon.utils.progress import progress as progress_bar

NAME = "pamap2"
SENSOR_COLUMNS = pamap2_raw.imu_columns("ankle", "acc16")  # 38, 39, 40 (m/s²)
KEEP_LABELS = (1, 2, 3, 4, 5, 6, 7, 12, 13, 16, 17, 24)  # gt = rank among those present: 0..11

ensure_raw = pamap2_raw.ensure_raw


def fill_gaps(values: np.ndarray, path, column: int) -> np.ndarray:
    """Linear interpolation over positions inside a column; leading NaNs take the first valid
    value, trailing NaNs the last (pandas ``interpolate().ffill().bfill()``)."""
    ok = ~np.isnan(values)
    if not ok.any():
        raise ValueError(f"{path}: column {column} has no valid value (all NaN)")
    if ok.all():
        return values
    pos = np.arange(len(values))
    out = values.copy()
    out[~ok] = np.interp(pos[~ok], pos[ok], values[ok])
    return out


def load_table(set_root, *, progress: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The PAMAP2 ankle table: user (n,) float64 (1..9), xyz (n, 3) float64 m/s², gt (n,) int64.

    Per file, NaN gaps of each sensor column are filled first; then rows whose activity is
    not in :data:`KEEP_LABELS` are dropped (transitions and optional-only activities), and
    the remaining ids are encoded as their rank among the ids present.
    """
    users, parts, labels = [], [], []
    files = pamap2_raw.list_subject_files(set_root)
    for f in progress_bar(files, desc="pamap2 files", disable=not progress, leave=False):
        data = pamap2_raw.read_columns(f.path, (pamap2_raw.COL_ACTIVITY,) + SENSOR_COLUMNS)
        xyz = np.column_stack([fill_gaps(data[:, 1 + i], f.path, c) for i, c in enumerate(SENSOR_COLUMNS)])
        parts.append(xyz)
        labels.append(data[:, 0])
        users.append(np.full(len(data), float(f.subject - 100)))
    user, xyz, label = np.concatenate(users), np.concatenate(parts), np.concatenate(labels)
    keep = np.isin(label, KEEP_LABELS)
    user, xyz, label = user[keep], xyz[keep], label[keep]
    gt = np.unique(label, return_inverse=True)[1].astype(np.int64).reshape(-1)
    return user, xyz, gt
