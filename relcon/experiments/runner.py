"""``python run_exp.py --config NAME``: resolve a config, train what is missing, evaluate.

A run lives in ``relcon/experiments/out/<NAME>/``. A finished run is not trained again
(``--retrain`` moves it aside and starts over); an unfinished one needs ``--resume_on``
(continue from its newest checkpoint) or ``--retrain``. Prerequisites (the MotifDist distance
of a RelCon config) are trained first when their best checkpoint is missing.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from pathlib import Path

import torch

from relcon.config import config_to_dict
from relcon.data.Base_Dataset import SegmentIndex
from relcon.data.folds import data_hint
from relcon.data.generators import ensure_data
from relcon.eval.comparison import write_comparison
from relcon.eval.runner import EncoderRun, run_evaluations
from relcon.experiments import registry
from relcon.experiments.comparison import Comparison_Config, seeded_name
from relcon.models.Base_Model import NonFiniteLossError
from relcon.runs import (CheckpointError, checkpoint_path, describe_run, has_checkpoint, load_checkpoint,
                         move_run_aside, trained_settings_differences, training_state)
from relcon.utils import distributed
from relcon.utils.imports import import_model
from relcon.utils.memory import configure_allocator
from relcon.utils.paths import cli_path, out_dir, resolve_path
from relcon.utils.precision import PRECISIONS, check_precision
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
    p.add_argument("--data", type=cli_path, default=None, metavar="DIR",
                   help="pre-training data folder (DIR/train required, DIR/val and DIR/test optional) for this "
                        "config and the prerequisites it trains or reuses in this invocation (its MotifDist)")
    p.add_argument("--name", default=None, metavar="RUN",
                   help="run folder name under the output root (default: the config name, or CONFIG-DIRNAME "
                        "with --data); prerequisites are named RUN__PREREQUISITE")
    p.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N or mps")
    p.add_argument("--retrain", action="store_true", help="move the existing run aside and train from scratch")
    p.add_argument("--retrain_eval", action="store_true", help="refit evaluation models even if fitted ones exist")
    p.add_argument("--resume_on", action="store_true", help="continue an unfinished run from its newest checkpoint")
    p.add_argument("--eval_only", action="store_true", help="evaluate the existing checkpoint; never train")
    p.add_argument("--eval_epoch", default=None,
                   help="pre-trained checkpoint to evaluate (best, latest or an epoch); default: each "
                        "evaluation config's pretrain_epoch")
    p.add_argument("--precision", default=None, choices=PRECISIONS,
                   help="fp32 or bf16 (bfloat16 autocast) for training, the frozen distance and the evaluations of "
                        "this config and the prerequisites it trains (default: the config's precision, fp32)")
    return p


@dataclasses.dataclass(frozen=True)
class RunOptions:
    """How one invocation treats existing runs (the command-line flags of ``run_exp.py``)."""

    retrain: bool = False  # move a trained or unfinished run aside and train from scratch
    resume_on: bool = False  # continue an unfinished run from checkpoint_latest.pkl
    eval_only: bool = False  # evaluate the existing checkpoint; never train
    retrain_eval: bool = False  # refit evaluation models even if fitted ones match
    eval_epoch: str | None = None  # pre-trained checkpoint to evaluate (default: each evaluation's)
    data: str | None = None  # pre-training data folder for the config and its prerequisites
    name: str | None = None  # run folder name of the config (default: see run_name)
    precision: str | None = None  # "fp32" / "bf16" for the config, its prerequisites and evaluations
    seed: int | None = None  # another pre-training seed than the configs' own (a comparison's ``seeds``)

    def run_name(self, config_name: str) -> str:
        """Folder name of the run of the invoked config: ``--name``, else ``CONFIG-DIRNAME`` with
        ``--data`` (runs of one config on different data never share a folder), else the config
        name; ``CONFIG-seed<S>`` (after the data name) when trained with another seed."""
        if self.name:
            return self.name
        run = f"{config_name}-{Path(self.data).name}" if self.data else config_name
        return run if self.seed is None else seeded_name(run, self.seed)

    def prerequisite_name(self, run: str, prerequisite: str) -> str:
        """Folder name of a prerequisite of run ``run``: beside it (``RUN__PREREQUISITE``) when the
        run has its own name or data, else the prerequisite config's own folder (``-seed<S>``
        with another seed)."""
        if self.name or self.data:
            return f"{run}__{prerequisite}"
        return prerequisite if self.seed is None else seeded_name(prerequisite, self.seed)

    def prepare(self, name: str, overrides=(), registry_dict=None):
        """Config ``name`` prepared with this invocation's data folder, precision and seed (``prepare``)."""
        return prepare(name, overrides, registry_dict, data=self.data, precision=self.precision, seed=self.seed)

    def for_prerequisite(self) -> "RunOptions":
        """What a prerequisite trained in this invocation inherits: resuming, the data folder,
        the precision and the seed."""
        return RunOptions(resume_on=self.resume_on, data=self.data, precision=self.precision, seed=self.seed)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> "RunOptions":
        return cls(**{f.name: getattr(args, f.name) for f in dataclasses.fields(cls) if hasattr(args, f.name)})


