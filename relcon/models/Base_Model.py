"""Model configs and the one training loop every trainer uses.

A trainer (``relcon/models/<Method>/<Method>_Model.py`` or ``relcon/eval/...``) subclasses
``Base_ModelClass`` and supplies only what differs: its data loaders and its loss on a batch.
The loop here does the rest: epochs, validation, checkpoints (best / latest / every N epochs
/ every N steps), resumption, logging, metrics CSV, TensorBoard when installed, and stopping
on a non-finite loss.

The run folder and what a checkpoint holds: ``relcon/runs.py``. Files are written atomically.

Resuming is bitwise: the data order is a pure function of (seed, epoch), every per-sample draw
a pure function of (seed, epoch, index) (``seeded_rng``), and the global torch / numpy / Python
states (dropout) are restored from the checkpoint; nothing else consumes random numbers.
"""
from __future__ import annotations

import csv
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import torch

from relcon.config import config_to_dict
from relcon.data.Base_Dataset import Base_DatasetConfig, collate_batch
from relcon.models.epoch_position import resume_position, samples_done, steps_left
from relcon.nets.Base_Nets import Base_NetConfig
from relcon.runs import (CHECKPOINT_FORMAT, RESUMABLE_FIELDS, CheckpointError, checkpoint_path,  # noqa: F401
                         load_checkpoint, load_state_dict_strict, resume_differences, rng_state, set_rng_state)
from relcon.utils import distributed
from relcon.utils.imports import import_net
from relcon.utils.io import atomic_torch_save, atomic_write, atomic_write_json, remove_stale_temporaries
from relcon.utils.paths import out_dir
from relcon.utils.precision import autocast, check_precision
from relcon.utils.progress import progress
from relcon.utils.utils import printlog

