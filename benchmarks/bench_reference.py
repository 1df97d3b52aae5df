#!/usr/bin/env python
"""Times the reference implementation of RelCon (github.com/maxxu05/relcon) at the shapes and
phases of ``benchmarks/bench.py``, so that both can be measured side by side on one machine.

    python benchmarks/bench_reference.py --reference-path PATH [--device cpu|cuda]
        [--batch-size 64] [--cands 20] [--repeats 3] [--warmup 1]
        [--only relcon_step,distance,motifdist_step] [--step-attention sparsemax,softmax]
        [--epoch-call] [--threads N] [--omp-wait-policy default|passive]
        [--compare OURS.json] [--json OUT]

PATH is a checkout of the reference repository (the folder holding its ``relcon/`` package). It
is not part of this repository and nothing here is copied from it: this script imports the
reference's own modules and calls them. Because the reference's package is also named
``relcon``, each benchmark runs in a child process that puts PATH first on ``sys.path`` and
never imports this repository's package (the child stops if ``relcon`` resolves elsewhere).
Children run in a temporary working directory, because the reference's model classes create
``relcon/experiments/out/<run>`` under the current directory.

What is timed (inputs are seeded N(0, 1) noise, like bench.py's; nets randomly initialised; no
checkpoint is loaded; float32; on CUDA TF32 is off and every phase ends in a synchronize):

* ``relcon_step``: one training step of the reference's ``RelCon_Model.Model`` for config
  ``25_3_8_relcon`` (ResNet1D encoder, Adam), batch ``--batch-size`` with ``--cands``
  within-user candidates, split as its ``run_one_epoch`` runs it: distance (the loop of
  ``motifdist.calc_distance`` over the B-1 rotations of the batch and the K candidates,
  ``torch.stack`` and ``torch.sort``), encoder forward (both ``self.net`` calls and
  ``relative_contrastive_loss``), backward, optimizer (``step`` and ``zero_grad``). The batch
  stays in host memory and is moved by the reference's own ``.cuda()`` calls, as from its
  DataLoader. ``--epoch-call`` also times ``Model.run_one_epoch([batch], train=True)`` itself
  (key ``run_one_epoch_s``), a check that the phases add up to the reference's own loop.
* ``distance``: pairs/s of that distance loop alone (no sort), (B-1+K) x B pairs.
* ``motifdist_step``: ``MotifDist_Model.Model.run_one_epoch`` on one batch of 64 (the config's
  batch size, as in bench.py) built by the reference's ``crossattn_augdataset`` (two of its
  eight augmentations per sample).

Attention of the distance. The reference's CrossAttn builds attention weights only when
``need_weights`` (= ``self.training``) is true; ``calc_distance`` runs the net in eval mode, so
its distances take the ``scaled_dot_product_attention`` (softmax) branch. "softmax" below is
therefore the reference exactly as it runs. "sparsemax" (the paper's distance, bench.py's
default) runs the same ``calc_distance`` with ``need_weights=True`` passed to the reference's
attention function (still eval mode: no dropout), i.e. through its ``Sparsemax`` module; the
net's ``sparsemax`` flag stays at the config's ``False``, which in the reference selects
sparsemax. Training (the MotifDist step) always uses the reference's sparsemax.

On ``--device cpu`` the reference's hard-coded ``.cuda()`` calls (tensors and modules) are made
no-ops. If ``torch.utils.tensorboard`` is missing, a stand-in module is registered (the
reference imports ``SummaryWriter`` at module level but uses it only in ``fit``/``test``); the
JSON records both. Results use bench.py's JSON layout and key names (``headline``: flat keys such
as ``relcon_step.sparsemax.total_s``, ``distance.softmax.pairs_per_s``,
``motifdist_step.total_s``, ``*.peak_gb``); peak memory is ``torch.cuda.max_memory_allocated``
on CUDA, the process's ``ru_maxrss`` on CPU. ``--compare`` reads a bench.py JSON of this
repository run on the same machine and prints both side by side. Default output:
``benchmarks/out/bench-reference-<device>.json``.
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
import types
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from benchutil import LoadMeter, add_shape_arguments, machine_info, summarise, timed_runs  # noqa: E402

BENCHMARKS = ("relcon_step", "distance", "motifdist_step")
ATTENTIONS = ("sparsemax", "softmax")
RELCON_CONFIG, MOTIFDIST_CONFIG = "25_3_8_relcon", "25_3_8_motifdist"
MOTIFDIST_BATCH = 64  # the 25_3_8_motifdist config's batch size, as bench.py times it


# ----------------------------------------------------------------------------- the reference
class Reference:
    """The reference package imported from ``path`` in this (child) process, set up for ``device``."""

    def __init__(self, path: Path, device: str):
        import torch

        self.torch = torch
        self.device = torch.device(device)
        self.notes = {"reference_path": str(path)}
        sys.path.insert(0, str(path))
        try:
            import torch.utils.tensorboard  # noqa: F401
            self.notes["tensorboard"] = "installed"
        except ImportError:  # used by the reference only in fit()/test(), imported at module level
            stub = types.ModuleType("torch.utils.tensorboard")

            class SummaryWriter:  # noqa: D401 - stand-in, never used by the timed code
                def __init__(self, *args, **kwargs):
                    raise RuntimeError("tensorboard is not installed")

            stub.SummaryWriter = SummaryWriter
            sys.modules["torch.utils.tensorboard"] = stub
            self.notes["tensorboard"] = "missing: stand-in module registered"
        import relcon

        where = [str(Path(p).resolve()) for p in getattr(relcon, "__path__", [])]
        if not any(w.startswith(str(path)) for w in where):
            raise SystemExit(f"'relcon' resolved to {where}, not the reference at {path}: "
                             "run this script with the reference checkout only (not from a tree whose 'relcon' wins)")
        if self.device.type == "cpu":  # the reference calls .cuda() unconditionally
            torch.Tensor.cuda = lambda self, *args, **kwargs: self
            torch.nn.Module.cuda = lambda self, *args, **kwargs: self
            self.notes["cuda_calls"] = "no-ops on cpu"
        from relcon.models import Base_Model

        # random weights, no checkpoint (some reference commits load checkpoint_best.pkl here)
        Base_Model.Base_ModelClass.load = lambda self, *args, **kwargs: None
        import relcon.nets.CrossAttn.CrossAttn_Net as crossattn

        self.crossattn = crossattn
        self.attention_fn = crossattn.multi_head_attention_forward

    def set_distance_attention(self, attention: str) -> None:
        """"softmax": the reference's eval path as it is; "sparsemax": its attention function with
        need_weights=True, i.e. its Sparsemax, in eval mode."""
        if attention == "softmax":
            self.crossattn.multi_head_attention_forward = self.attention_fn
        else:
            original = self.attention_fn

            def with_weights(*args, **kwargs):
                kwargs["need_weights"] = True
                return original(*args, **kwargs)

            self.crossattn.multi_head_attention_forward = with_weights

    def sync(self) -> None:
        if self.device.type == "cuda":
            self.torch.cuda.synchronize(self.device)

    def peak(self) -> dict:
        out = {"peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9, 3)}
        if self.device.type == "cuda":
            out["peak_cuda_gb"] = round(self.torch.cuda.max_memory_allocated(self.device) / 1e9, 3)
        out["peak_gb"] = out.get("peak_cuda_gb", out["peak_rss_gb"])
        return out

    def noise_batch(self, bs: int, k: int) -> dict:
        """bench.py's inputs: N(0, 1) anchors (B, 256, 3) and candidates (B, K, 256, 3), seed 0, on
        the host (the reference moves them itself)."""
        g = self.torch.Generator().manual_seed(0)
        return {"signal": self.torch.randn(bs, 256, 3, generator=g),
                "withinuser_cand_signals": self.torch.randn(bs, k, 256, 3, generator=g)}

    def relcon_model(self, bs: int, k: int):
        from relcon.experiments.configs.RelCon_expconfigs import allrelcon_expconfigs

        config = allrelcon_expconfigs[RELCON_CONFIG]
        config.withinuser_cands, config.batch_size = k, bs
        config.set_rundir(RELCON_CONFIG)
        config.set_device(self.device)
        from relcon.models.RelCon.RelCon_Model import Model

        return Model(config)

    def motifdist_model(self):
        from relcon.experiments.configs.MotifDist_expconfigs import allmotifdist_expconfigs
        from relcon.models.MotifDist.MotifDist_Model import Model

        config = allmotifdist_expconfigs[MOTIFDIST_CONFIG]
        config.set_rundir(MOTIFDIST_CONFIG)
        config.set_device(self.device)
        return Model(config)


def distance_matrix(motifdist, anchor_signal, withinuser_cand_signals):
    """The distance loop of the reference's RelCon ``run_one_epoch``: its ``calc_distance`` of
    every anchor to each rotation of the batch and to each within-user candidate, stacked to
    ((B-1)+K, B)."""
    import torch

    distances = []
    for idx in range(1, anchor_signal.shape[0]):
        rotated = torch.cat((anchor_signal[idx:, :], anchor_signal[:idx, :]), dim=0)
        distances.append(motifdist.calc_distance(anchor=anchor_signal.cuda(), candidate=rotated.cuda()))
    for idx in range(withinuser_cand_signals.shape[1]):
        distances.append(motifdist.calc_distance(anchor=anchor_signal.cuda(),
                                                 candidate=withinuser_cand_signals[:, idx, :].cuda()))
    return torch.stack(distances)


# ----------------------------------------------------------------------------- benchmarks
def bench_relcon_step(ref: Reference, args) -> dict:
    torch = ref.torch
    from relcon.models.RelCon.RelCon_Model import relative_contrastive_loss

    model = ref.relcon_model(args.batch_size, args.cands)
    config = model.config
    batch = ref.noise_batch(args.batch_size, args.cands)
    anchor_signal, cands = batch["signal"], batch["withinuser_cand_signals"]
    bs, k, length, _ = cands.shape
    out = {}

    def step():
        model.net.train(mode=True)
        ref.sync()
        t0 = time.perf_counter()
        distances = distance_matrix(model.motifdist, anchor_signal, cands)
        _, sortedinds = torch.sort(distances, dim=0)
        ref.sync()
        t1 = time.perf_counter()
        emb_ancs = model.net(anchor_signal[:, :, config.encoder_dims].transpose(1, 2).cuda())
        emb_cands = model.net(cands[:, :, :, config.encoder_dims].view(bs * k, length, -1).transpose(1, 2).cuda())
        loss = relative_contrastive_loss(emb_ancs, emb_cands.view(bs, k, -1), sortedinds=sortedinds, tau=config.tau)
        ref.sync()
        t2 = time.perf_counter()
        loss.backward()
        ref.sync()
        t3 = time.perf_counter()
        model.optimizer.step()
        model.optimizer.zero_grad()
        ref.sync()
        t4 = time.perf_counter()
        assert torch.isfinite(loss)
        return {"distance_s": t1 - t0, "encoder_forward_s": t2 - t1, "backward_s": t3 - t2,
                "optimizer_s": t4 - t3, "total_s": t4 - t0}

    def epoch_call():
        ref.sync()
        t0 = time.perf_counter()
        model.run_one_epoch([batch], train=True)
        ref.sync()
        return {"run_one_epoch_s": time.perf_counter() - t0}

    model.optimizer.zero_grad()
    for attention in args.step_attention:
        ref.set_distance_attention(attention)
        with LoadMeter() as load:
            res = summarise(timed_runs(step, args.warmup, args.repeats))
            if args.epoch_call:
                res["run_one_epoch_s"] = summarise(timed_runs(epoch_call, 0, args.repeats))["run_one_epoch_s"]
        out[attention] = res | {"load": load.result}
    return out | {"batch_size": bs, "withinuser_cands": k} | ref.peak()


def bench_distance(ref: Reference, args) -> dict:
    model = ref.motifdist_model()
    batch = ref.noise_batch(args.batch_size, args.cands)
    pairs = (args.batch_size - 1 + args.cands) * args.batch_size
    out = {"pairs": pairs}

    def run():
        ref.sync()
        t0 = time.perf_counter()
        distance_matrix(model, batch["signal"], batch["withinuser_cand_signals"])
        ref.sync()
        return {"seconds": time.perf_counter() - t0}

    for attention in ATTENTIONS:
        ref.set_distance_attention(attention)
        with LoadMeter() as load:
            res = summarise(timed_runs(run, args.warmup, args.repeats))
        out[attention] = res | {"pairs_per_s": round(pairs / res["seconds"], 1), "load": load.result}
    return out | ref.peak()


def bench_motifdist_step(ref: Reference, args) -> dict:
    import numpy as np
    from torch.utils.data import default_collate

    from relcon.models.MotifDist.MotifDist_Model import crossattn_augdataset

    folder = Path(tempfile.mkdtemp(prefix="relcon-ref-md-"))
    rng = np.random.default_rng(0)
    for i in range(MOTIFDIST_BATCH):
        np.save(folder / f"{i:03d}.npy", rng.standard_normal((256, 3)).astype(np.float32))
    np.random.seed(0)  # the dataset draws its augmentations from numpy's global state
    dataset = crossattn_augdataset(path=str(folder))
    dataset.filelist.sort()
    batch = default_collate([dataset[i] for i in range(len(dataset))])
    model = ref.motifdist_model()

    def step():
        ref.sync()
        t0 = time.perf_counter()
        model.run_one_epoch([batch], train=True)
        ref.sync()
        return {"total_s": time.perf_counter() - t0}

    with LoadMeter() as load:
        res = summarise(timed_runs(step, args.warmup, max(args.repeats, 5)))
    return res | {"load": load.result, "batch_size": MOTIFDIST_BATCH} | ref.peak()


# ----------------------------------------------------------------------------- driver
def flatten(results: dict) -> dict:
    """bench.py's flat keys for the numbers both scripts measure."""
    flat = {}
    step = results.get("relcon_step", {})
    for attention in ATTENTIONS:
        if attention in step:
            for key in ("total_s", "distance_s", "encoder_forward_s", "backward_s", "optimizer_s", "run_one_epoch_s"):
                if key in step[attention]:
                    flat[f"relcon_step.{attention}.{key}"] = step[attention][key]
    first = next((step[a] for a in ATTENTIONS if a in step), None)
    if first:
        flat["relcon_step.encoder_forward_s"] = first["encoder_forward_s"]
        flat["relcon_step.backward_s"] = first["backward_s"]
        flat["relcon_step.peak_gb"] = step["peak_gb"]
    dist = results.get("distance", {})
    for attention in ATTENTIONS:
        if attention in dist:
            flat[f"distance.{attention}.pairs_per_s"] = dist[attention]["pairs_per_s"]
    md = results.get("motifdist_step", {})
    if md:
        flat["motifdist_step.total_s"] = md["total_s"]
        flat["motifdist_step.peak_gb"] = md["peak_gb"]
    return flat


