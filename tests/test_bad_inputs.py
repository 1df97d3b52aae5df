"""The bad-input catalogue (docs/bad_inputs.md): every mistake in data, configs and checkpoints
is reported by run_exp.py as one ``error: ...`` line naming the file, the value found and what
was expected; exit code 2 for config / --set errors, 1 for the others; no half-written outputs.

Runs go through run_exp.py's ``main`` in this process (fast); one test checks the real command
line prints no traceback.
"""
import shutil
from pathlib import Path
import subprocess
import sys

import numpy as np
import pytest
import torch

from relcon_testutils import REPO, write_tree
from reliability_helpers import TREE, load, run_main, subprocess_env, write_kill_configs

MD = ["--config", "kill_motifdist", "--device", "cpu"]
RC = ["--config", "kill_relcon", "--device", "cpu"]


@pytest.fixture
def world(tmp_path):
    tree = write_tree(tmp_path / "tree", **TREE)
    return tmp_path, tree, write_kill_configs(tmp_path, tree)


def run(monkeypatch, world, *argv):
    tmp_path, _, configs = world
    return run_main(monkeypatch, tmp_path / "out", configs, *argv)


def error_of(monkeypatch, world, *argv, code=1):
    rc, out, err = run(monkeypatch, world, *argv)
    assert rc == code, (rc, err[-2000:])
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1 and "Traceback" not in err, err[-2000:]
    return lines[0]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A finished kill_relcon run (with its kill_motifdist), to copy checkpoints from."""
    root = tmp_path_factory.mktemp("trained")
    tree = write_tree(root / "tree", **TREE)
    configs = write_kill_configs(root, tree)
    mp = pytest.MonkeyPatch()
    try:
        rc, _, err = run_main(mp, root / "out", configs, *RC, "--set", "epochs=1")
    finally:
        mp.undo()
    assert rc == 0, err
    return root / "out"


def copy_trained(run: Path, dst: Path, tree: Path) -> None:
    """``run`` copied to ``dst`` as if trained on ``tree`` (same content as the fixture's tree, other
    path): a run trained on other data is otherwise refused (test_run_exp.py)."""
    shutil.copytree(run, dst)
    for path in dst.glob("checkpoint_*.pkl"):
        state = torch.load(path, weights_only=False)
        state["config"]["data_config"]["data_folder"] = str(tree)
        torch.save(state, path)


def a_file(tree, split="train"):
    return tree / split / "subject_0" / "hour_1" / "ts_2.npy"  # not the first segment: found mid-epoch


# ----------------------------------------------------------------------------- data
def test_missing_data_folder(monkeypatch, world):
    _, tree, _ = world
    shutil.rmtree(tree)
    e = error_of(monkeypatch, world, *MD)
    assert f"data folder {tree / 'train'} (train split) does not exist" in e and "process_dummydataset.py" in e


def test_missing_split_folder(monkeypatch, world):
    _, tree, _ = world
    shutil.rmtree(tree / "train")  # val/ and test/ are optional (tests/test_own_data.py), train/ is not
    assert f"data folder {tree / 'train'} (train split) does not exist" in error_of(monkeypatch, world, *MD)


def test_empty_split(monkeypatch, world):
    _, tree, _ = world
    for f in (tree / "val").rglob("*.npy"):
        f.unlink()
    e = error_of(monkeypatch, world, *MD)
    assert f"{tree / 'val'}: no .npy segments found; expected <subject>/<hour>/*.npy files" in e


@pytest.mark.parametrize("damage,found", [
    (lambda b: b[:100], "EOF"),  # truncated
    (lambda b: b"", "No data left in file"),  # empty
    (lambda b: b"not an array at all", "cannot be read"),  # not an .npy
])
def test_corrupt_npy(monkeypatch, world, damage, found):
    _, tree, _ = world
    f = a_file(tree)
    f.write_bytes(damage(f.read_bytes()))
    e = error_of(monkeypatch, world, *MD)
    assert f"{f}: cannot be read as a numeric .npy array" in e and found in e


@pytest.mark.parametrize("shape", [(64,), (1, 64, 3)])
def test_npy_wrong_rank(monkeypatch, world, shape):
    _, tree, _ = world
    np.save(a_file(tree), np.zeros(shape))
    e = error_of(monkeypatch, world, *MD)
    assert f"{a_file(tree)}: shape {shape} found; expected a 2-D array (time, channels)" in e


def test_npy_wrong_length(monkeypatch, world):
    _, tree, _ = world
    np.save(a_file(tree), np.zeros((32, 3)))
    e = error_of(monkeypatch, world, *MD)
    first = tree / "train" / "subject_0" / "hour_0" / "ts_0.npy"
    assert f"{a_file(tree)}: shape (32, 3) found; expected (64, 3) like {first}" in e


def test_npy_wrong_channel_count(monkeypatch, world):
    _, tree, _ = world
    np.save(a_file(tree), np.zeros((64, 4)))
    assert f"{a_file(tree)}: shape (64, 4) found; expected (64, 3)" in error_of(monkeypatch, world, *MD)


@pytest.mark.parametrize("channels,config", [(2, MD), (4, MD), (4, RC)])
def test_all_segments_with_the_wrong_channel_count(monkeypatch, world, channels, config):
    """Caught before training, not as an index error in an augmentation or the net."""
    _, tree, _ = world
    for f in tree.rglob("*.npy"):
        np.save(f, np.zeros((64, channels)))
    e = error_of(monkeypatch, world, *config)
    first = tree / "train" / "subject_0" / "hour_0" / "ts_0.npy"
    assert f"{first}: shape (64, {channels}) found, i.e. {channels} channel(s)" in e and "expects 3" in e


def test_relcon_encoder_channels_checked_before_training(monkeypatch, world, tmp_path):
    """RelCon with a distance on 3 channels and an encoder expecting 4: named before training."""
    from relcon.data.Base_Dataset import DataError
    from relcon.experiments import registry
    from relcon.utils.imports import import_net, import_model

    _, tree, configs = world
    monkeypatch.setenv("RELCON_CONFIGS", str(configs))
    config = registry.get_config("kill_relcon", registry.discover())
    registry.apply_overrides(config, ["net_config.params.init_conv.in_channels=4"])
    distance = import_net(registry.get_config("kill_motifdist", registry.discover()).net_config)
    model = import_model(config, train_data=tree / "train", run_dir=tmp_path / "run", motifdist_net=distance)
    with pytest.raises(DataError, match=r"3 channel\(s\); the encoder \(in_channels=4\) expects 4"):
        model.setup_dataloader(tree / "train", None, train=True)


@pytest.mark.parametrize("array,found", [
    (np.zeros((64, 3), dtype=np.int64), "dtype int64 found; expected a floating-point array"),
    (np.zeros((64, 3), dtype=np.int16), "dtype int16 found; expected a floating-point array"),
    (np.array([[None] * 3] * 64, dtype=object), "Object arrays cannot be loaded when allow_pickle=False"),
])
def test_npy_integer_or_object_dtype(monkeypatch, world, array, found):
    _, tree, _ = world
    np.save(a_file(tree), array, allow_pickle=True)
    e = error_of(monkeypatch, world, *MD)
    assert str(a_file(tree)) in e and found in e


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_nan_or_inf_in_segment(monkeypatch, world, value):
    _, tree, _ = world
    a = np.load(a_file(tree))
    a[7, 2] = value
    np.save(a_file(tree), a)
    e = error_of(monkeypatch, world, *MD)
    assert f"{a_file(tree)}: non-finite value {value} at (time=7, channel=2); expected finite numbers" in e


def test_bad_file_read_by_a_dataloader_worker(monkeypatch, world):
    """With worker processes the message is the original one, without the worker's traceback."""
    _, tree, _ = world
    a_file(tree).write_bytes(b"junk")
    e = error_of(monkeypatch, world, *MD, "--set", "num_workers=2")
    assert e.startswith(f"error: {a_file(tree)}: cannot be read as a numeric .npy array")
    assert "worker" not in e and "Original Traceback" not in e


