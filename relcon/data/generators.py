"""Data a config can create by itself when its folder is missing (synthetic sets only).

A data config with ``generate={"name": NAME, "args": {...}}`` calls ``GENERATORS[NAME](folder,
**args)``; the real benchmarks are never downloaded implicitly (their scripts are named in the
error instead).
"""
from __future__ import annotations

from pathlib import Path

from relcon.data.process.process_dummydataset import generate_dummydataset
from relcon.data.synthetic import make_gait_dataset, make_har_dataset, write_supervised_folds
from relcon.utils.paths import resolve_path
from relcon.utils.utils import printlog


def _pretrain_tree(folder, **kwargs):
    generate_dummydataset(folder, progress=False, **kwargs)


def _synthetic_har(folder, n_folds=3, seed=0, **kwargs):
    X, y, pid = make_har_dataset(seed=seed, **kwargs)
    write_supervised_folds(X, y, pid, folder, n_folds=n_folds, seed=seed)


def _synthetic_gait(folder, n_folds=3, seed=0, **kwargs):
    X, y, pid = make_gait_dataset(seed=seed, **kwargs)
    write_supervised_folds(X, y, pid, folder, n_folds=n_folds, seed=seed)


GENERATORS = {"pretrain_tree": _pretrain_tree, "synthetic_har": _synthetic_har, "synthetic_gait": _synthetic_gait}


def ensure_data(data_config, log_dir=None) -> Path:
    """The data folder of ``data_config``; generated first when missing and the config says how."""
    folder = resolve_path(data_config.data_folder)
    recipe = getattr(data_config, "generate", None)
    if recipe and not folder.exists():
        name = recipe["name"]
        if name not in GENERATORS:
            raise ValueError(f"data generator {name!r} unknown; expected one of {sorted(GENERATORS)}")
        printlog(f"creating {folder} with generator {name} {recipe.get('args', {})}", log_dir)
        GENERATORS[name](folder, **dict(recipe.get("args", {})))
    return folder
