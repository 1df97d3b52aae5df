"""One table over several finished runs: rows methods (plus the random-init and hand-crafted
feature baselines), columns evaluations, cells the headline metric (macro-F1, MAE) over every
pre-training seed and fold: mean and 95 % t-interval, paired tests against RelCon with Holm's
correction (``relcon.eval.statistics`` says which tests and why).

Reads each run's ``results.json`` and ``config.json`` (written by ``run_exp.py``); runs nothing.
Used by ``python -m relcon.compare`` and by comparison configs of ``run_exp.py``.
"""
from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import numpy as np

from relcon.eval.statistics import ALPHA, holm, paired_p_value, t_interval
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


def run_seed(config: dict):
    """The pre-training seed of a run (its trained config's ``seed``; None if unrecorded)."""
    seed = config.get("seed")
    return int(seed) if isinstance(seed, (int, float)) else None


def collect(runs) -> tuple[list[dict], list[str]]:
    """Rows ``{"method", "runs", "cells": {evaluation: {seed: record}}}`` and the evaluation
    columns in order. Runs of one method (the same label) with different pre-training seeds
    join one row; a second run of a method with a seed already in its row gets a row of its own,
    labelled with its run name. Methods come in the given order, then the baselines found in any
    run (per seed the first occurrence kept)."""
    rows, by_label, baselines, columns = [], {}, {}, []
    for run in runs:
        folder, results, config = read_run(run)
        seed = run_seed(config)
        label = method_label(config, folder.name)
        row = by_label.get(label)
        if row is not None and seed in row["seeds"]:
            label = f"{label} [{folder.name}]"
            row = by_label.get(label)
        if row is None:
            row = {"method": label, "runs": [], "seeds": [], "cells": {}}
        found = False
        for record in results.get("evaluations", []):
            if record.get("status") != "done":
                continue
            key = evaluation_key(record)
            if key not in columns:
                columns.append(key)
            init = (record.get("encoder") or {}).get("init", "pretrained")
            if init in BASELINES:
                base = baselines.setdefault(init, {"method": BASELINES[init], "runs": [], "seeds": [], "cells": {}})
                if seed not in base["cells"].setdefault(key, {}):
                    base["cells"][key][seed] = record
                    if folder.name not in base["runs"]:
                        base["runs"].append(folder.name)
                    if seed not in base["seeds"]:
                        base["seeds"].append(seed)
            else:
                row["cells"].setdefault(key, {})[seed] = record
                found = True
        if found:
            row["runs"].append(folder.name)
            row["seeds"].append(seed)
            if label not in by_label:
                by_label[label] = row
                rows.append(row)
    rows += [baselines[k] for k in BASELINES if k in baselines]
    for r in rows:
        r["run"] = ", ".join(r["runs"])
    return rows, columns


def metric_of(record: dict) -> tuple[str, bool]:
    """(headline metric, higher is better) of an evaluation record."""
    return HEADLINE.get(record.get("task", "classification"), ("macro_f1", True))


def headline(record: dict) -> tuple[str, bool, float, float, int]:
    """(metric, higher is better, mean, std, folds) of one record (one run's evaluation)."""
    metric, higher = metric_of(record)
    return metric, higher, float(record["mean"][metric]), float(record["std"][metric]), len(record.get("folds", []))


def cell_values(by_seed: dict) -> dict:
    """``{(seed, fold): headline value}`` of a cell (every seed's every fold)."""
    out = {}
    for seed, record in by_seed.items():
        metric, _ = metric_of(record)
        for k, fold in enumerate(record.get("folds", [])):
            out[(seed, k)] = float(fold[metric])
    return out


def column_title(key: str, rows: list[dict]) -> str:
    for r in rows:
        if key in r["cells"]:
            metric = metric_of(next(iter(r["cells"][key].values())))[0]
            return f"{key} ({PRETTY.get(metric, metric)})"
    return key


def reference_row(rows: list[dict]) -> int | None:
    """Index of the row every other is tested against: the first labelled plain "RelCon", else
    the first row (None for an empty table)."""
    for i, r in enumerate(rows):
        if r["method"] == "RelCon":
            return i
    return 0 if rows else None


