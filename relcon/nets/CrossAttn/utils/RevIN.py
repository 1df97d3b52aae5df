"""Reversible instance normalisation (Kim et al., ICLR 2022), with the statistics passed in.

The learned distance normalises *both* the anchor and the candidate with the candidate's
per-channel mean and standard deviation, and undoes that normalisation on the reconstruction.
Keeping the statistics out of the module (instead of stored on it between calls) lets one
candidate's statistics be reused for many anchors.

Precision: the statistics, the normalisation and the de-normalisation are computed in float32
also under ``torch.autocast`` (inputs cast to float32, ``upcast``, autocast off): a bfloat16 mean of
gravity-dominated channels (~1 g) would be off by up to 0.004 g, the size of the small
movements the distance compares, and de-normalising a bfloat16 reconstruction in bfloat16
would add that error to every sample.
"""
from __future__ import annotations

import torch
from torch import nn

from relcon.utils.precision import in_float32


class RevIN(nn.Module):
    def __init__(self, num_features: int, eps: float = 1e-5, affine: bool = True):
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.affine = affine
        if affine:
            self.affine_weight = nn.Parameter(torch.ones(num_features))
            self.affine_bias = nn.Parameter(torch.zeros(num_features))

    @in_float32
    def statistics(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-sequence, per-channel mean and std of x (B, T, C) -> two (B, 1, C) float32 tensors."""
        mean = x.mean(dim=1, keepdim=True).detach()
        std = torch.sqrt(x.var(dim=1, keepdim=True, unbiased=False) + self.eps).detach()
        return mean, std

    @in_float32
    def normalize(self, x: torch.Tensor, stats) -> torch.Tensor:
        """(x - mean) / std (then the affine map), in float32."""
        mean, std = stats
        x = (x - mean) / std
        if self.affine:
            x = x * self.affine_weight + self.affine_bias
        return x

    @in_float32
    def denormalize(self, x: torch.Tensor, stats) -> torch.Tensor:
        """The inverse of ``normalize`` with the same statistics, in float32."""
        mean, std = stats
        if self.affine:
            x = (x - self.affine_bias) / (self.affine_weight + self.eps * self.eps)
        return x * std + mean
