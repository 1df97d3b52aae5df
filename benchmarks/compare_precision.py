#!/usr/bin/env python
"""The offline demo in float32 and in bfloat16 mixed precision, side by side.

    python benchmarks/compare_precision.py [--out /tmp/relcon-precision] [--config demo] [--markdown PATH]
                                           [--report-only]

Runs ``python run_exp.py --config demo`` twice, one after the other, each in a fresh output
root (``RELCON_OUT=OUT/fp32`` and ``OUT/bf16``; the second with ``--precision bf16``), and prints
markdown: the per-epoch losses of both stages (each run's ``metrics.csv``), the results table
(each run's ``results.json``: the mean of each metric over the folds), and the wall time of each
stage (training from ``metrics.csv``'s per-epoch seconds, evaluations as the rest of the run),
with the share of the CPUs other processes used during each run (``/proc/stat``), since times
on a shared machine depend on it. The demo's data are created before either run is timed.
Takes about twice the demo's time (3-4 min each on an idle 2-core CPU). ``--report-only``
prints the markdown from the runs already in OUT (also unfinished ones: what their
``metrics.csv`` and ``results.json`` hold so far) without running anything.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchutil import LoadMeter  # noqa: E402

PRECISIONS = ("fp32", "bf16")


def prepare_data(config_name: str) -> None:
    """Create the config's pre-training and evaluation data (if missing) outside the timed runs."""
    from relcon.data.generators import ensure_data
    from relcon.experiments import registry

    config = registry.get_config(config_name)
    configs = [config] + [registry.get_config(p) for p in config.prerequisites()]
    for c in configs:
        ensure_data(c.data_config)
        for ev in c.eval_configs:
            ensure_data(ev.data_config)