def ssl_folders(config, log_dir=None) -> dict:
    """Train/val/test folders of an SSL data config (generated first if the config says how):
    ``train/`` must exist; ``val/`` and ``test/`` are optional (None when absent)."""
    root = ensure_data(config.data_config, log_dir)
    train = root / "train"
    if not train.is_dir():
        hint = data_hint(root)
        if not hint.startswith("python "):  # not a benchmark's folder
            hint = ("python relcon/data/process/process_dummydataset.py"
                    + ("" if root.name == "dummydataset" else f" --out-dir {config.data_config.data_folder}"))
        raise FileNotFoundError(f"data folder {train} (train split) does not exist; create the data first, e.g. "
                                f"`{hint}`, or turn recordings into this layout with "
                                f"`python relcon/data/process/process_recordings.py FILES --out {root}`")
    folders = {split: (root / split if (root / split).is_dir() else None) for split in ("train", "val", "test")}
    if folders["val"] is None:
        printlog(f"{root}: no val/ split: validation is skipped and checkpoint_best.pkl is the epoch with the lowest "
                 f"training loss", log_dir)
    return folders


def apply_data(config, data: str | None):
    """Point a pre-training config at ``data`` (``--data``); its recipe for generating synthetic
    data is dropped so a user's folder is never filled with synthetic data."""
    if data and config.data_config is not None and config.data_config.type == "ssl":
        config.data_config.data_folder = str(data)
        config.data_config.generate = None
    return config


def check_same_data(name: str, config, prerequisite: str, pre_config, options: "RunOptions") -> None:
    """RunError when a prerequisite would be (or was) trained on other pre-training data than the
    config that needs it: the learned distance must rank candidates of the data it was fitted on."""
    mine, theirs = config.data_config.data_folder, pre_config.data_config.data_folder
    if resolve_path(mine) != resolve_path(theirs):
        raise RunError(f"config {name} pre-trains on {mine} but its prerequisite {prerequisite} is configured for "
                       f"{theirs}; train both on the same data with `python run_exp.py --config {name} --data {mine}` "
                       f"(the prerequisite is then trained on it too, in its own run folder)")


def apply_precision(config, precision: str | None):
    """Set ``precision`` (``--precision``; None: keep the config's) on ``config`` and its evaluation
    configs, then check every one (ValueError naming a bad value, also one set by ``--set``)."""
    for target in [config] + list(getattr(config, "eval_configs", [])):
        if not hasattr(target, "precision"):
            continue
        if precision is not None:
            target.precision = precision
        check_precision(target.precision)
    return config


def apply_seed(config, seed: int | None):
    """Set ``seed`` (a comparison's pre-training seed; None: keep the config's) on ``config`` and
    on its evaluation configs (their random-init encoders and probes follow it too)."""
    if seed is not None:
        for target in [config] + list(getattr(config, "eval_configs", [])):
            if hasattr(target, "seed"):
                target.seed = int(seed)
    return config


def prepare(name: str, overrides=(), registry_dict=None, data: str | None = None, precision: str | None = None,
            seed: int | None = None):
    """Config ``name`` with overrides (and ``--data``, ``--precision``, a comparison's seed)
    applied, checked; its thread count set."""
    config = registry.get_config(name, registry_dict)
    registry.apply_overrides(config, list(overrides))
    apply_seed(config, seed)
    apply_data(config, data)
    apply_precision(config, precision)
    check_eval_folders(name, config)
    if config.num_threads and config.num_threads > 0:
        torch.set_num_threads(config.num_threads)
    return config


def check_trained_settings(name: str, run_dir: Path, config) -> None:
    """RunError when the trained run in ``run_dir`` was trained with other data, architecture or
    optimisation settings than ``config`` now has (an edited config would otherwise reuse the
    old model silently). Epochs, evaluations and other resumable fields may differ."""
    diffs = trained_settings_differences(run_dir, config)
    if diffs:
        raise RunError(f"run {run_dir} was trained with other settings than config {name} has now: "
                       f"{'; '.join(diffs)}. Train it again with `python run_exp.py --config {name} --retrain` (the "
                       f"old run is moved aside), or restore those settings")


