"""``python -m relcon.report RUN_DIR``: pictures of a run, and a short markdown report linking them.

Written to ``RUN_DIR/report/`` (``--out`` elsewhere):

    losses.png               training and validation loss per epoch, one panel per stage (the
                             prerequisite MotifDist run, then the run itself; from metrics.csv)
    summary.png              the headline metric of every evaluation, mean ± std over folds
    folds_<evaluation>.png   every metric per fold, with the mean ± std (results.json)
    confusion_<evaluation>.png  classification: confusion matrix summed over folds (y_true/y_pred.npy)
    scatter_<evaluation>.png    regression: predicted vs true, every fold (y_true/y_pred.npy)
    report.md                the results table and the figures

RUN_DIR may also be a config name (its folder under the output root). matplotlib is an
optional extra (``pip install -e '.[plots]'``); without it the command says so and exits 1.
Figures are drawn on matplotlib's Agg canvas (no display, no pyplot state).
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import os
import re
import sys
from pathlib import Path

import numpy as np

from relcon.api import run_folder
from relcon.config import config_to_dict
from relcon.eval.metrics import PRETTY
from relcon.experiments.registry import get_config
from relcon.utils.io import atomic_write_bytes, atomic_write_text
from relcon.utils.paths import cli_path, out_dir

INSTALL_HINT = "pip install -e '.[plots]'"
HEADLINE = {"classification": "macro_f1"}
STAGE_NAMES = {"MotifDist_Model": "stage 1: MotifDist distance", "RelCon_Model": "stage 2: RelCon encoder"}
MAX_ANNOTATED_CLASSES = 20
MAX_TARGET_PANELS = 6


class MissingMatplotlib(ImportError):
    pass


def _figure_class():
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as e:
        raise MissingMatplotlib(f"python -m relcon.report draws with matplotlib, an optional extra that is not "
                                f"installed ({e}); install it with `{INSTALL_HINT}` (or `pip install matplotlib`)"
                                ) from None

    def new_figure(width: float, height: float):
        fig = Figure(figsize=(width, height), dpi=110, layout="constrained")
        FigureCanvasAgg(fig)
        return fig

    return new_figure


def _save(fig, path: Path) -> Path:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    atomic_write_bytes(path, buf.getvalue())
    return path


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "evaluation"


# ----------------------------------------------------------------------------- reading a run
def read_json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def read_metrics(path: Path) -> dict:
    """``metrics.csv`` -> {"epoch": [...], "train_loss": [...], "val_loss": [...]} (floats; NaN where empty)."""
    columns = {"epoch": [], "train_loss": [], "val_loss": []}
    with open(path, encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            for key in columns:
                try:
                    columns[key].append(float(row.get(key) or "nan"))
                except ValueError:
                    columns[key].append(float("nan"))
    return columns


def run_config(run_dir: Path, name: str) -> dict | None:
    """The run's resolved config (``config.json``), else the registry config of that name."""
    saved = read_json(run_dir / "config.json")
    if isinstance(saved, dict):
        return saved
    try:
        return config_to_dict(get_config(name))
    except Exception:  # not a registry name (or configs fail to import): no stage information
        return None


def _run_named(run_dir: Path, name: str) -> Path:
    """Folder of run ``name``: beside ``run_dir`` (same output root) if there, else under the output root."""
    sibling = run_dir.parent / name
    return sibling if sibling.is_dir() else out_dir(name)


def stages(run_dir: Path, depth: int = 0) -> list[tuple[str, Path]]:
    """(title, metrics.csv) of each training stage behind a run, prerequisites first."""
    results = read_json(run_dir / "results.json") or {}
    config = run_config(run_dir, results.get("config") or run_dir.name) or {}
    found = []
    source = config.get("pretrained_from")
    if source and depth < 3:
        return stages(_run_named(run_dir, source), depth + 1)
    prerequisite = config.get("motifdist_expconfig_key")
    if prerequisite and depth < 3:
        found += stages(_run_named(run_dir, prerequisite), depth + 1)
    metrics = run_dir / "metrics.csv"
    if metrics.exists():
        kind = STAGE_NAMES.get(config.get("model_file", ""), config.get("model_file", "training"))
        found.append((f"{run_dir.name} ({kind})", metrics))
    return found


def eval_folder(run_dir: Path, record: dict) -> Path:
    """``<evaluation>/<model>[_randominit]`` of a results.json record."""
    if record.get("folder"):
        return run_dir / record["folder"]
    random_init = str(record.get("label", "")).endswith("[random init]")
    return run_dir / (record.get("name") or ".") / (record["model_file"] + ("_randominit" if random_init else ""))


