"""Cohort-shape benchmark: many recordings through ``process_recordings.py`` (1 and 2 workers,
2 shards + merge) and ``python -m relcon.embed --output-dir``, a 7-day file's peak memory, and
the extrapolation to the paper's 87,376 participants x 7 days.

    python benchmarks/bench_cohort.py [--participants 200] [--hours 1] [--embed-participants 20]
        [--week] [--workdir /tmp/bench_cohort] [--json benchmarks/results/cohort.json]

Input, written once into ``--workdir`` and deleted at the end (``--keep`` keeps it): one
synthetic recording of ``--hours`` at 100 Hz in the Capture-24 format (``time,x,y,z``, ISO
date-times, 5-decimal values in g, CSV.gz), written in chunks, copied to ``--participants``
files ``P00001.csv.gz`` ... (the reader's speed does not depend on the values, so one template
serves every participant). With ``--week``, a 7-day 100 Hz CSV.gz (60.48 M rows, ~1 GB) is built
from one day's text with the date changed per day, then processed and embedded alone.

Every command runs in a fresh interpreter, as a user runs it, under a wrapper that reports the
largest peak resident set of any one process of the command (main process or worker:
``ru_maxrss`` of its waited descendants) and its CPU time. Prints a table and writes JSON with
the CPU (model, ISA flags) and the machine's load.
"""
from __future__ import annotations

import argparse
import filecmp
import gzip
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchutil import LoadMeter, machine_info  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
PROCESS = [sys.executable, str(REPO / "relcon/data/process/process_recordings.py")]
EMBED = [sys.executable, "-m", "relcon.embed"]
PAPER_PARTICIPANTS, PAPER_DAYS = 87_376, 7
WRAPPER = ("import json, resource, subprocess, sys; r = subprocess.run(sys.argv[1:]); "
           "u = resource.getrusage(resource.RUSAGE_CHILDREN); "
           "print(json.dumps({'rc': r.returncode, 'peak_rss_mb': u.ru_maxrss / 1024, "
           "'cpu_s': u.ru_utime + u.ru_stime}), file=sys.stderr)")


def write_template(path: Path, hours: float, chunk_rows: int = 1_000_000) -> None:
    """A CSV.gz of ``hours`` at 100 Hz, written chunk by chunk (never whole in memory)."""
    n, rng = int(round(hours * 360_000)), np.random.default_rng(0)
    start = pd.Timestamp("2024-03-04 00:00:00")
    tmp = path.with_name(path.name + ".part")
    with gzip.open(tmp, "wt", compresslevel=1, newline="") as f:
        f.write("time,x,y,z\n")
        for first in range(0, n, chunk_rows):
            i = np.arange(first, min(n, first + chunk_rows))
            t = i / 100.0
            xyz = np.stack([0.3 * np.sin(2 * np.pi * 0.5 * t), 0.2 * np.cos(2 * np.pi * 1.7 * t), np.ones(len(i))], 1)
            xyz += 0.05 * rng.standard_normal(xyz.shape)
            stamps = (start + pd.to_timedelta(i * 10, unit="ms")).strftime("%Y-%m-%d %H:%M:%S.%f").str[:-3]
            frame = pd.DataFrame({"time": stamps, "x": xyz[:, 0], "y": xyz[:, 1], "z": xyz[:, 2]})
            frame.to_csv(f, index=False, header=False, float_format="%.5f")
    tmp.replace(path)


def write_week(day: Path, week: Path) -> None:
    """7 days from one day's text (2024-03-04): each day's lines with its own date, gzip members
    appended one by one (one day of text in memory at a time)."""
    text = gzip.decompress(day.read_bytes())
    header, body = text.split(b"\n", 1)
    tmp = week.with_name(week.name + ".part")
    with open(tmp, "wb") as f:
        f.write(gzip.compress(header + b"\n", compresslevel=1))
        for d in range(PAPER_DAYS):
            f.write(gzip.compress(body.replace(b"2024-03-04 ", f"2024-03-{4 + d:02d} ".encode()), compresslevel=1))
    tmp.replace(week)


