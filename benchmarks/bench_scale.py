"""How the pre-training data layer scales with the number of segments, up to the paper's 10^9.

    python benchmarks/bench_scale.py [--sizes 1e4,1e5,1e6,1e7,1e8,1e9] [--workdir /tmp/relcon_scale]
                                     [--out benchmarks/out/scale.json] [--sampler-max 1e8] [--open-ab]
                                     [--sparse] [--keep]

Simulates packed trees (``relcon/data/packed.py``) of each size without writing terabytes: four
template subjects hold real ``.npy`` arrays of shape (n, 256, 3) float32 (random data, ~155 MB
in all; ``--sparse``: sparse files of zeros instead), n drawn from 1,000-1,800 (mean 1,400
segments per subject-hour, as in the paper: 10^9 segments of 87,376 participants). Every
simulated subject is a symlinked folder ``train/subject_XXXXXX`` -> one of the templates, and the
manifest lists each subject's hour arrays by their own path, so the index holds as many distinct
paths and row counts as a real tree of that size (87,376 subjects, ~7.1e5 arrays at 10^9); only
the bytes behind them are shared.

Each size is measured in a fresh interpreter:

* ``load_s``: ``SegmentIndex.scan(<root>/train)`` (manifest read) and ``dataset_s``: building
  RelCon's ``WithinUserCandidateDataset`` (K = 20) on it; ``fingerprint_s``: the index's
  ``fingerprint()`` (what every training run records once).
* main process memory after both, from ``/proc/self/smaps_rollup``: RSS, PSS, USS (private
  clean + dirty) and anonymous memory (the heap: what is not a file's page cache), as growth over
  the same interpreter before the index; ``peak_mb``: VmHWM growth.
* per DataLoader worker (fork, 2 workers, batches of 64 drawn uniformly at random, ~20 batches
  served by each): the worker's USS and PSS, read by the parent while the workers are alive.
  USS is what a worker adds; its dirty part are pages it wrote, including the copy-on-write
  copies of the parent's pages that reference-count touches dirtied.
* ``relcon_us``: per-sample cost of the RelCon loader (anchor + 20 within-user candidates,
  ``__getitems__`` on batches of 64 random items) and ``read_us``: of a plain
  ``SegmentIndex.read`` of a random segment, both in the main process, after a warm-up; the
  template arrays are in the page cache, so this is the CPU cost of the data layer, not disk.
* ``sampler_s`` / ``sampler_mb``: the training sampler's (``EpochSampler``) first index of a
  shuffled epoch and the anonymous memory its iterator holds, for sizes up to ``--sampler-max``.

``--open-ab`` adds an interleaved comparison of the two ways of opening an array (``open_ab``).

Prints a markdown table and writes JSON (with the machine's load average) to ``--out``. The
simulated trees live under ``--workdir`` and are removed at the end unless ``--keep``.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))
from benchutil import machine_info  # noqa: E402

PAPER_SEGMENTS = 1e9
PAPER_SUBJECTS = 87_376
ROWS_PER_HOUR = (1_000, 1_800)  # drawn uniformly: mean 1,400 segments per subject-hour
N_TEMPLATES = 4
SEGMENT = (256, 3)


# ---------------------------------------------------------------- memory
def smaps(pid="self") -> dict:
    """RSS, PSS, USS (private clean + dirty), private dirty and anonymous memory in MB, from
    /proc/<pid>/smaps_rollup."""
    fields = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 3 and parts[-1] == "kB":
                fields[parts[0].rstrip(":")] = int(parts[1]) / 1024
    return {"rss": fields["Rss"], "pss": fields["Pss"], "uss": fields["Private_Clean"] + fields["Private_Dirty"],
            "dirty": fields["Private_Dirty"], "anon": fields["Anonymous"]}


def hwm_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


# ---------------------------------------------------------------- simulated trees
def plan(size: float) -> tuple[int, int]:
    """(subjects, arrays) of a simulated tree of ``size`` segments: subjects in the paper's
    proportion, arrays of ~1,400 segments."""
    subjects = max(1, round(PAPER_SUBJECTS * size / PAPER_SEGMENTS))
    arrays = max(1, round(size / np.mean(ROWS_PER_HOUR)))
    return subjects, max(arrays, subjects)


def build_templates(workdir: Path, hours: int, sparse: bool) -> np.ndarray:
    """Template arrays ``templates/t<k>/hour_<h>.npy`` of random data (``sparse``: zeros in a
    sparse file, which costs no disk but makes a first read of a page several times slower);
    returns their row counts (k, h)."""
    rng = np.random.default_rng(0)
    counts = rng.integers(ROWS_PER_HOUR[0], ROWS_PER_HOUR[1] + 1, size=(N_TEMPLATES, hours))
    for k in range(N_TEMPLATES):
        folder = workdir / "templates" / f"t{k}"
        folder.mkdir(parents=True, exist_ok=True)
        for h in range(hours):
            path = folder / f"hour_{h:02d}.npy"
            if path.exists():
                continue
            array = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(int(counts[k, h]), *SEGMENT))
            if not sparse:  # else a header and a hole: open_memmap only extends the file
                array[:] = rng.standard_normal(array.shape, dtype=np.float32)
            del array
    return counts


def build_tree(workdir: Path, size: float, counts: np.ndarray, manifest_version: int) -> tuple[Path, int, int, int]:
    """The simulated tree of ``size`` segments; returns (root, segments, arrays, subjects)."""
    from relcon.data import packed

    subjects, n_arrays = plan(size)
    base, extra = divmod(n_arrays, subjects)
    root = workdir / f"n{size:.0e}-v{manifest_version}"
    if root.exists():
        shutil.rmtree(root)
    (root / "train").mkdir(parents=True)
    arrays, rows = [], []
    for s in range(subjects):
        template = s % N_TEMPLATES
        os.symlink(workdir / "templates" / f"t{template}", root / "train" / f"subject_{s:06d}")
        for h in range(base + (s < extra)):
            arrays.append(f"train/subject_{s:06d}/hour_{h:02d}.npy")
            rows.append(int(counts[template, h]))
    if manifest_version == 1:
        entry = packed.manifest_entry(arrays, rows, SEGMENT, "float32", "bench_scale")
        (root / packed.MANIFEST).write_text(json.dumps(entry), encoding="utf-8")
    else:
        packed.write_manifest(root, arrays, rows, SEGMENT, "float32", "bench_scale")
    return root, int(sum(rows)), len(arrays), subjects


# ---------------------------------------------------------------- one size, in a fresh process
def measure(root: Path, sampler_max: float, k: int = 20, batch: int = 64) -> dict:
    import torch

    from relcon.data.Base_Dataset import SegmentIndex, collate_batch
    from relcon.models.Base_Model import EpochSampler
    from relcon.models.RelCon.candidates import WithinUserCandidateDataset

    torch.set_num_threads(1)
    before, hwm0 = smaps(), hwm_mb()
    t0 = time.perf_counter()
    index = SegmentIndex.scan(root / "train")
    t1 = time.perf_counter()
    ds = WithinUserCandidateDataset(index, k, seed=0)
    t2 = time.perf_counter()
    after = smaps()
    out = {"segments": len(index), "load_s": t1 - t0, "dataset_s": t2 - t1,
           "main": {key: after[key] - before[key] for key in after}, "main_abs": after,
           "peak_mb": hwm_mb() - hwm0}
    t3 = time.perf_counter()
    index.fingerprint()
    out["fingerprint_s"] = time.perf_counter() - t3

    rng = np.random.default_rng(1)
    # per-sample costs (main process), after a warm-up batch
    ds.__getitems__(rng.integers(0, len(ds), batch))
    n_batches = 30
    items = rng.integers(0, len(ds), (n_batches, batch))
    t = time.perf_counter()
    for b in items:
        ds.__getitems__(b)
    out["relcon_us"] = (time.perf_counter() - t) / items.size * 1e6
    fids = rng.integers(0, len(index), 2000)
    index.read(int(fids[0]))
    t = time.perf_counter()
    for fid in fids:
        index.read(int(fid))
    out["read_us"] = (time.perf_counter() - t) / len(fids) * 1e6

    # two forked workers serving random batches
    total = 40
    order = rng.integers(0, len(ds), total * batch).tolist()
    loader = torch.utils.data.DataLoader(ds, batch_size=batch, sampler=order, num_workers=2,
                                         multiprocessing_context="fork", collate_fn=collate_batch)
    it = iter(loader)
    for _ in range(total - 2):
        next(it)
    workers = [smaps(w.pid) for w in it._workers]
    del it
    out["worker"] = {key: float(np.mean([w[key] for w in workers])) for key in workers[0]}

    if len(ds) <= sampler_max:
        anon = smaps()["anon"]
        t = time.perf_counter()
        sampler = EpochSampler(len(ds), shuffle=True, seed=0)
        sampler.set_epoch(1)
        order = iter(sampler)
        next(order)
        out["sampler_s"] = time.perf_counter() - t
        out["sampler_mb"] = smaps()["anon"] - anon  # what the epoch's order holds while it is iterated
        del order
    return out


def open_ab(workdir: Path, counts: np.ndarray, repeats: int = 7) -> dict:
    """Microseconds to open a template array and copy 21 random rows (an anchor and its
    candidates when the array is not among the open maps): ``np.load(mmap_mode="r")`` against
    ``PackedArrays``' header check + ``mmap``, interleaved in this process; medians of ``repeats``."""
    from relcon.data import packed

    paths = sorted(str(p) for p in (workdir / "templates").rglob("*.npy"))
    shapes = [np.load(p, mmap_mode="r").shape for p in paths]
    store = packed.PackedArrays(paths, np.array([s[0] for s in shapes]), SEGMENT, "float32")
    rng = np.random.default_rng(2)
    times = {"np.load": [], "header check + mmap": []}
    for _ in range(repeats):
        rows = [np.sort(rng.choice(s[0], 21, replace=False)) for s in shapes]
        for name in times:
            t = time.perf_counter()
            for path, shape, r in zip(paths, shapes, rows):
                mapped = (np.load(path, mmap_mode="r", allow_pickle=False).view(np.ndarray) if name == "np.load"
                          else store._map(path, shape))
                mapped[r]
                del mapped
            times[name].append((time.perf_counter() - t) / len(paths) * 1e6)
    return {name: float(np.median(v)) for name, v in times.items()}


