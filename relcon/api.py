"""Using a trained model from Python: ``relcon.load_encoder`` (and ``relcon.embed``).

A run is given as a config name (its folder under the output root), a run folder, or a
checkpoint file. The architecture comes from the config saved in the checkpoint, so a run
folder alone suffices. Checkpoints written by the reference code (a dict with ``net``,
``optimizer``, ``test_loss``, ``epoch`` and no config) take it from, in this order: the
``config=`` argument, the run folder's ``config.json``, or the registry config named like the
run (``load_encoder("25_3_8_relcon")`` with the reference's ``checkpoint_best.pkl`` placed in
``relcon/experiments/out/25_3_8_relcon/``).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

from relcon.config import config_from_dict
from relcon.experiments import registry
from relcon.runs import CheckpointError, MissingConfigError, checkpoint_path, load_net
from relcon.utils.paths import cli_path, out_dir



def run_folder(config_name_or_run_dir) -> Path:
    """A run folder given as a path, or the folder of a config name under the output root."""
    path = Path(str(config_name_or_run_dir)).expanduser()
    if path.is_dir():
        return path.resolve()
    folder = out_dir(str(config_name_or_run_dir))
    if not folder.is_dir():
        raise FileNotFoundError(f"{config_name_or_run_dir!r} is neither a run folder nor a config name with a run "
                                f"in {folder.parent}; train it with `python run_exp.py --config NAME`")
    return folder


def _listing(folder: Path, limit: int = 20) -> str:
    names = sorted(p.name + ("/" if p.is_dir() else "") for p in folder.iterdir()) if folder.is_dir() else []
    if not names:
        return "nothing (the folder is empty)"
    return ", ".join(names[:limit]) + (f" (+{len(names) - limit} more)" if len(names) > limit else "")


def _is_registry_name(text: str) -> bool:
    return text in registry.discover()


def _pretrained_source(name: str) -> str | None:
    """The run whose encoder config ``name`` evaluates (``pretrained_from``), if any."""
    if not _is_registry_name(name):
        return None
    return registry.get_config(name).pretrained_from


def locate_checkpoint(config_name_or_run_dir, ckpt="best") -> Path:
    """The checkpoint file of a run: a ``.pkl`` path as is, else ``checkpoint_{ckpt}.pkl`` of the run
    folder. A config that only evaluates another run's encoder (``pretrained_from``) points to that run."""
    given = Path(str(config_name_or_run_dir)).expanduser()
    if given.is_file():
        return given.resolve()
    if not given.is_dir() and not checkpoint_path(out_dir(str(config_name_or_run_dir)), ckpt).exists():
        source = _pretrained_source(str(config_name_or_run_dir))
        if source:
            return locate_checkpoint(source, ckpt)
    run_dir = run_folder(config_name_or_run_dir)
    path = checkpoint_path(run_dir, ckpt)
    if not path.exists():
        raise CheckpointError(f"checkpoint {path} does not exist; present in {run_dir}: {_listing(run_dir)}. Give "
                              f"ckpt='best', 'latest' or an epoch whose checkpoint exists, or train the run first")
    return path


def resolve_config(config, path: Path, name: str | None):
    """The config that builds the net of checkpoint ``path`` whose dict has no ``config``.

    ``config``: a config object, a registry name or None (then ``config.json`` beside the
    checkpoint, then the registry config ``name`` or the folder's name)."""
    get_config = registry.get_config
    if config is not None:
        return get_config(config) if isinstance(config, str) else config
    saved = path.parent / "config.json"
    if saved.exists():
        try:
            return config_from_dict(json.loads(saved.read_text(encoding="utf-8")))
        except (ValueError, AttributeError, ImportError) as e:
            raise CheckpointError(f"{saved} cannot be read as a config ({type(e).__name__}: {e})") from None
    for candidate in (name, path.parent.name):
        if candidate and _is_registry_name(candidate):
            return get_config(candidate)
    raise CheckpointError(
        f"checkpoint {path} holds no config (a checkpoint written by the reference code?), there is no "
        f"config.json beside it, and neither {name or path.parent.name!r} nor the folder name is a registry "
        f"config; say which architecture it is: load_encoder(..., config='25_3_8_relcon') in Python, or "
        f"--config NAME together with --run-dir on the command line")


def load_net_checkpoint(config_name_or_run_dir, ckpt="best", device=None, config=None):
    """(net in eval mode, checkpoint dict, config) of any run: an encoder or a distance network.

    ``config`` (a config object or registry name) overrides the one saved in the checkpoint;
    it is required only for a checkpoint without one that cannot be matched to a config."""
    path = locate_checkpoint(config_name_or_run_dir, ckpt)
    given = str(config_name_or_run_dir)
    name = None if Path(given).expanduser().exists() else given
    if config is None:
        try:
            return load_net(path, device=device)
        except MissingConfigError:  # a reference-format checkpoint: match it to a registry config
            pass
    return load_net(path, config=resolve_config(config, path, name), device=device)


def load_encoder_checkpoint(config_name_or_run_dir, ckpt="best", device=None, config=None):
    """(encoder in eval mode, checkpoint dict) from a pre-training run (see ``load_encoder``)."""
    net, state, cfg = load_net_checkpoint(config_name_or_run_dir, ckpt, device, config)
    if cfg.net_config.net_folder == "CrossAttn":
        raise CheckpointError(f"{config_name_or_run_dir} holds a MotifDist distance network (CrossAttn), not an "
                              f"encoder; give a RelCon run")
    return net, state


def load_encoder(config_name_or_run_dir, ckpt="best", device=None, config=None) -> torch.nn.Module:
    """The pre-trained encoder of a run, in eval mode, on ``device`` (default CPU).

    Args:
        config_name_or_run_dir: a config name (``"demo"``: its folder under the output root,
            ``RELCON_OUT``), a run folder, or a checkpoint file.
        ckpt: "best", "latest" or an epoch number.
        device: where to put it (``None``: CPU).
        config: config object or registry name giving the architecture; needed only for a
            checkpoint without a saved config (the reference's) that cannot be matched by name.

    The encoder maps (N, 3, T) accelerometry in g at 100 Hz (T = 256, 2.56 s, as in
    pre-training) to (N, D) embeddings; ``relcon.embed`` does the windowing and resampling.
    """
    return load_encoder_checkpoint(config_name_or_run_dir, ckpt, device, config)[0]


# ---- command-line pieces shared by `python -m relcon.embed` and `python -m relcon.export`
def add_checkpoint_arguments(parser) -> None:
    """--config / --run-dir / --ckpt: which pre-training run's encoder a command uses."""
    parser.add_argument("--config", help="config name of the pre-training run (its folder under the output root); "
                                         "with --run-dir: the architecture of a checkpoint that has no saved config")
    parser.add_argument("--run-dir", type=cli_path, help="run folder (or checkpoint file) instead of a config name")
    parser.add_argument("--ckpt", default="best", help="checkpoint: best, latest or an epoch number (default: best)")


def missing_checkpoint_source(parser, args, purpose: str) -> bool:
    """True (after printing the usage and an error) when neither --config nor --run-dir was given."""
    if args.config or args.run_dir:
        return False
    parser.print_usage(sys.stderr)
    print(f"error: give --config NAME or --run-dir DIR (the pre-training run whose encoder to {purpose})",
          file=sys.stderr)
    return True
