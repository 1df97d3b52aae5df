"""Reading raw accelerometer recordings: CSV (any common dialect), ``.npy`` and device files.

Used by ``relcon.embed`` (API and CLI) and by the processors that build pre-training data
(``relcon/data/process/process_recordings.py``), so a file reads the same everywhere.

CSV dialects (detected from the first :data:`SNIFF_LINES` non-blank lines):

* delimiter ``,`` ``;`` tab or runs of whitespace; decimal mark ``.`` or ``,`` (decimal commas
  with ``;`` / tab / whitespace separators, as spreadsheet exports in many locales write them);
* a header line or none; preamble lines before it are skipped (e.g. the 10 lines ActiGraph's
  ActiLife writes above its CSV; its "at 30 Hz" is read as the sampling rate hint, and its
  "date format M/d/yyyy" as the format of a Timestamp column);
* columns: with a header, the acceleration columns are the ones named for an axis (``x``,
  ``acc_x``, ``Accelerometer X``, ...) and a time column is one whose name contains "time"
  (or is "date"/"t"); otherwise, 3 columns are x, y, z and 4 columns are time, x, y, z (a first
  column that is a date-time, or increases from row to row);
* time: ISO 8601 date-time (``2016-11-13 02:18:00.010``, naive local time or with an offset),
  epoch seconds, or epoch milliseconds (numbers above 1e11), returned as seconds;
* ``.csv.gz`` is read the same way (pandas decompresses it while reading).

``csv.Sniffer`` is not used: with decimal commas (``0,12;0,98;0,05``) it picks ``,`` as the
delimiter. Instead every (delimiter, decimal) candidate splits the sample lines, and the one
under which most lines hold at least three numbers wins (ties: the order of :data:`DIALECTS`).
The data are then read by the C parser of pandas; a file it rejects (or, when missing values
are not allowed, one with an empty or non-finite cell) is read again line by line to name the
first bad line and column. Nothing calls a numeric row a header.
"""
from __future__ import annotations

import csv
import gzip
import math
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

COLUMNS = 3
SNIFF_LINES = 100
# (delimiter, decimal mark); " " stands for runs of whitespace.
DIALECTS = ((",", "."), (";", "."), (";", ","), ("\t", "."), ("\t", ","), (" ", "."), (" ", ","))
DELIMITER_NAMES = {",": "','", ";": "';'", "\t": "tab", " ": "whitespace"}
TIME_NAMES = ("date", "t", "epoch")
EPOCH_MS_ABOVE = 1e11
# ActiLife's "date format ..." preamble entry -> strptime format of its Timestamp column.
DATE_FORMATS = {"M/d/yyyy": "%m/%d/%Y %H:%M:%S.%f", "d/M/yyyy": "%d/%m/%Y %H:%M:%S.%f",
                "dd/MM/yyyy": "%d/%m/%Y %H:%M:%S.%f", "MM/dd/yyyy": "%m/%d/%Y %H:%M:%S.%f"}  # epoch seconds reach 1e11 in the year 5138; epoch ms passed it in 1973

# Sampling-rate floor for the 100 Hz encoder. Human movement in daily life has its energy below
# about 10 Hz (gait: fundamental 1-3 Hz with harmonics to ~10 Hz; voluntary movement < 10 Hz;
# Antonsson & Mann 1985, J Biomech 18:39; Bouten et al. 1997, IEEE TBME 44:136 recommend
# 0-20 Hz for daily activity). By Nyquist a rate of 20 Hz keeps content up to 10 Hz. Below it,
# upsampling to 100 Hz cannot restore what the encoder saw in training, so a warning says so.
MIN_FS = 20.0


class RecordingError(ValueError):
    """A recording file cannot be read; the message names the file, line and what was expected."""


@dataclass
class Recording:
    """A recording as read from a file.

    xyz: (T, 3) float64 acceleration in the file's units (NaN where a cell was empty, when
        missing values are allowed). time: (T,) float64 seconds (epoch seconds for date-times,
        naive date-times taken as UTC) or None. fs_hint: a rate named in the file (Hz) or None.
    """

    path: str
    xyz: np.ndarray
    time: np.ndarray | None = None
    fs_hint: float | None = None
    dialect: dict = field(default_factory=dict)


