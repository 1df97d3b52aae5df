"""``python -m relcon.embed``: embed a recording file with a trained encoder.

    python -m relcon.embed --config demo --input rec.csv --output emb.npy [--fs 30] [--hop 1.28] [--csv]
    python -m relcon.embed --run-dir path/to/run --input windows.npy --output emb.npy

Input: ``.csv`` with three numeric columns (x, y, z acceleration in g; a first line without
numbers is a header) or ``.npy`` holding a recording ``(T, 3)`` or windows ``(N, T, 3)``.
Output: ``.npy`` of float32 ``(N, D)`` embeddings; ``--csv`` also writes a ``.csv`` beside it
(and an output named ``*.csv`` is written as CSV only) whose first column is the window's start
time in seconds (recordings) or its index (windows). Relative paths are taken from the current
directory. Exit status 1 on bad input, with a message naming the file, line and column.
"""
from __future__ import annotations

import argparse
import csv
import io
import math
import os
import sys
from pathlib import Path

import numpy as np

from relcon.api import add_checkpoint_arguments, load_encoder_checkpoint, missing_checkpoint_source
from relcon.embed import WINDOW_S, embed
from relcon.runs import CheckpointError
from relcon.utils.io import atomic_save_npy, atomic_write_text
from relcon.utils.paths import cli_path
from relcon.utils.utils import select_device

COLUMNS = 3


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _first_record(path: Path) -> list[str] | None:
    with open(path, encoding="utf-8-sig", newline="") as f:
        for cells in csv.reader(f):
            if cells and any(c.strip() for c in cells):
                return cells
    return None


def _parse_csv_strictly(path: Path, header: bool) -> np.ndarray:
    """Row by row: the first bad line and column is named. Blank lines are skipped."""
    rows, names = [], None
    with open(path, encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f)
        for cells in reader:
            line = reader.line_num
            if not cells or not any(c.strip() for c in cells):
                continue
            if header and names is None:
                if len(cells) != COLUMNS:
                    raise ValueError(f"{path}, line {line} (header): {len(cells)} column(s) "
                                     f"({', '.join(repr(c) for c in cells)}); expected {COLUMNS} (x, y, z)")
                names = cells
                continue
            if len(cells) != COLUMNS:
                raise ValueError(f"{path}, line {line}: {len(cells)} column(s); expected {COLUMNS} numeric columns "
                                 f"(x, y, z acceleration in g)")
            values = []
            for column, cell in enumerate(cells, start=1):
                label = f"column {column}" + (f" ({names[column - 1].strip()!r})" if names else "")
                value = _number(cell)
                if value is None:
                    raise ValueError(f"{path}, line {line}, {label}: {cell!r} is not a number")
                if not math.isfinite(value):
                    raise ValueError(f"{path}, line {line}, {label}: {cell!r} is not a finite number")
                values.append(value)
            rows.append(values)
    if not rows:
        raise ValueError(f"{path}: no data rows; expected {COLUMNS} numeric columns (x, y, z acceleration in g)")
    return np.asarray(rows, dtype=np.float64)


def read_csv(path) -> np.ndarray:
    """A ``(T, 3)`` float64 recording from a CSV of three numeric columns, header or not.

    The C parser of pandas reads well-formed files quickly; anything it rejects, or any
    missing / non-finite value, is re-read row by row to name the first bad line and column."""
    import pandas as pd

    path = Path(path)
    try:
        first = _first_record(path)
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a UTF-8 text file; expected a CSV of {COLUMNS} numeric columns") from None
    if first is None:
        raise ValueError(f"{path}: empty file; expected {COLUMNS} numeric columns (x, y, z acceleration in g)")
    header = all(_number(c) is None for c in first)
    try:
        data = pd.read_csv(path, header=None, skiprows=1 if header else 0, dtype=np.float64, encoding="utf-8-sig",
                           engine="c").to_numpy()
        if data.ndim == 2 and data.shape[1] == COLUMNS and len(data) and np.isfinite(data).all():
            return data
    except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError):
        pass
    return _parse_csv_strictly(path, header)


def read_recording(path) -> np.ndarray:
    """``.csv`` -> (T, 3); ``.npy`` -> (T, 3) or (N, T, 3)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"input {path} does not exist" + (" (it is a folder)" if path.is_dir() else ""))
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return read_csv(path)
    if suffix == ".npy":
        try:
            array = np.load(path, allow_pickle=False)
        except Exception as e:
            raise ValueError(f"{path}: cannot be read as a .npy array ({type(e).__name__}: {e})") from None
        if array.dtype.kind not in "fiu" or array.ndim not in (2, 3) or array.shape[-1] != COLUMNS:
            raise ValueError(f"{path}: {array.dtype} array of shape {array.shape}; expected numbers (T, {COLUMNS}) "
                             f"(a recording) or (N, T, {COLUMNS}) (windows), channels last")
        return array
    raise ValueError(f"{path}: unknown input type {path.suffix!r}; expected .csv or .npy")


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
                   help=".csv (3 numeric columns, header optional) or .npy (T, 3) / (N, T, 3)")
    p.add_argument("--output", required=True, type=cli_path, help=".npy file for the (N, D) embeddings "
                                                                  "(a .csv name writes CSV instead)")
    p.add_argument("--csv", action="store_true", help="also write the embeddings as .csv beside --output")
    p.add_argument("--fs", type=float, default=100.0, help="sampling rate of the input in Hz (default 100)")
    p.add_argument("--hop", type=float, default=2.56, help="seconds between window starts (default 2.56: no overlap)")
    p.add_argument("--batch-size", type=int, default=256, help="windows per forward pass (default 256)")
    p.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N or mps")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if missing_checkpoint_source(parser, args, "use"):
        return 2
    try:
        signals = read_recording(args.input)
        source = args.run_dir or args.config
        encoder, state = load_encoder_checkpoint(source, args.ckpt, select_device(args.device),
                                                 config=args.config if args.run_dir else None)
        recording = signals.ndim == 2
        result = embed(signals, encoder, fs=args.fs, batch_size=args.batch_size, hop_s=args.hop,
                       return_times=recording, progress=not args.quiet)
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
    print(f"embedded {what} of {args.input} at {args.fs:g} Hz with {source} (checkpoint {args.ckpt}, epoch "
          f"{state.get('epoch')}): {embeddings.shape[0]} x {embeddings.shape[1]} float32 -> "
          + ", ".join(str(p) for p in written))
    return 0
