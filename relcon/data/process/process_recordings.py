"""Continuous accelerometer recordings -> the pre-training layout, for cohorts of any size.

    python relcon/data/process/process_recordings.py INPUT... --out DIR [--manifest FILE]
        [--fs HZ] [--units auto|check|g|m/s2|mg] [--timezone ZONE] [--subject-from-folder]
        [--layout packed|npy] [--val 0.1] [--test 0] [--seed 0] [--drop-nonwear] [--skip-bad]
        [--workers N] [--shard K/N] [--overwrite] [--quiet]
    python relcon/data/process/process_recordings.py --merge DIR

Inputs (files, or folders searched recursively):

* ``.csv`` / ``.csv.gz``: x, y, z acceleration in any dialect ``relcon/data/recordings.py``
  reads (delimiter, decimal mark, header or none), with a time column (ISO 8601 date-time, with
  or without a UTC offset or zone name, epoch seconds or milliseconds;
  ``relcon/data/timestamps.py``) or without one (then ``--fs`` or the manifest's ``fs`` is needed);
* ``.npy`` ``(T, 3)`` with ``--fs``;
* device files ``.cwa`` (Axivity), ``.gt3x`` (ActiGraph), ``.bin`` (GENEActiv) through actipy
  (``pip install -e ".[devices]"``; needs Java; actipy reads a file whole).

Subjects: a manifest CSV with columns ``file, subject`` and optional ``fs`` (Hz) and ``units``
(paths relative to the manifest's folder); without one, the file's stem (``P001.csv.gz`` ->
``P001``), or its parent folder with ``--subject-from-folder``. Several files of one subject
are merged into its hour folders.

Processing, per recording, streamed in chunks of ``--chunk-rows`` rows (memory independent of
the recording's length; the result independent of the chunk size). Output: 100 Hz, g, float32.

1. units: g expected; m/s² and mg are recognised from the median magnitude of the first 10^6
   rows and converted, with a log line (``relcon/data/units.py``); ``--units`` forces; an
   ambiguous magnitude is an error.
2. time: zone-qualified time stamps are instants (UTC internally), so a clock change is neither a
   gap nor a step back; naive ones are read on their own clock, or as local time of
   ``--timezone``; a naive clock going back an hour is refused naming the row and
   ``--timezone``; repeated stamps (a coarse clock) get the rate estimated (logged) or ``--fs``.
3. continuous runs, resampling, non-wear (``--drop-nonwear``: the UK Biobank rule, Doherty et
   al. 2017, PLoS ONE 12:e0169649: 10 s windows with a standard deviation below 13 mg on all
   axes, in stretches of at least 60 min; actipy's current default is 15 mg over 90 min) and
   2.56 s segments by the rules of ``relcon/data/continuous.py``: split at missing values and
   gaps of over 1 s (never interpolated across), irregular runs regridded, resampled to 100 Hz
   with the polyphase filter of ``resample_poly``, tails shorter than a segment dropped (counted).
4. hour folders: a segment belongs to the hour of its start, ``YYYY-MM-DD_HH`` **in UTC** for
   timed recordings (naive time stamps are taken as UTC, or converted from ``--timezone``), so
   the repeated hour of a clock change is two folders, never one of two hours' data; without
   time stamps consecutive 3600 s blocks from the file's start, ``h0000``, ``h0001``, ...
   (prefixed with the file's stem when a subject has several files).

Output ``DIR``: ``{train,val,test}/<subject>/<hour>.npy`` (n, 256, 3) float32 and
``packed_index.json`` with its tables (``relcon/data/packed.py``; default), or with ``--layout npy`` the
reference tree ``{train,val,test}/<subject>/<hour>/<i:06d>.npy`` (256, 3). Subjects are split by
seeded fractions (``--val``, ``--test``; an empty split is not written: its folder is absent).
``summary.json`` (also printed) counts subjects, hours, segments kept and dropped with reasons,
per subject. A subject-hour needs ``withinuser_cands + 1 = 21`` segments (the paper's K = 20) to
give RelCon's within-user candidates; hours and subjects with fewer are counted and warned about.

Scale, on the engines users already run (no scheduler of our own):

* ``--workers N``: N processes of this machine, one recording each at a time.
* ``--shard K/N`` (K = 1..N): a deterministic share of the subjects (a subject's files all in
  one shard, by a hash of its name), written as part ``K`` of ``N`` inside ``DIR``; under a SLURM
  job array ``SLURM_ARRAY_TASK_ID`` / ``SLURM_ARRAY_TASK_COUNT`` give it when ``--shard`` is not
  given. ``--merge DIR`` then joins the parts into one layout with one packed index. Without a
  shard the run is part 1 of 1 and merges itself. The merged layout is the same, byte for byte,
  whatever N and the number of workers.
* incremental and crash-safe: each recording's segments are kept in ``DIR/.relcon-work/`` under
  a key of the file's path, size and modification time (the time stamp ``make`` and ``rsync``
  trust: reading 10^5 week-long files to hash them would cost as much as processing them) and
  of the settings that shape its segments. A rerun reuses them: unchanged files are not read,
  added and changed ones are processed, files no longer given are removed from the layout; the
  summary counts each. A recording is written to a temporary folder and renamed when complete,
  a part file is written last, and the layout is rebuilt from complete recordings and swapped in
  (``summary.json`` last): a kill at any point leaves nothing a merge would take, and rerunning
  the same command completes the work. Bad files are retried on every run.

Errors (one line naming the file, the value and what was expected; with ``--skip-bad`` such a
file is skipped, listed in the summary, and the exit status is 3 instead of 0): no three numeric
acceleration columns, an unparseable or non-monotonic time column, ambiguous units, an empty
file, no rate. A recording shorter than one segment is a counted skip. An existing ``DIR`` that
this script did not write is replaced only with ``--overwrite``.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import json
import logging
import math
import os
import re
import shutil
import sys
import uuid
import warnings
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `import relcon` work without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

import numpy as np

from relcon.data import packed, recordings
from relcon.data.continuous import FS, WINDOW as SEGMENT, Windower, new_stats
from relcon.data.units import CHOICES as UNIT_CHOICES
from relcon.utils.io import atomic_write_json
from relcon.utils.progress import progress as progress_bar

log = logging.getLogger(__name__)

HOUR_S = 3600
MIN_PER_HOUR = 21  # withinuser_cands + 1 with the paper's K = 20
SPLITS = ("train", "val", "test")
SUMMARY = "summary.json"
SUFFIXES = (".csv", ".csv.gz", ".npy", *recordings.DEVICE_SUFFIXES)
WORK = ".relcon-work"  # inside DIR: recordings' segments, parts, the state of the last merge
FORMAT = 2  # of a recording's stored segments: part of its key (a change reprocesses everything)
LAYOUT_ENTRIES = (SUMMARY, packed.MANIFEST, *packed.TABLES.values(), *SPLITS)  # summary.json first out, last in
EXIT_SKIPPED = 3


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


# ----------------------------------------------------------------------------- shards
def parse_shard(text: str) -> tuple[int, int]:
    """``"K/N"`` -> (K, N) with 1 <= K <= N."""
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", str(text))
    if not m or not 1 <= int(m.group(1)) <= int(m.group(2)):
        raise ValueError(f"--shard {text!r}: expected K/N with 1 <= K <= N, e.g. --shard 3/10")
    return int(m.group(1)), int(m.group(2))


def shard_from_environment(env=None) -> tuple[int, int] | None:
    """(K, N) of a SLURM job array task (``SLURM_ARRAY_TASK_ID`` counted from
    ``SLURM_ARRAY_TASK_MIN``, ``SLURM_ARRAY_TASK_COUNT`` tasks), or None outside one."""
    env = os.environ if env is None else env
    if "SLURM_ARRAY_TASK_ID" not in env or "SLURM_ARRAY_TASK_COUNT" not in env:
        return None
    try:
        task, count = int(env["SLURM_ARRAY_TASK_ID"]), int(env["SLURM_ARRAY_TASK_COUNT"])
        low = int(env.get("SLURM_ARRAY_TASK_MIN", 0 if task < count else 1))
        high = int(env.get("SLURM_ARRAY_TASK_MAX", low + count - 1))
    except ValueError:
        raise ValueError("SLURM_ARRAY_TASK_ID / _COUNT / _MIN / _MAX are not integers; expected a SLURM job "
                         "array, or pass --shard K/N") from None
    if high - low + 1 != count or not low <= task <= high:
        raise ValueError(f"SLURM job array {low}-{high} with {count} tasks (task {task}): expected consecutive task "
                         f"ids (--array={low}-{low + count - 1}); or pass --shard K/N")
    return task - low + 1, count


def shard_of(subject: str, n: int) -> int:
    """The shard (1..n) of a subject: a hash of its name, so that it does not move when other
    subjects are added."""
    return int.from_bytes(hashlib.sha1(subject.encode("utf-8")).digest()[:8], "big") % n + 1


# ----------------------------------------------------------------------------- one recording
@dataclass(frozen=True)
class Settings:
    """What shapes a recording's segments (part of its key) besides the file and its fs / units."""

    drop_nonwear: bool = False
    timezone: str | None = None
    chunk_rows: int = recordings.CHUNK_ROWS


