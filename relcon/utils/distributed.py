"""Multi-GPU / multi-node training on PyTorch's own engine (DistributedDataParallel).

    torchrun --nproc_per_node=N run_exp.py --config NAME [--device cuda|cpu]
    torchrun --nnodes=M --node_rank=R --master_addr=HOST --master_port=PORT --nproc_per_node=N run_exp.py ...

torchrun sets RANK / WORLD_SIZE / LOCAL_RANK; ``init`` then joins the process group (NCCL for
CUDA, gloo for CPU) and gives each process its own GPU (``cuda:LOCAL_RANK``). Without those
variables everything here is a no-op and training is single-process as before.

What each rank does:
  * data: ``EpochSampler`` deals the epoch's permutation (a function of seed and epoch, the
    same on every rank) round-robin, padded so every rank has the same number of batches, so
    the ranks together see each sample once per epoch (a few twice when N does not divide it).
    ``batch_size`` is per rank: the global batch is N x batch_size. Step checkpoints record N,
    batch_size and how many positions of the epoch's order are done, so a run resumed on
    another number of processes continues at the same sample (relcon/models/epoch_position.py).
  * model: the trainer's step module is wrapped in DDP (gradients averaged across ranks at
    each backward; buffers such as BatchNorm running statistics broadcast from rank 0 at each
    forward). BatchNorm batch statistics stay per rank (no SyncBatchNorm), as with any DDP run.
  * RelCon: each rank's batch forms its own candidate set, i.e. an anchor's inter-user
    candidates are the other anchors of *its rank's* batch (B - 1 of them, B = per-rank batch)
    plus its K within-user candidates; candidates are not gathered across ranks. The loss is
    the per-rank mean, and DDP averages the gradients: the same as averaging N independent
    RelCon losses of batch B, not one loss over a batch of N x B.
  * losses reported per epoch are averaged over ranks; only rank 0 writes checkpoints, logs,
    metrics and TensorBoard files; every rank can read them (resume).
"""
from __future__ import annotations

import os

import torch
import torch.distributed as dist


def requested() -> bool:
    """Launched by torchrun (or another launcher that sets WORLD_SIZE) with more than one process."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def is_initialized() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if is_initialized() else 0


def world_size() -> int:
    return dist.get_world_size() if is_initialized() else 1


def is_main() -> bool:
    return rank() == 0


def init(device: torch.device) -> torch.device:
    """Join the process group if launched with WORLD_SIZE > 1; returns this rank's device."""
    if not requested() or is_initialized():
        return device
    if not dist.is_available():
        raise RuntimeError("WORLD_SIZE > 1 but this PyTorch build has no torch.distributed")
    if device.type == "cuda":
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        if local_rank >= torch.cuda.device_count():
            raise ValueError(f"LOCAL_RANK={local_rank} but only {torch.cuda.device_count()} CUDA device(s) are "
                             f"visible; use --nproc_per_node <= {torch.cuda.device_count()}")
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
        try:
            dist.init_process_group("nccl", device_id=device)  # binds the communicator to this GPU
        except TypeError:  # PyTorch < 2.3 has no device_id
            dist.init_process_group("nccl")
    else:
        dist.init_process_group("gloo")
    return device


def cleanup() -> None:
    """Leave the process group (no barrier: after an error the other ranks may never arrive)."""
    if is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    if is_initialized():
        dist.barrier()


def wrap(module: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """``module`` in DistributedDataParallel when running distributed; else itself."""
    if not is_initialized():
        return module
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(module, device_ids=[device.index] if device.type == "cuda" else None)


def mean(value: float, device: torch.device | None = None) -> float:
    """Average of a Python number over the ranks (itself when not distributed)."""
    if not is_initialized():
        return value
    backend_device = device if device is not None and dist.get_backend() == "nccl" else torch.device("cpu")
    t = torch.tensor([float(value)], dtype=torch.float64, device=backend_device)
    dist.all_reduce(t)
    return float(t.item()) / world_size()


def same_on_all_ranks(module: torch.nn.Module, device: torch.device) -> bool:
    """Whether every rank holds the same parameters and buffers (compared by a float64 checksum
    of each tensor: sums of values and of squares)."""
    if not is_initialized():
        return True
    tensors = [t.detach() for t in list(module.parameters()) + list(module.buffers())]
    local = torch.stack([s for t in tensors for s in (t.double().sum(), t.double().square().sum())])
    backend_device = device if dist.get_backend() == "nccl" else torch.device("cpu")
    local = local.to(backend_device)
    low, high = local.clone(), local.clone()
    dist.all_reduce(low, op=dist.ReduceOp.MIN)
    dist.all_reduce(high, op=dist.ReduceOp.MAX)
    return bool(torch.equal(low, high))
