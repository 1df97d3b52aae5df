import shutil
import subprocess
import sys

import pytest
import torch

from relcon_testutils import REPO, run_env, write_tree
from tinyconfigs import write_tiny_configs


def run(args, env, cwd):
    return subprocess.run([sys.executable, str(REPO / "run_exp.py"), *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=600)


@pytest.fixture
def setup(tmp_path):
    tree = write_tree(tmp_path / "tree", subjects=(2, 1, 1), hours=2, segments=5)
    cfg = write_tiny_configs(tmp_path, tree)
    env = run_env(tmp_path / "out", cfg)
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    return tmp_path, env, cwd


def test_motifdist_one_epoch_from_another_directory(setup):
    tmp_path, env, cwd = setup
    r = run(["--config", "tiny_motifdist", "--device", "cpu"], env, cwd)
    assert r.returncode == 0, r.stderr
    run_dir = tmp_path / "out" / "tiny_motifdist"
    for name in ("checkpoint_best.pkl", "checkpoint_latest.pkl", "checkpoint_epoch0.pkl", "log.txt",
                 "metrics.csv", "config.json"):
        assert (run_dir / name).exists(), name
    assert '"epochs": 1' in r.stdout  # resolved config printed
    from relcon.nets.CrossAttn.CrossAttn_Net import Net
    state = torch.load(run_dir / "checkpoint_best.pkl", weights_only=True)
    assert state["config"]["net_config"]["params"]["embed_dim"] == 16
    Net(**state["config"]["net_config"]["params"]).load_state_dict(state["net"], strict=True)

    # a finished run is not retrained or overwritten
    before = (run_dir / "checkpoint_best.pkl").stat().st_mtime_ns
    r = run(["--config", "tiny_motifdist", "--device", "cpu"], env, cwd)
    assert r.returncode == 0 and "already trained" in r.stdout + r.stderr
    assert (run_dir / "checkpoint_best.pkl").stat().st_mtime_ns == before
    # an edited config does not silently reuse the run trained with the old settings
    r = run(["--config", "tiny_motifdist", "--device", "cpu", "--set", "lr=0.01"], env, cwd)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert (f"error: run {run_dir} was trained with other settings than config tiny_motifdist has now: "
            f"lr (checkpoint 0.001, now 0.01). Train it again with `python run_exp.py --config tiny_motifdist "
            f"--retrain`") in r.stderr
    r = run(["--config", "tiny_relcon", "--device", "cpu", "--eval_only"], env, cwd)  # no tiny_relcon run yet
    assert r.returncode == 1 and "has no checkpoint" in r.stderr
    r = run(["--config", "tiny_motifdist", "--device", "cpu", "--set", "epochs=1", "save_stepfreq=3"], env, cwd)
    assert r.returncode == 0 and "already trained" in r.stdout + r.stderr  # resumable fields may differ
    assert (run_dir / "checkpoint_best.pkl").stat().st_mtime_ns == before
    # --retrain says what it replaces and keeps the old run aside
    r = run(["--config", "tiny_motifdist", "--device", "cpu", "--retrain"], env, cwd)
    assert r.returncode == 0 and "moved to" in r.stdout + r.stderr
    assert len(list((tmp_path / "out").glob("tiny_motifdist.replaced-*"))) == 1


def test_relcon_trains_missing_distance_first(setup):
    tmp_path, env, cwd = setup
    r = run(["--config", "tiny_relcon", "--device", "cpu", "--set", "save_stepfreq=2"], env, cwd)
    assert r.returncode == 0, r.stderr
    out = r.stdout + r.stderr
    assert "training tiny_motifdist first" in out
    assert "it/s" not in out and "s/it" not in out  # no progress frames when not on a terminal
    state = torch.load(tmp_path / "out" / "tiny_relcon" / "checkpoint_best.pkl", weights_only=True)
    from relcon.nets.ResNet1D.ResNet1D_Net import Net
    Net(**state["config"]["net_config"]["params"]).load_state_dict(state["net"], strict=True)
    assert state["epoch"] == 0 and state["config"]["withinuser_cands"] == 3
    # the evaluation created its synthetic data, ran both folds and printed the table
    assert "| har/linear_probe | 2 |" in out
    assert (tmp_path / "out" / "tiny_relcon" / "results.md").exists()
    # --eval_only reuses the fitted probe and never trains, not even a missing distance
    shutil.rmtree(tmp_path / "out" / "tiny_motifdist")
    r = run(["--config", "tiny_relcon", "--device", "cpu", "--eval_only"], env, cwd)
    assert r.returncode == 0, r.stderr
    assert "reusing the fitted model" in r.stdout + r.stderr and "Begin training" not in r.stdout + r.stderr
    assert not (tmp_path / "out" / "tiny_motifdist").exists()


def test_cli_errors(setup, monkeypatch, capsys):
    """In-process (no subprocess start-up cost): exit codes and messages of bad invocations."""
    import relcon.utils.paths as paths
    from relcon.experiments.runner import main

    tmp_path, env, cwd = setup
    monkeypatch.setenv("RELCON_CONFIGS", env["RELCON_CONFIGS"])
    monkeypatch.setattr(paths, "OUT_ROOT", tmp_path / "out")
    cases = [
        (["--config", "tiny_relcn"], 2, "tiny_relcon"),
        (["--config", "tiny_relcon", "--set", "batch_size=big"], 2, "expected int"),
        (["--config", "tiny_relcon", "--set", "bogus=1"], 2, "unknown key"),
        (["--config", "tiny_motifdist", "--set", f"data_config.data_folder={tmp_path / 'nothing'}"], 1,
         "process_dummydataset.py"),
        (["--config", "tiny_motifdist", "--device", "cuda:7"], 1, "cuda"),
        (["--config", "tiny_motifdist", "--device", "tpu"], 1, "expected auto, cpu"),
        (["--config", "tiny_relcon", "--eval_only"], 1, "has no checkpoint"),
    ]
    for argv, code, message in cases:
        assert main(argv) == code, argv
        assert message in capsys.readouterr().err, argv
    assert main(["--list"]) == 0
    listing = capsys.readouterr().out
    assert "tiny_relcon" in listing and "25_3_8_relcon" in listing and "tiny RelCon for tests" in listing


def test_unfinished_run_needs_resume_or_retrain(setup):
    tmp_path, env, cwd = setup
    assert run(["--config", "tiny_motifdist", "--device", "cpu"], env, cwd).returncode == 0
    r = run(["--config", "tiny_motifdist", "--device", "cpu", "--set", "epochs=2"], env, cwd)
    assert r.returncode == 1 and "--resume_on" in r.stderr
    r = run(["--config", "tiny_motifdist", "--device", "cpu", "--set", "epochs=2", "--resume_on"], env, cwd)
    assert r.returncode == 0, r.stderr
    state = torch.load(tmp_path / "out" / "tiny_motifdist" / "checkpoint_latest.pkl", weights_only=True)
    assert state["epoch"] == 1 and len(state["history"]) == 2
