"""Hand-crafted features of accelerometry: the "no learning at all" baseline encoder.

A parameter-free module (N, 3, T) -> (N, D) that can stand wherever a frozen encoder is probed
(``encoder_init="features"`` of an evaluation). The set is the usual one of activity
recognition from wrist accelerometry (e.g. the time- and frequency-domain statistics of
Bao & Intille 2004, Twomey et al. 2018 and the UK Biobank activity models), computed on 4
signals: the x, y, z axes and the Euclidean norm (magnitude, orientation-free):

per signal (4 x 17 = 68):
    mean, standard deviation, minimum, maximum, 10th/25th/50th/75th/90th percentiles,
    skewness, kurtosis (excess), mean absolute first difference (jerk);
    spectral (of the mean-removed signal, one-sided power spectrum): relative power in 4
    equal-width bins from 0 to the Nyquist frequency, and the spectral entropy;
between axes (3): Pearson correlation of (x, y), (x, z), (y, z).

D = 71. Frequencies are relative to the sampling rate (bin edges at 0, 1/8, 1/4, 3/8, 1/2
cycles per sample: 0-12.5-25-37.5-50 Hz at 100 Hz), so the features need no sampling rate.
"""
from __future__ import annotations

import torch

PERCENTILES = (0.10, 0.25, 0.50, 0.75, 0.90)
SPECTRAL_BINS = 4
EPS = 1e-8


def _per_signal(s: torch.Tensor) -> torch.Tensor:
    """(N, S, T) -> (N, S, 17)."""
    mean = s.mean(dim=-1, keepdim=True)
    centred = s - mean
    std = centred.square().mean(dim=-1, keepdim=True).sqrt()
    z = centred / (std + EPS)
    skew = z.pow(3).mean(dim=-1, keepdim=True)
    kurt = z.pow(4).mean(dim=-1, keepdim=True) - 3.0
    q = torch.quantile(s, torch.tensor(PERCENTILES, dtype=s.dtype, device=s.device), dim=-1)  # (5, N, S)
    jerk = s.diff(dim=-1).abs().mean(dim=-1, keepdim=True)
    power = torch.fft.rfft(centred, dim=-1).abs().square()[..., 1:]  # (N, S, F), the DC term is 0
    total = power.sum(dim=-1, keepdim=True) + EPS
    edges = torch.linspace(0, power.shape[-1], SPECTRAL_BINS + 1).round().long().tolist()
    bins = torch.stack([power[..., a:b].sum(dim=-1) for a, b in zip(edges[:-1], edges[1:])], dim=-1) / total
    prob = power / total
    entropy = -(prob * torch.log(prob + EPS)).sum(dim=-1, keepdim=True)
    return torch.cat([mean, std, s.amin(dim=-1, keepdim=True), s.amax(dim=-1, keepdim=True),
                      q.permute(1, 2, 0), skew, kurt, jerk, bins, entropy], dim=-1)


class Net(torch.nn.Module):
    """(N, 3, T) accelerometry, channels first -> (N, 71) features. No parameters."""

    def __init__(self, in_channels: int = 3):
        super().__init__()
        if in_channels != 3:
            raise ValueError(f"Features net: in_channels={in_channels}; expected 3 (x, y, z accelerometry)")
        self.in_channels = in_channels
        self.embed_dim = 4 * (12 + SPECTRAL_BINS + 1) + 3

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 3 or x.shape[1] != 3:
            raise ValueError(f"Features net: input {tuple(x.shape)}; expected (N, 3, T)")
        x = x.float()
        signals = torch.cat([x, x.norm(dim=1, keepdim=True)], dim=1)  # (N, 4, T): x, y, z, |a|
        per = _per_signal(signals).flatten(1)  # (N, 68)
        c = x - x.mean(dim=-1, keepdim=True)
        c = c / (c.square().sum(dim=-1, keepdim=True).sqrt() + EPS)
        corr = torch.stack([(c[:, 0] * c[:, 1]).sum(-1), (c[:, 0] * c[:, 2]).sum(-1), (c[:, 1] * c[:, 2]).sum(-1)],
                           dim=1)  # (N, 3)
        return torch.cat([per, corr], dim=1)
