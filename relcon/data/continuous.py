"""Continuous runs of a recording, streamed: split, regridded, resampled to 100 Hz, cut.

One rule for every consumer of raw recordings (``process_recordings.py`` cuts 2.56 s segments
into hour folders, ``relcon.embed`` cuts windows to embed), applied chunk by chunk so that a
week-long file is processed in bounded memory and **the result does not depend on the chunk
size** (tests read the same file in chunks that split segments, gaps and clock changes):

1. runs: a row with a missing value (NaN, empty cell), and a step between time stamps that is
   not in (0, :data:`MAX_GAP_S`] (a gap), end a run; nothing is interpolated across them;
2. a run whose time steps deviate by more than :data:`IRREGULAR_TOLERANCE` of the nominal step
   (irregular sampling) is interpolated linearly onto a regular grid at the nominal rate
   (``t0 + k / fs``) first; the decision is taken on the run's first :data:`IRREGULAR_PROBE_ROWS`
   rows (the whole run when shorter);
3. each run is resampled to 100 Hz by the polyphase filter of ``scipy.signal.resample_poly``
   (Kaiser window, beta 5, half length 10 · max(up, down)), computed block by block with
   ``scipy.signal.upfirdn``: bitwise the samples ``resample_poly`` gives for the whole run;
4. non-wear (optional): 10 s windows from the run's start whose standard deviation is below
   13 mg on all three axes are stationary; a stretch of stationary windows lasting at least
   60 min is non-wear (Doherty et al. 2017, PLoS ONE 12:e0169649, the rule of the UK Biobank
   accelerometer analysis). Dropped (pre-training) or flagged (embedding);
5. windows of :data:`WINDOW` samples (2.56 s) every ``hop`` samples from the start of each
   piece (a run, or the part of a run between non-wear stretches when those are dropped); a
   tail shorter than a window is counted, not cut.
"""
from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from relcon.data.timestamps import MAX_GAP_S

FS = 100  # Hz: the encoder's rate
WINDOW = 256  # samples at FS (2.56 s)
IRREGULAR_TOLERANCE = 0.10  # of the nominal step
IRREGULAR_PROBE_ROWS = 1_000_000
NONWEAR_WINDOW = 10 * FS  # samples (10 s)
NONWEAR_STD_G = 0.013
NONWEAR_MIN_WINDOWS = 360  # 60 min of 10 s windows
MAX_RATIO_TERM = 10_000


def rate_ratio(fs: float) -> tuple[int, int]:
    """(up, down), coprime, with up / down = 100 / fs (terms at most ``MAX_RATIO_TERM``)."""
    ratio = (Fraction(FS) / Fraction(str(fs))).limit_denominator(MAX_RATIO_TERM)
    if ratio.numerator > MAX_RATIO_TERM:  # fs far below 1 Hz: keep the numerator bounded too
        ratio = Fraction(1) / (1 / ratio).limit_denominator(MAX_RATIO_TERM)
    if ratio.numerator == 0:
        raise ValueError(f"fs={fs}: too high a rate to resample to {FS} Hz")
    return ratio.numerator, ratio.denominator


def new_stats() -> dict:
    """Counters of what a recording lost, in seconds and counts (``summary.json``'s ``dropped``)."""
    return {"missing_values_s": 0.0, "gaps": 0, "gap_s": 0.0, "irregular_runs": 0, "nonwear_s": 0.0,
            "remainder_s": 0.0}