def check_eval_folders(name: str, config) -> None:
    """Two evaluations of one config must not share a results folder (the second would reuse or
    overwrite the first's fitted models): an error before anything runs."""
    seen = {}
    for i, ev in enumerate(config.eval_configs):
        if ev.folder in seen:
            j = seen[ev.folder]
            raise registry.ConfigError(
                f"config {name}: eval_configs[{j}] and eval_configs[{i}] ({ev.label}) write to the same folder "
                f"{ev.folder!r} (name/model_file, encoder_init); give them different `name`s")
        seen[ev.folder] = i


def frozen_distance(config, prerequisites: dict, run_dir: Path, train_folder: Path) -> dict:
    """The trainer arguments that hand a RelCon-style trainer its frozen MotifDist distance: the
    prerequisite's run folder (whose best checkpoint it loads) and config. A distance trained on
    other data than ``train_folder`` holds now is named in the log."""
    key = config.frozen_distance_key()
    if key is None:
        return {}
    distance_run, md_config = prerequisites[key]
    then = load_checkpoint(checkpoint_path(distance_run, "best")).get("data") or {}
    if then.get("sha256"):
        now = SegmentIndex.scan(train_folder).fingerprint()
        if then["sha256"] != now["sha256"]:
            printlog(f"warning: the distance {distance_run} was trained on {then['folder']} ({then['segments']} "
                     f"segments in {then['folders']} folders); {now['folder']} holds {now['segments']} segments in "
                     f"{now['folders']} folders now. Retrain it on this data with `python run_exp.py --config "
                     f"{key} --retrain` (or --name a new run)", run_dir)
    return {"motifdist_run": distance_run, "motifdist_config": md_config}


def train_prerequisites(name: str, run: str, config, options: RunOptions, device, log_dir: Path,
                        depth: int) -> dict:
    """Train (or finish, or check) the runs ``config`` needs before it can train; returns
    ``{prerequisite config name: (its run folder, its config)}``."""
    dirs = {}
    for prerequisite in config.prerequisites():
        pre_config = options.prepare(prerequisite)
        pre_run = options.prerequisite_name(run, prerequisite)
        pre_dir = out_dir(pre_run)
        dirs[prerequisite] = (pre_dir, pre_config)
        check_same_data(name, config, prerequisite, pre_config, options)
        pre_options = options.for_prerequisite()
        if not checkpoint_path(pre_dir, "best").exists():
            printlog(f"{name} needs {prerequisite}, whose best checkpoint is missing: training {prerequisite} first "
                     f"(run {pre_dir})", log_dir)
            train(prerequisite, pre_config, pre_options, device, log_dir, depth + 1, run=pre_run)
        elif training_state(pre_dir, pre_config.epochs) == "unfinished":
            if options.resume_on:
                # A run killed while its prerequisite trained must end as if never killed: finish it first.
                printlog(f"{name} needs {prerequisite}, which is unfinished: resuming {prerequisite} first", log_dir)
                train(prerequisite, pre_config, pre_options, device, log_dir, depth + 1, run=pre_run)
            else:
                printlog(f"note: prerequisite {prerequisite} is unfinished; using its best checkpoint so far "
                         f"(--resume_on finishes it first)", log_dir)
        else:
            check_trained_settings(prerequisite, pre_dir, pre_config)
    return dirs


def train(name: str, config, options: RunOptions, device, log_dir: Path, depth: int = 0,
          run: str | None = None) -> Path:
    """Train ``config`` (and its prerequisites) as ``options`` say, in the run folder ``run``
    (default: ``options.run_name(name)``); returns the folder of the run whose encoder the
    config's evaluations use."""
    run = run or options.run_name(name)
    source = config.pretrained_from
    if source:
        # An evaluation-only config: the encoder is another run's, trained first if missing.
        if source == name:
            raise RunError(f"config {name}: pretrained_from names the config itself")
        source_config = options.prepare(source)
        source_run = options.prerequisite_name(run, source)
        if options.eval_only or training_state(out_dir(source_run), source_config.epochs) == "finished":
            return out_dir(source_run)
        printlog(f"{name} evaluates the encoder of {source}: training {source} first", out_dir(run))
        return train(source, source_config, options.for_prerequisite(), device, out_dir(source_run), depth + 1,
                     run=source_run)
    run_dir = out_dir(run)
    if options.eval_only:
        # Evaluation needs only this run's encoder: no training here, and none of prerequisites.
        if not has_checkpoint(run_dir):
            raise RunError(f"--eval_only: run {run_dir} has no checkpoint; train it first "
                           f"(`python run_exp.py --config {name}`)")
        check_trained_settings(name, run_dir, config)
        return run_dir
    prerequisite_dirs = train_prerequisites(name, run, config, options, device, log_dir, depth)

    state = training_state(run_dir, config.epochs)
    if options.retrain and state != "none":
        contents = describe_run(run_dir)
        moved = move_run_aside(run_dir) if distributed.is_main() else None
        distributed.barrier()
        if moved is not None:
            # Logged in the new run's folder too, so that it records what it replaced.
            printlog(f"--retrain replaces the previous run {run_dir} ({contents}); it was moved to {moved}", run_dir)
        state = "none"
    if state == "finished":
        check_trained_settings(name, run_dir, config)
        printlog(f"{name}: already trained ({checkpoint_path(run_dir, 'best')}); pass --retrain to train again",
                 run_dir)
        return run_dir
    if state == "unfinished" and not options.resume_on:
        raise RunError(f"run {run_dir} holds an unfinished training; pass --resume_on to continue it or --retrain "
                       f"to move it aside and start over")

    folders = ssl_folders(config, run_dir) if config.data_config.type == "ssl" else None
    distance = frozen_distance(config, prerequisite_dirs, run_dir, folders["train"])
    set_seed(config.seed)
    model = import_model(config, train_data=folders["train"], val_data=folders["val"], test_data=folders["test"],
                         resume_on=options.resume_on, run_dir=run_dir, device=device, **distance)
    model.log(f"{'-' * 30} config {name} {'-' * 30}")
    model.log(f"device {device}; trainable parameters: {count_parameters(model.net):,}")
    model.fit()
    return run_dir


