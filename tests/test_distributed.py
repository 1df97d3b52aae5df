"""Distributed training: the sampler's sharding, and a 2-process gloo run through torchrun."""
import subprocess
import sys

import torch

from relcon_testutils import REPO, run_env, write_tree
from relcon.data.process.pack_dataset import pack_dataset
from relcon.models.Base_Model import EpochSampler
from tinyconfigs import write_tiny_configs


def test_sampler_shards_cover_the_epoch_once_and_resume():
    for n, world in ((10, 2), (11, 2), (7, 3), (2, 4)):
        single = EpochSampler(n, shuffle=True, seed=3)
        single.set_epoch(5)
        shards = []
        for rank in range(world):
            s = EpochSampler(n, shuffle=True, seed=3, rank=rank, world_size=world)
            s.set_epoch(5)
            shards.append(list(s))
            assert len(s) == len(shards[-1]) == -(-n // world)
        merged = [i for step in zip(*shards) for i in step]  # rank-interleaved = the epoch's order
        assert merged[:n] == single.order() and set(merged) == set(range(n))
        s = EpochSampler(n, shuffle=True, seed=3, rank=1, world_size=world)
        s.set_epoch(5, start=1)
        assert list(s) == shards[1][1:] and len(s) == len(shards[1]) - 1


def test_two_gloo_processes_train_identical_weights_and_rank0_writes(tmp_path):
    tree = write_tree(tmp_path / "tree", subjects=(2, 1, 1), hours=2, segments=5)
    pack_dataset(tree, tmp_path / "packed", progress=False)  # the packed layout, end to end
    cfg = write_tiny_configs(tmp_path, tmp_path / "packed")
    env = run_env(tmp_path / "out", cfg)
    env["OMP_NUM_THREADS"] = "1"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           str(REPO / "run_exp.py"), "--config", "tiny_relcon", "--device", "cpu", "--set", "epochs=2"]
    r = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    for name in ("tiny_motifdist", "tiny_relcon"):
        log = (tmp_path / "out" / name / "log.txt").read_text()
        assert "2 ranks, identical weights" in log, log
        assert log.count("Epoch #0:") == 1  # written by rank 0 only
    relcon_log = (tmp_path / "out" / "tiny_relcon" / "log.txt").read_text()
    assert relcon_log.count("Epoch #1:") == 1
    state = torch.load(tmp_path / "out" / "tiny_relcon" / "checkpoint_latest.pkl", weights_only=True)
    from relcon.nets.ResNet1D.ResNet1D_Net import Net

    Net(**state["config"]["net_config"]["params"]).load_state_dict(state["net"], strict=True)
    assert state["epoch"] == 1 and state["finished"]
    assert not list((tmp_path / "out").glob("**/*.tmp"))
