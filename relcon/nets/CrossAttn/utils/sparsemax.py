"""Sparsemax (Martins & Astudillo, ICML 2016): the Euclidean projection onto the simplex.

    sparsemax(z)_i = max(0, z_i - tau(z)),   with tau chosen so that the outputs sum to 1.

Unlike softmax it gives exact zeros, so each anchor time step attends to a few candidate time
steps only. The forward pass finds tau from a *partial* sort: the support of a row is a prefix
of its sorted values, so only the ``k`` largest values are needed whenever the support is
smaller than ``k``; rows whose support may be larger fall back to a full sort. The backward
pass is the exact Jacobian-vector product over the support S = {i : output_i > 0}:

    grad_z = s * (g - sum(g * s) / |S|),   s = 1[output > 0].
"""
from __future__ import annotations

import torch

# Number of top values tried before a full sort; the support of attention rows over 256
# candidate steps is almost always far smaller than this.
DEFAULT_TOPK = 32


def _threshold_from_sorted(zs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """tau and support size from values sorted in descending order along the last dim."""
    n = zs.shape[-1]
    rho = torch.arange(1, n + 1, device=zs.device, dtype=zs.dtype)
    cssv = zs.cumsum(-1) - 1.0
    in_support = rho * zs > cssv  # a prefix of each row (true then false)
    k = in_support.sum(-1, keepdim=True)  # (..., 1), >= 1
    tau = cssv.gather(-1, k - 1) / k.to(zs.dtype)
    return tau, k


def sparsemax_threshold(z: torch.Tensor, topk: int | None = DEFAULT_TOPK) -> torch.Tensor:
    """tau(z) along the last dim, shape (..., 1). ``topk=None`` always sorts fully."""
    n = z.shape[-1]
    if topk is None or topk >= n:
        zs, _ = torch.sort(z, dim=-1, descending=True)
        return _threshold_from_sorted(zs)[0]
    zs, _ = torch.topk(z, topk, dim=-1, sorted=True)
    tau, k = _threshold_from_sorted(zs)
    # A row whose whole top-k is in the support may have a longer support: redo it fully.
    unsure = (k == topk).squeeze(-1)
    if bool(unsure.any()):
        rows = z[unsure]
        full, _ = torch.sort(rows, dim=-1, descending=True)
        tau = tau.clone()
        tau[unsure] = _threshold_from_sorted(full)[0]
    return tau


class SparsemaxFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z: torch.Tensor, dim: int = -1, topk: int | None = DEFAULT_TOPK):
        z = z.transpose(dim, -1)
        # Shifting by the row max changes nothing mathematically and keeps the cumsum small.
        z = z - z.amax(dim=-1, keepdim=True)
        tau = sparsemax_threshold(z, topk)
        out = torch.clamp(z - tau, min=0.0)
        out = out.transpose(dim, -1)
        ctx.dim = dim
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        (out,) = ctx.saved_tensors
        dim = ctx.dim
        support = (out > 0).to(grad_out.dtype)
        n_support = support.sum(dim=dim, keepdim=True)
        mean_g = (grad_out * support).sum(dim=dim, keepdim=True) / n_support
        return support * (grad_out - mean_g), None, None


def sparsemax(z: torch.Tensor, dim: int = -1, topk: int | None = DEFAULT_TOPK) -> torch.Tensor:
    """Sparsemax of ``z`` along ``dim``; same shape as ``z``; rows sum to 1."""
    return SparsemaxFunction.apply(z, dim, topk)


class Sparsemax(torch.nn.Module):
    def __init__(self, dim: int = -1, topk: int | None = DEFAULT_TOPK):
        super().__init__()
        self.dim = dim
        self.topk = topk

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return sparsemax(z, self.dim, self.topk)
