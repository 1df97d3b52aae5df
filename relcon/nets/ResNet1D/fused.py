"""The fused path of the ResNet1D encoder: same parameters, same function, less memory and time.

``Net.forward`` takes this path while ``net.fused`` is true (the default); ``Net.forward_modules``
in ``ResNet1D_Net.py`` is the plain composition of the modules, the architecture as the paper
describes it (RelCon Sec. 3.3), and the reference this path is tested against
(``tests/test_resnet1d.py``, ``benchmarks/gpu_checks.py``). Results agree up to float32 rounding.

Input (batch, channels, time): accelerometry in g at 100 Hz, 256 samples = 2.56 s in
pre-training. Where the speed comes from:
  * Each BN -> ReLU -> conv of a block is one autograd step (``BNReLUConv``) that keeps only
    its input and the batch statistics for the backward pass and recomputes the normalised,
    rectified input of the convolution there (two elementwise passes), instead of keeping the
    ReLU output and a zero-padded copy of it: activation memory per block drops from about six
    feature maps to two. "same" padding of even kernels (1 left, 2 right for k = 4) is done
    inside that step, so the padded copy is never stored either. The stem's BN -> ReLU ->
    max-pool is one such step too (``BNReLUMaxPool``).
  * ``net.channels_last`` (default ``None``: on for CPU tensors) runs the convolutions as 2-D
    ones over (B, C, 1, T) tensors in channels-last memory, which oneDNN computes 1.3-1.8x
    faster than the 1-D layout on CPU.
  * On CPU the maps that live for one autograd step (the normalised map, its padded rectified
    copy, the ReLU's gradient) are written into two buffers kept on the net (``Scratch``), and
    the skip path is added in place: memory the kernel would otherwise have to zero page by
    page for every block. Forward 0.80x, whole RelCon step 0.89x on a 2-core CPU
    (BENCHMARKS.md), same peak memory, same results bit for bit.
None of this changes the module tree or the state_dict keys. Every function here takes the modules
of ``ResNet1D_Net`` and reads their parameters; it owns none.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def _same_padding(conv: nn.Conv1d) -> tuple[int, int]:
    """(left, right) zero padding of a stride-1 conv, as PyTorch's padding="same" splits it."""
    if conv.padding == "same":
        total = conv.dilation[0] * (conv.kernel_size[0] - 1)
        return total // 2, total - total // 2
    return conv.padding[0], conv.padding[0]


def _conv_args(conv: nn.Conv1d, ndim: int, dtype: torch.dtype | None = None):
    """(weight, bias, stride, dilation) of ``conv`` for inputs (B, C, T) or (B, C, 1, T), the
    weight and bias cast to ``dtype`` (autocast's precision; None = as they are). The cast is
    autograd's, so their gradients come back in the parameters' dtype, as under autocast."""
    weight, bias = conv.weight, conv.bias
    if dtype is not None:
        weight, bias = weight.to(dtype), None if bias is None else bias.to(dtype)
    if ndim == 3:
        return weight, bias, [conv.stride[0]], [conv.dilation[0]]
    return weight.unsqueeze(2), bias, [1, conv.stride[0]], [1, conv.dilation[0]]


def _bn_momentum(bn: nn.BatchNorm1d) -> float:
    """Count the batch and return the running-statistics factor, as ``nn.BatchNorm1d`` does."""
    if bn.training and bn.track_running_stats:
        bn.num_batches_tracked.add_(1)
        return 1.0 / float(bn.num_batches_tracked) if bn.momentum is None else bn.momentum
    return 0.0


def _batch_norm(bn: nn.BatchNorm1d, x: torch.Tensor) -> torch.Tensor:
    """``bn(x)`` for x (B, C, T) or (B, C, 1, T), with the module's running-statistics update."""
    momentum = _bn_momentum(bn)
    return F.batch_norm(x, bn.running_mean, bn.running_var, bn.weight, bn.bias,
                        bn.training or bn.running_mean is None, momentum, bn.eps)


