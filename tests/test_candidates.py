import numpy as np
import pytest

from relcon_testutils import write_tree
from relcon.data.Base_Dataset import DataError, SegmentIndex
from relcon.models.RelCon.RelCon_Model import WithinUserCandidateDataset


def test_candidates_are_distinct_siblings_never_the_anchor(tmp_path):
    root = write_tree(tmp_path / "t", subjects=(3, 0, 0), hours=2, segments=7)
    index = SegmentIndex.scan(root / "train")
    ds = WithinUserCandidateDataset(index, withinuser_cands=5, seed=3)
    ds.set_epoch(0)
    for item in range(len(ds)):
        out = ds[item]
        anchor = out["index"]
        cands = out["withinuser_cand_index"].numpy()
        assert len(set(cands)) == 5 and anchor not in cands
        assert all(index.folder_of[c] == index.folder_of[anchor] for c in cands)
        assert out["withinuser_cand_signals"].shape == (5, 256, 3)
        np.testing.assert_array_equal(out["withinuser_cand_signals"][0].numpy(), ds.load(cands[0]))


def test_same_seed_same_draws_other_epoch_other_draws(tmp_path):
    index = SegmentIndex.scan(write_tree(tmp_path / "t", subjects=(2, 0, 0), segments=10) / "train")
    a = WithinUserCandidateDataset(index, 4, seed=1)
    b = WithinUserCandidateDataset(index, 4, seed=1)
    draws = lambda ds: [ds.draw_candidates(i).tolist() for i in range(len(ds))]  # noqa: E731
    assert draws(a) == draws(b)
    b.set_epoch(1)
    assert draws(a) != draws(b)
    # every sibling gets drawn at some point: the draw is not stuck on a subset
    seen = set()
    for epoch in range(30):
        a.set_epoch(epoch)
        seen.update(a.draw_candidates(0).tolist())
    assert seen == set(index.folder_members[index.folder_of[0]].tolist()) - {0}


def test_small_folders_left_out_and_counted(tmp_path):
    root = write_tree(tmp_path / "t", subjects=(2, 0, 0), hours=1, segments=6)
    # a third subject-hour with only 3 segments
    small = root / "train" / "subject_9" / "hour_0"
    small.mkdir(parents=True)
    for i in range(3):
        np.save(small / f"ts_{i}.npy", np.zeros((256, 3)))
    ds = WithinUserCandidateDataset(SegmentIndex.scan(root / "train"), withinuser_cands=4)
    assert ds.left_out_folders == 1 and ds.left_out_segments == 3
    assert len(ds) == 12


def test_too_many_candidates_is_a_clear_error(tmp_path):
    index = SegmentIndex.scan(write_tree(tmp_path / "t", subjects=(1, 0, 0), segments=5) / "train")
    with pytest.raises(DataError, match="withinuser_cands"):
        WithinUserCandidateDataset(index, withinuser_cands=5)


def test_empty_tree_and_mixed_lengths(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no .npy"):
        WithinUserCandidateDataset(SegmentIndex.scan(tmp_path / "empty"), 2)
    root = write_tree(tmp_path / "t", subjects=(1, 0, 0), hours=1, segments=4)
    odd = root / "train" / "subject_0" / "hour_0" / "ts_3.npy"
    np.save(odd, np.zeros((200, 3)))
    ds = WithinUserCandidateDataset(SegmentIndex.scan(root / "train"), 3)
    with pytest.raises(DataError, match=r"ts_3.npy: shape \(200, 3\) found; expected \(256, 3\)"):
        for i in range(len(ds)):
            ds[i]


def test_draws_are_uniform_subsets_in_random_order(tmp_path):
    index = SegmentIndex.scan(write_tree(tmp_path / "t", subjects=(1, 0, 0), hours=1, segments=10) / "train")
    ds = WithinUserCandidateDataset(index, 4, seed=11)
    epochs = 3000
    draws = []
    for epoch in range(epochs):
        ds.set_epoch(epoch)
        draws.append(ds.draw_many([3])[2][0])
    draws = np.array(draws)  # (epochs, K)
    assert (draws != 3).all() and all(len(set(d)) == 4 for d in draws)
    # each of the 9 siblings: in the subset with probability 4/9, first with probability 1/9
    for counts, p in ((np.bincount(draws.ravel(), minlength=10), 4 / 9), (np.bincount(draws[:, 0], minlength=10), 1 / 9)):
        expected, sd = epochs * p, np.sqrt(epochs * p * (1 - p))
        assert counts[3] == 0 and np.abs(np.delete(counts, 3) - expected).max() < 5 * sd, counts
    # a batch draws what the items draw one by one
    batch = ds.draw_many([0, 5, 3])[2]
    np.testing.assert_array_equal(batch[1], ds.draw_candidates(5))
