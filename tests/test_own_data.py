"""Pre-training on a user's own data folder: both stages on the same data (--data, --name), runs
on different data kept apart, optional val/ and test/ splits."""
import csv
import shutil
import subprocess
import sys

import torch

from relcon_testutils import REPO, run_env, write_tree
from tinyconfigs import write_tiny_configs


def run(args, env, cwd):
    return subprocess.run([sys.executable, str(REPO / "run_exp.py"), "--device", "cpu", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=600)


def setup_world(tmp_path):
    default = write_tree(tmp_path / "default", subjects=(2, 1, 1), hours=1, segments=5)
    cfg = write_tiny_configs(tmp_path, default)
    env = run_env(tmp_path / "out", cfg)
    return env, tmp_path


def test_data_option_trains_both_stages_on_that_data_in_their_own_runs(tmp_path):
    env, _ = setup_world(tmp_path)
    mine = write_tree(tmp_path / "mine", subjects=(3, 1, 1), hours=1, segments=5, seed=1)
    r = run(["--config", "tiny_relcon", "--data", str(mine)], env, tmp_path)
    assert r.returncode == 0, r.stderr
    out = tmp_path / "out"
    relcon_run, distance_run = out / "tiny_relcon-mine", out / "tiny_relcon-mine__tiny_motifdist"
    for folder in (relcon_run, distance_run):
        state = torch.load(folder / "checkpoint_best.pkl", weights_only=True)
        assert state["config"]["data_config"]["data_folder"] == str(mine)
        assert state["config"]["data_config"]["generate"] is None
        assert state["data"]["folder"] == str(mine / "train")
        assert (state["data"]["segments"], state["data"]["folders"]) == (15, 3)  # 3 subjects x 1 hour x 5
    assert not (out / "tiny_relcon").exists() and not (out / "tiny_motifdist").exists()
    assert f"Frozen MotifDist distance from {distance_run / 'checkpoint_best.pkl'}" in (relcon_run / "log.txt").read_text()

    # another data folder: other runs, nothing blocked or overwritten; --name picks the folder name
    other = write_tree(tmp_path / "other", subjects=(2, 1, 1), hours=1, segments=5, seed=2)
    stamp = (relcon_run / "checkpoint_best.pkl").stat().st_mtime_ns
    r = run(["--config", "tiny_relcon", "--data", str(other), "--name", "exp2"], env, tmp_path)
    assert r.returncode == 0, r.stderr
    assert (out / "exp2" / "checkpoint_best.pkl").exists() and (out / "exp2__tiny_motifdist" / "checkpoint_best.pkl").exists()
    assert (relcon_run / "checkpoint_best.pkl").stat().st_mtime_ns == stamp
    # the same name on other data is refused (the run was trained on `other`), naming the field
    r = run(["--config", "tiny_relcon", "--data", str(mine), "--name", "exp2"], env, tmp_path)
    assert r.returncode == 1 and "data_config.data_folder" in r.stderr and "Traceback" not in r.stderr


def test_other_data_than_the_prerequisite_is_refused_with_the_fix(tmp_path):
    env, _ = setup_world(tmp_path)
    mine = write_tree(tmp_path / "mine", subjects=(2, 1, 1), hours=1, segments=5, seed=1)
    r = run(["--config", "tiny_relcon", "--set", f"data_config.data_folder={mine}"], env, tmp_path)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert (f"config tiny_relcon pre-trains on {mine} but its prerequisite tiny_motifdist is configured for "
            f"{tmp_path / 'default'}; train both on the same data with `python run_exp.py --config tiny_relcon "
            f"--data {mine}`") in r.stderr
    assert not (tmp_path / "out" / "tiny_motifdist").exists()  # nothing was trained on the wrong data


def test_train_split_alone_is_enough_and_best_is_the_lowest_training_loss(tmp_path):
    env, _ = setup_world(tmp_path)
    only_train = write_tree(tmp_path / "only", subjects=(2, 1, 1), hours=1, segments=5, seed=3)
    shutil.rmtree(only_train / "val")
    shutil.rmtree(only_train / "test")
    r = run(["--config", "tiny_motifdist", "--data", str(only_train), "--set", "epochs=2"], env, tmp_path)
    assert r.returncode == 0, r.stderr
    run_dir = tmp_path / "out" / "tiny_motifdist-only"
    log = (run_dir / "log.txt").read_text()
    assert "no val/ split: validation is skipped and checkpoint_best.pkl is the epoch with the lowest training loss" in log
    assert "Loss/Val=none (no val split)" in log
    rows = list(csv.DictReader((run_dir / "metrics.csv").open()))
    assert [row["val_loss"] for row in rows] == ["", ""]
    train_losses = [float(row["train_loss"]) for row in rows]
    best = torch.load(run_dir / "checkpoint_best.pkl", weights_only=True)
    assert best["epoch"] == train_losses.index(min(train_losses))
    assert best["test_loss"] == min(train_losses)
    # without train/ the error names the split and the command that makes the layout
    shutil.rmtree(only_train / "train")
    r = run(["--config", "tiny_motifdist", "--data", str(only_train), "--name", "again"], env, tmp_path)
    assert r.returncode == 1 and f"data folder {only_train / 'train'} (train split) does not exist" in r.stderr
