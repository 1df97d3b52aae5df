"""The "sslbench" benchmark sets (HHAR, MotionSense, PAMAP2 ankle): 2 s windows, 5 subject folds.

Each set module provides ``ensure_raw(set_root, download=, progress=)`` and
``load_table(set_root, progress=)`` -> (user, xyz, gt); :func:`process` turns that table into the
fold files. The folds come from :func:`relcon.data.process.common.sslbench_folds`, which
reproduces the reference's single HHAR → MotionSense → PAMAP2 random stream, so a set
processed alone gets the same folds as in a full run.
"""
from __future__ import annotations

import numpy as np

from relcon.data.process.common import (
    SSLBENCH_N_FOLDS, SSLBENCH_ORDER, process_family, processed_dir, replaced_folder, set_dir, sslbench_folds,
    write_sslbench_folds,
)
from relcon.data.process.comparesslbench import hhar, motionsense, pamap2

FAMILY = "sslbench"
DATASETS = SSLBENCH_ORDER  # hhar, motionsense, pamap2: the order of the shared random stream
MODULES = {"hhar": hhar, "motionsense": motionsense, "pamap2": pamap2}
CV_SPLITS = {name: SSLBENCH_N_FOLDS for name in DATASETS}  # cv_splits of the evaluation configs

__all__ = ["FAMILY", "DATASETS", "CV_SPLITS", "process", "process_datasets"]


def process(name: str, raw_root=None, out_root=None, *, download: bool = True, progress: bool = True) -> dict:
    """Process one sslbench set: raw files under ``<raw_root>/sslbench/<name>`` ->
    ``<out_root>/sslbench/<name>/processed/cv{k}_{train,val,test}_{X,y}.npy``. Returns a summary."""
    if name not in MODULES:
        raise ValueError(f"unknown sslbench data set {name!r}; expected one of {DATASETS}")
    module = MODULES[name]
    set_root = set_dir(raw_root, FAMILY, name)
    module.ensure_raw(set_root, download=download, progress=progress)
    user, xyz, gt = module.load_table(set_root, progress=progress)
    subjects = sorted(set(user.tolist()))
    folds = sslbench_folds(name, subjects)
    folder = processed_dir(out_root, FAMILY, name)
    with replaced_folder(folder) as stage:
        counts = write_sslbench_folds(stage, name, user, xyz, gt, folds, progress=progress)
    return {"family": FAMILY, "dataset": name, "processed_dir": str(folder), "rows": int(len(gt)),
            "subjects": subjects,
            "labels": {str(k): int(v) for k, v in zip(*np.unique(gt, return_counts=True))},
            "folds": counts}


def process_datasets(datasets=DATASETS, raw_root=None, out_root=None, *, download: bool = True,
                     progress: bool = True, strict_folds: bool = False) -> list[dict]:
    """Process the chosen sslbench sets (always in the order HHAR, MotionSense, PAMAP2); returns
    one summary per set, also written to ``<out_root>/sslbench/<set>/processing_summary.json``."""
    def one(name):
        return process(name, raw_root, out_root, download=download, progress=progress)

    return process_family(FAMILY, DATASETS, datasets, CV_SPLITS, one, out_root, strict_folds=strict_folds)