def recording_key(source: Source, settings: Settings) -> str:
    """Key of a recording's stored segments: the file (resolved path, size, modification time in
    ns) and the settings that shape them. Not its content: see the module docstring."""
    path = Path(source.path).resolve()
    st = path.stat()
    fields = {"format": FORMAT, "path": str(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns, "fs": source.fs,
              "units": source.units, "drop_nonwear": settings.drop_nonwear, "timezone": settings.timezone}
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:24]


def hour_label(start_s: float, clock: bool, prefix: str = "") -> str:
    if clock:
        return datetime.fromtimestamp(math.floor(start_s / HOUR_S) * HOUR_S, tz=timezone.utc).strftime("%Y-%m-%d_%H")
    return f"{prefix}h{int(start_s // HOUR_S):04d}"


class _HourWriter:
    """A recording's segments -> ``folder/<hour>.npy``, each hour written once it is complete
    (time runs forward, so an hour never comes back)."""

    def __init__(self, folder: Path, clock: bool):
        self.folder, self.clock = folder, clock
        self.label, self.parts, self.hours = None, [], []

    def add(self, starts: np.ndarray, segments: np.ndarray, nonwear) -> None:
        blocks = np.floor(starts / HOUR_S).astype(np.int64)
        for block in np.unique(blocks):  # ascending, as time runs
            label = hour_label(float(block * HOUR_S), self.clock)
            if label != self.label:
                self.flush()
                assert label not in dict(self.hours), f"hour {label} came back: time must run forward"
                self.label = label
            self.parts.append(segments[blocks == block])

    def flush(self) -> None:
        if self.parts:
            segments = np.concatenate(self.parts)
            np.save(self.folder / f"{self.label}.npy", np.ascontiguousarray(segments, dtype=np.float32))
            self.hours.append((self.label, int(len(segments))))
        self.parts = []


