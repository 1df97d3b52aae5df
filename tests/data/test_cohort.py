"""Cohort scale: shards, workers, merge, incremental reruns, kills, chunked reads, bounded memory,
and cohort embedding (process_recordings.py, relcon/embed/cohort.py)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from relcon.data import continuous, recordings, timestamps
from relcon.data.process import process_recordings as pr
from relcon.embed import cohort
from relcon.embed.stream import embed_recording
from test_process_recordings import layout_files, motion, write_csv

REPO = Path(__file__).resolve().parents[2]


def comparable(out):
    """A layout's files, ``summary.json`` without the fields that name the run (its folder, its rerun counts)."""
    files = layout_files(out)
    summary = json.loads(files.pop(pr.SUMMARY))
    summary.pop("out")
    summary.pop("incremental", None)
    return files, summary


def write_cohort(root):
    """Six subjects (one with two files), 25 / 30 / 100 Hz, ISO / epoch-ms / untimed, a gap, a
    clock change in offset time stamps, NaN rows: 2-4 min each, from 10:58 (two clock hours)."""
    write_csv(root / "P001.csv.gz", motion(30 * 200, 30, 1), 30)
    write_csv(root / "P002.csv", motion(25 * 180, 25, 2), 25, time="ms")
    t = pd.Timestamp("2020-01-01 10:58:00").value / 1e9 + np.arange(100 * 240) / 100
    t[100 * 120:] += 45.0  # a 45 s gap
    write_csv(root / "P003.csv", motion(len(t), 100, 3), times=t)
    xyz = motion(30 * 150, 30, 4)
    xyz[2000:2100] = np.nan
    write_csv(root / "P004.csv", xyz, 30)
    write_csv(root / "P005" / "day1.csv", motion(30 * 130, 30, 5), 30, start="2020-01-02 08:00:00")
    write_csv(root / "P005" / "day2.csv", motion(30 * 130, 30, 6), 30, start="2020-01-03 08:00:00")
    london = pd.Timestamp("2023-10-29 00:57:00", tz="UTC") + pd.to_timedelta(np.arange(25 * 300) * 40, unit="ms")
    local = london.tz_convert("Europe/London")
    offset = local.strftime("%z")
    stamps = local.strftime("%Y-%m-%d %H:%M:%S.%f").str[:-3] + offset.str[:3] + ":" + offset.str[3:]
    frame = pd.DataFrame(motion(len(stamps), 25, 7), columns=["x", "y", "z"])
    frame.insert(0, "time", stamps)
    frame.to_csv(root / "P006.csv", index=False, float_format="%.6f")
    return root


def sources_of(root):
    """The cohort's sources through a manifest (``root/../manifest.csv``; subject = P00n)."""
    files = sorted(p for p in root.rglob("*") if p.is_file())
    rows = [{"file": p.relative_to(root.parent).as_posix(),
             "subject": p.parent.name if p.parent != root else p.name.split(".")[0]} for p in files]
    pd.DataFrame(rows).to_csv(root.parent / "manifest.csv", index=False)
    return pr.collect_sources(manifest=root.parent / "manifest.csv")


@pytest.fixture(scope="module")
def cohort_dir(tmp_path_factory):
    root = write_cohort(tmp_path_factory.mktemp("cohort") / "in")
    return root


