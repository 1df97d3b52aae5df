"""Shoulder-physiotherapy smartwatch recordings: a real, public, multi-subject activity set.

    python relcon/data/process/process_shoulderphysio.py [--raw-dir DIR] [--out-dir DIR]
        [--folds 5] [--no-download] [--quiet]

Source: the "watch" dataset of Burns et al. 2018, "Shoulder physiotherapy exercise recognition:
machine learning the inertial signals from a smartwatch", Physiological Measurement 39(7):075007
(arXiv:1802.01489), as distributed inside the PyPI package ``seglearn`` 1.2.5
(``seglearn/data/watch_dataset.npy``; BSD-3-Clause, © 2018 David M. Burns). Healthy adults wore a
smartwatch on the wrist of the active arm while performing sets of 20 repetitions of 7 exercises
of a rotator-cuff physiotherapy protocol; seglearn's copy holds 10 subjects, each exercise with the
left and the right arm: 140 recordings of 19-52 s, 6 channels at 50 Hz (accelerometer ``ax, ay,
az``, mean magnitude 1.15, i.e. in g; gyroscope ``wx, wy, wz``). Classes: seglearn's codes PEN,
ABD, FEL, IR, ER, TRAP, ROW (``CLASS_NAMES`` spells out the unambiguous ones).

Download: the wheel (11,320,941 bytes) from PyPI, streamed to ``.part``, resumed with HTTP ranges,
its sha256 checked against ``WHEEL_SHA256`` (PyPI's published digest) before it is extracted
(``relcon/data/process/download.py``); nothing is installed. The array file inside is a pickled
dict (``numpy.save`` of a dict), so it is unpickled only after its own sha256 matches
``DATA_SHA256`` (a file placed by hand included). With ``--raw-dir`` holding the wheel or its
extracted tree, nothing is downloaded.

Outputs under ``--out-dir`` (default ``relcon/data/datasets/shoulderphysio``), each written
all-or-nothing:

* ``pretrain/{train,val}/s<subject>/<left|right>/<exercise>_<k>.npy``: 2.56 s segments (256, 3)
  float32 in g at 100 Hz (accelerometer only, resampled 50 → 100 Hz with
  ``scipy.signal.resample_poly``), tiling each recording from its start; the labels are not
  used. A subject-arm folder is the "same user" unit of RelCon's within-user candidates (its 7
  exercises). Subjects 1-8 train, 9-10 validate (checkpoint selection only). The probes' test
  subjects are in this tree too, without labels: the same-dataset (transductive) protocol.
* ``har/cv{k}_{train,val,test}_{X,y}.npy``: 2.56 s windows (N, 3, 256) float32 in g at 100 Hz,
  50 % overlap within a recording, y the exercise id (int64, ``CLASS_NAMES`` order);
  subject-wise folds from ``relcon/data/synthetic.py``'s ``write_supervised_folds`` (every
  subject tested once, about 20 % of the others validate). ``har/summary.json`` counts windows,
  the samples left after the last full window, and the folds' subjects.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `import relcon` work without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

import numpy as np  # noqa: E402

from relcon.data import class_names  # noqa: E402
from relcon.data.process import download as dl  # noqa: E402
from relcon.data.synthetic import write_supervised_folds  # noqa: E402
from relcon.utils.io import atomic_save_npy, atomic_write_json, replaced_folder  # noqa: E402
from relcon.utils.paths import DATASETS_ROOT, cli_path  # noqa: E402
from relcon.utils.progress import progress as progress_bar  # noqa: E402

log = logging.getLogger(__name__)

WHEEL = "seglearn-1.2.5-py3-none-any.whl"
WHEEL_URL = ("https://files.pythonhosted.org/packages/8e/1d/786c3ff9c0452d0a6461a97ae248478319473777bf074ad1738d"
             "4749f2ac/" + WHEEL)
WHEEL_SHA256 = "ec6b952c85c9627050102854b372d85951563d3b990df677d7c55547e87413dd"  # PyPI's published digest
MEMBER = Path("seglearn", "data", "watch_dataset.npy")
DATA_SHA256 = "eb122f23cdf06ef6bd6c6c5312958ec5cf9d038e2e6d457b8081662c75a42537"
DEFAULT_OUT = DATASETS_ROOT / "shoulderphysio"
FS_RAW, FS = 50, 100  # Hz
WINDOW = 256  # 2.56 s at 100 Hz, the encoder's input
HAR_STRIDE = WINDOW // 2
VAL_SUBJECTS = (9, 10)  # pre-training validation split
CLASS_NAMES = list(class_names.SHOULDERPHYSIO)  # seglearn's y_labels in id order, spelled out
RAW_CLASS_CODES = ["PEN", "ABD", "FEL", "IR", "ER", "TRAP", "ROW"]
KEYS = ("X", "y", "subject", "side", "X_labels", "y_labels")
ACC = ["ax", "ay", "az"]


def data_file(raw_dir) -> Path:
    """Where the array file lies once the wheel is extracted into ``raw_dir``."""
    return Path(raw_dir) / WHEEL.removesuffix(".whl") / MEMBER


def ensure_raw(raw_dir, download: bool = True, progress: bool = True, url: str = WHEEL_URL,
               sha256: str = WHEEL_SHA256) -> Path:
    """The array file: present, else extracted from ``raw_dir/<wheel>``, else downloaded first."""
    raw_dir = Path(raw_dir)
    target = data_file(raw_dir)
    chain = [dl.Archive(path=raw_dir / WHEEL, into=raw_dir / WHEEL.removesuffix(".whl"), url=url, sha256=sha256)]
    return dl.ensure_extracted(target, chain, download_missing=download, progress=progress,
                               what=f"the shoulder-physiotherapy recordings ({WHEEL})")


def load_recordings(path, expected_sha256: str | None = DATA_SHA256) -> dict:
    """The 140 recordings of ``path`` (``watch_dataset.npy``), checked.

    Returns ``{"acc": [(n_i, 3) float64 in g at 50 Hz], "y": (140,) int64, "subject": (140,)
    int64, "side": list of "left"/"right"}``. Raises ValueError naming the file when its digest
    is not ``expected_sha256`` (None: not checked, for test fixtures) or its content is not the
    documented dict.
    """
    path = Path(path)
    if expected_sha256 is not None:
        digest = dl.sha256_file(path)
        if digest != expected_sha256:
            raise ValueError(f"{path}: sha256 {digest}, expected {expected_sha256} (seglearn 1.2.5's "
                             f"watch_dataset.npy); it is a pickle and is not opened unverified")
    try:
        d = np.load(path, allow_pickle=True).item()
    except Exception as e:  # noqa: BLE001 - any unreadable file becomes one message
        raise ValueError(f"{path}: not a numpy-saved dict ({type(e).__name__}: {e})") from e
    if not isinstance(d, dict) or any(k not in d for k in KEYS):
        raise ValueError(f"{path}: expected a dict with keys {list(KEYS)}, "
                         f"found {sorted(d) if isinstance(d, dict) else type(d).__name__}")
    labels = [str(c) for c in d["X_labels"]]
    if labels[:3] != ACC:
        raise ValueError(f"{path}: expected the first channels {ACC} (X_labels), found {labels}")
    if [str(c) for c in d["y_labels"]] != RAW_CLASS_CODES:
        raise ValueError(f"{path}: expected y_labels {RAW_CLASS_CODES}, found {list(d['y_labels'])}")
    n = len(d["X"])
    y, subject, side = (np.asarray(d[k]) for k in ("y", "subject", "side"))
    if not (len(y) == len(subject) == len(side) == n) or n == 0:
        raise ValueError(f"{path}: X, y, subject and side must have one entry per recording, found "
                         f"{n}, {len(y)}, {len(subject)}, {len(side)}")
    acc = []
    for i, x in enumerate(d["X"]):
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != len(labels) or len(x) == 0:
            raise ValueError(f"{path}: recording {i} has shape {x.shape}, expected (samples, {len(labels)})")
        if not np.isfinite(x[:, :3]).all():
            raise ValueError(f"{path}: recording {i} (subject {subject[i]}) holds non-finite accelerometer values")
        acc.append(x[:, :3])
    if not set(np.unique(y).tolist()) <= set(range(len(RAW_CLASS_CODES))):
        raise ValueError(f"{path}: labels {sorted(set(y.tolist()))} outside 0..{len(RAW_CLASS_CODES) - 1}")
    return {"acc": acc, "y": y.astype(np.int64), "subject": subject.astype(np.int64),
            "side": ["right" if s == 1 else "left" for s in side.tolist()]}


def to_100hz(acc: np.ndarray) -> np.ndarray:
    """(n, 3) at 50 Hz → (2n, 3) at 100 Hz (polyphase resampling, scipy's Kaiser FIR)."""
    from scipy.signal import resample_poly

    return resample_poly(acc, FS // FS_RAW, 1, axis=0)


def windows(x: np.ndarray, stride: int) -> np.ndarray:
    """(k, 256, 3) windows of ``x`` starting at 0, stride, ...; a tail shorter than a window is left."""
    starts = range(0, len(x) - WINDOW + 1, stride)
    return np.stack([x[s:s + WINDOW] for s in starts]) if len(starts) else np.empty((0, WINDOW, x.shape[1]))


def process_shoulderphysio(raw_dir=None, out_dir=DEFAULT_OUT, n_folds: int = 5, download: bool = True,
                           progress: bool = True, expected_sha256: str | None = DATA_SHA256,
                           url: str = WHEEL_URL, wheel_sha256: str = WHEEL_SHA256, seed: int = 0) -> dict:
    """Write ``pretrain/`` and ``har/`` (module docstring) under ``out_dir``; returns the summary.

    ``raw_dir`` (default ``out_dir/raw``) holds or receives the wheel; ``url`` / ``wheel_sha256``
    where it is downloaded from and its digest; ``expected_sha256`` the array file's digest;
    ``seed`` the subject-fold shuffle. Raises RawDataMissing (what to place where), ChecksumError
    or ValueError (a malformed file), before anything is written."""
    out_dir = Path(out_dir)
    raw_dir = Path(raw_dir) if raw_dir is not None else out_dir / "raw"
    rec = load_recordings(ensure_raw(raw_dir, download=download, progress=progress, url=url, sha256=wheel_sha256),
                          expected_sha256)
    resampled = [to_100hz(a).astype(np.float32) for a in progress_bar(rec["acc"], desc="resample 50 -> 100 Hz",
                                                                      disable=not progress, leave=False)]
    counts = {"recordings": len(resampled), "subjects": len(set(rec["subject"].tolist())),
              "pretrain_segments": {"train": 0, "val": 0}, "samples_after_last_segment": 0}
    seen = {}
    with replaced_folder(out_dir / "pretrain") as stage:
        for x, label, subject, side in zip(resampled, rec["y"], rec["subject"], rec["side"]):
            split = "val" if subject in VAL_SUBJECTS else "train"
            seg = windows(x, WINDOW)
            counts["samples_after_last_segment"] += int(len(x) - len(seg) * WINDOW)
            folder = stage / split / f"s{subject:02d}" / side
            k = seen.setdefault((subject, side, int(label)), 0)
            seen[(subject, side, int(label))] += 1
            for j, segment in enumerate(seg):
                atomic_save_npy(folder / f"{RAW_CLASS_CODES[label].lower()}_{k}_{j:03d}.npy", segment)
            counts["pretrain_segments"][split] += len(seg)
    X, y, pid = [], [], []
    for x, label, subject in zip(resampled, rec["y"], rec["subject"]):
        w = windows(x, HAR_STRIDE)
        X.append(w)
        y += [int(label)] * len(w)
        pid += [int(subject)] * len(w)
    X = np.concatenate(X).astype(np.float32)
    with replaced_folder(out_dir / "har") as stage:
        folds = write_supervised_folds(X, np.asarray(y, dtype=np.int64), np.asarray(pid), stage, n_folds=n_folds,
                                       seed=seed)
        summary = {"source": f"{WHEEL} ({WHEEL_URL})", "fs_hz": FS, "window": WINDOW, "har_stride": HAR_STRIDE,
                   "class_names": CLASS_NAMES, "har_windows": int(len(X)),
                   "har_windows_per_class": np.bincount(y, minlength=len(CLASS_NAMES)).tolist(), **counts,
                   "folds": folds["folds"]}
        atomic_write_json(stage / "summary.json", summary)
    log.info("shoulderphysio: %d recordings of %d subjects -> %d pre-training segments (%d train, %d val), "
             "%d HAR windows in %d subject-wise folds (%s)", counts["recordings"], counts["subjects"],
             sum(counts["pretrain_segments"].values()), counts["pretrain_segments"]["train"],
             counts["pretrain_segments"]["val"], len(X), n_folds, out_dir)
    return summary


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="process_shoulderphysio.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--raw-dir", type=cli_path, default=None,
                   help=f"folder holding (or receiving) {WHEEL} or its extracted tree (default: OUT/raw)")
    p.add_argument("--out-dir", type=cli_path, default=DEFAULT_OUT, help=f"output folder (default {DEFAULT_OUT})")
    p.add_argument("--folds", type=int, default=5, help="subject-wise folds of the HAR set (default 5)")
    p.add_argument("--no-download", action="store_true", help="never use the network: fail if the wheel is missing")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars or log messages")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(levelname)s: %(message)s")
    try:
        process_shoulderphysio(args.raw_dir, args.out_dir, n_folds=args.folds, download=not args.no_download,
                               progress=not args.quiet)
    except (FileNotFoundError, ValueError, dl.BadArchiveError, dl.DownloadError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
