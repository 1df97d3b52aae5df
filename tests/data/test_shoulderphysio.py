"""The shoulder-physiotherapy set on a fixture in seglearn 1.2.5's exact format (a wheel holding
``seglearn/data/watch_dataset.npy``, a numpy-saved dict), served over local HTTP for the
download (no network)."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

import rawfixtures
from test_datasets_download import local_server

from relcon.data import class_names
from relcon.data.Base_Dataset import SegmentIndex
from relcon.data.folds import load_fold
from relcon.data.process import download as dl
from relcon.data.process import process_shoulderphysio as sp

SUBJECTS = (1, 2, 3, 9)  # 9 validates the pre-training


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="module")
def content():
    return rawfixtures.shoulderphysio_dict(SUBJECTS)


@pytest.fixture(scope="module")
def built(content, tmp_path_factory):
    raw, out = tmp_path_factory.mktemp("sp_raw"), tmp_path_factory.mktemp("sp_out")
    wheel = rawfixtures.write_shoulderphysio_wheel(raw, content)
    npy = sha(rawfixtures.shoulderphysio_npy_bytes(content))
    summary = sp.process_shoulderphysio(raw, out, n_folds=2, download=False, progress=False, expected_sha256=npy,
                                        wheel_sha256=sha(wheel.read_bytes()))
    return out, summary


def test_pretraining_tree_tiles_each_recording_at_100_hz(built, content):
    out, summary = built
    lengths = [2 * len(x) for x in content["X"]]  # 50 -> 100 Hz
    assert summary["pretrain_segments"]["train"] == sum(n // 256 for n, s in zip(lengths, content["subject"]) if s != 9)
    assert summary["pretrain_segments"]["val"] == sum(n // 256 for n, s in zip(lengths, content["subject"]) if s == 9)
    assert summary["samples_after_last_segment"] == sum(n % 256 for n in lengths)
    index = SegmentIndex.scan(out / "pretrain" / "train")
    assert len(index) == summary["pretrain_segments"]["train"]
    # one "same user" folder per subject and arm, each holding all 7 exercises
    assert sorted(str(Path(f).relative_to(out / "pretrain" / "train")) for f in index.folders) == [f"s{s:02d}/{arm}" for s in (1, 2, 3) for arm in ("left", "right")]
    first = sorted((out / "pretrain" / "train" / "s01" / "left").glob("pen_0_*.npy"))
    seg = np.load(first[0])
    assert seg.shape == (256, 3) and seg.dtype == np.float32
    # the first segment is the first 2.56 s of the first recording, resampled to 100 Hz
    from scipy.signal import resample_poly

    expected = resample_poly(content["X"][0][:, :3], 2, 1, axis=0)[:256]
    np.testing.assert_allclose(seg, expected.astype(np.float32), rtol=0, atol=1e-6)


def test_har_folds_are_subject_wise_windows_with_exercise_labels(built, content):
    out, summary = built
    lengths = [2 * len(x) for x in content["X"]]
    per_recording = [(n - 256) // 128 + 1 for n in lengths]
    assert summary["har_windows"] == sum(per_recording)
    assert summary["har_windows_per_class"] == [sum(w for w, y in zip(per_recording, content["y"]) if y == c)
                                                for c in range(7)]
    tested = []
    for k in range(2):
        fold = load_fold(out / "har", k)
        assert fold["train"].X.shape[1:] == (3, 256) and fold["train"].X.dtype == np.float32
        assert set(np.unique(fold["test"].y)) == set(range(7))
        subjects = summary["folds"][k]
        assert not set(subjects["train"]["subjects"]) & set(subjects["test"]["subjects"])
        assert not set(subjects["val"]["subjects"]) & set(subjects["test"]["subjects"])
        tested += subjects["test"]["subjects"]
        assert sum(len(fold[m].y) for m in ("train", "val", "test")) == summary["har_windows"]
    assert sorted(tested) == sorted(SUBJECTS)  # every subject tested once
    on_disk = json.loads((out / "har" / "summary.json").read_text())
    assert on_disk["class_names"] == list(class_names.SHOULDERPHYSIO) and on_disk["har_windows"] == summary["har_windows"]


def test_class_names_spell_out_seglearns_codes():
    assert [n.split("(")[1].rstrip(")") for n in class_names.SHOULDERPHYSIO] == sp.RAW_CLASS_CODES
    assert rawfixtures.SHOULDERPHYSIO_CODES == sp.RAW_CLASS_CODES


def test_the_pickle_is_opened_only_with_its_digest(tmp_path, content):
    wheel = rawfixtures.write_shoulderphysio_wheel(tmp_path / "raw", content)
    with pytest.raises(ValueError, match=r"watch_dataset\.npy: sha256 [0-9a-f]{64}, expected "
                                         rf"{sp.DATA_SHA256} .* not opened unverified"):
        sp.process_shoulderphysio(tmp_path / "raw", tmp_path / "out", n_folds=2, download=False, progress=False,
                                  wheel_sha256=sha(wheel.read_bytes()))
    assert not (tmp_path / "out" / "pretrain").exists() and not (tmp_path / "out" / "har").exists()


@pytest.mark.parametrize("change, message", [
    (lambda d: d.pop("subject"), r"expected a dict with keys"),
    (lambda d: d.update(X_labels=["wx", "wy", "wz", "ax", "ay", "az"]), r"expected the first channels \['ax'"),
    (lambda d: d["X"].__setitem__(3, d["X"][3][:, :4]), r"recording 3 has shape \(\d+, 4\), expected \(samples, 6\)"),
    (lambda d: d["X"][5].__setitem__((10, 1), np.nan), r"recording 5 \(subject 1\) holds non-finite"),
    (lambda d: d.update(y=d["y"][:-1]), r"one entry per recording, found 56, 55"),
])
def test_a_malformed_file_is_one_line_naming_it(tmp_path, change, message):
    d = rawfixtures.shoulderphysio_dict(SUBJECTS)
    change(d)
    path = tmp_path / "watch_dataset.npy"
    path.write_bytes(rawfixtures.shoulderphysio_npy_bytes(d))
    with pytest.raises(ValueError, match=message) as err:
        sp.load_recordings(path, expected_sha256=None)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


@pytest.fixture
def server(tmp_path, content):
    wheel = rawfixtures.write_shoulderphysio_wheel(tmp_path / "served", content).read_bytes()
    with local_server({"/" + sp.WHEEL: wheel}) as srv:
        srv.url, srv.sha256, srv.size = f"{srv.url}/{sp.WHEEL}", sha(wheel), len(wheel)
        yield srv


def test_download_resumes_checks_the_wheels_digest_and_extracts(server, tmp_path):
    raw = tmp_path / "raw"
    server.cut_next_at = server.size // 2
    path = sp.ensure_raw(raw, progress=False, url=server.url, sha256=server.sha256)
    assert path == sp.data_file(raw) and path.exists()
    resumed_at = int(server.seen[-1][1][len("bytes="):-1])  # the second request resumed the first
    assert len(server.seen) == 2 and 0 < resumed_at <= server.size // 2
    assert (raw / (sp.WHEEL + ".sha256")).read_text().split()[0] == server.sha256
    # a wheel with another digest is refused and kept aside, nothing is extracted
    other = tmp_path / "other"
    with pytest.raises(dl.ChecksumError, match=r"sha256 mismatch for .*seglearn-1\.2\.5-py3-none-any\.whl: expected "
                                               r"0{64}, got [0-9a-f]{64}\. The file was kept aside"):
        sp.ensure_raw(other, progress=False, url=server.url, sha256="0" * 64)
    assert not sp.data_file(other).exists() and not (other / sp.WHEEL).exists()


def test_command_line_offline_says_what_to_place(tmp_path, capsys):
    assert sp.main(["--out-dir", str(tmp_path / "out"), "--raw-dir", str(tmp_path / "none"), "--no-download",
                    "-q"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: the shoulder-physiotherapy recordings") and sp.WHEEL_URL in err
