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


def simulate_kill_and_resume(n, batch, old_world, new_world, kill_step, epoch=2):
    """What the processes of a run killed after ``kill_step`` steps (a step checkpoint at each)
    trained, and what a resume on ``new_world`` processes trains: (before, after) as lists of
    per-rank index lists, the resume's start position and its note."""
    from relcon.models.epoch_position import resume_position, samples_done

    before = []
    for rank in range(old_world):
        s = EpochSampler(n, shuffle=True, seed=7, rank=rank, world_size=old_world)
        s.set_epoch(epoch)
        before.append(list(s)[:kill_step * batch])
    state = {"epoch": epoch, "step": kill_step, "epoch_done": False, "world_size": old_world, "batch_size": batch,
             "samples_done": samples_done(0, kill_step, batch, old_world, n)}
    first, note = resume_position(state, batch, new_world, n)
    after = []
    for rank in range(new_world):
        s = EpochSampler(n, shuffle=True, seed=7, rank=rank, world_size=new_world)
        s.set_epoch(epoch, kill_step * batch, consumed=first)
        after.append(list(s))
        assert len(s) == len(after[-1])
    return before, after, first, note


def interleave(shares):
    """The positions of the epoch's global order the ranks trained, in order: rank r's j-th
    index is position start + r + world_size * j."""
    return [share[j] for j in range(max(map(len, shares))) for share in shares if j < len(share)]


def test_resume_on_another_process_count_trains_each_sample_of_the_epoch_once():
    """Killed after any step on W processes, resumed on W' (any pair, uneven tails included):
    together they train the epoch's order exactly once, position by position; the only repeats
    are the wrap-around padding of the epoch's last global step (fewer than W' samples), and the
    ranks of the resume all take the same number of steps (DDP needs it)."""
    from relcon.models.epoch_position import steps_left

    cases = 0
    for n in (1, 2, 3, 5, 7, 11, 12, 13, 24):
        for batch in (1, 2, 3):
            for old in (1, 2, 3, 4):
                for new in (1, 2, 3, 4):
                    for kill_step in range(1, steps_left(0, batch, old, n) + 1):
                        before, after, first, _ = simulate_kill_and_resume(n, batch, old, new, kill_step)
                        full = EpochSampler(n, shuffle=True, seed=7)
                        full.set_epoch(2)
                        order = full.order()
                        done_before = interleave(before)
                        assert done_before[:first] == order[:first]
                        assert len({-(-len(share) // batch) for share in after}) == 1
                        done_after = interleave(after)
                        assert done_after[:n - first] == order[first:], (n, batch, old, new, kill_step)
                        assert len(done_after) - (n - first) < new  # padding
                        assert len(done_before) - first < old and (len(done_before) == first or first == n)
                        cases += 1
    assert cases > 1000


def test_resume_position_names_both_process_counts_and_reads_old_checkpoints():
    from relcon.models.epoch_position import resume_position

    _, _, first, note = simulate_kill_and_resume(24, 2, 2, 1, kill_step=2, epoch=0)
    assert first == 8
    assert note == ("the checkpoint was written by 2 process(es) of batch_size 2 (global batch 4); now 1 process(es): "
                    "global batch 2; epoch 0 continues at sample 8 of 24 of its order (each remaining sample once)")
    assert simulate_kill_and_resume(24, 2, 2, 2, kill_step=2)[3] == ""  # same count: nothing to say
    # checkpoints written before the process count was recorded come from one process
    assert resume_position({"epoch": 0, "step": 3, "epoch_done": False}, 2, 2, 24) == (6, (
        "the checkpoint was written by 1 process(es) of batch_size 2 (global batch 2); now 2 process(es): global "
        "batch 4; epoch 0 continues at sample 6 of 24 of its order (each remaining sample once)"))
    assert resume_position({"epoch": 0, "step": 0, "epoch_done": True, "world_size": 2}, 2, 2, 24) == (0, "")


def test_two_gloo_processes_killed_mid_epoch_resume_on_one_at_the_same_sample(tmp_path, monkeypatch):
    """torchrun with 2 processes of batch 2 (global batch 4) over 24 segments stops after its
    step-2 checkpoint (a file with values ~1e30 overflows the loss at step 3 on rank 0); one
    process resumes at sample 8 of the epoch's order, says the global batch changes from 4 to 2,
    and never trains samples 4-7 again (they are made to overflow too before the resume)."""
    import numpy as np

    from relcon.data.Base_Dataset import SegmentIndex
    from relcon.experiments import registry

    tree = write_tree(tmp_path / "tree", subjects=(2, 1, 1), hours=2, segments=6)  # 24 training segments
    cfg = write_tiny_configs(tmp_path, tree)
    monkeypatch.setenv("RELCON_CONFIGS", str(cfg))
    files = SegmentIndex.scan(tree / "train").files
    assert len(files) == 24
    order = EpochSampler(24, shuffle=True, seed=registry.get_config("tiny_motifdist").seed).order()
    np.save(files[order[8]], np.full((256, 3), 1e30))  # rank 0's first sample of step 3
    env = run_env(tmp_path / "out", cfg)
    env["OMP_NUM_THREADS"] = "1"
    args = [str(REPO / "run_exp.py"), "--config", "tiny_motifdist", "--device", "cpu", "--set", "batch_size=2",
            "save_stepfreq=1"]
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", *args],
                       env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert r.returncode != 0 and "training loss is" in r.stdout + r.stderr, r.stdout[-3000:] + r.stderr[-3000:]
    run_dir = tmp_path / "out" / "tiny_motifdist"
    state = torch.load(run_dir / "checkpoint_latest.pkl", weights_only=True)
    assert (state["epoch"], state["step"], state["samples_done"], state["world_size"]) == (0, 2, 8, 2)

    np.save(files[order[8]], np.zeros((256, 3)))
    for position in range(4, 8):  # what a resume counting 2 steps of one process would redo
        np.save(files[order[position]], np.full((256, 3), 1e30))
    r = subprocess.run([sys.executable, *args, "--resume_on"], env=env, cwd=tmp_path, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    log = (run_dir / "log.txt").read_text()
    assert ("Resuming from checkpoint_latest.pkl: epoch 0, step 2 (8 of 24 samples done); 1 epoch(s) to go; the "
            "checkpoint was written by 2 process(es) of batch_size 2 (global batch 4); now 1 process(es): global "
            "batch 2; epoch 0 continues at sample 8 of 24 of its order (each remaining sample once)") in log
    state = torch.load(run_dir / "checkpoint_latest.pkl", weights_only=True)
    assert state["finished"] and state["world_size"] == 1
