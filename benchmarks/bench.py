#!/usr/bin/env python
"""Benchmarks of the expensive parts of RelCon pre-training, at the reference shapes.

    python benchmarks/bench.py [--device cpu|cuda] [--only relcon_step,distance,motifdist_step,loader]
                               [--repeats 3] [--warmup 1] [--simple] [--json PATH] [--threads N]
                               [--precision fp32|bf16|fp32,bf16]

* ``relcon_step``: one training step of config ``25_3_8_relcon`` (batch 64, K = 20
  within-user candidates, ResNet1D encoder, frozen ``25_3_8_motifdist`` distance with the
  paper's sparsemax), timed by phase: distance (the ((B-1)+K, B) matrix and its sort), encoder
  forward (both encoder calls and the loss), backward, optimizer. ``--step-attention`` also
  runs it with the softmax distance.
* ``distance``: pairs/s of ``compute_candidate_distances`` at B = 64, K = 20 on both attention
  paths; ``--simple`` also times the straightforward pairwise loop on the same inputs and
  reports the largest relative difference of the two matrices.
* ``motifdist_step``: one training step of ``25_3_8_motifdist`` (batch 64, two augmentations).
* ``loader``: samples/s of the RelCon loader (K = 20, batch 64) on the reference dummy dataset
  (32 subjects x 2 hours x 25 segments of (256, 3) noise), both layouts, 0 and 2 workers,
  plus a 16x larger packed set to show the per-sample cost does not grow with the dataset.

``--precision`` (relcon_step, distance, motifdist_step): "fp32" (default), "bf16" (the forward
passes under bfloat16 autocast, as ``precision="bf16"`` trains: ``relcon/utils/precision.py``)
or "fp32,bf16": both in the same process, their runs interleaved (fp32, bf16, fp32, ...) so
that both see the same load; results then sit under ``<benchmark>.<precision>.``.

Each benchmark runs in a fresh process, so its peak memory is its own: the process's peak
resident set (``ru_maxrss``) on CPU, ``torch.cuda.max_memory_allocated`` on CUDA. Times are
medians of ``--repeats`` runs after ``--warmup`` runs. The CPU time other processes used
during each benchmark is recorded (from /proc/stat), because timings on a shared machine
depend on it. Inputs are seeded N(0, 1) noise and randomly initialised nets (seed 0), like the
reference's dummy data. Results: a table on stdout and JSON (default
``benchmarks/out/bench-<device>.json``).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from benchutil import LoadMeter, add_shape_arguments, machine_info, summarise, timed_runs  # noqa: E402

# The reference implementation on the 2-core CPU these benchmarks were written for (issue #7).
REFERENCE_CPU = {
    "relcon_step.sparsemax.total_s": 60.2,
    "relcon_step.softmax.total_s": 32.8,
    "relcon_step.sparsemax.distance_s": 36.2,
    "relcon_step.softmax.distance_s": 7.1,
    "relcon_step.encoder_forward_s": 11.2,
    "relcon_step.backward_s": 14.4,
    "relcon_step.peak_gb": 5.2,
    "distance.sparsemax.pairs_per_s": 121.0,
    "distance.softmax.pairs_per_s": 790.0,
    "motifdist_step.total_s": 0.70,
    "motifdist_step.peak_gb": 1.05,
    "loader.files.workers0.samples_per_s": 531.0,
    "loader.files.workers2.samples_per_s": 627.0,
}
# Targets of issue #7 on that CPU: (comparison, value).
TARGETS_CPU = {
    "relcon_step.sparsemax.total_s": ("<=", 20.0),
    "relcon_step.peak_gb": ("<=", 2.6),
    "distance.sparsemax.pairs_per_s": (">=", 970.0),
    "motifdist_step.total_s": ("<=", 0.47),
    "loader.packed.workers0.samples_per_s": (">=", 10600.0),
}
BENCHMARKS = ("relcon_step", "distance", "motifdist_step", "loader")


# ----------------------------------------------------------------------------- helpers
def sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def peak_gb(device) -> dict:
    import torch

    out = {"peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9, 3)}
    if device.type == "cuda":
        out["peak_cuda_gb"] = round(torch.cuda.max_memory_allocated(device) / 1e9, 3)
    out["peak_gb"] = out.get("peak_cuda_gb", out["peak_rss_gb"])
    return out


def interleaved_runs(fns: dict, warmup: int, repeats: int) -> dict:
    """``{key: timed_runs of fns[key]}`` with the functions' runs interleaved (each warm-up and
    each repeat runs every function once, in order), so all see the same machine load."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    runs = {key: [] for key in fns}
    for _ in range(repeats):
        for key, fn in fns.items():
            runs[key].append(fn())
    return runs