def test_folders_with_fewer_than_withinuser_cands_plus_one_segments(monkeypatch, world, trained):
    tmp_path, tree, _ = world
    copy_trained(trained / "kill_motifdist", tmp_path / "out" / "kill_motifdist", tree)
    # every folder too small: an error naming the numbers
    e = error_of(monkeypatch, world, *RC, "--set", "withinuser_cands=5")
    assert f"{tree / 'train'}: no folder holds withinuser_cands + 1 = 6 segments (largest folder: 5)" in e
    # some folders too small: they are left out, and the log says so
    for f in sorted((tree / "train" / "subject_1" / "hour_0").glob("*.npy"))[2:]:
        f.unlink()
    rc, out, err = run(monkeypatch, world, *RC, "--set", "epochs=1")
    assert rc == 0, err
    assert (f"{tree / 'train'}: left out 1 folder(s) (2 segments) with fewer than withinuser_cands + 1 = 4 "
            f"segments") in out


# ----------------------------------------------------------------------------- configs
def test_unknown_config(monkeypatch, world):
    e = error_of(monkeypatch, world, "--config", "kill_relcn", code=2)
    assert "unknown config 'kill_relcn'" in e and "Closest: kill_relcon" in e and "--list" in e


@pytest.mark.parametrize("assignment,found", [
    ("bogus=1", "--set bogus: unknown key"),
    ("batch_size=big", "--set batch_size=big: value 'big' is a str; expected int (current value 4)"),
    ("lr=[1]", "expected float"),
    ("epochs", "--set 'epochs': expected key=value"),
    ("net_config.params.nope=1", "--set net_config.params.nope: unknown key"),
])
def test_bad_set(monkeypatch, world, assignment, found):
    assert found in error_of(monkeypatch, world, *MD, "--set", assignment, code=2)


