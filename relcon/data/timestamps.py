"""Time stamps of accelerometer recordings: one reader for every processor.

Every reader of a recording's time column (``relcon.embed``, ``process_recordings.py``, the
Capture-24 processor, through ``relcon/data/recordings.py``) turns it into instants with
:class:`TimeParser` and checks the timeline with :class:`Timeline`, chunk by chunk, so each rule
below holds everywhere and gives the same result whatever the chunk size.

Forms of the time column (the form of a file is fixed by its first value):

* numbers: epoch seconds, or epoch milliseconds (a first value above 1e11);
* ISO 8601 date-times, naive (``2016-11-13 02:18:00.010``): read as UTC, or as local time in
  the zone ``timezone`` names (``--timezone Europe/London``);
* ISO 8601 with a UTC offset (``+01:00``, ``+0100``, ``Z``), as zone-aware exporters write them:
  instants; an offset that changes mid-file (a clock change) is neither a gap nor a step back;
* a zone name after the time, with or without an offset (``2014-05-07 13:29:50.430+0100
  [Europe/London]`` as biobankAccelerometerAnalysis writes it, ``2023-10-29 01:30:00.000
  Europe/London``): the offset when there is one, else local time in that zone;
* ``date_format`` (strptime), from an ActiGraph preamble: naive.

Local times are made instants with the IANA zone database (``zoneinfo``; on Windows ``pip install
tzdata``). In the hour that repeats when the clocks go back, a local time is read as the first
(daylight-saving) pass until the clock steps back, and as the second pass after it; a local time
that does not exist (the hour skipped when the clocks go forward) is an error naming the row.

Timeline rules (:class:`Timeline`), for the instants in seconds:

* time must not go back. A step back of one hour (``-3600 s`` ± :data:`CLOCK_CHANGE_TOLERANCE_S`)
  in naive times is recognised as the clock going back and refused with an error naming the row
  and ``--timezone``; a step forward of one hour there is a gap (it is one, on the file's clock)
  and is counted as a possible clock change;
* repeated stamps: a file where at least half of the first :data:`RATE_PROBE_ROWS` steps are zero
  has a coarse clock (e.g. 1 s resolution, 25 rows a stamp, as some CSV exports write). Its rate is
  estimated as rows per second between the first and last stamp change of the first gap-free
  stretch (or ``fs`` given), and each row's time is the stamp of its run's first row plus its row
  offset / rate; a gap is a stamp step over the resolution + :data:`MAX_GAP_S`. Repeated stamps
  in a fine clock are an error (not strictly increasing);
* the rate a file states (:func:`probe_rate`): rows per second of the first
  :data:`RATE_PROBE_ROWS` rows up to the first gap of over :data:`MAX_GAP_S`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone as dt_timezone

import numpy as np

MAX_GAP_S = 1.0  # a step over this (s) between time stamps is a gap: recordings are split there
CLOCK_CHANGE_S = 3600.0
CLOCK_CHANGE_TOLERANCE_S = 1.0
RATE_PROBE_ROWS = 100_000
COARSE_ZERO_SHARE = 0.5
EPOCH_MS_ABOVE = 1e11  # epoch seconds reach 1e11 in the year 5138; epoch ms passed it in 1973
ISO_EXAMPLE = "ISO 8601 (2016-11-13 02:18:00.010, optionally with +01:00 / Z or a zone name after it)"

# "<date-time>[offset][ [zone]]": the offset (Z, +01:00, +0100, +01) and an IANA zone name in
# brackets or after a space; the date-time itself is left to pandas' ISO 8601 parser.
_AWARE = re.compile(r"^(?P<dt>.*?\d)(?P<offset>Z|[+-]\d\d(?::?\d\d)?)?"
                    r"(?:\s*\[(?P<bzone>[A-Za-z][\w+\-]*(?:/[\w+\-]+)*)\]|\s+(?P<zone>[A-Za-z][\w+\-]*(?:/[\w+\-]+)*))?\s*$")


class RecordingError(ValueError):
    """A recording file cannot be read; the message names the file, line and what was expected."""


class TimestampError(RecordingError):
    """A time column that cannot be read as instants, or a timeline that breaks the rules above."""


def show_time(seconds: float) -> str:
    """Epoch seconds as ``YYYY-mm-dd HH:MM:SS.fff`` UTC (small values as seconds)."""
    if seconds > 1e8:
        return datetime.fromtimestamp(seconds, tz=dt_timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    return f"{seconds:g} s"


def _zone(name: str, path) -> object:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise TimestampError(f"{path}: time zone {name!r} is not in the IANA zone database; expected a name like "
                             f"Europe/London or America/New_York (on Windows: pip install tzdata)") from None


@dataclass
class TimeInfo:
    """How a time column was read: ``form`` ("epoch s", "epoch ms", "naive", "offset", "zone",
    "format"); ``zone`` the local zone applied (or None); ``naive``: instants taken from a clock
    that states no zone (UTC assumed)."""

    form: str | None = None
    zone: str | None = None

    @property
    def naive(self) -> bool:
        return self.form in ("naive", "format") and self.zone is None


class TimeParser:
    """Time values of one file -> float64 epoch seconds (UTC), called chunk by chunk.

    Args:
        path: the file (for messages). column: the time column's name (for messages).
        date_format: strptime format of naive date-times (ActiGraph preamble) or None (ISO 8601).
        timezone: IANA zone that naive date-times are local to (None: UTC).
    Raises :class:`TimestampError` naming the line (or data row) of the first bad value.
    """

    def __init__(self, path, column: str = "time", date_format: str | None = None, timezone: str | None = None):
        self.path, self.column, self.date_format = path, column, date_format
        self.timezone = timezone
        self.info = TimeInfo(zone=timezone)
        if timezone is not None:
            _zone(timezone, path)
        self._last_local = None  # last local time (ns) of the previous chunk, for the repeated hour
        self._second_pass = False  # in the repeated hour, after the clock went back

    def _where(self, i: int, lines, first_row: int) -> str:
        return f", line {lines[i]}" if lines is not None else f", data row {first_row + i + 1}"

    def __call__(self, values, lines=None, first_row: int = 0) -> np.ndarray:
        import pandas as pd

        values = pd.Series(values) if not isinstance(values, pd.Series) else values.reset_index(drop=True)
        if len(values) == 0:
            return np.zeros(0)
        if self.info.form is None:
            self.info.form = self._form(values)
        form = self.info.form
        if form in ("epoch s", "epoch ms"):
            numbers = pd.to_numeric(values, errors="coerce")
            bad = numbers.isna().to_numpy()
            if bad.any():
                self._bad(values, int(np.flatnonzero(bad)[0]), lines, first_row, "epoch seconds or milliseconds, like "
                                                                                 "the first rows")
            t = numbers.to_numpy(dtype=np.float64)
            return t / 1000.0 if form == "epoch ms" else t
        if form in ("naive", "format"):
            parsed = pd.to_datetime(values, format=self.date_format or "ISO8601", errors="coerce")
            self._check_parsed(values, parsed, lines, first_row)
            if getattr(parsed.dt, "tz", None) is not None:  # a value with an offset in a naive file
                self._mixed(values, lines, first_row)
            if self.timezone is None:
                return self._seconds(parsed)
            return self._localize(parsed, self.timezone, values, lines, first_row)
        # zone-qualified: offsets and / or zone names after the time
        parts = values.astype(str).str.extract(_AWARE)
        unmatched = parts["dt"].isna().to_numpy()
        if unmatched.any():
            self._bad(values, int(np.flatnonzero(unmatched)[0]), lines, first_row, ISO_EXAMPLE)
        has_offset = parts["offset"].notna().to_numpy()
        zone_names = parts["bzone"].fillna(parts["zone"])
        if form == "offset" and not has_offset.all():
            self._mixed(values, lines, first_row, int(np.flatnonzero(~has_offset)[0]))
        out = np.empty(len(values))
        if has_offset.any():
            text = (parts["dt"] + parts["offset"]).where(has_offset, None)[has_offset]
            parsed = pd.to_datetime(text, format="ISO8601", utc=True, errors="coerce")
            self._check_parsed(values[has_offset], parsed, lines, first_row, np.flatnonzero(has_offset))
            out[has_offset] = self._seconds(parsed)
        rest = np.flatnonzero(~has_offset)
        if len(rest):
            names = zone_names.iloc[rest]
            if names.isna().any():
                self._mixed(values, lines, first_row, int(rest[int(np.flatnonzero(names.isna().to_numpy())[0])]))
            naive = pd.to_datetime(parts["dt"].iloc[rest], format="ISO8601", errors="coerce")
            self._check_parsed(values.iloc[rest], naive, lines, first_row, rest)
            for name in names.unique():
                pick = (names == name).to_numpy()
                out[rest[pick]] = self._localize(naive[pick], name, values, lines, first_row, rest[pick])
            self.info.zone = self.info.zone or names.iloc[0]
        else:
            self._last_local, self._second_pass = None, False
        return out

    # ------------------------------------------------------------------ helpers
    def _form(self, values) -> str:
        first = str(values.iloc[0]).strip()
        try:
            number = float(first)
        except ValueError:
            number = None
        if number is not None and np.isfinite(number):
            return "epoch ms" if abs(number) > EPOCH_MS_ABOVE else "epoch s"
        if self.date_format:
            return "format"
        m = _AWARE.match(first)
        if m and (m.group("bzone") or m.group("zone")):
            return "zone"
        if m and m.group("offset") and re.search(r"\d[T ]\d|\d:\d", m.group("dt")):
            return "offset"
        return "naive"

    def _bad(self, values, i: int, lines, first_row: int, expected: str):
        raise TimestampError(f"{self.path}{self._where(i, lines, first_row)}, column {self.column!r}: "
                             f"{values.iloc[i]!r} is not a date-time; expected {expected}"
                             + (f", or {self.date_format} as the preamble says" if self.date_format else ""))

    def _mixed(self, values, lines, first_row: int, i: int | None = None):
        if i is None:
            aware = values.astype(str).str.match(r".*\d(?:Z|[+-]\d\d(?::?\d\d)?)\s*$").to_numpy()
            i = int(np.flatnonzero(aware)[0]) if aware.any() else 0
        raise TimestampError(f"{self.path}{self._where(i, lines, first_row)}, column {self.column!r}: "
                             f"{values.iloc[i]!r}: the file mixes date-times with and without a UTC offset or "
                             f"zone; expected one form throughout (the first rows are {self.info.form})")

    def _check_parsed(self, values, parsed, lines, first_row: int, rows=None):
        bad = parsed.isna().to_numpy()
        if bad.any():
            j = int(np.flatnonzero(bad)[0])
            i = int(rows[j]) if rows is not None else j
            full = values if rows is None else None
            shown = (full if full is not None else values).iloc[j]
            raise TimestampError(f"{self.path}{self._where(i, lines, first_row)}, column {self.column!r}: "
                                 f"{shown!r} is not a date-time; expected {ISO_EXAMPLE}, epoch seconds or epoch "
                                 f"milliseconds" + (f", or {self.date_format} as the preamble says"
                                                    if self.date_format else ""))

    @staticmethod
    def _seconds(parsed) -> np.ndarray:
        if getattr(parsed.dt, "tz", None) is not None:
            parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
        return parsed.to_numpy(dtype="datetime64[ns]").astype(np.int64) / 1e9

    def _localize(self, naive, zone: str, values, lines, first_row: int, rows=None) -> np.ndarray:
        """Local date-times in ``zone`` -> epoch seconds, the repeated hour resolved by order."""
        _zone(zone, self.path)
        naive = naive.reset_index(drop=True)
        n = len(naive)
        first = naive.dt.tz_localize(zone, ambiguous=np.ones(n, dtype=bool), nonexistent="NaT")
        second = naive.dt.tz_localize(zone, ambiguous=np.zeros(n, dtype=bool), nonexistent="NaT")
        missing = first.isna().to_numpy()
        if missing.any():
            j = int(np.flatnonzero(missing)[0])
            i = int(rows[j]) if rows is not None else j
            raise TimestampError(f"{self.path}{self._where(i, lines, first_row)}, column {self.column!r}: "
                                 f"{values.iloc[i]!r} does not exist in {zone} (the hour skipped when the clocks go "
                                 f"forward); expected local times of {zone}, or times with their UTC offset")
        a, b = self._seconds(first), self._seconds(second)
        local = naive.to_numpy(dtype="datetime64[ns]").astype(np.int64)
        repeated = a != b
        back = np.empty(n, dtype=bool)
        back[0] = self._last_local is not None and local[0] < self._last_local
        back[1:] = local[1:] < local[:-1]
        use_second = np.zeros(n, dtype=bool)
        padded = np.concatenate([[False], repeated, [False]])
        edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
        for lo, hi in zip(edges[::2], edges[1::2]):
            carried = self._second_pass if lo == 0 else False
            use_second[lo:hi] = carried | (np.cumsum(back[lo:hi]) > 0)
        self._second_pass = bool(use_second[-1]) if repeated[-1] else False
        self._last_local = int(local[-1])
        return np.where(use_second, b, a)


# ----------------------------------------------------------------------------- the timeline
def probe_rate(t: np.ndarray) -> float | None:
    """Rows per second (Hz, to 0.01) of fine-clock time stamps ``t`` up to their first gap of
    over :data:`MAX_GAP_S`; None when fewer than two rows or no time passes."""
    if t is None or len(t) < 2:
        return None
    steps = np.diff(t[:RATE_PROBE_ROWS])
    gaps = np.flatnonzero(~(steps <= MAX_GAP_S))
    steps = steps[: gaps[0]] if len(gaps) else steps
    span = float(steps.sum())
    return round(len(steps) / span, 2) if span > 0 else None


def coarse_clock(t: np.ndarray) -> tuple[float, float | None] | None:
    """``(resolution in s, rate in Hz or None)`` when the first rows' stamps repeat (a coarse
    clock), else None. The rate: rows per second between the first and last stamp change of the
    longest stretch without a gap (None when it holds fewer than two changes)."""
    steps = np.diff(t[:RATE_PROBE_ROWS])
    if len(steps) < 2 or (steps == 0).mean() < COARSE_ZERO_SHARE:
        return None
    positive = steps[steps > 0]
    if not len(positive):
        return float("nan"), None
    resolution = float(np.median(positive))
    changes = np.flatnonzero(steps > 0) + 1  # rows where a new stamp starts
    big = np.flatnonzero(steps[changes - 1] > resolution + MAX_GAP_S)
    bounds = [0, *big.tolist(), len(changes)]
    best, best_span = None, 0.0
    for lo, hi in zip(bounds, bounds[1:]):
        lo = lo + 1 if lo in big else lo  # a stretch starts after its gap
        if hi - lo >= 2:
            span = float(t[changes[hi - 1]] - t[changes[lo]])
            if span > best_span:
                best, best_span = (changes[lo], changes[hi - 1]), span
    if best is None:
        return resolution, None
    return resolution, round((best[1] - best[0]) / best_span, 2)


class Timeline:
    """Checks instants chunk by chunk and, for a coarse clock, gives each row its time.

    Args:
        path: the file (for messages). info: the :class:`TimeInfo` of its parser (naive times
            get the clock-change rule).
    Call :meth:`start` once with the first rows' instants (at least :data:`RATE_PROBE_ROWS`, or
    the whole file) and the rate given by the user (or None); it returns the nominal rate (Hz)
    or None. Then call the timeline with each chunk in order (the first rows included): it
    returns the rows' times. ``counts``: ``clock_changes_forward`` (naive steps of about +1 h),
    ``coarse_reanchors`` (coarse-clock runs restarted because the stamps drifted from the rate).
    """

    def __init__(self, path, info: TimeInfo):
        self.path, self.info = path, info
        self.coarse = None  # (resolution s, rate Hz) for a coarse clock
        self.fs = None
        self._last = None  # last stamp of the previous chunk
        self._anchor = None  # (time, row) of the current coarse run's first row
        self.counts = {"clock_changes_forward": 0, "coarse_reanchors": 0}
        self.notes: list[str] = []

    def start(self, head: np.ndarray, fs: float | None = None, fs_hint: float | None = None,
              tolerance: float = 0.10) -> float | None:
        """Check the first rows' instants ``head`` and settle the clock; returns the rate (Hz):
        ``fs`` (given; checked against the stamps), else ``fs_hint`` (stated in the file), else
        the stamps' rate; None for a single row."""
        self._check_order(head, 0, probe=True)
        coarse = coarse_clock(head)
        if coarse is None:
            stated = fs_hint or probe_rate(head)
            if fs and stated and abs(fs - stated) > tolerance * stated:
                raise TimestampError(f"{self.path}: rate {fs:g} Hz given, but the file's time stamps advance at "
                                     f"{stated:g} Hz; expected them to agree (drop --fs / the manifest's fs for timed "
                                     f"files)")
            self.fs = fs or stated
            return self.fs
        fs = fs or fs_hint
        resolution, estimate = coarse
        per_stamp = round(1 / max(1e-9, 1 - float((np.diff(head[:RATE_PROBE_ROWS]) == 0).mean())))
        if fs is None and estimate is None:
            raise TimestampError(f"{self.path}: the time stamps repeat (about {per_stamp} rows share each stamp: a "
                                 f"clock of {resolution:g} s resolution) and the file holds too few stamp changes to "
                                 f"estimate the rate; expected --fs (the sampling rate in Hz)")
        if fs and estimate and abs(fs - estimate) > tolerance * estimate:
            raise TimestampError(f"{self.path}: rate {fs:g} Hz given, but the file's coarse time stamps hold "
                                 f"{estimate:g} rows per second; expected them to agree")
        self.fs = float(fs or estimate)
        self.coarse = (resolution, self.fs)
        self.notes.append(f"{self.path}: time stamps of {resolution:g} s resolution (about {per_stamp} rows share "
                          f"each stamp); rate {'given' if fs else 'estimated'}: {self.fs:g} Hz"
                          + (f" ({estimate:g} rows per second between stamp changes)" if not fs else "")
                          + "; each row is timed from its run's first stamp and the rate")
        return self.fs

    def _check_order(self, t: np.ndarray, first_row: int, probe: bool = False) -> None:
        steps = np.diff(t) if self._last is None or probe else np.diff(np.concatenate([[self._last], t]))
        offset = 1 if self._last is None or probe else 0
        coarse = self.coarse is not None or (probe and coarse_clock(t) is not None)
        bad = np.flatnonzero(~(steps >= 0) if coarse else ~(steps > 0))
        if len(bad):
            j = int(bad[0])
            i = first_row + j + offset  # data row (0-based) of the later stamp
            before = t[j + offset - 1] if j + offset >= 1 else self._last
            after = t[j + offset]
            step = float(after - before)
            if self.info.naive and abs(step + CLOCK_CHANGE_S) <= CLOCK_CHANGE_TOLERANCE_S:
                raise TimestampError(
                    f"{self.path}: time goes back an hour, from {show_time(before)} to {show_time(after)} at data row "
                    f"{i + 1}: the clock going back (end of daylight saving time) in naive local time; expected "
                    f"--timezone ZONE (e.g. --timezone Europe/London; API: timezone=) to read the times as local time "
                    f"of that zone")
            raise TimestampError(f"{self.path}: time goes from {show_time(before)} to {show_time(after)} at data row "
                                 f"{i + 1}; expected {'non-decreasing' if coarse else 'strictly increasing'} time stamps")
        if self.info.naive and not probe:
            forward = np.abs(steps - CLOCK_CHANGE_S) <= CLOCK_CHANGE_TOLERANCE_S
            if forward.any():
                self.counts["clock_changes_forward"] += int(forward.sum())

    def __call__(self, t: np.ndarray, first_row: int) -> np.ndarray:
        """Times (s) of the rows ``first_row ...`` whose stamps are ``t``."""
        if len(t) == 0:
            return t
        self._check_order(t, first_row)
        out = t if self.coarse is None else self._coarse_times(t, first_row)
        self._last = float(t[-1])
        return out

    def _coarse_times(self, t: np.ndarray, first_row: int) -> np.ndarray:
        """Each row: its run's first stamp + row offset / rate. A run ends at a gap (a stamp step
        over resolution + MAX_GAP_S) or where the stamps drift that far from the rate."""
        resolution, fs = self.coarse
        limit = resolution + MAX_GAP_S
        out = np.empty(len(t))
        i, previous = 0, self._last
        while i < len(t):
            if self._anchor is None or (previous is not None and t[i] - previous > limit):
                self._anchor = (float(t[i]), first_row + i)
            anchor_t, anchor_row = self._anchor
            gap = np.flatnonzero(np.diff(t[i:]) > limit)
            stop = i + 1 + int(gap[0]) if len(gap) else len(t)
            timed = anchor_t + (first_row + np.arange(i, stop) - anchor_row) / fs
            drift = np.flatnonzero(np.abs(timed - t[i:stop]) > limit)
            if len(drift):  # the stamps left the rate: a new run from that row
                self.counts["coarse_reanchors"] += 1
                stop = i + int(drift[0])
                self._anchor = None
            out[i:stop] = timed[: stop - i]
            if stop > i:
                previous = float(t[stop - 1])
            i = stop
        return out