def process_recording(source: Source, folder, settings: Settings, on_rows=None, keep=None) -> dict:
    """Stream one recording into ``folder`` (``<hour>.npy`` per hour) and return its record:
    rate, unit, whether it is timed, rows, hours with segment counts, what was dropped (``stats``)
    and notes for the log. ``on_rows(n)``: progress; ``keep``: a list that receives every chunk
    (for processors that derive more from the same rows). Raises ``ValueError`` subclasses
    naming the file and ``FileNotFoundError``."""
    folder = Path(folder)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        stream = recordings.RecordingStream(source.path, fs=source.fs, units=source.units,
                                            timezone=settings.timezone, allow_missing=True,
                                            chunk_rows=settings.chunk_rows)
    notes = [str(w.message) for w in caught] + list(stream.notes)
    if not stream.fs:
        raise ProcessingError(f"{source.path}: no time column and no rate; expected --fs (or the manifest's fs column)")
    writer = _HourWriter(folder, stream.timed)
    windower = Windower(stream.fs, stream.timed, writer.add, nonwear="drop" if settings.drop_nonwear else None)
    rows = finite_rows = 0
    for chunk in stream.chunks():
        windower.feed(chunk.xyz, chunk.t)
        rows += len(chunk.xyz)
        finite_rows += int(np.isfinite(chunk.xyz).all(axis=1).sum())
        if keep is not None:
            keep.append(chunk)
        if on_rows is not None:
            on_rows(len(chunk.xyz))
    windower.finish()
    writer.flush()
    if not finite_rows:
        raise ProcessingError(f"{source.path}: no row with three finite values; expected x, y, z acceleration")
    low = recordings.low_fs_warning(stream.fs, source.path)
    if stream.counts.get("clock_changes_forward"):
        notes.append(f"{source.path}: {stream.counts['clock_changes_forward']} step(s) of about +1 h in naive time "
                     f"stamps, taken as gaps; if they are clocks going forward, --timezone ZONE reads them as "
                     f"continuous")
    return {"file": source.path, "fs": stream.fs, "unit": stream.unit or "g", "timed": stream.timed,
            "rows": rows, "seconds": round(rows / stream.fs, 3), "hours": writer.hours, "stats": windower.stats(),
            "time": asdict(stream.time_info) if stream.time_info else None, "counts": dict(stream.counts),
            "notes": notes, "warnings": [low] if low else []}


