"""Cadence (steps/min) of a window of accelerometry: the reference label of the gait benchmark.

Algorithm (autocorrelation of the acceleration magnitude, one window at a time):

1. Magnitude ``|a(t)|`` of the three axes (independent of how the sensor is oriented),
   band-passed 0.25-5 Hz (Butterworth, zero phase): removes gravity and drift, keeps the stride
   and step rhythm (at most 2.1 and 4.2 Hz at 250 steps/min) and smooths impacts, whose exact
   timing jitters from stride to stride.
2. If its standard deviation is below ``min_std_g`` the window is still: no steps (NaN).
3. Normalised (biased) autocorrelation ``r(lag)``. The signal repeats with a period ``P`` that
   depends on where the sensor is (``placement``):

   * **ankle** (the benchmark's reference): the sensor sees one foot, so ``P`` is a stride of
     that foot (its heel strike, push-off and swing; the other foot's heel strike is a weak echo
     half a stride later). Cadence counts the steps of both feet: ``2 * 60 / P``.
   * **wrist**: ``P`` is one step (the body's vertical bounce), ``60 / P``; see step 5.

   The lags searched are the periods of cadences in ``[min_spm, max_spm]``.
4. Among the local maxima of ``r`` in that range, the smallest lag reaching ``REL_PEAK`` (0.8) of
   the highest is the period (its multiples correlate about as well, slightly less in a biased
   estimate). If the highest peak is below ``min_regularity`` the window has no regular gait: NaN.
5. Wrist only: the arm swings once per stride and can outweigh the step in the magnitude, so the
   period found may be a stride. It is taken as a stride (and half of it as the step) when the
   half lag is not anti-correlated in the magnitude and the axes together (half a *step* is: the
   body is at the opposite phase of its bounce) and the three axes, where the swing moves gravity
   between axes, do not repeat better at twice the lag.
6. Refinement: the peaks near ``k * P`` for every k that fits in half the window are located with
   parabolic interpolation, and ``P`` is their least-squares slope through the origin (sub-sample
   precision: one sample at 100 Hz is 1.5 % of a 0.67 s stride). A cadence outside
   ``[min_spm, max_spm]`` is NaN.

Assumptions: accelerations in g (only ``min_std_g`` depends on the unit), a uniform sampling rate
(100 Hz for PAMAP2), finite values (fill short gaps before calling), a window holding at least two
periods of the slowest cadence searched (6 s for an ankle at 40 steps/min); the window is one
continuous activity with a roughly constant cadence (the estimate is the window's mean rate).

Checked in ``tests/test_gait.py``: the ankle path on a synthetic one-ankle signal (heel strike,
push-off, swing, the other foot's echo) at 60-180 steps/min, the wrist path on the synthetic wrist
generator (``relcon.data.synthetic.simulate_gait_recording``); neither on real recordings.
"""
from __future__ import annotations

import numpy as np
from scipy.signal import butter, find_peaks, sosfiltfilt

# Fundamental periods per step: one ankle sees its own foot once per stride (two steps).
STEPS_PER_PERIOD = {"ankle": 2, "wrist": 1}
# The period is the smallest-lag autocorrelation peak reaching this fraction of the highest.
REL_PEAK = 0.8
# Wrist: half the magnitude's period is a step only if the magnitude's and the axes'
# autocorrelations there sum to more than this. On the synthetic wrist generator (60-180
# steps/min, all gait activities) the sum is >= -0.03 at a step and nearly always <= -0.3 at half
# a step.
WRIST_HALF_LAG_MIN = -0.15
BAND_HZ = (0.25, 5.0)


def _magnitude_bandpassed(acc: np.ndarray, fs: float) -> np.ndarray:
    """(T, C) or (T,) acceleration -> (T,) band-passed magnitude."""
    mag = np.linalg.norm(acc, axis=1) if acc.ndim == 2 else np.abs(acc)  # (T,)
    return _bandpass(mag, fs)


def _autocorrelation(x: np.ndarray) -> np.ndarray:
    """Biased autocorrelation normalised to r[0] = 1, lags 0 .. T - 1; a (T, C) input gives the
    autocorrelation of the C channels together (their autocovariances summed)."""
    x = x.reshape(len(x), -1)
    n = len(x)
    spec = np.fft.rfft(x - x.mean(axis=0), 2 * n, axis=0)
    r = np.fft.irfft((spec * np.conj(spec)).real.sum(axis=1), 2 * n)[:n]
    return r / r[0]


def _bandpass(x: np.ndarray, fs: float) -> np.ndarray:
    lo, hi = BAND_HZ
    sos = butter(2, [lo, min(hi, 0.45 * fs)], btype="bandpass", fs=fs, output="sos")
    return sosfiltfilt(sos, x - x.mean(axis=0), axis=0)


