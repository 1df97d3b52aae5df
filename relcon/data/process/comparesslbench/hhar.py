"""sslbench/hhar: smartwatch accelerometers of Heterogeneity HAR, "wrist→wrist" (docs/datasets.md §2).

Raw tree (``<raw root>/sslbench/hhar/``)::

    Activity recognition exp.zip                      inner zip, from the UCI archive
    Activity recognition exp/Watch_accelerometer.csv  (after extracting it)

``Watch_accelerometer.csv``: comma separated with a header,
``Index,Arrival_Time,Creation_Time,x,y,z,User,Model,Device,gt``; x/y/z in m/s², users a..i,
Model ``gear`` (~100 Hz) or ``lgwatch`` (~200 Hz), gt one of
bike/sit/stand/walk/stairsup/stairsdown/null.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from relcon.data.process.download import Archive, ensure_extracted

NAME = "hhar"
URL = "https://archive.ics.uci.edu/static/public/344/heterogeneity+activity+recognition.zip"
INNER = "Activity recognition exp"
CSV = "Watch_accelerometer.csv"
COLUMNS = ("Index", "Arrival_Time", "Creation_Time", "x", "y", "z", "User", "Model", "Device", "gt")
LABELS = {"bike": 0, "sit": 1, "stairsdown": 2, "stairsup": 3, "stand": 4, "walk": 5}


def ensure_raw(set_root, *, download: bool = True, progress: bool = True) -> Path:
    """Make ``<set_root>/Activity recognition exp/Watch_accelerometer.csv`` present (file, else the
    inner zip, else the UCI archive saved as ``<set_root>/../hhar.zip``, else a download)."""
    set_root = Path(set_root)
    chain = [
        Archive(path=set_root / f"{INNER}.zip", into=set_root),
        Archive(path=set_root.parent / f"{set_root.name}.zip", into=set_root, url=URL),
    ]
    return ensure_extracted(set_root / INNER / CSV, chain, download_missing=download, progress=progress,
                            what=f"HHAR ({set_root})")


def load_table(set_root, *, progress: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The HHAR table: user (n,) object array of str, xyz (n, 3) float64 m/s², gt (n,) int64.

    Rows with any missing cell (including every ``null`` label) are dropped; then the gear
    rows in file order are followed by every second LG-watch row, counted over the whole LG
    subset (not per device: reference behaviour, kept). (One file: ``progress`` shows nothing.)
    """
    path = Path(set_root) / INNER / CSV
    df = pd.read_csv(path)
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; expected {list(COLUMNS)}")
    df = df.dropna()
    for c in ("x", "y", "z"):
        if not pd.api.types.is_numeric_dtype(df[c]):
            raise ValueError(f"{path}: column {c!r} must be numeric, found dtype {df[c].dtype}")
    unknown = sorted(set(df["gt"]) - set(LABELS))
    if unknown:
        raise ValueError(f"{path}: unknown activity label(s) {unknown}; expected {sorted(LABELS)} or null")
    gear = df[df["Model"] == "gear"]
    lg = df[df["Model"] == "lgwatch"].iloc[::2]
    table = pd.concat([gear, lg])
    user = np.array([str(u) for u in table["User"]], dtype=object)
    xyz = table[["x", "y", "z"]].to_numpy(dtype=np.float64)
    gt = table["gt"].map(LABELS).to_numpy(dtype=np.int64)
    return user, xyz, gt
