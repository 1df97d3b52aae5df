"""Embeddings of raw accelerometry with a trained RelCon encoder.

    import relcon
    encoder = relcon.load_encoder("demo")
    emb, t = relcon.embed(recording, encoder, fs=30, return_times=True)   # (T, 3) in g -> (N, D), (N,)

or from the command line (``relcon/embed/cli.py``)::

    python -m relcon.embed --config demo --input rec.csv --output emb.npy [--fs 30] [--hop 1.28] [--csv]

Input is 3-axis acceleration, channels last, at ``fs`` Hz, in g; other units are recognised
from the median vector magnitude and converted with a warning (``units="auto"``, the default;
``relcon/data/units.py`` has the rule and the other choices). Rates below 20 Hz (``MIN_FS`` in
``relcon/data/recordings.py``: human movement reaches ~10 Hz) are embedded with a warning.

* a recording ``(T, 3)``: resampled to 100 Hz, then cut into windows of 2.56 s (256 samples)
  starting every ``hop_s`` seconds (default 2.56 s: no overlap); a last window that would run
  past the end is dropped. A recording shorter than one window is an error.
* windows ``(N, T, 3)``: each resampled to 100 Hz and embedded whole. The encoder was
  pre-trained on 256-sample windows; it pools globally over time, so other lengths still give
  an embedding (with a warning: they are outside what it was trained on), down to the
  shortest input its stem accepts (shorter ones are an error).

Output: ``(N, D)`` float32 embeddings, and with ``return_times=True`` the start time of each
window in seconds (recordings only). Resampling uses ``scipy.signal.resample_poly`` with the
rate ratio 100/fs as a fraction whose terms are at most 10,000.

``relcon.embed`` is this module, and calling it calls :func:`embed`: ``relcon.embed(x, encoder)``
works whether or not ``import relcon.embed`` (or ``python -m relcon.embed``) ran before.
"""
from __future__ import annotations

import math
import sys
import types
import warnings

import numpy as np

from relcon.data import continuous
from relcon.data.recordings import warn_low_fs
from relcon.data.units import to_g
from relcon.nets.ResNet1D import quiet_same_padding_warning
from relcon.utils.progress import progress as progress_bar

# An exported ResNet1D runs without its Net class; see relcon/nets/ResNet1D/__init__.py.
quiet_same_padding_warning()

FS = 100  # Hz: the rate the encoder was pre-trained at
WINDOW = 256  # samples at FS: one 2.56 s window
WINDOW_S = WINDOW / FS
CHANNELS = 3
MAX_RATIO_TERM = 10_000
MAX_RATIO_TERM = continuous.MAX_RATIO_TERM

def check_fs(fs) -> float:
    try:
        value = float(fs)
    except (TypeError, ValueError):
        raise ValueError(f"fs={fs!r}: expected the sampling rate in Hz, a positive number") from None
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"fs={fs!r}: expected the sampling rate in Hz, a positive number")
    return value


def rate_ratio(fs: float) -> tuple[int, int]:
    """(up, down) with up / down = 100 / fs (``relcon.data.continuous.rate_ratio``, fs checked first)."""
    return continuous.rate_ratio(check_fs(fs))


def resample(x: np.ndarray, fs: float, axis: int) -> np.ndarray:
    """``x`` at ``fs`` Hz -> 100 Hz along ``axis`` (float64; unchanged values when fs is 100)."""
    up, down = rate_ratio(fs)
    x = np.asarray(x, dtype=np.float64)
    if up == down:
        return x
    from scipy.signal import resample_poly

    return resample_poly(x, up, down, axis=axis)


def hop_samples(hop_s) -> int:
    """Hop in samples at 100 Hz (``hop_s`` rounded to 10 ms)."""
    try:
        value = float(hop_s)
    except (TypeError, ValueError):
        raise ValueError(f"hop_s={hop_s!r}: expected a positive number of seconds") from None
    if not math.isfinite(value) or round(value * FS) < 1:
        raise ValueError(f"hop_s={hop_s!r}: expected a positive number of seconds, at least {1 / FS} s")
    return int(round(value * FS))


def window_starts(n_samples: int, hop: int) -> np.ndarray:
    """Start indices (at 100 Hz) of the complete windows of a recording of ``n_samples``."""
    if n_samples < WINDOW:
        return np.zeros(0, dtype=np.int64)
    return np.arange(0, n_samples - WINDOW + 1, hop, dtype=np.int64)


def _as_array(signals) -> np.ndarray:
    if hasattr(signals, "detach"):  # a torch tensor
        signals = signals.detach().cpu().numpy()
    array = np.asarray(signals)
    if array.dtype.kind not in "fiu":
        raise ValueError(f"signals: {array.dtype} array found; expected numbers (acceleration in g)")
    return array


def _encoder_device(encoder):
    import torch

    try:
        return next(encoder.parameters()).device
    except StopIteration:
        return torch.device("cpu")


def _set_training(encoder, mode: bool) -> None:
    try:
        encoder.train(mode)
    except NotImplementedError:  # a torch.export module: fixed in the mode it was exported in (eval)
        pass