def run_config(name: str, config, options: RunOptions, device) -> Path:
    """Train ``config`` as ``options`` say, then run its evaluations; returns its run folder."""
    run = options.run_name(name)
    log_dir = out_dir(run)
    encoder_dir = train(name, config, options, device, log_dir)
    if config.eval_configs and distributed.is_main():  # evaluations are single-process
        encoder_config = options.prepare(config.pretrained_from) if config.pretrained_from else config
        run_evaluations(log_dir, run, config, device, EncoderRun(encoder_dir, encoder_dir.name, encoder_config),
                        eval_epoch=options.eval_epoch, refit=options.retrain_eval)
        printlog(f"Figures and a report: python -m relcon.report {log_dir} (writes {log_dir / 'report'}/"
                 f"report.md; needs matplotlib: pip install -e '.[plots]')", log_dir)
    return log_dir


def run_comparison(name: str, config, options: RunOptions, device) -> None:
    """A comparison config (``relcon/experiments/comparison.py``): each member trained and
    evaluated as by its own ``run_exp.py --config MEMBER`` (the same flags; with ``--data`` each
    member's run is named after the data), then one table in this config's run folder."""
    log_dir = out_dir(options.run_name(name))
    member_options = dataclasses.replace(options, name=None)  # members keep their own run folders
    member_dirs = []
    seeds = config.seeds or [None]
    for seed in seeds:
        for member in config.members:
            member_config = options.prepare(member)
            seeded = member_options
            if seed is not None and seed != member_config.seed:
                seeded = dataclasses.replace(member_options, seed=seed)
                member_config = seeded.prepare(member)
            what = "" if seed is None else f" (seed {seed}, {seeds.index(seed) + 1} of {len(seeds)})"
            printlog(f"{name}: member {member}{what}: run {seeded.run_name(member)}", log_dir)
            member_dirs.append(run_config(member, member_config, seeded, device))
    if distributed.is_main():
        table, _, _ = write_comparison(member_dirs, log_dir, test=config.test)
        printlog(f"\nComparison {name} ({log_dir / 'comparison.md'}; every value in comparison.csv; "
                 f"figure: python -m relcon.compare {name}):\n{table}", log_dir)


def main(argv=None) -> int:
    configure_allocator()  # steady peak memory on CPU (relcon/utils/memory.py)
    args = build_parser().parse_args(argv)
    args.overrides = [item for group in args.overrides for item in group]
    options = RunOptions.from_args(args)
    try:
        registry_dict = registry.discover()
        if args.list:
            width = max(len(n) for n in registry_dict)
            try:
                for n in sorted(registry_dict):
                    print(f"{n:<{width}}  {registry.describe(registry_dict[n])}", flush=True)
            except BrokenPipeError:  # the reader stopped early (`--list | head`): not an error
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0
        if not args.config:
            build_parser().print_usage(sys.stderr)
            print("error: --config NAME is required (see --list)", file=sys.stderr)
            return 2
        config = options.prepare(args.config, args.overrides, registry_dict)
        device = distributed.init(select_device(args.device))  # joins torchrun's process group if any
        run = options.run_name(args.config)
        log_dir = out_dir(run)
        if distributed.is_main():
            print(f"Resolved config {args.config}:")
            print(json.dumps(config_to_dict(config), indent=2, default=str))
        if distributed.is_initialized():
            printlog(f"distributed: {distributed.world_size()} processes ({device.type}, "
                     f"batch_size {config.batch_size} per process)", log_dir)
        if isinstance(config, Comparison_Config):
            run_comparison(args.config, config, options, device)
        else:
            run_config(args.config, config, options, device)
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
