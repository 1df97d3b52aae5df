"""Shared test helpers (a plain module: `conftest` is ambiguous with tests/data/conftest.py)."""
import os
import sys
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
sys.path.insert(0, str(REPO))


def load_fixture(name):
    return torch.load(FIXTURES / name, weights_only=True)


def write_tree(root, subjects=(2, 1, 1), hours=2, segments=6, length=256, channels=3, seed=0):
    """Tiny pre-training tree root/{train,val,test}/subject_s/hour_h/ts_i.npy of float64 (T, C)."""
    rng = np.random.default_rng(seed)
    s = 0
    for split, n in zip(("train", "val", "test"), subjects):
        for _ in range(n):
            for h in range(hours):
                folder = Path(root) / split / f"subject_{s}" / f"hour_{h}"
                folder.mkdir(parents=True, exist_ok=True)
                for i in range(segments):
                    t = np.arange(length) / 100.0
                    base = np.sin(2 * np.pi * (1 + s + h) * t)[:, None] * rng.uniform(0.5, 1.5, size=channels)
                    np.save(folder / f"ts_{i}.npy", base + 0.1 * rng.standard_normal((length, channels)))
            s += 1
    return Path(root)


def run_env(out_root, configs=None):
    env = dict(os.environ)
    env["RELCON_OUT"] = str(out_root)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("OMP_NUM_THREADS", "1")  # tiny nets: one thread is fastest, also on a busy machine
    if configs:
        env["RELCON_CONFIGS"] = str(configs)
    return env
