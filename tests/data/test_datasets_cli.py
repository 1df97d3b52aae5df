"""The two scripts, run as separate processes from an unrelated working directory."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
PRIORPT = REPO / "relcon/data/process/process_comparepriorpt_datasets.py"
SSLBENCH = REPO / "relcon/data/process/process_comparesslbench_datasets.py"


def run(args, cwd, env_extra=None):
    import os

    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # no help from the environment
    env.update(env_extra or {})
    return subprocess.run([sys.executable, *map(str, args)], cwd=cwd, env=env, capture_output=True, text=True)


def test_priorpt_script_from_another_directory(processed, raw_root, tmp_path):
    out = tmp_path / "out"
    r = run([PRIORPT, "--raw-dir", raw_root, "--out-dir", out, "--datasets", "opportunity", "--no-download", "-q"],
            cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "priorpt/opportunity: 4 folds (expected 4)" in r.stdout and "leak-free" in r.stdout
    ref_out, _ = processed
    for sub in ("processed", "processed_leakfree"):
        for f in (ref_out / "priorpt/opportunity" / sub).iterdir():
            np.testing.assert_array_equal(np.load(out / "priorpt/opportunity" / sub / f.name), np.load(f))
    assert not (out / "priorpt/pamap2").exists()


def test_sslbench_module_form_one_set_alone(processed, raw_root, tmp_path):
    out = tmp_path / "out"
    r = run(["-m", "relcon.data.process.process_comparesslbench_datasets", "--raw-dir", raw_root, "--out-dir", out,
             "--datasets", "pamap2", "--no-download", "-q"], cwd=REPO)
    assert r.returncode == 0, r.stderr
    assert "sslbench/pamap2: 5 folds (expected 5)" in r.stdout
    ref_out, _ = processed
    files = sorted((ref_out / "sslbench/pamap2/processed").iterdir())
    assert len(files) == 30
    for f in files:
        np.testing.assert_array_equal(np.load(out / "sslbench/pamap2/processed" / f.name), np.load(f))


def test_offline_message(tmp_path):
    r = run([SSLBENCH, "--raw-dir", tmp_path / "empty", "--out-dir", tmp_path / "out", "--datasets", "motionsense",
             "--no-download"], cwd=tmp_path)
    assert r.returncode == 1
    assert "B_Accelerometer_data.zip" in r.stderr
    assert "https://github.com/mmalekzadeh/motion-sense/raw/refs/heads/master/data/B_Accelerometer_data.zip" in r.stderr
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "out").exists()


def test_help_and_bad_choice(tmp_path):
    r = run([PRIORPT, "--help"], cwd=tmp_path)
    assert r.returncode == 0 and "--raw-dir" in r.stdout and "--no-download" in r.stdout
    r = run([PRIORPT, "--datasets", "hhar"], cwd=tmp_path)
    assert r.returncode == 2 and "invalid choice" in r.stderr
