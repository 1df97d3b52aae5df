"""The fused path of ``CrossAttn_Net.Net.attend`` on its sparsemax branch: same parameters, same
function, about half the time on CPU.

``Net.attend`` takes this path while ``net.fused`` is true (the default) and the inputs are plain
float32 (no autocast); the readable code in ``attend`` is the reference it is tested against
(``tests/test_crossattn_fused.py``). It computes, for q (B, T, E), k, v (B, S, E):

    weights = dropout(sparsemax(q k^T / sqrt(E)))      (B, T, S), dropout in training mode only
    out     = out_proj(weights v) = weights (v W^T) + b  (B, T, Cq)

Where the time goes back:
  * ``out_proj`` is linear, so it is applied to the values first (v W^T, width Cq = 3 instead of
    E): the (T x S) x (S x E) product of the forward pass and both of its products in the
    backward pass become (T x S) x (S x 3) ones.
  * The (B, T, S) maps (16 MB each at B = 64, T = S = 256) are computed ``chunk`` sequences at a
    time (2 MB: cache-sized, and below the allocator's mmap threshold, so they are not page-faulted
    in afresh for every temporary), and sparsemax, dropout and their backward passes run in place
    on them: two (B, T, S) tensors (the returned weights and, in training, the dropout mask) are
    allocated per call instead of about a dozen.
  * The products use the memory layouts in which MKL is fastest (the narrow Cq-wide operands as
    (Cq, S) rows).
Dropout draws its mask exactly as ``F.dropout`` does on CPU (one ``bernoulli_(1 - p)`` over the
whole map, then a division by 1 - p), so with the same generator state both paths drop the same
weights. Results agree up to float32 summation order (the folded ``out_proj``).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from relcon.nets.CrossAttn.utils.sparsemax import sparsemax_inplace_

# Elements of one chunk's (chunk, T, S) score map on CPU: 2 MB of float32 (8 sequences at
# T = S = 256). On other devices the whole batch is one chunk (fewer kernel launches).
CPU_CHUNK_ELEMENTS = 1 << 19


def applies(q: torch.Tensor) -> bool:
    """Whether the fused path computes what ``attend``'s sparsemax branch would for these inputs:
    float32 tensors outside autocast (other precisions keep the readable path)."""
    return q.dtype == torch.float32 and not torch.is_autocast_enabled(q.device.type)


def chunk_size(q: torch.Tensor, keys: int) -> int:
    """Sequences per chunk for q (B, T, E) attending over ``keys`` steps."""
    if q.device.type != "cpu":
        return max(q.shape[0], 1)
    return max(CPU_CHUNK_ELEMENTS // max(q.shape[1] * keys, 1), 1)


def attend(net, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor):
    """``net.attend(q, k, v)`` on its sparsemax branch, fused: q (B, T, E), k, v (B, S, E) ->
    (out (B, T, Cq), weights (B, T, S)); dropout p = ``net.dropout`` in training mode."""
    p = float(net.dropout) if net.training else 0.0
    projected_v = F.linear(v, net.out_proj.weight).transpose(1, 2).contiguous()  # (B, Cq, S)
    out_t, weights = SparsemaxAttention.apply(q, k.transpose(1, 2), projected_v, math.sqrt(1.0 / q.shape[-1]), p,
                                              chunk_size(q, k.shape[1]))
    return out_t.transpose(1, 2) + net.out_proj.bias, weights


class SparsemaxAttention(torch.autograd.Function):
    """(q (B, T, E), k_t (B, E, S), vp_t (B, Cq, S), scale, p, chunk) -> (out_t (B, Cq, T),
    weights (B, T, S)), with weights = dropout_p(sparsemax((q * scale) k_t)) and
    out_t = vp_t weights^T. Inputs of any strides.

    Saved for backward: the scaled q (contiguous), k_t, vp_t, the weights, the dropout mask and
    per chunk the sparsemax output (as the readable composition saves them).
    """

    @staticmethod
    def forward(ctx, q, k_t, vp_t, scale, p, chunk):
        bs, length, _ = q.shape
        q = torch.mul(q, scale, out=q.new_empty(q.shape))  # contiguous (B, T, E): the faster product
        keys = k_t.shape[2]
        weights = q.new_empty(bs, length, keys)
        out_t = q.new_empty(bs, vp_t.shape[1], length)
        probs = []
        mask, rescale = None, 1.0
        if p > 0:
            # F.dropout's draws: one bernoulli_(1 - p) over the whole (B, T, S) map (drawn in one
            # call because on some CPUs each call seeds its own parallel stream). F.dropout then
            # multiplies by mask / (1 - p), i.e. by 0 or by this float (the same division):
            # multiplying by the mask, then by it, gives the same products.
            mask = q.new_empty(bs, length, keys).bernoulli_(1 - p)
            rescale = q.new_ones(1).div_(1 - p).item()
        for start in range(0, bs, chunk):
            b = slice(start, start + chunk)
            prob = sparsemax_inplace_(torch.bmm(q[b], k_t[b]))  # (c, T, S)
            if mask is not None:
                torch.mul(prob, mask[b], out=weights[b]).mul_(rescale)
            else:
                weights[b].copy_(prob)
            probs.append(prob)
            torch.bmm(vp_t[b], weights[b].transpose(1, 2), out=out_t[b])
        ctx.save_for_backward(q, k_t, vp_t, weights, mask)
        ctx.probs, ctx.rescale, ctx.chunk, ctx.scale = probs, rescale, chunk, scale
        ctx.set_materialize_grads(False)
        return out_t, weights

    @staticmethod
    def backward(ctx, grad_out_t, grad_weights):
        q, k_t, vp_t, weights, mask = ctx.saved_tensors
        probs, chunk = ctx.probs, ctx.chunk
        grad_q = torch.empty_like(q) if ctx.needs_input_grad[0] else None
        grad_k_t = torch.empty_like(k_t) if ctx.needs_input_grad[1] else None
        grad_vp_t = torch.empty_like(vp_t) if ctx.needs_input_grad[2] and grad_out_t is not None else None
        for i, start in enumerate(range(0, q.shape[0], chunk)):
            b = slice(start, start + chunk)
            # Gradient with respect to the (dropped) weights: (c, T, S).
            if grad_out_t is not None:
                if grad_vp_t is not None:
                    torch.bmm(grad_out_t[b], weights[b], out=grad_vp_t[b])
                grad = torch.bmm(grad_out_t[b].transpose(1, 2), vp_t[b])
                if grad_weights is not None:
                    grad.add_(grad_weights[b])
            elif grad_weights is not None:
                grad = grad_weights[b].clone()
            else:
                grad = torch.zeros_like(probs[i])
            if mask is not None:
                grad.mul_(mask[b]).mul_(ctx.rescale)
            # Sparsemax's Jacobian-vector product in place, the operations of
            # SparsemaxFunction.backward: s * (g - sum(g * s) / |S|), s = 1[prob > 0] as 0/1 floats
            # (counting a boolean mask would first widen it to int64).
            support = torch.sign(probs[i])
            grad.mul_(support)
            grad.sub_(grad.sum(dim=-1, keepdim=True) / support.sum(dim=-1, keepdim=True)).mul_(support)
            if grad_q is not None:
                torch.bmm(grad, k_t[b].transpose(1, 2), out=grad_q[b])
            if grad_k_t is not None:
                torch.bmm(q[b].transpose(1, 2), grad, out=grad_k_t[b])
        if grad_q is not None:
            grad_q.mul_(ctx.scale)  # through q * scale, as autograd would
        return grad_q, grad_k_t, grad_vp_t, None, None, None
