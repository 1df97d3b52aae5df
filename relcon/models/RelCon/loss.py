"""The relative contrastive loss (RelCon paper, Sec. 3.2, Eq. 3)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from relcon.models.RelCon.candidates import inter_user_ids
from relcon.utils.precision import in_float32


@in_float32
def relative_contrastive_loss(emb_ancs: torch.Tensor, emb_withinuser_cands: torch.Tensor,
                              sortedinds: torch.Tensor, tau: float = 1) -> torch.Tensor:
    """L_RelCon (paper Eq. 3), averaged over anchors.

    Args:
        emb_ancs: (B, D) anchor embeddings.
        emb_withinuser_cands: (B, K, D) within-user candidate embeddings.
        sortedinds: ((B-1)+K, B) int64; column b lists anchor b's candidates from closest to
            farthest by the learned distance. Candidate row j < B-1 is anchor (b+1+j) mod B
            (``inter_user_ids``), row B-1+k is within-user candidate k.
        tau: temperature.

    Returns:
        A scalar tensor.

    With s_i = cos(anchor, c_i) / tau over candidates ordered from farthest (i = 0) to closest,
    each candidate in turn is the positive and every farther one a negative:

        loss_b = sum_{i >= 1} -[ s_i - log sum_{m <= i} exp(s_m) ].

    Computed in float32 (embeddings cast to float32, ``upcast``, autocast off), also when the encoder
    ran in bfloat16: the log-cumulative-sum-exp over up to (B-1)+K similarities scaled by 1/tau
    needs float32's mantissa.
    """
    bs, k, _ = emb_withinuser_cands.shape
    rot = inter_user_ids(bs, emb_ancs.device)  # (B, B-1)
    # index_select, not emb_ancs[rot]: the backward of advanced indexing (index_put_ with
    # accumulate) adds in a thread-dependent order on CPU, which made training runs differ bitwise.
    inter = emb_ancs.index_select(0, rot.reshape(-1)).view(bs, bs - 1, emb_ancs.shape[1])  # (B, B-1, D)
    cands = torch.cat([inter, emb_withinuser_cands], dim=1)  # (B, (B-1)+K, D)
    sims = F.cosine_similarity(emb_ancs[:, None, :], cands, dim=-1) / tau  # (B, (B-1)+K)
    far_to_close = sims.gather(1, sortedinds.t().flip(1))  # (B, (B-1)+K)
    log_norm = torch.logcumsumexp(far_to_close, dim=1)
    per_anchor = -(far_to_close[:, 1:] - log_norm[:, 1:]).sum(dim=1)  # (B,)
    return per_anchor.mean()
