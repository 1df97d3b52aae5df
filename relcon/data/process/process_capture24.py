"""Capture-24: the pre-training layout and a 4-class activity (HAR) evaluation set.

    python relcon/data/process/process_capture24.py [--raw-dir DIR] [--out-dir DIR]
        [--participants P001,P002] [--window-s 10] [--folds 5] [--val 0.1] [--test 0]
        [--drop-nonwear] [--no-har] [--no-download] [--overwrite] [--quiet]

Capture-24 (Chan Chang et al. 2024, Scientific Data 11:1135; Oxford research data archive,
https://ora.ox.ac.uk/objects/uuid:99d7c092-d865-4a19-b096-cc16440cd001, CC BY 4.0): 151
participants wearing an Axivity AX3 on the dominant wrist for about 24 h, at 100 Hz in g,
annotated from wearable-camera images and sleep diaries. The release is one zip,
``capture24.zip`` (6,902,652,480 bytes), holding ``capture24/P001.csv.gz`` ...
``capture24/P151.csv.gz`` with the header ``time,x,y,z,annotation`` (time as
``2016-11-13 02:18:00.000000``; ``annotation`` a compendium-of-physical-activities string, or
empty where unlabelled), ``capture24/annotation-label-dictionary.csv`` (columns ``annotation``,
``label:Walmsley2020`` among others) and ``capture24/metadata.csv``.

Download: streamed to ``capture24.zip.part`` beside the target, resumed with HTTP ranges after an
interruption, retried on transient errors (``relcon/data/process/download.py``), and renamed only
when its size is the published 6,902,652,480 bytes and it is a readable zip; it is then extracted
all-or-nothing with CRC checks. The archive publishes no digest. A sha256 circulates in a
third-party loader, but it was not checked against the archive for this code, so it is not
enforced. Instead, the digest is recorded beside the zip on first use (``capture24.zip.sha256``)
and checked on every later use. With ``--raw-dir`` pointing at an extracted copy (or at the zip),
nothing is downloaded.

Outputs under ``--out-dir`` (default ``relcon/data/datasets/capture24``):

* ``pretrain/``: the pre-training layout of ``process_recordings.py`` (packed, 100 Hz, g,
  subject = participant, hour folders from the time stamps, subject-wise ``--val``/``--test``).
* ``har/``: ``cv{k}_{train,val,test}_{X,y}.npy`` written by the subject-wise fold writer of
  ``relcon/data/synthetic.py`` (``write_supervised_folds``; k = ``--folds``, 5 by default, or
  the number of participants if fewer; about 20 % of the non-test participants validate). X is
  (N, 3, T) float32 in g at 100 Hz, T = 100 · ``--window-s``; y the id of the Walmsley2020 label
  in ``relcon.data.class_names.CAPTURE24_WALMSLEY2020`` order (sleep, sedentary, light,
  moderate-vigorous). Windows tile each file from its first row; a window is dropped (counted in
  ``har/summary.json``) if its label changes inside it, if it is unlabelled, or if it holds a
  missing value or a gap in time. On the full set, 10 s windows are about 1.3 M windows,
  15.6 GB of X, and each of the k folds writes every window once.

A participant's file is read once for both outputs.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `import relcon` work without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

import numpy as np

from relcon.data import class_names
from relcon.data.process import download as dl
from relcon.data.process import process_recordings as pr
from relcon.data.process.common import check_fold_count
from relcon.data.synthetic import write_supervised_folds
from relcon.utils.io import atomic_write_json, replaced_folder
from relcon.utils.paths import DATASETS_ROOT, cli_path

log = logging.getLogger(__name__)

URL = "https://ora.ox.ac.uk/objects/uuid:99d7c092-d865-4a19-b096-cc16440cd001/files/rpr76f381b"
ARCHIVE = "capture24.zip"
ARCHIVE_BYTES = 6_902_652_480
TOP = "capture24"
DICTIONARY = "annotation-label-dictionary.csv"
LABEL_COLUMN = "label:Walmsley2020"
CLASSES = class_names.CAPTURE24_WALMSLEY2020
N_PARTICIPANTS = 151
FS = 100  # Hz, as released
N_FOLDS = 5
DEFAULT_OUT = DATASETS_ROOT / "capture24"
PRETRAIN, HAR = "pretrain", "har"


class Capture24Error(ValueError):
    """The raw Capture-24 files are missing, incomplete or not in the released format."""


# ----------------------------------------------------------------------------- raw files
def find_raw(raw_dir) -> Path | None:
    """The folder holding ``P*.csv.gz`` and the label dictionary: ``raw_dir`` or ``raw_dir/capture24``."""
    for folder in (Path(raw_dir), Path(raw_dir) / TOP):
        if (folder / DICTIONARY).is_file() and any(folder.glob("P*.csv.gz")):
            return folder
    return None


def download_archive(raw_dir, url: str = URL, expected_bytes: int | None = ARCHIVE_BYTES, progress: bool = True,
                     options: dict | None = None) -> Path:
    """``raw_dir/capture24.zip``, downloaded (resumably) if absent, with its size and zip integrity
    checked. ``options``: more keywords of ``download.download`` (retries, backoff, session)."""
    raw_dir = Path(raw_dir)
    archive = raw_dir / ARCHIVE
    if not archive.exists():
        part = archive.with_name(archive.name + ".part")
        if part.exists():
            log.info("resuming the download of %s from byte %d", archive, part.stat().st_size)
        try:
            dl.download(url, archive, progress=progress, **(options or {}))
        except dl.DownloadError as e:
            raise Capture24Error(f"{archive}: {e}") from None
    size = archive.stat().st_size
    if expected_bytes is not None and size != expected_bytes:
        bad = dl.keep_aside(archive)
        raise Capture24Error(f"{archive}: {size} bytes; expected the released {expected_bytes} (an incomplete or other "
                             f"file); it was kept aside as {bad}")
    return archive


def ensure_raw(raw_dir, download: bool = True, url: str = URL, expected_bytes: int | None = ARCHIVE_BYTES,
               progress: bool = True, options: dict | None = None) -> Path:
    """The folder of the extracted release below ``raw_dir``: used as is, extracted from
    ``raw_dir/capture24.zip``, or downloaded first (unless ``download`` is False)."""
    raw_dir = Path(raw_dir)
    found = find_raw(raw_dir)
    if found is not None:
        return found
    if not (raw_dir / ARCHIVE).exists() and not download:
        raise dl.RawDataMissing(f"Capture-24 not found: {raw_dir} holds neither {TOP}/P*.csv.gz with {DICTIONARY} nor "
                                f"{ARCHIVE}, and downloading is switched off (--no-download). Download {URL} as "
                                f"{raw_dir / ARCHIVE} ({ARCHIVE_BYTES:,} bytes) or extract it there.")
    archive = download_archive(raw_dir, url, expected_bytes, progress, options)
    digest = dl.verify_archive(archive)  # zip integrity, and the digest recorded on first use
    if dl.read_sidecar(archive) is None:
        dl.record_digest(archive, digest)
    dl.extract_zip(archive, raw_dir, progress=progress)
    found = find_raw(raw_dir)
    if found is None:
        raise Capture24Error(f"{archive} was extracted into {raw_dir}, but no {TOP}/P*.csv.gz with {DICTIONARY} "
                             f"appeared; expected the Capture-24 release")
    return found


def label_map(folder: Path) -> dict:
    """annotation string -> Walmsley2020 class id."""
    import pandas as pd

    path = folder / DICTIONARY
    table = pd.read_csv(path, dtype=str)
    missing = {"annotation", LABEL_COLUMN} - set(table.columns)
    if missing:
        raise Capture24Error(f"{path}: columns {list(table.columns)}; expected 'annotation' and {LABEL_COLUMN!r}")
    unknown = sorted(set(table[LABEL_COLUMN].dropna()) - set(CLASSES))
    if unknown:
        raise Capture24Error(f"{path}: {LABEL_COLUMN} values {unknown}; expected {list(CLASSES)}")
    return {a: CLASSES.index(c) for a, c in zip(table["annotation"], table[LABEL_COLUMN]) if isinstance(c, str)}


def participant_files(folder: Path, participants=None) -> list[Path]:
    files = sorted(folder.glob("P*.csv.gz"))
    if participants:
        wanted = [p.strip() for p in participants]
        have = {f.name[: -len(".csv.gz")]: f for f in files}
        unknown = [p for p in wanted if p not in have]
        if unknown:
            raise Capture24Error(f"--participants {','.join(unknown)}: not in {folder} (found {len(have)}: "
                                 f"{', '.join(sorted(have)[:5])}{', ...' if len(have) > 5 else ''})")
        files = [have[p] for p in wanted]
    if not files:
        raise Capture24Error(f"{folder}: no P*.csv.gz participant files")
    return files


# ----------------------------------------------------------------------------- HAR windows
def read_annotations(path: Path) -> np.ndarray:
    import pandas as pd

    try:
        return pd.read_csv(path, usecols=["annotation"], dtype=str)["annotation"].to_numpy()
    except ValueError as e:
        raise Capture24Error(f"{path}: {e}; expected the header time,x,y,z,annotation") from None


def label_windows(xyz, t, annotations, labels: dict, window: int, counts: dict):
    """(X (n, 3, window) float32, y (n,) int64) of the windows of one participant that hold one
    Walmsley2020 label throughout, no missing value and no step in time other than 1/100 s."""
    n = len(xyz) // window
    if len(annotations) != len(xyz):
        raise Capture24Error(f"{len(annotations)} annotations for {len(xyz)} rows; expected one per row")
    codes = np.array([labels.get(a, -1) if isinstance(a, str) else -1 for a in annotations[: n * window]])
    codes = codes.reshape(n, window)
    finite = np.isfinite(xyz[: n * window]).all(axis=1).reshape(n, window).all(axis=1)
    same = (codes == codes[:, :1]).all(axis=1)
    labelled = codes[:, 0] >= 0
    if t is not None:
        span = t[: n * window].reshape(n, window)
        regular = np.abs((span[:, -1] - span[:, 0]) - (window - 1) / FS) <= 0.01 * window / FS
    else:
        regular = np.ones(n, dtype=bool)
    keep = finite & same & labelled & regular
    counts["windows"] += int(n)
    counts["dropped_label_changes"] += int((finite & regular & ~same).sum())
    counts["dropped_unlabelled"] += int((finite & regular & same & ~labelled).sum())
    counts["dropped_missing_values"] += int((~finite).sum())
    counts["dropped_time_gaps"] += int((finite & ~regular).sum())
    X = xyz[: n * window].reshape(n, window, 3)[keep].transpose(0, 2, 1).astype(np.float32)  # (k, 3, window)
    return X, codes[keep, 0].astype(np.int64)


# ----------------------------------------------------------------------------- the recipe
def process_capture24(raw_dir=None, out_dir=DEFAULT_OUT, participants=None, window_s: float = 10.0,
                      folds: int = N_FOLDS, val: float = 0.1, test: float = 0.0, drop_nonwear: bool = False,
                      download: bool = True, overwrite: bool = False, progress: bool = True, url: str = URL,
                      expected_bytes: int | None = ARCHIVE_BYTES, download_options: dict | None = None,
                      har: bool = True) -> dict:
    """Build ``out_dir/pretrain`` and (``har``) ``out_dir/har``; returns both summaries (``har``: None
    when not built). The HAR folds need at least 3 participants (test, validation, training)."""
    out_dir = Path(out_dir)
    raw_dir = Path(raw_dir) if raw_dir is not None else out_dir / "raw"
    window = int(round(window_s * FS))
    if window < 1:
        raise ValueError(f"--window-s {window_s}: expected a positive number of seconds")
    for target in (out_dir / PRETRAIN, out_dir / HAR)[: 2 if har else 1]:
        if target.exists() and any(target.iterdir()) and not overwrite:
            raise FileExistsError(f"{target} already exists and is not empty; pass --overwrite to replace it")
    folder = ensure_raw(raw_dir, download, url, expected_bytes, progress, download_options)
    labels = label_map(folder)
    files = participant_files(folder, participants)
    if har and len(files) < 3:
        raise Capture24Error(f"{len(files)} participant(s) ({', '.join(f.name[:-7] for f in files)}): the HAR folds need "
                             f"at least 3 (test, validation, training); choose more, or build only the pre-training "
                             f"layout (--no-har)")
    if participants is None and len(files) != N_PARTICIPANTS:
        log.warning("%s holds %d participant files; the release has %d", folder, len(files), N_PARTICIPANTS)

    counts = {"windows": 0, "dropped_label_changes": 0, "dropped_unlabelled": 0, "dropped_missing_values": 0,
              "dropped_time_gaps": 0}
    Xs, ys, pids = [], [], []

    def on_recording(source, xyz, t, fs):
        if abs(fs - FS) > 0.01:
            raise Capture24Error(f"{source.path}: {fs:g} Hz; expected the released {FS} Hz")
        X, y = label_windows(xyz, t, read_annotations(Path(source.path)), labels, window, counts)
        Xs.append(X)
        ys.append(y)
        pids.append(np.full(len(y), int(source.subject.lstrip("P")), dtype=np.int64))

    sources = [pr.Source(str(f), f.name[: -len(".csv.gz")], FS, "auto") for f in files]
    pretrain = pr.process_recordings(sources, out_dir / PRETRAIN, val=val, test=test, drop_nonwear=drop_nonwear,
                                     overwrite=True, progress=progress, extra={"dataset": "Capture-24"},
                                     on_recording=on_recording if har else None)
    if not har:
        return {"pretrain": pretrain, "har": None}
    X, y, pid = np.concatenate(Xs), np.concatenate(ys), np.concatenate(pids)
    n_folds = min(folds, len(np.unique(pid)))
    if n_folds != folds:
        log.warning("%d participants with labelled windows: %d folds instead of %d", len(np.unique(pid)), n_folds, folds)
    with replaced_folder(out_dir / HAR) as stage:
        written = write_supervised_folds(X, y, pid, stage, n_folds=n_folds, seed=0, val_fraction=0.2)
        summary = {"dataset": "Capture-24", "label": LABEL_COLUMN, "class_names": list(CLASSES), "window_s": window_s,
               "fs_hz": FS, "X_shape": [int(len(X)), 3, window], "kept": int(len(y)),
               "per_class": {c: int((y == i).sum()) for i, c in enumerate(CLASSES)}, **counts,
               "n_folds": n_folds, "folds": written["folds"]}
        atomic_write_json(stage / "summary.json", summary)
    check_fold_count("capture24/har", n_folds, N_FOLDS)
    return {"pretrain": pretrain, "har": summary}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--raw-dir", type=cli_path, help="folder with the release (extracted, or capture24.zip); "
                                                    "default: OUT_DIR/raw, downloaded there if missing")
    p.add_argument("--out-dir", type=cli_path, default=str(DEFAULT_OUT))
    p.add_argument("--participants", help="comma-separated ids, e.g. P001,P002 (default: all)")
    p.add_argument("--window-s", type=float, default=10.0, help="HAR window in seconds (default 10)")
    p.add_argument("--folds", type=int, default=N_FOLDS, help=f"HAR subject-wise folds (default {N_FOLDS})")
    p.add_argument("--val", type=float, default=0.1, help="pre-training: fraction of validation participants")
    p.add_argument("--test", type=float, default=0.0, help="pre-training: fraction of test participants")
    p.add_argument("--drop-nonwear", action="store_true", help="pre-training: remove non-wear (see process_recordings)")
    p.add_argument("--no-har", action="store_true", help="build only the pre-training layout")
    p.add_argument("--no-download", action="store_true", help="never download; fail if the raw files are missing")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        result = process_capture24(args.raw_dir, args.out_dir, args.participants.split(",") if args.participants else None,
                                   args.window_s, args.folds, args.val, args.test, args.drop_nonwear,
                                   download=not args.no_download, overwrite=args.overwrite, progress=not args.quiet,
                                   har=not args.no_har)
    except (ValueError, FileNotFoundError, FileExistsError, dl.DownloadError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(pr.format_summary(result["pretrain"]))
    har = result["har"]
    if har is None:
        return 0
    print(f"HAR: {har['kept']} windows of {har['window_s']:g} s kept of {har['windows']} ({har['per_class']}); dropped "
          f"{har['dropped_label_changes']} with a label change, {har['dropped_unlabelled']} unlabelled, "
          f"{har['dropped_missing_values']} with missing values, {har['dropped_time_gaps']} across a time gap; "
          f"{har['n_folds']} folds -> {Path(args.out_dir) / HAR}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
