"""Dilated convolution stacks that turn a (B, C, T) sequence into (B, E, T) features.

layer0 is a partial convolution (Liu et al., 2018): near the borders, where part of the
kernel falls on zero padding, the response is rescaled by (taps in the window / taps on
real samples), so edge time steps are not attenuated. Then ``double_receptivefield`` blocks
of 1x1 bottleneck -> dilated conv (dilation 1, 2, 4, ...) -> + residual -> GELU -> instance
norm, each doubling the receptive field.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


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

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        window = self.in_channels * self.kernel_size[0]
        if mask is None:
            key = (x.shape[-1], x.device, x.dtype)
            ratio = self._ratio_cache.get(key)
            if ratio is None:
                taps = self._valid_taps(torch.ones(1, self.in_channels, x.shape[-1], device=x.device, dtype=x.dtype))
                ratio = window / (taps + 1e-8)  # (1, 1, T)
                self._ratio_cache = {key: ratio}
            update = None
        else:
            mask = mask.to(x.dtype)
            x = x * mask
            taps = self._valid_taps(mask)
            update = torch.clamp(taps, 0, 1)
            ratio = window / (taps + 1e-8) * update
        raw = super().forward(x)
        bias = self.bias.view(1, -1, 1)
        out = (raw - bias) * ratio + bias
        return out if update is None else out * update


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
        return self.instnorm(self.activation(self.dilated_conv(self.bottle(x)) + residual))


class FirstBlock(nn.Module):
    """instnorm(gelu(partial_conv(x))); key ``dilated_conv.*``."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int):
        super().__init__()
        self.dilated_conv = PartialConv1d(in_channels, out_channels, kernel_size=kernel_size,
                                          padding=(kernel_size - 1) // 2)
        self.activation = nn.GELU()
        self.instnorm = nn.InstanceNorm1d(out_channels, track_running_stats=False)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.instnorm(self.activation(self.dilated_conv(x, mask)))


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
