"""The learned distance for many (anchor, candidate) pairs at once: the distance stage of RelCon.

``CrossAttn_Net.Net.pair_distances`` delegates here. It computes, for every pair, what the
readable ``Net.forward`` computes in eval mode (RelCon Sec. 3.1: d = ||X_hat_anc|cand - X_anc||^2),
reorganised so the candidate side runs once per candidate instead of once per pair.

Inputs are (batch, time, channels) accelerometry in g at 100 Hz, 256 samples = 2.56 s, the
layout ``Net.forward`` takes.
"""
from __future__ import annotations

import math

import torch

from relcon.nets.CrossAttn.utils.sparsemax import sparsemax_inplace_

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


@torch.inference_mode()
def pair_distances(net, query_in: torch.Tensor, key_in: torch.Tensor, key_ids: torch.Tensor,
                   chunk: int | None = None) -> torch.Tensor:
    """d(query_in[a], key_in[key_ids[a, j]]) = ||net(query, key)[0] - query||^2 -> (A, N), for ``net``
    a ``CrossAttn_Net.Net`` in eval mode.

    query_in (A, T, Cq), key_in (S, T, Ck), key_ids (A, N) int64. Same numbers as ``net.forward``
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
    assert not net.training, "pair_distances computes the eval-mode distance; call .eval() first"
    n_queries, length, _ = query_in.shape
    n_pairs = key_ids.shape[1]
    chunk = default_pair_chunk(query_in.device) if chunk is None else int(chunk)
    key_chunk = KEY_CHUNK if query_in.device.type == "cpu" else max(chunk, KEY_CHUNK)
    scale = math.sqrt(1.0 / net.embed_dim)
    means, stds, keys, values = [], [], [], []
    for start in range(0, len(key_in), key_chunk):
        (mean, std), k, v = net.key_features(key_in[start:start + key_chunk])
        means.append(mean), stds.append(std)
        keys.append(k * scale)  # (s, S, E): the attention scale folded into the keys
        # (s, Cq, S): out_proj folded into the values, stored as Cq rows of S (MKL's product with
        # the (T, S) weights is 4x faster with this narrow operand transposed than as (S, Cq) rows)
        values.append(torch.matmul(net.out_proj.weight, v.transpose(1, 2)))
    mean, std = torch.cat(means), torch.cat(stds)  # (S, 1, C) each
    keys, values = torch.cat(keys), torch.cat(values)

    # First query layer per query channel, on the centred query (keeps the recombination free
    # of cancellation when a channel's mean is large against its spread, e.g. gravity).
    layer0 = net.q_func.layer0
    query_mean = query_in.mean(dim=1, keepdim=True)  # (A, 1, Cq)
    responses = layer0.dilated_conv.channel_responses((query_in - query_mean).transpose(1, 2))  # (A, Cq, E, T)
    ones = torch.ones(1, net.query_dimsize, length, device=query_in.device, dtype=query_in.dtype)
    constant = layer0.dilated_conv.channel_responses(ones)[0]  # (Cq, E, T)
    basis = torch.cat([responses, constant.expand(n_queries, -1, -1, -1)], dim=1).flatten(2)  # (A, 2Cq, E*T)
    gain, shift = net.revin.affine_weight, net.revin.affine_bias
    if not net.revin.affine:
        gain, shift = torch.ones_like(mean[0, 0]), torch.zeros_like(mean[0, 0])
    conv_bias = layer0.dilated_conv.bias.view(1, -1, 1)

    use_sparsemax = net.uses_sparsemax()
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
            h = layer0.finish(h.view(n_q * n_p, net.embed_dim, length) + conv_bias)
            q = net.q_func.layers(h).transpose(1, 2)  # (Q*P, T, E)
            scores = torch.bmm(q, keys[c.flatten()].transpose(1, 2))  # (Q*P, T, S)
            if use_sparsemax:
                weights = sparsemax_inplace_(scores)
            else:
                weights = torch.softmax(scores, dim=-1)
            attended = torch.baddbmm(net.out_proj.bias, weights,
                                     values[c.flatten()].transpose(1, 2))  # (Q*P, T, Cq)
            reconstruction = net.reconstruct(attended, stats).view(n_q, n_p, length, -1)
            out[a, j0:j0 + pair_step] = torch.square(reconstruction - query_in[a, None]).sum(dim=(2, 3))
    return out
