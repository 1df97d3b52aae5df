"""Keep large tensors out of the C heap, so that a training step's peak memory is its own.

PyTorch's CPU tensors come from ``malloc``. glibc serves large blocks with ``mmap`` (returned to
the system on free) but, after the first one is freed, raises that threshold up to 32 MB, so
feature maps of a few MB to 32 MB (the encoder's early layers, the distance stage's score maps)
land in the heap, where freed space fragments and stays resident: the RelCon step's peak grew
from 2.39 to about 2.6 GB by the second step that way. A fixed threshold (``mallopt
M_MMAP_THRESHOLD``) stops the drift; below it (the distance stage's 4 MB chunks) the heap is
reused as before, so the speed is unchanged.

Fixing the mmap threshold also freezes glibc's trim threshold at its 128 KiB default, so every
time the top of the heap is free (after each distance chunk, each block's backward) glibc hands
it back to the system and the next allocations fault the same pages in again, zeroed. A trim
threshold of 1 GiB keeps that memory for reuse: the float32 RelCon step 0.85x with AVX2 kernels
and 0.93x with AVX-512 ones on a 2-core CPU, at the same peak memory (BENCHMARKS.md, "Per
instruction set"). The peak is unchanged
because only blocks below the mmap threshold live in the heap, and they are reused.

``RELCON_MMAP_THRESHOLD`` (bytes) overrides the default of 8 MiB; 0 leaves glibc's behaviour
(both thresholds). ``RELCON_TRIM_THRESHOLD`` (bytes) overrides the trim threshold's 1 GiB; 0
leaves it at glibc's default. Elsewhere than Linux/glibc this does nothing.
"""
from __future__ import annotations

import ctypes
import os
import sys

DEFAULT_MMAP_THRESHOLD = 8 << 20
DEFAULT_TRIM_THRESHOLD = 1 << 30
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameter numbers


def configure_allocator(threshold: int | None = None, trim_threshold: int | None = None) -> bool:
    """Fix glibc's mmap threshold (and its trim threshold) for this process; True if the mmap
    threshold was set. Defaults: ``RELCON_MMAP_THRESHOLD`` / ``RELCON_TRIM_THRESHOLD`` or 8 MiB /
    1 GiB."""
    if threshold is None:
        threshold = int(os.environ.get("RELCON_MMAP_THRESHOLD", DEFAULT_MMAP_THRESHOLD))
    if trim_threshold is None:
        trim_threshold = int(os.environ.get("RELCON_TRIM_THRESHOLD", DEFAULT_TRIM_THRESHOLD))
    if threshold <= 0 or not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # not glibc
        return False
    done = bool(mallopt(_M_MMAP_THRESHOLD, int(threshold)))
    if done and trim_threshold > 0:
        mallopt(_M_TRIM_THRESHOLD, int(trim_threshold))
    return done