class Scratch:
    """Two reusable CPU buffers for the training step's short-lived feature maps.

    Each BN -> ReLU -> conv writes the normalised map and its zero-padded, rectified copy before
    the convolution, and its backward rebuilds the padded copy and writes the ReLU's gradient:
    maps that live for one autograd step. On CPU a freshly allocated map above glibc's mmap
    threshold (``relcon/utils/memory.py``) is a new mapping whose pages the kernel zeroes on
    first write, which costs about three times the batch norm itself (a (1280, 256, 62) float32
    map: 34 ms into fresh memory, 9 ms into a reused buffer). These maps are written into two
    buffers kept on the net instead, grown to the largest request: 166 MB for the reference
    encoder at batch 64 with 20 candidates, about what one block's backward allocated anyway,
    so the step's peak memory does not rise.

    A slot's contents are valid until the next ``take`` of that slot; the fused steps below take
    a slot, use it and are done with it before the next step runs (nothing taken from a slot is
    saved for backward or returned). One training step at a time per net (the module's own
    forward is not re-entrant either). GPU tensors bypass it: the CUDA caching allocator already
    reuses memory. Not saved with the net, and a copy of the net starts with empty buffers.
    """

    SLOTS = ("normalised", "padded")

    def __init__(self):
        self.buffers: dict = {}

    def take(self, slot: str, shape, like: torch.Tensor) -> torch.Tensor:
        """An uninitialised tensor of ``shape`` with ``like``'s dtype, device and memory layout
        (channels-last or contiguous), backed by buffer ``slot`` on CPU; a new tensor elsewhere."""
        channels_last = len(shape) == 4 and like.ndim == 4 and like.is_contiguous(memory_format=torch.channels_last)
        fmt = torch.channels_last if channels_last else torch.contiguous_format
        if like.device.type != "cpu":
            return torch.empty(shape, device=like.device, dtype=like.dtype, memory_format=fmt)
        numel = math.prod(shape)
        key = (slot, like.dtype)
        buffer = self.buffers.get(key)
        if buffer is None or buffer.numel() < numel:
            self.buffers.pop(key, None)  # free the smaller one first
            buffer = self.buffers[key] = torch.empty(numel, dtype=like.dtype)
        flat = buffer[:numel]
        if channels_last:  # (N, C, H, W) stored as (N, H, W, C)
            n, c, h, w = shape
            return flat.view(n, h, w, c).permute(0, 3, 1, 2)
        return flat.view(shape)

    def release(self, slot: str) -> None:
        """Free ``slot``'s buffers (the next ``take`` allocates afresh)."""
        for key in [key for key in self.buffers if key[0] == slot]:
            del self.buffers[key]

    def __deepcopy__(self, memo):
        return Scratch()

    def __getstate__(self):
        return {"buffers": {}}


def scratch_of(net) -> Scratch:
    """``net``'s scratch buffers (created on first use; an attribute, not a buffer: no state_dict key)."""
    scratch = net.__dict__.get("_fused_scratch")
    if scratch is None:
        scratch = net.__dict__["_fused_scratch"] = Scratch()
    return scratch


def _padded(like: torch.Tensor, pad: tuple[int, int], scratch: Scratch) -> tuple[torch.Tensor, torch.Tensor]:
    """A buffer shaped like ``like`` with ``pad`` zero columns added on the time axis (same memory
    layout), and the view of its interior, uninitialised: writing into the view replaces
    ``F.pad``'s zero-fill and copy of the whole map."""
    left, right = pad
    buffer = scratch.take("padded", (*like.shape[:-1], like.shape[-1] + left + right), like)
    buffer[..., :left].zero_()
    buffer[..., buffer.shape[-1] - right:].zero_()
    return buffer, buffer[..., left:left + like.shape[-1]]


