"""Resuming is bitwise: a run stopped anywhere and resumed with --resume_on ends with the same
weights, optimizer state, history and random states as a run never stopped.

The in-process tests stop a run at chosen points (a training or validation batch, the middle of
a checkpoint write) by raising an exception nothing catches; ``test_sigkill_*`` kill real
``run_exp.py`` processes with SIGKILL at random moments.
"""
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from relcon_testutils import REPO, write_tree
from reliability_helpers import (EPOCHS, TRAIN_STEPS, TREE, VAL_STEPS, load, progress_key, run_differences,
                                 run_main, subprocess_env, write_kill_configs)


STAGES = ["kill_motifdist", "kill_relcon"]


class Killed(BaseException):
    """A simulated kill: nothing in the trainer catches a BaseException that is not an Exception."""


class Crasher:
    """Counts the trainer's events (batches, checkpoint writes) and raises ``Killed`` at event ``at``."""

    def __init__(self, monkeypatch):
        from relcon.models import Base_Model
        from relcon.models.MotifDist import MotifDist_Model
        from relcon.models.RelCon import RelCon_Model

        self.events, self.at = [], None
        for module in (MotifDist_Model, RelCon_Model):
            original = module.Model.compute_loss

            def compute_loss(model, batch, train, _original=original):
                self.hit(("train" if train else "val", model.model_file))
                return _original(model, batch, train)
            monkeypatch.setattr(module.Model, "compute_loss", compute_loss)
        original_save = Base_Model.atomic_torch_save

        def atomic_torch_save(obj, path):
            path = Path(path)
            try:
                self.hit(("save", path.parent.name, path.name))
            except Killed:
                # What a SIGKILL in the middle of the write leaves: a partial temporary file.
                (path.parent / f".{path.name}.killed.tmp").write_bytes(b"\x80\x02partial")
                raise
            original_save(obj, path)
        monkeypatch.setattr(Base_Model, "atomic_torch_save", atomic_torch_save)

    def hit(self, event):
        self.events.append(event)
        if len(self.events) == self.at:
            raise Killed(event)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("resume")
    tree = write_tree(root / "tree", **TREE)
    return root, write_kill_configs(root, tree)


@pytest.fixture(scope="module")
def reference(world):
    """An uninterrupted kill_relcon run (which trains kill_motifdist first), in a subprocess-free
    way: the same code path as run_exp.py. Returns (out root, the events of both stages)."""
    root, configs = world
    mp = pytest.MonkeyPatch()
    try:
        crasher = Crasher(mp)
        rc, out, err = run_main(mp, root / "ref", configs, "--config", "kill_relcon", "--device", "cpu")
        assert rc == 0, err
        return root / "ref", list(crasher.events)
    finally:
        mp.undo()


def test_reference_run_has_the_expected_events(reference):
    ref, events = reference
    per_stage = EPOCHS * (TRAIN_STEPS + VAL_STEPS)
    assert sum(1 for e in events if e[0] in ("train", "val") and e[1] == "MotifDist_Model") == per_stage
    assert sum(1 for e in events if e[0] in ("train", "val") and e[1] == "RelCon_Model") == per_stage
    # a step checkpoint after every step, the last step of an epoch included, then the epoch end
    for stage in ("kill_motifdist", "kill_relcon"):
        latest = [e for e in events if e[0] == "save" and e[1] == stage and e[2] == "checkpoint_latest.pkl"]
        assert len(latest) == EPOCHS * (TRAIN_STEPS + 1)
    assert not list(ref.glob("*/.*.tmp"))


