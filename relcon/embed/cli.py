"""``python -m relcon.embed``: embed a recording file, or a cohort of them, with a trained encoder.

    python -m relcon.embed --config demo --input rec.csv --output emb.npy [--fs 30] [--hop 1.28] [--csv]
    python -m relcon.embed --run-dir path/to/run --input windows.npy --output emb.npy
    python -m relcon.embed --run-dir R --input FOLDER_OR_MANIFEST --output-dir OUT [--shard K/N] [--skip-bad]

Input: ``.csv`` / ``.csv.gz`` with x, y, z acceleration columns (delimiter ``,`` ``;`` tab or
spaces, decimal point or comma, header or none, an optional time column; see
``relcon/data/recordings.py``), a device file (``.cwa``, ``.gt3x``, ``.bin``; extra ``devices``),
or ``.npy`` holding a recording ``(T, 3)`` or windows ``(N, T, 3)``. Units: g, or m/s² / mg
recognised and converted with a warning (``--units``). The rate: ``--fs``, else the one the
file states (ActiGraph preamble, or its time column), else 100 Hz.
Recordings are streamed in chunks (``relcon/embed/stream.py``): split at gaps of over 1 s and
missing values as ``process_recordings.py`` splits them, never a window across a gap.
Output: ``.npy`` of float32 ``(N, D)`` embeddings and, for recordings, ``<output>.windows.csv``
(each window's start and end time, run, gap and non-wear flags); ``--csv`` also writes a
``.csv`` beside it (and an output named ``*.csv`` is written as CSV only) whose first column is
the window's start time in seconds from the first sample (recordings) or its index (windows),
then, for timed recordings, its start as an ISO 8601 UTC time. With ``--output-dir`` the input
is a folder or manifest of recordings (``relcon/embed/cohort.py``). Relative paths are taken
from the current directory. Exit status 1 on bad input, with a message naming the file, line
and column; 3 when ``--skip-bad`` skipped files of a cohort.
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
from relcon.embed.stream import embed_recording, qc_line, table_csv
from relcon.nets.ResNet1D import quiet_same_padding_warning
from relcon.runs import CheckpointError
from relcon.utils.io import atomic_save_npy, atomic_write_text
from relcon.utils.paths import cli_path
from relcon.utils.utils import select_device


def read_csv(path) -> np.ndarray:
    """A ``(T, 3)`` float64 recording from a CSV / CSV.gz in any dialect that
    ``relcon/data/recordings.py`` reads (delimiter, decimal mark, header, preamble, time column)."""
    return recordings.read_csv(path).xyz


def embeddings_csv(embeddings: np.ndarray, times: np.ndarray | None, start_times=None) -> str:
    first = "start_s" if times is not None else "window"
    index = times if times is not None else np.arange(len(embeddings))
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([first] + (["start_time"] if start_times is not None else [])
                    + [f"e{i}" for i in range(embeddings.shape[1])])
    for i, (key, row) in enumerate(zip(index, embeddings)):
        writer.writerow([f"{key:.2f}" if times is not None else int(key)]
                        + ([start_times[i]] if start_times is not None else []) + [f"{v:.9g}" for v in row])
    return buf.getvalue()


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m relcon.embed",
                                description="Embed accelerometry (x, y, z in g) with a trained RelCon encoder.")
    add_checkpoint_arguments(p)
    p.add_argument("--input", required=True, type=cli_path,
                   help=".csv / .csv.gz (x, y, z columns, any common dialect), .cwa/.gt3x/.bin, or .npy (T, 3) / "
                        "(N, T, 3); with --output-dir: a folder of recordings or a manifest CSV (file[, fs, units])")
    p.add_argument("--output", type=cli_path, help=".npy file for the (N, D) embeddings "
                                                   "(a .csv name writes CSV instead)")
    p.add_argument("--output-dir", type=cli_path, help="embed a cohort: one .npy, .windows.csv and .qc.json per "
                                                       "recording under this folder, and summary.json")
    p.add_argument("--shard", help="cohort: embed share K/N of the recordings (default: the SLURM array task, else all)")
    p.add_argument("--skip-bad", action="store_true", help="cohort: list unreadable files in the summary and go on "
                                                           "(exit status 3)")
    p.add_argument("--timezone", help="IANA zone that naive time stamps are local to (e.g. Europe/London)")
    p.add_argument("--chunk-rows", type=int, default=recordings.CHUNK_ROWS,
                   help=f"rows read at a time (default {recordings.CHUNK_ROWS:,}; memory, not results, depends on it)")
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
    if (args.output is None) == (args.output_dir is None):
        parser.print_usage(sys.stderr)
        print("error: give --output FILE (one input) or --output-dir DIR (a folder or manifest of recordings)",
              file=sys.stderr)
        return 2
    try:
        source = args.run_dir or args.config
        device = select_device(args.device)
        if args.output_dir is not None:
            from relcon.api import locate_checkpoint
            from relcon.embed.cohort import main_cohort

            encoder, state = load_encoder_checkpoint(source, args.ckpt, device,
                                                     config=args.config if args.run_dir else None)
            return main_cohort(args, encoder, locate_checkpoint(source, args.ckpt))
        path = Path(args.input)
        if path.is_dir():
            raise ValueError(f"input {path} is a folder; expected a file (or --output-dir to embed every recording in it)")
        windows = path.suffix.lower() == ".npy" and recordings.read_npy(path).ndim == 3
        encoder, state = load_encoder_checkpoint(source, args.ckpt, device, config=args.config if args.run_dir else None)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", UserWarning)
            quiet_same_padding_warning()  # the reset above re-enabled torch's even-kernel notice
            if windows:
                signals, fs = recordings.read_npy(path), (args.fs if args.fs is not None else 100.0)
                embeddings = embed(signals, encoder, fs=fs, batch_size=args.batch_size, progress=not args.quiet,
                                   units=args.units, precision=args.precision)
                result = None
            else:
                result = embed_recording(path, encoder, fs=args.fs, hop_s=args.hop, units=args.units,
                                         timezone=args.timezone, batch_size=args.batch_size, precision=args.precision,
                                         progress=not args.quiet, chunk_rows=args.chunk_rows)
                embeddings, fs = result.embeddings, result.qc["fs_hz"]
                if not len(embeddings):
                    qc = result.qc
                    seconds = qc["rows"] / qc["fs_hz"]
                    if qc["runs"] <= 1:
                        raise ValueError(f"{path}: recording of {qc['rows']} samples at {qc['fs_hz']:g} Hz "
                                         f"({seconds:.3f} s) is shorter than one window of {WINDOW_S} s (256 samples "
                                         f"at 100 Hz)")
                    raise ValueError(f"{path}: none of its {qc['runs']} continuous runs ({seconds:.3f} s of rows; "
                                     f"{qc['gaps']} gap(s) over 1 s, {qc['missing_values_s']:g} s of missing values) "
                                     f"holds one window of {WINDOW_S} s; expected at least one")
        for w in caught:
            print(f"warning: {str(w.message).replace('signals:', f'{args.input}:', 1)}", file=sys.stderr)
        if result is not None:
            for line in result.qc["warnings"]:
                print(f"warning: {line}", file=sys.stderr)
            for line in result.qc["notes"]:
                print(f"note: {line}", file=sys.stderr)
        output = Path(args.output)
        written = []
        if output.suffix.lower() != ".csv":
            atomic_save_npy(output, embeddings)
            written.append(output)
        if result is not None:
            table = output.with_name(output.stem + ".windows.csv")
            atomic_write_text(table, table_csv(result.table))
            written.append(table)
        if args.csv or output.suffix.lower() == ".csv":
            target = output.with_suffix(".csv")
            if result is not None:
                first = result.qc["first_time_s"] if result.qc["timed"] else 0.0
                text = embeddings_csv(embeddings, result.table["start_s"] - first,
                                      result.table["start_time"] if result.qc["timed"] else None)
            else:
                text = embeddings_csv(embeddings, None)
            atomic_write_text(target, text)
            written.append(target)
    except (ValueError, FileNotFoundError, CheckpointError) as e:
        if os.environ.get("RELCON_DEBUG"):
            raise
        print(f"error: {e}", file=sys.stderr)
        return 1
    what = (f"{len(embeddings)} windows of {WINDOW_S} s every {args.hop:g} s" if result is not None
            else f"{len(embeddings)} windows")
    print(f"embedded {what} of {args.input} at {fs:g} Hz with {source} (checkpoint {args.ckpt}, epoch "
          f"{state.get('epoch')}): {embeddings.shape[0]} x {embeddings.shape[1]} float32 -> "
          + ", ".join(str(p) for p in written))
    if result is not None:
        print(qc_line(result.qc))
    return 0
