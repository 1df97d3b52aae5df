"""Pieces shared by the benchmark processors (specification: docs/datasets.md §1).

* output locations and an all-or-nothing writer for a ``processed/`` folder;
* sslbench (HHAR, MotionSense, PAMAP2): subject folds on one shared random stream, 200-sample
  windows, the CPython majority vote, per-fold standardisation (docs/datasets.md §1.3, §1.4);
* priorpt (Opportunity, PAMAP2): 1000-sample windows, cleaning, the reference folds with their
  positional quirk and the leak-free alternative (docs/datasets.md §1.5).

Functions take everything they need as arguments; nothing here reads ``sys.argv``.
"""
from __future__ import annotations

import functools
import json
import logging
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from relcon.data.folds import write_fold
from relcon.utils.io import atomic_save_npy, atomic_write_json, replaced_folder  # noqa: F401 (used by the processors)
from relcon.utils.paths import DATASETS_ROOT, resolve_path
from relcon.utils.progress import progress as progress_bar

log = logging.getLogger(__name__)

PROCESSED_SUBDIR = "processed"
PRIORPT_LEAKFREE_SUBDIR = "processed_leakfree"
SUMMARY_NAME = "processing_summary.json"  # written beside processed/, never inside it
FAMILIES = ("priorpt", "sslbench")


# --------------------------------------------------------------------------------------
# locations and writing


def root_dir(root=None) -> Path:
    """A raw or output root (holding ``priorpt/`` and ``sslbench/``); relative paths are
    taken from the repository root, never from the current directory."""
    return DATASETS_ROOT if root is None else resolve_path(root)


def set_dir(root, family: str, name: str) -> Path:
    if family not in FAMILIES:
        raise ValueError(f"unknown dataset family {family!r}; expected one of {FAMILIES}")
    return root_dir(root) / family / name


def processed_dir(root, family: str, name: str, *, leakfree: bool = False) -> Path:
    """``<root>/<family>/<name>/processed`` (or ``processed_leakfree`` for priorpt sets)."""
    if leakfree and family != "priorpt":
        raise ValueError("leak-free folds exist only for the priorpt sets")
    return set_dir(root, family, name) / (PRIORPT_LEAKFREE_SUBDIR if leakfree else PROCESSED_SUBDIR)


def save_arrays(folder: Path, arrays: dict) -> None:
    """``name -> array``, each saved atomically as ``folder/name.npy``."""
    for name, arr in arrays.items():
        atomic_save_npy(folder / f"{name}.npy", arr)


def write_summary(root, family: str, name: str, summary: dict) -> Path:
    path = set_dir(root, family, name) / SUMMARY_NAME
    atomic_write_json(path, summary)
    return path


def check_fold_count(dataset: str, n_folds: int, expected: int | None, *, strict: bool = False) -> None:
    """Compare the folds written with the evaluation config's ``cv_splits``.

    A mismatch is expected on reduced data (fewer subjects) and only logged as a warning,
    unless ``strict``: then it raises, because the evaluation would read missing folds or
    ignore written ones.
    """
    if expected is None or n_folds == expected:
        return
    msg = (f"{dataset}: {n_folds} folds written, but the evaluation config expects cv_splits = {expected} "
           f"(normal for reduced data; on the full data set this means the raw files are incomplete)")
    if strict:
        raise ValueError(msg)
    log.warning(msg)


def process_family(family: str, order: Sequence[str], chosen, cv_splits: dict, process_one: Callable[[str], dict],
                   out_root, *, strict_folds: bool = False) -> list[dict]:
    """Run ``process_one(name)`` for the chosen sets of a family in ``order``; check each set's
    fold count against ``cv_splits`` and write its summary beside ``processed/``."""
    unknown = [d for d in chosen if d not in order]
    if unknown:
        raise ValueError(f"unknown {family} data set(s) {unknown}; expected some of {tuple(order)}")
    summaries = []
    for name in (d for d in order if d in chosen):
        log.info("%s/%s ...", family, name)
        summary = process_one(name)
        check_fold_count(f"{family}/{name}", len(summary["folds"]), cv_splits[name], strict=strict_folds)
        summary["expected_folds"] = cv_splits[name]
        write_summary(out_root, family, name, summary)
        summaries.append(summary)
    return summaries


def _edge_lines(path: Path, tail_bytes: int = 1 << 16) -> tuple[str, str]:
    """First and last non-empty lines of a text file (the last read from its final bytes)."""
    with open(path, "rb") as f:
        first = b""
        for line in f:
            if line.strip():
                first = line
                break
        f.seek(max(0, f.seek(0, os.SEEK_END) - tail_bytes))
        tail = [line for line in f.read().splitlines() if line.strip()]
    return first.decode("utf-8", "replace"), (tail[-1].decode("utf-8", "replace") if tail else "")