def crash_points(events):
    """(name, config, event number) of the places where a kill is hardest to survive. Event
    numbers count from 1 in the reference's events; points in the RelCon stage start from the
    reference's finished MotifDist run (``config`` kill_relcon, MotifDist copied in), so their
    number counts from the first RelCon event."""
    def find(pred, nth=0):
        return [i + 1 for i, e in enumerate(events) if pred(e)][nth]
    md, rc = "MotifDist_Model", "RelCon_Model"
    n_md = find(lambda e: e[0] in ("train", "val") and e[1] == rc) - 1
    return [
        ("prerequisite in its 2nd epoch (best exists, unfinished)", "kill_relcon",
         find(lambda e: e == ("train", md), TRAIN_STEPS + 2)),
        ("motifdist validation", "kill_motifdist", find(lambda e: e == ("val", md), VAL_STEPS + 1)),
        ("writing the step checkpoint of an epoch's last step", "kill_relcon+md",
         find(lambda e: e == ("save", "kill_relcon", "checkpoint_latest.pkl"), TRAIN_STEPS - 1) - n_md),
        ("relcon validation, 2 workers on resume", "kill_relcon+md", find(lambda e: e == ("val", rc), 1) - n_md),
        ("writing checkpoint_best at an epoch end", "kill_relcon+md",
         find(lambda e: e == ("save", "kill_relcon", "checkpoint_best.pkl")) - n_md),
        ("relcon 2nd epoch mid-epoch, 2 workers on resume", "kill_relcon+md",
         find(lambda e: e == ("train", rc), TRAIN_STEPS + 3) - n_md),
    ]


@pytest.mark.parametrize("point", range(6))
def test_crash_anywhere_then_resume_is_bitwise(world, reference, tmp_path, monkeypatch, point):
    root, configs = world
    ref, events = reference
    name, config, at = crash_points(events)[point]
    stages = ["kill_motifdist", "kill_relcon"] if config.startswith("kill_relcon") else ["kill_motifdist"]
    if config.endswith("+md"):
        shutil.copytree(ref / "kill_motifdist", tmp_path / "kill_motifdist")
        stages = ["kill_relcon"]
    crasher = Crasher(monkeypatch)
    crasher.at = at
    args = ["--config", config.removesuffix("+md"), "--device", "cpu"]
    with pytest.raises(Killed):
        run_main(monkeypatch, tmp_path, configs, *args)
    crasher.at = None
    # a resumed run may use another number of DataLoader workers: the data do not depend on it
    workers = ["--set", "num_workers=2"] if "2 workers" in name else []
    rc, out, err = run_main(monkeypatch, tmp_path, configs, *args, "--resume_on", *workers)
    assert rc == 0, err
    for stage in stages:
        assert run_differences(ref / stage, tmp_path / stage) == [], f"{name}: {stage} differs"
        assert not list((tmp_path / stage).glob(".*.tmp")), "temporaries of the killed write are cleaned up"
    print(f"crash point {name!r}: resumed bitwise identical")


def test_resume_after_a_crash_before_any_checkpoint_starts_cleanly(world, tmp_path, monkeypatch):
    _, configs = world
    crasher = Crasher(monkeypatch)
    crasher.at = 1
    with pytest.raises(Killed):
        run_main(monkeypatch, tmp_path, configs, "--config", "kill_motifdist", "--device", "cpu")
    run_dir = tmp_path / "kill_motifdist"
    assert not list(run_dir.glob("checkpoint_*.pkl"))
    crasher.at = None
    # no checkpoint: plain run_exp.py starts over, --resume_on says so and starts over too
    rc, out, err = run_main(monkeypatch, tmp_path, configs, "--config", "kill_motifdist", "--device", "cpu",
                            "--resume_on", "--set", "epochs=1")
    assert rc == 0, err
    assert "no checkpoint_latest.pkl" in out and "starting from scratch" in out


