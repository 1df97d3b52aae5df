"""Helpers for the reliability tests: tiny resumable configs, in-process runs of run_exp.py's
logic, and exact comparisons of checkpoints."""
import contextlib
import io
import os
import textwrap
from pathlib import Path

import torch

from tinyconfigs import TINY_NETS

# Two stages, two epochs each, a step checkpoint after every step: 5 training and 3 validation
# batches per epoch on ``write_tree(..., segments=5)``. One thread: on a busy 2-core machine
# more threads are slower, and the same count is used by every run that is compared.
KILL_TEMPLATE = '''
from relcon.data.Base_Dataset import SSLDataConfig
from relcon.models.MotifDist.MotifDist_Model import MotifDist_ModelConfig
from relcon.models.RelCon.RelCon_Model import RelCon_ModelConfig

DATA = {data!r}
allkill_expconfigs = {{
    "kill_motifdist": MotifDist_ModelConfig(
        description="tiny resumable distance for the kill tests",
        data_config=SSLDataConfig(data_folder=DATA),
        net_config=tiny_crossattn(),
        epochs=2, lr=1e-3, batch_size=4, save_epochfreq=1, save_stepfreq=1, num_threads=1),
    "kill_relcon": RelCon_ModelConfig(
        description="tiny resumable RelCon for the kill tests",
        motifdist_expconfig_key="kill_motifdist", withinuser_cands=3,
        data_config=SSLDataConfig(data_folder=DATA),
        net_config=tiny_resnet(),
        epochs=2, lr=1e-3, batch_size=4, save_epochfreq=1, save_stepfreq=1, num_threads=1),
}}
'''

TRAIN_STEPS, VAL_STEPS, EPOCHS = 5, 3, 2  # per epoch, with the tree below
TREE = dict(subjects=(2, 1, 1), hours=2, segments=5, length=64)


def write_kill_configs(folder, data) -> Path:
    path = Path(folder) / "kill_expconfigs.py"
    path.write_text(textwrap.dedent(TINY_NETS + KILL_TEMPLATE.format(data=str(data))))
    return path


def subprocess_env(out_root, configs) -> dict:
    env = dict(os.environ)
    repo = str(Path(__file__).resolve().parents[1])
    env.update(RELCON_OUT=str(out_root), RELCON_CONFIGS=str(configs), OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               PYTHONPATH=repo + os.pathsep + env.get("PYTHONPATH", ""))
    env.pop("RELCON_DEBUG", None)
    return env


@contextlib.contextmanager
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def run_main(monkeypatch, out_root, configs, *argv):
    """``run_exp.py argv`` in this process: (exit code, stdout, stderr). Exceptions other than
    those run_exp.py reports (e.g. a simulated kill) propagate."""
    import relcon.utils.paths as paths
    from relcon.experiments import runner

    monkeypatch.setattr(paths, "OUT_ROOT", Path(out_root))
    if configs is not None:
        monkeypatch.setenv("RELCON_CONFIGS", str(configs))
    monkeypatch.delenv("RELCON_DEBUG", raising=False)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), one_thread():
        rc = runner.main([str(a) for a in argv])
    return rc, out.getvalue(), err.getvalue()


def load(path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


def differences(a, b, where="") -> list[str]:
    """Where two checkpoint entries differ, tensors compared exactly (dtype, shape, bits)."""
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        same = (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.dtype == b.dtype
                and a.shape == b.shape and torch.equal(a, b))
        return [] if same else [where]
    if isinstance(a, dict) and isinstance(b, dict):
        if set(a) != set(b):
            return [f"{where} keys {sorted(set(a) ^ set(b), key=str)}"]
        return [d for k in a for d in differences(a[k], b[k], f"{where}.{k}")]
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        if len(a) != len(b):
            return [f"{where} length {len(a)} vs {len(b)}"]
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in differences(x, y, f"{where}[{i}]")]
    return [] if a == b else [f"{where}: {a!r} vs {b!r}"]


def run_differences(run_a, run_b) -> list[str]:
    """Differences between two finished runs: final and best weights, optimizer state, the
    validation history (all but wall-clock seconds) and the random states."""
    diffs = []
    for name in ("checkpoint_latest.pkl", "checkpoint_best.pkl"):
        a, b = load(Path(run_a) / name), load(Path(run_b) / name)
        for key in ("net", "optimizer", "epoch", "best_val_loss", "val_loss", "rng"):
            diffs += differences(a.get(key), b.get(key), f"{name}:{key}")
        strip = lambda h: [{k: v for k, v in row.items() if k != "seconds"} for row in h]  # noqa: E731
        diffs += differences(strip(a.get("history", [])), strip(b.get("history", [])), f"{name}:history")
    return diffs


def progress_key(state: dict) -> tuple:
    """(epoch, step) of a checkpoint, the epoch end counting as step TRAIN_STEPS + 1."""
    return (state["epoch"], TRAIN_STEPS + 1 if state.get("epoch_done", True) else state["step"])