def _native_batch_norm(x, weight, bias, running_mean, running_var, momentum, eps, scratch):
    """Training-mode ``native_batch_norm`` (output, batch mean, inverse std) with the output in
    the "normalised" scratch slot (fresh memory costs more than the normalisation, see ``Scratch``)."""
    if x.device.type != "cpu":
        return torch.ops.aten.native_batch_norm(x, weight, bias, running_mean, running_var, True, momentum, eps)
    channels = x.shape[1]
    # batch statistics in the parameters' dtype (float32 for a bfloat16 map, as the kernel returns them)
    stat_dtype = weight.dtype if weight is not None else torch.promote_types(x.dtype, torch.float32)
    save_mean, save_invstd = x.new_empty(channels, dtype=stat_dtype), x.new_empty(channels, dtype=stat_dtype)
    return torch.ops.aten.native_batch_norm.out(x, weight, bias, running_mean, running_var, True, momentum, eps,
                                                out=scratch.take("normalised", x.shape, x), save_mean=save_mean,
                                                save_invstd=save_invstd)


def _relu_bn_into(out, x, bn_weight, bn_bias, save_mean, save_invstd):
    """The forward's relu(bn(x)) recomputed into ``out`` from the saved batch statistics, the way
    the CPU batch-norm kernel forms it: x * a + b per channel. Returns ``out``."""
    shape = (1, -1) + (1,) * (x.ndim - 2)
    alpha = save_invstd * bn_weight
    beta = bn_bias - save_mean * alpha
    return torch.addcmul(beta.view(shape), x, alpha.view(shape), out=out).relu_()


class BNReLUConv(torch.autograd.Function):
    """conv(relu(batchnorm(x))) with zero padding, saving only x and the batch statistics."""

    @staticmethod
    def forward(ctx, x, bn_weight, bn_bias, running_mean, running_var, momentum, eps, conv_weight, conv_bias, pad,
                stride, dilation, scratch):
        # Batch statistics, as in training mode; the running statistics are updated in place.
        y, save_mean, save_invstd = _native_batch_norm(x, bn_weight, bn_bias, running_mean, running_var, momentum,
                                                       eps, scratch)
        y_padded, interior = _padded(y, pad, scratch)
        torch.clamp_min(y, 0.0, out=interior)  # relu(y) written straight into the padded input
        del y
        dims = len(stride)
        out = torch.ops.aten.convolution(y_padded, conv_weight, conv_bias, stride, [0] * dims, dilation, False,
                                         [0] * dims, 1)
        ctx.save_for_backward(x, bn_weight, bn_bias, conv_weight, save_mean, save_invstd)
        ctx.pad, ctx.stride, ctx.dilation, ctx.eps, ctx.scratch = pad, stride, dilation, eps, scratch
        ctx.has_conv_bias = conv_bias is not None
        return out

    @staticmethod
    def backward(ctx, grad_out):
        x, bn_weight, bn_bias, conv_weight, save_mean, save_invstd = ctx.saved_tensors
        y_padded, y = _padded(x, ctx.pad, ctx.scratch)
        _relu_bn_into(y, x, bn_weight, bn_bias, save_mean, save_invstd)
        dims = len(ctx.stride)
        grad_yp, grad_w, grad_b = torch.ops.aten.convolution_backward(
            grad_out, y_padded, conv_weight, [conv_weight.shape[0]] if ctx.has_conv_bias else None,
            ctx.stride, [0] * dims, ctx.dilation, False, [0] * dims, 1, [True, True, ctx.has_conv_bias])
        left, right = ctx.pad
        grad_y = torch.ops.aten.threshold_backward.grad_input(grad_yp[..., left:grad_yp.shape[-1] - right], y, 0,
                                                              grad_input=ctx.scratch.take("normalised", x.shape, x))
        del grad_yp, y, y_padded  # lowers the peak: the last block's backward sees every activation alive
        grad_x, grad_bn_w, grad_bn_b = torch.ops.aten.native_batch_norm_backward(
            grad_y, x, bn_weight, None, None, save_mean, save_invstd, True, ctx.eps, [True, True, True])
        return grad_x, grad_bn_w, grad_bn_b, None, None, None, None, grad_w, grad_b, None, None, None, None


