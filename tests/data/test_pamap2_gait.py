"""PAMAP2 wrist -> cadence (relcon/data/process/process_pamap2_gait.py) on small raw fixtures in
PAMAP2's ``.dat`` format with known cadences (``rawfixtures.write_pamap2_gait``)."""
from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))  # rawfixtures, whatever the import mode

import rawfixtures  # noqa: E402
from relcon.data.process import process_pamap2_gait as P  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "relcon/data/process/process_pamap2_gait.py"


@pytest.fixture(scope="module")
def gait_raw(tmp_path_factory):
    root = tmp_path_factory.mktemp("gait_raw")
    return root, rawfixtures.write_pamap2_gait(root)


def test_windows_labels_and_folds(gait_raw, tmp_path, caplog):
    raw, expected = gait_raw
    with caplog.at_level(logging.INFO):
        summary = P.process(raw, tmp_path / "processed", download=False, progress=False)
    out = tmp_path / "processed"
    subjects = sorted(expected)
    assert summary["subjects"] == subjects and summary["subjects_without_fold"] == [105]
    assert summary["excluded"]["no_steps"] == 4 and summary["excluded"]["gaps"] == 4
    assert summary["windows_by_activity"] == {"walking": 8, "running": 4, "Nordic walking": 0,
                                              "ascending stairs": 4, "descending stairs": 0}
    assert "subject 105 has no walking-type window" in caplog.text
    assert "1 of 5 windows without detectable steps" in caplog.text
    assert "4 windows skipped for missing data" in caplog.text
    assert json.loads((out / "folds.json").read_text())["folds"] == summary["folds"]
    for k, subject in enumerate(subjects):  # one fold per subject, in order
        fold = summary["folds"][k]
        assert fold["test_subjects"] == [subject]
        assert fold["val_subjects"] == [max(s for s in subjects if s != subject)]
        assert set(fold["train_subjects"]) == set(subjects) - {subject} - set(fold["val_subjects"])
        X, y = np.load(out / f"cv{k}_test_X.npy"), np.load(out / f"cv{k}_test_y.npy")
        assert X.dtype == np.float32 and X.shape == (4, 3, 1000) and y.dtype == np.float64
        assert np.abs(X).max() == pytest.approx(3.0)  # the running window's hand spike, clipped
        np.testing.assert_allclose(y, [c for _, c in expected[subject]], atol=2.0)
        for part in ("train", "val"):
            n = len(np.load(out / f"cv{k}_{part}_y.npy"))
            assert n == fold[part] == 4 * len(fold[f"{part}_subjects"])
    assert not (out / "cv4_test_X.npy").exists()


def test_hand_input_is_priorpt_preparation(gait_raw, tmp_path):
    """X is the hand accelerometer ÷ g, clipped to ±3 g, channels first: compare with the raw file."""
    raw, _ = gait_raw
    path = raw / "priorpt/pamap2/PAMAP2_Dataset/Protocol/subject101.dat"
    X, y, act = P.subject_windows(path, 1000, {"gaps": 0})
    data = np.loadtxt(path)
    walking = np.flatnonzero(data[:, 1] == 4)[0]
    np.testing.assert_allclose(X[0], np.clip(data[walking:walking + 1000, 4:7] / 9.80665, -3, 3), atol=1e-6)
    assert act.tolist() == [4, 4, 5, 12, 13] and np.isnan(y[-1])  # Nordic walking: skipped for its gap


def test_window_rules():
    ts = np.arange(20) / 100.0
    ts[12:] += 1.0  # a time jump ends a run
    act = np.array([0, 4, 4, 4, 5, 5, 1, 4, 4, 4, 4, 4, 4, 4, 12, 12, 12, 0, 13, 13])
    assert P.activity_runs(ts, act) == [(1, 4, 4), (4, 6, 5), (7, 12, 4), (12, 14, 4), (14, 17, 12), (18, 20, 13)]
    block = np.arange(60.0).reshape(20, 3)
    block[3:5] = np.nan
    np.testing.assert_allclose(P.fill_gaps(block, 2, 0.1), np.arange(60.0).reshape(20, 3))
    assert P.fill_gaps(block, 1, 0.1) is None  # a gap longer than allowed
    assert P.fill_gaps(block, 2, 0.05) is None  # too much missing


def test_uses_sslbench_copy_when_priorpt_is_absent(tmp_path):
    rawfixtures.write_pamap2(tmp_path, "sslbench", layout="tree")
    assert P.locate_raw(tmp_path, download=False, progress=False) == tmp_path / "sslbench" / "pamap2"


def test_script_offline_from_another_directory(gait_raw, tmp_path):
    import os
    import shutil

    raw, _ = gait_raw
    shutil.copytree(raw, tmp_path / "raw")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    r = subprocess.run([sys.executable, str(SCRIPT), "--raw-dir", "raw", "--out-dir", "out", "--no-download", "-q"],
                       cwd=tmp_path, env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "pamap2_gait: 16 windows of 10 s" in r.stdout and "4 folds (expected 8)" in r.stdout
    assert "subjects without a fold: [105]" in r.stdout
    assert len(list((tmp_path / "out").glob("cv*_*.npy"))) == 4 * 6
    r = subprocess.run([sys.executable, "-m", "relcon.data.process.process_pamap2_gait", "--raw-dir",
                        str(tmp_path / "empty"), "--out-dir", str(tmp_path / "out2"), "--no-download"],
                       cwd=REPO, env=env, capture_output=True, text=True)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "pamap2+physical+activity+monitoring.zip" in r.stderr and not (tmp_path / "out2").exists()