def _recording_folder(work: Path, key: str) -> Path:
    return work / "recordings" / key[:2] / key


def _stored(work: Path, key: str) -> dict | None:
    try:
        return json.loads((_recording_folder(work, key) / "record.json").read_text())
    except (OSError, ValueError):
        return None


def _process_into(work: str, source: Source, settings: Settings, key: str, progress: bool = False,
                  on_recording=None) -> dict:
    """Process one recording into its key's folder (via a temporary folder renamed when complete).
    ``on_recording(source, xyz_g, t, fs)``: called with the whole recording before the rename."""
    final = _recording_folder(Path(work), key)
    final.parent.mkdir(parents=True, exist_ok=True)
    for stale in final.parent.glob(f".{key}.*.tmp"):  # left by a killed run of this recording
        shutil.rmtree(stale, ignore_errors=True)
    tmp = final.parent / f".{key}.{uuid.uuid4().hex[:8]}.tmp"
    tmp.mkdir()
    chunks = [] if on_recording is not None else None
    try:
        with progress_bar(desc=Path(source.path).name, unit=" rows", unit_scale=True, disable=not progress,
                          leave=False) as bar:
            record = process_recording(source, tmp, settings, on_rows=bar.update, keep=chunks)
        record["key"] = key
        if on_recording is not None:
            xyz = np.concatenate([c.xyz for c in chunks])
            t = np.concatenate([c.t for c in chunks]) if record["timed"] else None
            on_recording(source, xyz, t, record["fs"])
        atomic_write_json(tmp / "record.json", record)
        if final.exists():  # a recording of an earlier, killed merge: same key, same content
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return record


# ----------------------------------------------------------------------------- parts and merging
def _cohort_digest(sources) -> str:
    h = hashlib.sha256()
    for s in sources:
        h.update(json.dumps([str(Path(s.path).resolve()), s.subject, s.fs, s.units]).encode())
    return h.hexdigest()[:24]


def _part_path(work: Path, k: int, n: int) -> Path:
    return work / "parts" / f"part-{k}-of-{n}.json"


def _read_parts(work: Path, out: Path) -> list[dict]:
    """The newest complete set of parts (all K of one N, same cohort and settings)."""
    found = []
    for path in sorted((work / "parts").glob("part-*-of-*.json")):
        m = re.fullmatch(r"part-(\d+)-of-(\d+)\.json", path.name)
        if m:
            found.append((path.stat().st_mtime_ns, int(m.group(1)), int(m.group(2)), path))
    if not found:
        raise ProcessingError(f"{out}: no parts to merge in {work / 'parts'}; expected process_recordings.py INPUTS "
                              f"--out {out} --shard K/N to have run")
    n = max(found)[2]
    paths = {k: p for _, k, m_, p in found if m_ == n}
    missing = [k for k in range(1, n + 1) if k not in paths]
    if missing:
        raise ProcessingError(f"{out}: part(s) {', '.join(map(str, missing))} of {n} missing; run process_recordings.py "
                              f"INPUTS --out {out} --shard K/{n} for K = {', '.join(map(str, missing))}, then --merge "
                              f"again")
    parts = [json.loads(paths[k].read_text()) for k in range(1, n + 1)]
    for key in ("cohort", "settings"):
        values = {json.dumps(p[key], sort_keys=True) for p in parts}
        if len(values) > 1:
            raise ProcessingError(f"{out}: the {n} parts were made with different {'inputs' if key == 'cohort' else key} "
                                  f"({', '.join(sorted(values))[:300]}); expected every shard run with the same inputs "
                                  f"and options")
    return parts


def split_subjects(subjects, val: float, test: float, seed: int = 0) -> dict:
    """subject -> split. Subjects are permuted by ``seed``; the first round(test·n) test, the next
    round(val·n) validate (at least one each when the fraction is above 0 and 3+ subjects exist)."""
    check_split(val, test)
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


def check_split(val: float, test: float) -> None:
    for name, value in (("val", val), ("test", test)):
        if not 0 <= value < 1:
            raise ValueError(f"--{name} {value}: expected a fraction in [0, 1)")
    if val + test >= 1:
        raise ValueError(f"--val {val} + --test {test} >= 1: no subject would be left for training")


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)  # the layout shares the stored array's bytes: no second copy on disk
    except OSError:
        shutil.copyfile(source, target)


