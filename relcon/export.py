"""Export a trained encoder for deployment, checked against the eager model.

    python -m relcon.export --config demo --output encoder.pt                  # TorchScript (default)
    python -m relcon.export --run-dir DIR --output encoder.pt2 --format export # torch.export program

Formats:

* ``torchscript`` (default; every supported torch): ``torch.jit.trace`` of the encoder in eval
  mode. Load with ``torch.jit.load("encoder.pt")``; no relcon code needed. Input (N, 3, T)
  float32, acceleration in g at 100 Hz; T = 256 (2.56 s) as in pre-training, other lengths work
  because the traced graph has no length-dependent branch. Recent torch releases deprecate
  TorchScript (a warning, silenced here); ``export`` is the successor.
* ``export``: ``torch.export`` with a dynamic batch size and T fixed at 256 (torch >= 2.2). Load
  with ``torch.export.load("encoder.pt2").module()``.

Both files carry ``relcon.json`` (source checkpoint, input layout, sampling rate, embedding
size) as an extra file. Before anything is written, the serialised model is loaded back and its
outputs on random inputs are compared with the eager encoder (``atol`` 1e-5); a mismatch is an
error and nothing is written. The file is written atomically.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import sys
import warnings
from pathlib import Path

import torch

from relcon.api import add_checkpoint_arguments, load_encoder_checkpoint, locate_checkpoint, missing_checkpoint_source
from relcon.runs import CheckpointError
from relcon.utils.io import atomic_write_bytes
from relcon.utils.paths import cli_path

FORMATS = ("torchscript", "export")
WINDOW = 256
METADATA = "relcon.json"


class ExportError(RuntimeError):
    """The exported encoder does not reproduce the eager one (or cannot be built)."""


def _inputs(channels: int, lengths, seed: int):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(batch, channels, length, generator=g) for batch, length in lengths]


def _serialise_torchscript(encoder, example, metadata: str) -> tuple[bytes, object]:
    with warnings.catch_warnings():
        # torch.jit is deprecated in recent releases, and the input check in forward() is a Python
        # branch the tracer reports; both are expected here.
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(encoder, example, check_trace=False)
        buf = io.BytesIO()
        torch.jit.save(traced, buf, _extra_files={METADATA: metadata})
        buf.seek(0)
        loaded = torch.jit.load(buf, map_location="cpu")
    return buf.getvalue(), loaded


def _serialise_export(encoder, example, metadata: str) -> tuple[bytes, object]:
    try:
        from torch.export import Dim, export
    except ImportError:
        raise ExportError(f"--format export needs torch >= 2.2 (found {torch.__version__}); use --format torchscript")
    try:
        program = export(encoder, (example,), dynamic_shapes=({0: Dim("batch", min=1, max=1 << 20)},))
    except Exception as e:
        raise ExportError(f"torch.export failed ({type(e).__name__}: {str(e).splitlines()[0]}); use --format "
                          f"torchscript") from None
    buf = io.BytesIO()
    torch.export.save(program, buf, extra_files={METADATA: metadata})
    buf.seek(0)
    loaded = torch.export.load(buf).module()
    return buf.getvalue(), loaded


def export_encoder(encoder: torch.nn.Module, path, format: str = "torchscript", metadata: dict | None = None,
                   atol: float = 1e-5, seed: int = 0) -> dict:
    """Serialise ``encoder`` (moved to CPU, eval mode) to ``path`` after checking the reloaded
    copy against it; returns {"path", "format", "max_abs_diff", "checked_shapes"}."""
    if format not in FORMATS:
        raise ValueError(f"format={format!r}: expected one of {FORMATS}")
    if format == "export" and not str(path).endswith(".pt2"):
        raise ValueError(f"{path}: a torch.export archive must be named *.pt2 (torch.export.load expects it)")
    encoder = encoder.cpu().eval()
    channels = getattr(encoder, "in_channels", 3)
    info = dict(metadata or {})
    info.update({"format": format, "input": f"(N, {channels}, T) float32, acceleration in g at 100 Hz",
                 "window": WINDOW, "fs": 100, "embed_dim": getattr(encoder, "embed_dim", None),
                 "torch": torch.__version__})
    example = _inputs(channels, [(2, WINDOW)], seed)[0]
    serialise = _serialise_torchscript if format == "torchscript" else _serialise_export
    data, loaded = serialise(encoder, example, json.dumps(info, indent=2))
    # Other batch sizes (and, for TorchScript, another length) than the traced example.
    shapes = [(3, WINDOW), (1, WINDOW)] + ([(2, 2 * WINDOW)] if format == "torchscript" else [])
    worst = 0.0
    with torch.no_grad():
        for x in _inputs(channels, shapes, seed + 1):
            diff = float((loaded(x) - encoder(x)).abs().max())
            worst = max(worst, diff)
            if not diff <= atol:
                raise ExportError(f"the {format} export differs from the eager encoder on input {tuple(x.shape)}: "
                                  f"max |difference| {diff:.3g} > atol {atol:g}; nothing was written")
    atomic_write_bytes(path, data)
    return {"path": str(path), "format": format, "max_abs_diff": worst,
            "checked_shapes": [(b, channels, t) for b, t in shapes]}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m relcon.export",
                                description="Export a trained RelCon encoder (TorchScript or torch.export), checked "
                                            "against the eager model.")
    add_checkpoint_arguments(p)
    p.add_argument("--output", required=True, type=cli_path, help="file to write, e.g. encoder.pt")
    p.add_argument("--format", choices=FORMATS, default="torchscript",
                   help="torchscript (default, load with torch.jit.load) or export (torch.export, load with "
                        "torch.export.load(...).module())")
    return p


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if missing_checkpoint_source(parser, args, "export"):
        return 2
    source = args.run_dir or args.config
    try:
        encoder, state = load_encoder_checkpoint(source, args.ckpt, "cpu", config=args.config if args.run_dir else None)
        checkpoint = locate_checkpoint(source, args.ckpt)
        info = export_encoder(encoder, Path(args.output), args.format,
                              metadata={"checkpoint": str(checkpoint), "epoch": state.get("epoch")})
    except (ValueError, FileNotFoundError, CheckpointError, ExportError) as e:
        if os.environ.get("RELCON_DEBUG"):
            raise
        print(f"error: {e}", file=sys.stderr)
        return 1
    load = ("torch.jit.load(path)" if args.format == "torchscript" else "torch.export.load(path).module()")
    print(f"exported the encoder of {checkpoint} (epoch {state.get('epoch')}) as {args.format} to {info['path']}; "
          f"equal to the eager model within {info['max_abs_diff']:.2g} on inputs {info['checked_shapes']}; "
          f"load with {load}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