def analyse(rows: list[dict], columns: list[str], test: str = "t", alpha: float = ALPHA) -> dict:
    """Per (row, column): n, mean, std, 95 % t-interval; the paired difference to the reference
    row (RelCon) over their common (seed, fold) pairs and its p-value; per column the best and
    whether it is significantly better than the runner-up. Every p-value of the table (each
    method against the reference, each column's best against its runner-up) is Holm-corrected
    as one family. Returns ``{"cells": {(i, key): {...}}, "best": {key: (i, bold)}, "reference",
    "tests", "test", "alpha"}``."""
    ref = reference_row(rows)
    cells, tests = {}, []  # tests: (cell address the p belongs to, field name, p)
    values = {(i, key): cell_values(r["cells"][key]) for i, r in enumerate(rows) for key in columns
              if key in r["cells"]}
    higher_of = {}
    for (i, key), vals in values.items():
        v = np.array(list(vals.values()))
        mean, low, high = t_interval(v)
        cells[(i, key)] = {"n": len(v), "mean": mean, "std": float(np.std(v, ddof=1)) if len(v) > 1 else math.nan,
                           "ci_low": low, "ci_high": high, "diff": math.nan, "n_pairs": 0, "p": math.nan,
                           "p_holm": math.nan, "significant": False}
        higher_of[key] = metric_of(next(iter(rows[i]["cells"][key].values())))[1]

    def paired(i, j, key):
        a, b = values[(i, key)], values[(j, key)]
        common = sorted(set(a) & set(b), key=lambda p: (str(p[0]), p[1]))
        x, y = [a[c] for c in common], [b[c] for c in common]
        diff = float(np.mean(np.subtract(x, y))) if common else math.nan
        return diff, len(common), paired_p_value(x, y, test) if common else math.nan

    for (i, key), cell in cells.items():
        if ref is not None and i != ref and (ref, key) in values:
            cell["diff"], cell["n_pairs"], cell["p"] = paired(i, ref, key)
            tests.append(((i, key), "p"))
    best = {}
    for key in columns:
        present = [i for i in range(len(rows)) if (i, key) in cells]
        if len(present) < 2:
            continue
        sign = 1.0 if higher_of[key] else -1.0
        order = sorted(present, key=lambda i: -sign * cells[(i, key)]["mean"])
        first, second = order[0], order[1]
        _, n_pairs, p = paired(first, second, key)
        best[key] = {"row": first, "runner_up": second, "n_pairs": n_pairs, "p": p, "p_holm": math.nan, "bold": False}
        if ref in (first, second) and not math.isnan(cells[(first if second == ref else second, key)]["p"]):
            best[key]["same_as"] = (first if second == ref else second, key)  # already tested against RelCon
        else:
            tests.append((key, "best"))
    adjusted = holm([cells[a]["p"] if f == "p" else best[a]["p"] for a, f in tests])
    for (address, field_name), p_holm in zip(tests, adjusted):
        if field_name == "p":
            cells[address]["p_holm"] = float(p_holm)
            cells[address]["significant"] = bool(p_holm < alpha)
        else:
            best[address]["p_holm"] = float(p_holm)
    for key, b in best.items():
        if "same_as" in b:
            b["p_holm"] = cells[b["same_as"]]["p_holm"]
        first, second = cells[(b["row"], key)], cells[(b["runner_up"], key)]
        b["bold"] = bool(b["p_holm"] < alpha and first["mean"] != second["mean"])
    return {"cells": cells, "best": best, "reference": ref, "tests": len(tests), "test": test, "alpha": alpha}


def _fmt(x: float) -> str:
    return "nan" if math.isnan(x) else f"{x:.3f}"


TEST_NAMES = {"t": "paired t-test", "wilcoxon": "Wilcoxon signed-rank test"}


def legend(rows: list[dict], stats: dict) -> str:
    """What the marks of ``markdown`` mean, for the lines under the table."""
    ref = stats["reference"]
    seeds = sorted({len(r["seeds"]) for r in rows})
    seed_text = "/".join(str(s) for s in seeds) + (" seed" if seeds == [1] else " seeds")
    ref_name = rows[ref]["method"] if ref is not None else "-"
    return (f"Each cell: mean and 95 % t-interval over every (pre-training seed, fold) value ({seed_text} × the "
            f"evaluation's folds). † differs from {ref_name} ({TEST_NAMES[stats['test']]} over the common (seed, fold) "
            f"pairs, Holm-corrected over the {stats['tests']} tests of this table, p < {stats['alpha']}). Bold: the "
            f"column's best, only where it is significantly better than the runner-up by the same test.")


