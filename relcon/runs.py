"""The run folder: checkpoint names, reading and writing them, resuming, and a run's state.

A run lives in one folder (``relcon/experiments/out/<run>/`` for ``run_exp.py``)::

    checkpoint_best.pkl        lowest validation loss so far
    checkpoint_latest.pkl      newest (end of an epoch, or every ``save_stepfreq`` steps)
    checkpoint_epoch{N}.pkl    every ``save_epochfreq`` epochs
    config.json, log.txt, metrics.csv, tb/

A checkpoint is a dict: ``net``, ``optimizer``, ``epoch``, ``step``, ``test_loss`` (the validation
loss, under the reference's key), ``val_loss``, ``best_val_loss``, ``config`` (the resolved config
as plain data, ``relcon/config.py``), ``inputs`` (fingerprints of what else shapes training),
``rng`` (every random state that matters), ``finished``, ``history``; step checkpoints add
``epoch_done=False`` and ``train_loss_sum``. The reference code's checkpoints hold only ``net``,
``optimizer``, ``test_loss`` and ``epoch``; they load too.

This module is the only place that spells the checkpoint names.
"""
from __future__ import annotations

import datetime
import hashlib
import json
import random
from pathlib import Path

import numpy as np
import torch

from relcon.config import config_from_dict, config_to_dict, normalised_config_dict
from relcon.utils.imports import import_net

CHECKPOINT_FORMAT = 1
CHECKPOINT_GLOB = "checkpoint_*.pkl"

# Config fields that may change between a run and its resumption; any other difference
# (architecture, data, batch size, seed, method settings) makes resuming refuse.
RESUMABLE_FIELDS = {"epochs", "save_epochfreq", "save_stepfreq", "num_workers", "num_threads", "description",
                    "eval_configs", "pretrained_from",
                    # how, not what, is computed (results equal up to float rounding):
                    "channels_last", "distance_chunk",
                    # a run-time numeric setting (fp32 / bf16): a resume may switch it, and logs it
                    "precision"}


class CheckpointError(ValueError):
    """A checkpoint is missing, unreadable or does not fit the network."""


class MissingConfigError(CheckpointError):
    """A checkpoint holds no config and none was given (the reference code's checkpoints)."""


def checkpoint_path(run_dir, ckpt="best") -> Path:
    """``run_dir/checkpoint_{ckpt}.pkl``; an epoch number gives ``checkpoint_epoch{N}.pkl``."""
    ckpt = str(ckpt)
    return Path(run_dir) / (f"checkpoint_epoch{ckpt}.pkl" if ckpt.isdigit() else f"checkpoint_{ckpt}.pkl")


def has_checkpoint(run_dir) -> bool:
    return any(Path(run_dir).glob(CHECKPOINT_GLOB))


