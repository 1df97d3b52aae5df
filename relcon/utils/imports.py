"""Build nets and trainers from their configs (``folder``/``file`` names, as in the reference).

The modules are named by strings in configs (``relcon.nets.<net_folder>.<net_file>``,
``<trainer_package>.<model_folder>.<model_file>``), so they are imported by name here; this
module itself imports nothing of the package.
"""
from __future__ import annotations

import importlib


def import_net(net_config):
    """``relcon.nets.<net_folder>.<net_file>.Net(**params)``."""
    name = f"relcon.nets.{net_config.net_folder}.{net_config.net_file}"
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as e:
        raise ValueError(f"net {net_config.net_folder}/{net_config.net_file}: no module {name} ({e})") from None
    return module.Net(**net_config.params)


def model_module(config):
    """The module holding the trainer ``Model`` of a model or evaluation config: the config class
    says in which package its trainers live (``trainer_package``)."""
    name = f"{config.trainer_package}.{config.model_folder}.{config.model_file}"
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as e:
        raise ValueError(f"config asks for trainer {config.model_folder}/{config.model_file}: "
                         f"no module {name} ({e})") from None


def import_model(config, reload_ckpt: bool | str = False, **kwargs):
    """Instantiate ``Model(config, **kwargs)``; ``reload_ckpt`` loads that checkpoint (True = best)."""
    model = model_module(config).Model(config, **kwargs)
    if reload_ckpt:
        model.load("best" if reload_ckpt is True else reload_ckpt)
    return model