def _write_layout(stage: Path, work: Path, plan: list, layout: str) -> None:
    """``plan``: (split, subject, hour label, [(key, stored label, count), ...]) in index order."""
    arrays, counts = [], []
    for split, subject, label, pieces in plan:
        stored = [_recording_folder(work, key) / f"{name}.npy" for key, name, _ in pieces]
        rel = f"{split}/{subject}/{label}"
        if layout == "packed":
            target = stage / f"{rel}.npy"
            target.parent.mkdir(parents=True, exist_ok=True)
            if len(stored) == 1:
                _link_or_copy(stored[0], target)
            else:
                np.save(target, np.concatenate([np.load(p) for p in stored]))
            arrays.append(f"{rel}.npy")
            counts.append(sum(c for _, _, c in pieces))
        else:
            folder = stage / rel
            folder.mkdir(parents=True, exist_ok=True)
            i = 0
            for path in stored:
                for segment in np.load(path):
                    np.save(folder / f"{i:06d}.npy", segment)
                    i += 1
    if layout == "packed" and arrays:
        packed.write_manifest(stage, arrays, counts, (SEGMENT, 3), "float32", "process_recordings")


def _swap_in(out: Path, stage: Path, old: Path, foreign: bool) -> None:
    """Replace ``out``'s layout by ``stage``'s: ``summary.json`` leaves first and comes back last, so a
    kill in between never leaves a layout that looks complete (a rerun merges again)."""
    old.mkdir(parents=True)
    leaving = list(LAYOUT_ENTRIES)
    if foreign:  # --overwrite of a folder this script did not write: everything but the work folder
        leaving += sorted(p.name for p in out.iterdir() if p.name not in LAYOUT_ENTRIES and p.name != WORK)
    for name in leaving:
        if (out / name).exists() or (out / name).is_symlink():
            os.replace(out / name, old / name)
    for name in reversed(LAYOUT_ENTRIES):
        if (stage / name).exists():
            os.replace(stage / name, out / name)
    if hasattr(os, "sync"):
        os.sync()
    shutil.rmtree(old, ignore_errors=True)
    shutil.rmtree(stage, ignore_errors=True)


def merge(out, progress: bool = True, run_counts: dict | None = None, extra: dict | None = None) -> dict:
    """Join the parts in ``out/.relcon-work/parts`` into one layout in ``out``; returns the summary.
    Nothing is rewritten when the layout already holds exactly these recordings and settings."""
    out = Path(out).resolve()
    work = out / WORK
    parts = _read_parts(work, out)
    settings = parts[0]["settings"]
    layout, val, test, seed = settings["layout"], settings["val"], settings["test"], settings["seed"]
    sources = [s for p in parts for s in p["sources"]]
    by_subject: dict[str, list] = {}
    for s in sources:
        by_subject.setdefault(s["subject"], []).append(s)
    split = split_subjects(by_subject, val, test, seed)

    stats, skipped, too_short, converted, per_subject, plan = new_stats(), [], [], [], {}, []
    for subject in sorted(by_subject):
        files = by_subject[subject]
        hours: dict[str, list] = {}
        for s in files:
            if s.get("error"):
                skipped.append({"file": s["file"], "reason": s["error"]})
                continue
            record = _stored(work, s["key"])
            if record is None:
                raise ProcessingError(f"{out}: the stored segments of {s['file']} ({work / 'recordings'} key {s['key']}) "
                                      f"are missing; rerun the shard that processes it (or the command without --shard)")
            for name, value in record["stats"].items():
                stats[name] += value
            if record["unit"] != "g":
                converted.append({"file": s["file"], "units": record["unit"]})
            if not record["hours"]:
                too_short.append({"file": s["file"], "seconds": record["seconds"]})
            prefix = f"{subject_of(Path(s['file']))}_" if len(files) > 1 and not record["timed"] else ""
            for name, count in record["hours"]:
                hours.setdefault(prefix + name, []).append((s["key"], name, count))
        counts = {label: sum(c for _, _, c in pieces) for label, pieces in sorted(hours.items())}
        plan += [(split[subject], subject, label, hours[label]) for label in sorted(hours)]
        usable = sum(c >= MIN_PER_HOUR for c in counts.values())
        per_subject[subject] = {"split": split[subject], "files": len(files), "hours": len(counts),
                                "segments": int(sum(counts.values())), "hours_with_21_segments": int(usable)}
        if counts and not usable:
            log.warning("subject %s: no hour folder holds %d segments (withinuser_cands + 1; largest %d); RelCon "
                        "leaves its folders out", subject, MIN_PER_HOUR, max(counts.values()))
    # SegmentIndex orders folders by path + "/": the manifest lists arrays in that order.
    plan.sort(key=lambda item: f"{item[0]}/{item[1]}/{item[2]}/")
    summary = _summary(out, layout, val, test, seed, settings["drop_nonwear"], per_subject, stats, skipped, too_short,
                       converted, extra)
    summary["timezone"] = settings.get("timezone")
    summary["layout_digest"] = hashlib.sha256(json.dumps([settings, [[p[0], p[1], p[2], p[3]] for p in plan]],
                                                         sort_keys=True).encode()).hexdigest()[:24]

    previous_state = work / "state.json"
    try:
        before = json.loads(previous_state.read_text())
    except (OSError, ValueError):
        before = {}
    now = {s["file"]: s.get("key") for s in sources if not s.get("error")}
    incremental = {"recordings": len(sources), "added": sum(f not in before for f in now),
                   "changed": sum(f in before and before[f] != k for f, k in now.items()),
                   "removed": sum(f not in now for f in before), "failed": len(skipped),
                   "processed": sum(p.get("processed", 0) for p in parts), "reused": sum(p.get("reused", 0) for p in parts)}
    if run_counts:
        incremental.update(run_counts)
    try:
        current = json.loads((out / SUMMARY).read_text())
    except (OSError, ValueError):
        current = {}
    unchanged = current.get("layout_digest") == summary["layout_digest"]
    if not unchanged:
        token = uuid.uuid4().hex[:8]
        stage = work / f"merge-{token}"
        stage.mkdir(parents=True)
        try:
            _write_layout(stage, work, plan, layout)
            atomic_write_json(stage / SUMMARY, summary)
            _swap_in(out, stage, work / f"old-{token}", foreign=any(p.get("foreign") for p in parts))
        except BaseException:
            shutil.rmtree(stage, ignore_errors=True)
            raise
    elif current != summary:  # same layout, other counts (e.g. a file now failing or no longer failing)
        atomic_write_json(out / SUMMARY, summary)
    _remove_unused(work, {s.get("key") for s in sources}, parts)
    atomic_write_json(previous_state, now)
    summary["incremental"] = dict(incremental, layout_rewritten=not unchanged)
    return summary


