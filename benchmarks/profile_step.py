"""Where the RelCon step's encoder time goes: per operator and per oneDNN kernel.

    python benchmarks/profile_step.py [--batch-size 64] [--cands 20] [--steps 2] [--top 15]
    ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 python benchmarks/profile_step.py   # AVX2 kernels

Times the encoder's forward + loss + backward of the RelCon training step at ``bench.py``'s shapes
(B anchors and B x K within-user candidates of 256 x 3 samples, the 25_3_8_relcon encoder,
float32; the distance stage is run once beforehand and left out). Prints two tables for the
last ``--steps`` steps after one warm-up step:

* **operators**: ``torch.profiler`` self CPU time per ATen operator and input shapes (the
  convolutions' forward and backward, the batch norms, the elementwise passes);
* **oneDNN kernels**: the same steps in a child process with ``ONEDNN_VERBOSE=1``: every
  primitive oneDNN executed, summed by kind, implementation (``jit:avx2``, ``brgconv:avx512_core``,
  ``gemm:jit`` ...), propagation (forward, backward_data, backward_weights) and problem
  descriptor, in ms per step. Which implementation runs depends on the ISA oneDNN dispatches to
  (``ONEDNN_MAX_CPU_ISA`` caps it), so the two tables side by side show where an instruction set
  loses time.

The header names the machine (``benchutil.machine_info``). ``--json PATH`` writes both tables.
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from benchutil import machine_info  # noqa: E402


def encoder_steps(args):
    """(model, step function) for the encoder part of one float32 RelCon training step."""
    import torch

    from bench import reference_step_inputs

    model, anchors, cands = reference_step_inputs(args.batch_size, args.cands, torch.device("cpu"))
    order = model.candidate_order(anchors, cands)

    def step():
        model.optimizer.zero_grad(set_to_none=True)
        model.loss_from_order(anchors, cands, order).backward()

    return model, step


def operator_table(args) -> list:
    from torch.profiler import ProfilerActivity, profile

    _, step = encoder_steps(args)
    step()  # warm-up: oneDNN builds its kernels on first use
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        for _ in range(args.steps):
            step()
    rows = []
    for event in prof.key_averages(group_by_input_shape=True):
        if event.self_cpu_time_total <= 0:
            continue
        rows.append({"op": event.key, "shapes": str(event.input_shapes)[:120], "calls": event.count // args.steps,
                     "self_ms_per_step": event.self_cpu_time_total / 1e3 / args.steps})
    return sorted(rows, key=lambda r: -r["self_ms_per_step"])


def onednn_table(args) -> list:
    """Run the steps in a child with ONEDNN_VERBOSE=1 and sum its exec lines (ms per step)."""
    cmd = [sys.executable, __file__, "--child-onednn", "--batch-size", str(args.batch_size), "--cands", str(args.cands),
           "--steps", str(args.steps)]
    out = subprocess.run(cmd, capture_output=True, text=True, env=os.environ | {"ONEDNN_VERBOSE": "1"}, check=True)
    lines = out.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line == "-- timed steps --")
    totals, calls = collections.defaultdict(float), collections.Counter()
    for line in lines[start:]:
        parts = line.split(",")
        # onednn_verbose,v1,primitive,exec,cpu,<kind>,<impl>,<prop>,<src/dst md>,<attrs>,<aux>,<problem>,<ms>
        if len(parts) < 13 or parts[2] != "primitive" or parts[3] != "exec":
            continue
        key = (parts[5], parts[6], parts[7], parts[-2])
        totals[key] += float(parts[-1])
        calls[key] += 1
    rows = [{"kind": k[0], "impl": k[1], "prop": k[2], "problem": k[3], "calls": calls[k] // args.steps,
             "ms_per_step": v / args.steps} for k, v in totals.items()]
    return sorted(rows, key=lambda r: -r["ms_per_step"])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--cands", type=int, default=20, help="within-user candidates K")
    p.add_argument("--steps", type=int, default=2, help="profiled steps after one warm-up step")
    p.add_argument("--top", type=int, default=15, help="rows per table")
    p.add_argument("--json", default=None, help="also write both tables and the machine here")
    p.add_argument("--child-onednn", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child_onednn:
        _, step = encoder_steps(args)
        step()
        print("-- timed steps --", flush=True)
        for _ in range(args.steps):
            step()
        sys.stdout.flush()
        return 0

    import torch

    info = machine_info(torch)
    print(f"machine: {info['cpu']}, ISA {info['isa']} (flags {' '.join(info['isa_flags'])}; oneDNN: "
          f"{info['onednn_isa']}), {info['torch_threads']} threads, env {info['env']}")
    t0 = time.perf_counter()
    ops = operator_table(args)
    print(f"\noperators, self CPU ms per step ({args.steps} steps, {time.perf_counter() - t0:.0f} s):")
    total = sum(r["self_ms_per_step"] for r in ops)
    for r in ops[:args.top]:
        print(f"  {r['self_ms_per_step']:9.1f}  {100 * r['self_ms_per_step'] / total:5.1f} %  x{r['calls']:<4} "
              f"{r['op']}  {r['shapes']}")
    print(f"  {total:9.1f}  total")
    kernels = onednn_table(args)
    total_k = sum(r["ms_per_step"] for r in kernels)
    print(f"\noneDNN kernels, ms per step (sum {total_k:.0f} ms):")
    by_impl = collections.defaultdict(float)
    for r in kernels:
        by_impl[(r["kind"], r["impl"], r["prop"])] += r["ms_per_step"]
    for (kind, impl, prop), ms in sorted(by_impl.items(), key=lambda kv: -kv[1]):
        print(f"  {ms:9.1f}  {kind} {impl} {prop}")
    print("  by problem:")
    for r in kernels[:args.top]:
        print(f"  {r['ms_per_step']:9.1f}  x{r['calls']:<3} {r['kind']} {r['impl']} {r['prop']} {r['problem']}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"machine": info, "operators": ops, "onednn": kernels}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
