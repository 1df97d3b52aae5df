"""Slow reference procedures that tests and benchmarks check the fast paths against.

Nothing in the training or evaluation code calls these.
"""
from __future__ import annotations

import torch

from relcon.models.MotifDist.MotifDist_Model import reconstruction_error
from relcon.utils.inference import eval_mode


def pairwise_candidate_distances(motifdist_net, anchors: torch.Tensor, withinuser_cands: torch.Tensor,
                                 query_dims=None, key_dims=None) -> torch.Tensor:
    """The same matrix by the straightforward procedure (one full forward per rotation and per
    within-user slot). Slow; the oracle of ``relcon.models.RelCon.candidates.compute_candidate_distances``
    in tests and benchmarks."""
    qd = slice(None) if query_dims is None else query_dims
    kd = slice(None) if key_dims is None else key_dims
    rows = []
    with eval_mode(motifdist_net), torch.no_grad():
        for shift in range(1, anchors.shape[0]):
            rotated = torch.roll(anchors, -shift, dims=0)  # anchor b meets anchor (b + shift) mod B
            rows.append(reconstruction_error(motifdist_net, anchors[:, :, qd], rotated[:, :, kd]))
        for slot in range(withinuser_cands.shape[1]):
            rows.append(reconstruction_error(motifdist_net, anchors[:, :, qd], withinuser_cands[:, slot][:, :, kd]))
    return torch.stack(rows)  # ((B-1)+K, B)