def _remove_unused(work: Path, keys: set, parts: list) -> None:
    """Stored recordings no longer in the inputs, leftovers of killed merges, and stale parts."""
    n = len(parts)
    for path in (work / "parts").glob("part-*-of-*.json"):
        if not path.name.endswith(f"-of-{n}.json"):
            path.unlink(missing_ok=True)
    for leftover in list(work.glob("merge-*")) + list(work.glob("old-*")):
        shutil.rmtree(leftover, ignore_errors=True)
    for bucket in (work / "recordings").glob("*"):
        for entry in bucket.iterdir():  # temporaries of killed runs (".KEY.*.tmp"), unused recordings
            if entry.name.startswith(".") or entry.name not in keys:
                shutil.rmtree(entry, ignore_errors=True)


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


# ----------------------------------------------------------------------------- the command
def _prepare_out(out: Path, overwrite: bool) -> bool:
    """Create ``out``'s work folder; returns whether ``out`` held a layout this script did not write."""
    foreign = out.exists() and any(p.name != WORK for p in out.iterdir()) and not (out / WORK).is_dir()
    if foreign and not overwrite:
        raise FileExistsError(f"{out} already exists, is not empty and was not written by process_recordings.py; "
                              f"pass --overwrite to replace it")
    (out / WORK / "parts").mkdir(parents=True, exist_ok=True)
    (out / WORK / "recordings").mkdir(parents=True, exist_ok=True)
    return foreign


def process_recordings(sources: list[Source], out, layout: str = "packed", val: float = 0.1, test: float = 0.0,
                       seed: int = 0, drop_nonwear: bool = False, skip_bad: bool = False, overwrite: bool = False,
                       progress: bool = True, extra: dict | None = None, on_recording=None, shard=None,
                       workers: int = 1, timezone: str | None = None, chunk_rows: int = recordings.CHUNK_ROWS) -> dict:
    """Process ``sources`` (this shard's share) into ``out`` and, as part 1 of 1, merge; returns the
    summary (as part K of N > 1: the part's counts, with ``merged`` False).

    ``shard``: (K, N) or None (the SLURM array's, else 1/1). ``workers``: processes of this
    machine. ``on_recording(source, xyz_g, t, fs)`` (optional) is called with every recording
    read whole, for processors that derive more from the same data (then every file is read,
    in this process). ``extra`` is merged into the summary. Raises :class:`ProcessingError` /
    ``RecordingError`` (``ValueError``) for a bad file unless ``skip_bad``, ``FileExistsError``
    for a foreign ``out`` without ``overwrite``.
    """
    if layout not in ("packed", "npy"):
        raise ValueError(f"layout {layout!r}: expected packed or npy")
    check_split(val, test)
    if int(workers) < 1:
        raise ValueError(f"--workers {workers}: expected a positive number of processes")
    out = Path(out).resolve()
    created = not out.exists()
    try:
        return _process(sources, out, layout, val, test, seed, drop_nonwear, skip_bad, overwrite, progress, extra,
                        on_recording, shard, int(workers), timezone, int(chunk_rows))
    except BaseException:
        if created and not any((out / WORK / "recordings").glob("*/*")):  # nothing of this run is worth keeping
            shutil.rmtree(out, ignore_errors=True)
        raise


