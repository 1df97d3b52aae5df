"""Embedding a cohort: ``python -m relcon.embed --run-dir R --input FOLDER_OR_MANIFEST --output-dir OUT``.

The encoder is loaded once; the windows of consecutive recordings share its batches; each
recording is streamed (``relcon/embed/stream.py``), so a week-long file needs the memory of one
chunk plus its embeddings. Outputs, per recording, under ``OUT`` at the input's path relative to
the input folder (or the manifest's folder), its suffix replaced:

* ``<name>.npy``: (N, D) float32 embeddings;
* ``<name>.windows.csv``: one row per window (``relcon/embed/stream.py``: start and end time,
  run, gap and non-wear flags);
* ``<name>.qc.json``: the recording's quality line (hours, windows, gaps, seconds left out,
  non-wear) and the key that makes a rerun skip it: the file (path, size, modification time),
  the checkpoint (path, size, modification time) and the settings (fs, units, hop, time zone).

Written in that order, each atomically, the ``.qc.json`` last: a recording with a current
``.qc.json`` is complete and skipped on a rerun (resumable after a kill); changed files are
embedded again. ``--shard K/N`` (or a SLURM job array) embeds a deterministic share of the
recordings (by a hash of their relative path). The cohort summary ``summary[-K-of-N].json``
(recordings, hours, windows, gaps, non-wear, failures with reasons) is written at the end and
printed. With ``--skip-bad`` a file that cannot be read is listed there and the exit status is 3.
"""
from __future__ import annotations

import csv
import hashlib
import json
import sys
from pathlib import Path

from relcon.data import recordings
from relcon.data.process import process_recordings as pr
from relcon.embed.stream import Batcher, RecordingJob, qc_line, table_csv
from relcon.utils.io import atomic_save_npy, atomic_write_json, atomic_write_text
from relcon.utils.progress import progress as progress_bar

EXIT_SKIPPED = 3


