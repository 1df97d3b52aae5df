"""The packed layout's manifest at scale: version 2 (memory-mapped tables), version 1 (JSON
lists) still read, and the same segment ids, fingerprints and batches as the list-based reader."""
import json
import shutil

import numpy as np
import pytest
import torch

from relcon_testutils import write_tree
from relcon.data import packed
from relcon.data.Base_Dataset import SegmentIndex
from relcon.data.process.pack_dataset import pack_dataset
from relcon.models.Base_Model import EpochSampler, make_loader
from relcon.models.MotifDist.MotifDist_Model import AugmentedSegmentDataset
from relcon.models.RelCon.RelCon_Model import WithinUserCandidateDataset


@pytest.fixture
def trees(tmp_path):
    """(v2 tree, the same tree with a version 1 manifest)."""
    src = write_tree(tmp_path / "src", subjects=(3, 1, 1), hours=2, segments=7)
    extra = src / "train" / "subject_0" / "hour_1-b"  # sorts differently as a path and as a folder
    extra.mkdir()
    for i in range(9):
        np.save(extra / f"ts_{i}.npy", np.full((256, 3), 3.0 * i, dtype=np.float32))
    v2 = tmp_path / "v2"
    pack_dataset(src, v2, progress=False)
    v1 = tmp_path / "v1"
    shutil.copytree(v2, v1)
    manifest = packed.read_manifest(v2 / packed.MANIFEST)
    for name in packed.TABLES.values():
        (v1 / name).unlink()
    (v1 / packed.MANIFEST).write_text(json.dumps(packed.manifest_entry(
        manifest["arrays"], manifest["counts"], manifest["segment_shape"], manifest["dtype"], manifest["source"])))
    return v2, v1


def list_based_index(root):
    """The index as the version 1 reader built it: Python lists of paths and counts from the JSON."""
    path, rel = packed.find_manifest(root)
    manifest = json.loads(path.read_text())
    prefix = "" if rel == "" else rel + "/"
    keep = [i for i, a in enumerate(manifest["arrays"]) if a.startswith(prefix)]
    arrays = [str(path.parent / manifest["arrays"][i]) for i in keep]
    counts = np.array([manifest["counts"][i] for i in keep], dtype=np.int64)
    store = packed.PackedArrays(arrays, counts, manifest["segment_shape"], manifest["dtype"])
    return SegmentIndex(root.resolve(), arrays, counts, packed=store)


def test_pack_writes_version_2_and_it_round_trips(trees):
    v2, v1 = trees
    header = json.loads((v2 / packed.MANIFEST).read_text())
    assert header["version"] == 2 and "arrays" not in header and header["n_arrays"] == 5 * 2 + 1
    assert header["segments"] == 7 * 10 + 9
    old = json.loads((v1 / packed.MANIFEST).read_text())
    _, table = packed.load_manifest(v2 / packed.MANIFEST)
    assert table.paths() == old["arrays"] and table.counts.tolist() == old["counts"]
    # memory-mapped, read-only flat arrays; no Python object per array
    assert (table.counts.dtype, table.blob.dtype) == (np.int64, np.uint8)
    assert not table.counts.flags.writeable and not table.blob.flags.writeable
    assert packed.read_manifest(v2 / packed.MANIFEST)["arrays"] == old["arrays"]


@pytest.mark.parametrize("sub", ["", "train", "train/subject_0", "val"])
def test_version_1_and_2_index_like_the_list_based_reader(trees, sub):
    v2, v1 = trees
    reference = list_based_index(v1 / sub)
    expected = reference.fingerprint()
    for tree in (v1, v2):
        index = SegmentIndex.scan(tree / sub)
        moved = lambda path: path.replace(f"/{v1.name}/", f"/{tree.name}/")  # noqa: E731
        assert index.layout == "packed" and not isinstance(index.folders, list)
        np.testing.assert_array_equal(index.offsets, reference.offsets)
        assert list(index.folders) == [moved(f) for f in reference.folders]
        got = index.fingerprint()
        keys = ("segments", "folders", "sha256")
        assert [got[k] for k in keys] == [expected[k] for k in keys]
        for fid in (0, len(index) // 2, len(index) - 1):
            assert index.path(fid) == moved(reference.path(fid))
            np.testing.assert_array_equal(index.read(fid), reference.read(fid))


def test_same_batches_as_the_list_based_reader(trees):
    v2, v1 = trees
    batches = []
    for index in (list_based_index(v1 / "train"), SegmentIndex.scan(v1 / "train"), SegmentIndex.scan(v2 / "train")):
        out = []
        for ds in (WithinUserCandidateDataset(index, 4, seed=5), AugmentedSegmentDataset(index, seed=5)):
            for epoch in (0, 1):
                loader = make_loader(ds, 6, True, seed=5)
                loader.sampler.set_epoch(epoch)
                ds.set_epoch(epoch)
                out.extend(loader)
        batches.append(out)
    assert len(batches[0]) > 0 and len({len(b) for b in batches}) == 1
    for a, *others in zip(*batches):
        for b in others:
            assert a.keys() == b.keys()
            for key in a:
                if key == "filepath":
                    assert [p.replace("/v1/", "/v2/") for p in a[key]] == [p.replace("/v1/", "/v2/") for p in b[key]]
                else:
                    torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)