def low_fs_warning(fs: float, source: str = "recording") -> str | None:
    """The warning for a rate below :data:`MIN_FS`, or None."""
    if fs >= MIN_FS:
        return None
    return (f"{source}: sampling rate {fs:g} Hz is below {MIN_FS:g} Hz: it keeps movement only up to "
            f"{fs / 2:g} Hz, and upsampling to 100 Hz cannot restore the rest (human movement reaches "
            f"~10 Hz); the embeddings are outside what the encoder was trained on")


def warn_low_fs(fs: float, source: str = "recording", stacklevel: int = 3) -> None:
    message = low_fs_warning(fs, source)
    if message:
        warnings.warn(message, UserWarning, stacklevel=stacklevel)


# ----------------------------------------------------------------------------- dialect
def _open_text(path: Path):
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    return opener(path, "rt", encoding="utf-8-sig", newline="")


def _split(line: str, delimiter: str) -> list[str]:
    if delimiter == " ":
        return line.split()
    return [c.strip() for c in next(csv.reader([line], delimiter=delimiter))]


def _number(cell: str, decimal: str = ".") -> float | None:
    cell = cell.strip().strip('"')
    if decimal == ",":
        if "." in cell:
            return None  # "1.234,5" (thousands separators) is not supported
        cell = cell.replace(",", ".")
    try:
        return float(cell)
    except ValueError:
        return None


def _numbers(cells: list[str], decimal: str) -> int:
    return sum(_number(c, decimal) is not None for c in cells)


def _sample(path: Path) -> list[tuple[int, str]]:
    """(line number, text) of the first SNIFF_LINES non-blank lines."""
    lines = []
    try:
        with _open_text(path) as f:
            for number, line in enumerate(f, start=1):
                if line.strip():
                    lines.append((number, line.rstrip("\r\n")))
                    if len(lines) >= SNIFF_LINES:
                        break
    except UnicodeDecodeError:
        raise RecordingError(f"{path}: not a UTF-8 text file; expected a CSV of x, y, z acceleration") from None
    except (OSError, EOFError) as e:  # gzip: not gzipped, or truncated
        raise RecordingError(f"{path}: cannot be read ({type(e).__name__}: {e})") from None
    return lines


def sniff(path) -> dict:
    """The dialect of a CSV file: ``delimiter``, ``decimal``, ``columns`` (count), ``header``
    (list of names or None), ``skiprows`` (physical lines before the header or first data
    line), ``first_data_line`` and ``fs_hint``. Raises :class:`RecordingError`."""
    path = Path(path)
    lines = _sample(path)
    if not lines:
        raise RecordingError(f"{path}: empty file; expected rows of x, y, z acceleration")
    best, best_score = None, 0
    for delimiter, decimal in DIALECTS:
        score = sum(_numbers(_split(text, delimiter), decimal) >= COLUMNS for _, text in lines)
        if score > best_score:
            best, best_score = (delimiter, decimal), score
    if best is None:
        first = lines[0][1]
        if len(lines) == 1 and max(len(_split(first, d)) for d in (",", ";", "\t", " ")) >= COLUMNS:
            raise RecordingError(f"{path}: no data rows after the header line {first[:80]!r}; expected rows of "
                                 f"x, y, z acceleration")
        counts = {DELIMITER_NAMES[d]: len(_split(first, d)) for d in (",", ";", "\t", " ")}
        raise RecordingError(f"{path}: no line holds {COLUMNS} numbers (first line {first[:80]!r}; columns by "
                             f"delimiter: {counts}); expected x, y, z acceleration separated by ',', ';', tab "
                             f"or spaces")
    delimiter, decimal = best
    start = next(i for i, (_, text) in enumerate(lines) if _numbers(_split(text, delimiter), decimal) >= COLUMNS)
    first_number, first_text = lines[start]
    n = len(_split(first_text, delimiter))
    header = None
    if start > 0:
        before = _split(lines[start - 1][1], delimiter)
        if len(before) == n and _numbers(before, decimal) == 0:
            header = [c.strip('"') for c in before]
            start -= 1
        elif len(before) > 1 and _numbers(before, decimal) == 0 and start == 1:
            raise RecordingError(
                f"{path}, line {lines[0][0]} (header): {len(before)} column(s) separated by "
                f"{DELIMITER_NAMES[delimiter]} ({', '.join(repr(c) for c in before)}), but line {first_number} "
                f"holds {n}; expected one column count")
    hint, date_format = None, None
    for _, text in lines[:start]:
        m = re.search(r"\bat (\d+(?:\.\d+)?) ?Hz\b", text)
        if m:
            hint = float(m.group(1))
        m = re.search(r"\bdate format (\S+)", text)
        if m:
            date_format = DATE_FORMATS.get(m.group(1))
    return {"delimiter": delimiter, "decimal": decimal, "columns": n, "header": header,
            "skiprows": lines[start][0] - 1, "first_data_line": first_number,
            "sample": lines[lines.index((first_number, first_text)):], "fs_hint": hint, "date_format": date_format}


