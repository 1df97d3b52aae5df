"""``python run_exp.py --config NAME``: resolve a config, train what is missing, evaluate.

A run lives in ``relcon/experiments/out/<NAME>/``. A finished run is not trained again
(``--retrain`` moves it aside and starts over); an unfinished one needs ``--resume_on``
(continue from its newest checkpoint) or ``--retrain``. Prerequisites (the MotifDist distance
of a RelCon config) are trained first when their best checkpoint is missing.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import warnings
from pathlib import Path

import torch

from relcon.eval.comparison import write_comparison
from relcon.eval.runner import run_evaluations
from relcon.experiments import registry
from relcon.models.Base_Model import CheckpointError, NonFiniteLossError, load_checkpoint, resume_differences
from relcon.utils import distributed
from relcon.utils.paths import out_dir, resolve_path
from relcon.utils.utils import count_parameters, select_device, set_seed
from relcon.utils.utils import printlog as _printlog


def printlog(message: str, run_dir=None) -> None:
    """Log from the main process only (under torchrun every rank runs this module)."""
    if distributed.is_main():
        _printlog(message, run_dir)


class RunError(RuntimeError):
    """A run cannot proceed as asked (the message says why and what to do)."""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="run_exp.py", description="Train and evaluate a RelCon experiment config.")
    p.add_argument("-c", "--config", help="config name (see --list)")
    p.add_argument("--list", action="store_true", help="list config names with one-line descriptions")
    p.add_argument("--set", dest="overrides", action="append", default=[], nargs="+", metavar="KEY=VALUE",
                   help="override a config value; dotted keys reach nested ones, e.g. "
                        "net_config.params.embed_dim=128 (repeatable)")
    p.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N or mps")
    p.add_argument("--retrain", action="store_true", help="move the existing run aside and train from scratch")
    p.add_argument("--retrain_eval", action="store_true", help="refit evaluation models even if fitted ones exist")
    p.add_argument("--resume_on", action="store_true", help="continue an unfinished run from its newest checkpoint")
    p.add_argument("--eval_only", action="store_true", help="evaluate the existing checkpoint; never train")
    p.add_argument("--eval_epoch", default=None,
                   help="pre-trained checkpoint to evaluate (best, latest or an epoch); default: each "
                        "evaluation config's pretrain_epoch")
    return p


def training_state(run_dir: Path, epochs: int) -> str:
    """'none', 'finished' or 'unfinished' for the checkpoints in ``run_dir``."""
    best, latest = run_dir / "checkpoint_best.pkl", run_dir / "checkpoint_latest.pkl"
    if not latest.exists():
        return "finished" if best.exists() else "none"
    try:
        state = load_checkpoint(latest)
    except CheckpointError:
        return "unfinished"
    if "epoch_done" not in state:  # written by the reference code: it trusts checkpoint_best
        return "finished" if best.exists() else "unfinished"
    return "finished" if state["epoch_done"] and state["epoch"] + 1 >= epochs else "unfinished"


def describe_run(run_dir: Path) -> str:
    """What a run folder holds, in a few words: its checkpoints, the epochs they reached, other files."""
    names = sorted(p.name for p in run_dir.iterdir())
    checkpoints = [n for n in names if n.startswith("checkpoint_") and n.endswith(".pkl")]
    others = [n for n in names if n not in checkpoints and not n.startswith(".")]
    text = f"{len(checkpoints)} checkpoint(s) ({', '.join(checkpoints)})" if checkpoints else "no checkpoint"
    latest = run_dir / "checkpoint_latest.pkl"
    if latest.exists():
        try:
            state = load_checkpoint(latest)
            text += f", trained up to epoch {state.get('epoch')}" + (
                f" step {state.get('step')}" if not state.get("epoch_done", True) else "")
        except CheckpointError:
            text += ", checkpoint_latest.pkl unreadable"
    return text + (f"; also {', '.join(others)}" if others else "")


def move_run_aside(run_dir: Path) -> Path | None:
    if not run_dir.exists() or not any(run_dir.iterdir()):
        return None
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    target = run_dir.with_name(f"{run_dir.name}.replaced-{stamp}")
    n = 1
    while target.exists():  # two --retrain within one second
        n += 1
        target = run_dir.with_name(f"{run_dir.name}.replaced-{stamp}-{n}")
    run_dir.rename(target)
    return target


def ssl_folders(config, log_dir=None) -> dict:
    """Train/val/test folders of an SSL data config (generated first if the config says how),
    checked to exist."""
    from relcon.data.generators import ensure_data

    root = ensure_data(config.data_config, log_dir)
    folders = {split: root / split for split in ("train", "val", "test")}
    for split, folder in folders.items():
        if not folder.is_dir():
            hint = ("python relcon/data/process/process_dummydataset.py"
                    + ("" if root.name == "dummydataset" else f" --out-dir {config.data_config.data_folder}"))
            raise FileNotFoundError(f"data folder {folder} ({split} split) does not exist; create the data first, "
                                    f"e.g. `{hint}`")
    return folders


def prepare(name: str, overrides=(), device: str = "auto", registry_dict=None):
    """Config ``name`` with overrides applied and device set."""
    config = registry.get_config(name, registry_dict)
    registry.apply_overrides(config, list(overrides))
    check_eval_folders(name, config)
    config.set_device(distributed.init(select_device(device)))  # joins torchrun's process group if any
    config.set_rundir(name)
    if getattr(config, "num_threads", -1) and config.num_threads > 0:
        torch.set_num_threads(config.num_threads)
    return config


def check_trained_settings(name: str, run_dir: Path, config) -> None:
    """RunError when the trained run in ``run_dir`` was trained with other data, architecture or
    optimisation settings than ``config`` now has (an edited config would otherwise reuse the
    old model silently). Epochs, evaluations and other resumable fields may differ."""
    for which in ("best", "latest"):
        path = run_dir / f"checkpoint_{which}.pkl"
        if path.exists():
            break
    else:
        return
    try:
        saved = load_checkpoint(path).get("config")
    except CheckpointError:
        return  # reported where the checkpoint is loaded
    current = registry.config_to_dict(config)
    if not isinstance(saved, dict) or any(saved.get(k) != current.get(k) for k in ("model_folder", "model_file")):
        return  # a reference-format checkpoint (no config), or another kind of model: the loader reports it
    diffs = resume_differences(saved, current)
    if diffs:
        raise RunError(f"run {run_dir} was trained with other settings than config {name} has now: "
                       f"{'; '.join(diffs)}. Train it again with `python run_exp.py --config {name} --retrain` (the "
                       f"old run is moved aside), or restore those settings")


def check_eval_folders(name: str, config) -> None:
    """Two evaluations of one config must not share a results folder (the second would reuse or
    overwrite the first's fitted models): an error before anything runs."""
    seen = {}
    for i, ev in enumerate(getattr(config, "eval_configs", None) or []):
        if ev.folder in seen:
            j = seen[ev.folder]
            raise registry.ConfigError(
                f"config {name}: eval_configs[{j}] and eval_configs[{i}] ({ev.label}) write to the same folder "
                f"{ev.folder!r} (name/model_file, encoder_init); give them different `name`s")
        seen[ev.folder] = i


def train(name: str, config, args, log_dir: Path, depth: int = 0) -> Path:
    """Train ``config`` (and its prerequisites) as the flags say; returns the run folder."""
    from relcon.utils.imports import import_model

    source = getattr(config, "pretrained_from", None)
    if source:
        # An evaluation-only config: the encoder is another run's, trained first if missing.
        if source == name:
            raise RunError(f"config {name}: pretrained_from names the config itself")
        source_config = prepare(source, device=str(config.device))
        if args.eval_only or training_state(out_dir(source), source_config.epochs) == "finished":
            return out_dir(source)
        printlog(f"{name} evaluates the encoder of {source}: training {source} first", out_dir(name))
        return train(source, source_config, argparse.Namespace(retrain=False, resume_on=args.resume_on,
                                                               eval_only=False), out_dir(source), depth + 1)
    run_dir = out_dir(name)
    if args.eval_only:
        # Evaluation needs only this run's encoder: no training here, and none of prerequisites.
        if not any(run_dir.glob("checkpoint_*.pkl")):
            raise RunError(f"--eval_only: run {run_dir} has no checkpoint; train it first "
                           f"(`python run_exp.py --config {name}`)")
        check_trained_settings(name, run_dir, config)
        return run_dir
    for prerequisite in getattr(config, "prerequisites", lambda: [])():
        pre_config = prepare(prerequisite, device=str(config.device))
        pre_dir = out_dir(prerequisite)
        pre_args = argparse.Namespace(retrain=False, resume_on=args.resume_on, eval_only=False)
        if not (pre_dir / "checkpoint_best.pkl").exists():
            printlog(f"{name} needs {prerequisite}, whose best checkpoint is missing: training {prerequisite} first",
                     log_dir)
            train(prerequisite, pre_config, pre_args, log_dir, depth + 1)
        elif training_state(pre_dir, pre_config.epochs) == "unfinished":
            if args.resume_on:
                # A run killed while its prerequisite trained must end as if never killed: finish it first.
                printlog(f"{name} needs {prerequisite}, which is unfinished: resuming {prerequisite} first", log_dir)
                train(prerequisite, pre_config, pre_args, log_dir, depth + 1)
            else:
                printlog(f"note: prerequisite {prerequisite} is unfinished; using its best checkpoint so far "
                         f"(--resume_on finishes it first)", log_dir)
        else:
            check_trained_settings(prerequisite, pre_dir, pre_config)

    state = training_state(run_dir, config.epochs)
    if args.retrain and state != "none":
        contents = describe_run(run_dir)
        moved = move_run_aside(run_dir) if distributed.is_main() else None
        distributed.barrier()
        if moved is not None:
            # Logged in the new run's folder too, so that it records what it replaced.
            printlog(f"--retrain replaces the previous run {run_dir} ({contents}); it was moved to {moved}", run_dir)
        state = "none"
    if state == "finished":
        check_trained_settings(name, run_dir, config)
        printlog(f"{name}: already trained ({run_dir}/checkpoint_best.pkl); pass --retrain to train again", run_dir)
        return run_dir
    if state == "unfinished" and not args.resume_on:
        raise RunError(f"run {run_dir} holds an unfinished training; pass --resume_on to continue it or --retrain "
                       f"to move it aside and start over")

    folders = ssl_folders(config, run_dir) if config.data_config.type == "ssl" else None
    set_seed(config.seed)
    model = import_model(config, train_data=folders["train"], val_data=folders["val"], test_data=folders["test"],
                         resume_on=args.resume_on)
    model.log(f"{'-' * 30} config {name} {'-' * 30}")
    model.log(f"device {config.device}; trainable parameters: {count_parameters(model.net):,}")
    model.fit()
    return run_dir


def run_comparison(name: str, config, args) -> None:
    """A comparison config (``relcon.experiments.comparison``): each member trained and
    evaluated as by its own ``run_exp.py --config MEMBER`` (the same flags), then one table."""
    log_dir = out_dir(name)
    for member in config.members:
        printlog(f"{name}: member {member}", log_dir)
        member_config = prepare(member, device=str(config.device))
        train(member, member_config, args, out_dir(member))
        if member_config.eval_configs and distributed.is_main():
            run_evaluations(member, member_config, args)
    if distributed.is_main():
        table, _, _ = write_comparison(config.members, log_dir)
        printlog(f"\nComparison {name} (headline metric, mean ± std over folds; {log_dir / 'comparison.md'}; "
                 f"figure: python -m relcon.compare {name}):\n{table}", log_dir)


def main(argv=None) -> int:
    from relcon.utils.memory import configure_allocator

    configure_allocator()  # steady peak memory on CPU (relcon/utils/memory.py)
    args = build_parser().parse_args(argv)
    args.overrides = [item for group in args.overrides for item in group]
    warnings.filterwarnings("ignore", message=".*padding='same' with even kernel.*")
    try:
        registry_dict = registry.discover()
        if args.list:
            width = max(len(n) for n in registry_dict)
            for n in sorted(registry_dict):
                print(f"{n:<{width}}  {registry.describe(registry_dict[n])}")
            return 0
        if not args.config:
            build_parser().print_usage(sys.stderr)
            print("error: --config NAME is required (see --list)", file=sys.stderr)
            return 2
        config = prepare(args.config, args.overrides, args.device, registry_dict)
        log_dir = out_dir(args.config)
        if distributed.is_main():
            print(f"Resolved config {args.config}:")
            print(json.dumps(registry.config_to_dict(config), indent=2, default=str))
        if distributed.is_initialized():
            printlog(f"distributed: {distributed.world_size()} processes ({config.device.type}, "
                     f"batch_size {config.batch_size} per process)", log_dir)
        if getattr(config, "members", None) is not None:
            run_comparison(args.config, config, args)
            distributed.barrier()
            printlog(f"Config {args.config}: done. Outputs in {log_dir}", log_dir)
            return 0
        train(args.config, config, args, log_dir)
        if config.eval_configs and distributed.is_main():  # evaluations are single-process
            from relcon.eval.runner import run_evaluations

            run_evaluations(args.config, config, args)
            printlog(f"Figures and a report: python -m relcon.report {log_dir} (writes {log_dir / 'report'}/"
                     f"report.md; needs matplotlib: pip install -e '.[plots]')", log_dir)
        distributed.barrier()
        printlog(f"Config {args.config}: done. Outputs in {log_dir}", log_dir)
        return 0
    except registry.ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except (RunError, CheckpointError, OSError, ValueError, NonFiniteLossError) as e:
        # OSError: a full disk, a permission or a missing file; the message names the path.
        if os.environ.get("RELCON_DEBUG"):
            raise
        print(f"error: {user_message(e)}", file=sys.stderr)
        return 1
    finally:
        distributed.cleanup()


def user_message(error: BaseException) -> str:
    """The message of ``error``; for one re-raised from a DataLoader worker (whose message embeds
    the worker's traceback), the original message only."""
    text = str(error)
    if "\nOriginal Traceback" not in text:
        return text
    last = text.rstrip().splitlines()[-1]  # "package.module.DataError: <message>"
    name = type(error).__name__
    return last.split(f"{name}: ", 1)[1] if f"{name}: " in last else last
