"""``python -m relcon.embed``: embed a recording file with a trained encoder.

    python -m relcon.embed --config demo --input rec.csv --output emb.npy [--fs 30] [--hop 1.28] [--csv]
    python -m relcon.embed --run-dir path/to/run --input windows.npy --output emb.npy

Input: ``.csv`` / ``.csv.gz`` with x, y, z acceleration columns (delimiter ``,`` ``;`` tab or
spaces, decimal point or comma, header or none, an optional time column; see
``relcon/data/recordings.py``), a device file (``.cwa``, ``.gt3x``, ``.bin``; extra ``devices``),
or ``.npy`` holding a recording ``(T, 3)`` or windows ``(N, T, 3)``. Units: g, or m/s² / mg
recognised and converted with a warning (``--units``). The rate: ``--fs``, else the one the
file states (ActiGraph preamble, or its time column), else 100 Hz.
Output: ``.npy`` of float32 ``(N, D)`` embeddings; ``--csv`` also writes a ``.csv`` beside it
(and an output named ``*.csv`` is written as CSV only) whose first column is the window's start
time in seconds (recordings) or its index (windows). Relative paths are taken from the current
directory. Exit status 1 on bad input, with a message naming the file, line and column.
"""
from __future__ import annotations

import argparse
import csv
import io
import os
import sys
import warnings
from pathlib import Path

import numpy as np

from relcon.api import add_checkpoint_arguments, load_encoder_checkpoint, missing_checkpoint_source
from relcon.data import recordings
from relcon.data.units import CHOICES as UNIT_CHOICES
from relcon.embed import WINDOW_S, embed
from relcon.nets.ResNet1D import quiet_same_padding_warning
from relcon.runs import CheckpointError
from relcon.utils.io import atomic_save_npy, atomic_write_text
from relcon.utils.paths import cli_path
from relcon.utils.utils import select_device


def read_csv(path) -> np.ndarray:
    """A ``(T, 3)`` float64 recording from a CSV / CSV.gz in any dialect that
    ``relcon/data/recordings.py`` reads (delimiter, decimal mark, header, preamble, time column)."""
    return recordings.read_csv(path).xyz


def read_recording(path) -> tuple[np.ndarray, float | None]:
    """``.csv`` / ``.csv.gz`` / device file -> ((T, 3), rate found in the file or None);
    ``.npy`` -> ((T, 3) or (N, T, 3), None)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"input {path} does not exist" + (" (it is a folder)" if path.is_dir() else ""))
    if path.suffix.lower() == ".npy":
        return recordings.read_npy(path), None
    recording = recordings.read_recording(path)
    return recording.xyz, recordings.file_rate(recording)


def embeddings_csv(embeddings: np.ndarray, times: np.ndarray | None) -> str:
    first = "start_s" if times is not None else "window"
    index = times if times is not None else np.arange(len(embeddings))
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([first] + [f"e{i}" for i in range(embeddings.shape[1])])
    for key, row in zip(index, embeddings):
        writer.writerow([f"{key:.2f}" if times is not None else int(key)] + [f"{v:.9g}" for v in row])
    return buf.getvalue()


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m relcon.embed",
                                description="Embed accelerometry (x, y, z in g) with a trained RelCon encoder.")
    add_checkpoint_arguments(p)
    p.add_argument("--input", required=True, type=cli_path,
                   help=".csv / .csv.gz (x, y, z columns, any common dialect), .cwa/.gt3x/.bin, or .npy (T, 3) / (N, T, 3)")
    p.add_argument("--output", required=True, type=cli_path, help=".npy file for the (N, D) embeddings "
                                                                  "(a .csv name writes CSV instead)")
    p.add_argument("--csv", action="store_true", help="also write the embeddings as .csv beside --output")
    p.add_argument("--fs", type=float, default=None,
                   help="sampling rate of the input in Hz (default: the file's, else 100)")
    p.add_argument("--units", default="auto", choices=UNIT_CHOICES,
                   help="auto (default): g, or m/s2 / mg recognised by magnitude and converted with a warning; "
                        "check: refuse anything but g; g, m/s2, mg: force")
    p.add_argument("--hop", type=float, default=2.56, help="seconds between window starts (default 2.56: no overlap)")
    p.add_argument("--batch-size", type=int, default=256, help="windows per forward pass (default 256)")
    p.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N or mps")
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16"],
                   help="fp32 (default) or bf16: the encoder under bfloat16 autocast; embeddings are float32 either way")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if missing_checkpoint_source(parser, args, "use"):
        return 2
    try:
        signals, file_fs = read_recording(args.input)
        fs = args.fs if args.fs is not None else (file_fs or 100.0)
        source = args.run_dir or args.config
        encoder, state = load_encoder_checkpoint(source, args.ckpt, select_device(args.device),
                                                 config=args.config if args.run_dir else None)
        recording = signals.ndim == 2
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", UserWarning)
            quiet_same_padding_warning()  # the reset above re-enabled torch's even-kernel notice
            result = embed(signals, encoder, fs=fs, batch_size=args.batch_size, hop_s=args.hop,
                           return_times=recording, progress=not args.quiet, units=args.units,
                           precision=args.precision)
        for w in caught:
            print(f"warning: {str(w.message).replace('signals:', f'{args.input}:', 1)}", file=sys.stderr)
        embeddings, times = result if recording else (result, None)
        output = Path(args.output)
        written = []
        if output.suffix.lower() != ".csv":
            atomic_save_npy(output, embeddings)
            written.append(output)
        if args.csv or output.suffix.lower() == ".csv":
            target = output.with_suffix(".csv")
            atomic_write_text(target, embeddings_csv(embeddings, times))
            written.append(target)
    except (ValueError, FileNotFoundError, CheckpointError) as e:
        if os.environ.get("RELCON_DEBUG"):
            raise
        print(f"error: {e}", file=sys.stderr)
        return 1
    what = (f"{len(embeddings)} windows of {WINDOW_S} s every {args.hop:g} s" if recording
            else f"{len(embeddings)} windows")
    print(f"embedded {what} of {args.input} at {fs:g} Hz with {source} (checkpoint {args.ckpt}, epoch "
          f"{state.get('epoch')}): {embeddings.shape[0]} x {embeddings.shape[1]} float32 -> "
          + ", ".join(str(p) for p in written))
    return 0
