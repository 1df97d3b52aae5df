"""Small shared helpers: logging to a run folder, seeding, devices, parameter counts."""
from __future__ import annotations

import datetime
import os
import random
from pathlib import Path

import numpy as np
import torch


def printlog(message: str, run_dir=None, echo: bool = True) -> None:
    """Print ``message`` and append it, time-stamped, to ``run_dir/log.txt``."""
    if echo:
        try:
            from tqdm import tqdm

            tqdm.write(message)
        except ImportError:  # pragma: no cover
            print(message)
    if run_dir is not None:
        Path(run_dir).mkdir(parents=True, exist_ok=True)
        stamp = datetime.datetime.now().strftime("%Y-%m-%d %H:%M:%S")
        with open(os.path.join(run_dir, "log.txt"), "a", encoding="utf-8") as f:
            for line in str(message).splitlines() or [""]:
                f.write(f"[{stamp}] {line}\n")


def set_seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def select_device(spec: str | None = "auto") -> torch.device:
    """``auto`` (CUDA, then MPS, then CPU), ``cpu``, ``cuda``, ``cuda:N`` or ``mps``."""
    spec = (spec or "auto").strip().lower()
    if spec == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if spec == "cpu":
        return torch.device("cpu")
    if spec == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ValueError("--device mps: MPS is not available on this machine (choose auto or cpu)")
        return torch.device("mps")
    if spec == "cuda" or spec.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise ValueError(f"--device {spec}: CUDA is not available on this machine (choose auto or cpu)")
        if ":" in spec:
            index = spec.split(":", 1)[1]
            if not index.isdigit() or int(index) >= torch.cuda.device_count():
                raise ValueError(f"--device {spec}: expected cuda:N with N < {torch.cuda.device_count()}")
        return torch.device(spec)
    raise ValueError(f"--device {spec!r}: expected auto, cpu, cuda, cuda:N or mps")


def count_parameters(net: torch.nn.Module) -> int:
    return sum(p.numel() for p in net.parameters() if p.requires_grad)