def _process(sources, out: Path, layout, val, test, seed, drop_nonwear, skip_bad, overwrite, progress, extra,
             on_recording, shard, workers, timezone, chunk_rows) -> dict:
    k, n = shard or (1, 1)
    foreign = _prepare_out(out, overwrite)
    work = out / WORK
    settings = Settings(drop_nonwear, timezone, int(chunk_rows))
    mine = [s for s in sources if n == 1 or shard_of(s.subject, n) == k]
    entries, todo, reused = [], [], 0
    for s in mine:
        try:
            key = recording_key(s, settings)
        except OSError as e:
            if not skip_bad:
                raise FileNotFoundError(f"{s.path}: cannot be read ({e.strerror})") from None
            entries.append({"file": s.path, "subject": s.subject, "key": None, "error": f"{s.path}: {e.strerror}"})
            continue
        entry = {"file": s.path, "subject": s.subject, "key": key, "error": None}
        entries.append(entry)
        if on_recording is None and _stored(work, key) is not None:
            reused += 1
        else:
            todo.append((s, entry))
    if progress:  # --quiet: no per-shard line (the closing summary still counts everything)
        log.info("%s: %d recording(s) of %d subject(s) in shard %d/%d: %d stored, %d to process%s", out, len(mine),
                 len({s.subject for s in mine}), k, n, reused, len(todo),
                 f" with {workers} worker(s)" if workers > 1 and todo else "")

    def done(entry, source, record=None, error=None):
        if error is not None:
            if not skip_bad:
                raise error
            log.warning("skipped: %s", error)
            entry["error"] = str(error)
            return
        for note in record["notes"]:
            log.info("%s", note)
        for warning in record["warnings"]:
            log.warning("%s", warning)
        if not record["hours"]:
            log.warning("%s: %.3f s of usable data, shorter than one segment of %.2f s; skipped", source.path,
                        record["seconds"], SEGMENT / FS)

    bar = progress_bar(total=len(todo), desc="recordings", unit="recording", disable=not progress)
    with bar:
        if workers == 1 or len(todo) <= 1 or on_recording is not None:
            for source, entry in todo:
                try:
                    record = _process_into(str(work), source, settings, entry["key"], progress=progress,
                                           on_recording=on_recording)
                    done(entry, source, record)
                except (ValueError, FileNotFoundError) as e:
                    done(entry, source, error=e)
                bar.update(1)
        else:
            with ProcessPoolExecutor(max_workers=int(workers)) as pool:
                futures = {pool.submit(_process_into, str(work), source, settings, entry["key"]): (source, entry)
                           for source, entry in todo}
                for future in as_completed(futures):
                    source, entry = futures[future]
                    try:
                        done(entry, source, future.result())
                    except (ValueError, FileNotFoundError) as e:
                        done(entry, source, error=e)
                    except BrokenProcessPool:
                        raise ProcessingError(f"{out}: a worker process died while processing {source.path} or "
                                              f"another file (killed, or out of memory?); the recordings finished "
                                              f"so far are kept: rerun the same command to go on") from None
                    bar.update(1)
    processed = sum(1 for _, entry in todo if not entry["error"])  # a file that failed is counted as failed only
    part = {"format": FORMAT, "shard": [k, n], "cohort": _cohort_digest(sources),
            "settings": {"layout": layout, "val": val, "test": test, "seed": seed, "drop_nonwear": drop_nonwear,
                         "timezone": timezone},
            "foreign": foreign, "sources": entries, "processed": processed, "reused": reused}
    atomic_write_json(_part_path(work, k, n), part)
    if n > 1:
        return {"out": str(out), "merged": False, "shard": [k, n], "recordings": len(entries),
                "processed": processed, "reused": reused, "files_skipped": [e for e in entries if e["error"]]}
    return merge(out, progress, extra=extra)