@pytest.fixture(scope="module")
def one_process(cohort_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("one") / "out"
    summary = pr.process_recordings(sources_of(cohort_dir), out, val=0.34, test=0.17, progress=False)
    assert summary["subjects"] == 6 and summary["segments"] > 0
    return comparable(out)


# ----------------------------------------------------------------------------- shards + workers + merge
@pytest.mark.parametrize("n, workers", [(1, 2), (2, 1), (3, 2), (4, 1)])
def test_shards_and_merge_equal_the_one_process_layout_bitwise(cohort_dir, one_process, tmp_path, n, workers):
    sources, out = sources_of(cohort_dir), tmp_path / "out"
    shares = []
    for k in range(1, n + 1):
        part = pr.process_recordings(sources, out, val=0.34, test=0.17, progress=False, shard=(k, n), workers=workers)
        if n > 1:
            assert part["merged"] is False and not (out / pr.SUMMARY).exists()
            shares.append(part["recordings"])
    if n > 1:
        assert sum(shares) == len(sources)  # every file in exactly one part
        summary = pr.merge(out, progress=False)
        assert summary["incremental"]["processed"] == len(sources)
    assert comparable(out) == one_process


def test_a_subject_s_files_stay_in_one_shard_and_the_share_is_stable():
    assert pr.shard_of("P005", 7) == pr.shard_of("P005", 7)
    counts = np.bincount([pr.shard_of(f"S{i:05d}", 4) for i in range(4000)], minlength=5)[1:]
    assert counts.min() > 900  # an even share
    assert pr.parse_shard("2/5") == (2, 5)
    for bad in ("0/3", "4/3", "1-3", "x"):
        with pytest.raises(ValueError, match="expected K/N with 1 <= K <= N"):
            pr.parse_shard(bad)


@pytest.mark.parametrize("env, expected", [
    ({"SLURM_ARRAY_TASK_ID": "0", "SLURM_ARRAY_TASK_COUNT": "4", "SLURM_ARRAY_TASK_MIN": "0", "SLURM_ARRAY_TASK_MAX": "3"},
     (1, 4)),
    ({"SLURM_ARRAY_TASK_ID": "4", "SLURM_ARRAY_TASK_COUNT": "4", "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_MAX": "4"},
     (4, 4)),
    ({"SLURM_ARRAY_TASK_ID": "3", "SLURM_ARRAY_TASK_COUNT": "3"}, (3, 3)),
    ({}, None),
])
def test_slurm_array_environment(env, expected):
    assert pr.shard_from_environment(env) == expected


def test_slurm_array_with_a_step_is_refused():
    env = {"SLURM_ARRAY_TASK_ID": "2", "SLURM_ARRAY_TASK_COUNT": "3", "SLURM_ARRAY_TASK_MIN": "0",
           "SLURM_ARRAY_TASK_MAX": "4"}
    with pytest.raises(ValueError, match="expected consecutive task ids"):
        pr.shard_from_environment(env)


def test_cli_shard_from_slurm_then_merge_and_a_missing_part(cohort_dir, one_process, tmp_path, monkeypatch, caplog):
    out = tmp_path / "out"
    args = ["--manifest", str(cohort_dir.parent / "manifest.csv"), "--out", str(out), "--val", "0.34", "--test",
            "0.17", "--quiet"]
    sources_of(cohort_dir)
    monkeypatch.setenv("SLURM_ARRAY_TASK_COUNT", "3")
    monkeypatch.setenv("SLURM_ARRAY_TASK_MIN", "1")
    monkeypatch.setenv("SLURM_ARRAY_TASK_MAX", "3")
    for task in ("1", "3"):
        monkeypatch.setenv("SLURM_ARRAY_TASK_ID", task)
        caplog.clear()
        with caplog.at_level("INFO"):
            assert pr.main(args) == 0
        assert f"shard {task}/3 from the SLURM job array" in caplog.text
    with pytest.raises(pr.ProcessingError, match=r"part\(s\) 2 of 3 missing; run process_recordings.py INPUTS --out "
                                                 r".* --shard K/3 for K = 2"):
        pr.merge(out, progress=False)
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "2")
    assert pr.main(args) == 0
    monkeypatch.delenv("SLURM_ARRAY_TASK_ID")
    assert pr.main(["--merge", str(out), "--quiet"]) == 0
    assert comparable(out) == one_process
    with pytest.raises(pr.ProcessingError, match="no parts to merge"):
        pr.merge(tmp_path / "empty", progress=False)


