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

from relcon.data import timestamps
from relcon.data.timestamps import RecordingError, TimestampError  # noqa: F401  (re-exported)
from relcon.data.units import FACTORS, to_g

COLUMNS = 3
SNIFF_LINES = 100
# (delimiter, decimal mark); " " stands for runs of whitespace.
DIALECTS = ((",", "."), (";", "."), (";", ","), ("\t", "."), ("\t", ","), (" ", "."), (" ", ","))
DELIMITER_NAMES = {",": "','", ";": "';'", "\t": "tab", " ": "whitespace"}
TIME_NAMES = ("date", "t", "epoch")
# ActiLife's "date format ..." preamble entry -> strptime format of its Timestamp column.
DATE_FORMATS = {"M/d/yyyy": "%m/%d/%Y %H:%M:%S.%f", "d/M/yyyy": "%d/%m/%Y %H:%M:%S.%f",
                "dd/MM/yyyy": "%d/%m/%Y %H:%M:%S.%f", "MM/dd/yyyy": "%m/%d/%Y %H:%M:%S.%f"}

# Sampling-rate floor for the 100 Hz encoder. Human movement in daily life has its energy below
# about 10 Hz (gait: fundamental 1-3 Hz with harmonics to ~10 Hz; voluntary movement < 10 Hz;
# Antonsson & Mann 1985, J Biomech 18:39; Bouten et al. 1997, IEEE TBME 44:136 recommend
# 0-20 Hz for daily activity). By Nyquist a rate of 20 Hz keeps content up to 10 Hz. Below it,
# upsampling to 100 Hz cannot restore what the encoder saw in training, so a warning says so.
MIN_FS = 20.0


