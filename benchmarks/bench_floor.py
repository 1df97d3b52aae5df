"""The lowest possible float32 RelCon step on this CPU: the step's FLOPs over sgemm's GFLOP/s.

    python benchmarks/bench_floor.py [--batch-size 64] [--cands 20] [--json benchmarks/out/floor.json]
    ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 python benchmarks/bench_floor.py   # the AVX2 kernels

Two measurements in one process, at ``bench.py``'s shapes (B anchors, B x K within-user
candidates, the 25_3_8_relcon encoder and 25_3_8_motifdist distance, sparsemax, float32):

* **FLOPs of one training step**, by phase (distance stage, encoder forward + loss, backward),
  counted with ``torch.utils.flop_counter.FlopCounterMode``: the matrix products and
  convolutions (forward and backward), 2 FLOPs per multiply-add; elementwise work (batch norm,
  ReLU, sparsemax) is not counted, so the floor is a lower bound.
* **sgemm throughput**: a 4096 x 4096 x 4096 float32 ``torch.mm`` on the process's threads
  (median of 9 after 2 warm-ups), the fastest dense kernel this CPU and ISA offer PyTorch.

Floor per phase = its FLOPs / sgemm GFLOP/s: no float32 implementation of the same arithmetic
runs faster on these cores, whatever its kernels. Prints a table; ``--json`` writes it with
``benchutil.machine_info`` (CPU, ISA flags, ATen capability, oneDNN's ISA, threads).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from benchutil import LoadMeter, machine_info  # noqa: E402


def sgemm_gflops(n: int = 4096, repeats: int = 9) -> float:
    """GFLOP/s of an n x n x n float32 matrix product (median of ``repeats`` after 2 warm-ups)."""
    import torch

    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(n, n, generator=g), torch.randn(n, n, generator=g)
    out = torch.empty(n, n)
    times = []
    for i in range(repeats + 2):
        t0 = time.perf_counter()
        torch.mm(a, b, out=out)
        if i >= 2:
            times.append(time.perf_counter() - t0)
    return 2 * n ** 3 / statistics.median(times) / 1e9


def step_flops(batch_size: int, cands: int) -> dict:
    """FLOPs of one float32 RelCon training step by phase, counted at dispatch level."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from bench import reference_step_inputs
    from relcon.utils.memory import configure_allocator

    configure_allocator()  # as run_exp.py does
    model, anchors, cands_ = reference_step_inputs(batch_size, cands, torch.device("cpu"))
    flops = {}
    with FlopCounterMode(display=False) as counter:
        order = model.candidate_order(anchors, cands_)
    flops["distance"] = counter.get_total_flops()
    with FlopCounterMode(display=False) as counter:
        loss = model.loss_from_order(anchors, cands_, order)
    flops["encoder_forward"] = counter.get_total_flops()
    with FlopCounterMode(display=False) as counter:
        loss.backward()
    flops["backward"] = counter.get_total_flops()
    flops["total"] = sum(flops.values())
    return flops


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--cands", type=int, default=20, help="within-user candidates K")
    p.add_argument("--json", default=None, help="output file")
    args = p.parse_args(argv)

    import torch

    with LoadMeter() as load:
        gflops = sgemm_gflops()
        flops = step_flops(args.batch_size, args.cands)
    info = machine_info(torch)
    rows = {phase: {"gflop": round(f / 1e9, 1), "floor_s": round(f / 1e9 / gflops, 3)} for phase, f in flops.items()}
    print(f"machine: {info['cpu']}, ISA {info['isa']} (oneDNN: {info['onednn_isa']}), {info['torch_threads']} threads")
    print(f"sgemm 4096^3 float32: {gflops:.1f} GFLOP/s; other processes used {load.result.get('others_cpu_share')} "
          "of the CPUs")
    print("phase            | GFLOP  | floor (s)")
    for phase, row in rows.items():
        print(f"{phase:<16} | {row['gflop']:6.1f} | {row['floor_s']:.2f}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"machine": info, "load": load.result, "sgemm_gflops": round(gflops, 1),
                                               "batch_size": args.batch_size, "cands": args.cands, "phases": rows},
                                              indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
