"""Symlinked folders in a pre-training tree are data: followed (each real folder once, never in a
loop), indexed, packed and trained on; what is left out is counted and named in the log."""
import os
import subprocess
import sys
import time

import numpy as np

from relcon_testutils import REPO, run_env, write_tree
from relcon.data.Base_Dataset import SegmentDataset, SegmentIndex
from relcon.data.process.pack_dataset import pack_dataset
from tinyconfigs import write_tiny_configs


def linked_tree(tmp_path):
    """train/ with subjects s0, s1 as folders and s2, s3 as symlinks to folders elsewhere: 4
    subjects x 2 hours x 6 segments = 48 segments (val and test: real folders)."""
    tree = write_tree(tmp_path / "tree", subjects=(2, 1, 1), hours=2, segments=6)
    elsewhere = write_tree(tmp_path / "elsewhere", subjects=(2, 0, 0), hours=2, segments=6, seed=1)
    train = tree / "train"
    for i, name in enumerate(sorted(os.listdir(train))):
        os.rename(train / name, train / f"s{i}")
    for i, name in enumerate(sorted(os.listdir(elsewhere / "train"))):
        os.symlink(elsewhere / "train" / name, train / f"s{2 + i}", target_is_directory=True)
    return tree


def test_symlinked_subject_folders_are_indexed_and_packed(tmp_path):
    tree = linked_tree(tmp_path)
    past = time.time() - 60  # as if written a while ago: the index is cached
    for dirpath, _, _ in os.walk(tmp_path, followlinks=True):
        os.utime(dirpath, (past, past))
    index = SegmentIndex.scan(tree / "train")
    assert len(index) == 48 and len(index.folders) == 8 and index.left_out == []
    assert [os.path.relpath(f, index.root) for f in index.folders][4:] == [
        "s2/hour_0", "s2/hour_1", "s3/hour_0", "s3/hour_1"]
    cached = SegmentIndex.scan(tree / "train")
    assert cached.from_cache and len(cached) == 48
    summary = pack_dataset(tree, tmp_path / "packed", progress=False)
    assert summary["segments"] == 48 + 12 + 12 and summary["left_out"] == []
    packed = SegmentIndex.scan(tmp_path / "packed" / "train")
    assert len(packed) == 48
    np.testing.assert_array_equal(packed.read(47), index.read(47))  # the last segment of linked s3


def test_symlink_loops_second_paths_and_broken_links_are_left_out_and_named(tmp_path):
    tree = write_tree(tmp_path / "tree", subjects=(1, 0, 0), hours=2, segments=6)
    train = tree / "train"
    subject = train / "subject_0"
    os.symlink("..", subject / "hour_0" / "up", target_is_directory=True)  # a loop: back to subject_0
    os.symlink(train, subject / "hour_1" / "root", target_is_directory=True)  # a loop to the top
    os.symlink(subject, train / "alias", target_is_directory=True)  # a second path to subject_0
    os.symlink(tmp_path / "nowhere", train / "gone")  # a broken link
    index = SegmentIndex.scan(train)  # returns: no infinite walk
    assert len(index) == 12
    assert sorted(index.left_out) == [
        ("alias", "same folder as subject_0, indexed there"),
        ("gone", "broken symlink"),
        ("subject_0/hour_0/up", "symlink loop (leads back to subject_0)"),
        ("subject_0/hour_1/root", "symlink loop (leads back to .)"),
    ]
    line = SegmentDataset(index).describe()
    assert line == (f"data {index.root}: 12 segments in 2 folder(s); the scan left out 4 folder(s) or link(s): "
                    f"alias (same folder as subject_0, indexed there), gone (broken symlink), "
                    f"subject_0/hour_0/up (symlink loop (leads back to subject_0)), "
                    f"subject_0/hour_1/root (symlink loop (leads back to .))")
    summary = pack_dataset(tree, tmp_path / "packed", progress=False)
    assert summary["segments"] == 12 and len(summary["left_out"]) == 4


def test_training_logs_per_split_what_it_uses_and_what_was_left_out(tmp_path):
    tree = linked_tree(tmp_path)
    os.symlink(tree / "train", tree / "train" / "s0" / "loop", target_is_directory=True)
    cfg = write_tiny_configs(tmp_path, tree)
    r = subprocess.run([sys.executable, str(REPO / "run_exp.py"), "--config", "tiny_motifdist", "--device", "cpu"],
                       env=run_env(tmp_path / "out", cfg), cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    log = (tmp_path / "out" / "tiny_motifdist" / "log.txt").read_text()
    assert (f"data {tree.resolve()}/train: 48 segments in 8 folder(s); the scan left out 1 folder(s) or link(s): "
            f"s0/loop (symlink loop (leads back to .))") in log
    assert f"data {tree.resolve()}/val: 12 segments in 2 folder(s); the scan left nothing out" in log
