"""Process the sslbench benchmark sets (HHAR, MotionSense, PAMAP2 ankle IMU).

    python relcon/data/process/process_comparesslbench_datasets.py [--raw-dir ROOT] [--out-dir ROOT]
        [--datasets hhar motionsense pamap2] [--no-download] [--strict-folds] [-q]

Works from any directory, as a file or as ``python -m relcon.data.process.process_comparesslbench_datasets``.
A set processed alone gets the same folds as in a full run. See docs/datasets.md.
"""
from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make `import relcon` work without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from relcon.data.process import cli, comparesslbench  # noqa: E402


def main(argv=None) -> int:
    return cli.main(
        "process_comparesslbench_datasets",
        "Download (if needed) and process the sslbench sets into <out>/sslbench/<set>/processed/.",
        comparesslbench.DATASETS, comparesslbench.process_datasets, argv)


if __name__ == "__main__":
    sys.exit(main())
