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
from relcon.nets.CrossAttn.utils.sparsemax import sparsemax, sparsemax_inplace_

ATTENTIONS = ("sparsemax", "softmax")
# Pairs per step of ``pair_distances``: each holds a T x S score map (256 KB at T = S = 256). On
# CPU 16 pairs keep the working set in cache (larger chunks only add memory traffic); on a GPU
# larger steps mean fewer kernel launches (4096 pairs: about 1 GB of score maps).
DEFAULT_PAIR_CHUNK = 16
DEFAULT_PAIR_CHUNK_GPU = 4096


def default_pair_chunk(device) -> int:
    return DEFAULT_PAIR_CHUNK if torch.device(device).type == "cpu" else DEFAULT_PAIR_CHUNK_GPU

# Key sequences per step of the key/value stacks in ``pair_distances``: small enough that their
# (chunk, E, T) temporaries stay in cache and in the allocator's reused memory (256 sequences
# made every elementwise op page-fault through 16 MB of fresh memory).
KEY_CHUNK = 32


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

    # The learned distance for many (query, key) pairs at once: eval mode, no gradients.
    @torch.inference_mode()
    def pair_distances(self, query_in: torch.Tensor, key_in: torch.Tensor, key_ids: torch.Tensor,
                       chunk: int | None = None) -> torch.Tensor:
        """d(query_in[a], key_in[key_ids[a, j]]) = ||forward(query, key)[0] - query||^2 -> (A, N).

        query_in (A, T, Cq), key_in (S, T, Ck), key_ids (A, N) int64. Same numbers as ``forward``
        in eval mode up to float32 rounding, computed with less work:
          * the key/value stacks run once per key sequence, not once per pair;
          * ``out_proj`` is linear, so it is applied to the values once per key (v W^T, width
            Cq instead of E) rather than to every pair's attention output;
          * the first query layer is linear in the RevIN-normalised query, a per-channel affine
            map of the query whose coefficients come from the key's statistics: its response
            to each query channel is computed once per query and recombined per pair;
          * pairs are processed ``chunk`` at a time (``None``: ``default_pair_chunk``): pairs of
            one query while chunk < N, else chunk // N whole queries; sparsemax is found without
            sorting and written over the score maps (``sparsemax_inplace_``).
        """
        assert not self.training, "pair_distances computes the eval-mode distance; call .eval() first"
        n_queries, length, _ = query_in.shape
        n_pairs = key_ids.shape[1]
        chunk = default_pair_chunk(query_in.device) if chunk is None else int(chunk)
        key_chunk = KEY_CHUNK if query_in.device.type == "cpu" else max(chunk, KEY_CHUNK)
        scale = math.sqrt(1.0 / self.embed_dim)
        means, stds, keys, values = [], [], [], []
        for start in range(0, len(key_in), key_chunk):
            (mean, std), k, v = self.key_features(key_in[start:start + key_chunk])
            means.append(mean), stds.append(std)
            keys.append(k * scale)  # (s, S, E): the attention scale folded into the keys
            values.append(v @ self.out_proj.weight.t())  # (s, S, Cq): out_proj folded into the values
        mean, std = torch.cat(means), torch.cat(stds)  # (S, 1, C) each
        keys, values = torch.cat(keys), torch.cat(values)

        # First query layer per query channel, on the centred query (keeps the recombination free
        # of cancellation when a channel's mean is large against its spread, e.g. gravity).
        layer0 = self.q_func.layer0
        query_mean = query_in.mean(dim=1, keepdim=True)  # (A, 1, Cq)
        responses = layer0.dilated_conv.channel_responses((query_in - query_mean).transpose(1, 2))  # (A, Cq, E, T)
        ones = torch.ones(1, self.query_dimsize, length, device=query_in.device, dtype=query_in.dtype)
        constant = layer0.dilated_conv.channel_responses(ones)[0]  # (Cq, E, T)
        basis = torch.cat([responses, constant.expand(n_queries, -1, -1, -1)], dim=1).flatten(2)  # (A, 2Cq, E*T)
        gain, shift = self.revin.affine_weight, self.revin.affine_bias
        if not self.revin.affine:
            gain, shift = torch.ones_like(mean[0, 0]), torch.zeros_like(mean[0, 0])
        conv_bias = layer0.dilated_conv.bias.view(1, -1, 1)

        use_sparsemax = self.uses_sparsemax()
        out = torch.empty(key_ids.shape, device=query_in.device, dtype=query_in.dtype)
        per_step = max(chunk // n_pairs, 1)  # queries per step
        pair_step = n_pairs if chunk >= n_pairs else chunk  # pairs of each of them per step
        for a0 in range(0, n_queries, per_step):
            a = slice(a0, a0 + per_step)
            for j0 in range(0, n_pairs, pair_step):
                c = key_ids[a, j0:j0 + pair_step]  # (Q, P) key ids
                n_q, n_p = c.shape
                stats = (mean[c.flatten()], std[c.flatten()])  # (Q*P, 1, C) each
                # RevIN(x) = (x - m) / s * g + h = alpha * (x - mean_x) + beta, per channel.
                alpha = gain / std[c, 0]  # (Q, P, Cq)
                beta = (query_mean[a] - mean[c, 0]) * alpha + shift
                h = torch.bmm(torch.cat([alpha, beta], dim=2), basis[a])  # (Q, P, E*T)
                h = layer0.finish(h.view(n_q * n_p, self.embed_dim, length) + conv_bias)
                q = self.q_func.layers(h).transpose(1, 2)  # (Q*P, T, E)
                scores = torch.bmm(q, keys[c.flatten()].transpose(1, 2))  # (Q*P, T, S)
                if use_sparsemax:
                    weights = sparsemax_inplace_(scores)
                else:
                    weights = torch.softmax(scores, dim=-1)
                attended = torch.baddbmm(self.out_proj.bias, weights, values[c.flatten()])  # (Q*P, T, Cq)
                reconstruction = self.reconstruct(attended, stats).view(n_q, n_p, length, -1)
                out[a, j0:j0 + pair_step] = torch.square(reconstruction - query_in[a, None]).sum(dim=(2, 3))
        return out