def by_precision(args, results: dict) -> dict:
    """One precision: its results as they are (plus ``precision``); several: under their names."""
    if len(args.precision) == 1:
        return results[args.precision[0]] | {"precision": args.precision[0]}
    return results | {"precision": list(args.precision)}


# ----------------------------------------------------------------------------- benchmarks
def reference_configs():
    from relcon.experiments.registry import get_config

    return get_config("25_3_8_relcon"), get_config("25_3_8_motifdist")


def distance_net(md_config, attention: str, device):
    import torch

    from relcon.utils.imports import import_net

    torch.manual_seed(0)
    md_config.net_config.params["attention"] = attention
    return import_net(md_config.net_config).to(device).eval()


def noise_batch(bs: int, k: int, device, seed: int = 0) -> dict:
    import torch

    g = torch.Generator().manual_seed(seed)
    batch = {"signal": torch.randn(bs, 256, 3, generator=g), "withinuser_cand_signals": torch.randn(bs, k, 256, 3, generator=g)}
    if device.type == "cuda":
        batch = {key: value.pin_memory() for key, value in batch.items()}
    return batch


def reference_step_inputs(batch_size: int, cands: int, device):
    """(model, anchors, candidates) of a float32 RelCon training step at the reference shapes
    (25_3_8_relcon with a sparsemax 25_3_8_motifdist distance, seed 0, noise batch), model in
    training mode with its optimizer; for the scripts that time or count parts of one step."""
    import torch

    from relcon.models.RelCon.RelCon_Model import Model

    config, md_config = reference_configs()
    torch.manual_seed(0)
    model = Model(config, motifdist_net=distance_net(md_config, "sparsemax", device),
                  run_dir=tempfile.mkdtemp(prefix="relcon-bench-"), device=device)
    model.configure_optimizer()
    model.net.train()
    anchors, candidates = model.batch_signals(noise_batch(batch_size, cands, device))
    return model, anchors, candidates


def bench_relcon_step(args, device) -> dict:
    from relcon.models.RelCon.RelCon_Model import Model

    out = {p: {} for p in args.precision}
    for attention in args.step_attention:
        steps = {}
        for precision in args.precision:
            steps[precision] = relcon_step_fn(args, device, attention, precision, Model)
        with LoadMeter() as load:
            runs = interleaved_runs(steps, args.warmup, args.repeats)
        for precision in args.precision:
            out[precision][attention] = summarise(runs[precision]) | {"load": load.result}
        del steps
    for precision in args.precision:
        out[precision].update(peak_gb(device))
    return by_precision(args, out)


def relcon_step_fn(args, device, attention, precision, Model):
    """One timed training step of the reference RelCon config in ``precision`` (a fresh model,
    seeded, so every precision starts from the same weights)."""
    import torch

    config, md_config = reference_configs()
    config.channels_last = {"auto": None, "on": True, "off": False}[args.channels_last]
    config.precision = precision
    torch.manual_seed(0)
    model = Model(config, motifdist_net=distance_net(md_config, attention, device),
                  run_dir=tempfile.mkdtemp(prefix="relcon-bench-"), device=device)
    model.configure_optimizer()
    model.net.train()
    batch = noise_batch(args.batch_size, args.cands, device)

    def step():
        sync(device)
        t0 = time.perf_counter()
        anchors, cands = model.batch_signals(batch)
        with model.autocast():  # as the training loop runs compute_loss
            order = model.candidate_order(anchors, cands)
        sync(device)
        t1 = time.perf_counter()
        with model.autocast():
            loss = model.loss_from_order(anchors, cands, order)
        sync(device)
        t2 = time.perf_counter()
        model.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        sync(device)
        t3 = time.perf_counter()
        model.optimizer.step()
        sync(device)
        t4 = time.perf_counter()
        assert torch.isfinite(loss)
        return {"distance_s": t1 - t0, "encoder_forward_s": t2 - t1, "backward_s": t3 - t2,
                "optimizer_s": t4 - t3, "total_s": t4 - t0}

    return step


