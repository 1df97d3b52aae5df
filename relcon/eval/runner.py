"""The cross-validation loop behind ``run_exp.py``: every evaluation config of a run, every fold.

For each evaluation and fold k < cv_splits: read ``cv{k}_{train,val,test}_{X,y}.npy``, fit the
evaluation model unless a stored fit matches (same encoder, evaluation settings and fold files,
and a finished fine-tuning: ``Base_EvalClass.stale_reason``; ``--retrain_eval`` refits), predict
the test split and score it. Results go to the run folder:

    results.csv   one row per evaluation x fold, plus mean and std rows
    results.json  the same, nested
    results.md    the table printed at the end (mean ± std over folds)
    <config>_easy_paste.csv  the reference's one-line summary (appended per invocation)
    <evaluation>/<model>/cv{k}/  the fitted model (checkpoint_best.pkl), y_true.npy, y_pred.npy
"""
from __future__ import annotations

import copy
import csv
import datetime
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from relcon.data.folds import data_hint, load_fold
from relcon.data.generators import ensure_data
from relcon.eval.metrics import (CLASSIFICATION_METRICS, PRETTY, REGRESSION_METRICS, aggregate,
                                 classification_metrics, regression_metrics)
from relcon.nets.Features.Features_Net import Net as FeaturesNet
from relcon.runs import load_net, state_digest
from relcon.utils.imports import import_net, model_module
from relcon.utils.io import atomic_save_npy, atomic_write, atomic_write_json, atomic_write_text
from relcon.utils.utils import printlog

METRIC_FUNCTIONS = {"classification": classification_metrics}
METRIC_NAMES = {"classification": CLASSIFICATION_METRICS}


@dataclass
class EncoderRun:
    """The pre-training run whose encoder is evaluated: its folder, its name in the results, and
    the config that built it (used when its checkpoint holds none, as the reference's do)."""

    run_dir: Path
    name: str
    config: object = None


def register_task(task: str, metric_fn, names) -> None:
    """Add a task type (e.g. regression) with its per-fold metric function and metric names."""
    METRIC_FUNCTIONS[task] = metric_fn
    METRIC_NAMES[task] = tuple(names)


# Regression (relcon/eval/Regress/): with M targets the table shows the means over targets.
register_task("regression", regression_metrics, REGRESSION_METRICS)


def _pretrained_encoder(source: EncoderRun, ckpt, device):
    encoder, state, cfg = load_net(source.run_dir, ckpt, device=device, default_config=source.config)
    if cfg.net_config.net_folder == "CrossAttn":
        raise ValueError(f"{source.run_dir} holds a MotifDist distance network (CrossAttn), not an encoder")
    return encoder, {"init": "pretrained", "run": source.name, "ckpt": str(ckpt), "epoch": state.get("epoch"),
                     "sha256": state_digest(encoder)}


def _random_encoder(net_config, seed: int, device):
    torch.manual_seed(seed)
    encoder = import_net(net_config).to(device)
    return encoder, {"init": "random", "seed": seed, "sha256": state_digest(encoder)}


def _features_encoder(device):
    encoder = FeaturesNet().to(device)
    return encoder, {"init": "features", "sha256": state_digest(encoder)}


def evaluate(ev, run_dir: Path, encoder_run: EncoderRun, net_config, device, eval_epoch=None,
             refit: bool = False) -> dict:
    """All folds of one evaluation config ``ev``: {"label", "folds": [...], "mean", "std", ...}.

    ``encoder_run``: the pre-trained encoder's run; ``net_config``: its architecture (for the
    random-init baseline); ``eval_epoch``: overrides ``ev.pretrain_epoch``; ``refit``: fit again
    even when a stored fit matches. Fitted models go to ``run_dir/<ev.folder>/cv{k}/``.
    """
    log_dir = run_dir
    device = torch.device(device)
    record = {"label": ev.label, "name": ev.name, "model_file": ev.model_file, "data_folder": ev.data_config.data_folder,
              "cv_splits": ev.cv_splits, "folder": ev.folder}
    if getattr(ev.data_config, "class_names", None):  # only classification sets have them
        record["class_names"] = list(ev.data_config.class_names)
    folder = ensure_data(ev.data_config, log_dir)
    if not folder.is_dir():
        record.update(status="skipped", reason=f"data folder {folder} is missing; create it with `{data_hint(folder)}`")
        printlog(f"skipped evaluation {ev.label}: {record['reason']}", log_dir)
        return record
    model_cls = model_module(ev).Model
    random_init = ev.encoder_init == "random" or getattr(model_cls, "random_encoder", False)
    ckpt = eval_epoch or ev.pretrain_epoch
    if ev.encoder_init == "features":
        if not getattr(model_cls, "frozen_encoder", True):
            raise ValueError(f"evaluation {ev.label}: encoder_init='features' has nothing to train; use it with "
                             f"a probe (linear_probe, MLP_probe), not {ev.model_file}")
        base_encoder, source = _features_encoder(device)
    elif random_init:
        base_encoder, source = _random_encoder(net_config, ev.seed, device)
    else:
        base_encoder, source = _pretrained_encoder(encoder_run, ckpt, device)
    record["encoder"] = source
    in_channels = getattr(base_encoder, "in_channels", None)
    class_num = ev.evalnetparams.get("class_num") if model_cls.task == "classification" else None
    eval_dir = run_dir / ev.folder
    folds = []
    for k in range(ev.cv_splits):
        data = load_fold(folder, k, in_channels=in_channels, task=model_cls.task,
                         class_num=class_num if not getattr(model_cls, "frozen_encoder", True) else None)
        for mode, split in data.items():
            if split.dropped:
                printlog(f"warning: {ev.label} fold {k}: {split.dropped} of {split.dropped + len(split.y)} {mode} "
                         f"windows have non-finite targets and were dropped ({split.y_path})", log_dir)
        if model_cls.task == "classification":
            missing = sorted(set(np.unique(data["test"].y)) - set(np.unique(data["train"].y)))
            if missing:
                printlog(f"warning: {ev.label} fold {k}: test classes {missing} are absent from the training split; "
                         f"their F1 is 0 unless predicted", log_dir)
        model = model_cls(ev, copy.deepcopy(base_encoder), eval_dir / f"cv{k}", device, source)
        stale = "--retrain_eval" if refit else model.stale_reason(data["train"], data["val"])
        if stale:
            why = "" if stale == "no fitted model yet" else f" (refitting: {stale})"
            printlog(f"{ev.label} fold {k}/{ev.cv_splits}: fitting on {len(data['train'].y)} train / "
                     f"{len(data['val'].y)} val windows{why}", log_dir)
            model.fit(data["train"], data["val"])
        else:
            printlog(f"{ev.label} fold {k}/{ev.cv_splits}: reusing the fitted model in {model.run_dir}", log_dir)
            model.load()
        y_pred = model.predict(data["test"].X)
        atomic_save_npy(model.run_dir / "y_pred.npy", y_pred)
        atomic_save_npy(model.run_dir / "y_true.npy", data["test"].y)
        metrics = METRIC_FUNCTIONS[model_cls.task](data["test"].y, y_pred)
        metrics["n_test"] = int(len(data["test"].y))
        folds.append(metrics)
        printlog(f"{ev.label} fold {k}: " + ", ".join(f"{m}={v:.4f}" for m, v in metrics.items()
                                                    if isinstance(v, float)), log_dir)
    mean, std = aggregate(folds)
    record.update(status="done", task=model_cls.task, folds=folds, mean=mean, std=std)
    return record


