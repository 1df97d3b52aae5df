"""Measuring helpers shared by the benchmark scripts: the machine's load while a benchmark
runs, and medians of timed runs. Standard library only (no project imports), so that
``bench_reference.py`` can use it in a process that must not import this repository's package.
"""
from __future__ import annotations

import os
import resource
import statistics


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
