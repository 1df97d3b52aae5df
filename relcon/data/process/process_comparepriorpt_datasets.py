"""Process the priorpt benchmark sets (Opportunity, then PAMAP2 hand IMU).

    python relcon/data/process/process_comparepriorpt_datasets.py [--raw-dir ROOT] [--out-dir ROOT]
        [--datasets opportunity pamap2] [--no-download] [--strict-folds] [-q]

Works from any directory, as a file or as ``python -m relcon.data.process.process_comparepriorpt_datasets``.
See docs/datasets.md.
"""
from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make `import relcon` work without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from relcon.data.process import cli, comparepriorpt  # noqa: E402


def main(argv=None) -> int:
    return cli.main(
        "process_comparepriorpt_datasets",
        "Download (if needed) and process the priorpt sets into <out>/priorpt/<set>/processed/ "
        "(reference folds) and processed_leakfree/ (leak-free folds).",
        comparepriorpt.DATASETS, comparepriorpt.process_datasets, argv)


if __name__ == "__main__":
    sys.exit(main())
