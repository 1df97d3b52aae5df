"""CrossAttn: the network behind the learned motif distance (RelCon paper, Sec. 3.1).

The anchor is reconstructed from the candidate by attention: each anchor time step queries the
candidate's time steps through dilated-convolution features, and the reconstruction error
d(anchor, candidate) = ||X_hat_anc|cand - X_anc||^2 is the distance.

Inputs are (batch, time, channels) accelerometry, 2.56 s at 100 Hz (T = 256), in g. Both
sequences are normalised with the candidate's per-channel statistics (RevIN); the
reconstruction is mapped back with them.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

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

    # The forward pass in four steps, so that the distance stage can reuse the candidate side.
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
        if not self.uses_sparsemax() and not self.training:
            out = F.scaled_dot_product_attention(q, k, v)
            return self.out_proj(out), None
        scores = torch.bmm(q * math.sqrt(1.0 / q.shape[-1]), k.transpose(1, 2))  # (B, T, S)
        weights = sparsemax(scores, dim=-1) if self.uses_sparsemax() else torch.softmax(scores, dim=-1)
        if self.training and self.dropout > 0:
            weights = F.dropout(weights, p=self.dropout)
        return self.out_proj(torch.bmm(weights, v)), weights

    def reconstruct(self, out: torch.Tensor, stats) -> torch.Tensor:
        return self.revin.denormalize(out, stats)

    def forward(self, query_in: torch.Tensor, key_in: torch.Tensor, mask: torch.Tensor | None = None):
        stats, k, v = self.key_features(key_in)
        q = self.query_features(query_in, stats, mask)
        out, weights = self.attend(q, k, v)
        return self.reconstruct(out, stats), weights