def read_whitespace_columns(path, n_columns: int, columns: Sequence[int]) -> np.ndarray:
    """Chosen columns of a whitespace-separated numeric text file, as float64, in the order
    given (``NaN`` tokens stay NaN).

    The first and the last line must have ``n_columns`` tokens (this catches a wrong file and
    a truncated copy; other lines are not counted, to keep reading fast).
    """
    path = Path(path)
    columns = [int(c) for c in columns]
    bad = [c for c in columns if not 0 <= c < n_columns]
    if bad:
        raise ValueError(f"columns {bad} are out of range 0..{n_columns - 1}")
    first, last = _edge_lines(path)
    for where, line in (("first", first), ("last", last)):
        if len(line.split()) != n_columns:
            raise ValueError(f"{path}: expected {n_columns} whitespace-separated columns, "
                             f"found {len(line.split())} in the {where} line (truncated or not a data file?)")
    import pandas as pd

    try:
        df = pd.read_csv(path, sep=r"\s+", header=None, usecols=sorted(set(columns)), dtype=np.float64)
    except (ValueError, pd.errors.ParserError) as err:
        raise ValueError(f"{path}: not a numeric data file ({err})") from err
    return df[columns].to_numpy(dtype=np.float64)


def majority_label(labels: list):
    """Window label of the sslbench sets: ``max(set(L), key=L.count)`` on a Python list.

    The tie rule is CPython's set iteration order (docs/datasets.md §1.4): for ids 0..7 the
    smallest id wins a tie; for larger ids it depends on hash slots and first appearance (a
    100/100 tie of 3 and 8 is won by 8). Keep ``labels`` a list of Python scalars
    (``ndarray.tolist()``).
    """
    return max(set(labels), key=labels.count)


# --------------------------------------------------------------------------------------
# sslbench folds (docs/datasets.md §1.3)

SSLBENCH_ORDER = ("hhar", "motionsense", "pamap2")
SSLBENCH_N_SUBJECTS = {"hhar": 9, "motionsense": 24, "pamap2": 9}
SSLBENCH_N_FOLDS = 5
SSLBENCH_SEED = 42

Fold = tuple  # (train subjects, val subjects, test subjects), each an ordered list


def _shared_stream_folds(subject_lists: list) -> list:
    """Folds for several sets that draw, in order, from one ``RandomState(42)`` stream.

    Uses the very same set expressions as the reference, so the list orders follow CPython's
    set iteration order (hash-seed dependent for ``str`` ids; see :func:`sslbench_folds`).
    """
    from sklearn.model_selection import train_test_split

    def split(ids):
        return train_test_split(ids, test_size=0.2, random_state=SSLBENCH_SEED)

    rng = np.random.RandomState(SSLBENCH_SEED)
    out = []
    for subjects in subject_lists:
        all_ids = list(subjects)
        per_test = math.ceil(len(all_ids) / SSLBENCH_N_FOLDS)
        trainval, test = split(all_ids)
        train, val = split(trainval)
        folds = [(list(train), list(val), list(test))]
        used = list(test)
        for i in range(1, SSLBENCH_N_FOLDS):
            rest = list(set(all_ids) - set(used))
            rng.shuffle(rest)
            test = rest[:per_test] if i < SSLBENCH_N_FOLDS - 1 else rest
            trainval = list(set(all_ids) - set(test))
            train, val = split(trainval)
            folds.append((list(train), list(val), list(test)))
            used += test
        out.append(folds)
    return out


def _folds_with_pinned_hash(subject_lists: list) -> list:
    """Run :func:`_shared_stream_folds` as if under ``PYTHONHASHSEED=0``.

    The hash seed of a running interpreter cannot change, so unless this one already runs
    with seed 0, a child interpreter with ``PYTHONHASHSEED=0`` computes the lists and sends
    them back as JSON (ids are ``str``, ``float`` or ``int``: all survive the round trip).
    """
    if not sys.flags.hash_randomization:  # PYTHONHASHSEED=0 already
        return _shared_stream_folds(subject_lists)
    package_parent = str(Path(__file__).resolve().parents[3])
    env = dict(os.environ, PYTHONHASHSEED="0")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_parent, env.get("PYTHONPATH")) if p)
    code = ("import json, sys; from relcon.data.process.common import _shared_stream_folds as f; "
            "json.dump(f(json.load(sys.stdin)), sys.stdout)")
    proc = subprocess.run([sys.executable, "-c", code], input=json.dumps(subject_lists),
                          capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"computing the sslbench folds under PYTHONHASHSEED=0 failed:\n{proc.stderr}")
    return json.loads(proc.stdout)


