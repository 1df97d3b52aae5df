"""Stage 1: the learned motif distance (RelCon paper, Sec. 3.1).

Training pairs are a segment (anchor, the query) and an augmented copy of it (candidate, the
key); the CrossAttn net learns to reconstruct the anchor from the candidate. The loss is the
summed squared reconstruction error over the batch:

    L = sum_b sum_t sum_c (X_hat_anc|cand - X_anc)^2,

and the frozen distance is the same sum per pair: d(anchor, candidate) (``calc_distance``).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from relcon.data.Base_Dataset import SegmentDataset, SegmentIndex
from relcon.models.Base_Model import Base_ModelClass, Base_ModelConfig, make_loader
from relcon.models.MotifDist.augmentations import augment
from relcon.utils.inference import eval_mode
from relcon.utils.precision import upcast


@dataclass(kw_only=True)
class MotifDist_ModelConfig(Base_ModelConfig):
    """``query_dims`` / ``key_dims``: channels of the anchor and candidate the net sees."""

    model_folder: str = field(default="MotifDist", init=False)
    model_file: str = field(default="MotifDist_Model", init=False)
    query_dims: list = field(default_factory=lambda: [0, 1, 2])
    key_dims: list = field(default_factory=lambda: [0, 1, 2])

    def __post_init__(self):
        super().__post_init__()
        self.query_dims = list(self.query_dims)
        self.key_dims = list(self.key_dims)


class AugmentedSegmentDataset(SegmentDataset):
    """Items ``{"signal": (T, C), "aug_signal": (T, C), "index"}``: 2 of the 8 augmentations,
    drawn from the sample's own seeded generator (reproducible, resumable)."""

    def __getitem__(self, item: int) -> dict:
        out = super().__getitem__(item)
        out["aug_signal"] = torch.from_numpy(augment(out["signal"].numpy(), self.rng(item)).astype(np.float32))
        return out


def reconstruction_error(net, anchor: torch.Tensor, candidate: torch.Tensor) -> torch.Tensor:
    """Per-pair squared error of reconstructing ``anchor`` (B, T, C) from ``candidate``: (B,),
    float32 (the reconstruction is cast to float32, ``upcast`` before the sum; under bf16 mixed
    precision it is already float32, RevIN de-normalising in float32)."""
    reconstruction, _ = net(query_in=anchor, key_in=candidate)
    return torch.square(upcast(reconstruction) - anchor).sum(dim=(1, 2))


class Model(Base_ModelClass):
    def setup_dataloader(self, X, y, train: bool):
        dataset = AugmentedSegmentDataset(SegmentIndex.scan(X), seed=self.seed, train=train)
        # Checked here rather than failing in an augmentation or as an index error mid-epoch.
        dataset.check_channels(3, "the MotifDist augmentations (rotation of 3-axis accelerometry)", exact=True)
        dims = list(self.config.query_dims) + list(self.config.key_dims)
        dataset.check_channels(max(dims) + 1, f"MotifDist (query_dims={self.config.query_dims}, "
                                              f"key_dims={self.config.key_dims})")
        return make_loader(dataset, self.batch_size, train, self.seed, self.num_workers,
                           pin_memory=self.device.type == "cuda")

    def _inputs(self, batch):
        # Copy first, select after: the loader's pinned batches then copy asynchronously.
        query = batch["signal"].to(self.device, non_blocking=True)[:, :, self.config.query_dims]
        key = batch["aug_signal"].to(self.device, non_blocking=True)[:, :, self.config.key_dims]
        return query, key

    def compute_loss(self, batch, train: bool) -> torch.Tensor:
        query, key = self._inputs(batch)
        return reconstruction_error(self.forward_module(), query, key).sum()

    def calc_distance(self, anchor: torch.Tensor, candidate: torch.Tensor) -> torch.Tensor:
        """d(anchor_b, candidate_b) for each row b: (B,) float32. Eval mode, no gradients, in the
        config's precision; the net's training/eval mode is restored afterwards."""
        with eval_mode(self.net), torch.no_grad(), self.autocast():
            query = anchor[:, :, self.config.query_dims].to(self.device)
            key = candidate[:, :, self.config.key_dims].to(self.device)
            return reconstruction_error(self.net, query, key)