@dataclass(kw_only=True)
class Base_ModelConfig:
    """Everything one training run needs. Keywords are the reference's, new ones have defaults.

    Args:
        model_folder, model_file: the trainer, ``<trainer_package>/<folder>/<file>.py``.
        data_config: an ``SSLDataConfig`` or ``SupervisedDataConfig``.
        net_config: a ``Base_NetConfig`` (the network to train).
        epochs, lr, batch_size: optimisation (batch_size per process under torchrun).
        save_epochfreq: also keep ``checkpoint_epoch{N}.pkl`` every N epochs.
        seed: seeds torch, numpy, Python, the data order and every per-sample draw.
        num_threads: torch CPU threads (-1: leave torch's default).
        eval_configs: ``Base_EvalConfig`` list run after training.
        description: one line shown by ``run_exp.py --list``.
        save_stepfreq: write ``checkpoint_latest.pkl`` every N training steps (0: epoch ends only).
        num_workers: DataLoader worker processes.
        channels_last: memory layout of nets that offer one (ResNet1D): ``None`` = channels-last
            2-D convolutions on CPU (1.3-1.8x faster there), the 1-D layout on CUDA; True/False
            force one. Same results up to float rounding.
        pretrained_from: a config name whose trained encoder this config evaluates instead of
            training its own (``run_exp.py`` resolves it; evaluation-only configs).
        precision: ``"fp32"`` (default) or ``"bf16"``: forward passes and losses of training and
            validation (and the trainer's frozen distance, evaluations' feature extraction)
            under ``torch.autocast(dtype=torch.bfloat16)``; parameters, gradients and optimiser
            state stay float32, and sparsemax, RevIN and the loss reductions are computed in
            float32 (``relcon/utils/precision.py``). A run may be resumed in another precision
            (logged). ``run_exp.py --precision`` sets it.

    Device, run folder and input sizes are not config fields: they are the trainer's arguments.
    """

    trainer_package: ClassVar[str] = "relcon.models"  # where model_folder/model_file live

    model_folder: str
    model_file: str
    data_config: Base_DatasetConfig
    net_config: Base_NetConfig | None = None
    epochs: int = 50
    lr: float = 0.001
    batch_size: int = 16
    save_epochfreq: int = 100
    seed: int = 1234
    num_threads: int = -1
    eval_configs: list = field(default_factory=list)
    description: str = ""
    save_stepfreq: int = 0
    num_workers: int = 0
    channels_last: bool | None = None
    pretrained_from: str | None = None
    precision: str = "fp32"

    def __post_init__(self):
        self.eval_configs = list(self.eval_configs)
        check_precision(self.precision)

    def prerequisites(self) -> list[str]:
        """Config names whose trained runs this one needs (trained first by ``run_exp.py``)."""
        return []

    def frozen_distance_key(self) -> str | None:
        """The MotifDist config whose trained net the trainer gets as its frozen distance
        (``motifdist_net`` / ``motifdist_config`` arguments), if any."""
        return None


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or infinite; training stopped and the last good checkpoint was kept."""


# ----------------------------------------------------------------------------- helpers
class EpochSampler(torch.utils.data.Sampler):
    """Indices in an order that is a pure function of (seed, epoch), optionally skipping a prefix.

    Deterministic orders make a resumed epoch continue exactly where the killed one stopped.
    With ``world_size`` > 1 (distributed training) rank r takes every world_size-th index of
    that order from position r, the order padded by wrapping around so that every rank gets
    ceil(n / world_size) indices (as ``torch.utils.data.DistributedSampler`` does).

    A resume skips either ``start`` indices of this rank's share (same process count) or the
    first ``consumed`` positions of the epoch's global order, which any number of processes
    may have trained (``relcon/models/epoch_position.py``); the rest is dealt the same way.
    """

    def __init__(self, n: int, shuffle: bool, seed: int, rank: int = 0, world_size: int = 1):
        self.n, self.shuffle, self.seed = n, shuffle, seed
        self.rank, self.world_size = rank, world_size
        self.epoch, self.start, self.consumed = 0, 0, 0

    def set_epoch(self, epoch: int, start: int = 0, consumed: int | None = None) -> None:
        """``start``: indices of this rank's share already trained; ``consumed`` (overrides it):
        positions of the epoch's global order already trained."""
        self.epoch, self.start = epoch, start
        self.consumed = start * self.world_size if consumed is None else consumed

    def global_order(self) -> list[int]:
        """The epoch's order of all n indices, the same on every rank."""
        return self._global_tensor().tolist()

    def _global_tensor(self) -> torch.Tensor:
        """``global_order`` as an (n,) int32 tensor (int64 from 2^31 on; ``randperm`` draws the
        same permutation for both): 4 bytes per index, not a Python int's 36."""
        dtype = torch.int32 if self.n < 2**31 else torch.int64
        if not self.shuffle:
            return torch.arange(self.n, dtype=dtype)
        g = torch.Generator()
        g.manual_seed((int(self.seed) * 1_000_003 + int(self.epoch)) % (2**63))
        return torch.randperm(self.n, generator=g, dtype=dtype)

    def _order_tensor(self) -> torch.Tensor:
        if not self.shuffle and self.world_size == 1:
            return torch.arange(min(self.consumed, self.n), self.n, dtype=torch.int64)
        if len(self) == 0:
            return torch.zeros(0, dtype=torch.int64)
        order = self._global_tensor()
        if self.world_size == 1:
            return order[self.consumed:]
        positions = torch.arange(self.consumed + self.rank, self.consumed + len(self) * self.world_size,
                                 self.world_size, dtype=torch.int64)
        return order[positions % self.n]

    def order(self) -> list[int]:
        """This rank's indices from global position ``consumed`` on: positions consumed + rank,
        + world_size, ..., the last global step padded from the start of the order."""
        return self._order_tensor().tolist()

    def __iter__(self):
        order = self._order_tensor()  # converted to Python ints a chunk at a time
        for start in range(0, len(order), 65536):
            yield from order[start:start + 65536].tolist()

    def __len__(self) -> int:
        return -(-max(self.n - self.consumed, 0) // self.world_size)


def make_loader(dataset, batch_size: int, train: bool, seed: int, num_workers: int = 0, collate_fn=None,
                pin_memory: bool = False):
    sampler = EpochSampler(len(dataset), shuffle=train, seed=seed, rank=distributed.rank(),
                           world_size=distributed.world_size())
    if collate_fn is None and getattr(dataset, "returns_batches", False):
        collate_fn = collate_batch  # the dataset's __getitems__ collates whole batches itself
    # A private generator keeps DataLoader's worker seeding off the global torch RNG.
    return torch.utils.data.DataLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=num_workers,
                                       collate_fn=collate_fn, generator=torch.Generator().manual_seed(seed),
                                       pin_memory=pin_memory, drop_last=False)