def test_broken_or_missing_config_file(monkeypatch, world):
    tmp_path, _, _ = world
    broken = tmp_path / "broken_expconfigs.py"
    broken.write_text("allbroken_expconfigs = {\n")
    rc, _, err = run_main(monkeypatch, tmp_path / "out", broken, *MD)
    assert rc == 2 and f"config file {broken} (from RELCON_CONFIGS) cannot be imported: SyntaxError" in err
    rc, _, err = run_main(monkeypatch, tmp_path / "out", tmp_path / "nowhere.py", *MD)
    assert rc == 2 and f"RELCON_CONFIGS names {tmp_path / 'nowhere.py'}, which does not exist" in err


# ----------------------------------------------------------------------------- checkpoints
def test_missing_checkpoint(monkeypatch, world, tmp_path):
    e = error_of(monkeypatch, world, *MD, "--eval_only")
    assert f"--eval_only: run {tmp_path / 'out' / 'kill_motifdist'} has no checkpoint; train it first" in e
    from relcon.models.Base_Model import CheckpointError, load_checkpoint
    (tmp_path / "run").mkdir()
    torch.save({"net": {}}, tmp_path / "run" / "checkpoint_latest.pkl")
    with pytest.raises(CheckpointError, match="checkpoint_best.pkl does not exist; present in .*: "
                                              "checkpoint_latest.pkl"):
        load_checkpoint(tmp_path / "run" / "checkpoint_best.pkl")


def test_truncated_checkpoint(monkeypatch, world, trained):
    tmp_path, tree, _ = world
    out = tmp_path / "out"
    copy_trained(trained / "kill_motifdist", out / "kill_motifdist", tree)
    copy_trained(trained / "kill_relcon", out / "kill_relcon", tree)
    # the latest checkpoint of the run to resume
    latest = out / "kill_relcon" / "checkpoint_latest.pkl"
    latest.write_bytes(latest.read_bytes()[:5000])
    e = error_of(monkeypatch, world, *RC, "--set", "epochs=2", "--resume_on")
    assert f"checkpoint {latest} cannot be read (truncated or not a checkpoint?)" in e and "--retrain" in e
    # the frozen distance a RelCon run needs
    best = out / "kill_motifdist" / "checkpoint_best.pkl"
    best.write_bytes(best.read_bytes()[:5000])
    e = error_of(monkeypatch, world, *RC, "--retrain")
    assert f"checkpoint {best} cannot be read (truncated or not a checkpoint?)" in e


def test_wrong_architecture_checkpoint(monkeypatch, world, trained):
    tmp_path, _, configs = world
    out = tmp_path / "out"
    shutil.copytree(trained / "kill_motifdist", out / "kill_motifdist")
    # an encoder's checkpoint where the distance's should be: keys named
    shutil.copy(trained / "kill_relcon" / "checkpoint_best.pkl", out / "kill_motifdist" / "checkpoint_best.pkl")
    e = error_of(monkeypatch, world, *RC)
    assert f"{out / 'kill_motifdist' / 'checkpoint_best.pkl'} (config kill_motifdist) does not fit " \
           f"relcon.nets.CrossAttn.CrossAttn_Net.Net" in e
    assert "missing keys: revin.affine_weight" in e and "unexpected keys: first_block_conv.weight" in e
    # the same net with another width: shapes named
    from relcon.experiments import registry
    from relcon.models.Base_Model import CheckpointError
    from relcon.utils.imports import import_model

    config = registry.get_config("kill_motifdist", registry.discover())
    registry.apply_overrides(config, ["net_config.params.embed_dim=32"])
    model = import_model(config, run_dir=trained / "kill_motifdist")
    with pytest.raises(CheckpointError) as info:
        model.load("best")
    assert ("missing keys: none; unexpected keys: none; shape mismatches: q_func.layer0.dilated_conv.weight: "
            "checkpoint (16, 3, 5) vs net (32, 3, 5)") in str(info.value)