def _true_runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) of the runs of True in a 1-D bool array."""
    padded = np.concatenate([[False], mask, [False]])
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))


class StreamResampler:
    """``resample_poly(x, up, down, axis=0)`` of a run fed in pieces: :meth:`push` returns the
    output samples already determined, :meth:`end` the rest. Input (n, C) float64; output float64.

    Output ``y[m]`` (before ``resample_poly``'s trimming) sums ``h[m·down − k·up] · x[k]`` over
    the inputs k it touches; it is computed from a block of the run that holds all of them and
    starts at a multiple of ``down``, so the sum is the one ``upfirdn`` forms for the whole run.
    """

    def __init__(self, up: int, down: int, channels: int = 3):
        from scipy.signal import firwin

        assert math.gcd(up, down) == 1, "up and down must be coprime, as resample_poly reduces them"
        self.up, self.down = up, down
        max_rate = max(up, down)
        half_len = 10 * max_rate
        h = firwin(2 * half_len + 1, 1.0 / max_rate, window=("kaiser", 5.0)) * up
        pre_pad = down - half_len % down
        self.h = np.concatenate([np.zeros(pre_pad), h])
        self.first = (half_len + pre_pad) // down  # resample_poly's n_pre_remove
        self.buffer = np.zeros((0, channels))
        self.start = 0  # run index of buffer[0] (a multiple of down)
        self.seen = 0
        self.next = self.first  # next output index (untrimmed)

    def _outputs(self, stop: int) -> np.ndarray:
        from scipy.signal import upfirdn

        offset = self.start * self.up // self.down
        h = self.h
        while ((len(self.buffer) - 1) * self.up + len(h)) // self.down + 1 < stop - offset:
            h = np.concatenate([h, np.zeros(self.down)])  # trailing zero taps change no sum
        y = upfirdn(h, self.buffer, self.up, self.down, axis=0, mode="constant", cval=0)
        return y[self.next - offset:stop - offset]

    def push(self, x: np.ndarray) -> np.ndarray:
        self.buffer = np.concatenate([self.buffer, x]) if len(self.buffer) else np.asarray(x, dtype=np.float64)
        self.seen += len(x)
        ready = (self.seen - 1) * self.up // self.down + 1  # outputs whose last input has arrived
        if ready <= self.next:
            return np.zeros((0, self.buffer.shape[1]))
        out = self._outputs(ready)
        self.next = ready
        needed = -(-(self.next * self.down - len(self.h) + 1) // self.up)  # first input of the next output
        start = max(self.start, max(needed, 0) // self.down * self.down)
        self.buffer, self.start = self.buffer[start - self.start:], start
        return out

    def end(self) -> np.ndarray:
        stop = self.first + -(-(self.seen * self.up) // self.down)
        out = self._outputs(stop) if stop > self.next and self.seen else np.zeros((0, self.buffer.shape[1]))
        self.next = stop
        return out


class _Run:
    """One continuous run through regridding and resampling: 100 Hz float32 samples to ``out``."""

    def __init__(self, fs: float, start: float, timed: bool, counts: dict, out):
        self.step, self.start, self.counts, self.out = 1.0 / fs, start, counts, out
        up, down = rate_ratio(fs)
        self.resampler = StreamResampler(up, down) if up != down else None
        self.probe = [] if timed else None  # (x, t) held until the regular / irregular decision
        self.probed = 0
        self.irregular = False
        self.grid_next = 0  # next index k of the grid start + k / fs (irregular runs)
        self.last = None  # (t, x) of the last row interpolated from (irregular runs)

    def push(self, x: np.ndarray, t: np.ndarray | None) -> None:
        if self.probe is not None:
            self.probe.append((x, t))
            self.probed += len(x)
            if self.probed >= IRREGULAR_PROBE_ROWS:
                self._decide()
        elif self.irregular:
            self._interpolate(x, t)
        else:
            self._emit(x)

    def end(self) -> None:
        if self.probe is not None:
            self._decide()
        if self.irregular and self.last is not None:
            t_last, x_last = self.last
            stop = int(np.ceil((t_last + self.step / 2 - self.start) / self.step))  # as np.arange's stop
            if stop > self.grid_next:  # points past the last row: np.interp holds its value
                self._emit(np.repeat(x_last[None], stop - self.grid_next, axis=0))
                self.grid_next = stop
        if self.resampler is not None:
            y = self.resampler.end()
            if len(y):
                self.out(np.asarray(y, dtype=np.float32))

    def _decide(self) -> None:
        x = np.concatenate([p[0] for p in self.probe])
        t = np.concatenate([p[1] for p in self.probe])
        self.probe = None
        steps = np.diff(t[:IRREGULAR_PROBE_ROWS])
        self.irregular = bool(len(steps) and np.abs(steps - self.step).max() > IRREGULAR_TOLERANCE * self.step)
        if self.irregular:
            self.counts["irregular_runs"] += 1
            self._interpolate(x, t)
        else:
            self._emit(x)

    def _interpolate(self, x: np.ndarray, t: np.ndarray) -> None:
        """Grid points up to the last row given; the row before them is carried to the next call."""
        if self.last is not None:
            t = np.concatenate([[self.last[0]], t])
            x = np.concatenate([self.last[1][None], x])
        count = int(np.floor((t[-1] - self.start) / self.step)) + 2 - self.grid_next  # one too many, then cut
        grid = self.start + (self.grid_next + np.arange(max(count, 0))) * self.step
        grid = grid[grid <= t[-1]]
        self.grid_next += len(grid)
        self.last = (float(t[-1]), x[-1].copy())
        if len(grid):
            self._emit(np.stack([np.interp(grid, t, x[:, c]) for c in range(x.shape[1])], axis=1))

    def _emit(self, x: np.ndarray) -> None:
        if self.resampler is not None:
            x = self.resampler.push(x)
        if len(x):
            self.out(np.asarray(x, dtype=np.float32))


class _Nonwear:
    """Marks non-wear in a run's 100 Hz samples, streamed: ``out(x, mask)`` gets the samples in
    order once their state is known (a stationary stretch is held until it ends or reaches 60 min).
    Windows are judged in groups of :data:`NONWEAR_MIN_WINDOWS` counted from the run's start, so
    that every standard deviation is computed on the same array shape whatever the chunks."""

    def __init__(self, out, counts: dict):
        self.out, self.counts = out, counts
        self.pending = np.zeros((0, 3), dtype=np.float32)
        self.held = []  # stationary windows not yet known to be non-wear
        self.in_nonwear = False

    def push(self, x: np.ndarray) -> None:
        self.pending = np.concatenate([self.pending, x]) if len(self.pending) else x
        group = NONWEAR_MIN_WINDOWS * NONWEAR_WINDOW
        while len(self.pending) >= group:
            self._judge(self.pending[:group])
            self.pending = self.pending[group:]

    def end(self) -> None:
        n = len(self.pending) // NONWEAR_WINDOW
        if n:
            self._judge(self.pending[: n * NONWEAR_WINDOW])
        self._release(nonwear=False)
        tail = self.pending[n * NONWEAR_WINDOW:]
        if len(tail):  # shorter than a window: never stationary
            self.out(tail, False)

    def _judge(self, x: np.ndarray) -> None:
        windows = x.reshape(-1, NONWEAR_WINDOW, 3)
        still = (windows.std(axis=1) < NONWEAR_STD_G).all(axis=1)
        for window, is_still in zip(windows, still):
            if not is_still:
                self._release(nonwear=False)
                self.in_nonwear = False
                self.out(window, False)
            elif self.in_nonwear:
                self.counts["nonwear_samples"] += NONWEAR_WINDOW
                self.out(window, True)
            else:
                self.held.append(window)
                if len(self.held) >= NONWEAR_MIN_WINDOWS:
                    self.in_nonwear = True
                    self._release(nonwear=True)

    def _release(self, nonwear: bool) -> None:
        if self.held:
            if nonwear:
                self.counts["nonwear_samples"] += len(self.held) * NONWEAR_WINDOW
            self.out(np.concatenate(self.held), nonwear)
            self.held = []


class _Cutter:
    """Cuts windows of :data:`WINDOW` samples every ``hop`` samples from the start of each piece.

    ``drop_nonwear``: non-wear samples end a piece and are left out (pre-training); otherwise
    windows run over them and are flagged. ``out(starts (k,) s, windows (k, WINDOW, 3) float32,
    nonwear (k,) bool)``; ``counts["remainder_samples"]`` counts the samples of each piece after
    its last window."""

    def __init__(self, start: float, hop: int, drop_nonwear: bool, counts: dict, out):
        self.run_start, self.hop, self.drop, self.counts, self.out = start, hop, drop_nonwear, counts, out
        self.position = 0  # run sample index of the next sample pushed
        self.piece = None  # run sample index where the current piece starts
        self.buffer = np.zeros((0, 3), dtype=np.float32)
        self.flags = np.zeros(0, dtype=bool)
        self.buffer_at = 0  # run sample index of buffer[0]
        self.next_window = 0  # run sample index where the next window starts

    def push(self, x: np.ndarray, nonwear) -> None:
        mask = np.full(len(x), bool(nonwear)) if isinstance(nonwear, (bool, np.bool_)) or nonwear is None else nonwear
        if self.drop:  # non-wear samples are left out: the next wear sample starts a new piece
            for a, b in _true_runs(~mask):
                self._piece_data(x[a:b], self.position + a, np.zeros(b - a, dtype=bool))
        else:
            self._piece_data(x, self.position, mask)
        self.position += len(x)

    def _piece_data(self, x: np.ndarray, at: int, mask: np.ndarray) -> None:
        if self.piece is not None and at != self.buffer_at + len(self.buffer):
            self._close()  # samples were left out in between
        if self.piece is None:
            self.piece, self.buffer_at, self.next_window = at, at, at
            self.buffer, self.flags = x, mask
        else:
            self.buffer = np.concatenate([self.buffer, x])
            self.flags = np.concatenate([self.flags, mask])
        self._cut()

    def _cut(self) -> None:
        end = self.buffer_at + len(self.buffer)
        k = (end - WINDOW - self.next_window) // self.hop + 1 if end - self.next_window >= WINDOW else 0
        if k > 0:
            starts = self.next_window + np.arange(k) * self.hop  # run sample indices
            offsets = starts - self.buffer_at
            if self.hop == WINDOW:
                windows = self.buffer[offsets[0]:offsets[0] + k * WINDOW].reshape(k, WINDOW, 3)
                flags = self.flags[offsets[0]:offsets[0] + k * WINDOW].reshape(k, WINDOW).any(axis=1)
            else:
                windows = np.stack([self.buffer[o:o + WINDOW] for o in offsets])
                flags = np.array([self.flags[o:o + WINDOW].any() for o in offsets])
            piece_start = self.run_start + self.piece / FS
            times = piece_start + (starts - self.piece) * (WINDOW / FS) / WINDOW if self.hop != WINDOW else                 piece_start + ((starts - self.piece) // WINDOW) * (WINDOW / FS)
            self.out(times, np.ascontiguousarray(windows), flags)
            self.next_window = int(starts[-1]) + self.hop
        keep = max(0, self.next_window - self.buffer_at)
        keep = min(keep, len(self.buffer))
        self.buffer, self.flags = self.buffer[keep:], self.flags[keep:]
        self.buffer_at += keep

    def _close(self) -> None:
        end = self.buffer_at + len(self.buffer)
        covered = max(self.piece, self.next_window - self.hop + WINDOW) if self.next_window > self.piece else self.piece
        self.counts["remainder_samples"] += int(end - covered)
        self.piece = None
        self.buffer = np.zeros((0, 3), dtype=np.float32)
        self.flags = np.zeros(0, dtype=bool)

    def end(self) -> None:
        if self.piece is not None:
            self._close()


class Windower:
    """A recording's chunks -> windows of 2.56 s at 100 Hz, by the rules of the module docstring.

    Args:
        fs: the recording's nominal rate (Hz). timed: whether chunks carry time stamps.
        out: called with ``(starts (k,) float64 s, windows (k, 256, 3) float32 in g, nonwear
            (k,) bool)`` as windows complete, in time order. Starts are times of the first
            sample (epoch s for timed recordings, else seconds from the first row).
        hop: samples at 100 Hz between window starts (``WINDOW``: consecutive segments).
        nonwear: None (no non-wear detection), "drop" (left out, counted) or "flag".
    Feed :meth:`feed` each chunk ``(xyz (n, 3) float64 in g, t (n,) s or None)`` in order, then
    call :meth:`finish`. Memory: one chunk plus the current run's filter state, at most
    :data:`IRREGULAR_PROBE_ROWS` rows of a run awaiting its regularity decision and 60 min of a
    stationary stretch.
    """

    def __init__(self, fs: float, timed: bool, out, hop: int = WINDOW, nonwear: str | None = None):
        if nonwear not in (None, "drop", "flag"):
            raise ValueError(f"nonwear={nonwear!r}: expected None, 'drop' or 'flag'")
        self.fs, self.timed, self.out, self.hop, self.nonwear = float(fs), timed, out, int(hop), nonwear
        # integers (and gap seconds added one by one), so that no sum depends on the chunks
        self.counts = {"missing_rows": 0, "gaps": 0, "irregular_runs": 0, "nonwear_samples": 0,
                       "remainder_samples": 0, "runs": 0}
        self.gap_s = 0.0
        self.run = None
        self.rows = 0  # rows fed
        self.last_t = None

    def stats(self) -> dict:
        """What the recording lost (:func:`new_stats`' keys), in seconds and counts."""
        c = self.counts
        return {"missing_values_s": c["missing_rows"] / self.fs, "gaps": c["gaps"], "gap_s": self.gap_s,
                "irregular_runs": c["irregular_runs"], "nonwear_s": c["nonwear_samples"] / FS,
                "remainder_s": c["remainder_samples"] / FS}

    def _begin(self, start: float) -> None:
        self.counts["runs"] += 1
        cutter = _Cutter(start, self.hop, self.nonwear == "drop", self.counts, self.out)
        if self.nonwear is not None:
            marker = _Nonwear(cutter.push, self.counts)
            sink, self._finish = marker.push, (marker.end, cutter.end)
        else:
            sink, self._finish = (lambda x: cutter.push(x, None)), (cutter.end,)
        self.run = _Run(self.fs, start, self.timed, self.counts, sink)

    def _end(self) -> None:
        if self.run is not None:
            self.run.end()
            for finish in self._finish:
                finish()
            self.run = None

    def feed(self, xyz: np.ndarray, t: np.ndarray | None = None) -> None:
        """Rows ``xyz`` (n, 3) float64 in g (NaN rows: missing) with times ``t`` (n,) s or None."""
        n = len(xyz)
        if n == 0:
            return
        finite = np.isfinite(xyz).all(axis=1)
        self.counts["missing_rows"] += int((~finite).sum())
        new_run = np.zeros(n, dtype=bool)  # rows after a step that is not in (0, MAX_GAP_S]
        if t is not None:
            before = np.concatenate([[t[0] if self.last_t is None else self.last_t], t[:-1]])
            steps = t - before
            new_run = ~((steps > 0) & (steps <= MAX_GAP_S))
            if self.last_t is None:
                new_run[0] = False
            gaps = np.flatnonzero(steps > MAX_GAP_S)
            self.counts["gaps"] += len(gaps)
            for step in steps[gaps].tolist():
                self.gap_s += step
            self.last_t = float(t[-1])
        for a, b in _true_runs(finite):
            if a > 0 or new_run[a]:  # missing rows (or a gap) before this stretch end the run
                self._end()
            cuts = [a, *(np.flatnonzero(new_run[a + 1:b]) + a + 1).tolist(), b]
            for lo, hi in zip(cuts, cuts[1:]):
                if lo > a:
                    self._end()
                if self.run is None:
                    self._begin(float(t[lo]) if t is not None else (self.rows + lo) / self.fs)
                self.run.push(xyz[lo:hi], None if t is None else t[lo:hi])
        if not finite[-1]:
            self._end()
        self.rows += n

    def finish(self) -> None:
        self._end()