def _is_stride(acc: np.ndarray, r: np.ndarray, lag: int, fs: float) -> bool:
    """Wrist: does ``lag`` (the magnitude's period) span a stride (two steps) rather than one step?

    The arm swings once per stride and can outweigh the step in the magnitude. Half the lag is then
    a step, where the signal correlates positively, whereas half a step is anti-correlated (the body
    is at the opposite phase of its bounce). The three axes, where the swing moves gravity between
    axes, break the tie: they must not repeat better at twice the lag (which would be the stride).
    """
    axes = _bandpass(acc, fs)  # (T, 3)
    rv = _autocorrelation(axes)  # (T,) over the three axes together
    half = int(round(lag / 2))
    if r[half] + rv[half] <= WRIST_HALF_LAG_MIN:
        return False
    return 2 * lag >= len(rv) or rv[2 * lag] < rv[lag]


def _parabolic_peak(r: np.ndarray, i: int) -> float:
    """Sub-sample position of the maximum around index ``i``."""
    if i <= 0 or i >= len(r) - 1:
        return float(i)
    a, b, c = r[i - 1], r[i], r[i + 1]
    denom = a - 2 * b + c
    return float(i) if denom >= 0 else i + 0.5 * (a - c) / denom


def cadence_spm(acc, fs: float = 100.0, placement: str = "ankle", *, min_spm: float = 40.0,
                max_spm: float = 250.0, min_std_g: float = 0.02, min_regularity: float = 0.3) -> float:
    """Cadence of one window in steps/min (both feet), NaN when no steps are detected.

    Args:
        acc: (T, 3) acceleration in g, finite, sampled at ``fs`` Hz (the ankle also accepts the
            (T,) magnitude).
        fs: sampling rate in Hz.
        placement: "ankle" (one foot: the signal repeats every stride) or "wrist" (it repeats
            every step, possibly with an arm swing every stride).
        min_spm, max_spm: cadences searched.
        min_std_g: below this band-passed magnitude std (g) the window counts as still.
        min_regularity: lowest autocorrelation peak accepted as a gait rhythm.
    """
    if placement not in STEPS_PER_PERIOD:
        raise ValueError(f"placement={placement!r}: expected one of {tuple(STEPS_PER_PERIOD)}")
    acc = np.asarray(acc, dtype=np.float64)
    if acc.ndim not in (1, 2) or len(acc) == 0 or (placement == "wrist" and acc.ndim != 2):
        raise ValueError(f"acc: shape {acc.shape}; expected (T, 3)" + (" or (T,)" if placement == "ankle" else ""))
    if not np.isfinite(acc).all():
        raise ValueError(f"acc: {int((~np.isfinite(acc)).sum())} non-finite values; fill gaps before detecting steps")
    if not 0 < min_spm < max_spm:
        raise ValueError(f"cadence range ({min_spm}, {max_spm}) steps/min: expected 0 < min_spm < max_spm")
    steps = STEPS_PER_PERIOD[placement]
    lag_lo = int(np.floor(steps * 60.0 * fs / max_spm))
    lag_hi = int(np.ceil(steps * 60.0 * fs / min_spm))
    if len(acc) < 2 * lag_hi:
        raise ValueError(f"acc: {len(acc)} samples ({len(acc) / fs:.2f} s) cannot show two periods of "
                         f"{min_spm} steps/min at the {placement} ({2 * lag_hi / fs:.2f} s needed)")
    x = _magnitude_bandpassed(acc, fs)
    if x.std() < min_std_g:
        return float("nan")
    r = _autocorrelation(x)

    peaks, _ = find_peaks(r[:lag_hi + 2])
    peaks = peaks[(peaks >= max(lag_lo, 1)) & (peaks <= lag_hi)]
    if peaks.size == 0 or r[peaks].max() < min_regularity:
        return float("nan")
    best = int(peaks[np.argmax(r[peaks] >= REL_PEAK * r[peaks].max())])  # peaks are in lag order
    if placement == "wrist" and _is_stride(acc, r, best, fs):
        near = peaks[np.abs(peaks - best / 2) <= max(2.0, 0.1 * best / 2)]
        best = int(near[np.argmax(r[near])]) if near.size else int(round(best / 2))

    # Least-squares period from the peaks at k * P (k = 1, 2, ...) within half the window.
    period = _parabolic_peak(r, best)
    ks, lags = [1], [period]
    k = 2
    while k * period <= len(r) / 2:
        guess = k * period
        half = max(2, int(round(0.15 * period)))
        lo, hi = int(round(guess)) - half, int(round(guess)) + half + 1
        if lo < 1 or hi >= len(r):
            break
        i = lo + int(np.argmax(r[lo:hi]))
        if lo < i < hi - 1:  # a true local maximum, not the edge of the search interval
            ks.append(k)
            lags.append(_parabolic_peak(r, i))
            period = float(np.dot(ks, lags) / np.dot(ks, ks))
        k += 1
    cadence = steps * 60.0 * fs / period
    return float(cadence) if min_spm <= cadence <= max_spm else float("nan")


def window_cadences(windows, fs: float = 100.0, placement: str = "ankle", **kwargs) -> np.ndarray:
    """``cadence_spm`` of each window of a (N, T, 3) array -> (N,) float64 (NaN: no steps)."""
    windows = np.asarray(windows)
    return np.array([cadence_spm(w, fs, placement, **kwargs) for w in windows], dtype=np.float64)