def cohort_inputs(source) -> list[tuple[Path, str, float | None, str | None]]:
    """(file, output name relative to OUT without suffix, fs or None, units or None) of each
    recording of a folder (searched recursively, the suffixes of ``process_recordings.py``) or a
    manifest CSV (a ``file`` column; optional ``fs``, ``units``; paths relative to its folder)."""
    source = Path(source)
    if source.is_dir():
        files = pr.find_inputs([source])
        if not files:
            raise ValueError(f"{source}: no recordings found (expected {', '.join(pr.SUFFIXES)} files in it or below)")
        return [(f, _stem(f.relative_to(source)), None, None) for f in files]
    if not source.is_file():
        raise FileNotFoundError(f"--input {source} does not exist")
    if not source.name.lower().endswith(".csv"):
        raise ValueError(f"--input {source}: expected a folder of recordings or a manifest CSV with a 'file' column")
    with open(source, encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows or "file" not in rows[0]:
        raise ValueError(f"{source}: columns {list(rows[0]) if rows else []}; expected a manifest with a 'file' column "
                         f"(and optional fs, units)")
    out = []
    for line, row in enumerate(rows, start=2):
        file = Path(row["file"].strip())
        path = file if file.is_absolute() else source.parent / file
        rate = (row.get("fs") or "").strip()
        try:
            rate = float(rate) if rate else None
        except ValueError:
            raise ValueError(f"{source}, line {line}: fs {rate!r} is not a number (Hz)") from None
        name = _stem(file) if not file.is_absolute() else _stem(Path(file.name))
        out.append((path, name, rate, (row.get("units") or "").strip() or None))
    return out


def _stem(relative: Path) -> str:
    name = relative.name
    for suffix in sorted(pr.SUFFIXES, key=len, reverse=True):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
            break
    return (relative.parent / name).as_posix()


def _file_id(path: Path) -> dict:
    st = Path(path).stat()
    return {"path": str(Path(path).resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def embed_cohort(inputs, encoder, output_dir, checkpoint, fs=None, units="auto", hop_s=2.56, timezone=None,
                 batch_size: int = 256, device=None, precision: str = "fp32", shard=None, skip_bad: bool = False,
                 progress: bool = True, chunk_rows: int = recordings.CHUNK_ROWS, log=print) -> dict:
    """Embed ``inputs`` (:func:`cohort_inputs`) into ``output_dir``; returns the cohort summary.

    ``checkpoint``: the checkpoint file (part of every recording's key). ``shard``: (K, N) or
    None. A failure stops the cohort with the file's one-line error unless ``skip_bad``.
    """
    out = Path(output_dir)
    k, n = shard or (1, 1)
    chosen = [item for item in inputs if n == 1 or pr.shard_of(item[1], n) == k]
    names = [item[1] for item in chosen]
    if len(set(names)) != len(names):
        twice = sorted({x for x in names if names.count(x) > 1})
        raise ValueError(f"recordings {', '.join(twice[:5])} would be written twice (same name, different suffix?); "
                         f"expected one recording per output name")
    batcher = Batcher(encoder, batch_size, device, precision)
    settings = {"fs": fs, "units": units, "hop_s": hop_s, "timezone": timezone, "precision": precision}
    ckpt_id = _file_id(checkpoint) if checkpoint is not None else None
    summary = {"output_dir": str(out), "shard": [k, n], "recordings": len(chosen), "embedded": 0, "skipped_done": 0,
               "failed": [], "hours": 0.0, "windows": 0, "gaps": 0, "gap_s": 0.0, "nonwear_windows": 0, "nonwear_h": 0.0,
               "left_out_s": 0.0, "per_recording": []}
    jobs = {}

    def finish(owner, embeddings):
        job, target, key = jobs.pop(owner)
        result = job.result(embeddings)
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_save_npy(target.with_name(target.name + ".npy"), result.embeddings)
        atomic_write_text(target.with_name(target.name + ".windows.csv"), table_csv(result.table))
        atomic_write_json(target.with_name(target.name + ".qc.json"), {**result.qc, "key": key})
        _count(summary, result.qc)
        summary["embedded"] += 1
        log(qc_line(result.qc))

    bar = progress_bar(total=len(chosen), desc="recordings", unit="recording", disable=not progress)
    with bar:
        for path, name, rate, unit in chosen:
            target = out / name
            try:
                key = hashlib.sha256(json.dumps({"file": _file_id(path), "checkpoint": ckpt_id, "settings": settings,
                                                 "fs": rate, "units": unit}, sort_keys=True).encode()).hexdigest()[:24]
                qc_path = target.with_name(target.name + ".qc.json")
                if qc_path.is_file():
                    try:
                        stored = json.loads(qc_path.read_text())
                    except ValueError:
                        stored = {}
                    if stored.get("key") == key:
                        summary["skipped_done"] += 1
                        _count(summary, stored)
                        bar.update(1)
                        continue
                job = RecordingJob(path, batcher, rate or fs, hop_s, unit or units, timezone, chunk_rows, owner=name)
                for line in job.warnings:
                    log(f"warning: {line}")
                jobs[name] = (job, target, key)
                job.run()
            except (ValueError, FileNotFoundError) as e:
                jobs.pop(name, None)
                batcher.drop(name)
                if not skip_bad:
                    raise
                summary["failed"].append({"file": str(path), "reason": str(e)})
                log(f"skipped: {e}")
            for owner, embeddings in batcher.finished():
                finish(owner, embeddings)
            bar.update(1)
        batcher.flush()
        for owner, embeddings in batcher.finished():
            finish(owner, embeddings)
    for key in ("hours", "gap_s", "nonwear_h", "left_out_s"):
        summary[key] = round(summary[key], 3)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / ("summary.json" if n == 1 else f"summary-{k}-of-{n}.json"), summary)
    return summary


def _count(summary: dict, qc: dict) -> None:
    for key in ("hours", "windows", "gaps", "gap_s", "nonwear_windows", "nonwear_h", "left_out_s"):
        summary[key] += qc.get(key, 0)
    summary["per_recording"].append({k: qc.get(k) for k in ("file", "hours", "windows", "gaps", "nonwear_windows")})


def format_summary(summary: dict) -> str:
    k, n = summary["shard"]
    return (f"cohort{f' shard {k}/{n}' if n > 1 else ''}: {summary['recordings']} recording(s) ({summary['embedded']} "
            f"embedded, {summary['skipped_done']} already done, {len(summary['failed'])} failed), {summary['hours']:g} h, "
            f"{summary['windows']} windows, {summary['gaps']} gap(s) ({summary['gap_s']:g} s), "
            f"{summary['nonwear_windows']} window(s) over non-wear ({summary['nonwear_h']:g} h) -> {summary['output_dir']}")


def main_cohort(args, encoder, checkpoint) -> int:
    shard = pr.parse_shard(args.shard) if args.shard else pr.shard_from_environment()
    if shard and not args.shard:
        print(f"shard {shard[0]}/{shard[1]} from the SLURM job array", file=sys.stderr)
    summary = embed_cohort(cohort_inputs(args.input), encoder, args.output_dir, checkpoint, fs=args.fs,
                           units=args.units, hop_s=args.hop, timezone=args.timezone, batch_size=args.batch_size,
                           precision=args.precision, shard=shard, skip_bad=args.skip_bad, progress=not args.quiet,
                           chunk_rows=args.chunk_rows, log=lambda line: print(line, file=sys.stderr))
    print(format_summary(summary))
    for item in summary["failed"]:
        print(f"failed: {item['reason']}", file=sys.stderr)
    return EXIT_SKIPPED if summary["failed"] else 0