@dataclass
class Recording:
    """A recording as read from a file.

    xyz: (T, 3) float64 acceleration in the file's units (NaN where a cell was empty, when
        missing values are allowed). time: (T,) float64 seconds (epoch seconds, UTC, for
        date-times; see ``relcon/data/timestamps.py``) or None. fs_hint: a rate named in the file
        or estimated from a coarse clock (Hz) or None.
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
CHUNK_ROWS = 500_000  # rows a chunk (CSV, .npy): the memory of a reader does not grow with the file
UNITS_PROBE_ROWS = 1_000_000  # units are recognised on the finite rows among the first this many


@dataclass
class Chunk:
    """Consecutive rows of a recording: ``xyz`` (n, 3) float64 (in g, or the file's units when
    read with ``units=None``; NaN rows where values are missing), ``t`` (n,) float64 seconds
    (UTC epoch seconds for date-times) or None, ``first_row`` the 0-based data row of ``xyz[0]``."""

    xyz: np.ndarray
    t: np.ndarray | None
    first_row: int


def _data_rows(path: Path, dialect: dict):
    """(line number, cells) of each data row, streamed."""
    skip = dialect["skiprows"] + (dialect["header"] is not None)
    with _open_text(path) as f:
        for number, line in enumerate(f, start=1):
            if number <= skip or not line.strip():
                continue
            yield number, _split(line.rstrip("\r\n"), dialect["delimiter"])


def _first_bad_line(path: Path, dialect: dict, xyz_cols: list[int], allow_missing: bool) -> None:
    """Raise :class:`RecordingError` naming the first line with a wrong column count or a bad
    acceleration cell; return if there is none. Streams the file (nothing is kept)."""
    decimal, n, names = dialect["decimal"], dialect["columns"], dialect["header"]
    for number, cells in _data_rows(path, dialect):
        if len(cells) != n:
            raise RecordingError(f"{path}, line {number}: {len(cells)} column(s) separated by "
                                 f"{DELIMITER_NAMES[dialect['delimiter']]}; expected {n} like line "
                                 f"{dialect['first_data_line']}")
        for column in xyz_cols:
            cell = cells[column]
            label = f"column {column + 1}" + (f" ({names[column]!r})" if names else "")
            value = _number(cell, decimal)
            if value is None and not (allow_missing and cell.strip() == ""):
                raise RecordingError(f"{path}, line {number}, {label}: {cell!r} is not a number")
            if value is not None and not math.isfinite(value) and not allow_missing:
                raise RecordingError(f"{path}, line {number}, {label}: {cell!r} is not a finite number")


def _data_lines(path: Path, dialect: dict, first_row: int, count: int) -> list[int]:
    """File line numbers of the data rows ``first_row ... first_row + count - 1``."""
    lines = []
    for row, (number, _) in enumerate(_data_rows(path, dialect)):
        if row >= first_row + count:
            break
        if row >= first_row:
            lines.append(number)
    return lines


def _csv_chunks(path: Path, dialect: dict, xyz_cols: list[int], time_col: int | None, allow_missing: bool,
                chunk_rows: int):
    """Raw chunks ``(xyz (n, 3) float64, time values (n,) or None, first row)`` by pandas' C
    parser; a chunk it rejects has the file scanned line by line to name the first bad line."""
    import pandas as pd

    used = sorted(set(xyz_cols + ([time_col] if time_col is not None else [])))
    sep = r"\s+" if dialect["delimiter"] == " " else dialect["delimiter"]
    row = 0
    try:
        reader = pd.read_csv(path, sep=sep, decimal=dialect["decimal"], header=None, usecols=used,
                             skiprows=dialect["skiprows"] + (dialect["header"] is not None), engine="c",
                             dtype={c: np.float64 for c in xyz_cols} | ({time_col: str} if time_col is not None else {}),
                             encoding="utf-8-sig", skip_blank_lines=True, on_bad_lines="error", chunksize=chunk_rows)
        with reader:
            for frame in reader:
                xyz = frame[xyz_cols].to_numpy(dtype=np.float64)
                if len(frame.columns) != len(used) or (not allow_missing and not np.isfinite(xyz).all()):
                    raise ValueError("a column count or value the C parser accepted but the rules refuse")
                yield xyz, (frame[time_col].to_numpy() if time_col is not None else None), row
                row += len(frame)
    except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        if isinstance(e, RecordingError):
            raise
        _first_bad_line(path, dialect, xyz_cols, allow_missing)
        raise RecordingError(f"{path}: cannot be read as a CSV of x, y, z acceleration after data row {row} "
                             f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})") from None


def _array_chunks(xyz: np.ndarray, time: np.ndarray | None, chunk_rows: int):
    for a in range(0, len(xyz), chunk_rows):
        yield (np.asarray(xyz[a:a + chunk_rows], dtype=np.float64), None if time is None else time[a:a + chunk_rows],
               a)


class RecordingStream:
    """A recording file read in chunks: its rate, units and time line are settled from its first
    rows, then every row is delivered once, in order, as :class:`Chunk` s.

    Args:
        path: ``.csv`` / ``.csv.gz`` (any dialect of this module's docstring), ``.npy`` (T, 3),
            or a device file (``.cwa``, ``.gt3x``, ``.bin``; read whole by actipy).
        fs: the rate in Hz given by the user (checked against the time stamps), or None.
        units: "auto", "check", "g", "m/s2", "mg" (``relcon/data/units.py``), recognised on the
            finite rows among the first :data:`UNITS_PROBE_ROWS`; None: no conversion.
        timezone: IANA zone that naive date-times are local to (``relcon/data/timestamps.py``).
        allow_missing: empty or non-finite cells become NaN rows instead of an error.
        chunk_rows: rows per chunk read (CSV and ``.npy``). Only the first
            ``max(UNITS_PROBE_ROWS, RATE_PROBE_ROWS)`` rows are held at once, whatever the length.
    Attributes: ``fs`` (the rate: given, stated by the file, or from its time stamps; None if
    none), ``timed``, ``unit`` (found), ``time_info``, ``dialect``, ``notes`` (lines to log),
    ``counts`` (the time line's counts). Raises :class:`RecordingError` (a ``ValueError``)
    naming the file, line or row and what was expected; ``FileNotFoundError``.
    """

    def __init__(self, path, fs: float | None = None, units: str | None = "auto", timezone: str | None = None,
                 allow_missing: bool = False, chunk_rows: int = CHUNK_ROWS):
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"input {path} does not exist" + (" (it is a folder)" if path.is_dir() else ""))
        if int(chunk_rows) < 1:
            raise ValueError(f"chunk_rows={chunk_rows!r}: expected a positive number of rows")
        if fs is not None and not (isinstance(fs, (int, float)) and math.isfinite(fs) and fs > 0):
            raise ValueError(f"fs={fs!r}: expected the sampling rate in Hz, a positive number")
        self.path, self.fs_hint, self.dialect, self.notes = path, None, {}, []
        name = path.name.lower()
        time_name, date_format = "time", None
        self._csv = None
        if name.endswith((".csv", ".csv.gz", ".txt", ".tsv")):
            dialect = sniff(path)
            for number, text in dialect["sample"]:  # pandas ignores extra cells outside usecols: check here
                cells = _split(text, dialect["delimiter"])
                if len(cells) != dialect["columns"]:
                    raise RecordingError(f"{path}, line {number}: {len(cells)} column(s) separated by "
                                         f"{DELIMITER_NAMES[dialect['delimiter']]}; expected {dialect['columns']} like "
                                         f"line {dialect['first_data_line']}")
            xyz_cols, time_col = choose_columns(path, dialect)
            raw = _csv_chunks(path, dialect, xyz_cols, time_col, allow_missing, int(chunk_rows))
            self.fs_hint, date_format, self._csv = dialect["fs_hint"], dialect["date_format"], dialect
            if time_col is not None and dialect["header"]:
                time_name = dialect["header"][time_col]
            self.dialect = {k: dialect[k] for k in ("delimiter", "decimal", "columns", "header", "skiprows")}
            self.dialect.update(xyz_columns=xyz_cols, time_column=time_col)
            self.timed = time_col is not None
        elif name.endswith(".npy"):
            try:
                array = np.load(path, mmap_mode="r", allow_pickle=False)
            except Exception as e:
                raise RecordingError(f"{path}: cannot be read as a .npy array ({type(e).__name__}: {e})") from None
            if array.dtype.kind not in "fiu" or array.ndim != 2 or array.shape[-1] != COLUMNS:
                raise RecordingError(f"{path}: {array.dtype} array of shape {array.shape}; expected a recording of "
                                     f"numbers (T, {COLUMNS}), channels last")
            raw, self.timed = _array_chunks(array, None, int(chunk_rows)), False
        elif name.endswith(DEVICE_SUFFIXES):
            device = read_device(path)
            raw, self.timed, self.fs_hint = _array_chunks(device.xyz, device.time, int(chunk_rows)), True, device.fs_hint
            self.dialect = dict(device.dialect)
        else:
            raise RecordingError(f"{path}: unknown input type {path.suffix!r}; expected .csv, .csv.gz, .npy or a "
                                 f"device file ({', '.join(DEVICE_SUFFIXES)})")
        self._raw = iter(raw)
        self._parser = timestamps.TimeParser(path, time_name, date_format, timezone) if self.timed else None
        self.time_info = self._parser.info if self._parser else None
        self._timeline = timestamps.Timeline(path, self.time_info) if self.timed else None

        # The first rows settle the rate, the clock and the units, whatever the chunk size.
        head, n = [], 0
        for xyz, values, first in self._raw:
            head.append((xyz, self._times(values, first), first))
            n += len(xyz)
            if n >= max(UNITS_PROBE_ROWS, timestamps.RATE_PROBE_ROWS):
                break
        if n == 0:
            raise RecordingError(f"{path}: no data rows; expected rows of x, y, z acceleration")
        self._head = head
        if self.timed:
            stamps = np.concatenate([h[1] for h in head])
            rate = self._timeline.start(stamps[: timestamps.RATE_PROBE_ROWS], fs, fs_hint=self.fs_hint)
            self.fs = rate
            self.notes += self._timeline.notes
        else:
            if fs and self.fs_hint and abs(fs - self.fs_hint) > 0.10 * self.fs_hint:
                raise RecordingError(f"{path}: rate {fs:g} Hz given, but the file states {self.fs_hint:g} Hz; expected "
                                     f"them to agree")
            self.fs = fs or self.fs_hint
        if self.fs is not None and (not math.isfinite(self.fs) or self.fs <= 0):
            raise RecordingError(f"{path}: rate {self.fs!r}; expected a positive number of Hz")
        self.unit, self._factor = None, 1.0
        if units is not None:
            probe = np.concatenate([h[0] for h in head])[:UNITS_PROBE_ROWS]
            finite = probe[np.isfinite(probe).all(axis=1)]
            if len(finite):
                self._settle_units(finite, units)
            self._units = units
        self.counts = self._timeline.counts if self._timeline else {}

    def _settle_units(self, finite: np.ndarray, units: str) -> None:
        _, self.unit = to_g(finite, units, source=str(self.path))
        self._factor = FACTORS[self.unit]

    def _times(self, values, first_row: int) -> np.ndarray | None:
        if values is None:
            return None
        import copy

        before = copy.deepcopy(self._parser) if self._csv is not None else None
        try:
            return self._parser(values, None, first_row)
        except TimestampError:
            if before is None:
                raise
            lines = _data_lines(self.path, self._csv, first_row, len(values))  # to name the line
            self._parser = before
            self.time_info = before.info
            return self._parser(values, lines, first_row)

    def chunks(self):
        """The rows, in order, as :class:`Chunk` s (at most ``chunk_rows`` rows each)."""
        def raw():
            yield from self._head
            self._head = []
            for xyz, values, first in self._raw:
                yield xyz, self._times(values, first), first

        for xyz, stamps, first in raw():
            if self.unit is None and getattr(self, "_units", None) is not None:  # no finite row in the first rows
                finite = xyz[np.isfinite(xyz).all(axis=1)]
                if len(finite):
                    self._settle_units(finite[:UNITS_PROBE_ROWS], self._units)
            if self._factor != 1.0:
                xyz = xyz * self._factor
            t = self._timeline(stamps, first) if stamps is not None else None
            yield Chunk(xyz, t, first)

    def read(self) -> Recording:
        """The whole recording (for short files and tests: it holds every row)."""
        parts = list(self.chunks())
        xyz = np.concatenate([c.xyz for c in parts]) if parts else np.zeros((0, COLUMNS))
        t = np.concatenate([c.t for c in parts]) if self.timed and parts else None
        hint = self.fs_hint or (self.fs if self._timeline is not None and self._timeline.coarse else None)
        return Recording(str(self.path), xyz, t, hint, self.dialect)


def read_csv(path, allow_missing: bool = False) -> Recording:
    """A :class:`Recording` from a CSV / CSV.gz file in any dialect of this module's docstring,
    in the file's units. ``allow_missing``: empty cells and NaN become NaN (a processor splits
    the recording there); otherwise they are an error naming the line and column. Raises
    :class:`RecordingError`. Reads the whole file; :class:`RecordingStream` reads it in chunks."""
    path = Path(path)
    if not path.name.lower().endswith((".csv", ".csv.gz", ".txt", ".tsv")):
        raise RecordingError(f"{path}: expected a .csv / .csv.gz file")
    return RecordingStream(path, units=None, allow_missing=allow_missing).read()


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
    filtering, calibration, non-wear and resampling are switched off here); time in seconds.
    actipy reads the whole file into memory."""
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
    return timestamps.probe_rate(recording.time)


def read_recording(path, allow_missing: bool = False) -> Recording:
    """Any supported file, whole, in the file's units: ``.csv`` / ``.csv.gz``, ``.npy`` (T, 3),
    or a device file. :class:`RecordingStream` reads it in chunks."""
    return RecordingStream(path, units=None, allow_missing=allow_missing).read()