@functools.lru_cache(maxsize=None)
def _sslbench_folds_cached(dataset: str, subjects: tuple) -> tuple:
    position = SSLBENCH_ORDER.index(dataset)
    # The reference processes HHAR -> MotionSense -> PAMAP2 in one process on one stream.
    # A shuffle draws a number of values that depends only on the list length, so the
    # earlier sets are replayed with dummy ids of their (fixed) subject counts.
    lists = [list(range(SSLBENCH_N_SUBJECTS[d])) for d in SSLBENCH_ORDER[:position]] + [list(subjects)]
    if any(isinstance(s, str) for s in subjects):
        result = _folds_with_pinned_hash(lists)[-1]
    else:  # int and float hashes do not depend on the hash seed
        result = _shared_stream_folds(lists)[-1]
    return tuple(tuple(list(part) for part in fold) for fold in result)


def sslbench_folds(dataset: str, subjects: Sequence) -> list[Fold]:
    """The five (train, val, test) subject lists of one sslbench set, in emission order.

    Identical to the reference running all three sets in one process (seeded once with 42,
    HHAR → MotionSense → PAMAP2), with HHAR under ``PYTHONHASHSEED=0``, whatever this
    interpreter's hash seed and whether the set is processed alone or with the others.
    ``subjects`` are the sorted distinct ids: ``str`` for HHAR, ``float`` otherwise.
    """
    if dataset not in SSLBENCH_ORDER:
        raise ValueError(f"unknown sslbench set {dataset!r}; expected one of {SSLBENCH_ORDER}")
    subjects = [s if isinstance(s, str) else float(s) for s in subjects]
    want = SSLBENCH_N_SUBJECTS[dataset]
    if len(subjects) != want or len(set(subjects)) != want:
        raise ValueError(f"{dataset}: the folds need exactly {want} distinct subjects (as in the "
                         f"full data set); found {len(set(subjects))}: {sorted(set(subjects))}")
    if subjects != sorted(subjects):
        raise ValueError(f"{dataset}: subjects must be sorted, got {subjects}")
    folds = [tuple(list(p) for p in f) for f in _sslbench_folds_cached(dataset, tuple(subjects))]
    _check_sslbench_folds(dataset, subjects, folds)
    return folds


def _check_sslbench_folds(dataset: str, subjects: list, folds: list) -> None:
    all_ids = set(subjects)
    tested = []
    for k, (train, val, test) in enumerate(folds):
        parts = [set(train), set(val), set(test)]
        assert sum(map(len, parts)) == len(train) + len(val) + len(test) == len(all_ids), \
            f"{dataset} fold {k}: repeated or missing subjects"
        assert set().union(*parts) == all_ids and not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2]), \
            f"{dataset} fold {k}: train/val/test overlap or do not cover all subjects"
        tested += test
    assert sorted(tested) == sorted(all_ids), f"{dataset}: every subject must be tested exactly once"


# --------------------------------------------------------------------------------------
# sslbench windows and fold files (docs/datasets.md §1.4)

SSLBENCH_WINDOW = 200


def sslbench_window_starts(n_rows: int) -> range:
    """Starts 0, 200, ... while ``s < n - 200``: ⌊(n−1)/200⌋ windows. A multiple of 200 loses
    its last full window (reference off-by-one, kept)."""
    return range(0, n_rows - SSLBENCH_WINDOW, SSLBENCH_WINDOW)


def sslbench_windows(xyz: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, list]:
    """Windows of one subject's row stream: ``(k, 200, 3)`` values and the k majority labels."""
    starts = sslbench_window_starts(len(xyz))
    if len(starts) == 0:
        return np.empty((0, SSLBENCH_WINDOW, xyz.shape[1]), dtype=xyz.dtype), []
    X = np.stack([xyz[s:s + SSLBENCH_WINDOW] for s in starts])  # (k, 200, 3)
    y = [majority_label(gt[s:s + SSLBENCH_WINDOW].tolist()) for s in starts]
    return X, y


