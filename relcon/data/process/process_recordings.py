"""Continuous accelerometer recordings -> the pre-training layout.

    python relcon/data/process/process_recordings.py INPUT... --out DIR [--manifest FILE]
        [--fs HZ] [--units auto|check|g|m/s2|mg] [--subject-from-folder] [--layout packed|npy]
        [--val 0.1] [--test 0] [--seed 0] [--drop-nonwear] [--skip-bad] [--overwrite] [--quiet]

Inputs (files, or folders searched recursively):

* ``.csv`` / ``.csv.gz``: x, y, z acceleration in any dialect ``relcon/data/recordings.py``
  reads (delimiter, decimal mark, header or none), with a time column (ISO 8601 date-time, epoch
  seconds or milliseconds) or without one (then ``--fs`` or the manifest's ``fs`` is needed);
* ``.npy`` ``(T, 3)`` with ``--fs``;
* device files ``.cwa`` (Axivity), ``.gt3x`` (ActiGraph), ``.bin`` (GENEActiv) through actipy
  (``pip install -e ".[devices]"``; needs Java).

Subjects: a manifest CSV with columns ``file, subject`` and optional ``fs`` (Hz) and ``units``
(paths relative to the manifest's folder); without one, the file's stem (``P001.csv.gz`` ->
``P001``), or its parent folder with ``--subject-from-folder``. Several files of one subject
are merged into its hour folders.

Processing, per recording (output: 100 Hz, g, float32):

1. units: g expected; m/s² and mg are recognised from the median magnitude and converted, with
   a log line (``relcon/data/units.py``); ``--units`` forces; an ambiguous magnitude is an error.
2. continuous runs: rows with a missing value (NaN, empty cell) and gaps of over 1 s between
   time stamps split the recording; nothing is interpolated across them. Each run is resampled
   to 100 Hz with ``scipy.signal.resample_poly``; a run whose time steps deviate by more than
   10 % from the nominal step (irregular sampling) is first interpolated linearly onto a regular
   grid at its nominal rate. The nominal rate is ``--fs`` / the manifest's, else the device's,
   else 1 / the median time step.
3. ``--drop-nonwear``: non-wear is removed by the rule of the UK Biobank accelerometer analysis
   (Doherty et al. 2017, PLoS ONE 12:e0169649, used by Oxford's biobankAccelerometerAnalysis and
   actipy): 10 s windows whose standard deviation is below 13 mg on all three axes are
   stationary, and a run of stationary windows lasting at least 60 min is non-wear. (actipy's
   current default is 15 mg over 90 min.) The seconds removed are counted.
4. segments of 2.56 s (256 samples) are cut one after another from the start of each run; a
   tail shorter than a segment is dropped (counted). A segment belongs to the clock hour of its
   start (UTC for time stamps with an offset, the stated clock for naive ones), folder
   ``YYYY-MM-DD_HH``; without time stamps to consecutive 3600 s blocks from the file's start,
   ``h0000``, ``h0001``, ... (prefixed with the file's stem when a subject has several files).

Output ``DIR``: ``{train,val,test}/<subject>/<hour>.npy`` (n, 256, 3) float32 and
``packed_index.json`` with its tables (``relcon/data/packed.py``; default), or with ``--layout npy`` the
reference tree ``{train,val,test}/<subject>/<hour>/<i:06d>.npy`` (256, 3). Subjects are split by
seeded fractions (``--val``, ``--test``; an empty split is not written: its folder is absent).
``summary.json`` (also printed) counts subjects, hours, segments kept and dropped with reasons,
per subject. A subject-hour needs ``withinuser_cands + 1 = 21`` segments (the paper's K = 20) to
give RelCon's within-user candidates; hours and subjects with fewer are counted and warned about.

Everything is written into a staging folder beside DIR and renamed to DIR when complete: an
interrupted run leaves no DIR that looks complete, and a rerun removes the staging folders of
killed runs and starts clean. An existing DIR is replaced only with ``--overwrite``.

Errors (one line naming the file, the value and what was expected; with ``--skip-bad`` such a
file is skipped and listed in the summary instead): no three numeric acceleration columns, an
unparseable or non-monotonic time column, ambiguous units, an empty file, no rate. A recording
shorter than one segment is a counted skip.
"""
from __future__ import annotations