def _axis_of(name: str) -> str | None:
    tokens = [t for t in re.split(r"[^a-z0-9]+", name.lower()) if t]
    for axis in "xyz":
        if axis in tokens or any(t in (f"a{axis}", f"acc{axis}", f"accel{axis}", f"{axis}axis") for t in tokens):
            return axis
    return None


def _is_time_name(name: str) -> bool:
    lowered = name.strip().lower()
    return "time" in lowered or lowered in TIME_NAMES


def choose_columns(path, dialect: dict) -> tuple[list[int], int | None]:
    """(indices of x, y, z, index of the time column or None) for a sniffed file."""
    n, header = dialect["columns"], dialect["header"]
    where = f"{DELIMITER_NAMES[dialect['delimiter']]}-separated"
    if header is not None:
        axes = {}
        for i, name in enumerate(header):
            axis = _axis_of(name)
            if axis is not None and not _is_time_name(name):
                axes.setdefault(axis, []).append(i)
        time = [i for i, name in enumerate(header) if _is_time_name(name)]
        if all(len(axes.get(a, ())) == 1 for a in "xyz"):
            return [axes[a][0] for a in "xyz"], (time[0] if time else None)
        others = [i for i in range(n) if i not in time]
        if len(others) == COLUMNS:
            return others, (time[0] if time else None)
        raise RecordingError(f"{path}: {n} {where} columns ({', '.join(repr(h) for h in header)}); expected "
                             f"one column per axis named x, y, z (or exactly 3 columns besides a time column)")
    rows = [_split(text, dialect["delimiter"]) for _, text in dialect["sample"]]
    if n == COLUMNS:
        return [0, 1, 2], None
    if n == COLUMNS + 1:
        first = [_number(r[0], dialect["decimal"]) if r else None for r in rows if len(r) == n]
        if first and (first[0] is None or all(b > a for a, b in zip(first, first[1:]) if a is not None and b is not None)):
            return [1, 2, 3], 0
    raise RecordingError(f"{path}: {n} {where} columns and no header line (first data line "
                         f"{dialect['first_data_line']}); expected {COLUMNS} (x, y, z) or {COLUMNS + 1} (time, x, y, "
                         f"z), or a header naming the x, y, z columns")


# ----------------------------------------------------------------------------- reading
def _strict_rows(path: Path, dialect: dict, xyz_cols: list[int], time_col: int | None, allow_missing: bool):
    """Line by line: the first bad line and column is named. Returns (xyz, time strings)."""
    delimiter, decimal, n = dialect["delimiter"], dialect["decimal"], dialect["columns"]
    names = dialect["header"]
    rows, times = [], []
    with _open_text(path) as f:
        for number, line in enumerate(f, start=1):
            if number <= dialect["skiprows"] + (names is not None) or not line.strip():
                continue
            cells = _split(line.rstrip("\r\n"), delimiter)
            if len(cells) != n:
                raise RecordingError(f"{path}, line {number}: {len(cells)} column(s) separated by "
                                     f"{DELIMITER_NAMES[delimiter]}; expected {n} like line "
                                     f"{dialect['first_data_line']}")
            values = []
            for column in xyz_cols:
                cell = cells[column]
                label = f"column {column + 1}" + (f" ({names[column]!r})" if names else "")
                value = _number(cell, decimal)
                if value is None and not (allow_missing and cell.strip() == ""):
                    raise RecordingError(f"{path}, line {number}, {label}: {cell!r} is not a number")
                if value is not None and not math.isfinite(value) and not allow_missing:
                    raise RecordingError(f"{path}, line {number}, {label}: {cell!r} is not a finite number")
                values.append(np.nan if value is None else value)
            rows.append(values)
            if time_col is not None:
                times.append((number, cells[time_col]))
    return np.asarray(rows, dtype=np.float64).reshape(-1, COLUMNS), times