def embed(signals, encoder, fs=FS, batch_size: int = 256, device=None, hop_s=WINDOW_S, return_times: bool = False,
          progress: bool = True, units: str = "auto", precision: str = "fp32"):
    """Embed a recording ``(T, 3)`` or windows ``(N, T, 3)`` (acceleration in g at ``fs`` Hz).

    Args:
        signals: numpy array or torch tensor, channels last.
        encoder: a trained encoder (``relcon.load_encoder``) or an exported one (``relcon.export``).
        fs: sampling rate of ``signals`` in Hz; resampled to 100 Hz when different.
        batch_size: windows per forward pass.
        device: where to run; ``None``: the encoder's device (the encoder is moved otherwise).
        hop_s: recordings only: seconds between window starts (rounded to 10 ms).
        return_times: recordings only: also return each window's start time in seconds.
        progress: show a progress bar.
        units: "auto" (recognise g, m/s² or mg from the median magnitude; convert with a warning),
            "check" (refuse anything but g, naming the factor), or "g", "m/s2", "mg" (forced).
        precision: "fp32" (default) or "bf16": the encoder's forward pass under bfloat16
            autocast (``relcon/utils/precision.py``); the embeddings are float32 either way and
            differ from fp32's by bfloat16 rounding (about 1% of their scale).

    Warns (UserWarning) when ``fs`` is below 20 Hz, and when ``units="auto"`` converted.
    Raises ``ValueError`` for bad shapes, non-finite values, ambiguous units (naming the median
    magnitude found), a recording shorter than one window, an unknown precision.
    Returns ``(N, D)`` float32 embeddings (and ``(N,)`` start times with ``return_times``).
    The encoder runs in eval mode without gradients; its previous mode is restored after.
    """
    import torch

    from relcon.utils.precision import autocast, check_precision

    check_precision(precision)
    fs = check_fs(fs)
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size={batch_size!r}: expected a positive integer")
    x = _as_array(signals)
    channels = getattr(encoder, "in_channels", CHANNELS)
    if x.ndim not in (2, 3) or x.shape[-1] != channels:
        hint = " (channels first? transpose to channels last)" if x.ndim in (2, 3) and x.shape[-2] == channels else ""
        raise ValueError(f"signals of shape {x.shape}: expected a recording (T, {channels}) or windows "
                         f"(N, T, {channels}), channels last{hint}")
    if x.size == 0:
        raise ValueError(f"signals of shape {x.shape}: no samples")
    bad = ~np.isfinite(x)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"signals: {int(bad.sum())} non-finite value(s), the first at index {where}; "
                         f"expected finite accelerations")
    x, _ = to_g(x, units, source="signals")
    warn_low_fs(fs, "signals")
    if x.ndim == 2:
        n_in = len(x)
        x = resample(x, fs, axis=0)  # (T', C) at 100 Hz
        hop = hop_samples(hop_s)
        starts = window_starts(len(x), hop)
        if len(starts) == 0:
            raise ValueError(f"recording of {n_in} samples at {fs:g} Hz ({n_in / fs:.3f} s) is shorter than one "
                             f"window of {WINDOW_S} s ({WINDOW} samples at {FS} Hz)")
        # (T'-W+1, C, W): a view, copied one batch at a time.
        windows = np.lib.stride_tricks.sliding_window_view(x, WINDOW, axis=0)[::hop]
        assert len(windows) == len(starts), "window view and start times disagree"
        times = starts / FS
    else:
        if return_times:
            raise ValueError("return_times applies to a recording (T, 3); windows (N, T, 3) have no common timeline")
        if len(x) == 0:
            raise ValueError(f"signals of shape {x.shape}: no windows")
        x = resample(x, fs, axis=1)  # (N, T', C) at 100 Hz
        if x.shape[1] != WINDOW:
            warnings.warn(f"windows of {x.shape[1]} samples at {FS} Hz ({x.shape[1] / FS:.2f} s); the encoder was "
                          f"pre-trained on {WINDOW} ({WINDOW_S} s) and pools over time, so these are embedded whole "
                          f"but are outside what it was trained on", stacklevel=2)
        windows = x.transpose(0, 2, 1)  # (N, C, T')
        times = None

    if device is not None:
        encoder.to(device)
    device = _encoder_device(encoder)
    was_training = getattr(encoder, "training", False)
    _set_training(encoder, False)
    out = []
    try:
        with torch.no_grad(), autocast(precision, device), progress_bar(total=len(windows), desc="embedding", unit="window",
                                           disable=not progress) as bar:
            for start in range(0, len(windows), batch_size):
                batch = torch.from_numpy(np.ascontiguousarray(windows[start:start + batch_size], dtype=np.float32))
                try:
                    emb = encoder(batch.to(device))  # (B, C, W) -> (B, D)
                except RuntimeError as e:
                    if windows.shape[-1] == WINDOW:
                        raise
                    raise ValueError(f"the encoder cannot embed windows of {windows.shape[-1]} samples at {FS} Hz "
                                     f"({windows.shape[-1] / FS:.2f} s): {str(e).splitlines()[0]}") from e
                out.append(emb.float().cpu().numpy())
                bar.update(len(batch))
    finally:
        _set_training(encoder, was_training)
    embeddings = np.concatenate(out).astype(np.float32, copy=False)
    return (embeddings, times) if return_times else embeddings


class _CallableModule(types.ModuleType):
    """``relcon.embed(...)`` calls :func:`embed` although ``relcon.embed`` is this module."""

    def __call__(self, *args, **kwargs):
        return embed(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
