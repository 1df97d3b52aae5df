"""PAMAP2 wrist -> cadence: hand-IMU windows labelled with the cadence counted at the ankle.

    python relcon/data/process/process_pamap2_gait.py [--raw-dir ROOT] [--out-dir DIR]
        [--window-s 10] [--no-download] [-q]

Works from any directory, as a file or as ``python -m relcon.data.process.process_pamap2_gait``.
A benchmark of this repository, not of the paper (whose gait data is private).

Raw data: the PAMAP2 files of the benchmark scripts, ``ROOT/priorpt/pamap2/`` (or
``ROOT/sslbench/pamap2/`` when only that copy is present), in any of the layouts of
docs/datasets.md (extracted tree, inner zip, UCI archive); downloaded into ``priorpt/pamap2/``
only when neither is present and ``--no-download`` is not given.

Windows. Rows of the walking-type activities (4 walking, 5 running, 7 Nordic walking, 12
ascending stairs, 13 descending stairs) are cut into runs of one activity; a run also ends where
the timestamps jump (more than 1.5 samples). Each run gives non-overlapping windows of
``--window-s`` seconds from its start (the remainder is dropped), so no window crosses an
activity change. Wireless drop-outs (rows whose hand or ankle accelerometer is NaN) are filled by
linear interpolation when the longest gap is at most 0.1 s and at most 10 % of the window is
missing; otherwise the window is skipped.

Label: the ankle IMU's ±16 g accelerometer (m/s² ÷ g) goes through the step detector of
:mod:`relcon.data.gait` (placement "ankle"): steps of both feet per minute, float64. Windows with
no detectable steps are excluded and counted.

Input: the hand IMU's ±16 g accelerometer, prepared like the priorpt PAMAP2 set: ÷ g, clipped to
±3 g, 100 Hz, saved as X (N, 3, T) float32.

Folds: leave one subject out, one fold per subject with windows (in subject order), the
validation subject being the largest other subject id (as the leak-free priorpt folds). A subject
without walking windows gets no fold (logged); 8 folds on the full data (subjects 101-108; 109
did none of these activities).

Outputs in ``--out-dir`` (default ``relcon/data/datasets/pamap2_gait/processed``), replaced as a
whole: ``cv{k}_{train,val,test}_{X,y}.npy`` and ``folds.json`` (subjects and window counts per
fold, windows per activity, exclusions).
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make `import relcon` work without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

import numpy as np  # noqa: E402
import scipy.constants  # noqa: E402

from relcon.data.gait import window_cadences  # noqa: E402
from relcon.data.process import cli, pamap2_raw  # noqa: E402
from relcon.data.folds import write_fold  # noqa: E402
from relcon.data.process.common import check_fold_count, priorpt_leakfree_folds, replaced_folder, set_dir  # noqa: E402
from relcon.data.process.download import RawDataMissing  # noqa: E402
from relcon.utils.io import atomic_write_json  # noqa: E402
from relcon.utils.paths import cli_path, resolve_path  # noqa: E402
from relcon.utils.progress import progress as progress_bar  # noqa: E402

log = logging.getLogger(__name__)

DEFAULT_OUT = "relcon/data/datasets/pamap2_gait/processed"
GAIT_ACTIVITIES = {4: "walking", 5: "running", 7: "Nordic walking", 12: "ascending stairs", 13: "descending stairs"}
CV_SPLITS = 8  # subjects 101-108 of the full data; cv_splits of the evaluation configs
FS = pamap2_raw.SAMPLE_RATE_HZ
G = scipy.constants.g  # m/s² -> g
CLIP_G = 3.0
MAX_GAP_S = 0.1
MAX_MISSING = 0.1
COLUMNS = ((pamap2_raw.COL_TIMESTAMP, pamap2_raw.COL_ACTIVITY) + pamap2_raw.imu_columns("hand", "acc16")
           + pamap2_raw.imu_columns("ankle", "acc16"))  # 0, 1, 4-6, 38-40


def locate_raw(raw_root=None, *, download: bool = True, progress: bool = True) -> Path:
    """The PAMAP2 set folder to read: ``priorpt/pamap2`` or, if only it holds the data,
    ``sslbench/pamap2`` (never downloaded twice)."""
    for family in ("priorpt", "sslbench"):
        set_root = set_dir(raw_root, family, "pamap2")
        try:
            pamap2_raw.ensure_raw(set_root, download=False, progress=progress)
            return set_root
        except RawDataMissing:
            continue
    set_root = set_dir(raw_root, "priorpt", "pamap2")
    pamap2_raw.ensure_raw(set_root, download=download, progress=progress)
    return set_root


def activity_runs(timestamp: np.ndarray, activity: np.ndarray) -> list[tuple[int, int, int]]:
    """(start, stop, activity id) of the maximal runs of one walking-type activity with
    contiguous timestamps."""
    gait = np.isin(activity, list(GAIT_ACTIVITIES))
    cut = np.ones(len(activity) + 1, dtype=bool)  # cut[i]: a run may not continue from row i-1 to i
    cut[1:-1] = (activity[1:] != activity[:-1]) | (np.diff(timestamp) > 1.5 / FS) | ~gait[1:] | ~gait[:-1]
    starts = np.flatnonzero(cut[:-1] & gait)
    cuts = np.flatnonzero(cut)
    stops = cuts[np.searchsorted(cuts, starts, side="right")]  # the next cut after each start
    return [(int(a), int(b), int(activity[a])) for a, b in zip(starts, stops)]


def fill_gaps(block: np.ndarray, max_gap: int, max_missing: float) -> np.ndarray | None:
    """(T, C) window with NaN rows -> linearly interpolated copy, or None if a gap is longer than
    ``max_gap`` rows or more than ``max_missing`` of the rows are missing."""
    missing = np.isnan(block).any(axis=1)
    if not missing.any():
        return block
    if missing.mean() > max_missing:
        return None
    edges = np.flatnonzero(np.diff(np.concatenate([[0], missing.astype(np.int8), [0]])))
    if (edges[1::2] - edges[::2]).max() > max_gap:  # lengths of the runs of missing rows
        return None
    t = np.arange(len(block))
    return np.stack([np.interp(t, t[~missing], block[~missing, c]) for c in range(block.shape[1])], axis=1)


def subject_windows(path, window: int, counts: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Windows of one ``.dat`` file: hand X (n, T, 3) in g (clipped), ankle cadence y (n,)
    (NaN where no steps were found) and activity ids (n,). ``counts`` is updated with the
    windows skipped for gaps."""
    data = pamap2_raw.read_columns(path, COLUMNS)  # (rows, 8)
    max_gap = int(round(MAX_GAP_S * FS))
    hands, ankles, acts = [], [], []
    for start, stop, act in activity_runs(data[:, 0], data[:, 1]):
        for s in range(start, stop - window + 1, window):
            hand = fill_gaps(data[s:s + window, 2:5], max_gap, MAX_MISSING)
            ankle = fill_gaps(data[s:s + window, 5:8], max_gap, MAX_MISSING)
            if hand is None or ankle is None:
                counts["gaps"] += 1
                continue
            hands.append(np.clip(hand / G, -CLIP_G, CLIP_G))
            ankles.append(ankle / G)
            acts.append(act)
    if not acts:
        return np.empty((0, window, 3)), np.empty(0), np.empty(0, dtype=np.int64)
    min_spm = max(40.0, np.ceil(2 * 2 * 60.0 / (window / FS)))  # two strides must fit in a window
    y = window_cadences(np.stack(ankles), FS, "ankle", min_spm=min_spm)
    return np.stack(hands), y, np.asarray(acts, dtype=np.int64)