# ----------------------------------------------------------------------------- incremental
def test_rerun_add_change_remove_are_counted_and_equal_a_fresh_run(tmp_path):
    root = tmp_path / "in"
    for i in range(4):
        write_csv(root / f"S{i}.csv", motion(30 * 100, 30, i), 30)
    out = tmp_path / "out"
    first = pr.process_recordings(pr.collect_sources([root]), out, val=0.0, progress=False)
    assert first["incremental"]["added"] == 4 and first["incremental"]["processed"] == 4

    again = pr.process_recordings(pr.collect_sources([root]), out, val=0.0, progress=False)
    inc = again["incremental"]
    assert (inc["processed"], inc["reused"], inc["added"], inc["changed"], inc["removed"]) == (0, 4, 0, 0, 0)
    assert inc["layout_rewritten"] is False

    write_csv(root / "S4.csv", motion(30 * 100, 30, 4), 30)  # added
    write_csv(root / "S1.csv", motion(30 * 120, 30, 11), 30)  # changed: new content, size and mtime
    (root / "S2.csv").unlink()  # removed
    third = pr.process_recordings(pr.collect_sources([root]), out, val=0.0, progress=False)
    inc = third["incremental"]
    assert (inc["processed"], inc["reused"], inc["added"], inc["changed"], inc["removed"]) == (2, 2, 1, 1, 1)
    assert "S2" not in third["per_subject"] and not (out / "train" / "S2").exists()
    line = pr.format_summary(third)
    assert "1 added, 1 changed, 1 removed" in line
    fresh = tmp_path / "fresh"
    pr.process_recordings(pr.collect_sources([root]), fresh, val=0.0, progress=False)
    assert comparable(out) == comparable(fresh)
    stored = list((out / pr.WORK / "recordings").glob("*/*"))
    assert len(stored) == 4  # the removed file's and the changed file's old segments are gone


# ----------------------------------------------------------------------------- killed, then rerun
KILLER = textwrap.dedent("""
    import os, signal, sys
    from relcon.data import recordings
    from relcon.data.process import process_recordings as pr
    limit, where = int(os.environ["KILL_AFTER"]), os.environ["KILL_WHERE"]
    parent, seen = os.getpid(), [0]
    chunks = recordings.RecordingStream.chunks
    write_layout = pr._write_layout

    def count(_=None):
        seen[0] += 1
        if seen[0] >= limit and (where != "worker" or os.getpid() != parent):
            os.kill(os.getpid(), signal.SIGKILL)

    def killing_chunks(self):
        for chunk in chunks(self):
            count()
            yield chunk

    if where == "merge":
        pr._write_layout = lambda stage, work, plan, layout: (write_layout(stage, work, plan[:2], layout), count())
    else:
        recordings.RecordingStream.chunks = killing_chunks
    sys.exit(pr.main(sys.argv[1:]))
""")