def markdown(rows: list[dict], columns: list[str], stats: dict | None = None) -> str:
    """The table: per cell mean [95 % interval], † where the row differs significantly from the
    reference row, the column's best in bold only where significantly better than the runner-up;
    "–" where a method lacks an evaluation."""
    stats = stats or analyse(rows, columns)
    lines = ["| method | " + " | ".join(column_title(k, rows) for k in columns) + " |",
             "|---|" + "---|" * len(columns)]
    for i, r in enumerate(rows):
        out = []
        for key in columns:
            cell = stats["cells"].get((i, key))
            if cell is None:
                out.append("–")
                continue
            text = f"{cell['mean']:.3f}" + ("" if math.isnan(cell["ci_low"]) else
                                            f" [{cell['ci_low']:.3f}, {cell['ci_high']:.3f}]")
            b = stats["best"].get(key)
            if b and b["row"] == i and b["bold"]:
                text = f"**{text}**"
            out.append(text + (" †" if cell["significant"] else ""))
        lines.append(f"| {r['method']} | " + " | ".join(out) + " |")
    return "\n".join(lines) + "\n"


def differences_markdown(rows: list[dict], columns: list[str], stats: dict) -> str:
    """Each method minus the reference row, per column: mean paired difference, number of pairs,
    raw and Holm-adjusted p."""
    ref = stats["reference"]
    if ref is None:
        return ""
    lines = [f"| method − {rows[ref]['method']} | " + " | ".join(column_title(k, rows) for k in columns) + " |",
             "|---|" + "---|" * len(columns)]
    for i, r in enumerate(rows):
        if i == ref:
            continue
        out = []
        for key in columns:
            cell = stats["cells"].get((i, key))
            if cell is None or not cell["n_pairs"]:
                out.append("–")
                continue
            out.append(f"{cell['diff']:+.3f} (n={cell['n_pairs']}, p={_fmt(cell['p'])}, Holm {_fmt(cell['p_holm'])})")
        lines.append(f"| {r['method']} | " + " | ".join(out) + " |")
    return "\n".join(lines) + "\n"


def _csv(header: list, records) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(header)
    writer.writerows(records)
    return buf.getvalue()


def values_csv(rows: list[dict], columns: list[str]) -> str:
    """Every per-seed, per-fold headline value: one line each."""
    lines = []
    for r in rows:
        for key in columns:
            for seed, record in r["cells"].get(key, {}).items():
                metric, _ = metric_of(record)
                run = (record.get("encoder") or {}).get("run") or ""
                for k, fold in enumerate(record.get("folds", [])):
                    lines.append([r["method"], run, "" if seed is None else seed, key, metric, k, float(fold[metric])])
    return _csv(["method", "encoder_run", "seed", "evaluation", "metric", "fold", "value"], lines)


def summary_csv(rows: list[dict], columns: list[str], stats: dict) -> str:
    """Per cell: n, mean, std, interval, difference to the reference, p, Holm p, the marks."""
    lines = []
    for i, r in enumerate(rows):
        for key in columns:
            cell = stats["cells"].get((i, key))
            if cell is None:
                continue
            b = stats["best"].get(key) or {}
            lines.append([r["method"], key, metric_of(next(iter(r["cells"][key].values())))[0], cell["n"],
                          cell["mean"], cell["std"], cell["ci_low"], cell["ci_high"], cell["diff"], cell["n_pairs"],
                          cell["p"], cell["p_holm"], int(cell["significant"]),
                          int(b.get("row") == i and b.get("bold", False))])
    return _csv(["method", "evaluation", "metric", "n", "mean", "std", "ci95_low", "ci95_high", "diff_vs_reference",
                 "pairs", "p", "p_holm", "significant_vs_reference", "bold_best"], lines)


def write_comparison(runs, out: Path, test: str = "t") -> tuple[str, list[dict], list[str]]:
    """Write ``comparison.md`` (the table, its legend and the paired differences),
    ``comparison.csv`` (every per-seed, per-fold value) and ``comparison_summary.csv`` (the
    statistics of every cell) to ``out``; returns (markdown table with its legend, rows, columns)."""
    rows, columns = collect(runs)
    stats = analyse(rows, columns, test=test)
    table = markdown(rows, columns, stats) + "\n" + legend(rows, stats) + "\n"
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "comparison.md", "# Comparison\n\nHeadline metric per evaluation. Runs: "
                                             f"{', '.join(str(r) for r in runs)}.\n\n{table}\n"
                                             f"## Paired differences\n\n{differences_markdown(rows, columns, stats)}")
    atomic_write_text(out / "comparison.csv", values_csv(rows, columns))
    atomic_write_text(out / "comparison_summary.csv", summary_csv(rows, columns, stats))
    return table, rows, columns
