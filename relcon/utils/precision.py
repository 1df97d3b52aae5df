"""Numeric precision of training and inference: ``"fp32"`` (default) or ``"bf16"`` mixed precision.

``"bf16"`` runs forward passes under ``torch.autocast(device_type, dtype=torch.bfloat16)``:
matrix products and convolutions take bfloat16 inputs (8 bits of mantissa, float32's range)
while parameters, gradients and optimiser state stay float32 (autocast casts copies; nothing
is stored in bfloat16). The steps that are unstable in bfloat16 are kept in float32 where they
are computed: sparsemax (``relcon/nets/CrossAttn/utils/sparsemax.py``), RevIN statistics and
de-normalisation (``relcon/nets/CrossAttn/utils/RevIN.py``) and every loss reduction (each
loss casts its inputs to float32 first, ``upcast``). ``"fp32"`` changes nothing: no autocast context
is entered and results are bitwise those of code that never heard of this option.
"""
from __future__ import annotations

import contextlib
import functools
import os
import warnings

import torch

PRECISIONS = ("fp32", "bf16")

_warned_slow_cpu = False


def check_precision(value) -> str:
    """``value`` if it is one of ``PRECISIONS``; else ValueError naming it and the allowed ones."""
    if value not in PRECISIONS:
        raise ValueError(f"precision={value!r}: expected one of {', '.join(repr(p) for p in PRECISIONS)}")
    return value


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bfloat16 in hardware (AVX-512 BF16 or AMX) and torch may use it;
    without it oneDNN emulates bfloat16 and mixed precision is slower than float32. Kernels held
    to AVX2 (``ATEN_CPU_CAPABILITY=avx2``, ``ONEDNN_MAX_CPU_ISA=AVX2``, as on a CPU without
    AVX-512) count as no native bfloat16 even where the hardware has it."""
    if torch.backends.cpu.get_cpu_capability() != "AVX512":
        return False
    # oneDNN's ISA cap: SSE41, AVX, AVX2(_VNNI...), AVX512_CORE(_VNNI) have no bfloat16 instructions;
    # AVX512_CORE_BF16, AVX512_CORE_FP16, AVX10_1_512(_AMX...), AVX512_CORE_AMX(_FP16) and ALL do.
    isa = os.environ.get("ONEDNN_MAX_CPU_ISA", "ALL").upper()
    if isa not in ("ALL", "DEFAULT") and not any(t in isa for t in ("BF16", "AMX", "FP16", "AVX10")):
        return False
    for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"):
        probe = getattr(torch.cpu, name, None)
        if probe is not None:
            try:
                if probe():
                    return True
            except Exception:  # a torch build without the probe's backend
                pass
    return False


def _warn_slow_cpu_once() -> None:
    global _warned_slow_cpu
    if not _warned_slow_cpu:
        _warned_slow_cpu = True
        warnings.warn(f"precision='bf16' on a CPU without native bfloat16 (kernels "
                      f"{torch.backends.cpu.get_cpu_capability()}, no AVX-512 BF16 or AMX in use): bfloat16 is emulated; "
                      f"on AVX2 kernels we measured a RelCon step 13.6x and a MotifDist step 7.5x slower than "
                      f"precision='fp32' (BENCHMARKS.md, 'bf16 without native bfloat16')", UserWarning, stacklevel=3)


def autocast(precision: str, device) -> contextlib.AbstractContextManager:
    """The context that runs a forward pass in ``precision`` on ``device`` (a torch.device or
    its name): nothing for ``"fp32"``, ``torch.autocast(device.type, dtype=torch.bfloat16)``
    for ``"bf16"`` (warning once on a CPU without native bfloat16).

    Raises:
        ValueError: an unknown precision (``check_precision``).
    """
    if check_precision(precision) == "fp32":
        return contextlib.nullcontext()
    device_type = torch.device(device).type
    if device_type == "cpu" and not cpu_has_native_bf16():
        _warn_slow_cpu_once()
    return torch.autocast(device_type=device_type, dtype=torch.bfloat16)


def upcast(tensor: torch.Tensor) -> torch.Tensor:
    """``tensor`` as float32 when it is a lower-precision float (bfloat16, float16), else unchanged
    (float32 and float64 inputs keep their dtype; no copy)."""
    if tensor.is_floating_point() and torch.finfo(tensor.dtype).bits < 32:
        return tensor.float()
    return tensor


def float32_region(tensor: torch.Tensor) -> contextlib.AbstractContextManager:
    """Autocast switched off on ``tensor``'s device for the block (a no-op outside autocast):
    for the steps that must see float32 inputs and produce float32 outputs."""
    device_type = tensor.device.type
    if not torch.is_autocast_enabled(device_type):
        return contextlib.nullcontext()
    return torch.autocast(device_type=device_type, enabled=False)


def in_float32(fn):
    """Decorator: ``fn`` runs with its tensor arguments ``upcast`` to float32 and autocast switched
    off on the first tensor's device (``float32_region``), so it computes and returns float32 also
    inside a bfloat16 forward pass. Non-tensor arguments (``self``, tuples, numbers) pass unchanged."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        first = next((a for a in (*args, *kwargs.values()) if isinstance(a, torch.Tensor)), None)
        args = tuple(upcast(a) if isinstance(a, torch.Tensor) else a for a in args)
        kwargs = {k: upcast(v) if isinstance(v, torch.Tensor) else v for k, v in kwargs.items()}
        with float32_region(first) if first is not None else contextlib.nullcontext():
            return fn(*args, **kwargs)
    return wrapper