def parse_times(path, values, lines=None, column: str = "time", date_format: str | None = None) -> np.ndarray:
    """Seconds (float64) from ISO 8601 date-times, epoch seconds or epoch milliseconds, or
    date-times in ``date_format`` (strptime; from an ActiGraph preamble).

    ``lines``: the file line of each value, to name the first bad one."""
    import pandas as pd

    values = pd.Series(values)
    numbers = pd.to_numeric(values, errors="coerce")
    if values.dtype.kind in "fiu" or numbers.notna().all():
        t = numbers.to_numpy(dtype=np.float64)
        if len(t) and np.nanmedian(np.abs(t)) > EPOCH_MS_ABOVE:
            t = t / 1000.0
        return t
    parsed = pd.to_datetime(values, format=date_format or "ISO8601", errors="coerce")
    if parsed.isna().any():
        i = int(np.flatnonzero(parsed.isna().to_numpy())[0])
        where = f", line {lines[i]}" if lines is not None else f", row {i + 1}"
        raise RecordingError(f"{path}{where}, column {column!r}: {values.iloc[i]!r} is not a date-time; expected "
                             f"ISO 8601 (2016-11-13 02:18:00.010), epoch seconds or epoch milliseconds"
                             + (f", or {date_format} as the preamble says" if date_format else ""))
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
    return parsed.to_numpy(dtype="datetime64[ns]").astype(np.int64) / 1e9


def read_csv(path, allow_missing: bool = False) -> Recording:
    """A :class:`Recording` from a CSV / CSV.gz file in any dialect of this module's docstring.

    ``allow_missing``: empty cells and NaN become NaN (a processor splits the recording there);
    otherwise they are an error naming the line and column. Raises :class:`RecordingError`.
    """
    import pandas as pd

    path = Path(path)
    dialect = sniff(path)
    for number, text in dialect["sample"]:  # pandas ignores extra cells outside usecols: check here
        cells = _split(text, dialect["delimiter"])
        if len(cells) != dialect["columns"]:
            raise RecordingError(f"{path}, line {number}: {len(cells)} column(s) separated by "
                                 f"{DELIMITER_NAMES[dialect['delimiter']]}; expected {dialect['columns']} like line "
                                 f"{dialect['first_data_line']}")
    xyz_cols, time_col = choose_columns(path, dialect)
    used = sorted(set(xyz_cols + ([time_col] if time_col is not None else [])))
    sep = r"\s+" if dialect["delimiter"] == " " else dialect["delimiter"]
    xyz, times, time_lines = None, None, None
    try:
        frame = pd.read_csv(path, sep=sep, decimal=dialect["decimal"], header=None, usecols=used,
                            skiprows=dialect["skiprows"] + (dialect["header"] is not None), engine="c",
                            dtype={c: np.float64 for c in xyz_cols} | ({time_col: str} if time_col is not None else {}),
                            encoding="utf-8-sig", skip_blank_lines=True, on_bad_lines="error")
        xyz = frame[xyz_cols].to_numpy(dtype=np.float64)
        if len(frame.columns) != len(used) or (not allow_missing and not np.isfinite(xyz).all()):
            xyz = None
        elif time_col is not None:
            times = frame[time_col].to_numpy()
    except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError):
        xyz = None
    if xyz is None:  # name the first bad line and column
        xyz, pairs = _strict_rows(path, dialect, xyz_cols, time_col, allow_missing)
        if time_col is not None:
            time_lines, times = [p[0] for p in pairs], [p[1] for p in pairs]
    if len(xyz) == 0:
        raise RecordingError(f"{path}: no data rows; expected rows of x, y, z acceleration")
    time = None
    if time_col is not None:
        name = dialect["header"][time_col] if dialect["header"] else "time"
        try:
            time = parse_times(path, times, time_lines, column=name, date_format=dialect["date_format"])
        except RecordingError:
            if time_lines is not None:
                raise
            _, pairs = _strict_rows(path, dialect, xyz_cols, time_col, True)  # to name the line
            time = parse_times(path, [p[1] for p in pairs], [p[0] for p in pairs], column=name,
                               date_format=dialect["date_format"])
    info = {k: dialect[k] for k in ("delimiter", "decimal", "columns", "header", "skiprows")}
    info.update(xyz_columns=xyz_cols, time_column=time_col)
    return Recording(str(path), xyz, time, dialect["fs_hint"], info)