# ----------------------------------------------------------------------------- trainer
class Base_ModelClass:
    """The shared trainer. Subclasses implement ``setup_dataloader`` and ``compute_loss``."""

    def __init__(self, config: Base_ModelConfig, train_data=None, train_labels=None, val_data=None,
                 val_labels=None, test_data=None, test_labels=None, seed=None, resume_on=False, run_dir=None,
                 device=None, **kwargs):
        self.config = config
        self.train_data, self.train_labels = train_data, train_labels
        self.val_data, self.val_labels = val_data, val_labels
        self.test_data, self.test_labels = test_data, test_labels
        self.model_file = config.model_file
        self.seed = config.seed if seed is None else seed
        self.resume_on = resume_on
        rd = run_dir if run_dir is not None else config.model_file
        self.run_dir = Path(rd) if Path(rd).is_absolute() else out_dir(str(rd))
        self.device = torch.device(device if device is not None else "cpu")
        self.precision = check_precision(config.precision)
        self.batch_size = config.batch_size
        self.epochs = config.epochs
        self.save_epochfreq = config.save_epochfreq
        self.save_stepfreq = config.save_stepfreq or 0
        self.num_workers = config.num_workers or 0
        self.is_main = distributed.is_main()  # only the main process writes (relcon/utils/distributed.py)
        self.net = import_net(config.net_config).to(self.device) if config.net_config is not None else None
        self.forward_net = None  # step_module(), in DDP when distributed (see forward_module)
        if self.net is not None and hasattr(self.net, "channels_last"):
            self.net.channels_last = config.channels_last
        self.optimizer = None
        self._writer = None
        self.data_record = {}  # the training data's fingerprint, set by fit

    # ---- what trainers supply
    def setup_dataloader(self, X, y, train: bool):
        raise NotImplementedError

    def compute_loss(self, batch, train: bool) -> torch.Tensor:
        """Scalar loss of one batch (with gradients when ``train``). The loop calls it under
        ``self.autocast()``; a loss computes its reduction in float32 (``relcon.utils.precision.upcast`` first)."""
        raise NotImplementedError

    def autocast(self):
        """The config's precision on the trainer's device (``relcon/utils/precision.py``):
        nothing for "fp32", bfloat16 autocast for "bf16"."""
        return autocast(self.precision, self.device)

    def batch_description(self, batch) -> str:
        """Where a batch came from, for error messages (file names when known)."""
        if isinstance(batch, dict) and "filepath" in batch:
            files = list(batch["filepath"])
            return ", ".join(files[:10]) + (f" (+{len(files) - 10} more)" if len(files) > 10 else "")
        return ""

    def step_module(self) -> torch.nn.Module:
        """The module whose forward pass a training step runs (once per step); DDP wraps it."""
        return self.net

    def forward_module(self) -> torch.nn.Module:
        """``step_module()``, wrapped in DistributedDataParallel by ``fit`` when distributed."""
        if self.forward_net is None:
            self.forward_net = self.step_module()
        return self.forward_net

    def checkpoint_modules(self) -> dict:
        """Modules saved in checkpoints, by key."""
        return {"net": self.net}

    def trainable_parameters(self):
        return self.net.parameters()

    def configure_optimizer(self):
        self.optimizer = torch.optim.Adam(self.trainable_parameters(), lr=self.config.lr)

    # ---- logging
    def log(self, message: str) -> None:
        if self.is_main:
            printlog(message, self.run_dir)

    def _tb(self):
        if self._writer is None and self.is_main:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except Exception:  # tensorboard not installed: no scalars
                self._writer = False
            else:
                self._writer = SummaryWriter(log_dir=str(self.run_dir / "tb"))
        return self._writer or None

    @staticmethod
    def training_data_record(loader) -> dict:
        """The training data's fingerprint (``SegmentIndex.fingerprint``) when the loader reads a
        segment index; stored in checkpoints as ``data``."""
        index = getattr(loader.dataset, "index", None)
        return index.fingerprint() if hasattr(index, "fingerprint") else {}

    def resume_inputs(self) -> dict:
        """Inputs outside the config that shape training (e.g. a frozen net's fingerprint), as plain
        data; resuming refuses when they changed."""
        return {}

    def resolved_config(self) -> dict:
        return config_to_dict(self.config)

    # ---- checkpoints
    def checkpoint_path(self, ckpt) -> Path:
        return checkpoint_path(self.run_dir, ckpt)

    def create_state_dict(self, epoch: int, test_loss, **extra) -> dict:
        state = {name: module.state_dict() for name, module in self.checkpoint_modules().items()}
        state.update({"optimizer": self.optimizer.state_dict() if self.optimizer is not None else {},
                      "test_loss": test_loss, "val_loss": test_loss, "epoch": epoch,
                      "config": self.resolved_config(), "inputs": self.resume_inputs(),
                      "data": self.data_record,
                      "format": CHECKPOINT_FORMAT})
        state.update(extra)
        return state

    def save(self, state: dict, ckpt: str) -> None:
        """Write a checkpoint atomically. A failed write (full disk, kill) leaves the previous file intact."""
        if not self.is_main:
            return
        path = self.checkpoint_path(ckpt)
        try:
            atomic_torch_save(state, path)
        except OSError as e:
            raise OSError(e.errno, f"could not write checkpoint {path}: {e.strerror or e}; the previous "
                                   f"{path.name} (if any) is unchanged") from e

    def _load_modules(self, state: dict, path: Path) -> None:
        for name, module in self.checkpoint_modules().items():
            if name not in state:
                raise CheckpointError(f"checkpoint {path} has no '{name}' entry (keys: {', '.join(sorted(state))})")
            load_state_dict_strict(module, state[name], f"checkpoint {path} ['{name}']")

    def load(self, ckpt="best", return_state_dict: bool = False):
        path = self.checkpoint_path(ckpt)
        state = load_checkpoint(path, map_location=self.device)
        self._load_modules(state, path)
        self.log(f"Reloaded {self.model_file} checkpoint {path.name} (epoch {state.get('epoch')})")
        return state if return_state_dict else None

    # ---- the loop
    def _nonfinite_advice(self) -> str:
        latest = self.checkpoint_path("latest")
        try:
            state = load_checkpoint(latest)
            kept = (f"The last good checkpoint is kept: {latest} (epoch {state['epoch']}, "
                    + ("end of epoch" if state.get("epoch_done", True) else f"step {state['step']}") + ")")
        except CheckpointError:
            kept = "No checkpoint was written before"
        return (f"{kept}. Usual causes: a learning rate too high for this model (start over with --retrain "
                f"--set lr=<lower>), or a bad data file (values far outside the usual range)")

    def _check_finite(self, loss: torch.Tensor, epoch: int, step: int, batch, train: bool) -> None:
        if torch.isfinite(loss).all():
            return
        where = self.batch_description(batch)
        raise NonFiniteLossError(
            f"{'training' if train else 'validation'} loss is {loss.item()} at epoch {epoch}, step {step} of run "
            f"{self.run_dir}" + (f" (this batch's files: {where})" if where else "") + f". {self._nonfinite_advice()}.")

    def _check_finite_weights(self, epoch: int, step: int) -> None:
        """A finite loss can still give infinite gradients; checking the weights before each save
        makes sure no checkpoint holds NaN/Inf (the previous one is then the last good one)."""
        for name, module in self.checkpoint_modules().items():
            for key, value in module.state_dict().items():
                if value.is_floating_point() and not torch.isfinite(value).all():
                    raise NonFiniteLossError(
                        f"the weights became non-finite ({name}.{key}) after epoch {epoch}, step {step} of run "
                        f"{self.run_dir}; not saved. {self._nonfinite_advice()}.")

    def run_one_epoch(self, dataloader, train: bool, epoch: int = 0, start_step: int = 0,
                      loss_sum: float = 0.0, on_step=None, start_sample: int | None = None) -> float:
        """Mean loss over the epoch's batches. ``on_step(step, loss_sum)`` runs after each
        optimiser step (used for step checkpoints). A resumed epoch continues after ``start_step``
        steps, at global position ``start_sample`` of the epoch's order when given (a resume on
        another number of processes), else after ``start_step`` batches of each process."""
        for module in self.checkpoint_modules().values():
            module.train(mode=train)
        sampler = dataloader.sampler
        if isinstance(sampler, EpochSampler):
            sampler.set_epoch(epoch, start_step * dataloader.batch_size, consumed=start_sample)
        if hasattr(dataloader.dataset, "set_epoch"):
            dataloader.dataset.set_epoch(epoch)
        n_batches = start_step + len(dataloader)
        step = start_step
        with torch.set_grad_enabled(train):
            bar = progress(dataloader, total=len(dataloader), desc=f"{'train' if train else 'val'} epoch {epoch}",
                           leave=False, disable=not self.is_main)
            for batch in bar:
                with self.autocast():  # the forward pass and the loss; backward runs outside, as autocast wants
                    loss = self.compute_loss(batch, train)
                self._check_finite(loss, epoch, step, batch, train)
                if train:
                    self.optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    self.optimizer.step()
                loss_sum += float(loss.detach())
                step += 1
                bar.set_postfix(loss=f"{loss_sum / step:.4g}")
                if train and on_step is not None:
                    on_step(step, loss_sum)
        return loss_sum / max(n_batches, 1)

    def fit(self):
        """Train for ``config.epochs`` epochs, resuming from ``checkpoint_latest.pkl`` if asked."""
        if self.optimizer is None:
            self.configure_optimizer()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.log(f"Begin training {self.model_file} in {self.run_dir}")
        train_loader = self.setup_dataloader(self.train_data, self.train_labels, train=True)
        # Without a validation split (pre-training layouts may omit val/), the epoch with the lowest
        # training loss is the best one.
        val_loader = (self.setup_dataloader(self.val_data, self.val_labels, train=False)
                      if self.val_data is not None else None)
        self.data_record = self.training_data_record(train_loader)
        for loader in (train_loader, val_loader):
            describe = getattr(getattr(loader, "dataset", None), "describe", None)  # segment trees say what they use
            if callable(describe):
                self.log(describe())
        if distributed.is_initialized():
            self.forward_net = distributed.wrap(self.step_module(), self.device)

        if self.is_main:
            # Temporaries of writes interrupted by a kill (never read: the targets stayed intact).
            stale = remove_stale_temporaries(self.run_dir)
            if stale:
                self.log(f"removed {len(stale)} temporary file(s) of interrupted writes: "
                         f"{', '.join(p.name for p in stale)}")
        start_epoch, start_step, loss_sum = 0, 0, 0.0
        # The epoch's global order is shared by the processes: where a resumed epoch continues is a
        # position in it, which stays right when the number of processes changes.
        n_train, batch, world = len(train_loader.dataset), train_loader.batch_size, distributed.world_size()
        start_sample = 0
        best_val, history = math.inf, []
        latest = self.checkpoint_path("latest")
        if self.resume_on and latest.exists():
            try:
                state = load_checkpoint(latest, map_location=self.device)
            except CheckpointError as e:
                raise CheckpointError(f"{e}. --retrain moves this run aside and starts over.") from None
            diffs = resume_differences(state.get("config", {}), self.resolved_config())
            before = (state.get("config") or {}).get("precision", "fp32")
            if before != self.precision:
                self.log(f"precision changed on resume: {before} before, {self.precision} from here on (weights and "
                         f"optimiser state are float32 in both)")
            if "inputs" in state:
                diffs += resume_differences(state["inputs"], self.resume_inputs())
            if diffs:
                raise CheckpointError(f"cannot resume {latest}: these settings differ from the checkpoint's: "
                                      f"{'; '.join(diffs)}. Use the same settings, or --retrain to start over.")
            self._load_modules(state, latest)
            self.optimizer.load_state_dict(state["optimizer"])
            best_val = state.get("best_val_loss", state.get("test_loss", math.inf))
            history = list(state.get("history", []))
            if state.get("epoch_done", True):
                start_epoch = state["epoch"] + 1
            else:
                start_epoch, start_step, loss_sum = state["epoch"], state["step"], state["train_loss_sum"]
            if "rng" in state:
                set_rng_state(state["rng"])
            start_sample, world_change = resume_position(state, batch, world, n_train)
            self.log(f"Resuming from {latest.name}: epoch {start_epoch}, step {start_step}"
                     + (f" ({start_sample} of {n_train} samples done)" if start_step else "")
                     + f"; {self.epochs - start_epoch} epoch(s) to go" + (f"; {world_change}" if world_change else ""))
        elif self.resume_on:
            self.log(f"--resume_on: no {latest.name} in {self.run_dir}; starting from scratch")

        if self.is_main:
            atomic_write_json(self.run_dir / "config.json", self.resolved_config())

        # Counted from the dataset: after a mid-epoch resume the loader's length is only what is left.
        steps_per_epoch = steps_left(0, batch, world, n_train)

        def save_step(epoch, first_step, first_sample):
            last_step = first_step + steps_left(first_sample, batch, world, n_train)

            def on_step(step, running_sum):
                # Also at the epoch's last step, so that a kill during validation does not redo training.
                if self.save_stepfreq and (step % self.save_stepfreq == 0 or step == last_step):
                    self._check_finite_weights(epoch, step)
                    done = samples_done(first_sample, step - first_step, batch, world, n_train)
                    self.save(self.create_state_dict(epoch, None, step=step, epoch_done=False,
                                                     train_loss_sum=running_sum, best_val_loss=best_val,
                                                     history=history, rng=rng_state(), finished=False,
                                                     samples_done=done, world_size=world, batch_size=batch), "latest")
            return on_step

        for epoch in progress(range(start_epoch, self.epochs), desc=f"fit {self.run_dir.name}",
                              disable=not self.is_main):
            t0 = time.time()
            train_loss = self.run_one_epoch(train_loader, True, epoch, start_step, loss_sum,
                                            save_step(epoch, start_step, start_sample), start_sample)
            start_step, loss_sum, start_sample = 0, 0.0, 0
            val_loss = self.run_one_epoch(val_loader, False, epoch) if val_loader is not None else None
            if distributed.is_initialized():
                train_loss = distributed.mean(train_loss, self.device)
                val_loss = distributed.mean(val_loss, self.device) if val_loss is not None else None
                if not distributed.same_on_all_ranks(self.net, self.device):
                    raise RuntimeError(f"epoch {epoch}: the {distributed.world_size()} ranks hold different weights")
            selection_loss = val_loss if val_loss is not None else train_loss
            improved = not history or selection_loss < best_val
            best_val = selection_loss if improved else best_val
            history.append({"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss,
                            "best_val_loss": best_val, "seconds": round(time.time() - t0, 3)})
            self._check_finite_weights(epoch, steps_per_epoch)
            state = self.create_state_dict(epoch, selection_loss, step=0, epoch_done=True, best_val_loss=best_val,
                                           history=history, finished=epoch + 1 >= self.epochs, world_size=world,
                                           batch_size=batch)
            if epoch % self.save_epochfreq == 0:
                self.save(state, str(epoch))
            if improved:
                self.save(state, "best")
            state["rng"] = rng_state()
            self.save(state, "latest")
            self._write_metrics(history)
            tb = self._tb()
            if tb:
                tb.add_scalar("Loss/Train", train_loss, epoch)
                if val_loss is not None:
                    tb.add_scalar("Loss/Val", val_loss, epoch)
            shown_val = f"{val_loss:.5f}" if val_loss is not None else "none (no val split)"
            self.log(f"Epoch #{epoch}: Loss/Train={train_loss:.5f} | Loss/Val={shown_val} | "
                     f"{history[-1]['seconds']:.1f} s" + (" (best)" if improved else "")
                     + (f" | {distributed.world_size()} ranks, identical weights" if distributed.is_initialized() else ""))
        distributed.barrier()  # every rank may read what rank 0 wrote from here on
        return history

    def _write_metrics(self, history: list) -> None:
        if not self.is_main:
            return
        with atomic_write(self.run_dir / "metrics.csv", "w", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=list(history[0]))
            writer.writeheader()
            writer.writerows(history)

    def test(self) -> dict:
        """Loss of the best checkpoint on the test split."""
        self.load("best")
        loader = self.setup_dataloader(self.test_data, self.test_labels, train=False)
        test_loss = self.run_one_epoch(loader, False, 0)
        self.log(f"Loss/Test={test_loss:.5f}")
        return {"test_loss": test_loss}