def fold_predictions(run_dir: Path, record: dict) -> tuple[list, list[str]]:
    """[(fold, y_true, y_pred)] of the folds whose arrays exist, and notes on the missing ones."""
    folder = eval_folder(run_dir, record)
    found, notes = [], []
    for k in range(len(record.get("folds", []))):
        t, p = folder / f"cv{k}" / "y_true.npy", folder / f"cv{k}" / "y_pred.npy"
        if not (t.exists() and p.exists()):
            notes.append(f"fold {k}: {t.parent} has no y_true.npy / y_pred.npy")
            continue
        try:
            found.append((k, np.load(t, allow_pickle=False), np.load(p, allow_pickle=False)))
        except Exception as e:
            notes.append(f"fold {k}: cannot read {t.parent} ({type(e).__name__}: {e})")
    return found, notes


def metric_names(record: dict) -> list[str]:
    """Metrics of an evaluation in the order its metric function gives them (JSON keeps it)."""
    return [m for m in record.get("mean", {}) if m != "n_test"]


def headline(record: dict) -> str:
    names = metric_names(record)
    preferred = HEADLINE.get(record.get("task"))
    return preferred if preferred in names else names[0]


# ----------------------------------------------------------------------------- figures
def plot_losses(new_figure, stage_list, path: Path) -> Path:
    fig = new_figure(4.2 * len(stage_list), 3.4)
    axes = fig.subplots(1, len(stage_list), squeeze=False)[0]
    for ax, (title, metrics_path) in zip(axes, stage_list):
        m = read_metrics(metrics_path)
        epochs = np.asarray(m["epoch"])
        for key, label, style in (("train_loss", "training", "o-"), ("val_loss", "validation", "s--")):
            ax.plot(epochs, m[key], style, label=label, markersize=4)
        val = np.asarray(m["val_loss"], dtype=float)
        if np.isfinite(val).any():
            best = int(np.nanargmin(val))
            ax.plot([epochs[best]], [val[best]], "*", color="black", markersize=11,
                    label=f"best val (epoch {int(epochs[best])})")
        values = np.asarray(m["train_loss"] + m["val_loss"], dtype=float)
        values = values[np.isfinite(values)]
        if len(values) and values.min() > 0 and values.max() / values.min() > 50:
            ax.set_yscale("log")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("Loss per epoch", fontsize=11)
    return _save(fig, path)


def plot_summary(new_figure, records: list[dict], path: Path) -> Path:
    tasks = sorted({r["task"] for r in records})
    fig = new_figure(7.5, 0.9 + 0.45 * len(records) + 0.6 * len(tasks))
    axes = fig.subplots(len(tasks), 1, squeeze=False)[:, 0]
    for ax, task in zip(axes, tasks):
        rows = [r for r in records if r["task"] == task]
        metric = headline(rows[0])
        rows = [r for r in rows if metric in r["mean"]]
        y = np.arange(len(rows))[::-1]
        means = [r["mean"][metric] for r in rows]
        ax.barh(y, means, xerr=[r["std"].get(metric, 0.0) for r in rows], color="tab:blue", alpha=0.8, capsize=4)
        for yi, r, mean in zip(y, rows, means):
            std = r["std"].get(metric, 0.0)
            ax.text(mean + std, yi, f"  {mean:.3f} ± {std:.3f}", va="center", fontsize=8)
        ax.set_yticks(y, [r["label"] for r in rows], fontsize=8)
        ax.set_xlabel(f"{PRETTY.get(metric, metric)} (mean ± std over folds)")
        ax.set_title(f"{task}: {PRETTY.get(metric, metric)}", fontsize=10)
        if task == "classification":
            ax.set_xlim(min(0.0, min(means) - 0.05), 1.15)
        else:  # room for the labels right of the error bars
            stds = [r["std"].get(metric, 0.0) for r in rows]
            lo = min(0.0, min(m - s for m, s in zip(means, stds)))
            hi = max(0.0, max(m + s for m, s in zip(means, stds)))
            span = (hi - lo) or 1.0
            ax.set_xlim(lo - 0.02 * span, hi + 0.35 * span)
        ax.grid(axis="x", alpha=0.3)
    return _save(fig, path)


