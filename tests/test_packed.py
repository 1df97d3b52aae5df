"""Packed layout, the converter and the cached index of the reference layout."""
import os
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from relcon_testutils import REPO, write_tree
from relcon.data import packed
from relcon.data.Base_Dataset import DataError, SegmentIndex, index_cache_path, load_segment
from relcon.data.process.pack_dataset import main as pack_main
from relcon.data.process.pack_dataset import pack_dataset
from relcon.models.Base_Model import make_loader
from relcon.models.MotifDist.MotifDist_Model import AugmentedSegmentDataset
from relcon.models.RelCon.RelCon_Model import WithinUserCandidateDataset


@pytest.fixture
def trees(tmp_path):
    src = write_tree(tmp_path / "src", subjects=(3, 1, 1), hours=2, segments=7)
    # a subject-hour too small for the candidates, and folder names that sort differently as
    # paths and as folders ("hour_1" vs "hour_1-b")
    for name, n in (("hour_1-b", 8), ("hour_9", 2)):
        folder = src / "train" / "subject_0" / name
        folder.mkdir()
        for i in range(n):
            np.save(folder / f"ts_{i}.npy", np.full((256, 3), 10.0 * i + len(name)))
    dst = tmp_path / "dst"
    pack_dataset(src, dst, progress=False)
    return src, dst


def test_converter_round_trip(trees):
    src, dst = trees
    manifest = packed.read_manifest(dst / packed.MANIFEST)
    assert manifest["segment_shape"] == [256, 3] and sum(manifest["counts"]) == 7 * 2 * 5 + 8 + 2
    files, pk = SegmentIndex.scan(src / "train", cache=False), SegmentIndex.scan(dst / "train")
    assert (files.layout, pk.layout) == ("files", "packed")
    assert len(files) == len(pk) and np.array_equal(files.offsets, pk.offsets)
    for fid in range(len(files)):
        np.testing.assert_array_equal(pk.read(fid), load_segment(files.path(fid)))
    assert pk.path(3).endswith(os.path.join("subject_0", "hour_0.npy") + "[3]")
    # the whole tree, a split and a subject all index from the one manifest at the top
    assert len(SegmentIndex.scan(dst)) == sum(manifest["counts"])
    assert len(SegmentIndex.scan(dst / "train" / "subject_0")) == 7 * 2 + 8 + 2


@pytest.mark.parametrize("train", [True, False])
def test_packed_and_files_layouts_give_identical_batches(trees, train):
    src, dst = trees
    batches = {}
    for name, root in (("files", src), ("packed", dst)):
        rel = WithinUserCandidateDataset(SegmentIndex.scan(root / "train", cache=False), 4, seed=5, train=train)
        aug = AugmentedSegmentDataset(SegmentIndex.scan(root / "train", cache=False), seed=5, train=train)
        assert rel.left_out_folders == 1
        out = []
        for epoch in (0, 1):
            for ds in (rel, aug):
                loader = make_loader(ds, 6, train, seed=5)
                loader.sampler.set_epoch(epoch)
                ds.set_epoch(epoch)
                out.extend(loader)
        batches[name] = out
    assert len(batches["files"]) == len(batches["packed"]) > 0
    for a, b in zip(batches["files"], batches["packed"]):
        assert a.keys() == b.keys()
        for key in a:
            if key == "filepath":
                continue
            torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)


def test_candidate_batches_equal_single_items(trees):
    src, _ = trees
    ds = WithinUserCandidateDataset(SegmentIndex.scan(src / "train", cache=False), 4, seed=2)
    batch = ds.__getitems__([5, 0, 17])
    for row, item in enumerate([5, 0, 17]):
        one = ds[item]
        assert one["index"] == batch["index"][row] and one["filepath"] == batch["filepath"][row]
        torch.testing.assert_close(one["withinuser_cand_signals"], batch["withinuser_cand_signals"][row])
        np.testing.assert_array_equal(one["withinuser_cand_index"].numpy(), ds.draw_candidates(item))


def test_converter_refuses_overwrite_and_runs_from_anywhere(trees, tmp_path):
    src, dst = trees
    assert pack_main([str(src), str(dst), "--quiet"]) == 2  # exists, no --overwrite
    assert pack_main([str(dst), str(tmp_path / "again"), "--quiet"]) == 2  # already packed
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    r = subprocess.run([sys.executable, str(REPO / "relcon/data/process/pack_dataset.py"), "../src", "../dst",
                        "--overwrite", "--quiet"], cwd=elsewhere, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "packed 80 segments" in r.stdout and not list(tmp_path.glob(".dst.*"))


def test_packed_errors_name_the_array(trees):
    _, dst = trees
    array = dst / "train" / "subject_0" / "hour_1.npy"
    data = np.load(array)
    data[2, 10, 1] = np.nan
    np.save(array, data)
    ds = WithinUserCandidateDataset(SegmentIndex.scan(dst / "train"), 6, seed=0)
    with pytest.raises(DataError, match=r"hour_1\.npy\[2\]: non-finite value nan at \(time=10, channel=1\)"):
        for item in range(len(ds)):
            ds[item]
    np.save(array, data[:5])  # fewer rows than the manifest says
    index = SegmentIndex.scan(dst / "train")
    folder = next(i for i, path in enumerate(index.folders) if path.endswith(os.path.join("subject_0", "hour_1.npy")))
    with pytest.raises(packed.PackedFormatError, match=r"hour_1\.npy.*manifest promises"):
        index.read(int(index.offsets[folder]))


def _age(root, seconds=60):
    """Date every directory of the tree back, as if it had been written a while ago."""
    past = time.time() - seconds
    for dirpath, _, _ in os.walk(root):
        os.utime(dirpath, (past, past))


def test_index_is_cached_and_rebuilt_when_the_tree_changes(tmp_path):
    root = write_tree(tmp_path / "t", subjects=(2, 0, 0), hours=2, segments=4) / "train"
    fresh = SegmentIndex.scan(root)
    assert not fresh.from_cache and not index_cache_path(root).exists()  # just written: not cached yet
    _age(root)
    first = SegmentIndex.scan(root)
    assert not first.from_cache and index_cache_path(root).exists()
    again = SegmentIndex.scan(root)
    assert again.from_cache and again.files == first.files == fresh.files
    np.save(root / "subject_1" / "hour_0" / "ts_9.npy", np.zeros((256, 3)))
    changed = SegmentIndex.scan(root)
    assert not changed.from_cache and len(changed) == len(first) + 1
    assert changed.files[len(first) // 2 + 4].endswith(os.path.join("subject_1", "hour_0", "ts_9.npy"))
    (root / "subject_0" / "hour_0" / "ts_0.npy").unlink()
    _age(root)
    assert len(SegmentIndex.scan(root)) == len(first)
    assert SegmentIndex.scan(root).from_cache
    os.environ["RELCON_INDEX_CACHE"] = "0"
    try:
        assert not SegmentIndex.scan(root).from_cache
    finally:
        del os.environ["RELCON_INDEX_CACHE"]
