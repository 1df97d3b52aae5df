"""Hand-made distances for RelCon's distance ablation, in place of the learned MotifDist.

Both take pairs of raw segments x, y of shape (P, T, C) (time x channels) and return (P,).

Cost per training step, with P = B((B-1)+K) pairs of segments of length T and C channels:
Euclidean is O(P T C); DTW is O(P T^2 C) arithmetic plus 2T - 1 sequential steps (one per
anti-diagonal of the cost matrix), each a vectorised update of up to T cells of every pair. For
the demo (B = 32, K = 8, T = 256: 1248 pairs) that is ~2.5e8 cost-matrix entries per step.

DTW is written in torch rather than taken from a library: the installable ones (dtaidistance,
tslearn) compute one pair at a time on float64 numpy arrays on the CPU, while this runs all the
pairs of a step at once on the training device, with no extra dependency.
"""
from __future__ import annotations

import torch


def euclidean_distance(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """||x_p - y_p||_2 over time and channels. x, y (P, T, C) -> (P,)."""
    return torch.sqrt(torch.square(x - y).sum(dim=(1, 2)))


def dtw_distance(x: torch.Tensor, y: torch.Tensor, chunk: int = 1024) -> torch.Tensor:
    """Dynamic time warping (Sakoe & Chiba, 1978), multichannel ("dependent") form, no window:

        R(0, 0) = 0,  R(i, 0) = R(0, j) = inf,
        R(i, j) = ||x_i - y_j||^2 + min(R(i-1, j-1), R(i-1, j), R(i, j-1)),
        dtw(x, y) = R(T, T'),

    the smallest summed squared distance over monotone alignments of the two sequences.

    Args:
        x, y: (P, T, C) and (P, T', C).
        chunk: pairs at a time; each holds a T x T' cost matrix and its skewed copy (about 0.8 GB
            for 1024 pairs of T = 256 in float32). Large chunks: fewer, larger steps.
    Returns: (P,), in x's dtype.
    """
    out = [_dtw_block(x[i:i + chunk], y[i:i + chunk]) for i in range(0, x.shape[0], chunk)]
    return torch.cat(out) if out else x.new_zeros(0)


def _dtw_block(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    p, t, _ = x.shape
    u = y.shape[1]
    cost = torch.cdist(x, y, compute_mode="donot_use_mm_for_euclid_dist").square()  # (P, T, T')
    # Skewed layout: row d holds the cells (i, j = d - i) of anti-diagonal d, indexed by i (pairs
    # last, contiguous), so that each step of the recursion reads the two previous rows with
    # plain shifted slices.
    d = torch.arange(t + u + 1, device=x.device)[:, None]  # (T+T'+1, 1)
    i = torch.arange(t + 1, device=x.device)[None, :]  # (1, T+1)
    j = d - i
    valid = (i >= 1) & (j >= 1) & (j <= u)
    flat = ((i - 1).clamp(min=0) * u + (j - 1).clamp(0, u - 1)).reshape(-1)
    skewed = cost.reshape(p, t * u).t()[flat].view(t + u + 1, t + 1, p)  # (T+T'+1, T+1, P)
    skewed.masked_fill_(~valid[:, :, None], float("inf"))  # outside the matrix: never on a path
    before = x.new_full((t + 1, p), float("inf"))  # row d-2 (d = 0: only R(0, 0) = 0)
    before[0] = 0.0
    last = x.new_full((t + 1, p), float("inf"))  # row d-1 (d = 1: (0, 1) and (1, 0), borders)
    for k in range(2, t + u + 1):
        row = torch.empty_like(last)
        row[0] = float("inf")  # R(0, j) for j >= 1
        # R(i, j) = c(i, j) + min(R(i-1, j-1): row d-2 at i-1, R(i-1, j): row d-1 at i-1, R(i, j-1): row d-1 at i)
        torch.minimum(torch.minimum(before[:-1], last[:-1]), last[1:], out=row[1:])
        row[1:] += skewed[k, 1:]
        before, last = last, row
    return last[t]
