"""CrossAttn: the network behind the learned motif distance (RelCon paper, Sec. 3.1).

The anchor is reconstructed from the candidate by attention: each anchor time step queries the
candidate's time steps through dilated-convolution features, and the reconstruction error
d(anchor, candidate) = ||X_hat_anc|cand - X_anc||^2 is the distance.

Inputs are (batch, time, channels) accelerometry in g at 100 Hz, 256 samples = 2.56 s; note
time before channels, unlike the encoder's (batch, channels, time). ``Net.forward``:

    RevIN (both sequences normalised with the candidate's per-channel statistics)
    -> q / k / v dilated-conv stacks -> sparsemax attention -> out_proj
    -> de-normalisation with the candidate's statistics

``Net.pair_distances`` computes the same distance for many pairs at once (``pair_distances.py``).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from relcon.nets.CrossAttn import fused_attention
from relcon.nets.CrossAttn import pair_distances as batched
from relcon.nets.CrossAttn.utils.DilatedConv import DilatedConvNet
from relcon.nets.CrossAttn.utils.RevIN import RevIN
from relcon.nets.CrossAttn.utils.sparsemax import sparsemax

ATTENTIONS = ("sparsemax", "softmax")


class Net(nn.Module):
    """Cross-attention reconstruction net.

    Args (the reference's keywords, plus ``attention`` and ``dropout``):
        input_dims: channels of query and key when their sizes are not given.
        query_dimsize, key_dimsize: channels of the anchor (query) and candidate (key).
        embed_dim: width E of the q/k/v features; the bottleneck is E // 8.
        sparsemax: the reference's inverted legacy flag; ``True`` selects softmax on the
            training path. Leave it ``False``.
        kernel_size, double_receptivefield, stride: the dilated-conv stacks.
        attention: how scores are normalised in **eval mode** (distances):
            ``"sparsemax"`` (default, as the paper says) or ``"softmax"`` (what the
            reference's ``calc_distance`` actually computes). Training always uses sparsemax.
        dropout: dropout on the attention weights, training mode only.

    forward(query_in (B, T, Cq), key_in (B, S, Ck)) -> (reconstruction (B, T, Cq),
    attention (B, T, S) or None). Attention weights are returned except on the eval-mode
    softmax path, which does not form them (as in the reference).

    Attribute, not saved: ``fused`` (default ``True``): the sparsemax attention of ``attend``
    takes the fused path of ``fused_attention.py`` (float32 only; same function, less time);
    ``False`` keeps the readable code below.
    """

    def __init__(self, input_dims: int = 1, query_dimsize: int | None = None, key_dimsize: int | None = None,
                 embed_dim: int = 256, sparsemax: bool = False, kernel_size: int = 15,
                 double_receptivefield: int = 5, stride: int = 1, attention: str = "sparsemax",
                 dropout: float = 0.1):
        super().__init__()
        if attention not in ATTENTIONS:
            raise ValueError(f"CrossAttn attention={attention!r}: expected one of {ATTENTIONS}")
        query_dimsize = input_dims if query_dimsize is None else query_dimsize
        key_dimsize = input_dims if key_dimsize is None else key_dimsize
        self.embed_dim = embed_dim
        self.query_dimsize = query_dimsize
        self.key_dimsize = key_dimsize
        self.legacy_softmax_training = bool(sparsemax)
        self.attention = attention
        self.dropout = dropout

        self.revin = RevIN(num_features=query_dimsize)
        stack = dict(out_channel=embed_dim, bottleneck=embed_dim // 8, kernel_size=kernel_size,
                     double_receptivefield=double_receptivefield, stride=stride)
        self.q_func = DilatedConvNet(in_channel=query_dimsize, **stack)
        self.k_func = DilatedConvNet(in_channel=key_dimsize, **stack)
        self.v_func = DilatedConvNet(in_channel=key_dimsize, **stack)
        self.out_proj = nn.Linear(embed_dim, query_dimsize)
        self.fused = True

    def forward(self, query_in: torch.Tensor, key_in: torch.Tensor, mask: torch.Tensor | None = None):
        """Reconstruct the anchor query_in (B, T, Cq) from the candidate key_in (B, S, Ck)."""
        stats, k, v = self.key_features(key_in)  # RevIN stats (B, 1, Ck); k, v (B, S, E)
        q = self.query_features(query_in, stats, mask)  # (B, T, E)
        out, weights = self.attend(q, k, v)  # (B, T, Cq), (B, T, S) or None
        return self.reconstruct(out, stats), weights  # back in g: (B, T, Cq)

    def pair_distances(self, query_in: torch.Tensor, key_in: torch.Tensor, key_ids: torch.Tensor,
                       chunk: int | None = None) -> torch.Tensor:
        """d(query_in[a], key_in[key_ids[a, j]]) -> (A, N) in eval mode, without gradients: the
        distance stage's batched form of ``forward`` (see ``pair_distances.py``)."""
        return batched.pair_distances(self, query_in, key_in, key_ids, chunk)

    # The steps of forward, public so that pair_distances can reuse the candidate side.
    def key_features(self, key_in: torch.Tensor):
        """key_in (B, S, Ck) -> (stats, k (B, S, E), v (B, S, E)); stats are (B, 1, Ck) each."""
        stats = self.revin.statistics(key_in)
        key = self.revin.normalize(key_in, stats).transpose(1, 2)  # (B, Ck, S)
        k = self.k_func(key).transpose(1, 2)
        v = self.v_func(key).transpose(1, 2)
        return stats, k, v

    def query_features(self, query_in: torch.Tensor, stats, mask: torch.Tensor | None = None) -> torch.Tensor:
        """query_in (B, T, Cq) normalised with the *candidate's* stats -> q (B, T, E)."""
        query = self.revin.normalize(query_in, stats).transpose(1, 2)  # (B, Cq, T)
        if mask is not None:
            mask = mask.transpose(1, 2)
        return self.q_func(query, mask).transpose(1, 2)

    def uses_sparsemax(self) -> bool:
        if self.training:
            return not self.legacy_softmax_training
        return self.attention == "sparsemax"

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor):
        """Single-head attention of q (B, T, E) over k, v (B, S, E) -> ((B, T, Cq), weights)."""
        if self.fused and self.uses_sparsemax() and fused_attention.applies(q):
            return fused_attention.attend(self, q, k, v)
        if not self.uses_sparsemax() and not self.training:
            out = F.scaled_dot_product_attention(q, k, v)
            return self.out_proj(out), None
        scores = torch.bmm(q * math.sqrt(1.0 / q.shape[-1]), k.transpose(1, 2))  # (B, T, S)
        weights = sparsemax(scores, dim=-1) if self.uses_sparsemax() else torch.softmax(scores, dim=-1)
        if self.training and self.dropout > 0:
            weights = F.dropout(weights, p=self.dropout)
        return self.out_proj(torch.bmm(weights, v)), weights

    def reconstruct(self, out: torch.Tensor, stats) -> torch.Tensor:
        """out (B, T, Cq), normalised -> in g, with the candidate's stats."""
        return self.revin.denormalize(out, stats)