def load_checkpoint(path, map_location="cpu") -> dict:
    """Read a checkpoint safely (``weights_only``), with errors that name the file."""
    path = Path(path)
    if not path.exists():
        existing = sorted(p.name for p in path.parent.glob(CHECKPOINT_GLOB)) if path.parent.exists() else []
        raise CheckpointError(f"checkpoint {path} does not exist; present in {path.parent}: "
                              f"{', '.join(existing) if existing else 'no checkpoints'}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:
        raise CheckpointError(f"checkpoint {path} cannot be read (truncated or not a checkpoint?): "
                              f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}") from None
    if not isinstance(state, dict):
        raise CheckpointError(f"checkpoint {path}: expected a dict, found {type(state).__name__}")
    return state


def load_state_dict_strict(module: torch.nn.Module, state_dict: dict, source: str) -> None:
    """``load_state_dict(strict=True)`` with an error listing missing/unexpected/mismatched keys."""
    own = module.state_dict()
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    mismatched = [f"{k}: checkpoint {tuple(state_dict[k].shape)} vs net {tuple(own[k].shape)}"
                  for k in own if k in state_dict and tuple(own[k].shape) != tuple(state_dict[k].shape)]
    if missing or unexpected or mismatched:
        def show(items):
            return ", ".join(items[:8]) + (f" (+{len(items) - 8} more)" if len(items) > 8 else "") if items else "none"
        raise CheckpointError(f"{source} does not fit {type(module).__module__}.{type(module).__name__}: "
                              f"missing keys: {show(missing)}; unexpected keys: {show(unexpected)}; "
                              f"shape mismatches: {show(mismatched)}")
    module.load_state_dict(state_dict, strict=True)


def state_digest(module: torch.nn.Module, sort_keys: bool = False) -> str:
    """sha256 over a module's state_dict (names and raw bytes of parameters and buffers).

    ``sort_keys`` hashes the entries in name order instead of the module's order: the frozen
    distance's fingerprint in RelCon checkpoints has always been taken that way, and keeping it
    keeps those checkpoints resumable."""
    items = module.state_dict().items()
    h = hashlib.sha256()
    for key, value in (sorted(items) if sort_keys else items):
        h.update(key.encode())
        h.update(value.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


# ----------------------------------------------------------------------------- random states
def rng_state() -> dict:
    """Every random state that training consumes: torch (and CUDA), numpy, Python."""
    np_state = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": {"key": torch.from_numpy(np_state[1].astype(np.int64)), "pos": int(np_state[2]),
                  "has_gauss": int(np_state[3]), "cached_gaussian": float(np_state[4])},
        "python": [list(x) if isinstance(x, tuple) else x for x in random.getstate()],
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    # A checkpoint loaded with map_location="cuda" holds these on the GPU; the setters want CPU tensors.
    torch.set_rng_state(state["torch"].cpu())
    n = state["numpy"]
    np.random.set_state(("MT19937", n["key"].cpu().numpy().astype(np.uint32), n["pos"], n["has_gauss"],
                         n["cached_gaussian"]))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])


# ----------------------------------------------------------------------------- resuming
def resume_differences(saved: dict, current: dict, prefix: str = "") -> list[str]:
    """Dotted names of data- or architecture-affecting fields that differ between two configs (as
    plain dicts). The saved one is first completed with today's defaults, so a field added since it
    was written is not a difference."""
    if not prefix and "__class__" in saved:
        saved = normalised_config_dict(saved)
    diffs = []
    for key in sorted(set(saved) | set(current)):
        if not prefix and key in RESUMABLE_FIELDS:
            continue
        a, b = saved.get(key, "<absent>"), current.get(key, "<absent>")
        if isinstance(a, dict) and isinstance(b, dict):
            diffs.extend(resume_differences(a, b, f"{prefix}{key}."))
        elif a != b:
            diffs.append(f"{prefix}{key} (checkpoint {a!r}, now {b!r})")
    return diffs


def trained_settings_differences(run_dir, config) -> list[str]:
    """What differs between ``config`` and the config the run in ``run_dir`` was trained with
    (empty: nothing, no checkpoint, a reference-format checkpoint or another kind of model)."""
    for which in ("best", "latest"):
        path = checkpoint_path(run_dir, which)
        if path.exists():
            break
    else:
        return []
    try:
        saved = load_checkpoint(path).get("config")
    except CheckpointError:
        return []  # reported where the checkpoint is loaded
    current = config_to_dict(config)
    if not isinstance(saved, dict) or any(saved.get(k) != current.get(k) for k in ("model_folder", "model_file")):
        return []
    return resume_differences(saved, current)


# ----------------------------------------------------------------------------- run state
def training_state(run_dir, epochs: int) -> str:
    """'none', 'finished' or 'unfinished' for the checkpoints in ``run_dir``."""
    best, latest = checkpoint_path(run_dir, "best"), checkpoint_path(run_dir, "latest")
    if not latest.exists():
        return "finished" if best.exists() else "none"
    try:
        state = load_checkpoint(latest)
    except CheckpointError:
        return "unfinished"
    if "epoch_done" not in state:  # written by the reference code: it trusts checkpoint_best
        return "finished" if best.exists() else "unfinished"
    return "finished" if state["epoch_done"] and state["epoch"] + 1 >= epochs else "unfinished"


