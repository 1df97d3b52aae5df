"""ResNet1D: the RelCon encoder (RelCon paper, Sec. 3.3).

Input (batch, channels, time): 3-axis wrist accelerometry in g at 100 Hz; pre-training windows
are 256 samples = 2.56 s, and any T long enough for the stem works. Output (batch, embed_dim):
the embedding, global-average (or max) pooled over time.

    stem:   conv (stride 2) -> BN -> ReLU -> max-pool
    blocks: pre-activation residual blocks, BN -> ReLU -> conv twice (``padding="same"``), with
            a 1x1 convolution on the skip path only where the channel count changes
    head:   average (or max) over time

``Net.forward_modules`` and ``ResBlock.forward`` are that diagram in code. ``Net.forward`` runs
the same function through ``fused.py`` by default (``net.fused``): hand-written autograd steps
that keep about a third of the activation memory, and a faster CPU memory layout. Same module
tree, same state_dict keys, same results up to float32 rounding.
"""
from __future__ import annotations

import torch
from torch import nn

from relcon.nets.ResNet1D import fused, quiet_same_padding_warning

quiet_same_padding_warning()

POOLS = ("avg", "max")


class ResBlock(nn.Module):
    """Pre-activation basic block; keys bn1, conv1, bn2, conv2 (+ projection_conv).

    x (batch, in_channels, time) -> (batch, out_channels, time).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1):
        super().__init__()
        if stride != 1:
            # padding="same" is only defined for stride 1 in PyTorch (and in the reference).
            raise ValueError(f"ResNet1D block stride={stride}: only stride 1 is supported")
        self.bn1 = nn.BatchNorm1d(in_channels)
        self.relu1 = nn.ReLU()
        self.conv1 = nn.Conv1d(in_channels, out_channels, kernel_size, stride=stride, padding="same")
        self.bn2 = nn.BatchNorm1d(out_channels)
        self.relu2 = nn.ReLU()
        self.conv2 = nn.Conv1d(out_channels, out_channels, kernel_size, stride=stride, padding="same")
        if in_channels != out_channels or stride != 1:
            self.projection_conv = nn.Conv1d(in_channels, out_channels, kernel_size=1, stride=stride)
        else:
            self.projection_conv = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv2(self.relu2(self.bn2(self.conv1(self.relu1(self.bn1(x))))))
        return h + self.projection_conv(x)


class Net(nn.Module):
    """ResNet1D encoder with the reference's constructor and state_dict keys.

    x (batch, in_channels, time) in g at 100 Hz (time = 256 in pre-training) -> (batch, embed_dim).

    Args:
        finalpool: ``"avg"`` or ``"max"`` pooling over time.
        init_conv: dict(in_channels, base_filters, kernel_size, stride, padding) of the stem.
        init_maxpool: dict(kernel_size, stride).
        blocks: list of dict(n, in_channels, base_filters, kernel_size, stride): ``n`` blocks,
            the first taking ``in_channels``, the rest ``base_filters``.

    Attributes, not saved:
        fused: ``True`` (default) = ``forward`` takes the fused path of ``fused.py`` (under
            ``torch.autocast``, precision "bf16", too: it runs the convolutions in bfloat16 as
            autocast runs ``forward_modules``); ``False`` = ``forward_modules``.
        channels_last: layout of the fused path: ``None`` (default) = 2-D channels-last on CPU
            tensors; ``True``/``False`` forces it on / off (see ``fused.py``).
    """

    def __init__(self, finalpool: str, init_conv: dict, init_maxpool: dict, blocks: list):
        super().__init__()
        if finalpool not in POOLS:
            raise ValueError(f"ResNet1D finalpool={finalpool!r}: expected one of {POOLS}")
        self.finalpool = finalpool
        self.first_block_conv = nn.Conv1d(init_conv["in_channels"], init_conv["base_filters"],
                                          kernel_size=init_conv["kernel_size"], stride=init_conv["stride"],
                                          padding=init_conv.get("padding", 0))
        self.first_block_bn = nn.BatchNorm1d(init_conv["base_filters"])
        self.first_block_relu = nn.ReLU()
        self.first_block_maxpool = nn.MaxPool1d(kernel_size=init_maxpool["kernel_size"],
                                                stride=init_maxpool["stride"])
        self.basicblock_list = nn.ModuleList()
        for group in blocks:
            for i in range(group["n"]):
                self.basicblock_list.append(ResBlock(
                    in_channels=group["in_channels"] if i == 0 else group["base_filters"],
                    out_channels=group["base_filters"], kernel_size=group["kernel_size"],
                    stride=group["stride"]))
        self.in_channels = init_conv["in_channels"]
        self.embed_dim = blocks[-1]["base_filters"] if blocks else init_conv["base_filters"]
        self.fused = True
        self.channels_last: bool | None = None

    def forward_modules(self, x: torch.Tensor) -> torch.Tensor:
        """The architecture, module by module (plain autograd, every activation saved): the
        reference's computation and what the fused path is checked against."""
        out = self.first_block_maxpool(self.first_block_relu(self.first_block_bn(self.first_block_conv(x))))
        for block in self.basicblock_list:
            out = block(out)  # (B, C_in, T') -> (B, C_out, T')
        return self.final_pool(out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 3 or x.shape[1] != self.in_channels:
            raise ValueError(f"ResNet1D expects (batch, {self.in_channels}, time); got {tuple(x.shape)}")
        if self.fused:  # under autocast too: the fused path casts as autocast casts the modules
            return fused.forward(self, x)
        return self.forward_modules(x)

    def final_pool(self, out: torch.Tensor) -> torch.Tensor:
        """(B, C, T') -> (B, C)."""
        return out.mean(dim=-1) if self.finalpool == "avg" else out.amax(dim=-1)