def build_arrays(set_root, window_s: float = 10.0, *, progress: bool = True):
    """X (N, T, 3) float64 in g, y (N,) cadence, pid (N,), activity (N,), and the exclusions."""
    if window_s < 2:
        raise ValueError(f"window of {window_s} s: expected at least 2 s (two strides must fit in a window)")
    window = int(round(window_s * FS))
    files = pamap2_raw.list_subject_files(set_root)
    counts = {"gaps": 0, "no_steps": 0, "no_steps_by_subject": {}}
    Xs, ys, pids, acts = [], [], [], []
    subjects = sorted({f.subject for f in files})
    for f in progress_bar(files, desc="pamap2 gait files", disable=not progress, leave=False):
        X, y, act = subject_windows(f.path, window, counts)
        steps = np.isfinite(y)
        if (~steps).any():
            counts["no_steps"] += int((~steps).sum())
            counts["no_steps_by_subject"][f.subject] = counts["no_steps_by_subject"].get(f.subject, 0) + int((~steps).sum())
            log.info("%s: %d of %d windows without detectable steps at the ankle: excluded", f.path.name,
                     int((~steps).sum()), len(y))
        Xs.append(X[steps])
        ys.append(y[steps])
        acts.append(act[steps])
        pids.append(np.full(int(steps.sum()), f.subject, dtype=np.int64))
    X, y, pid, act = (np.concatenate(a) for a in (Xs, ys, pids, acts))
    counts["no_walking_windows"] = [s for s in subjects if s not in set(pid.tolist())]
    for s in counts["no_walking_windows"]:
        log.warning("pamap2_gait: subject %d has no walking-type window with detectable steps: no fold for it", s)
    if counts["gaps"]:
        log.info("pamap2_gait: %d windows skipped for missing data (a gap > %.2f s or > %d %% missing)",
                 counts["gaps"], MAX_GAP_S, round(100 * MAX_MISSING))
    return X, y, pid, act, counts