@pytest.mark.parametrize("where, after, workers", [("reader", 7, 1), ("worker", 5, 2), ("merge", 1, 1)])
def test_a_process_killed_mid_file_leaves_no_part_and_a_rerun_gives_the_same_layout(cohort_dir, one_process, tmp_path,
                                                                                     where, after, workers):
    sources_of(cohort_dir)
    out = tmp_path / "out"
    args = ["--manifest", str(cohort_dir.parent / "manifest.csv"), "--out", str(out), "--val", "0.34", "--test",
            "0.17", "--quiet", "--chunk-rows", "1000", "--workers", str(workers)]
    script = tmp_path / "killer.py"
    script.write_text(KILLER)
    env = dict(os.environ, KILL_AFTER=str(after), KILL_WHERE=where, PYTHONPATH=str(REPO))
    done = subprocess.run([sys.executable, str(script)] + args, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode != 0, done.stdout + done.stderr
    if where == "worker":  # the pool breaks: the parent says so in one line and stops
        assert done.returncode == 1 and "a worker process died while processing" in done.stderr
        assert "rerun the same command to go on" in done.stderr
    else:
        assert done.returncode == -signal.SIGKILL
    if where != "merge":
        assert not list((out / pr.WORK / "parts").glob("*.json"))  # nothing a merge would take
        assert not (out / pr.SUMMARY).exists()
    else:
        assert not (out / pr.SUMMARY).exists()  # the half-written stage was never swapped in
    stored = [json.loads(p.read_text()) for p in (out / pr.WORK / "recordings").glob("*/*/record.json")]
    assert len(stored) < len(sources_of(cohort_dir)) or where == "merge"
    rerun = subprocess.run([sys.executable, "-m", "relcon.data.process.process_recordings"] + args, env=env,
                           capture_output=True, text=True, timeout=300, cwd=REPO)
    assert rerun.returncode == 0, rerun.stderr
    assert comparable(out) == one_process
    assert not list((out / pr.WORK).glob("merge-*")) and not list((out / pr.WORK / "recordings").glob("*/.*.tmp"))


# ----------------------------------------------------------------------------- chunked == whole
@pytest.mark.parametrize("chunk_rows", [10**7, 1000, 777, 97])
def test_a_chunked_read_equals_a_whole_read(cohort_dir, one_process, tmp_path, chunk_rows):
    """Chunk borders that split a segment, the 45 s gap (P003), NaN rows (P004) and the clock
    change in offset time stamps (P006): the same layout, byte for byte."""
    out = tmp_path / "out"
    pr.process_recordings(sources_of(cohort_dir), out, val=0.34, test=0.17, progress=False, chunk_rows=chunk_rows)
    assert comparable(out) == one_process


def test_chunks_deliver_every_row_once_in_order(cohort_dir):
    for name in ("P003.csv", "P006.csv", "P001.csv.gz"):
        whole = recordings.RecordingStream(cohort_dir / name, chunk_rows=10**7).read()
        parts = list(recordings.RecordingStream(cohort_dir / name, chunk_rows=333).chunks())
        assert max(len(c.xyz) for c in parts) <= 333
        np.testing.assert_array_equal(np.concatenate([c.xyz for c in parts]), whole.xyz)
        np.testing.assert_array_equal(np.concatenate([c.t for c in parts]), whole.time)
        assert [c.first_row for c in parts] == list(np.cumsum([0] + [len(c.xyz) for c in parts[:-1]]))


# ----------------------------------------------------------------------------- bounded memory
def long_recording(path, minutes, fs=100):
    """A CSV.gz of ``minutes`` at fs Hz, written in chunks (never whole in memory)."""
    start = pd.Timestamp("2021-06-01 00:00:00").value / 1e9
    per = fs * 60
    with pd.io.common.get_handle(path, "w", compression="gzip") as handle:
        handle.handle.write("time,x,y,z\n")
        for m in range(minutes):
            t = start + (m * per + np.arange(per)) / fs
            frame = pd.DataFrame(motion(per, fs, m), columns=["x", "y", "z"])
            frame.insert(0, "time", pd.to_datetime(t * 1e9).strftime("%Y-%m-%d %H:%M:%S.%f").str[:-3])
            frame.to_csv(handle.handle, index=False, header=False, float_format="%.4f")
    return path


def peak_bytes(fn):
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_is_bounded_by_the_chunk_not_the_recording(tmp_path, monkeypatch, encoder):
    """Probe sizes, chunks, "hours" (the files being written hold their segments) and the non-wear
    stretch (windows are held until it is judged) made small:
    a recording 4x as long must not need more memory, and
    every chunk the reader hands on is at most ``chunk_rows`` rows (a reader that read the file
    whole would break both)."""
    monkeypatch.setattr(recordings, "UNITS_PROBE_ROWS", 5000)
    monkeypatch.setattr(timestamps, "RATE_PROBE_ROWS", 5000)
    monkeypatch.setattr(continuous, "IRREGULAR_PROBE_ROWS", 5000)
    monkeypatch.setattr(continuous, "NONWEAR_MIN_WINDOWS", 30)  # embed holds windows until non-wear is judged
    monkeypatch.setattr(pr, "HOUR_S", 300)
    monkeypatch.setattr(pr, "hour_label", lambda start_s, clock, prefix="": f"{prefix}b{int(start_s)}")
    biggest = [0]
    raw_chunks = recordings._csv_chunks

    def watched(*args):
        for item in raw_chunks(*args):
            biggest[0] = max(biggest[0], len(item[0]))
            yield item

    monkeypatch.setattr(recordings, "_csv_chunks", watched)
    short = long_recording(tmp_path / "short.csv.gz", 10)
    long = long_recording(tmp_path / "long.csv.gz", 40)  # 240,000 rows: 5.8 MB as float64 x, y, z

    def process(path, name):
        return lambda: pr.process_recordings(pr.collect_sources([path]), tmp_path / name, val=0.0, progress=False,
                                             chunk_rows=4000)

    peaks = [peak_bytes(process(short, "a")), peak_bytes(process(long, "b"))]
    assert biggest[0] <= 4000
    assert peaks[1] < 1.3 * peaks[0] + 1e6, peaks
    assert peaks[1] < 240_000 * 3 * 8, peaks  # less than the recording's x, y, z as float64

    def embed(path):
        return lambda: embed_recording(path, encoder, progress=False, chunk_rows=4000, batch_size=64)

    epeaks = [peak_bytes(embed(short)), peak_bytes(embed(long))]
    out_growth = (40 - 10) * 60 / 2.56 * (128 * 4 + 200)  # the embeddings and window table that grow with length
    assert epeaks[1] < 1.3 * epeaks[0] + out_growth + 1e6, epeaks


# ----------------------------------------------------------------------------- cohort embedding
def test_cohort_embedding_equals_per_file_embedding_and_resumes(cohort_dir, tmp_path, encoder):
    inputs = cohort.cohort_inputs(cohort_dir)
    assert [name for _, name, _, _ in inputs] == ["P001", "P002", "P003", "P004", "P005/day1", "P005/day2", "P006"]
    lines = []
    summary = cohort.embed_cohort(inputs, encoder, tmp_path / "emb", None, batch_size=40, progress=False,
                                  log=lines.append, chunk_rows=500)
    assert summary["embedded"] == 7 and summary["failed"] == [] and len(lines) == 7
    for path, name, _, _ in inputs:
        alone = embed_recording(path, encoder, progress=False)
        got = np.load(tmp_path / "emb" / f"{name}.npy")
        assert got.shape == alone.embeddings.shape
        np.testing.assert_allclose(got, alone.embeddings, rtol=1e-5, atol=1e-5)
        table = pd.read_csv(tmp_path / "emb" / f"{name}.windows.csv")
        np.testing.assert_allclose(table["start_s"], alone.table["start_s"], atol=5e-4)
        qc = json.loads((tmp_path / "emb" / f"{name}.qc.json").read_text())
        assert qc["windows"] == len(got) == summary["per_recording"][[r["file"] for r in
                                                                      summary["per_recording"]].index(str(path))]["windows"]
    gap = pd.read_csv(tmp_path / "emb" / "P003.windows.csv")
    assert gap["gap_after"].sum() == 1 and gap["gap_before"].sum() == 1 and gap["run"].max() == 1
    assert pd.read_csv(tmp_path / "emb" / "P004.windows.csv")["run"].max() == 1  # the NaN rows split it
    assert summary["gaps"] == 1 and summary["gap_s"] == pytest.approx(45.01, abs=0.01)  # P003's; P006's clock change is none
    again = cohort.embed_cohort(inputs, encoder, tmp_path / "emb", None, progress=False, log=lines.append)
    assert again["embedded"] == 0 and again["skipped_done"] == 7 and again["windows"] == summary["windows"]
    st = os.stat(cohort_dir / "P002.csv")
    os.utime(cohort_dir / "P002.csv", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # a changed file is embedded again
    try:
        third = cohort.embed_cohort(inputs, encoder, tmp_path / "emb", None, progress=False, log=lines.append)
    finally:
        os.utime(cohort_dir / "P002.csv", ns=(st.st_atime_ns, st.st_mtime_ns))
    assert third["embedded"] == 1 and third["skipped_done"] == 6


def test_cohort_shards_cover_every_recording_once(cohort_dir, tmp_path, encoder):
    inputs = cohort.cohort_inputs(cohort_dir)
    done = []
    for k in (1, 2, 3):
        s = cohort.embed_cohort(inputs, encoder, tmp_path / "emb", None, shard=(k, 3), progress=False, log=lambda _: 0)
        done += [r["file"] for r in s["per_recording"]]
        assert (tmp_path / "emb" / f"summary-{k}-of-3.json").is_file()
    assert sorted(done) == sorted(str(p) for p, _, _, _ in inputs)


def test_cohort_cli_skip_bad_lists_the_file_and_exits_3(cohort_dir, tmp_path, encoder, monkeypatch, capsys):
    from relcon.embed import cli

    folder = tmp_path / "in"
    write_csv(folder / "good.csv", motion(30 * 60, 30, 1), 30)
    (folder / "bad.csv").write_text("a;b\n1;2\n")
    ckpt = tmp_path / "model.pt"
    ckpt.write_bytes(b"x")
    monkeypatch.setattr(cli, "load_encoder_checkpoint", lambda *a, **k: (encoder, {"epoch": 0}))
    monkeypatch.setattr("relcon.api.locate_checkpoint", lambda *a, **k: ckpt)
    argv = ["--run-dir", str(tmp_path), "--input", str(folder), "--output-dir", str(tmp_path / "emb"), "--quiet"]
    assert cli.main(argv) == 1  # without --skip-bad the bad file stops the cohort with its one-line error
    assert "bad.csv: no line holds 3 numbers" in capsys.readouterr().err
    assert cli.main(argv + ["--skip-bad"]) == cohort.EXIT_SKIPPED
    captured = capsys.readouterr()
    assert "1 embedded" in captured.out and "1 failed" in captured.out and "bad.csv" in captured.err
    summary = json.loads((tmp_path / "emb" / "summary.json").read_text())
    assert [Path(f["file"]).name for f in summary["failed"]] == ["bad.csv"]
    assert "no line holds 3 numbers" in summary["failed"][0]["reason"]
    assert (tmp_path / "emb" / "good.npy").is_file() and not (tmp_path / "emb" / "bad.npy").exists()


def test_processing_skip_bad_lists_the_file_and_exits_3(tmp_path, capsys):
    write_csv(tmp_path / "in" / "good.csv", motion(30 * 60, 30, 1), 30)
    (tmp_path / "in" / "bad.csv").write_text("a;b\n1;2\n")
    args = [str(tmp_path / "in"), "--out", str(tmp_path / "out"), "--quiet", "--val", "0", "--skip-bad"]
    assert pr.main(args) == pr.EXIT_SKIPPED
    assert "1 file(s) were skipped (--skip-bad); exit status 3" in capsys.readouterr().err
    summary = json.loads((tmp_path / "out" / pr.SUMMARY).read_text())
    assert [Path(f["file"]).name for f in summary["dropped"]["files_skipped"]] == ["bad.csv"]


def test_a_rerun_with_a_new_bad_file_updates_the_summary_and_counts_it_as_failed_only(tmp_path, capsys, caplog):
    write_csv(tmp_path / "in" / "good.csv", motion(30 * 60, 30, 1), 30)
    args = [str(tmp_path / "in"), "--out", str(tmp_path / "out"), "--quiet", "--val", "0", "--skip-bad"]
    assert pr.main(args) == 0
    (tmp_path / "in" / "bad.csv").write_text("a;b\n1;2\n")  # the layout stays the same: only the counts change
    caplog.clear()
    capsys.readouterr()
    assert pr.main(args) == pr.EXIT_SKIPPED
    out = capsys.readouterr().out
    assert "2 (0 processed, 1 reused" in out and "1 failed)" in out and "already up to date" in out
    assert not any("to process" in r.getMessage() for r in caplog.records)  # --quiet: no per-shard line
    summary = json.loads((tmp_path / "out" / pr.SUMMARY).read_text())
    assert [Path(f["file"]).name for f in summary["dropped"]["files_skipped"]] == ["bad.csv"]
    (tmp_path / "in" / "bad.csv").unlink()
    assert pr.main(args) == 0
    summary = json.loads((tmp_path / "out" / pr.SUMMARY).read_text())
    assert summary["dropped"]["files_skipped"] == []