def plot_folds(new_figure, record: dict, path: Path) -> Path:
    names = metric_names(record)
    fig = new_figure(max(3.0 * len(names), 4.0), 3.2)
    axes = fig.subplots(1, len(names), squeeze=False)[0]
    folds = record["folds"]
    for ax, metric in zip(axes, names):
        values = [f.get(metric, np.nan) for f in folds]
        x = np.arange(len(folds))
        ax.bar(x, values, color="tab:gray", alpha=0.7)
        mean, std = record["mean"][metric], record["std"].get(metric, 0.0)
        ax.axhline(mean, color="tab:red")
        ax.axhspan(mean - std, mean + std, color="tab:red", alpha=0.15)
        ax.set_xticks(x, [f"cv{k}" for k in x], fontsize=8)
        ax.set_title(f"{PRETTY.get(metric, metric)}: {mean:.3f} ± {std:.3f}", fontsize=10)
        if record.get("task") == "classification" and metric != "kappa":
            ax.set_ylim(0, 1.05)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle(f"{record['label']}: bars per fold ({len(folds)} folds), red line and band mean ± std", fontsize=11)
    return _save(fig, path)


def confusion_matrix(pairs) -> np.ndarray:
    """Counts [true, predicted] summed over folds; predictions given as scores are argmaxed."""
    trues, preds = [], []
    for _, y_true, y_pred in pairs:
        y_pred = y_pred.argmax(axis=1) if y_pred.ndim == 2 else y_pred
        trues.append(np.asarray(y_true).astype(np.int64).ravel())
        preds.append(np.asarray(y_pred).astype(np.int64).ravel())
    t, p = np.concatenate(trues), np.concatenate(preds)
    n = int(max(t.max(), p.max())) + 1
    matrix = np.zeros((n, n), dtype=np.int64)
    np.add.at(matrix, (t, p), 1)
    return matrix


def plot_confusion(new_figure, record: dict, pairs, path: Path) -> Path:
    matrix = confusion_matrix(pairs)
    n = len(matrix)
    rows = matrix.sum(axis=1, keepdims=True)
    fraction = np.divide(matrix, rows, out=np.zeros(matrix.shape, dtype=float), where=rows > 0)
    size = min(3.2 + 0.45 * n, 12)
    fig = new_figure(size + 1.2, size)
    ax = fig.subplots()
    image = ax.imshow(fraction, cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(image, ax=ax, label="fraction of the true class", shrink=0.8)
    if n <= MAX_ANNOTATED_CLASSES:
        for i in range(n):
            for j in range(n):
                if matrix[i, j]:
                    ax.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=8,
                            color="white" if fraction[i, j] > 0.5 else "black")
        names = record.get("class_names") or []
        ticks = [f"{i} {names[i]}" if i < len(names) else str(i) for i in range(n)]
        ax.set_xticks(range(n), ticks, rotation=45 if names else 0, ha="right" if names else "center")
        ax.set_yticks(range(n), ticks)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(f"{record['label']}\nconfusion, {len(pairs)} folds summed (N = {int(matrix.sum())})", fontsize=10)
    return _save(fig, path)


