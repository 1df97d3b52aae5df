"""Processed outputs on the raw fixture trees: every file equals the transcription of the
specification (tests/data/spec_oracle.py; docs/datasets.md §7), with its shapes, dtypes, folds
and layout."""
from __future__ import annotations

import json

import numpy as np
import pytest

import rawfixtures
import spec_oracle
from relcon.data.process import comparesslbench
from relcon.data.process.common import PRIORPT_LEAKFREE_SUBDIR, SUMMARY_NAME

ORACLES = {
    "priorpt/opportunity": spec_oracle.opportunity,
    "priorpt/pamap2": spec_oracle.pamap2_priorpt,
    "sslbench/hhar": spec_oracle.hhar,
    "sslbench/motionsense": spec_oracle.motionsense,
    "sslbench/pamap2": spec_oracle.pamap2_sslbench,
}
N_FOLDS = {"priorpt/opportunity": 4, "priorpt/pamap2": 8, "sslbench/hhar": 5, "sslbench/motionsense": 5,
           "sslbench/pamap2": 5}


def load_folder(folder) -> dict:
    return {p.stem: np.load(p, allow_pickle=False) for p in sorted(folder.iterdir())}


def assert_same_arrays(got: dict, want: dict) -> None:
    assert sorted(got) == sorted(want)
    for name, w in want.items():
        g = got[name]
        assert g.shape == w.shape and g.dtype == w.dtype, (name, g.shape, w.shape, g.dtype, w.dtype)
        if name.endswith("_y") or name in ("Y", "pid"):
            np.testing.assert_array_equal(g, w, err_msg=name)
        else:
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6, err_msg=name)


@pytest.mark.parametrize("key", sorted(ORACLES))
def test_outputs_equal_spec(processed, raw_root, key):
    out, _ = processed
    assert_same_arrays(load_folder(out / key / "processed"), ORACLES[key](raw_root))


@pytest.mark.parametrize("key", sorted(ORACLES))
def test_shapes_dtypes_and_layout(processed, key):
    out, summaries = processed
    files = load_folder(out / key / "processed")
    k = N_FOLDS[key]
    names = {f"cv{i}_{part}_{xy}" for i in range(k) for part in ("train", "val", "test") for xy in "Xy"}
    if key.startswith("priorpt"):
        names |= {"X", "Y", "pid"}
    assert set(files) == names  # nothing else inside processed/
    T = 1000 if key.startswith("priorpt") else 200
    y_dtype = np.float64 if key == "sslbench/motionsense" else np.int64
    for name, arr in files.items():
        if name.endswith("_X"):
            assert arr.dtype == np.float64 and arr.ndim == 3 and arr.shape[1:] == (3, T) and len(arr) > 0
        elif name.endswith("_y"):
            assert arr.dtype == y_dtype and arr.shape == files[name[:-1] + "X"].shape[:1]
    if key.startswith("priorpt"):
        n = len(files["Y"])
        assert files["X"].shape == (n, 1000, 3) and files["pid"].shape == (n,)
        assert files["Y"].dtype == files["pid"].dtype == np.int64
        assert np.abs(files["X"]).max() <= 3.0
    summary = json.loads((out / key / SUMMARY_NAME).read_text())
    assert len(summary["folds"]) == summary["expected_folds"] == k
    assert summaries[key]["folds"] == summary["folds"]


def test_priorpt_labels_and_subjects(processed):
    out, _ = processed
    opp = load_folder(out / "priorpt/opportunity/processed")
    assert set(opp["Y"].tolist()) == {1, 2, 3, 4}  # Lie 5 -> 3, null windows dropped
    assert set(opp["pid"].tolist()) == {1, 2, 3, 4}
    pam = load_folder(out / "priorpt/pamap2/processed")
    assert set(pam["Y"].tolist()) <= {1, 2, 3, 4, 12, 13, 16, 17}
    # subject 109 has only rope jumping and optional activities: 8 folds, 101..108
    assert sorted(set(pam["pid"].tolist())) == list(range(101, 109))
    assert not (out / "priorpt/pamap2/processed/cv8_test_X.npy").exists()


def test_priorpt_reference_quirk_visible(processed):
    """Fold 0's train set starts with the test subject's own windows (files in subject order)."""
    out, _ = processed
    f = load_folder(out / "priorpt/opportunity/processed")
    n1 = int((f["pid"] == 1).sum())
    np.testing.assert_array_equal(f["cv0_train_X"][:n1], f["cv0_test_X"][:n1])


@pytest.mark.parametrize("name", ["opportunity", "pamap2"])
def test_leakfree_folds(processed, name):
    out, summaries = processed
    ref = load_folder(out / "priorpt" / name / "processed")
    lf = load_folder(out / "priorpt" / name / PRIORPT_LEAKFREE_SUBDIR)
    X, pid = ref["X"].transpose(0, 2, 1), ref["pid"]
    y = np.unique(ref["Y"], return_inverse=True)[1]
    groups = np.unique(pid)
    assert len([n for n in lf if n.endswith("_test_X")]) == len(groups) == N_FOLDS[f"priorpt/{name}"]
    for i, g in enumerate(groups):
        folds = summaries[f"priorpt/{name}"]["leakfree_folds"][i]
        tr, va, te = (set(folds[f"{p}_subjects"]) for p in ("train", "val", "test"))
        assert te == {g} and len(va) == 1 and not (tr & va or tr & te or va & te)
        assert tr | va | te == set(groups.tolist())
        h = max(set(groups.tolist()) - {g})
        assert va == {h}  # the validation subject the reference intended
        for part, mask in (("train", (pid != g) & (pid != h)), ("val", pid == h), ("test", pid == g)):
            np.testing.assert_array_equal(lf[f"cv{i}_{part}_X"], X[mask])
            np.testing.assert_array_equal(lf[f"cv{i}_{part}_y"], y[mask])
        np.testing.assert_array_equal(lf[f"cv{i}_test_X"], ref[f"cv{i}_test_X"])


