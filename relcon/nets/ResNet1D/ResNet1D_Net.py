"""ResNet1D: the RelCon encoder (RelCon paper, Sec. 3.3).

Input (batch, channels, time): 3-axis accelerometry in g at 100 Hz, 2.56 s windows (T = 256)
for pre-training; any T long enough for the stem works. Output (batch, final_channels): the
embedding, global-average (or max) pooled over time.

Stem conv -> BN -> ReLU -> max-pool, then pre-activation residual blocks
(BN -> ReLU -> conv, twice; ``padding="same"``) with a 1x1 projection on the skip path only
where the channel count or stride changes.
"""
from __future__ import annotations

import warnings

import torch
from torch import nn

# padding="same" with the even kernels of the reference config makes PyTorch pad a copy of the
# input (1 left / 2 right), which is the intended behaviour; its warning is noise here.
warnings.filterwarnings("ignore", message="Using padding='same' with even kernel lengths", category=UserWarning)

POOLS = ("avg", "max")


class ResBlock(nn.Module):
    """Pre-activation basic block; keys bn1, conv1, bn2, conv2 (+ projection_conv)."""

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
        out = self.conv1(self.relu1(self.bn1(x)))
        out = self.conv2(self.relu2(self.bn2(out)))
        return out + self.projection_conv(x)


class Net(nn.Module):
    """ResNet1D encoder with the reference's constructor and state_dict keys.

    Args:
        finalpool: ``"avg"`` or ``"max"`` pooling over time.
        init_conv: dict(in_channels, base_filters, kernel_size, stride, padding) of the stem.
        init_maxpool: dict(kernel_size, stride).
        blocks: list of dict(n, in_channels, base_filters, kernel_size, stride): ``n`` blocks,
            the first taking ``in_channels``, the rest ``base_filters``.
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

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 3 or x.shape[1] != self.in_channels:
            raise ValueError(f"ResNet1D expects (batch, {self.in_channels}, time); got {tuple(x.shape)}")
        out = self.first_block_maxpool(self.first_block_relu(self.first_block_bn(self.first_block_conv(x))))
        for block in self.basicblock_list:
            out = block(out)
        # (B, C, T') -> (B, C)
        return out.mean(dim=-1) if self.finalpool == "avg" else out.amax(dim=-1)
