"""AugPred baseline: multi-task self-supervision (Yuan et al., npj Digital Medicine 2024, "Self-
supervised learning for human activity recognition using 700,000 person-days of wearable data").

Each segment undergoes each of three transformations independently with probability ``p``:
arrow of time (time reversal), permutation (cut into chunks, shuffled) and time warp, applied in
that fixed order (``TASKS``) with the project's implementations
(``relcon/models/MotifDist/augmentations.py``). The encoder's embedding feeds one binary head
per transformation (a linear logit, as the paper's task heads), each predicting whether its
transformation was applied.

Weighting rule: the three binary cross-entropies get equal weights (their mean), as in
ssl-wearables, where the task losses are added unweighted; the mean only rescales the sum by
1/3, which keeps the loss on the scale of one task.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from relcon.data.Base_Dataset import SegmentDataset, SegmentIndex
from relcon.models.Base_Model import Base_ModelClass, Base_ModelConfig, make_loader
from relcon.models.MotifDist.augmentations import segment_permutation, time_flip, time_warp
from relcon.utils.precision import upcast

TASKS = (("time_reversal", time_flip), ("permutation", segment_permutation), ("time_warp", time_warp))


@dataclass(kw_only=True)
class AugPred_ModelConfig(Base_ModelConfig):
    """Args:
        p: probability that each transformation is applied (independently per segment).
    """

    model_folder: str = field(default="AugPred", init=False)
    model_file: str = field(default="AugPred_Model", init=False)
    p: float = 0.5


def apply_tasks(x: np.ndarray, rng: np.random.Generator, p: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """(transformed x (T, C), labels (len(TASKS),) float32): label t is 1 when transformation t
    was applied. The coin flips are drawn first, then the transformations' own draws."""
    labels = (rng.random(len(TASKS)) < p).astype(np.float32)
    out = np.asarray(x, dtype=np.float64)
    for (_, transform), applied in zip(TASKS, labels):
        if applied:
            out = transform(out, rng)
    return out.astype(np.float32), labels


def augpred_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean over tasks of each task's binary cross-entropy (equal task weights).

    Shape: logits (B, n_tasks), labels (B, n_tasks) in {0, 1}; returns a scalar, computed in
    float32 (logits cast to float32, ``upcast``; bfloat16 logits under mixed precision).
    """
    return F.binary_cross_entropy_with_logits(upcast(logits), labels, reduction="none").mean(dim=0).mean()


class TaskDataset(SegmentDataset):
    """Items ``{"signal": transformed (T, C), "labels": (n_tasks,), "index", "filepath"}``, a pure
    function of (seed, train/val, epoch, item)."""

    def __init__(self, index: SegmentIndex, p: float = 0.5, **kwargs):
        super().__init__(index, **kwargs)
        self.p = p

    def __getitem__(self, item: int) -> dict:
        out = super().__getitem__(item)
        signal, labels = apply_tasks(out["signal"].numpy(), self.rng(item), self.p)
        out["signal"], out["labels"] = torch.from_numpy(signal), torch.from_numpy(labels)
        return out


class EncoderWithHeads(torch.nn.Module):
    """(segments (B, T, C)) -> (B, n_tasks) logits: the encoder, then one linear logit per task."""

    def __init__(self, net: torch.nn.Module, heads: torch.nn.ModuleList):
        super().__init__()
        self.net, self.heads = net, heads

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        emb = self.net(x.transpose(1, 2))  # (B, D) from channels-first (B, C, T)
        return torch.cat([head(emb) for head in self.heads], dim=1)


class Model(Base_ModelClass):
    def __init__(self, config: AugPred_ModelConfig, *args, **kwargs):
        super().__init__(config, *args, **kwargs)
        self.heads = torch.nn.ModuleList([torch.nn.Linear(self.net.embed_dim, 1) for _ in TASKS]).to(self.device)

    def checkpoint_modules(self) -> dict:
        return {"net": self.net, "head": self.heads}

    def trainable_parameters(self):
        return list(self.net.parameters()) + list(self.heads.parameters())

    def step_module(self) -> torch.nn.Module:
        return EncoderWithHeads(self.net, self.heads)

    def setup_dataloader(self, X, y, train: bool):
        dataset = TaskDataset(SegmentIndex.scan(X), p=self.config.p, seed=self.seed, train=train)
        return make_loader(dataset, self.batch_size, train, self.seed, self.num_workers,
                           pin_memory=self.device.type == "cuda")

    def compute_loss(self, batch, train: bool) -> torch.Tensor:
        x = batch["signal"].to(self.device, non_blocking=True)
        labels = batch["labels"].to(self.device, non_blocking=True)
        return augpred_loss(self.forward_module()(x), labels)