def markdown_table(records: list[dict]) -> str:
    lines = []
    for task in ("classification",) + tuple(t for t in METRIC_NAMES if t != "classification"):
        rows = [r for r in records if r.get("status") == "done" and r.get("task") == task]
        if not rows:
            continue
        names = METRIC_NAMES[task]
        lines.append("| evaluation | folds | " + " | ".join(PRETTY.get(m, m) for m in names) + " |")
        lines.append("|---|---|" + "---|" * len(names))
        for r in rows:
            cells = [f"{r['mean'][m]:.3f} ± {r['std'][m]:.3f}" for m in names]
            lines.append(f"| {r['label']} | {len(r['folds'])} | " + " | ".join(cells) + " |")
        lines.append("")
    skipped = [r for r in records if r.get("status") == "skipped"]
    if skipped:
        lines.append("Skipped:")
        lines.extend(f"- {r['label']}: {r['reason']}" for r in skipped)
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def write_results(run_dir: Path, name: str, records: list[dict], ckpt_label: str) -> str:
    """results.json / .csv / .md and the easy-paste CSV in ``run_dir``; returns the markdown table."""
    atomic_write_json(run_dir / "results.json", {"config": name, "pretrain_epoch": ckpt_label, "evaluations": records})
    metric_names = sorted({m for r in records if r.get("status") == "done" for m in r["mean"]})
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["evaluation", "model_file", "data_folder", "fold"] + metric_names)
    for r in records:
        if r.get("status") != "done":
            continue
        rows = [(str(k), f) for k, f in enumerate(r["folds"])] + [("mean", r["mean"]), ("std", r["std"])]
        for fold, values in rows:
            writer.writerow([r["label"], r["model_file"], r["data_folder"], fold]
                            + [values.get(m, "") for m in metric_names])
    atomic_write_text(run_dir / "results.csv", buf.getvalue())
    table = markdown_table(records)
    atomic_write_text(run_dir / "results.md", f"# Results of {name}\n\nPre-trained checkpoint: {ckpt_label}. "
                                              f"Mean ± std over folds.\n\n{table}")
    # The reference's easy-paste summary: a title row and a value row per invocation.
    paste = run_dir / f"{name}_easy_paste.csv"
    previous = paste.read_text() if paste.exists() else ""
    title, values = ["name", "epoch", "date"], [name, ckpt_label, datetime.date.today().isoformat()]
    for r in records:
        if r.get("status") == "done":
            key = "macro_f1" if "macro_f1" in r["mean"] else sorted(r["mean"])[0]
            title.append(f"{r['label']} {key}")
            values.append(f"{r['mean'][key]:.6f}")
    buf = io.StringIO()
    csv.writer(buf).writerows([title, values])
    with atomic_write(paste, "w", encoding="utf-8") as f:
        f.write(previous + buf.getvalue())
    return table


def run_evaluations(run_dir: Path, name: str, config, device, encoder_run: EncoderRun, eval_epoch=None,
                    refit: bool = False) -> list[dict]:
    """Every evaluation config of ``config`` on every fold; results written to ``run_dir``."""
    run_dir = Path(run_dir)
    records = []
    for ev in config.eval_configs:
        printlog(f"evaluation {ev.label} ({ev.cv_splits} fold(s), data {ev.data_config.data_folder})", run_dir)
        records.append(evaluate(ev, run_dir, encoder_run, config.net_config, device, eval_epoch, refit))
    epochs = sorted({str(ev.pretrain_epoch) for ev in config.eval_configs})
    ckpt_label = str(eval_epoch or ", ".join(epochs))
    table = write_results(run_dir, name, records, ckpt_label)
    printlog(f"\nResults of {name} (mean ± std over folds; {run_dir / 'results.md'}):\n{table}", run_dir)
    return records
