"""The eight accelerometry augmentations used to train the learned distance.

Written from the published descriptions (Um et al., ICMI 2017, "Data augmentation of wearable
sensor data for Parkinson's disease monitoring using convolutional neural networks"; Tang et
al., 2020, "Exploring contrastive learning in human activity recognition for healthcare").
Each takes one segment x of shape (T, C) (time x channels, rotation needs C = 3) and a numpy
``Generator`` and returns a new (T, C) float array. MotifDist draws 2 distinct transforms per
sample and applies them in the drawn order.
"""
from __future__ import annotations

import numpy as np
from scipy.interpolate import CubicSpline


def jitter(x, rng, sigma: float = 0.1):
    """Additive Gaussian sensor noise."""
    return x + rng.normal(0.0, sigma, size=x.shape)


def scaling(x, rng, sigma: float = 0.25):
    """Multiply each channel by its own factor drawn around 1."""
    return x * rng.normal(1.0, sigma, size=(1, x.shape[1]))


def rotation_matrix(axis, angle: float) -> np.ndarray:
    """Rodrigues' formula: rotation by ``angle`` radians about the unit vector ``axis``."""
    axis = np.asarray(axis, dtype=np.float64)
    axis = axis / np.linalg.norm(axis)
    k = np.array([[0.0, -axis[2], axis[1]], [axis[2], 0.0, -axis[0]], [-axis[1], axis[0], 0.0]])
    return np.eye(3) + np.sin(angle) * k + (1.0 - np.cos(angle)) * (k @ k)


def rotation(x, rng):
    """Rotate the 3-axis signal about a uniformly random axis by an angle in (-pi, pi):
    the same motion seen by a device worn in another orientation."""
    if x.shape[1] != 3:
        raise ValueError(f"rotation needs 3 channels (x, y, z); got {x.shape[1]}")
    axis = rng.normal(size=3)
    while np.linalg.norm(axis) < 1e-8:  # pragma: no cover - measure-zero event
        axis = rng.normal(size=3)
    return x @ rotation_matrix(axis, rng.uniform(-np.pi, np.pi)).T


def negation(x, rng):
    """Flip the sign of every channel."""
    return -x


def time_flip(x, rng):
    """Play the segment backwards."""
    return x[::-1].copy()


def channel_shuffle(x, rng):
    """Reorder the channels with a random permutation other than the identity."""
    c = x.shape[1]
    if c < 2:
        return x.copy()
    perm = rng.permutation(c)
    while np.array_equal(perm, np.arange(c)):
        perm = rng.permutation(c)
    return x[:, perm]


def segment_permutation(x, rng, n_cuts: int = 5):
    """Cut the segment at random time points into pieces and concatenate them shuffled."""
    t = x.shape[0]
    cuts = np.sort(rng.choice(np.arange(1, t), size=min(n_cuts, t - 1), replace=False))
    pieces = np.split(x, cuts)
    order = rng.permutation(len(pieces))
    return np.concatenate([pieces[i] for i in order], axis=0)


def time_warp(x, rng, sigma: float = 0.2, n_knots: int = 4):
    """Smoothly speed up and slow down time: a random speed curve (a cubic spline through
    knots drawn around 1) is integrated into a warped time axis, and the signal is resampled
    on it. All channels share the warp, so the axes stay physically consistent."""
    t = x.shape[0]
    knots_x = np.linspace(0, t - 1, n_knots + 2)
    speed = CubicSpline(knots_x, rng.normal(1.0, sigma, size=n_knots + 2))(np.arange(t))
    speed = np.clip(speed, 1e-3, None)  # time must move forward
    warped = np.cumsum(speed)
    warped = (warped - warped[0]) / (warped[-1] - warped[0]) * (t - 1)
    grid = np.arange(t)
    return np.stack([np.interp(grid, warped, x[:, c]) for c in range(x.shape[1])], axis=1)


TRANSFORMS = (jitter, scaling, rotation, negation, time_flip, channel_shuffle, segment_permutation, time_warp)


def augment(x, rng, n_transforms: int = 2) -> np.ndarray:
    """Apply ``n_transforms`` distinct transforms drawn at random, in the drawn order.
    x (T, C) -> (T, C), same dtype."""
    out = np.asarray(x, dtype=np.float64)
    for i in rng.choice(len(TRANSFORMS), size=n_transforms, replace=False):
        out = TRANSFORMS[i](out, rng)
    return out.astype(np.asarray(x).dtype, copy=False)