def bench_distance(args, device) -> dict:
    import torch

    from relcon.models.RelCon.RelCon_Model import compute_candidate_distances
    from relcon.testing import pairwise_candidate_distances
    from relcon.utils.precision import autocast

    config, md_config = reference_configs()
    batch = noise_batch(args.batch_size, args.cands, device, seed=1)
    anchors, cands = batch["signal"].to(device), batch["withinuser_cand_signals"].to(device)
    pairs = (args.batch_size - 1 + args.cands) * args.batch_size
    results = {p: {"pairs": pairs, "chunk": config.distance_chunk} for p in args.precision}
    for attention in ("sparsemax", "softmax"):
        net = distance_net(md_config, attention, device)

        def timed(precision):
            def run():
                sync(device)
                t0 = time.perf_counter()
                with autocast(precision, device):
                    compute_candidate_distances(net, anchors, cands, chunk=config.distance_chunk)
                sync(device)
                return {"seconds": time.perf_counter() - t0}
            return run

        with LoadMeter() as load:
            runs = interleaved_runs({p: timed(p) for p in args.precision}, args.warmup, args.repeats)
        for precision in args.precision:
            res = summarise(runs[precision])
            res["pairs_per_s"] = round(pairs / res["seconds"], 1)
            res["load"] = load.result
            results[precision][attention] = res
        if precision != "fp32":
            with torch.no_grad():
                exact = compute_candidate_distances(net, anchors, cands, chunk=config.distance_chunk)
                with autocast(precision, device):
                    low = compute_candidate_distances(net, anchors, cands, chunk=config.distance_chunk)
            res["max_rel_diff_vs_fp32"] = float(((low - exact).abs() / exact.abs()).max())
            # how many candidate orders the rounding changed (the loss depends on the order only)
            res["orders_changed_share"] = float((low.argsort(0) != exact.argsort(0)).any(0).float().mean())
        res = results[args.precision[0]][attention]
        if args.simple:
            with LoadMeter() as load:
                t0 = time.perf_counter()
                slow = pairwise_candidate_distances(net, anchors, cands)
                sync(device)
                simple_s = time.perf_counter() - t0
            fast = compute_candidate_distances(net, anchors, cands, chunk=config.distance_chunk)
            res["simple"] = {"seconds": round(simple_s, 3), "pairs_per_s": round(pairs / simple_s, 1),
                             "max_rel_diff": float(((fast - slow).abs() / slow.abs()).max()),
                             "speedup": round(simple_s / res["seconds"], 2), "load": load.result}
    for precision in args.precision:
        results[precision].update(peak_gb(device))
    return by_precision(args, results)


def bench_motifdist_step(args, device) -> dict:
    import numpy as np
    import torch

    from relcon.models.MotifDist.augmentations import augment
    from relcon.models.MotifDist.MotifDist_Model import Model

    rng = np.random.default_rng(0)
    _, config = reference_configs()
    signal = rng.standard_normal((config.batch_size, 256, 3)).astype(np.float32)
    aug = np.stack([augment(s, rng) for s in signal]).astype(np.float32)
    batch = {"signal": torch.from_numpy(signal), "aug_signal": torch.from_numpy(aug)}

    def make_step(precision):
        _, config = reference_configs()
        config.precision = precision
        torch.manual_seed(0)
        model = Model(config, run_dir=tempfile.mkdtemp(prefix="relcon-bench-"), device=device)
        model.configure_optimizer()
        model.net.train()

        def step():
            sync(device)
            t0 = time.perf_counter()
            with model.autocast():  # as the training loop runs compute_loss
                loss = model.compute_loss(batch, True)
            model.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            model.optimizer.step()
            sync(device)
            return {"total_s": time.perf_counter() - t0}
        return step

    with LoadMeter() as load:
        runs = interleaved_runs({p: make_step(p) for p in args.precision}, args.warmup, max(args.repeats, 5))
    return by_precision(args, {p: summarise(runs[p]) | {"load": load.result, "batch_size": config.batch_size}
                               | peak_gb(device) for p in args.precision})