def plot_scatter(new_figure, record: dict, pairs, path: Path) -> tuple[Path, str]:
    columns = [np.asarray(t, dtype=float).reshape(len(t), -1) for _, t, _ in pairs]
    n_targets = columns[0].shape[1]
    shown = min(n_targets, MAX_TARGET_PANELS)
    fig = new_figure(3.6 * shown, 3.6)
    axes = fig.subplots(1, shown, squeeze=False)[0]
    for j, ax in enumerate(axes):
        all_true, all_pred = [], []
        for k, y_true, y_pred in pairs:
            t = np.asarray(y_true, dtype=float).reshape(len(y_true), -1)[:, j]
            p = np.asarray(y_pred, dtype=float).reshape(len(y_pred), -1)[:, j]
            ax.scatter(t, p, s=9, alpha=0.6, label=f"cv{k}")
            all_true.append(t)
            all_pred.append(p)
        t, p = np.concatenate(all_true), np.concatenate(all_pred)
        lo, hi = float(min(t.min(), p.min())), float(max(t.max(), p.max()))
        ax.plot([lo, hi], [lo, hi], "k--", linewidth=1, label="y = x")
        ax.set_xlabel("true")
        ax.set_ylabel("predicted")
        title = f"target {j}" if n_targets > 1 else "target"
        ax.set_title(f"{title}: MAE {np.mean(np.abs(p - t)):.3g}", fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(f"{record['label']}: predicted vs true, {len(pairs)} folds", fontsize=11)
    note = f"{n_targets} targets; the first {shown} are drawn" if n_targets > shown else ""
    return _save(fig, path), note


# ----------------------------------------------------------------------------- the report
def write_report(run_dir: Path, out: Path | None = None) -> dict:
    """Draw every figure the run's files allow and write ``report.md``; returns
    {"report": path, "figures": [paths], "notes": [...]}. Raises ``MissingMatplotlib``."""
    new_figure = _figure_class()
    run_dir = Path(run_dir)
    out = Path(out) if out is not None else run_dir / "report"
    stage_list = stages(run_dir)
    results = read_json(run_dir / "results.json")
    records = results.get("evaluations", []) if isinstance(results, dict) else []
    done = [r for r in records if r.get("status") == "done" and r.get("folds")]
    if not stage_list and not done:
        present = ", ".join(sorted(p.name for p in run_dir.iterdir())) or "nothing"
        raise FileNotFoundError(f"{run_dir}: nothing to draw (no metrics.csv and no results.json with evaluations; "
                                f"present: {present}); run `python run_exp.py --config NAME` first")
    figures, notes = [], []
    lines = [f"# Report of {run_dir.name}", "", f"Run folder: `{run_dir}`. Figures in this folder; regenerate with "
             f"`python -m relcon.report {run_dir}`.", ""]
    if stage_list:
        figures.append(plot_losses(new_figure, stage_list, out / "losses.png"))
        lines += ["## Training", "", "Loss per epoch of each stage; the star marks the best validation loss, whose "
                  "checkpoint is `checkpoint_best.pkl`.", ""]
        lines += [f"- {title}: `{path}`" for title, path in stage_list] + ["", "![losses](losses.png)", ""]
    else:
        notes.append(f"no metrics.csv in {run_dir} or its prerequisite runs: no loss curves")
    if done:
        lines += ["## Evaluations", ""]
        table = run_dir / "results.md"
        if table.exists():
            body = table.read_text(encoding="utf-8").split("\n", 1)[-1].strip()
            lines += [body, ""]
        figures.append(plot_summary(new_figure, done, out / "summary.png"))
        lines += ["![summary](summary.png)", ""]
        for record in done:
            name = slug(record["label"])
            lines += [f"### {record['label']}", ""]
            figures.append(plot_folds(new_figure, record, out / f"folds_{name}.png"))
            lines.append(f"![per-fold metrics](folds_{name}.png)")
            pairs, missing = fold_predictions(run_dir, record)
            notes += [f"{record['label']}: {m}" for m in missing]
            if pairs and record.get("task") == "classification":
                figures.append(plot_confusion(new_figure, record, pairs, out / f"confusion_{name}.png"))
                lines.append(f"![confusion matrix](confusion_{name}.png)")
            elif pairs and record.get("task") == "regression":
                path, note = plot_scatter(new_figure, record, pairs, out / f"scatter_{name}.png")
                figures.append(path)
                lines.append(f"![predicted vs true](scatter_{name}.png)")
                if note:
                    notes.append(f"{record['label']}: {note}")
            lines.append("")
    skipped = [r for r in records if r.get("status") == "skipped"]
    if skipped:
        lines += ["## Skipped evaluations", ""] + [f"- {r['label']}: {r.get('reason', '')}" for r in skipped] + [""]
    if notes:
        lines += ["## Notes", ""] + [f"- {n}" for n in notes] + [""]
    report = out / "report.md"
    atomic_write_text(report, "\n".join(lines).rstrip() + "\n")
    return {"report": report, "figures": figures, "notes": notes}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m relcon.report",
                                description="Draw a run's loss curves and evaluation results as PNGs, with a "
                                            "markdown report (needs matplotlib: " + INSTALL_HINT + ").")
    p.add_argument("run_dir", metavar="RUN_DIR", help="run folder (or config name), e.g. relcon/experiments/out/demo")
    p.add_argument("--out", help="folder for the PNGs and report.md (default: RUN_DIR/report)")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        run_dir = run_folder(args.run_dir)
        result = write_report(run_dir, cli_path(args.out) if args.out else None)
    except MissingMatplotlib as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except (FileNotFoundError, ValueError) as e:
        if os.environ.get("RELCON_DEBUG"):
            raise
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"report: {result['report']} ({len(result['figures'])} figures: "
          + ", ".join(p.name for p in result["figures"]) + ")")
    for note in result["notes"]:
        print(f"note: {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
