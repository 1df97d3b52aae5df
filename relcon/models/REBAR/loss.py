"""The REBAR contrastive loss (Xu et al., ICLR 2024, "REBAR: Retrieval-based reconstruction
for time-series contrastive learning", Sec. 3.3): the candidate closest to the anchor under the
learned distance is its positive, every other candidate a negative."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from relcon.utils.precision import in_float32


@in_float32
def rebar_loss(emb_ancs: torch.Tensor, emb_withinuser_cands: torch.Tensor, sortedinds: torch.Tensor,
               tau: float = 1.0) -> torch.Tensor:
    """Cross-entropy over each anchor's candidates with the closest one as the target, averaged
    over anchors.

    Args:
        emb_ancs: anchor embeddings.
        emb_withinuser_cands: within-user candidate embeddings.
        sortedinds: column b lists anchor b's candidates closest first (row 0: the positive),
            numbered as in RelCon's ``relative_contrastive_loss``: j < B-1 is anchor
            (b+1+j) mod B (inter-user), B-1+k is within-user candidate k. Only the N' listed
            candidates enter the softmax (a candidate-set ablation lists a subset).
        tau: temperature.

    Shape:
        emb_ancs (B, D), emb_withinuser_cands (B, K, D), sortedinds (N', B) int64 with
        N' <= (B-1)+K; returns a scalar.

    With s_i = cos(anchor, c_i) / tau over the listed candidates and c_pos the closest:

        loss_b = -log( exp(s_pos) / sum_i exp(s_i) ).

    Computed in float32 (embeddings cast to float32, ``upcast``, autocast off), also when the encoder
    ran in bfloat16.
    """
    bs, k, dim = emb_withinuser_cands.shape
    rot = (torch.arange(bs, device=emb_ancs.device)[:, None] + 1
           + torch.arange(bs - 1, device=emb_ancs.device)[None, :]) % bs  # (B, B-1)
    inter = emb_ancs.index_select(0, rot.reshape(-1)).view(bs, bs - 1, dim)  # index_select: see RelCon's loss
    cands = torch.cat([inter, emb_withinuser_cands], dim=1)  # (B, (B-1)+K, D)
    sims = F.cosine_similarity(emb_ancs[:, None, :], cands, dim=-1) / tau  # (B, (B-1)+K)
    listed = sims.gather(1, sortedinds.t())  # (B, N'), the positive first
    return F.cross_entropy(listed, torch.zeros(bs, dtype=torch.long, device=sims.device))
