"""Time stamps from the field (relcon/data/timestamps.py through every reader): UTC offsets that
change mid-file, zone names after the time, naive local times over clock changes, gaps inside
recordings given to relcon.embed, and coarse (1 s) clocks.

Each fixture is a small seeded recording (25-30 Hz, wrist-like x/y/z in g) written in the format
of a public report: ISO strings with their offset as zone-aware exporters write them
(``2023-10-29 01:59:59.960+01:00``), ``Z``, biobankAccelerometerAnalysis' ``+0100
[Europe/London]``, a zone name after the time, naive local times, 1 s stamps shared by 25 rows.
"""
from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from relcon.data import recordings, timestamps
from relcon.data.process import process_recordings as pr
from relcon.embed.stream import embed_recording


def wrist(n, fs, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n) / fs
    swing = np.sin(2 * np.pi * 1.8 * t)[:, None] * np.array([0.5, 0.3, 0.2])
    return swing + np.array([0.1, -0.2, 0.95]) + 0.03 * rng.standard_normal((n, 3))


def local_stamps(zone, start_utc, n, fs, form):
    """Time strings of n samples at fs Hz from the instant ``start_utc``, local to ``zone``."""
    instants = pd.Timestamp(start_utc, tz="UTC") + pd.to_timedelta(np.arange(n) * round(1e9 / fs), unit="ns")
    local = instants.tz_convert(zone)
    if form == "offset":  # 2023-10-29 01:59:59.960+01:00
        text = local.strftime("%Y-%m-%d %H:%M:%S.%f").str[:-3] + local.strftime("%z").str[:3] + ":" + \
            local.strftime("%z").str[3:]
    elif form == "biobank":  # 2023-10-29 01:59:59.960+0100 [Europe/London]
        text = local.strftime("%Y-%m-%d %H:%M:%S.%f").str[:-3] + local.strftime("%z") + f" [{zone}]"
    elif form == "zone-name":  # 2023-10-29 01:59:59.960 Europe/London
        text = local.strftime("%Y-%m-%d %H:%M:%S.%f").str[:-3] + f" {zone}"
    elif form == "Z":
        text = instants.strftime("%Y-%m-%dT%H:%M:%S.%f").str[:-3] + "Z"
    else:  # naive local wall-clock time
        text = local.strftime("%Y-%m-%d %H:%M:%S.%f").str[:-3]
    return list(text), instants.asi8 / 1e9


def write(path, stamps, xyz):
    lines = ["time,x,y,z"] + [f"{s},{a:.5f},{b:.5f},{c:.5f}" for s, (a, b, c) in zip(stamps, xyz)]
    path.write_text("\n".join(lines) + "\n")
    return path


# the clock changes: (zone, an instant 6 min before the change, its direction)
CHANGES = [("Europe/London", "2023-10-29 00:54:00", "back"), ("Europe/London", "2023-03-26 00:54:00", "forward"),
           ("Australia/Sydney", "2023-04-01 15:54:00", "back"), ("Australia/Sydney", "2023-09-30 15:54:00", "forward")]


# ----------------------------------------------------------------------------- 1: offsets / zones
@pytest.mark.parametrize("zone, start, direction", CHANGES)
@pytest.mark.parametrize("form", ["offset", "biobank", "zone-name", "Z"])
def test_zone_qualified_stamps_over_a_clock_change_are_instants(tmp_path, encoder, zone, start, direction, form):
    """12 min at 25 Hz across the change: no gap, no step back, the rate is 25 Hz, and the hour
    folders are UTC hours (the repeated local hour is two folders)."""
    fs, n = 25, 25 * 720
    stamps, instants = local_stamps(zone, start, n, fs, form)
    path = write(tmp_path / "rec_zoned.csv", stamps, wrist(n, fs))
    rec = recordings.read_recording(path)
    np.testing.assert_allclose(rec.time, instants, atol=1e-6)
    assert recordings.file_rate(rec) == 25.0
    s = pr.process_recordings([pr.Source(str(path), "P")], tmp_path / "out", val=0.0, progress=False)
    assert s["dropped"]["gaps"] == 0 and s["segments"] == (n * 4) // 256  # one run: 720 s at 100 Hz
    hours = sorted(p.stem for p in (tmp_path / "out" / "train" / "P").iterdir())
    utc_hours = sorted({pd.Timestamp(t, unit="s").strftime("%Y-%m-%d_%H") for t in instants[::25]})
    assert hours == utc_hours
    result = embed_recording(path, encoder, progress=False)
    assert result.qc["fs_hz"] == 25.0 and result.qc["gaps"] == 0 and len(result.embeddings) == (n * 4) // 256
    np.testing.assert_allclose(result.table["start_s"][1:] - result.table["start_s"][:-1], 2.56, atol=1e-6)
    assert result.table["start_s"][0] == pytest.approx(instants[0])


