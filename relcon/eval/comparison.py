"""One table over several finished runs: rows methods (plus the random-init and hand-crafted
feature baselines), columns evaluations, cells the headline metric's mean ± std over folds.

Reads each run's ``results.json`` and ``config.json`` (written by ``run_exp.py``); runs nothing.
Used by ``python -m relcon.compare`` and by comparison configs of ``run_exp.py``.
"""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from relcon.utils.io import atomic_write_text
from relcon.utils.paths import out_dir

# The metric shown per task, and whether higher is better.
HEADLINE = {"classification": ("macro_f1", True), "regression": ("mae", False)}
PRETTY = {"macro_f1": "macro-F1", "mae": "MAE"}
METHODS = {"RelCon_Model": "RelCon", "SimCLR_Model": "SimCLR", "AugPred_Model": "AugPred", "REBAR_Model": "REBAR"}
BASELINES = {"random": "random init", "features": "hand-crafted features"}
DEFAULTS = {"distance": "motifdist", "candidates": "both"}


def run_folder(run) -> Path:
    """A run folder given as a path, or a config name (its folder under the output root)."""
    path = Path(run)
    return path if path.is_dir() else out_dir(str(run))


def read_run(run) -> tuple[Path, dict, dict]:
    """(run folder, results.json, config.json or {}) of a finished, evaluated run."""
    folder = run_folder(run)
    results_path = folder / "results.json"
    if not results_path.exists():
        raise FileNotFoundError(f"{results_path} is missing: run {run} has no evaluations yet; run "
                                f"`python run_exp.py --config {folder.name}` first")
    results = json.loads(results_path.read_text(encoding="utf-8"))
    config_path = folder / "config.json"
    if not config_path.exists():
        # An evaluation-only run (``pretrained_from``): the trained config is the encoder's run's.
        sources = [(r.get("encoder") or {}).get("run") for r in results.get("evaluations", [])]
        source = next((s for s in sources if s), None)
        if source:
            config_path = folder.parent / source / "config.json"
    config = json.loads(config_path.read_text(encoding="utf-8")) if config_path.exists() else {}
    return folder, results, config


def method_label(config: dict, fallback: str) -> str:
    """"RelCon", "SimCLR", ... with the ablation settings that differ from the defaults."""
    name = METHODS.get(config.get("model_file", ""), fallback)
    changed = [f"{key}={config[key]}" for key in DEFAULTS if config.get(key, DEFAULTS[key]) != DEFAULTS[key]]
    return name + (f" ({', '.join(changed)})" if changed else "")


def evaluation_key(record: dict) -> str:
    return f"{record['name']}/{record['model_file']}" if record.get("name") else record["model_file"]


def collect(runs) -> tuple[list[dict], list[str]]:
    """Rows ``{"method", "run", "cells": {evaluation: record}}`` (methods in the given order, then
    the baselines found in any run, first occurrence kept) and the evaluation columns in order."""
    rows, baselines, columns = [], {}, []
    for run in runs:
        folder, results, config = read_run(run)
        row = {"method": method_label(config, folder.name), "run": folder.name, "cells": {}}
        for record in results.get("evaluations", []):
            if record.get("status") != "done":
                continue
            key = evaluation_key(record)
            if key not in columns:
                columns.append(key)
            init = (record.get("encoder") or {}).get("init", "pretrained")
            if init in BASELINES:
                baselines.setdefault(init, {"method": BASELINES[init], "run": folder.name, "cells": {}})
                baselines[init]["cells"].setdefault(key, record)
            else:
                row["cells"][key] = record
        if row["cells"]:
            rows.append(row)
    labels = [r["method"] for r in rows]
    for r in rows:  # two runs of one method: tell them apart by run name
        if labels.count(r["method"]) > 1:
            r["method"] = f"{r['method']} [{r['run']}]"
    rows += [baselines[k] for k in BASELINES if k in baselines]
    return rows, columns


def headline(record: dict) -> tuple[str, bool, float, float, int]:
    """(metric, higher is better, mean, std, folds) of a record."""
    metric, higher = HEADLINE.get(record.get("task", "classification"), ("macro_f1", True))
    return metric, higher, float(record["mean"][metric]), float(record["std"][metric]), len(record.get("folds", []))


def column_title(key: str, rows: list[dict]) -> str:
    for r in rows:
        if key in r["cells"]:
            metric = headline(r["cells"][key])[0]
            return f"{key} ({PRETTY.get(metric, metric)})"
    return key


def markdown(rows: list[dict], columns: list[str]) -> str:
    """The table; the best mean of each column in bold (only where the column compares two or more
    methods); "–" where a method lacks an evaluation."""
    best = {}
    for key in columns:
        values = [headline(r["cells"][key]) for r in rows if key in r["cells"]]
        if len(values) > 1:
            higher = values[0][1]
            best[key] = (max if higher else min)(v[2] for v in values)
    lines = ["| method | " + " | ".join(column_title(k, rows) for k in columns) + " |",
             "|---|" + "---|" * len(columns)]
    for r in rows:
        cells = []
        for key in columns:
            if key not in r["cells"]:
                cells.append("–")
                continue
            _, _, mean, std, _ = headline(r["cells"][key])
            text = f"{mean:.3f} ± {std:.3f}"
            cells.append(f"**{text}**" if mean == best.get(key) else text)
        lines.append(f"| {r['method']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def csv_text(rows: list[dict], columns: list[str]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["method", "run", "evaluation", "metric", "mean", "std", "folds"])
    for r in rows:
        for key in columns:
            if key in r["cells"]:
                metric, _, mean, std, folds = headline(r["cells"][key])
                writer.writerow([r["method"], r["run"], key, metric, mean, std, folds])
    return buf.getvalue()


def write_comparison(runs, out: Path) -> tuple[str, list[dict], list[str]]:
    """Write ``comparison.md`` and ``comparison.csv`` to ``out``; returns (markdown table, rows, columns)."""
    rows, columns = collect(runs)
    table = markdown(rows, columns)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "comparison.md", "# Comparison\n\nHeadline metric per evaluation, mean ± std over folds "
                                             f"(best in bold). Runs: {', '.join(str(r) for r in runs)}.\n\n{table}")
    atomic_write_text(out / "comparison.csv", csv_text(rows, columns))
    return table, rows, columns
