"""Unit tests of the shared pieces: windows, votes, folds, readers (docs/datasets.md §1-§6)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import spec_oracle
from relcon.data.process import common, pamap2_raw
from relcon.data.process.common import (
    majority_label, priorpt_clean, priorpt_leakfree_folds, priorpt_reference_folds, priorpt_windows,
    sslbench_folds, sslbench_window_starts, sslbench_windows,
)
from relcon.data.process.comparepriorpt.opportunity import triple_rate
from relcon.data.process.comparesslbench.motionsense import double_rate
from relcon.data.process.comparesslbench.pamap2 import fill_gaps

REPO = Path(__file__).resolve().parents[2]
SUBJECTS = {"hhar": list("abcdefghi"), "motionsense": [float(i) for i in range(1, 25)],
            "pamap2": [float(i) for i in range(1, 10)]}


# ------------------------------------------------------------------ votes and windows


def test_majority_ties_small_ids_go_to_smallest():
    assert majority_label([5] * 100 + [2] * 100) == 2
    assert majority_label([4.0] * 100 + [1.0] * 100) == 1.0  # MotionSense floats


def test_majority_pamap2_tie_rules():
    assert majority_label([3] * 100 + [8] * 100) == 8  # 8 sits in slot 0 of the 8-slot table
    assert majority_label([8] * 100 + [3] * 100) == 8
    assert majority_label([1] * 100 + [9] * 100) == 1  # 1 and 9 collide: first appearance wins
    assert majority_label([9] * 100 + [1] * 100) == 9
    assert majority_label([0] * 50 + [7] * 101 + [3] * 49) == 7


@pytest.mark.parametrize("n, count", [(0, 0), (1, 0), (200, 0), (201, 1), (399, 1), (400, 1), (401, 2), (1000, 4), (1001, 5)])
def test_sslbench_window_count_and_off_by_one(n, count):
    assert len(sslbench_window_starts(n)) == count == (max(n - 1, 0) // 200)


def test_sslbench_windows_content():
    xyz = np.arange(401 * 3, dtype=float).reshape(401, 3)
    gt = np.array([1] * 250 + [2] * 151)
    X, y = sslbench_windows(xyz, gt)
    assert X.shape == (2, 200, 3)
    np.testing.assert_array_equal(X[1], xyz[200:400])
    assert y == [1, 2] and all(type(v) is int for v in y)


def test_priorpt_windows_aligned_then_shifted():
    M = 3999  # 3 aligned windows (rows 0..2999) + 2 shifted ones; the rest is dropped
    data = np.zeros((M, 5))
    data[:, 2] = np.arange(M)
    data[:, 1] = 1
    X, labels = priorpt_windows(data)
    assert X.shape == (5, 1000, 3) and labels.shape == (5, 1000)
    assert [int(w[0, 0]) for w in X] == [0, 1000, 2000, 500, 1500]
    assert priorpt_windows(np.zeros((999, 5)))[0].shape == (0, 1000, 3)
    assert len(priorpt_windows(np.zeros((1000, 5)))[0]) == 1


def test_priorpt_clean_rules():
    labels = np.array([
        [0] * 501 + [1] * 499,        # more than 500 zeros: dropped
        [0] * 500 + [2] * 500,        # exactly 500 zeros: kept, tie 0/2 -> 0 (removed later)
        [0] * 500 + [4] * 300 + [2] * 200,  # kept, label 0
        [5] * 400 + [4] * 400 + [1] * 200,  # tie 4/5 -> smallest, 4
        [2.0] * 1000,
    ])
    X = np.arange(5)[:, None, None] * np.ones((5, 1000, 3))
    Xc, y = priorpt_clean(X, labels)
    assert y.tolist() == [0, 0, 4, 2] and y.dtype == np.int64
    assert [int(w[0, 0]) for w in Xc] == [1, 2, 3, 4]


# ------------------------------------------------------------------ priorpt folds


def test_priorpt_reference_folds_positional_quirk():
    pid = np.array([1, 1, 2, 2, 2, 3, 4, 4])
    folds = priorpt_reference_folds(pid)
    assert len(folds) == 4
    tr, va, te = folds[0]  # test 1; non-test rows R = 2..7 with pids 2,2,2,3,4,4; h = 4
    assert te.tolist() == [0, 1]
    assert va.tolist() == [4, 5]  # positions of pid 4 inside R, used on the full arrays
    assert tr.tolist() == [0, 1, 2, 3]  # ... so "train" starts with the test subject's rows
    tr, va, te = folds[3]  # test 4: h = 3, the largest other pid
    assert te.tolist() == [6, 7] and va.tolist() == [5] and tr.tolist() == [0, 1, 2, 3, 4]
    vals = [np.unique(pid[np.flatnonzero(pid != g)][f[1]]).tolist() for g, f in zip([1, 2, 3, 4], folds)]
    assert vals == [[4], [4], [4], [3]]  # validation group by position: S4, S4, S4, S3


def test_priorpt_leakfree_folds_disjoint():
    pid = np.array([3, 1, 1, 2, 2, 2, 3, 4, 4, 1])
    for g, (tr, va, te) in zip([1, 2, 3, 4], priorpt_leakfree_folds(pid)):
        assert set(pid[te]) == {g}
        assert set(pid[va]) == {4 if g != 4 else 3}
        assert not set(pid[tr]) & (set(pid[va]) | set(pid[te]))
        assert sorted(np.concatenate([tr, va, te]).tolist()) == list(range(len(pid)))


def test_priorpt_folds_need_three_subjects():
    with pytest.raises(ValueError, match="at least 3 subjects"):
        priorpt_reference_folds(np.array([1, 1, 2]), "priorpt/x")


# ------------------------------------------------------------------ sslbench folds


@pytest.mark.parametrize("name", ["hhar", "motionsense", "pamap2"])
def test_sslbench_folds_equal_spec_tables(name):
    assert [tuple(f) for f in sslbench_folds(name, SUBJECTS[name])] == spec_oracle.fold_table(name)


def test_sslbench_folds_replay_the_shared_stream():
    """Per-set computation == one stream over HHAR -> MotionSense -> PAMAP2 (real ids); without
    the replay MotionSense's fold-1 test subjects would be 2, 7, 15, 3, 11 (docs/datasets.md §1.3)."""
    lists = [SUBJECTS["hhar"], SUBJECTS["motionsense"], SUBJECTS["pamap2"]]
    shared = common._folds_with_pinned_hash(lists)
    for name, folds in zip(("hhar", "motionsense", "pamap2"), shared):
        assert [tuple(f) for f in sslbench_folds(name, SUBJECTS[name])] == [tuple(f) for f in folds]
    alone = common._shared_stream_folds([SUBJECTS["motionsense"]])[0]
    assert alone[1][2] == [2.0, 7.0, 15.0, 3.0, 11.0]