def test_step_checkpoints_continue_after_a_mid_epoch_resume(world, tmp_path, monkeypatch):
    """Every step after a resume still writes its checkpoint (the loader's length after a
    resume is only the rest of the epoch)."""
    _, configs = world
    crasher = Crasher(monkeypatch)
    crasher.at = 5  # events: batch, save, batch, save, batch 3: step checkpoints 1 and 2 exist
    args = ["--config", "kill_motifdist", "--device", "cpu", "--set", "epochs=1"]
    with pytest.raises(Killed):
        run_main(monkeypatch, tmp_path, configs, *args)
    assert progress_key(load(tmp_path / "kill_motifdist" / "checkpoint_latest.pkl")) == (0, 2)
    crasher.at, crasher.events = None, []
    assert run_main(monkeypatch, tmp_path, configs, *args, "--resume_on")[0] == 0
    saved = [e[2] for e in crasher.events if e[0] == "save"]
    assert saved.count("checkpoint_latest.pkl") == (TRAIN_STEPS - 2) + 1  # steps 3, 4, 5 and the epoch end


def test_resume_refuses_other_settings_and_another_distance(world, reference, tmp_path, monkeypatch):
    root, configs = world
    ref, _ = reference
    shutil.copytree(ref / "kill_motifdist", tmp_path / "kill_motifdist")
    crasher = Crasher(monkeypatch)
    crasher.at = 3
    with pytest.raises(Killed):
        run_main(monkeypatch, tmp_path, configs, "--config", "kill_relcon", "--device", "cpu")
    crasher.at = None
    rc, _, err = run_main(monkeypatch, tmp_path, configs, "--config", "kill_relcon", "--device", "cpu",
                          "--resume_on", "--set", "net_config.params.init_conv.base_filters=16", "lr=0.01")
    assert rc == 1 and "cannot resume" in err and "lr (checkpoint 0.001, now 0.01)" in err
    assert "net_config.params.init_conv.base_filters (checkpoint 8, now 16)" in err
    # the frozen distance changed under the run (e.g. MotifDist retrained): refuse, name it
    best = tmp_path / "kill_motifdist" / "checkpoint_best.pkl"
    state = load(best)
    key = next(iter(state["net"]))
    state["net"][key] = state["net"][key] + 1
    torch.save(state, best)
    rc, _, err = run_main(monkeypatch, tmp_path, configs, "--config", "kill_relcon", "--device", "cpu", "--resume_on")
    assert rc == 1 and "cannot resume" in err and "motifdist_sha256" in err


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_crash_and_resume_on_cuda(world, tmp_path, monkeypatch):
    """On a GPU: a resumed run loads its checkpoint onto the GPU (random states included) and
    finishes. It ends bitwise equal to an uninterrupted run whenever two uninterrupted runs are
    bitwise equal themselves (deterministic kernels)."""
    _, configs = world
    args = ["--config", "kill_relcon", "--device", "cuda"]
    crasher = Crasher(monkeypatch)
    assert run_main(monkeypatch, tmp_path / "ref", configs, *args)[0] == 0
    events = list(crasher.events)
    assert run_main(monkeypatch, tmp_path / "ref2", configs, *args)[0] == 0
    deterministic = all(run_differences(tmp_path / "ref" / s, tmp_path / "ref2" / s) == [] for s in STAGES)
    for name, config, at in crash_points(events):
        if config != "kill_relcon+md":
            continue
        out = tmp_path / f"crash{at}"
        shutil.copytree(tmp_path / "ref" / "kill_motifdist", out / "kill_motifdist")
        crasher.at, crasher.events = at, []
        with pytest.raises(Killed):
            run_main(monkeypatch, out, configs, *args)
        crasher.at = None
        rc, _, err = run_main(monkeypatch, out, configs, *args, "--resume_on")
        assert rc == 0, err
        if deterministic:
            assert run_differences(tmp_path / "ref" / "kill_relcon", out / "kill_relcon") == [], name
    print(f"CUDA: uninterrupted runs {'are' if deterministic else 'are NOT'} bitwise reproducible; resumes ran")


# ----------------------------------------------------------------------------- real kills
# Random kill positions in the chain (at least one per stage); RELCON_KILL_POINTS and
# RELCON_KILL_SEED run more or other ones.
KILL_POINTS = int(os.environ.get("RELCON_KILL_POINTS", "3"))