class BNReLUMaxPool(torch.autograd.Function):
    """maxpool(relu(batchnorm(x))) over time (the stem), saving only x and the batch statistics:
    the rectified map and the pooling indices are recomputed in backward."""

    @staticmethod
    def forward(ctx, x, bn_weight, bn_bias, running_mean, running_var, momentum, eps, pool, scratch):
        y, save_mean, save_invstd = _native_batch_norm(x, bn_weight, bn_bias, running_mean, running_var, momentum,
                                                       eps, scratch)
        out = _max_pool(y.relu_(), pool)[0]
        ctx.save_for_backward(x, bn_weight, bn_bias, save_mean, save_invstd)
        ctx.eps, ctx.pool, ctx.scratch = eps, pool, scratch
        return out

    @staticmethod
    def backward(ctx, grad_out):
        x, bn_weight, bn_bias, save_mean, save_invstd = ctx.saved_tensors
        y = _relu_bn_into(ctx.scratch.take("normalised", x.shape, x), x, bn_weight, bn_bias, save_mean, save_invstd)
        _, indices = _max_pool(y, ctx.pool)
        grad_y = _max_pool_backward(grad_out, y, indices, ctx.pool)
        torch.ops.aten.threshold_backward.grad_input(grad_y, y, 0, grad_input=grad_y)  # in place
        del y, indices
        grad_x, grad_bn_w, grad_bn_b = torch.ops.aten.native_batch_norm_backward(
            grad_y, x, bn_weight, None, None, save_mean, save_invstd, True, ctx.eps, [True, True, True])
        return grad_x, grad_bn_w, grad_bn_b, None, None, None, None, None, None


def _max_pool(y: torch.Tensor, pool: nn.MaxPool1d):
    """(max-pooled over time, indices) for y (B, C, T) or (B, C, 1, T)."""
    y4 = y if y.ndim == 4 else y.unsqueeze(2)
    out, indices = torch.ops.aten.max_pool2d_with_indices(y4, [1, pool.kernel_size], [1, pool.stride],
                                                          [0, pool.padding], [1, pool.dilation], pool.ceil_mode)
    return (out, indices) if y.ndim == 4 else (out.squeeze(2), indices)


def _max_pool_backward(grad_out: torch.Tensor, y: torch.Tensor, indices: torch.Tensor, pool: nn.MaxPool1d):
    grad4 = grad_out if y.ndim == 4 else grad_out.unsqueeze(2)
    y4 = y if y.ndim == 4 else y.unsqueeze(2)
    grad = torch.ops.aten.max_pool2d_with_indices_backward(grad4, y4, [1, pool.kernel_size], [1, pool.stride],
                                                           [0, pool.padding], [1, pool.dilation], pool.ceil_mode,
                                                           indices)
    return grad if y.ndim == 4 else grad.squeeze(2)


def _conv(x: torch.Tensor, weight, bias, stride, dilation, pad=(0, 0)) -> torch.Tensor:
    if pad != (0, 0):
        x = F.pad(x, pad)
    dims = len(stride)
    return torch.ops.aten.convolution(x, weight, bias, stride, [0] * dims, dilation, False, [0] * dims, 1)


def bn_relu_conv(bn: nn.BatchNorm1d, conv: nn.Conv1d, x: torch.Tensor, scratch: Scratch,
                 dtype: torch.dtype | None = None) -> torch.Tensor:
    """``conv(relu(bn(x)))`` for x (B, C, T) or (B, C, 1, T); the convolution in ``dtype``."""
    weight, bias, stride, dilation = _conv_args(conv, x.ndim, dtype)
    pad = _same_padding(conv)
    if _saves_less(bn):
        return BNReLUConv.apply(x, bn.weight, bn.bias, bn.running_mean, bn.running_var, _bn_momentum(bn), bn.eps,
                                weight, bias, pad, stride, dilation, scratch)
    return _conv(_batch_norm(bn, x).relu_(), weight, bias, stride, dilation, pad)


def _saves_less(bn: nn.BatchNorm1d) -> bool:
    """Whether the memory-saving autograd step applies: training-mode statistics with a backward
    pass to come. Otherwise nothing is saved for backward and the plain ops are as cheap."""
    return bn.training and bn.track_running_stats and bn.running_mean is not None and torch.is_grad_enabled()