@pytest.mark.parametrize("n,world,consumed", [(0, 1, 0), (1, 1, 0), (37, 1, 0), (37, 1, 11), (37, 3, 0),
                                              (37, 3, 13), (100_003, 2, 5), (37, 4, 40)])
def test_sampler_order_is_the_list_based_one(n, world, consumed):
    for shuffle in (True, False):
        for rank in range(world):
            s = EpochSampler(n, shuffle=shuffle, seed=9, rank=rank, world_size=world)
            s.set_epoch(3, consumed=consumed)
            if shuffle:  # the order as it was computed: randperm(int64).tolist()
                g = torch.Generator()
                g.manual_seed((9 * 1_000_003 + 3) % (2**63))
                full = torch.randperm(n, generator=g).tolist()
            else:
                full = list(range(n))
            if world == 1:
                expected = full[consumed:]
            else:
                expected = [full[p % n] for p in range(consumed + rank, consumed + len(s) * world, world)]
            assert list(s) == expected == s.order()
            assert all(type(i) is int for i in list(s)[:3])


def test_index_holds_no_per_segment_or_per_array_python_objects(trees):
    v2, _ = trees
    index = SegmentIndex.scan(v2 / "train")
    ds = WithinUserCandidateDataset(index, 4, seed=0)
    ds[0]
    n_arrays = len(index.folders)
    held = {**vars(index), **{f"packed.{k}": v for k, v in vars(index.packed).items()},
            **{f"ds.{k}": v for k, v in vars(ds).items()},
            **{f"table.{k}": v for k, v in vars(index.folders.table).items()}}
    for name, value in held.items():
        if isinstance(value, np.ndarray):
            assert value.dtype in (np.int64, np.uint8), name
            if value.dtype == np.int64:  # per array or per folder at most, never per segment
                assert value.size <= n_arrays + 1 < len(index), name
        else:
            assert not isinstance(value, (list, tuple, dict)) or len(value) <= 2, name
    assert index._files is None and index._folder_of is None and index._members is None


def test_array_table_subsets(tmp_path):
    table = packed.ArrayTable.from_lists(["a/x.npy", "b/é.npy", "a/y.npy", "ab.npy"], [3, 4, 5, 6])
    part = table.subset("a/")
    assert part.paths() == ["a/x.npy", "a/y.npy"] and part.counts.tolist() == [3, 5]
    assert table.subset("b/").paths() == ["b/é.npy"] and len(table.subset("c/")) == 0
    assert table.subset("") is table
    path = packed.write_manifest(tmp_path, table.paths(), table.counts, (2, 1), "float32")
    assert packed.load_manifest(path)[1].paths() == table.paths()


def _one_line_naming(excinfo, path):
    message = str(excinfo.value)
    assert "\n" not in message and str(path) in message, message


@pytest.mark.parametrize("damage", ["truncated json", "json list", "missing key", "wrong version", "truncated table",
                                    "missing table", "count mismatch", "bad offsets", "v1 lengths"])
def test_malformed_manifests_give_one_line_naming_the_file(trees, damage):
    v2, v1 = trees
    root, culprit = v2, v2 / packed.MANIFEST
    header = json.loads(culprit.read_text())
    if damage == "truncated json":
        culprit.write_text(culprit.read_text()[:40])
    elif damage == "json list":
        culprit.write_text("[1, 2]")
    elif damage == "missing key":
        culprit.write_text(json.dumps({k: v for k, v in header.items() if k != "tables"}))
    elif damage == "wrong version":
        culprit.write_text(json.dumps({**header, "version": 7}))
    elif damage == "truncated table":
        culprit = v2 / packed.TABLES["counts"]
        culprit.write_bytes(culprit.read_bytes()[:-16])
    elif damage == "missing table":
        culprit = v2 / packed.TABLES["paths"]
        culprit.unlink()
    elif damage == "count mismatch":
        culprit.write_text(json.dumps({**header, "n_arrays": header["n_arrays"] + 1}))
        culprit = v2 / packed.TABLES["counts"]
    elif damage == "bad offsets":
        culprit = v2 / packed.TABLES["path_offsets"]
        offsets = np.load(culprit)
        np.save(culprit, offsets[::-1].copy())
    elif damage == "v1 lengths":
        root, culprit = v1, v1 / packed.MANIFEST
        old = json.loads(culprit.read_text())
        culprit.write_text(json.dumps({**old, "counts": old["counts"][:-1]}))
    with pytest.raises(packed.PackedFormatError) as excinfo:
        SegmentIndex.scan(root / "train")
    _one_line_naming(excinfo, culprit)
