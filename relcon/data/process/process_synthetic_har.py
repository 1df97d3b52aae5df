"""Generate the synthetic HAR set and write subject-wise CV folds.

Usage (from any working directory):
    python relcon/data/process/process_synthetic_har.py [--out-dir DIR] [--subjects 12] ...
    python -m relcon.data.process.process_synthetic_har

Writes ``cv{k}_{train,val,test}_{X,y}.npy`` (X: (N, 3, T) float32 in g at 100 Hz; y: (N,) int64 index
into ``relcon.data.synthetic.ACTIVITIES``) and ``folds.json`` into ``--out-dir``.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

# Running the file directly puts only this folder on sys.path; the package lives at the repo root.
_REPO_ROOT = Path(__file__).resolve().parents[3]
if str(_REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(_REPO_ROOT))

import numpy as np  # noqa: E402

from relcon.data.synthetic import ACTIVITIES, make_har_dataset, write_supervised_folds  # noqa: E402
from relcon.data.process.synthetic_cli import base_parser, print_folds  # noqa: E402
from relcon.utils.paths import resolve_path  # noqa: E402

DEFAULT_OUT = "relcon/data/datasets/synthetic_har/processed"


def build_parser() -> argparse.ArgumentParser:
    p = base_parser(__doc__.splitlines()[0], DEFAULT_OUT, default_T=256)
    p.add_argument("--windows-per-activity", type=int, default=20,
                   help="windows per subject and activity (default: %(default)s)")
    return p


def main(argv=None) -> dict:
    args = build_parser().parse_args(argv)
    out_dir = resolve_path(args.out_dir)
    t0 = time.perf_counter()
    X, y, pid = make_har_dataset(n_subjects=args.subjects, windows_per_activity=args.windows_per_activity,
                                 T=args.T, seed=args.seed)
    t_gen = time.perf_counter() - t0
    summary = write_supervised_folds(X, y, pid, out_dir, n_folds=args.folds, seed=args.seed)
    t_all = time.perf_counter() - t0

    counts = np.bincount(y, minlength=len(ACTIVITIES))
    print(f"synthetic HAR: {len(y)} windows of {args.T} samples (100 Hz), {args.subjects} subjects, "
          f"generated in {t_gen:.2f} s, written in {t_all - t_gen:.2f} s")
    print("  classes: " + ", ".join(f"{a}={c}" for a, c in zip(ACTIVITIES, counts)))
    print_folds(summary, out_dir)
    return summary


if __name__ == "__main__":
    main()