def _age_tree(root: Path) -> None:
    """Date the tree's folders back a minute, as for a dataset written earlier (a tree modified
    in the last seconds is indexed but not cached)."""
    past = time.time() - 60
    for dirpath, _, _ in os.walk(root):
        os.utime(dirpath, (past, past))


def _synthetic_packed(root: Path, subjects: int, hours: int, segments: int) -> None:
    """A packed tree written directly (no per-segment files): for the size-independence check."""
    import numpy as np

    from relcon.data import packed

    rng = np.random.default_rng(0)
    arrays = []
    for s in range(subjects):
        for h in range(hours):
            rel = f"train/subject_{s}/hour_{h}.npy"
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            np.save(root / rel, rng.standard_normal((segments, 256, 3)).astype(np.float32))
            arrays.append(rel)
    packed.write_manifest(root, arrays, [segments] * len(arrays), (256, 3), "float32")


def bench_loader(args, device) -> dict:
    from relcon.data.Base_Dataset import SegmentIndex
    from relcon.data.process.pack_dataset import pack_dataset
    from relcon.data.process.process_dummydataset import generate_dummydataset
    from relcon.models.Base_Model import make_loader
    from relcon.models.RelCon.RelCon_Model import WithinUserCandidateDataset

    tmp = Path(tempfile.mkdtemp(prefix="relcon-bench-loader-"))
    generate_dummydataset(tmp / "files", kind="noise", progress=False)
    pack_dataset(tmp / "files", tmp / "packed", progress=False)
    _synthetic_packed(tmp / "packed16x", subjects=32 * 16, hours=2, segments=25)
    _age_tree(tmp / "files")
    out = {"batch_size": args.batch_size, "withinuser_cands": args.cands}

    t0 = time.perf_counter()
    SegmentIndex.scan(tmp / "files" / "train", cache=False)
    out["index_scan_s"] = round(time.perf_counter() - t0, 4)
    SegmentIndex.scan(tmp / "files" / "train")  # writes the cache
    t0 = time.perf_counter()
    assert SegmentIndex.scan(tmp / "files" / "train").from_cache
    out["index_cached_s"] = round(time.perf_counter() - t0, 4)

    pin = device.type == "cuda"
    for layout, workers in (("files", 0), ("files", 2), ("packed", 0), ("packed", 2), ("packed16x", 0)):
        index = SegmentIndex.scan(tmp / layout / "train")
        dataset = WithinUserCandidateDataset(index, args.cands, seed=1234)
        loader = make_loader(dataset, args.batch_size, True, 1234, workers, pin_memory=pin)
        epoch = [0]

        def run():
            loader.sampler.set_epoch(epoch[0])
            dataset.set_epoch(epoch[0])
            epoch[0] += 1
            t = time.perf_counter()
            n = sum(len(batch["index"]) for batch in loader)
            return {"seconds": time.perf_counter() - t, "samples": n}

        with LoadMeter() as load:
            runs = timed_runs(run, args.warmup, max(args.repeats, 5) if layout != "files" else args.repeats)
        res = summarise(runs)
        res["samples_per_s"] = round(res["samples"] / res["seconds"], 1)
        res["segments_in_dataset"] = len(index)
        res["load"] = load.result
        out.setdefault(layout, {})[f"workers{workers}"] = res
    return out | peak_gb(device)


# ----------------------------------------------------------------------------- driver
def flatten(results: dict) -> dict:
    """Flat ``bench.path.key -> value`` view of the headline numbers (for the table and targets);
    a benchmark run in several precisions gives ``bench.<precision>.path.key``."""
    flat = {}
    for name, result in results.items():
        if isinstance(result.get("precision"), list):
            for precision in result["precision"]:
                for key, value in flatten_one({name: result[precision]}).items():
                    flat[key.replace(f"{name}.", f"{name}.{precision}.", 1)] = value
        else:
            flat.update(flatten_one({name: result}))
    return flat


