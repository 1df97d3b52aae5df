"""Using a trained model from Python."""
from __future__ import annotations

from pathlib import Path

import torch

from relcon.models.Base_Model import CheckpointError, load_checkpoint, load_state_dict_strict
from relcon.utils.paths import out_dir


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


def checkpoint_file(run_dir: Path, ckpt="best") -> Path:
    ckpt = str(ckpt)
    return run_dir / (f"checkpoint_epoch{ckpt}.pkl" if ckpt.isdigit() else f"checkpoint_{ckpt}.pkl")


def load_encoder_checkpoint(config_name_or_run_dir, ckpt="best", device=None):
    """(encoder in eval mode, checkpoint dict) from a pre-training run; the architecture comes
    from the config saved in the checkpoint, so the run folder alone suffices."""
    from relcon.utils.imports import import_net

    from relcon.experiments.registry import config_from_dict

    run_dir = run_folder(config_name_or_run_dir)
    path = checkpoint_file(run_dir, ckpt)
    state = load_checkpoint(path)
    if "config" not in state or "net" not in state:
        raise CheckpointError(f"{path} has no saved config/net (keys: {', '.join(sorted(state))}); "
                              f"load it into a net built from its config with load_state_dict")
    config = config_from_dict(state["config"])
    if config.net_config.net_folder == "CrossAttn":
        raise CheckpointError(f"{path} holds a MotifDist distance network (CrossAttn), not an encoder; "
                              f"give a RelCon run")
    encoder = import_net(config.net_config)
    load_state_dict_strict(encoder, state["net"], f"checkpoint {path}")
    device = torch.device(device) if device is not None else torch.device("cpu")
    return encoder.to(device).eval(), state


def load_encoder(config_name_or_run_dir, ckpt="best", device=None) -> torch.nn.Module:
    """The pre-trained encoder of a run (config name or run folder), in eval mode.

    ``ckpt``: "best", "latest" or an epoch number. Input (N, 3, T) accelerometry in g at 100 Hz,
    output (N, D) embeddings.
    """
    return load_encoder_checkpoint(config_name_or_run_dir, ckpt, device)[0]
