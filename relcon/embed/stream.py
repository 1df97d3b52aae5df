"""Embedding recording files streamed in chunks: one file, or a cohort of them in one process.

A file is read by ``relcon/data/recordings.py`` (time stamps by ``relcon/data/timestamps.py``) and
cut by ``relcon/data/continuous.py``: the rules of ``process_recordings.py`` (split at missing values
and gaps of over 1 s, never a window across a gap, resampled to 100 Hz). Each window's start is
the time of its first sample (UTC epoch seconds for timed files, else seconds from the first
row). Windows of several files share the encoder's batches (:class:`Batcher`).

Per window (:data:`TABLE_COLUMNS`): ``start_s``, ``end_s`` (start + 2.56 s), ``run`` (index of
its continuous run), ``gap_before`` / ``gap_after`` (the window is the first / last of a run that
a gap or missing values cut, not the recording's start or end), ``nonwear`` (it overlaps a
stretch of non-wear by the UK Biobank rule: 10 s windows with a standard deviation below 13 mg
on all axes, for at least 60 min).
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import datetime, timezone

import numpy as np

from relcon.data import recordings
from relcon.data.continuous import FS, WINDOW, Windower

TABLE_COLUMNS = ("start_s", "end_s", "start_time", "run", "gap_before", "gap_after", "nonwear")


@dataclass
class EmbeddedRecording:
    """``embeddings`` (N, D) float32, the per-window ``table`` (arrays by :data:`TABLE_COLUMNS`;
    ``start_time`` ISO 8601 UTC strings for timed files, else empty) and the recording's ``qc``
    (rate, unit, hours, windows, gaps, seconds left out, non-wear, notes)."""

    path: str
    embeddings: np.ndarray
    table: dict
    qc: dict = field(default_factory=dict)


class Batcher:
    """Runs the encoder on full batches of windows collected from any number of owners.

    ``add(owner, windows (k, 256, 3) float32)``; ``done(owner)`` says no more windows come for it;
    ``finished()`` yields ``(owner, (N, D) embeddings)`` of owners whose windows are all embedded.
    """

    def __init__(self, encoder, batch_size: int = 256, device=None, precision: str = "fp32"):
        import torch

        from relcon.embed import _encoder_device, _set_training
        from relcon.utils.precision import check_precision

        check_precision(precision)
        if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"batch_size={batch_size!r}: expected a positive integer")
        self.torch, self.encoder, self.batch_size, self.precision = torch, encoder, int(batch_size), precision
        if device is not None:
            encoder.to(device)
        self.device = _encoder_device(encoder)
        self._set_training = _set_training
        self.pending = []  # (owner, windows) not yet embedded, in order
        self.pending_n = 0
        self.results: dict = {}  # owner -> list of embedding blocks
        self.open: dict = {}  # owner -> windows still to embed
        self.closed: list = []  # owners that will get no more windows, in order
        self.windows = 0

    def add(self, owner, windows: np.ndarray) -> None:
        self.results.setdefault(owner, [])
        self.open[owner] = self.open.get(owner, 0) + len(windows)
        if len(windows):
            self.pending.append((owner, windows))
            self.pending_n += len(windows)
        while self.pending_n >= self.batch_size:
            self._run(self.batch_size)

    def done(self, owner) -> None:
        self.results.setdefault(owner, [])
        self.open.setdefault(owner, 0)
        self.closed.append(owner)

    def drop(self, owner) -> None:
        """Forget an owner (its file failed): its windows are not embedded, its results discarded."""
        self.pending = [(o, w) for o, w in self.pending if o != owner]
        self.pending_n = sum(len(w) for _, w in self.pending)
        self.results.pop(owner, None)
        self.open.pop(owner, None)
        self.closed = [o for o in self.closed if o != owner]

    def flush(self) -> None:
        while self.pending_n:
            self._run(min(self.batch_size, self.pending_n))

    def finished(self):
        while self.closed and self.open.get(self.closed[0], 0) == 0:
            owner = self.closed.pop(0)
            blocks = self.results.pop(owner)
            self.open.pop(owner)
            yield owner, (np.concatenate(blocks) if blocks else None)

    def _run(self, n: int) -> None:
        from relcon.utils.precision import autocast

        taken, parts = 0, []
        while taken < n:
            owner, windows = self.pending[0]
            k = min(n - taken, len(windows))
            parts.append((owner, windows[:k]))
            if k == len(windows):
                self.pending.pop(0)
            else:
                self.pending[0] = (owner, windows[k:])
            taken += k
        batch = np.concatenate([w for _, w in parts]).transpose(0, 2, 1)  # (B, 256, 3) -> (B, 3, 256)
        torch = self.torch
        was_training = getattr(self.encoder, "training", False)
        self._set_training(self.encoder, False)
        try:
            with torch.no_grad(), autocast(self.precision, self.device):
                x = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)).to(self.device)
                emb = self.encoder(x).float().cpu().numpy()  # (B, D)
        finally:
            self._set_training(self.encoder, was_training)
        at = 0
        for owner, windows in parts:
            self.results[owner].append(emb[at:at + len(windows)])
            self.open[owner] -= len(windows)
            at += len(windows)
        self.pending_n -= n
        self.windows += n


class _Collector:
    """The windows of one recording as the windower cuts them, with their table rows."""

    def __init__(self, batcher: Batcher, owner):
        self.batcher, self.owner, self.windower = batcher, owner, None
        self.starts, self.runs, self.nonwear = [], [], []

    def __call__(self, starts, windows, nonwear) -> None:
        self.starts.append(np.asarray(starts, dtype=np.float64))
        self.runs.append(np.full(len(starts), self.windower.counts["runs"] - 1, dtype=np.int64))
        self.nonwear.append(np.asarray(nonwear, dtype=bool))
        self.batcher.add(self.owner, windows)

    def table(self, timed: bool) -> dict:
        starts = np.concatenate(self.starts) if self.starts else np.zeros(0)
        runs = np.concatenate(self.runs) if self.runs else np.zeros(0, dtype=np.int64)
        last_run = self.windower.counts["runs"] - 1
        # a window next to another run (or to runs too short for a window) has a break beside it
        gap_before = runs != np.concatenate([[0], runs[:-1]])
        gap_after = runs != np.concatenate([runs[1:], [last_run]])
        return {"start_s": starts, "end_s": starts + WINDOW / FS,
                "start_time": np.array([_iso(s) for s in starts] if timed else [""] * len(starts), dtype=object),
                "run": runs, "gap_before": gap_before, "gap_after": gap_after,
                "nonwear": np.concatenate(self.nonwear) if self.nonwear else np.zeros(0, dtype=bool)}


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-4] + "Z"


def hop_samples(hop_s) -> int:
    from relcon.embed import hop_samples as hop

    return hop(hop_s)


class RecordingJob:
    """One file being embedded: opened (rate, units, clock settled), then fed chunk by chunk."""

    def __init__(self, path, batcher: Batcher, fs=None, hop_s=WINDOW / FS, units="auto", timezone=None,
                 chunk_rows=recordings.CHUNK_ROWS, owner=None):
        import warnings

        self.path, self.batcher = str(path), batcher
        self.owner = owner if owner is not None else self.path
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", UserWarning)
            self.stream = recordings.RecordingStream(path, fs=fs, units=units, timezone=timezone, allow_missing=True,
                                                     chunk_rows=chunk_rows)
        self.warnings = [str(w.message) for w in caught]
        if not self.stream.fs:
            self.stream.fs = 100.0  # the CLI's default for a file that states no rate
            self.notes = [f"{self.path}: no time column and no rate; taken as 100 Hz (give --fs)"]
        else:
            self.notes = []
        low = recordings.low_fs_warning(self.stream.fs, self.path)
        if low:
            self.warnings.append(low)
        self.hop = hop_samples(hop_s)
        self.collector = _Collector(batcher, self.owner)
        self.windower = Windower(self.stream.fs, self.stream.timed, self.collector, hop=self.hop, nonwear="flag")
        self.collector.windower = self.windower
        self.rows = self.finite_rows = 0
        self.first_t = None

    def run(self, on_rows=None) -> None:
        """Read every chunk (windows go to the batcher as they complete)."""
        for chunk in self.stream.chunks():
            if self.first_t is None and chunk.t is not None and len(chunk.t):
                self.first_t = float(chunk.t[0])
            self.windower.feed(chunk.xyz, chunk.t)
            self.rows += len(chunk.xyz)
            self.finite_rows += int(np.isfinite(chunk.xyz).all(axis=1).sum())
            if on_rows is not None:
                on_rows(len(chunk.xyz))
        self.windower.finish()
        self.batcher.done(self.owner)

    def result(self, embeddings) -> EmbeddedRecording:
        table = self.collector.table(self.stream.timed)
        stats = self.windower.stats()
        n = len(table["start_s"])
        qc = {"file": self.path, "fs_hz": self.stream.fs, "units": self.stream.unit or "g", "timed": self.stream.timed,
              "time": vars(self.stream.time_info) if self.stream.time_info else None,
              "first_time": _iso(self.first_t) if self.first_t is not None else None,
              "first_time_s": self.first_t,
              "rows": self.rows, "hours": round(self.rows / self.stream.fs / 3600, 4), "windows": n,
              "hop_s": self.hop / FS, "runs": self.windower.counts["runs"], "gaps": stats["gaps"],
              "gap_s": round(stats["gap_s"], 3), "missing_values_s": round(stats["missing_values_s"], 3),
              "irregular_runs": stats["irregular_runs"], "nonwear_windows": int(table["nonwear"].sum()),
              "nonwear_h": round(stats["nonwear_s"] / 3600, 4), "left_out_s": round(stats["remainder_s"], 3),
              "notes": self.notes + list(self.stream.notes), "warnings": self.warnings}
        dim = embeddings.shape[1] if embeddings is not None else 0
        embeddings = embeddings if embeddings is not None else np.zeros((0, dim), dtype=np.float32)
        return EmbeddedRecording(self.path, embeddings.astype(np.float32, copy=False), table, qc)


def qc_line(qc: dict) -> str:
    """One line of a recording's quality: hours, windows, gaps, what was left out, non-wear."""
    return (f"{qc['file']}: {qc['hours']:.2f} h at {qc['fs_hz']:g} Hz in {qc['units']}, {qc['windows']} windows, "
            f"{qc['gaps']} gap(s) over 1 s ({qc['gap_s']:g} s), {qc['missing_values_s']:g} s of missing values, "
            f"{qc['left_out_s']:g} s of run tails shorter than a window left out, {qc['nonwear_windows']} window(s) "
            f"over non-wear ({qc['nonwear_h']:g} h)")


