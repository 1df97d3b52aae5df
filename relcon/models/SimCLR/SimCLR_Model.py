"""SimCLR baseline (Chen et al., ICML 2020) on the shared loop, encoder and data.

Each segment gives two views, each from 2 of the project's 8 augmentations (the ones that
train the learned distance, ``relcon/models/MotifDist/augmentations.py``), drawn from the
sample's own seeded generator. The encoder's embeddings pass through a projection head
(Linear - ReLU - Linear) into NT-Xent (``loss.py``) with the other views of the batch as
negatives. The head is a separate checkpoint module (``head``): evaluations load ``net``, the
encoder, and discard it, as the paper does.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from relcon.data.Base_Dataset import SegmentDataset, SegmentIndex
from relcon.models.Base_Model import Base_ModelClass, Base_ModelConfig, make_loader
from relcon.models.MotifDist.augmentations import augment
from relcon.models.SimCLR.loss import nt_xent_loss


@dataclass(kw_only=True)
class SimCLR_ModelConfig(Base_ModelConfig):
    """Args:
        tau: NT-Xent temperature.
        proj_hidden, proj_dim: sizes of the projection head's hidden and output layers.
        n_transforms: augmentations per view (drawn without replacement from the 8).
    """

    model_folder: str = field(default="SimCLR", init=False)
    model_file: str = field(default="SimCLR_Model", init=False)
    tau: float = 0.1
    proj_hidden: int = 256
    proj_dim: int = 128
    n_transforms: int = 2


class TwoViewDataset(SegmentDataset):
    """Items ``{"view1": (T, C), "view2": (T, C), "index", "filepath"}``: two independent
    augmentations of one segment, a pure function of (seed, train/val, epoch, item)."""

    def __init__(self, index: SegmentIndex, n_transforms: int = 2, **kwargs):
        super().__init__(index, **kwargs)
        self.n_transforms = n_transforms

    def __getitem__(self, item: int) -> dict:
        out = super().__getitem__(item)
        x, rng = out.pop("signal").numpy(), self.rng(item)
        out["view1"] = torch.from_numpy(augment(x, rng, self.n_transforms).astype(np.float32))
        out["view2"] = torch.from_numpy(augment(x, rng, self.n_transforms).astype(np.float32))
        return out


def projection_head(embed_dim: int, hidden: int, out: int) -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Linear(embed_dim, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, out))


class EncoderWithHead(torch.nn.Module):
    """(views (N, T, C)) -> head(encoder(views)) (N, P); one module so that DDP sees one
    forward per step. Both views go through one encoder call (shared batch-norm statistics)."""

    def __init__(self, net: torch.nn.Module, head: torch.nn.Module):
        super().__init__()
        self.net, self.head = net, head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.net(x.transpose(1, 2)))  # (N, C, T) channels-first in


class Model(Base_ModelClass):
    def __init__(self, config: SimCLR_ModelConfig, *args, **kwargs):
        super().__init__(config, *args, **kwargs)
        self.head = projection_head(self.net.embed_dim, config.proj_hidden, config.proj_dim).to(self.device)

    def checkpoint_modules(self) -> dict:
        return {"net": self.net, "head": self.head}

    def trainable_parameters(self):
        return list(self.net.parameters()) + list(self.head.parameters())

    def step_module(self) -> torch.nn.Module:
        return EncoderWithHead(self.net, self.head)

    def setup_dataloader(self, X, y, train: bool):
        dataset = TwoViewDataset(SegmentIndex.scan(X), n_transforms=self.config.n_transforms, seed=self.seed,
                                 train=train)
        dataset.check_channels(3, "the augmentations (rotation of 3-axis accelerometry)", exact=True)
        return make_loader(dataset, self.batch_size, train, self.seed, self.num_workers,
                           pin_memory=self.device.type == "cuda")

    def compute_loss(self, batch, train: bool) -> torch.Tensor:
        v1 = batch["view1"].to(self.device, non_blocking=True)
        v2 = batch["view2"].to(self.device, non_blocking=True)
        z = self.forward_module()(torch.cat([v1, v2]))  # (2B, P)
        z1, z2 = z.chunk(2)
        return nt_xent_loss(z1, z2, tau=self.config.tau)
