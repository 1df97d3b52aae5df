"""Atomic writes: killed or failing writers never leave a truncated file at the target path.

A writer process saves two alternating versions of a checkpoint, an array and a JSON file in a
loop and is SIGKILLed at random moments; after every kill each target loads completely and is
one version or the other. A full disk (write/fsync raising ENOSPC) leaves the previous file
intact and no temporary behind.
"""
import errno
import json
import multiprocessing
import os
import random
import time

import numpy as np
import pytest
import torch

from relcon_testutils import write_tree
from relcon.utils.io import (atomic_save_npy, atomic_torch_save, atomic_write_json, remove_stale_temporaries)
from reliability_helpers import load, run_main, write_kill_configs

N = 1 << 20  # 4 MB per checkpoint version: most of the writer's time is spent writing


def versions():
    """Two complete versions of each file; version v is filled with v so a mix would show."""
    return [({"v": torch.tensor(v), "net": {"w": torch.full((N,), float(v))}},
             np.full(N // 2, v, dtype=np.float32),
             {"v": v, "pad": [v] * 20000}) for v in (1, 2)]


def writer(folder, ready, payloads):
    # Serialisation only (no tensor maths): safe in a forked child of a process that used threads.
    ready.set()
    i = 0
    while True:
        ckpt, array, meta = payloads[i % 2]
        atomic_torch_save(ckpt, folder / "checkpoint_latest.pkl")
        atomic_save_npy(folder / "segment.npy", array)
        atomic_write_json(folder / "results.json", meta)
        i += 1


def check_complete(folder):
    state = load(folder / "checkpoint_latest.pkl")
    v = int(state["v"])
    assert v in (1, 2) and torch.equal(state["net"]["w"], torch.full((N,), float(v)))
    array = np.load(folder / "segment.npy", allow_pickle=False)
    assert array.shape == (N // 2,) and np.all(array == array[0]) and array[0] in (1, 2)
    meta = json.loads((folder / "results.json").read_text())
    assert meta["pad"] == [meta["v"]] * 20000


def test_sigkilled_writers_never_leave_a_truncated_target(tmp_path):
    payloads = versions()
    for ckpt, array, meta in payloads[:1]:  # version 1 in place before the first kill
        atomic_torch_save(ckpt, tmp_path / "checkpoint_latest.pkl")
        atomic_save_npy(tmp_path / "segment.npy", array)
        atomic_write_json(tmp_path / "results.json", meta)
    rng = random.Random(0)
    ctx = multiprocessing.get_context("fork")
    kills, interrupted_writes = 12, 0
    for _ in range(kills):
        ready = ctx.Event()
        p = ctx.Process(target=writer, args=(tmp_path, ready, payloads), daemon=True)
        p.start()
        assert ready.wait(30)
        time.sleep(rng.uniform(0.0, 0.15))
        p.kill()  # SIGKILL: no cleanup runs in the writer
        p.join()
        assert p.exitcode == -9
        check_complete(tmp_path)
        # a temporary left behind means this kill landed inside a write; it is never the target
        interrupted_writes += len(remove_stale_temporaries(tmp_path))
        assert sorted(f.name for f in tmp_path.iterdir()) == ["checkpoint_latest.pkl", "results.json", "segment.npy"]
    print(f"{kills} SIGKILLs of the writer, {interrupted_writes} inside a write; every target loaded complete")
    assert interrupted_writes > 0, "no kill landed inside a write: the test proves nothing"


def failing_fsync(after=0):
    calls = {"n": 0}
    real = os.fsync

    def fsync(fd):
        calls["n"] += 1
        if calls["n"] > after:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(fd)
    return fsync


@pytest.mark.parametrize("what", ["checkpoint", "array", "json"])
def test_full_disk_keeps_the_previous_file(tmp_path, monkeypatch, what):
    payloads = versions()
    target = tmp_path / {"checkpoint": "c.pkl", "array": "a.npy", "json": "r.json"}[what]
    save = {"checkpoint": lambda v: atomic_torch_save(payloads[v][0], target),
            "array": lambda v: atomic_save_npy(target, payloads[v][1]),
            "json": lambda v: atomic_write_json(target, payloads[v][2])}[what]
    save(0)
    before = target.read_bytes()
    monkeypatch.setattr(os, "fsync", failing_fsync())
    with pytest.raises(OSError) as info:
        save(1)
    assert info.value.errno == errno.ENOSPC and str(target) in str(info.value)
    assert target.read_bytes() == before
    assert [f.name for f in tmp_path.iterdir()] == [target.name]  # no temporary left


def test_full_disk_during_a_training_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    """The disk fills up while the 3rd step checkpoint is written: run_exp.py stops with exit
    code 1 and a message naming the file; the 2nd step checkpoint is intact and loadable."""
    tree = write_tree(tmp_path / "tree", subjects=(2, 1, 1), hours=2, segments=5, length=64)
    configs = write_kill_configs(tmp_path, tree)
    from relcon.models import Base_Model

    real_save = Base_Model.Base_ModelClass.save
    saves = {"n": 0}

    def save(model, state, ckpt):
        saves["n"] += 1
        if saves["n"] == 3:
            monkeypatch.setattr(os, "fsync", failing_fsync())
        return real_save(model, state, ckpt)
    monkeypatch.setattr(Base_Model.Base_ModelClass, "save", save)
    rc, out, err = run_main(monkeypatch, tmp_path / "out", configs, "--config", "kill_motifdist", "--device", "cpu")
    monkeypatch.undo()
    run_dir = tmp_path / "out" / "kill_motifdist"
    assert rc == 1 and "Traceback" not in err
    assert f"could not write checkpoint {run_dir / 'checkpoint_latest.pkl'}" in err
    assert "No space left on device" in err and "unchanged" in err
    state = load(run_dir / "checkpoint_latest.pkl")
    assert (state["epoch"], state["step"]) == (0, 2)
    assert not list(run_dir.glob(".*.tmp"))
