"""Continuous recordings -> pre-training layout (relcon/data/process/process_recordings.py)."""
from __future__ import annotations

import json
import logging
import sys
import types

import numpy as np
import pandas as pd
import pytest

from relcon.data import packed
from relcon.data.Base_Dataset import SegmentIndex
from relcon.data.process import process_recordings as pr
from relcon.data.recordings import RecordingError
from relcon.data.units import STANDARD_GRAVITY


def motion(n, fs, seed=0):
    """(n, 3) wrist-like acceleration in g."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / fs
    return np.stack([0.3 * np.sin(2 * np.pi * 1.1 * t), 0.2 * np.cos(2 * np.pi * 0.7 * t), 0.95 + 0 * t], 1) \
        + 0.05 * rng.standard_normal((n, 3))


def write_csv(path, xyz, fs=None, start="2020-01-01 10:58:00", time="iso", times=None, header=True, sep=","):
    """CSV(.gz) of x, y, z with an ISO / epoch-s / epoch-ms time column (or none)."""
    frame = pd.DataFrame(xyz, columns=["x", "y", "z"])
    if time is not None:
        if times is None:
            times = pd.Timestamp(start).value / 1e9 + np.arange(len(xyz)) / fs
        if time == "iso":
            col = pd.to_datetime(np.asarray(times) * 1e9).strftime("%Y-%m-%d %H:%M:%S.%f")
        elif time == "ms":
            col = np.round(np.asarray(times) * 1000).astype(np.int64)
        else:
            col = np.asarray(times)
        frame.insert(0, "time", col)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False, header=header, sep=sep, float_format="%.6f")
    return path


def layout_files(out):
    """Relative path -> bytes of every file of a layout (its work folder left out)."""
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and pr.WORK not in p.relative_to(out).parts}


def run(tmp_path, sources, **kwargs):
    kwargs.setdefault("val", 0.0)
    kwargs.setdefault("progress", False)
    return pr.process_recordings(sources, tmp_path / "out", **kwargs)


# ----------------------------------------------------------------------------- the main path
def test_csv_gz_of_three_subjects_to_packed_and_npy_layouts(tmp_path):
    """Three subjects, 4 min at 30 Hz from 10:58 (two clock hours), ISO / epoch-ms / no time."""
    fs, n = 30, 30 * 240
    write_csv(tmp_path / "in" / "P001.csv.gz", motion(n, fs, 1), fs)
    write_csv(tmp_path / "in" / "P002.csv.gz", motion(n, fs, 2), fs, time="ms")
    write_csv(tmp_path / "in" / "P003.csv", motion(n, fs, 3), time=None, header=False)
    sources = pr.collect_sources([tmp_path / "in"], fs=30)
    assert [s.subject for s in sources] == ["P001", "P002", "P003"]
    summary = run(tmp_path, sources, val=0.34, test=0.34, seed=0)
    per = summary["per_subject"]
    assert sorted(v["split"] for v in per.values()) == ["test", "train", "val"]
    # 240 s at 100 Hz = 24000 samples = 93 segments; 10:58-11:00 holds 47 (the 47th starts at 10:59:57.76)
    assert all(v["segments"] == 93 for v in per.values())
    assert per["P001"]["hours"] == 2 and per["P003"]["hours"] == 1
    for subject in ("P001", "P002"):
        folder = tmp_path / "out" / per[subject]["split"] / subject
        assert sorted(p.name for p in folder.iterdir()) == ["2020-01-01_10.npy", "2020-01-01_11.npy"]
        assert np.load(folder / "2020-01-01_10.npy").shape == (47, 256, 3)
    assert (tmp_path / "out" / per["P003"]["split"] / "P003" / "h0000.npy").exists()
    assert summary["segments"] == 279 and summary["hours"] == 5
    assert json.loads((tmp_path / "out" / pr.SUMMARY).read_text())["segments"] == 279
    index = SegmentIndex.scan(tmp_path / "out" / per["P001"]["split"])
    assert index.layout == "packed" and len(index) == 93
    # the npy tree holds the same segments in the same order
    tree = pr.process_recordings(sources, tmp_path / "tree", layout="npy", val=0.34, test=0.34, progress=False)
    split = per["P002"]["split"]
    a, b = SegmentIndex.scan(tmp_path / "out" / split), SegmentIndex.scan(tmp_path / "tree" / split)
    assert b.layout == "files" and len(a) == len(b) == tree["per_subject"]["P002"]["segments"]
    np.testing.assert_array_equal(a.packed.rows(1, np.arange(46)),
                                  np.stack([np.load(f) for f in b.files[47:]]))
    # resampled from 30 Hz with resample_poly, in g, float32
    x = np.load(tmp_path / "out" / per["P003"]["split"] / "P003" / "h0000.npy")
    assert x.dtype == np.float32 and abs(np.median(np.linalg.norm(x, axis=-1)) - 1.0) < 0.1


def test_manifest_subject_from_folder_and_npy_input(tmp_path):
    fs = 50
    np.save(tmp_path / "a.npy", motion(fs * 60, fs))
    write_csv(tmp_path / "b.csv", motion(fs * 60, fs) * 1000, time=None)  # milli-g
    (tmp_path / "m.csv").write_text("file,subject,fs,units\na.npy,S9,50,\nb.csv,S9,50,mg\n")
    summary = run(tmp_path, pr.collect_sources(manifest=tmp_path / "m.csv"))
    assert summary["per_subject"]["S9"] == {"split": "train", "files": 2, "hours": 2, "segments": 2 * 23,
                                            "hours_with_21_segments": 2}
    assert sorted(p.name for p in (tmp_path / "out/train/S9").iterdir()) == ["a_h0000.npy", "b_h0000.npy"]
    write_csv(tmp_path / "u7" / "day1.csv", motion(fs * 60, fs), fs)
    assert pr.collect_sources([tmp_path / "u7"], subject_from_folder=True)[0].subject == "u7"
    with pytest.raises(pr.ProcessingError, match=r"a\.npy: no time column and no rate; expected --fs"):
        run(tmp_path, [pr.Source(str(tmp_path / "a.npy"), "S9")], overwrite=True)


def test_units_detected_and_converted_with_a_log_line_forced_or_refused(tmp_path, caplog):
    fs = 50
    x = motion(fs * 30, fs)
    write_csv(tmp_path / "g.csv", x, fs)
    write_csv(tmp_path / "ms2.csv", x * STANDARD_GRAVITY, fs)
    g = run(tmp_path, [pr.Source(str(tmp_path / "g.csv"), "A")])
    a = np.load(tmp_path / "out/train/A/2020-01-01_10.npy")
    with caplog.at_level(logging.INFO):
        s = run(tmp_path, [pr.Source(str(tmp_path / "ms2.csv"), "A")], overwrite=True)
    assert "ms2.csv: median magnitude 9." in caplog.text and "looks like m/s2" in caplog.text
    assert s["units_converted"] == [{"file": str(tmp_path / "ms2.csv"), "units": "m/s2"}] and not g["units_converted"]
    np.testing.assert_allclose(np.load(tmp_path / "out/train/A/2020-01-01_10.npy"), a, atol=1e-5)
    with pytest.raises(ValueError, match=r"ms2\.csv: median magnitude 9\.\d+: looks like m/s2.*Expected g"):
        run(tmp_path, [pr.Source(str(tmp_path / "ms2.csv"), "A", units="check")], overwrite=True)
    write_csv(tmp_path / "odd.csv", x * 3.3, fs)
    with pytest.raises(ValueError, match=r"odd\.csv: median acceleration magnitude 3\.\d+ fits no known unit"):
        run(tmp_path, [pr.Source(str(tmp_path / "odd.csv"), "A")], overwrite=True)
    run(tmp_path, [pr.Source(str(tmp_path / "odd.csv"), "A", units="g")], overwrite=True)  # forced


def test_gaps_split_never_interpolated_and_irregular_time_is_regridded(tmp_path):
    fs = 100
    t = np.arange(fs * 30) / fs
    t[1500:] += 5.0  # a 5 s gap after 15 s: two runs of 15 s = 5 segments each (tails of 2.2 s dropped)
    write_csv(tmp_path / "gap.csv", motion(len(t), fs), times=1.7e9 + t, time="s")
    s = run(tmp_path, [pr.Source(str(tmp_path / "gap.csv"), "G")])
    assert s["segments"] == 10 and s["dropped"]["gaps"] == 1 and s["dropped"]["gap_s"] == pytest.approx(5.01)
    assert s["dropped"]["remainder_s"] == pytest.approx(4.4)
    # a gap of 0.9 s is not a gap: one run
    t2 = np.arange(fs * 30) / fs
    t2[1500:] += 0.9
    write_csv(tmp_path / "short_gap.csv", motion(len(t2), fs), times=1.7e9 + t2, time="s")
    s = run(tmp_path, [pr.Source(str(tmp_path / "short_gap.csv"), "G")], overwrite=True)
    assert s["dropped"]["gaps"] == 0 and s["dropped"]["irregular_runs"] == 1
    # irregular (jittered) time stamps at a nominal 50 Hz: interpolated onto the grid, then resampled
    rng = np.random.default_rng(0)
    t3 = np.arange(50 * 60) / 50 + rng.uniform(-0.008, 0.008, 50 * 60)
    write_csv(tmp_path / "jitter.csv", motion(len(t3), 50), times=1.7e9 + t3, time="s")
    s = run(tmp_path, [pr.Source(str(tmp_path / "jitter.csv"), "J", fs=50)], overwrite=True)
    assert s["dropped"]["irregular_runs"] == 1 and s["segments"] == 23
    with pytest.raises(ValueError, match=r"jitter\.csv: rate 100 Hz given, but the file's time stamps advance "
                                                 r"at 50(\.\d+)? Hz; expected them to agree"):
        run(tmp_path, [pr.Source(str(tmp_path / "jitter.csv"), "J", fs=100)], overwrite=True)


def test_nan_runs_split_and_are_counted(tmp_path):
    x = motion(100 * 30, 100)
    x[1000:1250] = np.nan  # 2.5 s of missing values
    path = write_csv(tmp_path / "nan.csv", x, 100)
    text = path.read_text().replace("nan", "")  # as empty cells, the way loggers write drop-outs
    path.write_text(text)
    s = run(tmp_path, [pr.Source(str(path), "N")])
    assert s["dropped"]["missing_values_s"] == pytest.approx(2.5)
    assert s["segments"] == 3 + 6  # 10 s before, 17.5 s after


def test_drop_nonwear_removes_an_hour_flat_and_counts_it(tmp_path):
    fs = 25
    flat = np.tile([0.0, 0.0, 1.0], (fs * 3700, 1)) + 0.002 * np.random.default_rng(0).standard_normal((fs * 3700, 3))
    x = np.concatenate([motion(fs * 60, fs), flat, motion(fs * 60, fs, 1)])
    write_csv(tmp_path / "w.csv.gz", x, fs, start="2020-01-01 09:00:00")
    kept = run(tmp_path, [pr.Source(str(tmp_path / "w.csv.gz"), "W")])
    s = run(tmp_path, [pr.Source(str(tmp_path / "w.csv.gz"), "W")], drop_nonwear=True, overwrite=True)
    assert kept["dropped"]["nonwear_s"] == 0
    assert 3600 <= s["dropped"]["nonwear_s"] <= 3700 and s["segments"] < kept["segments"] - 3600 / 2.56 + 5
    assert s["drop_nonwear"] is True


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("text, message", [
    ("time,x,y\n2020-01-01 10:00:00,1,2\n", r"bad\.csv: no line holds 3 numbers"),
    ("time,x,y,z\nyesterday,0.1,0.2,0.9\n2020-01-01 10:00:01,0.1,0.2,0.9\n",
     r"bad\.csv, line 2, column 'time': 'yesterday' is not a date-time; expected ISO 8601"),
    ("time,x,y,z\n1700000000.00,0,0,1\n1700000000.02,0,0,1\n1700000000.01,0,0,1\n",
     r"bad\.csv: time goes from 2023-11-14 22:13:20.020 to 2023-11-14 22:13:20.010 at data row 3; expected strictly"),
    ("", r"bad\.csv: empty file"),
    ("x,y,z\n", r"bad\.csv: no data rows"),
])
def test_bad_files_give_one_line_errors_or_counted_skips(tmp_path, text, message):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=message) as err:
        run(tmp_path, [pr.Source(str(path), "B")])
    assert "\n" not in str(err.value)
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out.staging-*"))
    write_csv(tmp_path / "good.csv", motion(100 * 60, 100), 100)
    s = run(tmp_path, [pr.Source(str(path), "B"), pr.Source(str(tmp_path / "good.csv"), "C")], skip_bad=True)
    assert s["dropped"]["files_skipped"][0]["file"] == str(path) and s["subjects"] == 1
    assert s["dropped"]["subjects_without_segments"] == ["B"]


def test_recording_shorter_than_a_segment_and_subject_with_small_hours_are_counted(tmp_path, caplog):
    write_csv(tmp_path / "tiny.csv", motion(200, 100), 100)  # 2 s
    write_csv(tmp_path / "few.csv", motion(100 * 30, 100), 100)  # 11 segments in its only hour
    write_csv(tmp_path / "ok.csv", motion(100 * 60, 100), 100)
    with caplog.at_level(logging.WARNING):
        s = run(tmp_path, [pr.Source(str(tmp_path / n), n[:-4]) for n in ("tiny.csv", "few.csv", "ok.csv")])
    assert s["dropped"]["files_too_short"] == [{"file": str(tmp_path / "tiny.csv"), "seconds": 2.0}]
    assert s["dropped"]["subjects_without_an_hour_of_21_segments"] == ["few"]
    assert s["dropped"]["hours_below_21_segments"] == 1
    assert "subject few: no hour folder holds 21 segments" in caplog.text
    assert "tiny.csv: 2.000 s of usable data, shorter than one segment" in caplog.text
    assert "21 segments (withinuser_cands + 1); subjects with none of 21: ['few']" in pr.format_summary(s)


def test_interrupted_run_leaves_nothing_complete_and_a_rerun_starts_clean(tmp_path, monkeypatch):
    write_csv(tmp_path / "a.csv", motion(100 * 60, 100), 100)
    write_csv(tmp_path / "b.csv", motion(100 * 60, 100), 100)
    sources = pr.collect_sources([tmp_path / "a.csv", tmp_path / "b.csv"])
    first = run(tmp_path, sources)
    before = layout_files(tmp_path / "out")
    calls = []

    def dying_write(*args):
        calls.append(args)
        raise KeyboardInterrupt  # a kill while the new layout is written: the old one must stay

    monkeypatch.setattr(pr, "_write_layout", dying_write)
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, sources, val=0.5)  # another split: the layout is rebuilt
    monkeypatch.undo()
    assert calls and layout_files(tmp_path / "out") == before  # old output intact
    assert not list((tmp_path / "out" / pr.WORK).glob("merge-*"))
    foreign = tmp_path / "theirs"
    (foreign / "train").mkdir(parents=True)
    with pytest.raises(FileExistsError, match="was not written by process_recordings.py; pass --overwrite"):
        pr.process_recordings(sources, foreign, val=0.0, progress=False)
    again = run(tmp_path, sources)
    assert again["segments"] == first["segments"] and layout_files(tmp_path / "out") == before
    assert again["incremental"]["reused"] == 2 and not again["incremental"]["layout_rewritten"]
    manifest = packed.read_manifest(tmp_path / "out" / packed.MANIFEST)
    assert manifest["arrays"] == ["train/a/2020-01-01_10.npy", "train/b/2020-01-01_10.npy"]
    taken = pr.process_recordings(sources, foreign, val=0.0, progress=False, overwrite=True)
    theirs = layout_files(foreign)
    assert taken["segments"] == first["segments"] and theirs.pop(pr.SUMMARY) != before[pr.SUMMARY]  # its own "out"
    assert theirs == {k: v for k, v in before.items() if k != pr.SUMMARY}


def test_empty_val_and_test_splits_are_absent(tmp_path):
    for name in "abc":
        write_csv(tmp_path / f"{name}.csv", motion(100 * 60, 100), 100)
    sources = pr.collect_sources([tmp_path])
    s = run(tmp_path, sources, val=0.0, test=0.0)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted([packed.MANIFEST, *packed.TABLES.values(),
                                                                            pr.SUMMARY, "train", pr.WORK])
    assert list(s["splits"]) == ["train"]
    with pytest.raises(ValueError, match=r"--val 0.6 \+ --test 0.5 >= 1"):
        run(tmp_path, sources, val=0.6, test=0.5, overwrite=True)


# ----------------------------------------------------------------------------- device files
def test_device_file_without_actipy_names_the_extra(tmp_path, monkeypatch):
    (tmp_path / "rec.cwa").write_bytes(b"MD\x00\x00")
    monkeypatch.setitem(sys.modules, "actipy", None)  # import fails as when it is not installed
    with pytest.raises(RecordingError, match=r'rec\.cwa: reading \.cwa device files needs actipy \(and Java\): '
                                             r'pip install -e "\.\[devices\]"'):
        run(tmp_path, pr.collect_sources([tmp_path / "rec.cwa"]))


def test_device_file_through_a_mocked_actipy(tmp_path, monkeypatch):
    fs = 100
    index = pd.date_range("2021-06-01 23:59:00", periods=fs * 120, freq="10ms", name="time")
    data = pd.DataFrame(motion(fs * 120, fs), index=index, columns=["x", "y", "z"])
    data["temperature"] = 20.0
    seen = {}

    def read_device(path, **kwargs):
        seen.update(kwargs, path=path)
        return data, {"SampleRate": fs}

    monkeypatch.setitem(sys.modules, "actipy", types.SimpleNamespace(read_device=read_device))
    (tmp_path / "P7.gt3x").write_bytes(b"PK")
    s = run(tmp_path, pr.collect_sources([tmp_path / "P7.gt3x"]))
    assert seen["path"] == str(tmp_path / "P7.gt3x") and seen["resample_hz"] is None
    assert not seen["detect_nonwear"] and not seen["calibrate_gravity"]
    assert s["per_subject"]["P7"]["hours"] == 2 and s["segments"] == 46
    x = np.load(tmp_path / "out/train/P7/2021-06-02_00.npy")  # segment 24 starts at 00:00:01.44
    np.testing.assert_allclose(x.reshape(-1, 3)[:256], data.iloc[24 * 256:25 * 256][["x", "y", "z"]], atol=1e-6)


def test_command_line(tmp_path, capsys):
    write_csv(tmp_path / "in" / "a.csv.gz", motion(100 * 60, 100), 100)
    assert pr.main([str(tmp_path / "in"), "--out", str(tmp_path / "o"), "--quiet", "--val", "0"]) == 0
    out = capsys.readouterr().out
    assert "1 subjects, 1 subject-hours, 23 segments of 2.56 s" in out and "summary: " in out
    assert pr.main([str(tmp_path / "in"), "--out", str(tmp_path / "o"), "--quiet", "--val", "0"]) == 0  # nothing to do
    assert "(0 processed, 1 reused" in capsys.readouterr().out
    (tmp_path / "theirs").mkdir()
    (tmp_path / "theirs" / "notes.txt").write_text("mine")
    assert pr.main([str(tmp_path / "in"), "--out", str(tmp_path / "theirs"), "--quiet"]) == 1
    assert capsys.readouterr().err.count("\n") == 1
    (tmp_path / "bad.csv").write_text("a;b\n1;2\n")
    assert pr.main([str(tmp_path / "bad.csv"), "--out", str(tmp_path / "o2"), "--quiet"]) == 1
    assert "bad.csv: no line holds 3 numbers" in capsys.readouterr().err
