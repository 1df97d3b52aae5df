"""REBAR baseline (Xu et al., ICLR 2024) on RelCon's data, candidates and frozen distance.

Everything but the loss is RelCon's trainer (``relcon/models/RelCon/RelCon_Model.py``): the same
(B-1) inter-user + K within-user candidates per anchor, ranked by the same frozen learned
distance (or an ablation's distance), and the same encoder. Where RelCon makes every candidate
a positive against the farther ones, REBAR takes only the closest as the positive and all the
others as negatives (``loss.py``).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from relcon.models.RelCon.RelCon_Model import Model as RelCon_Model
from relcon.models.RelCon.RelCon_Model import RelCon_ModelConfig
from relcon.models.REBAR.loss import rebar_loss


@dataclass(kw_only=True)
class REBAR_ModelConfig(RelCon_ModelConfig):
    """RelCon's arguments (``motifdist_expconfig_key``, ``withinuser_cands``, ``tau``, ...);
    only the trainer differs."""

    model_folder: str = field(default="REBAR", init=False)
    model_file: str = field(default="REBAR_Model", init=False)


class Model(RelCon_Model):
    def loss_from_order(self, anchors: torch.Tensor, cands: torch.Tensor, sortedinds: torch.Tensor) -> torch.Tensor:
        bs, k, length, channels = cands.shape
        emb_ancs, emb_cands = self.forward_module()(anchors, cands.reshape(bs * k, length, channels))
        return rebar_loss(emb_ancs, emb_cands.view(bs, k, -1), sortedinds, tau=self.config.tau)
