"""Measuring helpers shared by the benchmark scripts: the machine's load while a benchmark
runs, and medians of timed runs. Standard library only (no project imports), so that
``bench_reference.py`` can use it in a process that must not import this repository's package.
"""
from __future__ import annotations

import os
import platform
import re
import resource
import statistics
import subprocess
import sys


def cpu_jiffies() -> tuple[int, int] | None:
    """(busy, total) jiffies of all CPUs from /proc/stat; None off Linux."""
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
    except OSError:
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields) - idle, sum(fields)


def own_cpu_seconds() -> float:
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


class LoadMeter:
    """Share of the machine's CPU time used by *other* processes while it runs."""

    def __enter__(self):
        self.start = (cpu_jiffies(), own_cpu_seconds(), os.getloadavg())
        return self

    def __exit__(self, *exc):
        jiffies, own, load = cpu_jiffies(), own_cpu_seconds(), os.getloadavg()
        (j0, own0, load0) = self.start
        self.result = {"loadavg_1min_before": round(load0[0], 2), "loadavg_1min_after": round(load[0], 2)}
        if jiffies and j0:
            hz = os.sysconf("SC_CLK_TCK")
            busy = (jiffies[0] - j0[0]) / hz
            capacity = (jiffies[1] - j0[1]) / hz  # wall x CPUs
            self.result["others_cpu_share"] = round(max(busy - (own - own0), 0.0) / max(capacity, 1e-9), 3)
            self.result["own_cpu_share"] = round((own - own0) / max(capacity, 1e-9), 3)
        return False


ISA_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_tile", "amx_bf16")
ISA_ENV = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS",
           "OMP_NUM_THREADS", "OMP_WAIT_POLICY")
# One fp32 convolution in a child process with oneDNN's verbose log on: its "isa:" line names the
# instruction set oneDNN dispatches to after ONEDNN_MAX_CPU_ISA (inherited from this environment).
_ONEDNN_PROBE = ("import torch; torch.nn.functional.conv1d(torch.ones(2, 4, 64), torch.ones(8, 4, 5)); "
                 "print('capability:' + torch.backends.cpu.get_cpu_capability())")


def cpu_flags() -> tuple[str, list]:
    """(CPU model name with vendor, family, model and stepping, the ISA flags of ``ISA_FLAGS`` it
    has) from the first processor of /proc/cpuinfo; ``platform.processor()`` off Linux."""
    fields, flags = {}, set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if not key and fields:
                    break  # end of the first processor's block
                if key == "flags":
                    flags = set(value.split())
                elif key in ("model name", "vendor_id", "cpu family", "model", "stepping"):
                    fields[key] = value.strip()
    except OSError:
        pass
    if "model name" not in fields:
        return platform.processor(), []
    model = fields["model name"]
    if "cpu family" in fields:
        model += (f" ({fields.get('vendor_id', '?')} family {fields['cpu family']} model "
                  f"{fields.get('model', '?')} stepping {fields.get('stepping', '?')})")
    return model, [f for f in ISA_FLAGS if f in flags]


def isa_label(info: dict) -> str:
    """The instruction set the timed kernels ran with, for a table heading: ATen's capability
    (``AVX512``, ``AVX2`` or ``DEFAULT``), "-emulated" where the CPU has AVX-512 but the kernels
    were held to AVX2 by the environment."""
    cap = info.get("aten_cpu_capability") or "?"
    native = "avx512f" in info.get("isa_flags", [])
    return f"{cap} (held on an AVX-512 CPU)" if cap == "AVX2" and native else cap


def machine_info(torch=None, onednn: bool = True) -> dict:
    """What a timing ran on: CPU model, its ISA flags, the environment variables that cap the
    kernels' ISA, the interpreter and, with ``torch`` (the already-imported module), its version,
    threads and ATen CPU capability. ``onednn`` also runs one convolution in a child process to
    read the ISA oneDNN dispatches to (about 2 s; the child inherits this environment)."""
    model, flags = cpu_flags()
    info = {"cpu": model, "isa_flags": flags, "cpu_count": os.cpu_count(),
            "python": platform.python_version(), "platform": platform.platform(),
            "env": {k: os.environ[k] for k in ISA_ENV if k in os.environ}}
    if torch is not None:
        info.update(torch=torch.__version__, torch_threads=torch.get_num_threads(),
                    aten_cpu_capability=torch.backends.cpu.get_cpu_capability())
    if onednn:
        try:
            out = subprocess.run([sys.executable, "-c", _ONEDNN_PROBE], capture_output=True, text=True,
                                 timeout=120, env=os.environ | {"ONEDNN_VERBOSE": "1"})
            isa = re.search(r"info,cpu,isa:([^\n]+)", out.stdout)
            info["onednn_isa"] = isa.group(1).strip() if isa else "(not reported)"
            cap = re.search(r"capability:(\S+)", out.stdout)
            if cap:
                info.setdefault("aten_cpu_capability", cap.group(1))
        except (OSError, subprocess.SubprocessError) as e:
            info["onednn_isa"] = f"(probe failed: {e})"
    info["isa"] = isa_label(info)
    return info


def median(values):
    return statistics.median(values) if values else float("nan")


def timed_runs(fn, warmup: int, repeats: int) -> list:
    """Results of ``fn()`` (each a dict of phase -> seconds) for ``repeats`` runs after warm-up."""
    for _ in range(warmup):
        fn()
    return [fn() for _ in range(repeats)]


def summarise(runs: list) -> dict:
    keys = runs[0].keys()
    return {k: round(median([r[k] for r in runs]), 4) for k in keys} | {"runs": runs}


def add_shape_arguments(parser, benchmarks) -> None:
    """The options both benchmark scripts share: which benchmarks, how many runs, and the
    reference shapes (B anchors, K within-user candidates, the distance's attention)."""
    parser.add_argument("--only", default=",".join(benchmarks),
                        help=f"comma-separated subset of {', '.join(benchmarks)}")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per benchmark (median reported)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs first")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--cands", type=int, default=20, help="within-user candidates K")
    parser.add_argument("--step-attention", default="sparsemax",
                        help="distance attention(s) for relcon_step: sparsemax, softmax or sparsemax,softmax")
