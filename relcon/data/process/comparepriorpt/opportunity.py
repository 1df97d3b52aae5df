"""priorpt/opportunity: right-wrist accelerometer of the Opportunity data set (docs/datasets.md §5).

Raw tree (``<raw root>/priorpt/opportunity/``)::

    OpportunityUCIDataset/dataset/S1-ADL1.dat ... S4-Drill.dat   (+ column_names.txt, ...)

Each ``.dat`` file: whitespace separated, 250 columns, ``NaN`` tokens, about 30 Hz.
Used columns: 0 MILLISEC, 243 Locomotion (0 null, 1 Stand, 2 Walk, 4 Sit, 5 Lie),
22/23/24 RWR accX/Y/Z (milli-g).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from relcon.data.process.common import (
    priorpt_assemble, read_whitespace_columns, set_dir, write_priorpt_outputs,
)
from relcon.data.process.download import Archive, ensure_extracted
from relcon.utils.progress import progress as progress_bar

NAME = "opportunity"
FAMILY = "priorpt"
URL = "https://archive.ics.uci.edu/static/public/226/opportunity+activity+recognition.zip"
DAT_DIR = Path("OpportunityUCIDataset") / "dataset"
N_COLUMNS = 250
COLUMNS = (0, 243, 22, 23, 24)  # timestamp, locomotion label, RWR acc x/y/z
SCALE = 1000.0  # milli-g -> g
# Y.npy ids: 1 Stand, 2 Walk, 3 Lie (raw 5), 4 Sit; fold y = their rank: 0 Stand, 1 Walk, 2 Lie, 3 Sit


def ensure_raw(set_root, *, download: bool = True, progress: bool = True) -> Path:
    """Make ``<set_root>/OpportunityUCIDataset/dataset`` present (tree, else the UCI archive saved
    as ``<set_root>/../opportunity.zip``, else a download of :data:`URL`); returns that folder."""
    set_root = Path(set_root)
    chain = [Archive(path=set_root.parent / f"{set_root.name}.zip", into=set_root, url=URL)]
    return ensure_extracted(set_root / DAT_DIR, chain, download_missing=download, progress=progress,
                            what=f"Opportunity ({set_root})")


def list_files(set_root) -> list[Path]:
    """The ``*.dat`` files, sorted by name (the pinned order)."""
    folder = Path(set_root) / DAT_DIR
    files = sorted(folder.glob("*.dat"), key=lambda p: p.name)
    if not files:
        raise FileNotFoundError(f"Opportunity: no .dat files in {folder}")
    return files


def subject_of(path: Path) -> int:
    """Subject id = the digit after the leading 'S' of the file name (``S3-ADL1.dat`` -> 3)."""
    name = Path(path).name
    if len(name) < 2 or not name[1].isdigit():
        raise ValueError(f"Opportunity: cannot read a subject id from {path}; expected names like S1-ADL1.dat")
    return int(name[1])


def read_file(path) -> np.ndarray:
    """(N, 5) float64 rows ``[timestamp, label, x, y, z]``; rows with a NaN in any of them dropped."""
    data = read_whitespace_columns(path, N_COLUMNS, COLUMNS)
    return data[~np.isnan(data).any(axis=1)]


def triple_rate(rows: np.ndarray) -> np.ndarray:
    """The reference's ×3 "upsampling" (kept as is, docs/datasets.md §5 step 3 and §9 #14).

    Timestamp and label are repeated 3 times. Sensor values: U[3t] = a[t],
    U[3t+1] = (a[t]+a[t+1])/3, U[3t+2] = 2(a[t]+a[t+1])/3, and the last two rows are 0.
    This is not an interpolation, and 3 × 30 Hz is then treated as 100 Hz.
    """
    n = len(rows)
    out = np.empty((3 * n, rows.shape[1]), dtype=np.float64)
    out[:, :2] = np.repeat(rows[:, :2], 3, axis=0)
    sensor = out[:, 2:]  # view
    pair_sum = rows[:-1, 2:] + rows[1:, 2:]
    sensor[0::3] = rows[:, 2:]
    sensor[1::3][: n - 1] = pair_sum / 3
    sensor[2::3][: n - 1] = pair_sum * 2 / 3
    sensor[3 * n - 2:] = 0.0
    return out


def build_arrays(set_root, *, progress: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """X (N, 1000, 3) float64 in g, Y (N,) int64 in {1, 2, 3, 4}, pid (N,) int64."""
    files = list_files(set_root)

    def per_file():
        for path in progress_bar(files, desc="opportunity files", disable=not progress, leave=False):
            yield triple_rate(read_file(path)), subject_of(path)

    return priorpt_assemble(per_file(), scale=SCALE, keep=lambda y: y != 0, relabel={5: 3})


def process(raw_root=None, out_root=None, *, download: bool = True, progress: bool = True) -> dict:
    """Process priorpt/opportunity: raw files under ``<raw_root>/priorpt/opportunity`` ->
    ``<out_root>/priorpt/opportunity/processed`` (+ ``processed_leakfree``). Returns a summary."""
    set_root = set_dir(raw_root, FAMILY, NAME)
    ensure_raw(set_root, download=download, progress=progress)
    X, Y, pid = build_arrays(set_root, progress=progress)
    return write_priorpt_outputs(out_root, NAME, X, Y, pid)