def test_mixed_forms_and_unknown_zones_name_the_row(tmp_path):
    stamps, _ = local_stamps("Europe/London", "2023-10-29 00:59:59", 100, 25, "offset")
    stamps[60] = stamps[60][:-6]  # one value without its offset
    with pytest.raises(recordings.RecordingError, match=r"line 62, column 'time': '2023-10-29 .*': the file mixes "
                                                       r"date-times with and without a UTC offset"):
        recordings.read_recording(write(tmp_path / "mixed.csv", stamps, wrist(100, 25)))
    stamps, _ = local_stamps("Europe/London", "2023-10-29 00:59:59", 100, 25, "offset")
    stamps = [s[:-6] + " Mars/Olympus" for s in stamps]
    with pytest.raises(recordings.RecordingError, match=r"time zone 'Mars/Olympus' is not in the IANA zone database"):
        recordings.read_recording(write(tmp_path / "mars.csv", stamps, wrist(100, 25)))


# ----------------------------------------------------------------------------- 2: naive local times
@pytest.mark.parametrize("zone, start", [c[:2] for c in CHANGES if c[2] == "back"])
def test_naive_local_times_going_back_an_hour_are_refused_naming_the_row_and_the_option(tmp_path, encoder,
                                                                                         capsys, zone, start):
    fs, n = 25, 25 * 720
    stamps, instants = local_stamps(zone, start, n, fs, "naive")
    path = write(tmp_path / "rec_naive.csv", stamps, wrist(n, fs))
    row = 6 * 60 * fs + 1  # the first row after the change (data rows count from 1)
    message = (rf"time goes back an hour, from .* at data row {row}: the clock going back .* naive local time; "
               rf"expected --timezone ZONE")
    with pytest.raises(timestamps.TimestampError, match=message):
        embed_recording(path, encoder, progress=False)
    with pytest.raises(timestamps.TimestampError, match=message):
        pr.process_recordings([pr.Source(str(path), "P")], tmp_path / "out", val=0.0, progress=False)
    assert pr.main([str(path), "--out", str(tmp_path / "o"), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"data row {row}" in err and "--timezone" in err
    # with the zone named, the same file is the continuous recording it is
    rec = recordings.RecordingStream(path, units=None, timezone=zone).read()
    np.testing.assert_allclose(rec.time, instants, atol=1e-6)
    result = embed_recording(path, encoder, timezone=zone, progress=False)
    assert result.qc["fs_hz"] == 25.0 and result.qc["gaps"] == 0 and len(result.embeddings) == (n * 4) // 256


@pytest.mark.parametrize("zone, start", [c[:2] for c in CHANGES if c[2] == "forward"])
def test_naive_local_times_going_forward_are_a_gap_said_to_be_a_clock_change(tmp_path, caplog, zone, start):
    fs, n = 25, 25 * 720
    stamps, instants = local_stamps(zone, start, n, fs, "naive")
    path = write(tmp_path / "rec_spring.csv", stamps, wrist(n, fs))
    with caplog.at_level(logging.INFO):
        s = pr.process_recordings([pr.Source(str(path), "P")], tmp_path / "out", val=0.0, progress=False)
    assert s["dropped"]["gaps"] == 1 and s["dropped"]["gap_s"] == pytest.approx(3600.04)
    assert "1 step(s) of about +1 h in naive time stamps" in caplog.text and "--timezone" in caplog.text
    s = pr.process_recordings([pr.Source(str(path), "P")], tmp_path / "out", val=0.0, progress=False, timezone=zone)
    assert s["dropped"]["gaps"] == 0 and s["segments"] == (n * 4) // 256 and s["timezone"] == zone


def test_the_repeated_hour_of_zone_names_without_offsets_is_resolved_by_order(tmp_path):
    """``01:30 Europe/London`` happens twice on 2023-10-29: before the clock goes back it is
    BST (00:30 UTC), after it GMT (01:30 UTC), whichever chunk the change falls in. A local time
    of the hour skipped in spring does not exist."""
    fs, n = 25, 25 * 720
    stamps, instants = local_stamps("Europe/London", "2023-10-29 00:54:00", n, fs, "zone-name")
    path = write(tmp_path / "rec.csv", stamps, wrist(n, fs))
    for chunk in (n, 1000, 9000, 7):
        rec = recordings.RecordingStream(path, units=None, chunk_rows=chunk).read()
        np.testing.assert_allclose(rec.time, instants, atol=1e-6)
    skipped = ["2023-03-26 00:59:59.960 Europe/London", "2023-03-26 01:00:00.000 Europe/London"]
    with pytest.raises(recordings.RecordingError, match=r"line 3, column 'time': '2023-03-26 01:00:00.000 "
                                                       r"Europe/London' does not exist in Europe/London"):
        recordings.read_recording(write(tmp_path / "bad.csv", skipped, wrist(2, fs)))


# ----------------------------------------------------------------------------- 3: gaps in embed
@pytest.mark.parametrize("gap_s", [1.5, 30.0, 600.0])
def test_embed_splits_at_gaps_and_times_each_window_from_its_first_sample(tmp_path, encoder, gap_s):
    """30 Hz: 120 s, the device off for ``gap_s``, 120 s more. Windows never span the gap, their
    start times are real times with data, and the gap is counted."""
    fs = 30
    t = 1.7e9 + np.arange(fs * 240) / fs
    t[fs * 120:] += gap_s
    stamps = pd.to_datetime(t * 1e9).strftime("%Y-%m-%d %H:%M:%S.%f").str[:-3]
    path = write(tmp_path / "gap.csv", stamps, wrist(len(t), fs))
    result = embed_recording(path, encoder, progress=False)
    per_run = (120 * 100) // 256  # 46 windows in each 120 s run at 100 Hz
    assert len(result.embeddings) == 2 * per_run
    assert result.qc["gaps"] == 1 and result.qc["gap_s"] == pytest.approx(gap_s + 1 / fs, abs=1e-3)
    starts, ends = result.table["start_s"], result.table["end_s"]
    first, second = t[0], t[fs * 120]
    np.testing.assert_allclose(starts[:per_run], first + np.arange(per_run) * 2.56, atol=1e-6)
    np.testing.assert_allclose(starts[per_run:], second + np.arange(per_run) * 2.56, atol=1e-6)
    assert ends[per_run - 1] <= t[fs * 120 - 1] + 1 / fs and starts[per_run] >= second  # nothing in the gap
    assert list(np.flatnonzero(result.table["gap_after"])) == [per_run - 1]
    assert list(np.flatnonzero(result.table["gap_before"])) == [per_run]
    # the windows after the gap are those of the second run embedded alone
    alone = write(tmp_path / "second.csv", stamps[fs * 120:], wrist(len(t), fs)[fs * 120:])
    np.testing.assert_allclose(embed_recording(alone, encoder, progress=False).embeddings,
                               result.embeddings[per_run:], atol=1e-6)


def test_embed_cli_reports_the_gap_and_writes_the_window_table(tmp_path, encoder, capsys, monkeypatch):
    from relcon.embed import cli

    fs = 30
    t = 1.7e9 + np.arange(fs * 240) / fs
    t[fs * 120:] += 600.0
    stamps = pd.to_datetime(t * 1e9).strftime("%Y-%m-%d %H:%M:%S.%f").str[:-3]
    path = write(tmp_path / "gap.csv", stamps, wrist(len(t), fs))
    monkeypatch.setattr(cli, "load_encoder_checkpoint", lambda *a, **k: (encoder, {"epoch": 0}))
    assert cli.main(["--run-dir", str(tmp_path), "--input", str(path), "--output", str(tmp_path / "e.npy"),
                     "--quiet", "--csv"]) == 0
    out = capsys.readouterr().out
    assert "embedded 92 windows" in out and "at 30 Hz" in out and "1 gap(s) over 1 s (600.034 s)" in out  # stamps written to the ms: 720.000 - 119.966
    table = pd.read_csv(tmp_path / "e.windows.csv")
    assert len(table) == 92 and table["gap_after"].sum() == 1 and table["start_time"][46] == "2023-11-14T22:25:20.00Z"
    assert pd.read_csv(tmp_path / "e.csv")["start_time"][0] == "2023-11-14T22:13:20.00Z"


# ----------------------------------------------------------------------------- 4: coarse clocks
def test_one_second_stamps_give_the_rate_from_rows_per_second(tmp_path, caplog, encoder):
    """25 rows share each stamp (biobankAccelerometerAnalysis #81): the rate is 25 Hz from rows
    per second, stated in the log; the rows are timed by it; a gap is still a gap."""
    fs = 25
    n = fs * 600
    start = pd.Timestamp("2021-05-04 10:00:00.400").value / 1e9  # the first second is partial
    true_t = start + np.arange(n) / fs
    true_t[n // 2:] += 30  # the device paused 30 s
    stamps = pd.to_datetime(np.floor(true_t) * 1e9).strftime("%Y-%m-%d %H:%M:%S")
    path = write(tmp_path / "coarse.csv", stamps, wrist(n, fs))
    with caplog.at_level(logging.INFO):
        s = pr.process_recordings([pr.Source(str(path), "C")], tmp_path / "out", val=0.0, progress=False)
    assert "time stamps of 1 s resolution (about 25 rows share each stamp); rate estimated: 25 Hz" in caplog.text
    assert s["dropped"]["gaps"] == 1 and s["segments"] == 2 * ((n // 2) * 4 // 256)
    result = embed_recording(path, encoder, progress=False)
    assert result.qc["fs_hz"] == 25.0 and "rate estimated: 25 Hz" in " ".join(result.qc["notes"])
    assert np.abs(result.table["start_s"][0] - np.floor(start)) < 1.0
    with pytest.raises(recordings.RecordingError, match=r"given, but the file's coarse time stamps hold 25 rows per "
                                                       r"second"):
        recordings.RecordingStream(path, fs=50)
    assert recordings.RecordingStream(path, fs=25).fs == 25
    few = write(tmp_path / "few.csv", stamps[:30], wrist(30, fs))  # one stamp change: no rate to take
    with pytest.raises(recordings.RecordingError, match=r"the time stamps repeat .* too few stamp changes to "
                                                       r"estimate the rate; expected --fs"):
        recordings.RecordingStream(few)


def test_repeated_stamps_in_a_fine_clock_are_an_error(tmp_path):
    t = 1.7e9 + np.arange(300) / 100
    t[150] = t[149]
    with pytest.raises(recordings.RecordingError, match=r"at data row 151; expected strictly increasing"):
        recordings.read_recording(write(tmp_path / "dup.csv", t, wrist(300, 100)))


# ----------------------------------------------------------------------------- one helper for all
def test_every_reader_of_time_stamps_uses_the_one_helper(tmp_path, monkeypatch, encoder):
    """process_recordings, the Capture-24 processor and relcon.embed all read time columns through
    relcon.data.timestamps.TimeParser (and so follow every rule above)."""
    from rawfixtures import write_capture24

    from relcon.data.process import process_capture24

    seen = []
    original = timestamps.TimeParser.__call__

    def spy(self, values, *args, **kwargs):
        seen.append(str(self.path))
        return original(self, values, *args, **kwargs)

    monkeypatch.setattr(timestamps.TimeParser, "__call__", spy)
    stamps, _ = local_stamps("Europe/London", "2023-10-29 00:54:00", 2000, 25, "offset")
    path = write(tmp_path / "a.csv", stamps, wrist(2000, 25))
    pr.process_recordings([pr.Source(str(path), "A")], tmp_path / "out", val=0.0, progress=False)
    assert set(seen) == {str(path)}
    seen.clear()
    embed_recording(path, encoder, progress=False)
    assert set(seen) == {str(path)}
    seen.clear()
    raw = write_capture24(tmp_path / "raw", seconds=120)
    process_capture24.process_capture24(raw_dir=raw.parent, out_dir=tmp_path / "c24", download=False, progress=False)
    assert sorted({p.rsplit("/", 1)[-1] for p in seen}) == ["P001.csv.gz", "P002.csv.gz", "P003.csv.gz"]