def test_sslbench_folds_in_summary_are_spec_tables(processed):
    _, summaries = processed
    for name in ("hhar", "motionsense", "pamap2"):
        folds = summaries[f"sslbench/{name}"]["folds"]
        got = [(f["train_subjects"], f["val_subjects"], f["test_subjects"]) for f in folds]
        assert got == [tuple(p) for p in spec_oracle.fold_table(name)]


def test_pamap2_tie_window_goes_to_8(processed):
    """Subject 1 begins with 100 rows of walking (id 3) and 100 of descending stairs (id 8):
    CPython's set order gives the tie to 8, not to the smaller id. Subject 1 is tested in fold 1."""
    out, _ = processed
    assert np.load(out / "sslbench/pamap2/processed/cv1_test_y.npy")[0] == 8


@pytest.mark.parametrize("name", ["motionsense", "pamap2"])
def test_one_sslbench_set_alone_equals_full_run(processed, raw_root, tmp_path, name):
    out, _ = processed
    comparesslbench.process_datasets([name], raw_root=raw_root, out_root=tmp_path, download=False, progress=False)
    alone = load_folder(tmp_path / "sslbench" / name / "processed")
    full = load_folder(out / "sslbench" / name / "processed")
    assert sorted(alone) == sorted(full)
    for k in full:
        np.testing.assert_array_equal(alone[k], full[k], err_msg=k)


def test_reprocessing_replaces_processed_folder(raw_root, tmp_path):
    """A second run replaces processed/ as a whole: stray files of an earlier run disappear,
    no staging folder is left behind."""
    from relcon.data.process import comparepriorpt

    comparepriorpt.process_datasets(["opportunity"], raw_root=raw_root, out_root=tmp_path, download=False, progress=False)
    folder = tmp_path / "priorpt/opportunity/processed"
    (folder / "cv9_test_X.npy").write_bytes(b"stale")
    comparepriorpt.process_datasets(["opportunity"], raw_root=raw_root, out_root=tmp_path, download=False, progress=False)
    assert not (folder / "cv9_test_X.npy").exists()
    assert sorted(p.name for p in folder.parent.iterdir()) == sorted([SUMMARY_NAME, "processed", PRIORPT_LEAKFREE_SUBDIR])


def test_outer_archives_and_zipped_trees(tmp_path):
    """Raw data given only as outer archives (as downloaded) or as the MotionSense zips is
    extracted without the network; the digest is recorded beside each downloadable archive."""
    from relcon.data.process import comparepriorpt
    from relcon.data.process.download import sidecar_path

    raw = tmp_path / "raw"
    rawfixtures.write_pamap2(raw, "priorpt", layout="outer_zip")
    rawfixtures.write_opportunity(raw, as_zip=True)
    rawfixtures.write_motionsense(raw, as_zip=True)
    rawfixtures.write_hhar(raw, as_outer_zip=True)
    comparepriorpt.process_datasets(raw_root=raw, out_root=tmp_path / "out", download=False, progress=False)
    comparesslbench.process_datasets(["hhar", "motionsense"], raw_root=raw, out_root=tmp_path / "out",
                                     download=False, progress=False)
    assert (raw / "priorpt/pamap2/PAMAP2_Dataset/Protocol/subject101.dat").exists()
    assert (raw / "sslbench/hhar/Activity recognition exp/Watch_accelerometer.csv").exists()
    assert (raw / "sslbench/motionsense/B_Accelerometer_data/B_Accelerometer_data/dws_1/sub_1.csv").exists()
    for archive in ("priorpt/pamap2.zip", "priorpt/opportunity.zip", "sslbench/hhar.zip",
                    "sslbench/motionsense/C_Gyroscope_data.zip"):
        assert sidecar_path(raw / archive).exists()
    assert not list(raw.rglob("*.extracting-*"))
    for key in ("priorpt/opportunity", "priorpt/pamap2", "sslbench/motionsense"):
        assert (tmp_path / "out" / key / "processed/cv0_test_X.npy").exists()


def test_fold_count_check_warns_or_fails_on_reduced_data(tmp_path, caplog):
    """Three Opportunity subjects give 3 folds instead of cv_splits = 4: a warning by default,
    an error with strict_folds."""
    from relcon.data.process import comparepriorpt

    raw = tmp_path / "raw"
    set_root = rawfixtures.write_opportunity(raw)
    for f in (set_root / "OpportunityUCIDataset/dataset").glob("S4-*.dat"):
        f.unlink()
    summaries = comparepriorpt.process_datasets(["opportunity"], raw_root=raw, out_root=tmp_path / "out",
                                                download=False, progress=False)
    assert len(summaries[0]["folds"]) == 3 and summaries[0]["expected_folds"] == 4
    assert "3 folds written, but the evaluation config expects cv_splits = 4" in caplog.text
    with pytest.raises(ValueError, match="cv_splits = 4"):
        comparepriorpt.process_datasets(["opportunity"], raw_root=raw, out_root=tmp_path / "out",
                                        download=False, progress=False, strict_folds=True)
