"""NT-Xent, the normalised temperature-scaled cross-entropy of SimCLR (Chen et al., ICML 2020,
"A simple framework for contrastive learning of visual representations", Eq. 1)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from relcon.utils.precision import in_float32


@in_float32
def nt_xent_loss(z1: torch.Tensor, z2: torch.Tensor, tau: float = 0.1) -> torch.Tensor:
    """NT-Xent over the 2B views of a batch, averaged over all 2B anchors.

    Args:
        z1, z2: projections of the two views of the same B segments; row b of ``z1`` and row b
            of ``z2`` are a positive pair.
        tau: temperature.

    Shape:
        z1, z2: (B, D); returns a scalar.

    With s(u, v) = cos(u, v) / tau, the loss of anchor i whose positive is p(i) is

        l_i = -log( exp(s(z_i, z_p(i))) / sum_{k != i} exp(s(z_i, z_k)) ),

    the sum running over the other 2B - 1 views of the batch (the 2B - 2 views of other
    segments are the negatives).

    Computed in float32 (projections cast to float32, ``upcast``, autocast off, so that the (2B, 2B)
    similarity product is not run in bfloat16), also when the encoder ran in bfloat16.
    """
    if z1.shape != z2.shape or z1.ndim != 2:
        raise ValueError(f"nt_xent_loss: z1 {tuple(z1.shape)} and z2 {tuple(z2.shape)}; expected equal (B, D)")
    b = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2]), dim=1)  # (2B, D)
    sims = z @ z.t() / tau  # (2B, 2B)
    self_mask = torch.eye(2 * b, dtype=torch.bool, device=z.device)
    sims = sims.masked_fill(self_mask, float("-inf"))  # a view is not its own candidate
    positives = torch.cat([torch.arange(b, 2 * b), torch.arange(0, b)]).to(z.device)  # (2B,)
    return F.cross_entropy(sims, positives)