def test_hhar_folds_do_not_depend_on_the_hash_seed():
    code = ("import json; from relcon.data.process.common import sslbench_folds; "
            "print(json.dumps(sslbench_folds('hhar', list('abcdefghi'))))")
    results = []
    for seed in ("0", "12345"):  # 0 computes in-process, any other seed in a pinned child
        env = dict(os.environ, PYTHONHASHSEED=seed, PYTHONPATH=str(REPO))
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
        results.append(json.loads(out.stdout))
    expected = [list(f) for f in spec_oracle.fold_table("hhar")]
    assert all(r == expected for r in results)


def test_sslbench_folds_need_full_subject_list():
    with pytest.raises(ValueError, match="exactly 9 distinct subjects"):
        sslbench_folds("hhar", list("abcdefgh"))


# ------------------------------------------------------------------ per-set signal steps


def test_triple_rate_keeps_reference_formula():
    rows = np.array([[0, 1, 3.0, 6.0, 0.0], [10, 1, 3.0, 0.0, 3.0], [20, 2, 6.0, 3.0, 3.0]])
    U = triple_rate(rows)
    assert U.shape == (9, 5)
    np.testing.assert_array_equal(U[:, 1], [1, 1, 1, 1, 1, 1, 2, 2, 2])
    np.testing.assert_allclose(U[:, 2], [3, 2, 4, 3, 3, 6, 6, 0, 0])  # c, 2c/3, 4c/3 for constant c
    np.testing.assert_allclose(U[:3, 3], [6, 2, 4])
    assert triple_rate(np.zeros((0, 5))).shape == (0, 5)