def test_retrain_says_what_it_replaces(monkeypatch, world):
    tmp_path, _, _ = world
    assert run(monkeypatch, world, *MD, "--set", "epochs=1")[0] == 0
    rc, out, err = run(monkeypatch, world, *MD, "--set", "epochs=1", "--retrain")
    assert rc == 0, err
    run_dir = tmp_path / "out" / "kill_motifdist"
    moved = list((tmp_path / "out").glob("kill_motifdist.replaced-*"))
    assert len(moved) == 1
    assert (f"--retrain replaces the previous run {run_dir} (3 checkpoint(s) (checkpoint_best.pkl, "
            f"checkpoint_epoch0.pkl, checkpoint_latest.pkl), trained up to epoch 0; also config.json, log.txt, "
            f"metrics.csv); it was moved to {moved[0]}") in out
    load(moved[0] / "checkpoint_best.pkl")  # the old run is intact where the message says
    assert f"it was moved to {moved[0]}" in (run_dir / "log.txt").read_text()  # the new run records it


# ----------------------------------------------------------------------------- non-finite
def test_non_finite_loss(monkeypatch, world):
    """Huge values in one training file: the loss overflows at the step holding that file. The
    run stops naming epoch, step and the batch's files; the last good checkpoint is kept."""
    tmp_path, tree, configs = world
    from relcon.data.Base_Dataset import SegmentIndex
    from relcon.experiments import registry
    from relcon.models.Base_Model import EpochSampler

    monkeypatch.setenv("RELCON_CONFIGS", str(configs))
    config = registry.get_config("kill_motifdist")
    files = SegmentIndex.scan(tree / "train").files
    order = EpochSampler(len(files), shuffle=True, seed=config.seed).order()
    bad = files[order[2 * config.batch_size]]  # in the batch of step 2 of epoch 0
    np.save(bad, np.full((64, 3), 1e30))
    rc, out, err = run(monkeypatch, world, *MD)
    assert rc == 1 and "Traceback" not in err
    run_dir = tmp_path / "out" / "kill_motifdist"
    # 1e30 overflows float32 to inf; the instance norm of an inf row makes it inf or nan.
    assert any(f"training loss is {v} at epoch 0, step 2 of run {run_dir} (this batch's files: " in err
               for v in ("inf", "nan"))
    assert bad in err
    assert f"The last good checkpoint is kept: {run_dir / 'checkpoint_latest.pkl'} (epoch 0, step 2)" in err
    assert "learning rate" in err and "bad data file" in err
    state = load(run_dir / "checkpoint_latest.pkl")
    assert (state["epoch"], state["step"]) == (0, 2)
    assert all(torch.isfinite(v).all() for v in state["net"].values())


def test_non_finite_weights_are_never_checkpointed(monkeypatch, world):
    """A learning rate so high that one step overflows the weights: nothing is saved."""
    tmp_path, _, _ = world
    e = error_of(monkeypatch, world, *MD, "--set", "lr=1e37")
    assert "the weights became non-finite" in e and "after epoch 0, step 1" in e and "not saved" in e
    assert "No checkpoint was written before" in e and "learning rate" in e
    assert not list((tmp_path / "out" / "kill_motifdist").glob("checkpoint_*.pkl"))


# ----------------------------------------------------------------------------- the command line
def test_command_line_reports_one_line_without_traceback(world):
    tmp_path, tree, configs = world
    a = np.load(a_file(tree))
    a[0, 0] = np.nan
    np.save(a_file(tree), a)
    r = subprocess.run([sys.executable, str(REPO / "run_exp.py"), *MD], env=subprocess_env(tmp_path / "out", configs),
                       cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert f"error: {a_file(tree)}: non-finite value nan at (time=0, channel=0)" in r.stderr


def test_catalogue_rows_cite_existing_tests():
    """docs/bad_inputs.md: every row names a test, and every named test exists."""
    import re

    doc = (REPO / "docs" / "bad_inputs.md").read_text()
    rows = [line for line in doc.splitlines() if line.startswith("| ") and not line.startswith("| input")]
    assert len(rows) >= 20
    for row in rows:
        cited = re.findall(r"((?:data/)?test_\w+\.py)::(test_\w+)", row)
        assert cited or "evaluation stage" in row, row
        for module, name in cited:
            assert f"def {name}(" in (REPO / "tests" / module).read_text(), f"{module}::{name}"
