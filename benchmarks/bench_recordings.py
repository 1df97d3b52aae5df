"""Time ``process_recordings`` on one day of 100 Hz accelerometry in a CSV.gz.

    python benchmarks/bench_recordings.py [--hours 24] [--workdir /tmp/bench_recordings] [--keep]

Writes (once; reused while it exists) a synthetic recording in the Capture-24 format, header
``time,x,y,z`` with ISO date-times and 5-decimal values in g, 8.64 M rows for 24 h, then times
the whole command-line processing (reading, units check, resampling, segmenting, writing the
packed layout and summary) in a fresh interpreter, as a user would run it. Prints the wall time
and the summary's counts. The target is <= 10 s for one day on the 2-core machine of BENCHMARKS.md
(``bench_cohort.py --week`` times the same day inside its cohort run).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]


def write_day(path: Path, hours: float, seed: int = 0) -> None:
    n = int(hours * 3600 * 100)
    rng = np.random.default_rng(seed)
    t = np.arange(n) / 100.0
    xyz = np.stack([0.3 * np.sin(2 * np.pi * 0.5 * t), 0.2 * np.cos(2 * np.pi * 1.7 * t), np.ones(n)], axis=1)
    xyz += 0.05 * rng.standard_normal((n, 3))
    stamps = pd.Timestamp("2024-03-04 00:00:00") + pd.to_timedelta(np.arange(n) * 10, unit="ms")
    frame = pd.DataFrame({"time": stamps, "x": xyz[:, 0], "y": xyz[:, 1], "z": xyz[:, 2]})
    tmp = path.with_name(path.name + ".part")
    frame.to_csv(tmp, index=False, float_format="%.5f", date_format="%Y-%m-%d %H:%M:%S.%f",
                 compression={"method": "gzip", "compresslevel": 1})
    tmp.replace(path)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--hours", type=float, default=24.0)
    p.add_argument("--workdir", default="/tmp/bench_recordings")
    p.add_argument("--layout", default="packed", choices=("packed", "npy"))
    args = p.parse_args()
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    source = work / f"B001_{args.hours:g}h.csv.gz"
    if not source.exists():
        started = time.perf_counter()
        write_day(source, args.hours)
        print(f"wrote {source} ({source.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - started:.0f} s")
    out = work / "out"
    command = [sys.executable, str(REPO / "relcon/data/process/process_recordings.py"), str(source), "--out", str(out),
               "--val", "0", "--overwrite", "--quiet", "--layout", args.layout]
    started = time.perf_counter()
    subprocess.run(command, check=True, cwd=REPO, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    summary = json.loads((out / "summary.json").read_text())
    print(f"{args.hours:g} h of 100 Hz CSV.gz ({int(args.hours * 360_000):,} rows): {wall:.1f} s "
          f"-> {summary['hours']} hours, {summary['segments']} segments ({args.layout})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
