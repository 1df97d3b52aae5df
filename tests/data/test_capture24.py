"""Capture-24 recipe on fixture files in the release's exact format (no network)."""
from __future__ import annotations

import json

import numpy as np
import pytest

import rawfixtures
from test_datasets_download import local_server

from relcon.data import class_names
from relcon.data.Base_Dataset import SegmentIndex
from relcon.data.process import process_capture24 as c24
from relcon.data.process.download import RawDataMissing


@pytest.fixture(scope="module")
def raw(tmp_path_factory):
    root = tmp_path_factory.mktemp("c24raw")
    rawfixtures.write_capture24(root)
    return root


@pytest.fixture(scope="module")
def built(raw, tmp_path_factory):
    out = tmp_path_factory.mktemp("c24out")
    return out, c24.process_capture24(raw_dir=raw, out_dir=out, val=0.34, download=False, progress=False)


def test_pretraining_layout_of_all_participants(built):
    out, result = built
    s = result["pretrain"]
    # 240 s from 02:58 at 100 Hz: 93 segments of 2.56 s, 47 in hour 02 and 46 in hour 03
    assert s["subjects"] == 3 and s["segments"] == 3 * 93 and s["hours"] == 6
    assert s["splits"]["train"]["subjects"] == 2 and s["splits"]["val"]["subjects"] == 1
    p1 = s["per_subject"]["P001"]
    folder = out / "pretrain" / p1["split"] / "P001"
    assert sorted(f.name for f in folder.iterdir()) == ["2016-11-13_02.npy", "2016-11-13_03.npy"]
    assert np.load(folder / "2016-11-13_02.npy").shape == (47, 256, 3)
    assert SegmentIndex.scan(out / "pretrain" / "train").layout == "packed"
    assert json.loads((out / "pretrain" / "summary.json").read_text())["dataset"] == "Capture-24"


def test_har_windows_walmsley_labels_and_subject_folds(built, raw):
    out, result = built
    har = result["har"]
    # per participant 24 windows of 10 s: 2 unlabelled, 3 with a label change inside, 19 kept
    assert har["windows"] == 72 and har["kept"] == 57
    assert har["dropped_unlabelled"] == 6 and har["dropped_label_changes"] == 9
    assert har["class_names"] == list(class_names.CAPTURE24_WALMSLEY2020) == list(c24.CLASSES)
    assert har["n_folds"] == 3  # 3 participants: one fold each (5 on the full set)
    X, y = np.load(out / "har" / "cv0_train_X.npy"), np.load(out / "har" / "cv0_train_y.npy")
    assert X.dtype == np.float32 and X.shape[1:] == (3, 1000) and y.dtype == np.int64
    subjects = [set(har["folds"][0][split]["subjects"]) for split in ("train", "val", "test")]
    assert sum(map(len, subjects)) == 3 and not (subjects[0] & subjects[1] or subjects[0] & subjects[2])
    tested = sorted(s for f in har["folds"] for s in f["test"]["subjects"])
    assert tested == [1, 2, 3]
    # P001's first kept window is 20-30 s: labelled "7030 sleeping" -> sleep (0), values as in the file
    fold = next(f for f in har["folds"] if 1 in f["test"]["subjects"])
    k = har["folds"].index(fold)
    Xt, yt = np.load(out / "har" / f"cv{k}_test_X.npy"), np.load(out / "har" / f"cv{k}_test_y.npy")
    import pandas as pd

    table = pd.read_csv(raw / "capture24" / "P001.csv.gz")
    np.testing.assert_allclose(Xt[0], table[["x", "y", "z"]].to_numpy()[2000:3000].T, atol=1e-6)
    assert yt[0] == 0 and sorted(set(yt.tolist())) == [0, 1, 2, 3]
    assert not (out / "har" / "cv3_train_X.npy").exists()