def describe_run(run_dir) -> str:
    """What a run folder holds, in a few words: its checkpoints, the epochs they reached, other files."""
    run_dir = Path(run_dir)
    names = sorted(p.name for p in run_dir.iterdir())
    checkpoints = [n for n in names if n.startswith("checkpoint_") and n.endswith(".pkl")]
    others = [n for n in names if n not in checkpoints and not n.startswith(".")]
    text = f"{len(checkpoints)} checkpoint(s) ({', '.join(checkpoints)})" if checkpoints else "no checkpoint"
    latest = checkpoint_path(run_dir, "latest")
    if latest.exists():
        try:
            state = load_checkpoint(latest)
            text += f", trained up to epoch {state.get('epoch')}" + (
                f" step {state.get('step')}" if not state.get("epoch_done", True) else "")
        except CheckpointError:
            text += f", {latest.name} unreadable"
    return text + (f"; also {', '.join(others)}" if others else "")


def move_run_aside(run_dir) -> Path | None:
    """Rename a non-empty run folder to ``<name>.replaced-<timestamp>``; the new path (None if empty)."""
    run_dir = Path(run_dir)
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


# ----------------------------------------------------------------------------- nets of a run
def saved_config(run_dir, state: dict, path: Path):
    """The config a checkpoint was trained with: its own ``config`` entry, else ``config.json``
    beside it; None when neither exists (a reference-format checkpoint)."""
    if isinstance(state.get("config"), dict):
        return config_from_dict(state["config"])
    saved = Path(run_dir) / "config.json"
    if saved.exists():
        try:
            return config_from_dict(json.loads(saved.read_text(encoding="utf-8")))
        except (ValueError, AttributeError, ImportError, TypeError) as e:
            raise CheckpointError(f"{saved} cannot be read as a config ({type(e).__name__}: {e})") from None
    return None


def load_net(run_dir, ckpt="best", config=None, device=None, default_config=None, label: str = ""):
    """(net in eval mode, checkpoint dict, config) of the run in ``run_dir`` (or a checkpoint file).

    The architecture comes from ``config`` when given, else from the config saved in the checkpoint
    or beside it (``config.json``), else from ``default_config`` (for checkpoints written by the
    reference code, which hold no config). Weights load strictly; ``label`` (e.g. " (config NAME)")
    follows the checkpoint's path in error messages.

    Raises:
        CheckpointError: missing or unreadable checkpoint, no config to build the net from, or
            weights that do not fit the net.
    """
    path = Path(run_dir) if Path(run_dir).is_file() else checkpoint_path(run_dir, ckpt)
    state = load_checkpoint(path)
    if "net" not in state:
        raise CheckpointError(f"checkpoint {path} has no 'net' entry (keys: {', '.join(sorted(state))}); "
                              f"expected a training checkpoint of this project or of the reference code")
    cfg = config if config is not None else saved_config(path.parent, state, path)
    cfg = cfg if cfg is not None else default_config
    if cfg is None:
        raise MissingConfigError(f"checkpoint {path} holds no config (a checkpoint written by the reference code?) and "
                              f"there is no config.json beside it; say which config built it")
    if getattr(cfg, "net_config", None) is None:
        raise CheckpointError(f"config {type(cfg).__name__} for {path} has no net_config; give the pre-training "
                              f"config (RelCon or MotifDist), not an evaluation config")
    net = import_net(cfg.net_config)
    load_state_dict_strict(net, state["net"], f"checkpoint {path}{label}")
    device = torch.device(device) if device is not None else torch.device("cpu")
    return net.to(device).eval(), state, cfg
