"""The "priorpt" benchmark sets (Opportunity, PAMAP2 hand IMU): 10 s windows, leave-one-subject-out.

``processed/`` holds the reference folds (the published numbers used them, quirk included);
``processed_leakfree/`` holds true leave-one-subject-out folds (see docs/datasets.md).
"""
from __future__ import annotations

from relcon.data.process.common import PRIORPT_LEAKFREE_SUBDIR, PROCESSED_SUBDIR, process_family, processed_dir
from relcon.data.process.comparepriorpt import opportunity, pamap2

FAMILY = "priorpt"
DATASETS = ("opportunity", "pamap2")  # processing order of the reference
MODULES = {"opportunity": opportunity, "pamap2": pamap2}
CV_SPLITS = {"opportunity": 4, "pamap2": 8}  # cv_splits of the evaluation configs (full data)

__all__ = ["FAMILY", "DATASETS", "CV_SPLITS", "PROCESSED_SUBDIR", "PRIORPT_LEAKFREE_SUBDIR",
           "processed_dir", "process_datasets"]


def process_datasets(datasets=DATASETS, raw_root=None, out_root=None, *, download: bool = True,
                     progress: bool = True, strict_folds: bool = False) -> list[dict]:
    """Process the chosen priorpt sets in the reference order; returns one summary per set.

    Each summary is also written to ``<out_root>/priorpt/<set>/processing_summary.json``. The
    number of folds is compared with :data:`CV_SPLITS` (a warning, or an error if
    ``strict_folds``).
    """
    def one(name):
        return MODULES[name].process(raw_root, out_root, download=download, progress=progress)

    return process_family(FAMILY, DATASETS, datasets, CV_SPLITS, one, out_root, strict_folds=strict_folds)