def test_participants_subset_and_unknown_participant(raw, tmp_path):
    r = c24.process_capture24(raw_dir=raw, out_dir=tmp_path, participants=["P003", "P001", "P002"], val=0,
                              window_s=5, download=False, progress=False)
    assert r["har"]["n_folds"] == 3 and np.load(tmp_path / "har" / "cv0_test_X.npy").shape[1:] == (3, 500)
    with pytest.raises(c24.Capture24Error, match=r"2 participant\(s\) \(P002, P003\): the HAR folds need at least 3"):
        c24.process_capture24(raw_dir=raw, out_dir=tmp_path / "two", participants=["P002", "P003"], download=False,
                              progress=False)
    r = c24.process_capture24(raw_dir=raw, out_dir=tmp_path / "two", participants=["P002", "P003"], val=0,
                              download=False, progress=False, har=False)
    assert sorted(r["pretrain"]["per_subject"]) == ["P002", "P003"] and r["har"] is None
    assert not (tmp_path / "two" / "har").exists()
    with pytest.raises(c24.Capture24Error, match=r"--participants P009: not in .*capture24 \(found 3: P001, P002, P003"):
        c24.process_capture24(raw_dir=raw, out_dir=tmp_path / "x", participants=["P001", "P009"], download=False,
                              progress=False)
    with pytest.raises(FileExistsError, match="pass --overwrite"):
        c24.process_capture24(raw_dir=raw, out_dir=tmp_path, download=False, progress=False)


def test_missing_raw_without_download_says_what_to_place(tmp_path):
    with pytest.raises(RawDataMissing, match=r"Capture-24 not found: .* \(--no-download\)\. Download https://ora\.ox"):
        c24.process_capture24(raw_dir=tmp_path / "nothing", out_dir=tmp_path / "out", download=False, progress=False)
    assert not (tmp_path / "out" / "pretrain").exists()


@pytest.fixture
def server(tmp_path):
    zipped = rawfixtures.write_capture24(tmp_path / "served", as_zip=True).read_bytes()
    with local_server({"/capture24.zip": zipped}) as srv:
        srv.url, srv.size = f"{srv.url}/capture24.zip", len(zipped)
        yield srv


def test_interrupted_download_is_resumed_verified_and_processed(server, tmp_path):
    raw, out = tmp_path / "raw", tmp_path / "out"
    kwargs = dict(raw_dir=raw, out_dir=out, url=server.url, expected_bytes=server.size, progress=False,
                  download_options={"retries": 0, "backoff": 0.0, "chunk_size": 4096})
    server.cut_next_at = server.size // 2
    with pytest.raises(c24.Capture24Error, match=r"capture24\.zip: downloading .* failed after 1 attempts: .*"
                                                 r"The partial file .*\.part is kept; run again to resume"):
        c24.process_capture24(**kwargs)
    assert (raw / "capture24.zip.part").exists() and not (raw / "capture24.zip").exists()
    assert not (raw / "capture24").exists() and not (out / "pretrain").exists() and not (out / "har").exists()
    result = c24.process_capture24(**kwargs)
    assert server.seen[-1][1].startswith("bytes=") and int(server.seen[-1][1][6:-1]) > 0  # resumed, not restarted
    assert (raw / "capture24.zip").stat().st_size == server.size and (raw / "capture24.zip.sha256").exists()
    assert result["har"]["kept"] == 57 and result["pretrain"]["segments"] == 279


def test_archive_of_the_wrong_size_is_kept_aside(server, tmp_path):
    with pytest.raises(c24.Capture24Error, match=rf"capture24\.zip: {server.size} bytes; expected the released "
                                                 rf"{server.size + 1} .* kept aside as .*capture24\.zip\.bad-"):
        c24.process_capture24(raw_dir=tmp_path / "raw", out_dir=tmp_path / "out", url=server.url,
                              expected_bytes=server.size + 1, progress=False,
                              download_options={"retries": 0, "backoff": 0.0})
    assert not (tmp_path / "raw" / "capture24.zip").exists()


def test_command_line_offline(raw, tmp_path, capsys):
    assert c24.main(["--raw-dir", str(raw), "--out-dir", str(tmp_path), "--val", "0", "--no-download", "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "3 subjects, 6 subject-hours, 279 segments" in text and "HAR: 57 windows of 10 s kept of 72" in text
    assert c24.main(["--out-dir", str(tmp_path / "o"), "--raw-dir", str(tmp_path / "none"), "--no-download"]) == 1
    assert "Capture-24 not found" in capsys.readouterr().err