def table(flat: dict, ours: dict) -> str:
    rows = [("metric", "reference", "ours", "ours faster / smaller by")] if ours else [("metric", "reference")]
    for key, value in flat.items():
        if not ours:
            rows.append((key, f"{value:.4g}"))
            continue
        name, _, rest = key.partition(".")
        mine = ours.get(key, ours.get(f"{name}.fp32.{rest}"))  # a bench.py run of several precisions
        ratio = ""
        if mine:
            ratio = f"{(mine / value if key.endswith('per_s') else value / mine):.2f}x"
        rows.append((key, f"{value:.4g}", f"{mine:.4g}" if mine is not None else "", ratio))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [" | ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)


def machine(ref: Reference) -> dict:
    """benchutil.machine_info (CPU model, ISA flags and caps, ATen capability, oneDNN's ISA,
    threads) plus the device."""
    info = machine_info(ref.torch) | {"device": str(ref.device)}
    if ref.device.type == "cuda":
        info["gpu"] = ref.torch.cuda.get_device_name(ref.device)
    return info


def run_child(name: str, args) -> dict:
    os.environ.setdefault("TQDM_DISABLE", "1")  # the reference's loops use tqdm
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    ref = Reference(Path(args.reference_path).resolve(), args.device)
    if ref.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(ref.device)
        torch.backends.cuda.matmul.allow_tf32 = False  # as bench.py: no TF32
        torch.backends.cudnn.allow_tf32 = False
    result = globals()[f"bench_{name}"](ref, args)
    return result | {"machine": machine(ref), "reference": ref.notes}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--reference-path", required=True, help="checkout of github.com/maxxu05/relcon (holds its relcon/)")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    add_shape_arguments(p, BENCHMARKS)
    p.add_argument("--epoch-call", action="store_true",
                   help="relcon_step: also time the reference's run_one_epoch on the same batch")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    p.add_argument("--omp-wait-policy", choices=["default", "passive"], default="default",
                   help="as in bench.py: passive makes idle OpenMP threads sleep instead of spin, which matters "
                        "when other processes share the cores; an OMP_WAIT_POLICY already set wins")
    p.add_argument("--compare", default=None, help="a bench.py JSON from the same machine, shown side by side")
    p.add_argument("--json", default=None, help="output file (default benchmarks/out/bench-reference-<device>.json)")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    p.add_argument("--child-out", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.step_attention = [a for a in args.step_attention.split(",") if a]
    if not args.step_attention or set(args.step_attention) - set(ATTENTIONS):
        p.error(f"--step-attention: expected a subset of {ATTENTIONS}")

    if args.child:
        Path(args.child_out).write_text(json.dumps(run_child(args.child, args)))
        return 0

    reference = Path(args.reference_path).resolve()
    if not (reference / "relcon" / "models" / "RelCon" / "RelCon_Model.py").is_file():
        p.error(f"--reference-path {reference}: no relcon/models/RelCon/RelCon_Model.py there")
    names = [n for n in args.only.split(",") if n]
    unknown = sorted(set(names) - set(BENCHMARKS))
    if unknown:
        p.error(f"unknown benchmark(s) {unknown}; expected a subset of {list(BENCHMARKS)}")
    passthrough = ["--reference-path", str(reference), "--device", args.device, "--repeats", str(args.repeats),
                   "--warmup", str(args.warmup), "--batch-size", str(args.batch_size), "--cands", str(args.cands),
                   "--step-attention", ",".join(args.step_attention), "--threads", str(args.threads)]
    passthrough += ["--epoch-call"] if args.epoch_call else []
    results, started = {}, time.strftime("%Y-%m-%d %H:%M:%S")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # nothing ahead of the reference
    if args.omp_wait_policy == "passive":
        env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    for name in names:
        workdir = tempfile.mkdtemp(prefix="relcon-ref-")  # the reference writes relcon/experiments/out/ here
        child_out = Path(workdir) / "result.json"
        print(f"[bench-reference] {name} ...", flush=True)
        t0 = time.time()
        cmd = [sys.executable, str(Path(__file__).resolve()), *passthrough, "--child", name,
               "--child-out", str(child_out)]
        proc = subprocess.run(cmd, cwd=workdir, env=env)
        if proc.returncode != 0 or not child_out.is_file():
            print(f"[bench-reference] {name} failed (exit {proc.returncode})", file=sys.stderr)
            results[name] = {"error": f"exit {proc.returncode}"}
            continue
        results[name] = json.loads(child_out.read_text())
        print(f"[bench-reference] {name} done in {time.time() - t0:.0f} s", flush=True)

    device_kind = "cuda" if args.device.startswith("cuda") else args.device
    flat = flatten({k: v for k, v in results.items() if "error" not in v})
    ours = {}
    if args.compare:
        try:
            ours = json.loads(Path(args.compare).read_text()).get("headline", {})
        except (OSError, ValueError) as e:  # the timings are kept whatever happens to the comparison
            print(f"[bench-reference] --compare {args.compare}: {e}", file=sys.stderr)
    first = next((r for r in results.values() if "machine" in r), {})
    report = {"started": started, "command": " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]),
              "args": {k: v for k, v in vars(args).items() if not k.startswith("child")},
              "machine": first.get("machine", {}), "reference": first.get("reference", {}),
              "headline": flat, "results": results}
    out = Path(args.json) if args.json else HERE / "out" / f"bench-reference-{device_kind}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print()
    print(table(flat, ours))
    print(f"JSON: {out}")
    return 0 if all("error" not in r for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
