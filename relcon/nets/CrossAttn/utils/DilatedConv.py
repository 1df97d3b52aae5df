"""Dilated convolution stacks that turn a (B, C, T) sequence into (B, E, T) features.

layer0 is a partial convolution (Liu et al., 2018): near the borders, where part of the
kernel falls on zero padding, the response is rescaled by (taps in the window / taps on
real samples), so edge time steps are not attenuated. Then ``double_receptivefield`` blocks
of 1x1 bottleneck -> dilated conv (dilation 1, 2, 4, ...) -> + residual -> GELU -> instance
norm, each doubling the receptive field.

The instance norms are computed by ``F.group_norm`` with one channel per group: the same
statistics as ``nn.InstanceNorm1d`` (no affine, no running stats), through a CPU kernel that is
3x faster forward and 2.6x faster forward+backward at these shapes. (A channels-last 2-D layout
was tried too: its faster convolutions are outweighed by a 10x slower group norm on CPU.)
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def pointwise_conv(conv: nn.Conv1d, x: torch.Tensor) -> torch.Tensor:
    """``conv(x)`` for a 1x1 conv and x (B, C_in, T), as a batched matrix product: 4x faster than
    oneDNN's 1x1 convolution at these shapes, forward and backward."""
    weight = conv.weight[:, :, 0].expand(x.shape[0], -1, -1)  # (B, C_out, C_in)
    if conv.bias is None:
        return torch.bmm(weight, x)
    return torch.baddbmm(conv.bias[:, None], weight, x)


def instance_norm(x: torch.Tensor, norm: nn.InstanceNorm1d) -> torch.Tensor:
    """``norm(x)`` for x (B, C, T), computed as a group norm with C groups."""
    assert not norm.affine and not norm.track_running_stats, "only the parameter-free instance norm is supported"
    return F.group_norm(x, x.shape[1], eps=norm.eps)


class PartialConv1d(nn.Conv1d):
    """Conv1d with partial-convolution border rescaling. Parameters: ``weight``, ``bias``."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._ratio_cache: dict = {}

    def _ones_kernel(self, x: torch.Tensor) -> torch.Tensor:
        return torch.ones(1, self.in_channels, self.kernel_size[0], device=x.device, dtype=x.dtype)

    def _valid_taps(self, mask: torch.Tensor) -> torch.Tensor:
        # Number of real (unpadded, unmasked) input values under the kernel: (B or 1, 1, T').
        return F.conv1d(mask, self._ones_kernel(mask), stride=self.stride,
                        padding=self.padding, dilation=self.dilation)

    def border_ratio(self, length: int, device, dtype) -> torch.Tensor:
        """(1, 1, T') rescaling of each output step without a mask: window / real taps."""
        key = (length, device, dtype)
        ratio = self._ratio_cache.get(key)
        if ratio is None:
            taps = self._valid_taps(torch.ones(1, self.in_channels, length, device=device, dtype=dtype))
            ratio = self.in_channels * self.kernel_size[0] / (taps + 1e-8)
            self._ratio_cache = {key: ratio}
        return ratio

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if mask is None:
            ratio = self.border_ratio(x.shape[-1], x.device, x.dtype)
            update = None
        else:
            mask = mask.to(x.dtype)
            x = x * mask
            taps = self._valid_taps(mask)
            update = torch.clamp(taps, 0, 1)
            ratio = self.in_channels * self.kernel_size[0] / (taps + 1e-8) * update
        # (conv(x) - bias) * ratio + bias, as one pass over the bias-free convolution.
        raw = F.conv1d(x, self.weight, None, self.stride, self.padding, self.dilation, self.groups)
        out = torch.addcmul(self.bias.view(1, -1, 1), raw, ratio)
        return out if update is None else out * update

    def channel_responses(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C_in, T) -> (B, C_in, C_out, T): the border-rescaled, bias-free response to each
        input channel alone, so that ``forward(x) == responses.sum(1) + bias`` (no mask).

        The layer is linear, so the response to a per-channel affine map of x, a * x + b, is
        sum_c a_c * responses(x)_c + b_c * responses(1)_c + bias: the distance stage computes
        the anchor's responses once and recombines them for each candidate's statistics.
        """
        bs, c_in, length = x.shape
        c_out, k = self.out_channels, self.kernel_size[0]
        weight = self.weight.transpose(0, 1).reshape(c_in * c_out, 1, k)  # group c: weight[:, c]
        raw = F.conv1d(x, weight, None, self.stride, self.padding, self.dilation, groups=c_in)
        return (raw * self.border_ratio(length, x.device, x.dtype)).view(bs, c_in, c_out, -1)


class DilatedConvBlock(nn.Module):
    """instnorm(gelu(conv_dilated(bottle(x)) + x)); keys ``bottle.*`` and ``dilated_conv.*``."""

    def __init__(self, channels: int, bottleneck: int, kernel_size: int, dilation: int, stride: int = 1):
        super().__init__()
        self.stride = stride
        self.bottle = nn.Conv1d(channels, bottleneck, kernel_size=1)
        self.dilated_conv = nn.Conv1d(bottleneck, channels, kernel_size=kernel_size, dilation=dilation,
                                      stride=stride, padding=(kernel_size - 1) // 2 * dilation)
        self.activation = nn.GELU()
        self.instnorm = nn.InstanceNorm1d(channels, track_running_stats=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = x if self.stride == 1 else x[:, :, :: self.stride]
        return instance_norm(self.activation(self.dilated_conv(pointwise_conv(self.bottle, x)) + residual),
                             self.instnorm)


class FirstBlock(nn.Module):
    """instnorm(gelu(partial_conv(x))); key ``dilated_conv.*``."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int):
        super().__init__()
        self.dilated_conv = PartialConv1d(in_channels, out_channels, kernel_size=kernel_size,
                                          padding=(kernel_size - 1) // 2)
        self.activation = nn.GELU()
        self.instnorm = nn.InstanceNorm1d(out_channels, track_running_stats=False)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.finish(self.dilated_conv(x, mask))

    def finish(self, conv_out: torch.Tensor) -> torch.Tensor:
        """Everything after the convolution: instnorm(gelu(.))."""
        return instance_norm(self.activation(conv_out), self.instnorm)


class DilatedConvNet(nn.Module):
    """(B, C_in, T) -> (B, E, T // stride). Keys ``layer0.*`` and ``layers.{i}.*``."""

    def __init__(self, in_channel: int, out_channel: int, bottleneck: int, kernel_size: int = 15,
                 double_receptivefield: int = 5, stride: int = 1):
        super().__init__()
        self.layer0 = FirstBlock(in_channel, out_channel, kernel_size)
        self.layers = nn.Sequential(*[
            DilatedConvBlock(out_channel, bottleneck, kernel_size, dilation=2 ** i,
                             stride=stride if i == double_receptivefield - 1 else 1)
            for i in range(double_receptivefield)
        ])

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.layers(self.layer0(x, mask))