def run_demo(config_name: str, precision: str, out_root: Path) -> dict:
    out_root.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, RELCON_OUT=str(out_root))
    cmd = [sys.executable, "run_exp.py", "--config", config_name, "--precision", precision]
    with LoadMeter() as load:
        t0 = time.time()
        proc = subprocess.run(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        wall = time.time() - t0
    (out_root / "stdout.txt").write_text(proc.stdout)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed (exit {proc.returncode}); its output: {out_root / 'stdout.txt'}")
    return {"wall_s": wall, "load": load.result, "command": " ".join(cmd[1:])}


def read_metrics(run_dir: Path) -> list[dict]:
    if not (run_dir / "metrics.csv").exists():
        return []
    with open(run_dir / "metrics.csv", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def fmt(value) -> str:
    if value in (None, ""):
        return "-"
    return f"{float(value):.4f}"


def loss_table(stage: str, runs: dict) -> str:
    rows = {p: read_metrics(r) for p, r in runs.items()}
    lines = [f"**{stage}** (per-epoch mean loss)", "",
             "| epoch | train fp32 | train bf16 | val fp32 | val bf16 |", "|---|---|---|---|---|"]
    for i in range(max([len(v) for v in rows.values()] + [0])):
        cell = {p: (rows[p][i] if i < len(rows[p]) else {}) for p in rows}
        lines.append(f"| {i} | {fmt(cell['fp32'].get('train_loss'))} | {fmt(cell['bf16'].get('train_loss'))} | "
                     f"{fmt(cell['fp32'].get('val_loss'))} | {fmt(cell['bf16'].get('val_loss'))} |")
    return "\n".join(lines)


def results_table(results: dict) -> str:
    from relcon.eval.metrics import PRETTY

    records = {p: ({r["label"]: r for r in json.loads(Path(f).read_text())["evaluations"] if r.get("status") == "done"}
                   if Path(f).exists() else {}) for p, f in results.items()}
    if not records["fp32"]:
        return "(no results.json yet for fp32: run unfinished)"
    lines = ["| evaluation | metric | fp32 | bf16 | bf16 - fp32 |", "|---|---|---|---|---|"]
    for label, rec in records["fp32"].items():
        other = records["bf16"].get(label)  # None: the bf16 run has not reached it (unfinished)
        for metric in ("macro_f1", "kappa", "mae", "pearson_r"):
            if metric not in rec["mean"]:
                continue
            a = rec["mean"][metric]
            low = (f"{other['mean'][metric]:.3f} ± {other['std'][metric]:.3f} | {other['mean'][metric] - a:+.3f}"
                   if other is not None else "- | -")
            lines.append(f"| {label} | {PRETTY.get(metric, metric)} | {a:.3f} ± {rec['std'][metric]:.3f} | {low} |")
    return "\n".join(lines)


def seconds(run_dir: Path) -> float:
    return sum(float(r["seconds"]) for r in read_metrics(run_dir))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="/tmp/relcon-precision", help="output roots OUT/fp32 and OUT/bf16")
    p.add_argument("--config", default="demo", help="a RelCon config with one MotifDist prerequisite (default demo)")
    p.add_argument("--markdown", default=None, help="also write the markdown to this file")
    p.add_argument("--report-only", action="store_true", help="only print the markdown of the runs already in OUT")
    args = p.parse_args(argv)
    from relcon.experiments import registry

    config = registry.get_config(args.config)
    (distance_name,) = config.prerequisites()
    out = Path(args.out)
    info = {}
    if args.report_only:
        saved = out / "compare_precision.json"
        info = json.loads(saved.read_text())["runs"] if saved.exists() else {}
    else:
        prepare_data(args.config)
    for precision in PRECISIONS if not args.report_only else ():
        root = out / precision
        if root.exists() and any(root.iterdir()):
            raise SystemExit(f"{root} is not empty; remove it or give another --out")
        print(f"[compare_precision] {precision} ...", flush=True)
        info[precision] = run_demo(args.config, precision, root)
        print(f"[compare_precision] {precision} done in {info[precision]['wall_s']:.0f} s", flush=True)

    import torch

    runs = {p: {"distance": out / p / distance_name, "encoder": out / p / args.config} for p in PRECISIONS}
    parts = [f"Command: `python benchmarks/compare_precision.py --config {args.config}` (runs `python run_exp.py "
             f"--config {args.config} --precision fp32|bf16`), torch {torch.__version__}, "
             f"{torch.get_num_threads()} torch threads by default; {time.strftime('%Y-%m-%d %H:%M')}.", ""]
    parts += [loss_table(f"Stage 1, {distance_name} (MotifDist)", {p: r["distance"] for p, r in runs.items()}), ""]
    parts += [loss_table(f"Stage 2, {args.config} (RelCon)", {p: r["encoder"] for p, r in runs.items()}), ""]
    parts += ["**Results** (mean ± std over folds, `results.json`)", "",
              results_table({p: r["encoder"] / "results.json" for p, r in runs.items()}), ""]
    lines = ["| stage | fp32 (s) | bf16 (s) | bf16 / fp32 |", "|---|---|---|---|"]
    stages = {}
    for p, r in runs.items():
        md, enc = seconds(r["distance"]), seconds(r["encoder"])
        wall = info.get(p, {}).get("wall_s", float("nan"))
        stages[p] = {f"stage 1 training (MotifDist, {len(read_metrics(r['distance']))} epochs)": md,
                     f"stage 2 training (RelCon, {len(read_metrics(r['encoder']))} epochs)": enc,
                     "evaluations and the rest": wall - md - enc, "whole run": wall}
    for (stage, a), b in zip(stages["fp32"].items(), stages["bf16"].values()):
        lines.append(f"| {stage} | {a:.1f} | {b:.1f} | {b / a:.2f} |")
    parts += ["**Wall time**", ""] + lines + [""]
    parts += ["Load during each run (share of the CPUs other processes used; 1-min load average before/after): "
              + ("; ".join(f"{p} {i['load'].get('others_cpu_share', '?')} ({i['load']['loadavg_1min_before']} / "
                           f"{i['load']['loadavg_1min_after']})" for p, i in info.items()) or "not recorded")]
    text = "\n".join(parts) + "\n"
    print(text)
    if args.markdown:
        Path(args.markdown).write_text(text, encoding="utf-8")
    if not args.report_only:
        (out / "compare_precision.json").write_text(json.dumps({"runs": info, "stages": stages}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
