"""Where a resumed epoch continues when the number of processes changed between the kill and the
resume (``torchrun --nproc_per_node=N`` before, another N or a plain process after).

A training epoch is one global order of its n samples (``EpochSampler``: a function of seed and
epoch). With W processes of ``batch_size`` B, each step trains the next W x B positions of that
order (rank r takes every W-th one from r), so after k steps of an epoch started at position p0
the first ``min(p0 + k W B, n)`` positions are done, whatever W was. A checkpoint records that
count (``samples_done``) with W and B; a resume on W' processes deals the remaining positions
round-robin over its own W' ranks. Each sample of the epoch is then trained exactly once, except
the wrap-around padding of the epoch's last global step (fewer than W' positions, taken from the
start of the order so that every rank has a full share), as in an uninterrupted distributed run.
The global batch changes from W x B to W' x B, and the resume says so.
"""
from __future__ import annotations


def samples_done(first_sample: int, steps: int, batch_size: int, world_size: int, n: int) -> int:
    """Positions of the epoch's global order trained after ``steps`` steps of ``world_size``
    processes x ``batch_size`` that started at position ``first_sample``; at most ``n`` (what
    lies beyond is padding)."""
    return min(first_sample + steps * batch_size * world_size, n)


def steps_left(first_sample: int, batch_size: int, world_size: int, n: int) -> int:
    """Steps each of ``world_size`` processes takes to train positions ``first_sample``..n-1."""
    per_rank = -(-max(n - first_sample, 0) // world_size)
    return -(-per_rank // batch_size)


def resume_position(state: dict, batch_size: int, world_size: int, n: int) -> tuple[int, str]:
    """``(first_sample, note)`` for resuming the checkpoint ``state`` on ``world_size`` processes
    of ``batch_size`` with an epoch of ``n`` samples: the global position where its unfinished
    epoch continues (0 after an epoch end), and a sentence saying how the global batch changes
    (empty when the process count is the same). Checkpoints without ``world_size`` /
    ``samples_done`` were written by one process."""
    old_world = int(state.get("world_size", 1))
    old_batch = int(state.get("batch_size", batch_size))
    if state.get("epoch_done", True):
        first = 0
    elif "samples_done" in state:
        first = int(state["samples_done"])
    else:
        first = samples_done(0, int(state["step"]), old_batch, old_world, n)
    if old_world == world_size:
        return first, ""
    where = (f"epoch {state['epoch']} continues at sample {first} of {n} of its order (each remaining "
             f"sample once)" if not state.get("epoch_done", True) else "the next epoch starts afresh")
    return first, (f"the checkpoint was written by {old_world} process(es) of batch_size {old_batch} (global batch "
                   f"{old_world * old_batch}); now {world_size} process(es): global batch {world_size * batch_size}; "
                   f"{where}")
