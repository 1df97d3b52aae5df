#!/usr/bin/env python
"""Launch a RelCon experiment: ``python run_exp.py --config NAME`` (``--list`` shows the names).

See README.md for the flags; the logic lives in ``relcon/experiments/runner.py``.
"""
import sys
from pathlib import Path

# Works from any working directory, installed or not.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from relcon.experiments.runner import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
