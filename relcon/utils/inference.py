"""Running a net for its outputs only: eval mode restored afterwards, no gradients, in batches."""
from __future__ import annotations

import contextlib

import numpy as np
import torch

from relcon.utils.precision import autocast
from relcon.utils.progress import progress


@contextlib.contextmanager
def eval_mode(*modules: torch.nn.Module):
    """Put ``modules`` in eval mode for the block and give each its own mode back afterwards
    (also when the block raises), so a caller's training loop is never left in eval mode."""
    modes = [m.training for m in modules]
    try:
        for m in modules:
            m.eval()
        yield
    finally:
        for m, mode in zip(modules, modes):
            m.train(mode)


def batched_inference(module: torch.nn.Module, X: np.ndarray, batch_size: int = 256, device=None,
                      desc: str | None = "features", precision: str = "fp32") -> np.ndarray:
    """``module`` applied to ``X`` in batches, in eval mode, without gradients.

    Args:
        module: maps a float32 batch (B, ...) to (B, D).
        X: (N, ...) array; each batch is copied to ``device`` (default: the module's).
        desc: progress-bar label (None: no bar).
        precision: "fp32" or "bf16" (the forward pass under bfloat16 autocast,
            ``relcon/utils/precision.py``); outputs are float32 either way.

    Returns:
        (N, D) float32 numpy array.

    Raises:
        ValueError: an unknown ``precision``.
    """
    if device is None:  # the module's own device (CPU for one without parameters, e.g. fixed features)
        device = next(module.parameters(), torch.empty(0)).device
    out = []
    with eval_mode(module), torch.no_grad(), autocast(precision, device):
        for start in progress(range(0, len(X), batch_size), desc=desc, leave=False, disable=desc is None):
            batch = torch.from_numpy(np.ascontiguousarray(X[start:start + batch_size], dtype=np.float32))
            out.append(module(batch.to(device)).float().cpu().numpy())
    return np.concatenate(out)
