"""PAMAP2 raw files: make them present, list them, read columns.

Shared by priorpt/pamap2 (hand IMU), sslbench/pamap2 (ankle IMU) and any later benchmark
on the same ``subject10N.dat`` files. Layout of one set folder ``<root>/<family>/pamap2/``::

    PAMAP2_Dataset.zip            inner zip, from the UCI archive (+ readme.pdf)
    PAMAP2_Dataset/Protocol/subject101.dat ... subject109.dat
    PAMAP2_Dataset/Optional/subject101.dat, 105, 106, 108, 109

Each ``.dat`` file is whitespace separated text, 54 columns, 100 Hz, ``NaN`` for missing
values. Column indices (0-based): 0 timestamp (s), 1 activityID, 2 heart rate (bpm),
3-19 hand IMU, 20-36 chest IMU, 37-53 ankle IMU. Within an IMU block: temperature,
acc ±16 g (3, m/s²), acc ±6 g (3), gyroscope (3, rad/s), magnetometer (3, µT),
orientation (4, invalid).
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from relcon.data.process.common import read_whitespace_columns
from relcon.data.process.download import Archive, ensure_extracted

log = logging.getLogger(__name__)

URL = "https://archive.ics.uci.edu/static/public/231/pamap2+physical+activity+monitoring.zip"
DATASET_DIR = "PAMAP2_Dataset"
INNER_ZIP = "PAMAP2_Dataset.zip"
SESSIONS = ("Protocol", "Optional")
N_COLUMNS = 54
SAMPLE_RATE_HZ = 100

COL_TIMESTAMP = 0
COL_ACTIVITY = 1
COL_HEART_RATE = 2
IMU_FIRST_COLUMN = {"hand": 3, "chest": 20, "ankle": 37}
IMU_FIELDS = {"temperature": (0, 1), "acc16": (1, 4), "acc6": (4, 7), "gyro": (7, 10), "mag": (10, 13),
              "orientation": (13, 17)}

ACTIVITIES = {
    0: "other (transient)", 1: "lying", 2: "sitting", 3: "standing", 4: "walking", 5: "running",
    6: "cycling", 7: "Nordic walking", 9: "watching TV", 10: "computer work", 11: "car driving",
    12: "ascending stairs", 13: "descending stairs", 16: "vacuum cleaning", 17: "ironing",
    18: "folding laundry", 19: "house cleaning", 20: "playing soccer", 24: "rope jumping",
}

_FILE_NAME = re.compile(r"subject(1\d\d)\.dat")


def imu_columns(location: str, field: str) -> tuple[int, ...]:
    """Column indices of one IMU field, e.g. ``imu_columns("ankle", "acc16") == (38, 39, 40)``."""
    if location not in IMU_FIRST_COLUMN:
        raise ValueError(f"unknown IMU location {location!r}; expected one of {tuple(IMU_FIRST_COLUMN)}")
    if field not in IMU_FIELDS:
        raise ValueError(f"unknown IMU field {field!r}; expected one of {tuple(IMU_FIELDS)}")
    lo, hi = IMU_FIELDS[field]
    return tuple(range(IMU_FIRST_COLUMN[location] + lo, IMU_FIRST_COLUMN[location] + hi))


@dataclass(frozen=True)
class SubjectFile:
    subject: int  # 101 ... 109
    session: str  # "Protocol" or "Optional"
    path: Path


def ensure_raw(set_root, *, download: bool = True, progress: bool = True) -> Path:
    """Make ``<set_root>/PAMAP2_Dataset/{Protocol,Optional}`` present; returns the dataset folder.

    Uses, in order: the extracted tree; the inner zip ``PAMAP2_Dataset.zip``; the UCI archive
    saved as ``<set_root>/../pamap2.zip``; a download of :data:`URL` (unless ``download`` is
    false, in which case :class:`~relcon.data.process.download.RawDataMissing` explains where
    to place the files).
    """
    set_root = Path(set_root)
    chain = [
        Archive(path=set_root / INNER_ZIP, into=set_root),
        Archive(path=set_root.parent / f"{set_root.name}.zip", into=set_root, url=URL),
    ]
    ensure_extracted(set_root / DATASET_DIR / SESSIONS[0], chain, download_missing=download,
                     progress=progress, what=f"PAMAP2 ({set_root})")
    return set_root / DATASET_DIR


def list_subject_files(set_root, sessions=SESSIONS) -> list[SubjectFile]:
    """The ``.dat`` files of ``sessions`` in processing order: each session folder sorted by name,
    Protocol before Optional. Other entries (not ending in ``.dat``) are ignored; a ``.dat``
    file not named ``subject1NN.dat`` is an error."""
    base = Path(set_root) / DATASET_DIR
    out = []
    for session in sessions:
        folder = base / session
        if not folder.is_dir():
            if session == "Optional":
                log.warning("PAMAP2: %s is missing; going on without the optional sessions", folder)
                continue
            raise FileNotFoundError(f"PAMAP2: folder {folder} is missing (expected subject1NN.dat files)")
        for name in sorted(p.name for p in folder.iterdir() if p.name.endswith(".dat")):
            m = _FILE_NAME.fullmatch(name)
            if m is None:
                raise ValueError(f"PAMAP2: unexpected file {folder / name}; expected names subject101.dat ... subject109.dat")
            out.append(SubjectFile(int(m.group(1)), session, folder / name))
    if not out:
        raise FileNotFoundError(f"PAMAP2: no subject1NN.dat files under {base}")
    return out


def read_columns(path, columns) -> np.ndarray:
    """Columns of one ``.dat`` file as a (rows, len(columns)) float64 array, in the order given.

    ``NaN`` tokens stay NaN; what to do with them is the caller's choice. The file must have
    54 whitespace-separated columns (checked on its first and last line).
    """
    return read_whitespace_columns(path, N_COLUMNS, columns)