def embed_recording(path, encoder, fs=None, hop_s=WINDOW / FS, units="auto", timezone=None, batch_size: int = 256,
                    device=None, precision: str = "fp32", progress: bool = True,
                    chunk_rows: int = recordings.CHUNK_ROWS) -> EmbeddedRecording:
    """Embed one recording file, streamed (a week-long file in the memory of one chunk plus its
    embeddings). See the module docstring for the windows and their table. Raises
    ``ValueError`` (naming the file, line or row) and ``FileNotFoundError``."""
    from relcon.utils.progress import progress as progress_bar

    batcher = Batcher(encoder, batch_size, device, precision)
    job = RecordingJob(path, batcher, fs, hop_s, units, timezone, chunk_rows)
    with progress_bar(desc="reading", unit=" rows", unit_scale=True, disable=not progress) as bar:
        job.run(on_rows=bar.update)
    batcher.flush()
    embeddings = dict(batcher.finished())[job.owner]
    return job.result(embeddings)


def table_csv(table: dict) -> str:
    """The per-window table as CSV text (columns :data:`TABLE_COLUMNS`)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(TABLE_COLUMNS)
    for i in range(len(table["start_s"])):
        writer.writerow([f"{table['start_s'][i]:.3f}", f"{table['end_s'][i]:.3f}", table["start_time"][i],
                         int(table["run"][i]), int(table["gap_before"][i]), int(table["gap_after"][i]),
                         int(table["nonwear"][i])])
    return buf.getvalue()