def use_channels_last(net, x: torch.Tensor) -> bool:
    return x.device.type == "cpu" if net.channels_last is None else bool(net.channels_last)


def res_block(block, x: torch.Tensor, scratch: Scratch, dtype: torch.dtype | None = None) -> torch.Tensor:
    """``block(x)`` (a ``ResBlock``) for x (B, C, T) or (B, C, 1, T) -> same layout."""
    out = bn_relu_conv(block.bn2, block.conv2, bn_relu_conv(block.bn1, block.conv1, x, scratch, dtype), scratch, dtype)
    # The skip path added in place: the convolution's output is fresh and saved by nobody, and
    # out + x would be one more freshly zeroed map per block (same sum, bit for bit).
    if isinstance(block.projection_conv, nn.Identity):
        return out.add_(x)
    weight, bias, stride, dilation = _conv_args(block.projection_conv, x.ndim, dtype)
    return out.add_(_conv(x, weight, bias, stride, dilation))


def autocast_dtype(x: torch.Tensor) -> torch.dtype | None:
    """The dtype autocast would run convolutions on ``x`` in (bfloat16 for precision "bf16"), or None."""
    device_type = x.device.type
    return torch.get_autocast_dtype(device_type) if torch.is_autocast_enabled(device_type) else None


def forward(net, x: torch.Tensor) -> torch.Tensor:
    """``net.forward_modules(x)`` computed the fused way: x (B, C, T) -> (B, embed_dim).

    Under ``torch.autocast`` (precision "bf16") the convolutions run in autocast's dtype and the
    batch norms take that dtype's maps with float32 parameters and statistics, as autocast runs
    ``forward_modules``: the feature maps, and so the saved activations, are bfloat16. The casts
    are explicit here, because the fused steps call ATen ops autocast does not cast."""
    dtype = autocast_dtype(x)
    if dtype is None:
        return _forward(net, x, None)
    with torch.autocast(x.device.type, enabled=False):
        return _forward(net, x.to(dtype), dtype)


def _forward(net, x: torch.Tensor, dtype: torch.dtype | None) -> torch.Tensor:
    if use_channels_last(net, x):
        x = x.unsqueeze(2).contiguous(memory_format=torch.channels_last)  # (B, C, T) -> (B, C, 1, T)
    stem, pool = net.first_block_conv, net.first_block_maxpool
    weight, bias, stride, dilation = _conv_args(stem, x.ndim, dtype)
    out = _conv(x, weight, bias, stride, dilation, _same_padding(stem))
    bn = net.first_block_bn
    scratch = scratch_of(net)
    if _saves_less(bn):
        out = BNReLUMaxPool.apply(out, bn.weight, bn.bias, bn.running_mean, bn.running_var, _bn_momentum(bn), bn.eps,
                                  pool, scratch)
    else:
        out = _max_pool(_batch_norm(bn, out).relu_(), pool)[0]
    for block in net.basicblock_list:
        out = res_block(block, out, scratch, dtype)
    # The backward pass starts with every activation alive: the step's peak. There the
    # normalised map's buffer would idle through the first convolution's backward.
    scratch.release("normalised")
    if out.ndim == 4 and out.requires_grad and out.is_contiguous(memory_format=torch.channels_last):
        out.register_hook(_channels_last_grad)
    # (B, C, T') or (B, C, 1, T') -> (B, C, T'), the layout forward_modules pools over
    return net.final_pool(out.flatten(2))


def _channels_last_grad(grad: torch.Tensor) -> torch.Tensor:
    """The pooling's gradient in the feature maps' channels-last layout. The average pool's
    backward returns it contiguous (B, C, 1, T'), and the skip paths pass it on unchanged, so
    without this every last-stage block's second convolution would get a gradient in the other
    layout and oneDNN would reorder it (7 of 11 blocks' backward, 85 MB each at 1,280 sequences);
    here it is reordered once. Same values."""
    return grad.contiguous(memory_format=torch.channels_last)