def flatten_one(results: dict) -> dict:
    flat = {}
    step = results.get("relcon_step", {})
    for attention in ("sparsemax", "softmax"):
        if attention in step:
            for key in ("total_s", "distance_s", "encoder_forward_s", "backward_s", "optimizer_s"):
                flat[f"relcon_step.{attention}.{key}"] = step[attention][key]
    first = next((step[a] for a in ("sparsemax", "softmax") if a in step), None)
    if first:
        flat["relcon_step.encoder_forward_s"] = first["encoder_forward_s"]
        flat["relcon_step.backward_s"] = first["backward_s"]
        flat["relcon_step.peak_gb"] = step["peak_gb"]
    dist = results.get("distance", {})
    for attention in ("sparsemax", "softmax"):
        if attention in dist:
            flat[f"distance.{attention}.pairs_per_s"] = dist[attention]["pairs_per_s"]
            if "max_rel_diff_vs_fp32" in dist[attention]:
                flat[f"distance.{attention}.max_rel_diff_vs_fp32"] = dist[attention]["max_rel_diff_vs_fp32"]
                flat[f"distance.{attention}.orders_changed_share"] = dist[attention]["orders_changed_share"]
            if "simple" in dist[attention]:
                flat[f"distance.{attention}.simple_pairs_per_s"] = dist[attention]["simple"]["pairs_per_s"]
                flat[f"distance.{attention}.max_rel_diff_vs_simple"] = dist[attention]["simple"]["max_rel_diff"]
    md = results.get("motifdist_step", {})
    if md:
        flat["motifdist_step.total_s"] = md["total_s"]
        flat["motifdist_step.peak_gb"] = md["peak_gb"]
    loader = results.get("loader", {})
    for layout in ("files", "packed", "packed16x"):
        for workers, res in loader.get(layout, {}).items():
            flat[f"loader.{layout}.{workers}.samples_per_s"] = res["samples_per_s"]
    return flat