import argparse
import csv
import logging
import math
import shutil
import sys
import warnings
from dataclasses import dataclass
from datetime import datetime, timezone
from fractions import Fraction
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `import relcon` work without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

import numpy as np

from relcon.data import packed, recordings
from relcon.data.units import CHOICES as UNIT_CHOICES
from relcon.data.units import to_g
from relcon.utils.io import atomic_write_json, replaced_folder
from relcon.utils.progress import progress as progress_bar

log = logging.getLogger(__name__)

FS = 100  # Hz: the encoder's rate
SEGMENT = 256  # samples at FS (2.56 s)
MAX_GAP_S = 1.0
IRREGULAR_TOLERANCE = 0.10  # of the nominal step
HOUR_S = 3600
MIN_PER_HOUR = 21  # withinuser_cands + 1 with the paper's K = 20
NONWEAR_WINDOW_S = 10
NONWEAR_STD_G = 0.013
NONWEAR_MIN_S = 3600
SPLITS = ("train", "val", "test")
SUMMARY = "summary.json"
SUFFIXES = (".csv", ".csv.gz", ".npy", *recordings.DEVICE_SUFFIXES)


class ProcessingError(ValueError):
    """A recording cannot be processed; the message names the file, the value and what was expected."""


@dataclass
class Source:
    """One input file: ``path``, ``subject``; ``fs`` (Hz) and ``units`` override the command line's."""

    path: str
    subject: str
    fs: float | None = None
    units: str = "auto"


# ----------------------------------------------------------------------------- inputs
def find_inputs(inputs) -> list[Path]:
    """Files given, and the supported files below folders given (sorted)."""
    files = []
    for entry in map(Path, inputs):
        if entry.is_dir():
            files += sorted(p for p in entry.rglob("*") if p.is_file() and p.name.lower().endswith(SUFFIXES))
        elif entry.is_file():
            files.append(entry)
        else:
            raise FileNotFoundError(f"input {entry} does not exist")
    return files


