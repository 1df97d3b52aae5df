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


def dtw_distance(x: torch.Tensor, y: torch.Tensor, chunk: int = 128) -> torch.Tensor:
    """Dynamic time warping (Sakoe & Chiba, 1978), multichannel ("dependent") form, no window:

        R(0, 0) = 0,  R(i, 0) = R(0, j) = inf,
        R(i, j) = ||x_i - y_j||^2 + min(R(i-1, j-1), R(i-1, j), R(i, j-1)),
        dtw(x, y) = R(T, T'),

    the smallest summed squared distance over monotone alignments of the two sequences.

    Args:
        x, y: (P, T, C) and (P, T', C).
        chunk: pairs at a time (each holds a T x T' cost matrix).
    Returns: (P,), in x's dtype.
    """
    out = [_dtw_block(x[i:i + chunk], y[i:i + chunk]) for i in range(0, x.shape[0], chunk)]
    return torch.cat(out) if out else x.new_zeros(0)


def _dtw_block(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    p, t, _ = x.shape
    u = y.shape[1]
    cost = torch.cdist(x, y, compute_mode="donot_use_mm_for_euclid_dist").square()  # (P, T, T')
    acc = torch.full((p, t + 1, u + 1), float("inf"), dtype=x.dtype, device=x.device)
    acc[:, 0, 0] = 0
    # Cells (i, j) with i + j = d depend only on the diagonals d-1 and d-2: one update each.
    for d in range(2, t + u + 1):
        i = torch.arange(max(1, d - u), min(t, d - 1) + 1, device=x.device)
        j = d - i
        best = torch.minimum(torch.minimum(acc[:, i - 1, j - 1], acc[:, i - 1, j]), acc[:, i, j - 1])
        acc[:, i, j] = cost[:, i - 1, j - 1] + best
    return acc[:, t, u]