def table(flat: dict, reference: dict, targets: dict) -> str:
    def lower_is_better(key):
        return key.endswith(("_s", "_gb")) and not key.endswith("per_s")
    rows = [("metric", "ours", "reference", "ratio", "target", "met")]
    for key, value in flat.items():
        ref = reference.get(key)
        if key.endswith(("max_rel_diff_vs_simple", "max_rel_diff_vs_fp32", "orders_changed_share")):
            rows.append((key, f"{value:.1e}", "", "", "", ""))
            continue
        ratio = ""
        if ref:
            ratio = f"{(ref / value if lower_is_better(key) else value / ref):.2f}x"
        target, met = "", ""
        if key in targets:
            op, bound = targets[key]
            target = f"{op} {bound:g}"
            met = "yes" if (value <= bound if op == "<=" else value >= bound) else "NO"
        rows.append((key, f"{value:.4g}", f"{ref:g}" if ref else "", ratio, target, met))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [" | ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)


def machine(device) -> dict:
    """benchutil.machine_info (CPU model, ISA flags and caps, ATen capability, oneDNN's ISA,
    threads) plus the device and the OpenMP wait policy."""
    import torch

    info = machine_info(torch) | {"device": str(device)}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    info["OMP_WAIT_POLICY"] = os.environ.get("OMP_WAIT_POLICY", "(runtime default)")
    return info


def run_child(name: str, args) -> dict:
    import torch

    from relcon.utils.memory import configure_allocator
    from relcon.utils.utils import select_device

    configure_allocator()  # as run_exp.py does

    if args.threads:
        torch.set_num_threads(args.threads)
    device = select_device(args.device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        torch.backends.cuda.matmul.allow_tf32 = False  # equal numerics: no TF32
        torch.backends.cudnn.allow_tf32 = False
    fn = globals()[f"bench_{name}"]
    result = fn(args, device)
    result["machine"] = machine(device)
    return result


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto (default cpu)")
    add_shape_arguments(p, BENCHMARKS)
    p.add_argument("--simple", action="store_true", help="also time the simple pairwise distance loop")
    p.add_argument("--channels-last", choices=["auto", "on", "off"], default="auto",
                   help="encoder layout in relcon_step (auto: channels-last on CPU only)")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    p.add_argument("--omp-wait-policy", choices=["default", "passive"], default="default",
                   help="OpenMP threads sleep while waiting (passive) or spin (the runtime's default). Spinning "
                        "is fastest on idle cores but collapses when other processes share them (10-20x slower "
                        "elementwise ops measured on a busy 2-core machine); an OMP_WAIT_POLICY already in the "
                        "environment wins")
    p.add_argument("--precision", default="fp32",
                   help="fp32 (default), bf16 (bfloat16 autocast) or fp32,bf16 (both, interleaved in one process) "
                        "for relcon_step, distance and motifdist_step")
    p.add_argument("--json", default=None, help="output file (default benchmarks/out/bench-<device>.json)")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    p.add_argument("--child-out", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.step_attention = [a for a in args.step_attention.split(",") if a]
    args.precision = [x for x in args.precision.split(",") if x]
    bad = [x for x in args.precision if x not in ("fp32", "bf16")] or ([] if args.precision else ["(empty)"])
    if bad:
        p.error(f"--precision {','.join(bad)}: expected fp32, bf16 or fp32,bf16")

    if args.child:
        result = run_child(args.child, args)
        Path(args.child_out).write_text(json.dumps(result))
        return 0

    names = [n for n in args.only.split(",") if n]
    unknown = sorted(set(names) - set(BENCHMARKS))
    if unknown:
        p.error(f"unknown benchmark(s) {unknown}; expected a subset of {list(BENCHMARKS)}")
    results, started = {}, time.strftime("%Y-%m-%d %H:%M:%S")
    passthrough = ["--device", args.device, "--repeats", str(args.repeats), "--warmup", str(args.warmup),
                   "--batch-size", str(args.batch_size), "--cands", str(args.cands),
                   "--step-attention", ",".join(args.step_attention), "--threads", str(args.threads),
                   "--channels-last", args.channels_last, "--precision", ",".join(args.precision)]
    passthrough += ["--simple"] if args.simple else []
    for name in names:
        with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
            child_out = f.name
        print(f"[bench] {name} ...", flush=True)
        t0 = time.time()
        cmd = [sys.executable, str(Path(__file__).resolve()), *passthrough, "--child", name, "--child-out", child_out]
        env = dict(os.environ)
        if args.omp_wait_policy == "passive":
            env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        proc = subprocess.run(cmd, env=env)
        if proc.returncode != 0:
            print(f"[bench] {name} failed (exit {proc.returncode})", file=sys.stderr)
            results[name] = {"error": f"exit {proc.returncode}"}
            continue
        results[name] = json.loads(Path(child_out).read_text())
        os.unlink(child_out)
        print(f"[bench] {name} done in {time.time() - t0:.0f} s", flush=True)

    device_kind = "cuda" if args.device.startswith("cuda") else args.device
    on_cpu = device_kind == "cpu"
    flat = flatten({k: v for k, v in results.items() if "error" not in v})
    report = {"started": started, "command": " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]),
              "args": {k: v for k, v in vars(args).items() if not k.startswith("child")},
              "machine": next((r["machine"] for r in results.values() if "machine" in r), {}),
              "headline": flat, "reference_cpu": REFERENCE_CPU if on_cpu else {},
              "targets_cpu": TARGETS_CPU if on_cpu else {}, "results": results}
    out = Path(args.json) if args.json else REPO / "benchmarks" / "out" / f"bench-{device_kind}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print()
    print(table(flat, REFERENCE_CPU if on_cpu else {}, TARGETS_CPU if on_cpu else {}))
    def find_load(r):  # the first "load" entry, at any depth (per attention, per precision)
        if not isinstance(r, dict):
            return None
        if isinstance(r.get("load"), dict):
            return r["load"]
        return next((found for v in r.values() if (found := find_load(v))), None)

    loads = {name: find_load(r) for name, r in results.items() if isinstance(r, dict)}
    print("\nCPU share used by other processes during each benchmark:",
          ", ".join(f"{n} {l.get('others_cpu_share', '?')}" for n, l in loads.items() if l))
    print(f"JSON: {out}")
    return 0 if all("error" not in r for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
