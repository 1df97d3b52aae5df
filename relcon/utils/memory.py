"""Keep large tensors out of the C heap, so that a training step's peak memory is its own.

PyTorch's CPU tensors come from ``malloc``. glibc serves large blocks with ``mmap`` (returned to
the system on free) but, after the first one is freed, raises that threshold up to 32 MB, so
feature maps of a few MB to 32 MB (the encoder's early layers, the distance stage's score maps)
land in the heap, where freed space fragments and stays resident: the RelCon step's peak grew
from 2.39 to about 2.6 GB by the second step that way. A fixed threshold (``mallopt
M_MMAP_THRESHOLD``) stops the drift; below it (the distance stage's 4 MB chunks) the heap is
reused as before, so the speed is unchanged.

``RELCON_MMAP_THRESHOLD`` (bytes) overrides the default of 8 MiB; 0 leaves glibc's behaviour.
Elsewhere than Linux/glibc this does nothing.
"""
from __future__ import annotations

import ctypes
import os
import sys

DEFAULT_MMAP_THRESHOLD = 8 << 20
_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number


def configure_allocator(threshold: int | None = None) -> bool:
    """Fix glibc's mmap threshold for this process; True if it was set."""
    if threshold is None:
        threshold = int(os.environ.get("RELCON_MMAP_THRESHOLD", DEFAULT_MMAP_THRESHOLD))
    if threshold <= 0 or not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # not glibc
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, int(threshold)))