def rows_by_subject(user: np.ndarray) -> dict:
    """subject id -> its row indices in table order."""
    ids, inverse = np.unique(user, return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    bounds = np.cumsum(np.bincount(inverse, minlength=len(ids)))[:-1]
    return {(i.item() if hasattr(i, "item") else i): rows for i, rows in zip(ids, np.split(order, bounds))}


def write_sslbench_folds(
    folder: Path,
    dataset: str,
    user: np.ndarray,
    xyz: np.ndarray,
    gt: np.ndarray,
    folds: Sequence[Fold],
    *,
    progress: bool = True,
) -> list[dict]:
    """Write ``cv{k}_{train,val,test}_{X,y}.npy`` for every fold into ``folder``.

    ``user``, ``xyz`` (n, 3) float64 and ``gt`` (n,) are the set's table, rows in table
    order; a subject's row stream is its rows in that order. Per fold a StandardScaler is
    fitted on all rows of the train subjects and applied to every window. X is saved as
    (N, 3, 200) float64, y with the dtype of ``gt``. Returns per-fold window counts.
    """
    from sklearn.preprocessing import StandardScaler

    rows = rows_by_subject(user)
    windows = {}
    for subject, idx in progress_bar(rows.items(), desc=f"{dataset} windows", disable=not progress, leave=False):
        X, y = sslbench_windows(xyz[idx], gt[idx])
        windows[subject] = (X, np.asarray(y, dtype=gt.dtype))
    counts = []
    for k, fold in enumerate(progress_bar(folds, desc=f"{dataset} folds", disable=not progress, leave=False)):
        train_rows = np.sort(np.concatenate([rows[s] for s in fold[0]]))
        scaler = StandardScaler().fit(xyz[train_rows])
        row = {}
        for part, subjects in zip(("train", "val", "test"), fold):
            X = np.concatenate([windows[s][0] for s in subjects])  # (N, 200, 3)
            y = np.concatenate([windows[s][1] for s in subjects])
            if len(X) == 0:
                raise ValueError(f"{dataset} fold {k}: the {part} subjects {subjects} have no window "
                                 f"(each needs more than {SSLBENCH_WINDOW} rows)")
            X = scaler.transform(X.reshape(-1, X.shape[2])).reshape(X.shape)
            write_fold(folder, k, part, np.ascontiguousarray(X.transpose(0, 2, 1)), y)  # X (N, 3, 200)
            row[part] = int(len(X))
            row[f"{part}_subjects"] = list(subjects)
        counts.append(row)
    return counts


# --------------------------------------------------------------------------------------
# priorpt windows, cleaning and folds (docs/datasets.md §1.5)

PRIORPT_WINDOW = 1000
PRIORPT_SHIFT = PRIORPT_WINDOW // 2


def priorpt_windows(data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Windows of one file's (M, 5) rows ``[timestamp, label, x, y, z]``.

    Returns ``(w, 1000, 3)`` sensor values and ``(w, 1000)`` labels: the ⌊M/1000⌋ aligned
    windows first, then the ⌊M/1000⌋−1 windows shifted by 500.
    """
    n_aligned = len(data) // PRIORPT_WINDOW
    starts = [k * PRIORPT_WINDOW for k in range(n_aligned)]
    starts += [PRIORPT_SHIFT + j * PRIORPT_WINDOW for j in range(n_aligned - 1)]
    if not starts:
        return np.empty((0, PRIORPT_WINDOW, 3)), np.empty((0, PRIORPT_WINDOW))
    win = np.stack([data[s:s + PRIORPT_WINDOW] for s in starts])  # (w, 1000, 5)
    return win[:, :, 2:5], win[:, :, 1]


def priorpt_clean(X: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Drop windows with more than 500 zero labels; label the rest with the mode of their
    1000 labels (ties to the smallest value, as ``scipy.stats.mode``), as int64."""
    keep = (labels == 0).sum(axis=1) <= PRIORPT_SHIFT
    X, labels = X[keep], labels[keep]
    y = np.empty(len(labels), dtype=np.int64)
    for i, row in enumerate(labels):
        values, counts = np.unique(row, return_counts=True)  # sorted: argmax takes the smallest
        y[i] = int(values[np.argmax(counts)])
    return X, y


def priorpt_assemble(
    per_file: Iterable[tuple[np.ndarray, int]],
    *,
    scale: float,
    keep: Callable[[np.ndarray], np.ndarray],
    relabel: dict | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Windows, clean and concatenate files in order, then X /= scale, clip to [−3, 3], keep
    windows whose label passes ``keep`` and apply ``relabel``. ``per_file`` yields
    ``(rows (M, 5), subject id)``. Returns X (N, 1000, 3) float64, Y (N,) int64, pid (N,) int64."""
    Xs, Ys, pids = [], [], []
    for data, subject in per_file:
        X, y = priorpt_clean(*priorpt_windows(data))
        Xs.append(X)
        Ys.append(y)
        pids.append(np.full(len(y), subject, dtype=np.int64))
    X = np.concatenate(Xs) if Xs else np.empty((0, PRIORPT_WINDOW, 3))
    Y = np.concatenate(Ys) if Ys else np.empty(0, dtype=np.int64)
    pid = np.concatenate(pids) if pids else np.empty(0, dtype=np.int64)
    X = np.clip(X / scale, -3.0, 3.0)
    kept = keep(Y)
    X, Y, pid = X[kept], Y[kept], pid[kept]
    if relabel:
        Y = Y.copy()
        for old, new in relabel.items():
            Y[Y == old] = new
    return X.astype(np.float64, copy=False), Y.astype(np.int64), pid.astype(np.int64)


def _priorpt_groups(pid: np.ndarray, dataset: str) -> np.ndarray:
    groups = np.unique(pid)
    if len(groups) < 3:
        raise ValueError(f"{dataset}: priorpt folds need windows from at least 3 subjects "
                         f"(test, validation, training); found subjects {groups.tolist()}")
    return groups


def priorpt_reference_folds(pid: np.ndarray, dataset: str = "priorpt") -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(train, val, test) row indices of the reference folds, quirk included (docs/datasets.md §1.5, §9 #11).

    Fold i tests subject ``G[i]``. The validation subject ``h`` is the largest other pid, and
    train/val are *positions within the non-test rows* used as row indices of the full
    arrays, as the reference does. So train and val hold other subjects' rows, including
    the test subject's. Kept: the published priorpt numbers were produced this way.
    """
    folds = []
    for g in _priorpt_groups(pid, dataset):
        test = np.flatnonzero(pid == g)
        rest_pid = pid[pid != g]  # pids of the non-test rows, in row order
        h = rest_pid.max()
        folds.append((np.flatnonzero(rest_pid != h), np.flatnonzero(rest_pid == h), test))
    return folds


def priorpt_leakfree_folds(pid: np.ndarray, dataset: str = "priorpt") -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """True leave-one-subject-out: test subject ``G[i]``, validation subject = the largest
    other pid (the subject the reference meant to validate on), training on all others.
    Indices are real row indices; no subject is in two parts of a fold."""
    folds = []
    for g in _priorpt_groups(pid, dataset):
        h = pid[pid != g].max()
        folds.append((np.flatnonzero((pid != g) & (pid != h)), np.flatnonzero(pid == h), np.flatnonzero(pid == g)))
    return folds


def write_priorpt_folds(folder: Path, X: np.ndarray, Y: np.ndarray, folds, pid: np.ndarray) -> list[dict]:
    """Write ``cv{k}_{train,val,test}_{X,y}.npy``: X as (n, 3, 1000) float64, y as the rank of
    Y among its sorted distinct values (int64). Returns per-fold sizes and subjects."""
    Xt = X.transpose(0, 2, 1)  # (N, 3, 1000)
    y = np.unique(Y, return_inverse=True)[1].astype(np.int64).reshape(-1)
    counts = []
    for k, parts in enumerate(folds):
        row = {}
        for part, idx in zip(("train", "val", "test"), parts):
            write_fold(folder, k, part, np.ascontiguousarray(Xt[idx]), y[idx])
            row[part] = int(len(idx))
            row[f"{part}_subjects"] = np.unique(pid[idx]).tolist()
        counts.append(row)
    return counts


def write_priorpt_outputs(out_root, name: str, X: np.ndarray, Y: np.ndarray, pid: np.ndarray) -> dict:
    """Write ``processed/`` (X.npy, Y.npy, pid.npy and the reference folds) and
    ``processed_leakfree/`` (the leak-free folds) of one priorpt set.
    Returns a summary (window counts and subjects per fold)."""
    if len(Y) == 0:
        raise ValueError(f"priorpt/{name}: no window survived cleaning; nothing to write")
    summary = {"family": "priorpt", "dataset": name, "processed_dir": str(processed_dir(out_root, "priorpt", name)),
               "windows": int(len(Y)), "subjects": np.unique(pid).tolist(),
               "labels": {str(k): int(v) for k, v in zip(*np.unique(Y, return_counts=True))}}
    with replaced_folder(processed_dir(out_root, "priorpt", name)) as stage:
        save_arrays(stage, {"X": X, "Y": Y, "pid": pid})
        summary["folds"] = write_priorpt_folds(stage, X, Y, priorpt_reference_folds(pid, name), pid)
    folder = processed_dir(out_root, "priorpt", name, leakfree=True)
    with replaced_folder(folder) as stage:
        summary["leakfree_folds"] = write_priorpt_folds(stage, X, Y, priorpt_leakfree_folds(pid, name), pid)
    summary["leakfree_dir"] = str(folder)
    return summary