def measured(command: list, env=None) -> dict:
    """Wall time, peak RSS (MB, largest process) and CPU seconds of ``command``."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", WRAPPER] + command, cwd=REPO, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    last = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "{}"
    stats = json.loads(last)
    if stats.get("rc") != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    return {"wall_s": round(wall, 2), "peak_rss_mb": round(stats["peak_rss_mb"]), "cpu_s": round(stats["cpu_s"], 1)}


def parallel(commands: list) -> dict:
    """Commands started together (as ``xargs -P`` or a job array would): wall of the slowest."""
    started = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, "-c", WRAPPER] + c, cwd=REPO, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True) for c in commands]
    results = []
    for p in procs:
        _, err = p.communicate()
        stats = json.loads(err.strip().splitlines()[-1])
        if stats["rc"] != 0:
            raise SystemExit(f"a shard failed:\n{err[-3000:]}")
        results.append(stats)
    return {"wall_s": round(time.perf_counter() - started, 2), "peak_rss_mb": round(max(r["peak_rss_mb"] for r in results)),
            "cpu_s": round(sum(r["cpu_s"] for r in results), 1)}


def same_layout(a: Path, b: Path) -> bool:
    """Same files with the same bytes (the work folder and summary.json, which names its folder, left out)."""
    def files(root):
        return sorted(p.relative_to(root) for p in root.rglob("*")
                      if p.is_file() and ".relcon-work" not in p.relative_to(root).parts and p.name != "summary.json")

    names = files(a)
    return names == files(b) and all(filecmp.cmp(a / n, b / n, shallow=False) for n in names)


def encoder_checkpoint(work: Path, config: str) -> Path:
    """A checkpoint of ``config``'s encoder, randomly initialised (speed does not depend on the weights)."""
    import torch

    from relcon.experiments.registry import get_config
    from relcon.utils.imports import import_net

    torch.manual_seed(0)
    path = work / f"encoder-{config}.pkl"
    torch.save({"net": import_net(get_config(config).net_config).state_dict()}, path)
    return path


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--participants", type=int, default=200)
    p.add_argument("--hours", type=float, default=1.0, help="hours per participant (default 1)")
    p.add_argument("--config", default="25_3_8_relcon", help="encoder architecture embedded (default the paper's)")
    p.add_argument("--embed-participants", dest="embed_participants", type=int, default=20,
                   help="participants embedded (default 20; 0: no embedding)")
    p.add_argument("--week", action="store_true", help="also a 7-day file: peak RSS of processing and embedding")
    p.add_argument("--week-config", default="demo", help="encoder embedding the 7-day file, a memory check "
                                                         "(default the demo's small one: 236,250 windows)")
    p.add_argument("--workdir", default="/tmp/bench_cohort")
    p.add_argument("--keep", action="store_true", help="keep the generated input")
    p.add_argument("--json", default=None, help="write the results here")
    args = p.parse_args()
    work = Path(args.workdir)
    cohort = work / "cohort"
    cohort.mkdir(parents=True, exist_ok=True)
    template = work / f"template_{args.hours:g}h.csv.gz"
    started = time.perf_counter()
    if not template.exists():
        write_template(template, args.hours)
    files = [cohort / f"P{i:05d}.csv.gz" for i in range(1, args.participants + 1)]
    for f in files:
        if not f.exists():
            shutil.copyfile(template, f)
    print(f"input: {args.participants} x {args.hours:g} h of 100 Hz CSV.gz ({template.stat().st_size / 1e6:.1f} MB "
          f"each), ready in {time.perf_counter() - started:.0f} s")
    rows = int(round(args.hours * 360_000)) * args.participants
    pdays = args.participants * args.hours / 24
    results = {"machine": machine_info(), "participants": args.participants, "hours": args.hours,
               "rows": rows, "runs": {}}
    base = ["--val", "0.1", "--quiet", "--overwrite"]

    def record(name, result, n_rows=rows, days=pdays):
        result["rows_per_s"] = round(n_rows / result["wall_s"])
        result["participant_days_per_cpu_hour"] = round(days / (result["cpu_s"] / 3600), 1) if result["cpu_s"] else None
        results["runs"][name] = result
        print(f"{name:<28} wall {result['wall_s']:8.1f} s  cpu {result['cpu_s']:8.1f} s  "
              f"{result['rows_per_s'] / 1e6:6.2f} M rows/s  peak RSS {result['peak_rss_mb']:5d} MB")

    with LoadMeter() as load:
        for workers in (1, 2):
            out = work / f"out-w{workers}"
            shutil.rmtree(out, ignore_errors=True)
            record(f"process, {workers} worker(s)", measured(PROCESS + [str(cohort), "--out", str(out), "--workers",
                                                                       str(workers)] + base))
        out = work / "out-shards"
        shutil.rmtree(out, ignore_errors=True)
        shards = parallel([PROCESS + [str(cohort), "--out", str(out), "--shard", f"{k}/2"] + base for k in (1, 2)])
        merge = measured(PROCESS + ["--merge", str(out), "--quiet"])
        record("process, 2 shards", shards)
        record("merge of 2 parts", merge)
        combined = {"wall_s": round(shards["wall_s"] + merge["wall_s"], 2),
                    "peak_rss_mb": max(shards["peak_rss_mb"], merge["peak_rss_mb"]),
                    "cpu_s": round(shards["cpu_s"] + merge["cpu_s"], 1)}
        record("process, 2 shards + merge", combined)
        results["layouts_equal"] = {d: same_layout(work / "out-w1", work / d) for d in ("out-w2", "out-shards")}
        print(f"  layouts byte-equal to the 1-worker one: {results['layouts_equal']}")
        rerun = measured(PROCESS + [str(cohort), "--out", str(work / "out-w1")] + base)
        record("rerun, nothing changed", rerun)

        embedded = None
        if args.embed_participants:
            ckpt = encoder_checkpoint(work, args.config)
            subset = work / "embed-in"
            shutil.rmtree(subset, ignore_errors=True)
            subset.mkdir()
            for f in files[: args.embed_participants]:
                os.link(f, subset / f.name)
            emb = work / "emb"
            shutil.rmtree(emb, ignore_errors=True)
            embedded = measured(EMBED + ["--config", args.config, "--run-dir", str(ckpt), "--input", str(subset),
                                         "--output-dir", str(emb), "--quiet"])
            windows = json.loads((emb / "summary.json").read_text())["windows"]
            embedded["windows_per_s"] = round(windows / embedded["wall_s"])
            record(f"embed {args.embed_participants} recordings", embedded,
                   n_rows=int(round(args.hours * 360_000)) * args.embed_participants,
                   days=args.embed_participants * args.hours / 24)
            print(f"  {windows} windows: {embedded['windows_per_s']} windows/s ({args.config} encoder)")

        if args.week:
            day = work / "day_24h.csv.gz"
            if not day.exists():
                write_template(day, 24)
            week = work / "week_7d.csv.gz"
            if not week.exists():
                write_week(day, week)
            out = work / "out-day"
            shutil.rmtree(out, ignore_errors=True)
            record("1 day, 1 file", measured(PROCESS + [str(day), "--out", str(out), "--val", "0", "--quiet",
                                                       "--overwrite"]), n_rows=8_640_000, days=1)
            out = work / "out-week"
            shutil.rmtree(out, ignore_errors=True)
            record("7 days, 1 file", measured(PROCESS + [str(week), "--out", str(out), "--val", "0", "--quiet",
                                                        "--overwrite"]), n_rows=60_480_000, days=7)
            one = work / "week-in"
            shutil.rmtree(one, ignore_errors=True)
            one.mkdir()
            os.link(week, one / week.name)
            small = encoder_checkpoint(work, args.week_config)
            record("7 days, embedded", measured(EMBED + ["--config", args.week_config, "--run-dir", str(small), "--input",
                                                         str(one), "--output-dir", str(work / "emb-week"), "--quiet"]),
                   n_rows=60_480_000, days=7)
    results["load"] = load.result

    one = results["runs"]["process, 1 worker(s)"]
    rate = one["participant_days_per_cpu_hour"]
    total_days = PAPER_PARTICIPANTS * PAPER_DAYS
    cpu_h = total_days / rate
    merge_per_file = merge["wall_s"] / max(1, json.loads((work / "out-shards" / "summary.json").read_text())["hours"])
    merge_h = merge_per_file * PAPER_PARTICIPANTS * PAPER_DAYS * 24 / 3600
    emb_rate = embedded["participant_days_per_cpu_hour"] if embedded else None
    results["extrapolation"] = {
        "participant_days": total_days, "processing_cpu_hours": round(cpu_h), "wall_h_100_cores": round(cpu_h / 100, 1),
        "wall_h_1000_cores": round(cpu_h / 1000, 2), "merge_wall_h": round(merge_h, 2),
        "embedding_cpu_hours": round(total_days / emb_rate) if emb_rate else None}
    e = results["extrapolation"]
    print(f"87,376 participants x 7 days = {total_days:,} participant-days: processing {e['processing_cpu_hours']:,} "
          f"CPU-hours ({rate} participant-days per CPU-hour): {e['wall_h_100_cores']} h on 100 cores, "
          f"{e['wall_h_1000_cores']} h on 1,000, plus a merge of ~{e['merge_wall_h']} h (one process, measured "
          f"{merge_per_file * 1000:.1f} ms per subject-hour)"
          + (f"; embedding {e['embedding_cpu_hours']:,} CPU-hours" if e["embedding_cpu_hours"] else ""))
    print(f"machine: {results['machine']}; load: {results['load']}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(results, indent=1))
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