def start(env, cwd, log):
    return subprocess.Popen([sys.executable, str(REPO / "run_exp.py"), "--config", "kill_relcon", "--device", "cpu",
                             "--resume_on"], env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT)


_seen = {}


def newest_progress(run_dirs) -> tuple:
    """(stage, epoch, step) of the newest checkpoint over the stages, (-1,) before any. A file is
    read again only when it was replaced, so that polling does not slow the run down."""
    for stage in reversed(range(len(run_dirs))):
        path = run_dirs[stage] / "checkpoint_latest.pkl"
        try:
            st = path.stat()
        except FileNotFoundError:
            continue
        stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
        if _seen.get(path, (None,))[0] != stamp:
            _seen[path] = (stamp, (stage, *progress_key(load(path))))
        return _seen[path][1]
    return (-1,)


def kill_chain(out, log_path, configs, rng, batch_seconds):
    """Run kill_relcon (which trains kill_motifdist first) with --resume_on until it finishes,
    SIGKILLing it on the way: once soon after the first start (before any checkpoint: during
    start-up or while the run folder is made), then at random training positions
    (stage, epoch, step) plus a random delay of up to two batches' time, so that kills land in
    steps, validation and checkpoint writes. Returns the kills as (aimed at, newest checkpoint
    position at the kill)."""
    env = subprocess_env(out, configs)
    run_dirs = [out / s for s in STAGES]
    positions = {s: [(s, e, k) for e in range(EPOCHS) for k in range(1, TRAIN_STEPS + 2)] for s in range(len(STAGES))}
    targets = [rng.choice(positions[0]), rng.choice(positions[1])]  # one in each stage
    targets += rng.sample([p for ps in positions.values() for p in ps if p not in targets], KILL_POINTS - 2)
    kills = []
    with open(log_path, "ab") as log:
        p = start(env, out.parent, log)
        time.sleep(rng.uniform(0.2, 2.0))
        if p.poll() is None:
            p.send_signal(signal.SIGKILL)
            p.wait()
            kills.append(("soon after start", newest_progress(run_dirs)))
        for target in sorted(targets):
            if newest_progress(run_dirs) >= target:
                continue  # an earlier kill came later than this target
            p = start(env, out.parent, log)
            while p.poll() is None and newest_progress(run_dirs) < target:
                time.sleep(0.005)
            time.sleep(rng.uniform(0, 2 * batch_seconds))
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
                p.wait()
                kills.append((f"after {target}", newest_progress(run_dirs)))
            # whatever the moment of the kill, every checkpoint present loads completely
            for run_dir in run_dirs:
                for ckpt in run_dir.glob("checkpoint_*.pkl"):
                    load(ckpt)
        p = start(env, out.parent, log)
        assert p.wait(timeout=600) == 0, log_path.read_text()[-3000:]
    return kills


def test_sigkill_at_random_points_then_resume_is_bitwise(world, reference, tmp_path):
    """SIGKILLed run_exp.py processes, resumed until done, end bitwise equal to the uninterrupted
    reference, in both stages (MotifDist, then RelCon). The reference ran in this process
    through the same entry point (run_exp.py's main) with the same thread count."""
    _, configs = world
    ref, _ = reference
    history = load(ref / "kill_relcon" / "checkpoint_latest.pkl")["history"]
    batch_seconds = sum(h["seconds"] for h in history) / (len(history) * (TRAIN_STEPS + VAL_STEPS))
    rng = random.Random(int(os.environ.get("RELCON_KILL_SEED", "0")))
    kills = kill_chain(tmp_path / "out", tmp_path / "chain.log", configs, rng, batch_seconds)
    for stage in STAGES:
        assert run_differences(ref / stage, tmp_path / "out" / stage) == [], f"{stage} differs after kills {kills}"
    print(f"{len(kills)} SIGKILL point(s) tried, resumed bitwise identical: {len(kills)}: {kills}")
    assert kills, "no kill landed while the run was going"
