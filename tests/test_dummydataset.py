import subprocess
import sys

import numpy as np
import pytest

from relcon_testutils import REPO
from relcon.data.Base_Dataset import DataError, SegmentDataset, SegmentIndex, load_segment
from relcon.data.process.process_dummydataset import generate_dummydataset


def test_reference_layout_counts_shapes_dtype(tmp_path):
    counts = generate_dummydataset(tmp_path / "d", progress=False)
    assert counts == {"train": 1600, "val": 800, "test": 800}
    files = sorted((tmp_path / "d").rglob("*.npy"))
    assert len(files) == 3200
    assert (tmp_path / "d" / "train" / "subject_0" / "hour_1" / "ts_24.npy").exists()
    assert (tmp_path / "d" / "val" / "subject_32").is_dir() and (tmp_path / "d" / "test" / "subject_63").is_dir()
    a = np.load(files[0])
    assert a.shape == (256, 3) and a.dtype == np.float64


def test_motion_kind_seeded_and_structured(tmp_path):
    kw = dict(train_subjects=2, val_subjects=1, test_subjects=1, hours=2, segments=4, progress=False)
    generate_dummydataset(tmp_path / "a", kind="motion", seed=1, **kw)
    generate_dummydataset(tmp_path / "b", kind="motion", seed=1, **kw)
    f = "train/subject_0/hour_0/ts_0.npy"
    np.testing.assert_array_equal(np.load(tmp_path / "a" / f), np.load(tmp_path / "b" / f))
    x = np.load(tmp_path / "a" / f)
    assert 0.3 < np.linalg.norm(x, axis=1).mean() < 3  # about 1 g of gravity plus motion


def test_refuses_to_overwrite_and_replaces_with_flag(tmp_path):
    kw = dict(train_subjects=1, val_subjects=1, test_subjects=1, hours=1, segments=2, progress=False)
    generate_dummydataset(tmp_path / "d", **kw)
    with pytest.raises(FileExistsError, match="--overwrite"):
        generate_dummydataset(tmp_path / "d", **kw)
    generate_dummydataset(tmp_path / "d", overwrite=True, seed=5, **kw)
    assert len(list((tmp_path / "d").rglob("*.npy"))) == 6
    assert not list(tmp_path.glob(".d.*"))  # no temporary folders left


def test_script_from_another_directory_with_relative_out_dir(tmp_path):
    r = subprocess.run([sys.executable, str(REPO / "relcon/data/process/process_dummydataset.py"), "--out-dir", "rel",
                        "--train-subjects", "1", "--val-subjects", "1", "--test-subjects", "1", "--segments", "3"],
                       cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert len(list((tmp_path / "rel").rglob("*.npy"))) == 18
    r = subprocess.run([sys.executable, str(REPO / "relcon/data/process/process_dummydataset.py"), "--out-dir", "rel"],
                       cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "--overwrite" in r.stderr


@pytest.mark.parametrize("array,match", [
    (np.zeros((256, 3), dtype=np.int64), "dtype int64 found; expected a floating-point"),
    (np.zeros((256,)), r"shape \(256,\) found; expected a 2-D array"),
    (np.full((256, 3), np.nan), "non-finite value nan at"),
    (np.array([[np.inf, 0, 0]] * 256), "non-finite value inf"),
])
def test_bad_segments_are_named(tmp_path, array, match):
    path = tmp_path / "x.npy"
    np.save(path, array)
    with pytest.raises(DataError, match=match) as err:
        load_segment(path)
    assert str(path) in str(err.value)


def test_corrupt_and_object_npy(tmp_path):
    path = tmp_path / "bad.npy"
    path.write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(DataError, match="cannot be read as a numeric .npy"):
        load_segment(path)
    np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(DataError, match="cannot be read"):
        load_segment(path)


def test_wrong_length_against_first_segment(tmp_path):
    folder = tmp_path / "t" / "s" / "h"
    folder.mkdir(parents=True)
    np.save(folder / "a.npy", np.zeros((256, 3)))
    np.save(folder / "b.npy", np.zeros((256, 2)))
    ds = SegmentDataset(SegmentIndex.scan(tmp_path / "t"))
    with pytest.raises(DataError, match=r"b.npy: shape \(256, 2\) found; expected \(256, 3\)"):
        ds[1]