def format_summary(summary: dict) -> str:
    if summary.get("merged") is False:
        k, n = summary["shard"]
        return (f"shard {k}/{n}: {summary['recordings']} recording(s), {summary['processed']} processed, "
                f"{summary['reused']} reused, {len(summary['files_skipped'])} skipped -> part {k} of {n} in "
                f"{Path(summary['out']) / WORK / 'parts'}; when all {n} are done: python "
                f"relcon/data/process/process_recordings.py --merge {summary['out']}")
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
    inc = summary.get("incremental")
    if inc:
        lines.append(f"  recordings: {inc['recordings']} ({inc['processed']} processed, {inc['reused']} reused from "
                     f"earlier runs; {inc['added']} added, {inc['changed']} changed, {inc['removed']} removed since the "
                     f"last merge, {inc['failed']} failed)" + ("" if inc["layout_rewritten"] else
                                                              "; the layout was already up to date"))
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inputs", nargs="*", help="recording files, or folders searched for them")
    p.add_argument("--out", help="output folder (the pre-training layout)")
    p.add_argument("--merge", metavar="OUT", help="join the parts written by --shard runs into OUT's layout")
    p.add_argument("--manifest", help="CSV with columns file, subject[, fs, units]")
    p.add_argument("--fs", type=float, help="sampling rate in Hz of files without time stamps")
    p.add_argument("--units", default="auto", choices=UNIT_CHOICES, help="units of the input (default auto)")
    p.add_argument("--timezone", help="IANA zone that naive time stamps are local to (e.g. Europe/London)")
    p.add_argument("--subject-from-folder", action="store_true", help="subject = the file's parent folder")
    p.add_argument("--layout", default="packed", choices=("packed", "npy"))
    p.add_argument("--val", type=float, default=0.1, help="fraction of subjects for validation (default 0.1)")
    p.add_argument("--test", type=float, default=0.0, help="fraction of subjects for test (default 0)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--drop-nonwear", action="store_true", help="remove non-wear (std < 13 mg on all axes for 60 min)")
    p.add_argument("--skip-bad", action="store_true", help="skip unreadable files (listed in the summary; exit 3)")
    p.add_argument("--workers", type=int, default=1, help="processes on this machine (default 1)")
    p.add_argument("--shard", help="K/N: process this share of the subjects as part K of N (default: the SLURM "
                                   "array task, else 1/1, which also merges)")
    p.add_argument("--chunk-rows", type=int, default=recordings.CHUNK_ROWS,
                   help=f"rows read at a time (default {recordings.CHUNK_ROWS:,}; memory, not results, depends on it)")
    p.add_argument("--overwrite", action="store_true", help="replace an --out that this script did not write")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        if args.merge:
            if args.inputs or args.out or args.manifest:
                raise ValueError("--merge OUT takes no inputs and no --out; expected process_recordings.py --merge OUT")
            summary = merge(args.merge, progress=not args.quiet)
        else:
            if not args.out:
                raise ValueError("--out DIR is required (or --merge DIR)")
            shard = parse_shard(args.shard) if args.shard else shard_from_environment()
            if shard and not args.shard:
                log.info("shard %d/%d from the SLURM job array (SLURM_ARRAY_TASK_ID=%s, SLURM_ARRAY_TASK_COUNT=%s)",
                         *shard, os.environ["SLURM_ARRAY_TASK_ID"], os.environ["SLURM_ARRAY_TASK_COUNT"])
            sources = collect_sources(args.inputs, args.manifest, args.fs, args.units, args.subject_from_folder)
            summary = process_recordings(sources, args.out, args.layout, args.val, args.test, args.seed,
                                         args.drop_nonwear, args.skip_bad, args.overwrite, progress=not args.quiet,
                                         shard=shard, workers=args.workers, timezone=args.timezone,
                                         chunk_rows=args.chunk_rows)
    except (ValueError, FileNotFoundError, FileExistsError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(format_summary(summary))
    skipped = summary["files_skipped"] if summary.get("merged") is False else summary["dropped"]["files_skipped"]
    if summary.get("merged") is not False:
        print(f"summary: {Path(summary['out']) / SUMMARY}")
    if skipped:
        print(f"{len(skipped)} file(s) were skipped (--skip-bad); exit status {EXIT_SKIPPED}", file=sys.stderr)
        return EXIT_SKIPPED
    return 0


if __name__ == "__main__":
    sys.exit(main())
