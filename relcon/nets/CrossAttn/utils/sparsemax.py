"""Sparsemax (Martins & Astudillo, ICML 2016): the Euclidean projection onto the simplex.

    sparsemax(z)_i = max(0, z_i - tau(z)),   with tau chosen so that the outputs sum to 1.

Unlike softmax it gives exact zeros, so each anchor time step attends to a few candidate time
steps only. Two exact ways to find tau:

``method="newton"`` (default, sort-free): Newton's method on the convex, decreasing, piecewise
linear f(tau) = sum_i max(0, z_i - tau) - 1, started at the lower bound max(z) - 1. Each step
tau <- tau + f(tau) / |S(tau)| is exactly tau <- (sum_{i in S} z_i - 1) / |S| over the current
support S(tau) = {i : z_i > tau}, the same formula the sort gives; from below it never
overshoots, the support only shrinks, and a row is done once its support stops changing (a few
steps: the support of attention rows is small). Rows leave the loop as they finish.

``method="sort"``: the support of a row is a prefix of its sorted values, so only the ``topk``
largest values are needed whenever the support is smaller than ``topk``; rows whose support may
be larger fall back to a full sort (``topk=None`` always sorts fully).

The backward pass is the exact Jacobian-vector product over the support S = {i : output_i > 0}:

    grad_z = s * (g - sum(g * s) / |S|),   s = 1[output > 0].

Precision: sparsemax always computes in float32 and returns float32 weights. Lower-precision
scores (bfloat16 from a matrix product under ``torch.autocast``) are cast to float32 and
autocast is switched off inside: in bfloat16 (8 mantissa bits) the threshold's sums
(``sum_{i in S} z_i - 1``) lose the small differences between the top scores, so the support,
and with it which candidate steps are attended, would change, and rows would not sum to 1.
"""
from __future__ import annotations

import torch

from relcon.utils.precision import float32_region, upcast

METHODS = ("newton", "sort")
DEFAULT_METHOD = "newton"
# Number of top values tried by method="sort" before a full sort; the support of attention rows
# over 256 candidate steps is almost always far smaller than this.
DEFAULT_TOPK = 32
# Newton steps before the (never yet seen) fallback to a full sort of the rows still moving.
NEWTON_MAX_STEPS = 50


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
    """tau(z) along the last dim by (partial) sorting, shape (..., 1). ``topk=None`` sorts fully."""
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


def newton_threshold(z: torch.Tensor, max_steps: int = NEWTON_MAX_STEPS, shifted: bool = False) -> torch.Tensor:
    """tau(z) along the last dim without sorting, shape (..., 1); see the module docstring.

    Works best on rows already shifted by their maximum (as ``sparsemax`` does): the iterates
    then stay near 0 and the float32 rounding of tau is that of the small support values.
    ``shifted=True`` says the rows' maxima are 0 (saves a pass).
    """
    shape = z.shape
    z = z.reshape(-1, shape[-1])  # (R, n)
    if shifted:
        tau = torch.full((len(z), 1), -1.0, device=z.device, dtype=z.dtype)
    else:
        tau = z.amax(dim=-1, keepdim=True) - 1.0  # f(max - 1) >= 0: a lower bound
    work = torch.empty_like(z)
    active = None  # ids of the rows still iterating (None: all)
    z_act, tau_act, previous = z, tau, None
    for _ in range(max_steps):
        w = torch.sub(z_act, tau_act, out=work[: len(z_act)]).relu_()  # (r, n) max(0, z - tau)
        excess = w.sum(dim=-1, keepdim=True).sub_(1.0).clamp_(min=0.0)  # f(tau) >= 0
        count = w.sign_().sum(dim=-1, keepdim=True)  # |S(tau)| >= 1
        tau_act = tau_act + excess / count
        # Done: f(tau) == 0 (tau was exact), or the support did not change (the new tau is).
        moving = excess > 0
        if previous is not None:
            moving &= count != previous
        moving = moving.squeeze(-1)
        if active is None:
            tau = tau_act
        else:
            tau.index_copy_(0, active, tau_act)
        n_moving = int(moving.sum())
        if n_moving == 0:
            return tau.view(*shape[:-1], 1)
        # Finished rows stay put (their f is 0), so the loop only sheds them when that
        # saves more than the copy costs.
        if n_moving <= len(z_act) // 2:
            keep = moving.nonzero().squeeze(-1)
            if active is None:
                tau = tau.clone()
                active = keep
            else:
                active = active[keep]
            z_act, tau_act, count = z_act[keep], tau_act[keep], count[keep]
        previous = count
    # Not reached in practice; exactness over speed if it ever is.
    rows = torch.arange(len(z), device=z.device) if active is None else active
    tau.index_copy_(0, rows, sparsemax_threshold(z[rows], topk=None))
    return tau.view(*shape[:-1], 1)


class SparsemaxFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z: torch.Tensor, dim: int = -1, topk: int | None = DEFAULT_TOPK,
                method: str = DEFAULT_METHOD):
        z = z.transpose(dim, -1)
        # Shifting by the row max changes nothing mathematically and keeps the sums small.
        z = z - z.amax(dim=-1, keepdim=True)
        tau = newton_threshold(z, shifted=True) if method == "newton" else sparsemax_threshold(z, topk)
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
        return support * (grad_out - mean_g), None, None, None


def sparsemax(z: torch.Tensor, dim: int = -1, topk: int | None = DEFAULT_TOPK,
              method: str = DEFAULT_METHOD) -> torch.Tensor:
    """Sparsemax of ``z`` along ``dim``; same shape as ``z``, at least float32; rows sum to 1. ``topk`` is
    used by ``method="sort"`` only. Computed in float32 also under autocast (module docstring)."""
    if method not in METHODS:
        raise ValueError(f"sparsemax method={method!r}: expected one of {METHODS}")
    with float32_region(z):
        return SparsemaxFunction.apply(upcast(z), dim, topk, method)


def sparsemax_inplace_(z: torch.Tensor) -> torch.Tensor:
    """Sparsemax along the last dim written over ``z`` (no autograd; for the distance stage,
    where the score maps are temporaries and a copy of each would cost a pass over memory).
    A float32 ``z`` is overwritten and returned; a lower-precision one (bfloat16 scores under
    autocast) is first copied to float32, and that copy is returned (module docstring)."""
    assert not z.requires_grad, "sparsemax_inplace_ is for inference only"
    with float32_region(z):
        z = upcast(z)
        z.sub_(z.amax(dim=-1, keepdim=True))
        return z.sub_(newton_threshold(z, shifted=True)).relu_()


class Sparsemax(torch.nn.Module):
    def __init__(self, dim: int = -1, topk: int | None = DEFAULT_TOPK, method: str = DEFAULT_METHOD):
        super().__init__()
        self.dim = dim
        self.topk = topk
        self.method = method

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return sparsemax(z, self.dim, self.topk, self.method)