def subject_of(path: Path, from_folder: bool = False) -> str:
    if from_folder:
        return path.parent.name
    name = path.name
    for suffix in sorted(SUFFIXES, key=len, reverse=True):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def read_manifest(path, fs=None, units="auto") -> list[Source]:
    """``file, subject[, fs, units]`` rows (files relative to the manifest's folder)."""
    path = Path(path)
    with open(path, encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows or not {"file", "subject"} <= set(rows[0]):
        found = list(rows[0]) if rows else []
        raise ProcessingError(f"{path}: columns {found}; expected a manifest with columns file, subject[, fs, units]")
    sources = []
    for line, row in enumerate(rows, start=2):
        file = Path(row["file"].strip())
        file = file if file.is_absolute() else path.parent / file
        if not file.is_file():
            raise FileNotFoundError(f"{path}, line {line}: file {row['file']!r} does not exist ({file})")
        rate = (row.get("fs") or "").strip()
        try:
            rate = float(rate) if rate else fs
        except ValueError:
            raise ProcessingError(f"{path}, line {line}: fs {rate!r} is not a number (Hz)") from None
        sources.append(Source(str(file), row["subject"].strip(), rate, (row.get("units") or "").strip() or units))
    return sources


def collect_sources(inputs=(), manifest=None, fs=None, units="auto", subject_from_folder=False) -> list[Source]:
    sources = read_manifest(manifest, fs, units) if manifest else []
    sources += [Source(str(p), subject_of(p, subject_from_folder), fs, units) for p in find_inputs(inputs)]
    if not sources:
        raise ProcessingError("no input recordings found; expected files (.csv, .csv.gz, .npy, .cwa, .gt3x, .bin), "
                              "folders holding them, or --manifest")
    return sources


def load(source: Source) -> tuple[np.ndarray, np.ndarray | None, float, str]:
    """(xyz in g (T, 3) float64 with NaN rows, time in s or None, nominal rate in Hz, unit found)."""
    rec = recordings.read_recording(source.path, allow_missing=True)
    xyz, t = rec.xyz, rec.time
    if len(xyz) == 0:
        raise ProcessingError(f"{source.path}: empty recording; expected rows of x, y, z acceleration")
    if t is not None:
        steps = np.diff(t)
        bad = np.flatnonzero(~(steps > 0))
        if len(bad):
            i = int(bad[0]) + 1
            raise ProcessingError(f"{source.path}: time goes from {_show(t[i - 1])} to {_show(t[i])} at data row "
                                  f"{i + 1}; expected strictly increasing time stamps")
    stated = recordings.file_rate(rec)
    if source.fs and stated and abs(source.fs - stated) > IRREGULAR_TOLERANCE * stated:
        raise ProcessingError(f"{source.path}: rate {source.fs:g} Hz given, but the file's time stamps advance at "
                              f"{stated:g} Hz; expected them to agree (drop --fs / the manifest's fs for timed files)")
    fs = source.fs or stated
    if not fs:
        raise ProcessingError(f"{source.path}: no time column and no rate; expected --fs (or the manifest's fs column)")
    if not math.isfinite(fs) or fs <= 0:
        raise ProcessingError(f"{source.path}: rate {fs!r}; expected a positive number of Hz")
    finite = np.isfinite(xyz).all(axis=1)
    if not finite.any():
        raise ProcessingError(f"{source.path}: no row with three finite values; expected x, y, z acceleration")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        converted, unit = to_g(xyz if finite.all() else xyz[finite], source.units, source=source.path)
    for w in caught:
        log.info("%s", w.message)
    if unit != "g":
        if finite.all():
            xyz = converted
        else:
            xyz = xyz.copy()
            xyz[finite] = converted
    return xyz, t, float(fs), unit


def _show(seconds: float) -> str:
    if seconds > 1e8:
        return datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    return f"{seconds:g} s"


# ----------------------------------------------------------------------------- signal
def _ratio(fs: float) -> tuple[int, int]:
    r = (Fraction(FS) / Fraction(str(fs))).limit_denominator(10_000)
    return r.numerator, r.denominator


def to_100hz(x: np.ndarray, fs: float) -> np.ndarray:
    """(n, 3) at ``fs`` Hz -> (m, 3) float32 at 100 Hz (``resample_poly``; unchanged at 100 Hz)."""
    up, down = _ratio(fs)
    if up == down:
        return x.astype(np.float32)
    from scipy.signal import resample_poly

    return resample_poly(x, up, down, axis=0).astype(np.float32)


def _true_runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) of the runs of True in a 1-D bool array."""
    padded = np.concatenate([[False], mask, [False]])
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))


def continuous_runs(xyz, t, fs: float, stats: dict) -> list[tuple[float, np.ndarray]]:
    """(start in s, (m, 3) float32 at 100 Hz) of each continuous run, split at missing values
    and gaps over 1 s; irregular runs are interpolated onto a regular grid first."""
    finite = np.isfinite(xyz).all(axis=1)
    stats["missing_values_s"] += float((~finite).sum() / fs)
    cut = ~finite
    if t is not None:
        gaps = np.flatnonzero(np.diff(t) > MAX_GAP_S)
        stats["gaps"] += int(len(gaps))
        stats["gap_s"] += float((np.diff(t)[gaps]).sum())
    runs = []
    for a, b in _true_runs(~cut):
        if t is None:
            runs.append((a / fs, xyz[a:b]))
            continue
        tr = t[a:b]
        inner = np.flatnonzero(np.diff(tr) > MAX_GAP_S) + 1
        for lo, hi in zip([0, *inner.tolist()], [*inner.tolist(), len(tr)]):
            runs.append((float(tr[lo]), xyz[a + lo:a + hi], tr[lo:hi]))
    out = []
    step = 1.0 / fs
    for run in runs:
        start, x = run[0], run[1]
        if len(run) == 3 and len(x) > 1:
            tr = run[2]
            if np.abs(np.diff(tr) - step).max() > IRREGULAR_TOLERANCE * step:
                stats["irregular_runs"] += 1
                grid = np.arange(tr[0], tr[-1] + step / 2, step)
                x = np.stack([np.interp(grid, tr, x[:, c]) for c in range(3)], axis=1)
        out.append((start, to_100hz(x, fs)))
    return out


def nonwear_mask(x: np.ndarray) -> np.ndarray:
    """(m,) True where ``x`` (m, 3) in g at 100 Hz is non-wear by the rule of the module docstring."""
    w = NONWEAR_WINDOW_S * FS
    n = len(x) // w
    mask = np.zeros(len(x), dtype=bool)
    if n == 0:
        return mask
    still = (x[: n * w].reshape(n, w, 3).std(axis=1) < NONWEAR_STD_G).all(axis=1)  # (n,)
    for a, b in _true_runs(still):
        if (b - a) * NONWEAR_WINDOW_S >= NONWEAR_MIN_S:
            mask[a * w:b * w] = True
    return mask


def hour_label(start_s: float, clock: bool, prefix: str = "") -> str:
    if clock:
        return datetime.fromtimestamp(math.floor(start_s / HOUR_S) * HOUR_S, tz=timezone.utc).strftime("%Y-%m-%d_%H")
    return f"{prefix}h{int(start_s // HOUR_S):04d}"


def segment_recording(xyz, t, fs: float, stats: dict, drop_nonwear: bool = False, prefix: str = "") -> dict:
    """``{hour label: (k, 256, 3) float32}`` of one recording (xyz in g, NaN rows allowed)."""
    hours: dict[str, list] = {}
    for start, x in continuous_runs(xyz, t, fs, stats):
        pieces = [(start, x)]
        if drop_nonwear:
            mask = nonwear_mask(x)
            stats["nonwear_s"] += float(mask.sum() / FS)
            pieces = [(start + a / FS, x[a:b]) for a, b in _true_runs(~mask)]
        for begin, piece in pieces:
            k = len(piece) // SEGMENT
            stats["remainder_s"] += float((len(piece) - k * SEGMENT) / FS)
            if k == 0:
                continue
            segments = piece[: k * SEGMENT].reshape(k, SEGMENT, 3)
            starts = begin + np.arange(k) * (SEGMENT / FS)
            blocks = np.floor(starts / HOUR_S).astype(np.int64)
            for block in np.unique(blocks):
                label = hour_label(float(block * HOUR_S), t is not None, prefix)
                hours.setdefault(label, []).append(segments[blocks == block])
    return {label: np.concatenate(parts) for label, parts in hours.items()}


# ----------------------------------------------------------------------------- splits and writing
def split_subjects(subjects, val: float, test: float, seed: int = 0) -> dict:
    """subject -> split. Subjects are permuted by ``seed``; the first round(test·n) test, the next
    round(val·n) validate (at least one each when the fraction is above 0 and 3+ subjects exist)."""
    for name, value in (("val", val), ("test", test)):
        if not 0 <= value < 1:
            raise ValueError(f"--{name} {value}: expected a fraction in [0, 1)")
    if val + test >= 1:
        raise ValueError(f"--val {val} + --test {test} >= 1: no subject would be left for training")
    subjects = sorted(set(subjects))
    n = len(subjects)

    def count(fraction):
        k = int(round(fraction * n))
        return 1 if fraction > 0 and k == 0 and n >= 3 else k

    n_test, n_val = count(test), count(val)
    order = np.random.default_rng(seed).permutation(n)
    split = {}
    for rank, i in enumerate(order):
        split[subjects[i]] = "test" if rank < n_test else "val" if rank < n_test + n_val else "train"
    return split


class LayoutWriter:
    """Writes subject-hour arrays into a staging folder; the packed manifest is written last."""

    def __init__(self, stage: Path, layout: str):
        if layout not in ("packed", "npy"):
            raise ValueError(f"layout {layout!r}: expected packed or npy")
        self.stage, self.layout = Path(stage), layout
        self.arrays, self.counts = [], []

    def add(self, split: str, subject: str, hour: str, segments: np.ndarray) -> None:
        rel = f"{split}/{subject}/{hour}"
        if self.layout == "packed":
            target = self.stage / f"{rel}.npy"
            target.parent.mkdir(parents=True, exist_ok=True)
            np.save(target, np.ascontiguousarray(segments, dtype=np.float32))  # fsynced once, at the end
            self.arrays.append(f"{rel}.npy")
            self.counts.append(len(segments))
        else:
            folder = self.stage / rel
            folder.mkdir(parents=True, exist_ok=True)
            for i, segment in enumerate(segments):
                np.save(folder / f"{i:06d}.npy", np.ascontiguousarray(segment, dtype=np.float32))

    def finish(self) -> None:
        if self.layout == "packed" and self.arrays:
            # SegmentIndex orders folders by path + "/": the manifest lists arrays in that order.
            order = sorted(range(len(self.arrays)), key=lambda i: self.arrays[i][:-4] + "/")
            packed.write_manifest(self.stage, [self.arrays[i] for i in order], [self.counts[i] for i in order],
                                  (SEGMENT, 3), "float32", "process_recordings")


def remove_stale_staging(out: Path) -> list[Path]:
    """Staging folders of killed runs for ``out`` (``.<name>.staging-*``): removed."""
    stale = [p for p in out.parent.glob(f".{out.name}.staging-*") if p.is_dir()] if out.parent.is_dir() else []
    for p in stale:
        shutil.rmtree(p, ignore_errors=True)
    return stale


def new_stats() -> dict:
    return {"missing_values_s": 0.0, "gaps": 0, "gap_s": 0.0, "irregular_runs": 0, "nonwear_s": 0.0,
            "remainder_s": 0.0}


def process_recordings(sources: list[Source], out, layout: str = "packed", val: float = 0.1, test: float = 0.0,
                       seed: int = 0, drop_nonwear: bool = False, skip_bad: bool = False, overwrite: bool = False,
                       progress: bool = True, extra: dict | None = None, on_recording=None) -> dict:
    """Write the pre-training layout for ``sources`` into ``out``; returns the summary.

    ``on_recording(source, xyz_g, t, fs)`` (optional) is called with every recording read, for
    processors that derive more from the same data (e.g. labelled windows). ``extra`` is merged
    into the summary. Raises :class:`ProcessingError` / ``RecordingError`` (``ValueError``) for a
    bad file unless ``skip_bad``, and ``FileExistsError`` for an existing ``out`` without ``overwrite``.
    """
    out = Path(out).resolve()
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise FileExistsError(f"{out} already exists and is not empty; pass --overwrite to replace it")
    stale = remove_stale_staging(out)
    if stale:
        log.info("removed %d staging folder(s) of an interrupted run: %s", len(stale), ", ".join(map(str, stale)))
    by_subject: dict[str, list[Source]] = {}
    for s in sources:
        by_subject.setdefault(s.subject, []).append(s)
    split = split_subjects(by_subject, val, test, seed)
    stats = new_stats()
    skipped, too_short, converted, per_subject = [], [], [], {}
    with replaced_folder(out, sync=True) as stage:
        writer = LayoutWriter(stage, layout)
        for subject in progress_bar(sorted(by_subject), desc="subjects", unit="subject", disable=not progress):
            files = by_subject[subject]
            hours: dict[str, list] = {}
            for source in files:
                try:
                    xyz, t, fs, unit = load(source)
                except (ValueError, FileNotFoundError) as e:
                    if not skip_bad:
                        raise
                    log.warning("skipped: %s", e)
                    skipped.append({"file": source.path, "reason": str(e)})
                    continue
                if unit != "g":
                    converted.append({"file": source.path, "units": unit})
                low = recordings.low_fs_warning(fs, source.path)
                if low:
                    log.warning("%s", low)
                if on_recording is not None:
                    on_recording(source, xyz, t, fs)
                prefix = f"{subject_of(Path(source.path))}_" if len(files) > 1 else ""
                found = segment_recording(xyz, t, fs, stats, drop_nonwear, prefix)
                if not found:
                    too_short.append({"file": source.path, "seconds": round(len(xyz) / fs, 3)})
                    log.warning("%s: %.3f s of usable data, shorter than one segment of %.2f s; skipped",
                                source.path, len(xyz) / fs, SEGMENT / FS)
                for label, segments in found.items():
                    hours.setdefault(label, []).append(segments)
            counts = {}
            for label in sorted(hours):
                segments = np.concatenate(hours[label])
                writer.add(split[subject], subject, label, segments)
                counts[label] = len(segments)
            usable = sum(c >= MIN_PER_HOUR for c in counts.values())
            per_subject[subject] = {"split": split[subject], "files": len(files), "hours": len(counts),
                                    "segments": int(sum(counts.values())), "hours_with_21_segments": int(usable)}
            if counts and not usable:
                log.warning("subject %s: no hour folder holds %d segments (withinuser_cands + 1; largest %d); RelCon "
                            "leaves its folders out", subject, MIN_PER_HOUR, max(counts.values()))
        writer.finish()
        summary = _summary(out, layout, val, test, seed, drop_nonwear, per_subject, stats, skipped, too_short,
                           converted, extra)
        atomic_write_json(stage / SUMMARY, summary)
    return summary


def _summary(out, layout, val, test, seed, drop_nonwear, per_subject, stats, skipped, too_short, converted, extra):
    kept = {s: v for s, v in per_subject.items() if v["segments"]}
    splits = {}
    for name in SPLITS:
        members = [v for v in kept.values() if v["split"] == name]
        if members:
            splits[name] = {"subjects": len(members), "hours": sum(v["hours"] for v in members),
                            "segments": sum(v["segments"] for v in members)}
    dropped = {k: (round(v, 2) if isinstance(v, float) else v) for k, v in stats.items()}
    dropped.update(files_skipped=skipped, files_too_short=too_short,
                   hours_below_21_segments=sum(v["hours"] - v["hours_with_21_segments"] for v in kept.values()),
                   subjects_without_an_hour_of_21_segments=sorted(
                       s for s, v in kept.items() if not v["hours_with_21_segments"]),
                   subjects_without_segments=sorted(s for s, v in per_subject.items() if not v["segments"]))
    summary = {"out": str(out), "layout": layout, "fs_hz": FS, "segment_shape": [SEGMENT, 3], "units": "g",
               "split": {"val": val, "test": test, "seed": seed}, "drop_nonwear": drop_nonwear,
               "subjects": len(kept), "hours": sum(v["hours"] for v in kept.values()),
               "segments": sum(v["segments"] for v in kept.values()), "splits": splits,
               "dropped": dropped, "units_converted": converted, "per_subject": per_subject}
    summary.update(extra or {})
    return summary


def format_summary(summary: dict) -> str:
    d = summary["dropped"]
    lines = [f"{summary['subjects']} subjects, {summary['hours']} subject-hours, {summary['segments']} segments "
             f"of 2.56 s -> {summary['out']} ({summary['layout']})"]
    lines += [f"  {name}: {v['subjects']} subjects, {v['hours']} hours, {v['segments']} segments"
              for name, v in summary["splits"].items()]
    lines.append(f"  dropped: {d['missing_values_s']:g} s of missing values, {d['gaps']} gaps over 1 s "
                 f"({d['gap_s']:g} s), {d['nonwear_s']:g} s of non-wear, {d['remainder_s']:g} s of run tails shorter "
                 f"than a segment; {len(d['files_too_short'])} file(s) shorter than a segment, "
                 f"{len(d['files_skipped'])} file(s) skipped as unreadable")
    if d["hours_below_21_segments"]:
        lines.append(f"  {d['hours_below_21_segments']} subject-hour(s) hold fewer than 21 segments (withinuser_cands "
                     f"+ 1); subjects with none of 21: {d['subjects_without_an_hour_of_21_segments'] or 'none'}")
    for item in summary["units_converted"]:
        lines.append(f"  units: {item['file']} was in {item['units']}; converted to g")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inputs", nargs="*", help="recording files, or folders searched for them")
    p.add_argument("--out", required=True, help="output folder (the pre-training layout)")
    p.add_argument("--manifest", help="CSV with columns file, subject[, fs, units]")
    p.add_argument("--fs", type=float, help="sampling rate in Hz of files without time stamps")
    p.add_argument("--units", default="auto", choices=UNIT_CHOICES, help="units of the input (default auto)")
    p.add_argument("--subject-from-folder", action="store_true", help="subject = the file's parent folder")
    p.add_argument("--layout", default="packed", choices=("packed", "npy"))
    p.add_argument("--val", type=float, default=0.1, help="fraction of subjects for validation (default 0.1)")
    p.add_argument("--test", type=float, default=0.0, help="fraction of subjects for test (default 0)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--drop-nonwear", action="store_true", help="remove non-wear (std < 13 mg on all axes for 60 min)")
    p.add_argument("--skip-bad", action="store_true", help="skip unreadable files (listed in the summary)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        sources = collect_sources(args.inputs, args.manifest, args.fs, args.units, args.subject_from_folder)
        summary = process_recordings(sources, args.out, args.layout, args.val, args.test, args.seed,
                                     args.drop_nonwear, args.skip_bad, args.overwrite, progress=not args.quiet)
    except (ValueError, FileNotFoundError, FileExistsError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(format_summary(summary))
    print(f"summary: {Path(summary['out']) / SUMMARY}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