def fmt_size(n: float) -> str:
    return f"1e{int(round(np.log10(n)))}" if n > 0 else "0"


def table(rows: list[dict]) -> str:
    lines = ["| segments (arrays, subjects) | load s | dataset s | fingerprint s | main RSS / PSS / anon MB "
             "| peak MB | per-worker USS / PSS / dirty MB | RelCon us/sample | read us | sampler s (MB) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        m, w = r["main"], r["worker"]
        sampler = f"{r['sampler_s']:.2f} ({r['sampler_mb']:.0f})" if "sampler_s" in r else "skipped"
        lines.append(f"| {r['segments']:,} ({r['arrays']:,}, {r['subjects']:,}) | {r['load_s']:.3f} | "
                     f"{r['dataset_s']:.3f} | {r['fingerprint_s']:.2f} | {m['rss']:.0f} / {m['pss']:.0f} / "
                     f"{m['anon']:.0f} | {r['peak_mb']:.0f} | {w['uss']:.1f} / {w['pss']:.1f} / {w['dirty']:.1f} | "
                     f"{r['relcon_us']:.0f} | {r['read_us']:.1f} | {sampler} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="1e4,1e5,1e6,1e7,1e8,1e9", help="dataset sizes in segments, comma-separated")
    p.add_argument("--workdir", default="/tmp/relcon_scale", help="where the simulated trees are built")
    p.add_argument("--out", default=str(REPO / "benchmarks/out/scale.json"), help="JSON results")
    p.add_argument("--manifest-version", type=int, default=None,
                   help="manifest to simulate: 1 (JSON list) or 2 (array tables); default the writer's")
    p.add_argument("--sampler-max", type=float, default=1e8, help="largest size whose epoch order is built")
    p.add_argument("--keep", action="store_true", help="keep the simulated trees")
    p.add_argument("--sparse", action="store_true", help="template arrays as sparse files of zeros (no disk)")
    p.add_argument("--open-ab", action="store_true",
                   help="also time opening an array: np.load against the packed reader's header check + mmap")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(measure(Path(args.child), args.sampler_max)))
        return 0

    from relcon.data import packed

    version = args.manifest_version or getattr(packed, "VERSION", 1)
    sizes = [float(s) for s in args.sizes.split(",")]
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    rows = []
    try:
        hours = max(-(-plan(s)[1] // plan(s)[0]) for s in sizes)
        counts = build_templates(workdir, hours, args.sparse)
        for path in sorted((workdir / "templates").rglob("*.npy")):
            path.read_bytes()  # page cache
        for size in sizes:
            t = time.perf_counter()
            root, segments, n_arrays, subjects = build_tree(workdir, size, counts, version)
            built = time.perf_counter() - t
            r = subprocess.run([sys.executable, __file__, "--child", str(root), "--sampler-max", str(args.sampler_max)],
                               capture_output=True, text=True, cwd=REPO)
            if r.returncode != 0:
                print(r.stderr, file=sys.stderr)
                raise SystemExit(f"size {size:.0e}: measurement failed (exit {r.returncode})")
            row = json.loads(r.stdout.strip().splitlines()[-1])
            row.update(size=size, arrays=n_arrays, subjects=subjects, build_s=built, manifest_version=version)
            assert row["segments"] == segments
            rows.append(row)
            print(f"{fmt_size(size)}: {segments:,} segments, {n_arrays:,} arrays, {subjects:,} subjects "
                  f"(tree {built:.1f} s)", file=sys.stderr, flush=True)
            if not args.keep:
                shutil.rmtree(root)
        opening = open_ab(workdir, counts) if args.open_ab else None
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    print(table(rows))
    if opening:
        print("\nopening an array + 21 rows, us (interleaved): "
              + ", ".join(f"{name} {us:.0f}" for name, us in opening.items()))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    result = {"command": "python benchmarks/bench_scale.py " + " ".join(argv if argv is not None else sys.argv[1:]),
              "machine": machine_info(onednn=False),
              "loadavg": os.getloadavg(), "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
              "manifest_version": version, "rows": rows, "open_us": opening}
    Path(args.out).write_text(json.dumps(result, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