def write_folds(out_dir, X: np.ndarray, y: np.ndarray, pid: np.ndarray) -> list[dict]:
    """Leave-one-subject-out folds with a disjoint validation subject, into ``out_dir``
    (replaced as a whole). X is saved as (n, 3, T) float32, y as float64."""
    Xt = np.ascontiguousarray(X.transpose(0, 2, 1), dtype=np.float32)  # (N, 3, T)
    folds = []
    with replaced_folder(out_dir) as stage:
        for k, parts in enumerate(priorpt_leakfree_folds(pid, "pamap2_gait")):
            row = {"fold": k}
            for part, idx in zip(("train", "val", "test"), parts):
                write_fold(stage, k, part, Xt[idx], y[idx].astype(np.float64))
                row[part] = int(len(idx))
                row[f"{part}_subjects"] = np.unique(pid[idx]).tolist()
            folds.append(row)
    return folds


def process(raw_root=None, out_dir=None, window_s: float = 10.0, *, download: bool = True,
            progress: bool = True) -> dict:
    """Raw PAMAP2 -> ``out_dir`` (default ``relcon/data/datasets/pamap2_gait/processed``).
    Returns the summary also written to ``out_dir/folds.json``."""
    out_dir = resolve_path(out_dir or DEFAULT_OUT)
    set_root = locate_raw(raw_root, download=download, progress=progress)
    X, y, pid, act, counts = build_arrays(set_root, window_s, progress=progress)
    if len(y) == 0:
        raise ValueError(f"pamap2_gait: no window with detectable steps in {set_root}; nothing to write")
    folds = write_folds(out_dir, X, y, pid)
    check_fold_count("pamap2_gait", len(folds), CV_SPLITS)
    summary = {
        "dataset": "pamap2_gait", "raw_dir": str(set_root), "processed_dir": str(out_dir), "window_s": window_s,
        "windows": int(len(y)), "subjects": np.unique(pid).tolist(),
        "windows_by_activity": {GAIT_ACTIVITIES[a]: int((act == a).sum()) for a in GAIT_ACTIVITIES},
        "cadence_spm": {"min": float(y.min()), "mean": float(y.mean()), "max": float(y.max())},
        "excluded": {"gaps": counts["gaps"], "no_steps": counts["no_steps"],
                     "no_steps_by_subject": {str(s): n for s, n in counts["no_steps_by_subject"].items()}},
        "subjects_without_fold": counts["no_walking_windows"], "folds": folds, "expected_folds": CV_SPLITS,
    }
    atomic_write_json(out_dir / "folds.json", summary)
    return summary


def print_summary(s: dict) -> None:
    print(f"pamap2_gait: {s['windows']} windows of {s['window_s']:g} s from subjects {s['subjects']}, "
          f"{len(s['folds'])} folds (expected {s['expected_folds']}) -> {s['processed_dir']}")
    print("  windows per activity: " + ", ".join(f"{a} {n}" for a, n in s["windows_by_activity"].items()))
    c = s["cadence_spm"]
    print(f"  cadence {c['min']:.1f}-{c['max']:.1f} steps/min (mean {c['mean']:.1f})")
    e = s["excluded"]
    print(f"  excluded: {e['no_steps']} windows without detectable steps, {e['gaps']} with missing data; "
          f"subjects without a fold: {s['subjects_without_fold'] or 'none'}")
    print(f"  {'fold':<5}{'train':>8}{'val':>8}{'test':>8}   test subject / val subject")
    for f in s["folds"]:
        print(f"  cv{f['fold']:<3}{f['train']:>8}{f['val']:>8}{f['test']:>8}   "
              f"{','.join(map(str, f['test_subjects']))} / {','.join(map(str, f['val_subjects']))}")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="process_pamap2_gait", description=__doc__.splitlines()[0])
    p.add_argument("--raw-dir", default=None, metavar="ROOT", type=cli_path,
                   help="root holding priorpt/pamap2 (or sslbench/pamap2) with the raw PAMAP2 files, as for the "
                        "benchmark scripts (default relcon/data/datasets); a relative path is taken from the current "
                        "directory")
    p.add_argument("--out-dir", default=None, metavar="DIR", type=cli_path,
                   help=f"output folder (default {DEFAULT_OUT}); a relative path is taken from the current directory")
    p.add_argument("--window-s", type=float, default=10.0, help="window length in seconds (default: %(default)s)")
    p.add_argument("--no-download", action="store_true",
                   help="never use the network: fail with instructions if the raw files are missing")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars or log messages")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    cli.setup_logging(args.quiet)
    summary = cli.run(process, args.raw_dir, args.out_dir, args.window_s, download=not args.no_download,
                      progress=not args.quiet)
    print_summary(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