def test_double_rate_is_linear():
    d = np.array([[0.0, 2, 4], [2.0, 2, 0], [4.0, 0, 0]])
    np.testing.assert_allclose(double_rate(d)[:, 0], [0, 1, 2, 3, 4, 4])
    assert double_rate(d[:1]).tolist() == [d[0].tolist()] * 2


def test_fill_gaps_matches_pandas():
    import pandas as pd

    v = np.array([np.nan, np.nan, 1.0, np.nan, 4.0, 5.0, np.nan, np.nan])
    want = pd.Series(v).interpolate().ffill().bfill().to_numpy()
    np.testing.assert_array_equal(fill_gaps(v, "f", 38), want)
    with pytest.raises(ValueError, match="f: column 38 has no valid value"):
        fill_gaps(np.full(4, np.nan), "f", 38)


def test_pamap2_raw_api(tmp_path):
    assert pamap2_raw.imu_columns("ankle", "acc16") == (38, 39, 40)
    assert pamap2_raw.imu_columns("hand", "acc16") == (4, 5, 6)
    assert pamap2_raw.imu_columns("hand", "gyro") == (10, 11, 12)
    base = tmp_path / "pamap2" / "PAMAP2_Dataset"
    row = " ".join(["1.5"] * 51)  # columns 3..53
    for session, names in (("Protocol", ["subject102.dat", "subject101.dat", "notes.txt"]), ("Optional", ["subject101.dat"])):
        (base / session).mkdir(parents=True)
        for n in names:
            (base / session / n).write_text(f"0.01 4 NaN {row}\n0.02 4 80 {row}\n")
    files = pamap2_raw.list_subject_files(tmp_path / "pamap2")
    assert [(f.session, f.subject) for f in files] == [("Protocol", 101), ("Protocol", 102), ("Optional", 101)]
    a = pamap2_raw.read_columns(files[0].path, (2, 1, 40))
    assert a.dtype == np.float64 and a.shape == (2, 3)
    assert np.isnan(a[0, 0]) and a[1].tolist() == [80.0, 4.0, 1.5]
    (base / "Protocol" / "subject103.dat").write_text("0.01 4 80\n")
    with pytest.raises(ValueError, match=r"subject103\.dat: expected 54 .* found 3"):
        pamap2_raw.read_columns(base / "Protocol" / "subject103.dat", (1,))
    (base / "Protocol" / "subj_x.dat").write_text("")
    with pytest.raises(ValueError, match="subj_x.dat"):
        pamap2_raw.list_subject_files(tmp_path / "pamap2")


def test_truncated_opportunity_file_is_an_error(tmp_path):
    from relcon.data.process.comparepriorpt.opportunity import read_file

    f = tmp_path / "S1-ADL1.dat"
    f.write_text(" ".join(["1"] * 250) + "\n" + " ".join(["1"] * 120))
    with pytest.raises(ValueError, match=r"S1-ADL1\.dat: expected 250 .* found 120 in the last line"):
        read_file(f)


def test_motionsense_longer_gyroscope_is_a_clear_error(tmp_path):
    import rawfixtures
    from relcon.data.process.comparesslbench import motionsense

    root = rawfixtures.write_motionsense(tmp_path)
    gyro = root / "C_Gyroscope_data/C_Gyroscope_data/dws_1/sub_3.csv"
    acc_rows = len((root / "B_Accelerometer_data/B_Accelerometer_data/dws_1/sub_3.csv").read_text().splitlines())
    gyro.write_text(",x,y,z\n" + "".join(f"{t},0.1,0.2,0.3\n" for t in range(acc_rows + 5)))
    with pytest.raises(ValueError, match=r"dws_1/sub_3\.csv has \d+ rows, more than"):
        motionsense.load_table(root, progress=False)
