"""sslbench/motionsense: iPhone accelerometer in the trouser pocket, "wrist→waist" (docs/datasets.md §3).

Raw tree (``<raw root>/sslbench/motionsense/``), each zip extracted into a folder of its own
name whose content is a top folder of the same name again::

    B_Accelerometer_data/B_Accelerometer_data/<trial>/sub_<k>.csv   (g)
    C_Gyroscope_data/C_Gyroscope_data/<trial>/sub_<k>.csv           (rad/s)

Trials ``dws_1`` ... ``sit_13`` (15), subjects k = 1..24, 50 Hz. Each csv has the saved pandas
index as first column (read back as ``Unnamed: 0``) followed by x, y, z.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from relcon.data.process.download import Archive, ensure_extracted
from relcon.utils.progress import progress as progress_bar

log = logging.getLogger(__name__)

NAME = "motionsense"
BASE_URL = "https://github.com/mmalekzadeh/motion-sense/raw/refs/heads/master/data/"
ACC = "B_Accelerometer_data"
GYRO = "C_Gyroscope_data"
URLS = {ACC: BASE_URL + f"{ACC}.zip", GYRO: BASE_URL + f"{GYRO}.zip"}
# trial folder -> label id: dws 0, ups 1, wlk 2, jog 3, std 4, sit 5
TRIAL_LABELS = {
    "dws_1": 0, "dws_2": 0, "dws_11": 0, "ups_3": 1, "ups_4": 1, "ups_12": 1,
    "wlk_7": 2, "wlk_8": 2, "wlk_15": 2, "jog_9": 3, "jog_16": 3, "std_6": 4, "std_14": 4,
    "sit_5": 5, "sit_13": 5,
}
SUBJECTS = tuple(range(1, 25))
INDEX_COLUMN = "Unnamed: 0"


def trial_dir(set_root, sensor: str) -> Path:
    return Path(set_root) / sensor / sensor


def ensure_raw(set_root, *, download: bool = True, progress: bool = True) -> Path:
    """Make both sensor trees present (tree, else ``<set_root>/<sensor>.zip``, else a download)."""
    set_root = Path(set_root)
    for sensor, url in URLS.items():
        chain = [Archive(path=set_root / f"{sensor}.zip", into=set_root / sensor, url=url)]
        ensure_extracted(trial_dir(set_root, sensor), chain, download_missing=download, progress=progress,
                         what=f"MotionSense {sensor} ({set_root})")
    return set_root


def list_trials(set_root) -> list[str]:
    """Trial folders of the accelerometer tree, sorted by name (the pinned order); entries that
    are not one of the 15 trials (``.DS_Store``, ...) are ignored."""
    folder = trial_dir(set_root, ACC)
    if not folder.is_dir():
        raise FileNotFoundError(f"MotionSense: folder {folder} is missing")
    names = sorted(p.name for p in folder.iterdir())
    trials = [n for n in names if n in TRIAL_LABELS]
    ignored = [n for n in names if n not in TRIAL_LABELS]
    if ignored:
        log.info("MotionSense: ignoring entries that are not trials in %s: %s", folder, ignored)
    if not trials:
        raise FileNotFoundError(f"MotionSense: no trial folders ({sorted(TRIAL_LABELS)}) in {folder}")
    missing = sorted(set(TRIAL_LABELS) - set(trials))
    if missing:
        log.warning("MotionSense: trial folders %s are missing in %s", missing, folder)
    return trials


def read_xyz(path: Path) -> np.ndarray:
    """(n, 3) float64 x/y/z of one csv (the saved index column dropped)."""
    if not path.exists():
        raise FileNotFoundError(f"MotionSense: {path} is missing")
    df = pd.read_csv(path)
    if INDEX_COLUMN not in df.columns:
        raise ValueError(f"{path}: expected the saved index column {INDEX_COLUMN!r} (header ',x,y,z'), "
                         f"found columns {list(df.columns)}")
    df = df.drop(columns=[INDEX_COLUMN])
    if df.shape[1] != 3:
        raise ValueError(f"{path}: expected 3 columns x, y, z after the index, found {list(df.columns)}")
    return df.to_numpy(dtype=np.float64)


def double_rate(d: np.ndarray) -> np.ndarray:
    """×2 linear upsampling: U[2t] = d[t], U[2t+1] = (d[t]+d[t+1])/2, U[2n−1] = d[n−1]."""
    out = np.empty((2 * len(d), d.shape[1]), dtype=np.float64)
    out[0::2] = d
    out[1:-1:2] = (d[:-1] + d[1:]) / 2
    if len(d):
        out[-1] = d[-1]
    return out


def load_table(set_root, *, progress: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The MotionSense table: user (n,) float64 (1..24), xyz (n, 3) float64 g, gt (n,) float64.

    Rows are appended trial by trial (sorted), subject by subject, in time order. The
    accelerometer of a trial is cut to the gyroscope's length (the gyroscope only sets the
    length; a longer gyroscope file is an error, as in the reference).
    """
    acc_root, gyro_root = trial_dir(set_root, ACC), trial_dir(set_root, GYRO)
    users, parts, labels = [], [], []
    trials = list_trials(set_root)
    for trial in progress_bar(trials, desc="motionsense trials", disable=not progress, leave=False):
        for k in SUBJECTS:
            acc_path = acc_root / trial / f"sub_{k}.csv"
            gyro_path = gyro_root / trial / f"sub_{k}.csv"
            acc, gyro = read_xyz(acc_path), read_xyz(gyro_path)
            n = len(gyro)
            if n > len(acc):
                raise ValueError(f"MotionSense: {gyro_path} has {n} rows, more than the {len(acc)} rows of "
                                 f"{acc_path}; the accelerometer is cut to the gyroscope length, never extended")
            up = double_rate(acc[:n])
            parts.append(up)
            users.append(np.full(len(up), float(k)))
            labels.append(np.full(len(up), float(TRIAL_LABELS[trial])))
    return np.concatenate(users), np.concatenate(parts), np.concatenate(labels)