def read_npy(path) -> np.ndarray:
    """``.npy`` of numbers: a recording (T, 3) or windows (N, T, 3)."""
    path = Path(path)
    try:
        array = np.load(path, allow_pickle=False)
    except Exception as e:
        raise RecordingError(f"{path}: cannot be read as a .npy array ({type(e).__name__}: {e})") from None
    if array.dtype.kind not in "fiu" or array.ndim not in (2, 3) or array.shape[-1] != COLUMNS:
        raise RecordingError(f"{path}: {array.dtype} array of shape {array.shape}; expected numbers (T, {COLUMNS}) "
                             f"(a recording) or (N, T, {COLUMNS}) (windows), channels last")
    return array


DEVICE_SUFFIXES = (".cwa", ".gt3x", ".bin")
DEVICES_EXTRA = 'pip install -e ".[devices]"'


def read_device(path) -> Recording:
    """Axivity ``.cwa``, ActiGraph ``.gt3x``, GENEActiv ``.bin`` through actipy (optional extra
    ``devices``; actipy needs Java). Values in g as the device stores them (actipy's own
    filtering, calibration, non-wear and resampling are switched off here); time in seconds."""
    try:
        import actipy
    except ImportError:
        raise RecordingError(f"{path}: reading {Path(path).suffix} device files needs actipy (and Java): "
                             f"{DEVICES_EXTRA}") from None
    try:
        data, info = actipy.read_device(str(path), lowpass_hz=None, calibrate_gravity=False, detect_nonwear=False,
                                        resample_hz=None, verbose=False)
    except Exception as e:  # actipy raises whatever its Java reader reports
        raise RecordingError(f"{path}: actipy cannot read it ({type(e).__name__}: {e})") from None
    missing = [c for c in "xyz" if c not in data.columns]
    if missing:
        raise RecordingError(f"{path}: actipy returned columns {list(data.columns)}; expected x, y, z")
    time = data.index.to_numpy(dtype="datetime64[ns]").astype(np.int64) / 1e9
    fs = info.get("SampleRate") if isinstance(info, dict) else None
    return Recording(str(path), data[["x", "y", "z"]].to_numpy(dtype=np.float64), time,
                     float(fs) if fs else None, {"reader": "actipy"})


def file_rate(recording: Recording) -> float | None:
    """The rate a file states (Hz): its ``fs_hint``, else the samples per second of its time
    column up to the first gap of over 1 s (rounded to 0.01 Hz; robust to time stamps rounded to
    the millisecond), else None."""
    if recording.fs_hint:
        return float(recording.fs_hint)
    t = recording.time
    if t is None or len(t) < 2:
        return None
    steps = np.diff(t[:100_000])
    gaps = np.flatnonzero(~(steps <= 1.0))
    steps = steps[: gaps[0]] if len(gaps) else steps
    span = float(steps.sum())
    return round(len(steps) / span, 2) if span > 0 else None


def read_recording(path, allow_missing: bool = False) -> Recording:
    """Any supported file: ``.csv`` / ``.csv.gz``, ``.npy`` (T, 3), or a device file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"input {path} does not exist" + (" (it is a folder)" if path.is_dir() else ""))
    name = path.name.lower()
    if name.endswith((".csv", ".csv.gz", ".txt", ".tsv")):
        return read_csv(path, allow_missing=allow_missing)
    if name.endswith(".npy"):
        array = read_npy(path)
        if array.ndim != 2:
            raise RecordingError(f"{path}: shape {array.shape}; expected a recording (T, {COLUMNS})")
        return Recording(str(path), array.astype(np.float64, copy=False))
    if name.endswith(DEVICE_SUFFIXES):
        return read_device(path)
    raise RecordingError(f"{path}: unknown input type {path.suffix!r}; expected .csv, .csv.gz, .npy or a device "
                         f"file ({', '.join(DEVICE_SUFFIXES)})")
