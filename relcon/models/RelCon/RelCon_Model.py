"""Stage 2: relative contrastive learning (RelCon paper, Sec. 3.2).

Each anchor has (B-1)+K candidates: the other anchors of the batch (inter-user) and K other
segments of its own subject-hour folder (within-user). The frozen learned distance ranks them;
the encoder is trained so that its embedding space keeps that order ("all pairs are positive,
but some are more positive than others").
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from relcon.data.Base_Dataset import SegmentIndex
from relcon.models.Base_Model import Base_ModelClass, Base_ModelConfig, make_loader
# Re-exported: configs and checkpoints of the reference name these here.
from relcon.models.RelCon.ablation_distances import dtw_distance, euclidean_distance
from relcon.models.RelCon.candidates import (WithinUserCandidateDataset,  # noqa: F401
                                             candidate_ids, compute_candidate_distances)
from relcon.models.RelCon.loss import relative_contrastive_loss  # noqa: F401
from relcon.runs import CheckpointError, checkpoint_path, load_net, state_digest
from relcon.utils.paths import out_dir
from relcon.utils.precision import upcast

DISTANCES = ("motifdist", "euclidean", "dtw")
CANDIDATE_SETS = ("both", "withinuser", "interuser")


@dataclass(kw_only=True)
class RelCon_ModelConfig(Base_ModelConfig):
    """Args:
        motifdist_expconfig_key: name of the MotifDist config whose best checkpoint is the
            frozen distance (trained first if missing).
        withinuser_cands: K, within-user candidates per anchor.
        tau: temperature of the cosine similarity.
        encoder_dims: channels fed to the encoder (``...`` = all).
        distance_chunk: pairs scored per step of the distance net (each holds a 256 KB score
            map): bounds memory; no effect on results. ``None``: 16 on CPU (cache-sized), 4096 on
            a GPU (see ``relcon.nets.CrossAttn.pair_distances.default_pair_chunk``).
        distance: ablation of the distance that ranks the candidates: "motifdist" (the learned
            one), "euclidean" or "dtw" on the raw segments (``ablation_distances.py``).
        candidates: ablation of the candidate set: "both" (inter-user and within-user),
            "withinuser" or "interuser" only; excluded candidates leave the loss entirely.
    """

    model_folder: str = field(default="RelCon", init=False)
    model_file: str = field(default="RelCon_Model", init=False)
    motifdist_expconfig_key: str
    withinuser_cands: int
    tau: float = 0.1
    encoder_dims: object = ...
    distance_chunk: int | None = None
    distance: str = "motifdist"
    candidates: str = "both"

    def __post_init__(self):
        super().__post_init__()
        if self.distance not in DISTANCES:
            raise ValueError(f"distance={self.distance!r}: expected one of {DISTANCES}")
        if self.candidates not in CANDIDATE_SETS:
            raise ValueError(f"candidates={self.candidates!r}: expected one of {CANDIDATE_SETS}")

    def prerequisites(self) -> list[str]:
        return [self.motifdist_expconfig_key] if self.distance == "motifdist" else []

    def frozen_distance_key(self) -> str | None:
        return self.motifdist_expconfig_key if self.distance == "motifdist" else None


# ----------------------------------------------------------------------------- trainer
class TwoViewEncoder(torch.nn.Module):
    """(anchors (B, T, C), candidates (N, T, C)) -> their embeddings (B, D), (N, D).

    Two encoder calls, as in the reference: batch-norm statistics of anchors and candidates
    stay separate. One module for both, so that DDP sees one forward per step.
    """

    def __init__(self, net: torch.nn.Module, dims):
        super().__init__()
        self.net, self.dims = net, dims

    def forward(self, anchors: torch.Tensor, cands: torch.Tensor):
        return (self.net(anchors[:, :, self.dims].transpose(1, 2)),  # (B, C, T) channels-first
                self.net(cands[:, :, self.dims].transpose(1, 2)))


class Model(Base_ModelClass):
    """The RelCon trainer.

    The frozen distance: ``motifdist_net`` (a built net) with ``motifdist_config`` (the MotifDist
    config it was trained with: its ``query_dims`` / ``key_dims``), or ``motifdist_run`` (the
    prerequisite's run folder, handed down by ``run_exp.py``) whose best checkpoint is loaded into
    the net of ``motifdist_config``. With neither, the best checkpoint of the run folder named
    ``motifdist_expconfig_key`` is loaded with the config saved in it.
    """

    def __init__(self, config: RelCon_ModelConfig, *args, motifdist_net=None, motifdist_config=None,
                 motifdist_run=None, **kwargs):
        super().__init__(config, *args, **kwargs)
        self.motifdist_config = motifdist_config
        self.motifdist_net = None  # the hand-made distances of the ablations need no net
        if config.distance == "motifdist":
            if motifdist_net is None:
                # Built after the encoder, so the encoder's initialisation is the seed's first draws.
                motifdist_net, self.motifdist_config = self.load_motifdist(motifdist_run, motifdist_config)
            self.motifdist_net = motifdist_net
            self.motifdist_net.to(self.device).eval()
            for p in self.motifdist_net.parameters():
                p.requires_grad_(False)
        dims = config.encoder_dims
        self.encoder_dims = slice(None) if dims is Ellipsis or dims == "..." else list(dims)

    def load_motifdist(self, run_dir=None, config=None):
        """(net, config) of the frozen distance: the best checkpoint of ``run_dir`` (default: the run
        folder named ``motifdist_expconfig_key``), in the net of ``config`` (default: the config
        saved in the checkpoint)."""
        key = self.config.motifdist_expconfig_key
        run_dir = run_dir if run_dir is not None else out_dir(key)
        path = checkpoint_path(run_dir, "best")
        if not path.exists():
            raise CheckpointError(f"MotifDist checkpoint {path} is missing; train it first with "
                                  f"`python run_exp.py --config {key}` (run_exp.py does this automatically)")
        net, state, config = load_net(run_dir, "best", config=config, label=f" (config {key})")
        self.log(f"Frozen MotifDist distance from {path} (epoch {state.get('epoch')}, "
                 f"attention in eval: {getattr(net, 'attention', '?')})")
        return net, config

    def resume_inputs(self) -> dict:
        # The frozen distance ranks the candidates: resuming on another one would mix two targets.
        if self.motifdist_net is None:
            return {}
        if not hasattr(self, "_motifdist_sha256"):
            self._motifdist_sha256 = state_digest(self.motifdist_net, sort_keys=True)
        return {"motifdist_sha256": self._motifdist_sha256}

    def setup_dataloader(self, X, y, train: bool):
        dataset = WithinUserCandidateDataset(SegmentIndex.scan(X), self.config.withinuser_cands,
                                             seed=self.seed, train=train)
        # Checked here rather than failing as an index error in the middle of an epoch.
        if self.motifdist_config is not None:
            dims = list(self.motifdist_config.query_dims) + list(self.motifdist_config.key_dims)
            dataset.check_channels(max(dims) + 1, f"the distance {self.config.motifdist_expconfig_key} "
                                                  f"(query_dims + key_dims = {dims})")
        if not isinstance(self.encoder_dims, slice):
            dataset.check_channels(max(self.encoder_dims) + 1, f"the encoder (encoder_dims={self.encoder_dims})")
        elif hasattr(self.net, "in_channels"):
            dataset.check_channels(self.net.in_channels, f"the encoder (in_channels={self.net.in_channels})",
                                   exact=True)
        if dataset.left_out_folders:
            self.log(f"{X}: left out {dataset.left_out_folders} folder(s) ({dataset.left_out_segments} segments) "
                     f"with fewer than withinuser_cands + 1 = {self.config.withinuser_cands + 1} segments")
        return make_loader(dataset, self.batch_size, train, self.seed, self.num_workers,
                           pin_memory=self.device.type == "cuda")

    def distances(self, anchors: torch.Tensor, cands: torch.Tensor) -> torch.Tensor:
        """The ((B-1)+K, B) float32 candidate distances, computed in the config's precision (the
        training loop's autocast; with "bf16" the frozen net's convolutions and products run in
        bfloat16, its sparsemax and RevIN in float32)."""
        if self.motifdist_net is None:
            return upcast(self.ablation_distances(anchors, cands))
        qd = self.motifdist_config.query_dims if self.motifdist_config is not None else None
        kd = self.motifdist_config.key_dims if self.motifdist_config is not None else None
        with self.autocast():
            return upcast(compute_candidate_distances(self.motifdist_net, anchors, cands, qd, kd,
                                               chunk=self.config.distance_chunk))

    def ablation_distances(self, anchors: torch.Tensor, cands: torch.Tensor) -> torch.Tensor:
        """The ((B-1)+K, B) candidate distances under the config's hand-made distance."""
        bs, k, length, channels = cands.shape
        sequences = torch.cat([anchors, cands.reshape(bs * k, length, channels)])  # (B+B*K, T, C)
        key_ids = candidate_ids(bs, k, anchors.device)  # ((B-1)+K, B)
        queries = anchors[None].expand(key_ids.shape[0], -1, -1, -1).reshape(-1, length, channels)
        keys = sequences.index_select(0, key_ids.reshape(-1))
        fn = euclidean_distance if self.config.distance == "euclidean" else dtw_distance
        with torch.no_grad():
            return fn(queries, keys).view(key_ids.shape)

    def embed(self, signals: torch.Tensor) -> torch.Tensor:
        """(N, T, C) -> (N, D): the encoder on the configured channels, channels-first."""
        return self.net(signals[:, :, self.encoder_dims].transpose(1, 2))

    def step_module(self) -> torch.nn.Module:
        return TwoViewEncoder(self.net, self.encoder_dims)

    def batch_signals(self, batch) -> tuple[torch.Tensor, torch.Tensor]:
        """Anchors (B, T, C) and within-user candidates (B, K, T, C) of a batch, on the device."""
        anchors = batch["signal"].to(self.device, non_blocking=True)
        cands = batch["withinuser_cand_signals"].to(self.device, non_blocking=True)
        return anchors, cands

    def candidate_order(self, anchors: torch.Tensor, cands: torch.Tensor) -> torch.Tensor:
        """((B-1)+K, B) candidate indices of each anchor, closest first by the frozen distance.
        A candidate-set ablation keeps only the rows of its candidates: (B-1, B) or (K, B)."""
        distances = self.distances(anchors, cands)
        if self.config.candidates == "both":
            return torch.sort(distances, dim=0, stable=True).indices
        inter = anchors.shape[0] - 1
        excluded = slice(0, inter) if self.config.candidates == "withinuser" else slice(inter, None)
        distances = distances.clone()
        distances[excluded] = float("inf")  # sorted last, then dropped
        kept = distances.shape[0] - distances[excluded].shape[0]
        return torch.sort(distances, dim=0, stable=True).indices[:kept]

    def loss_from_order(self, anchors: torch.Tensor, cands: torch.Tensor, sortedinds: torch.Tensor) -> torch.Tensor:
        bs, k, length, channels = cands.shape
        emb_ancs, emb_cands = self.forward_module()(anchors, cands.reshape(bs * k, length, channels))
        return relative_contrastive_loss(emb_ancs, emb_cands.view(bs, k, -1), sortedinds, tau=self.config.tau)

    def compute_loss(self, batch, train: bool) -> torch.Tensor:
        anchors, cands = self.batch_signals(batch)
        return self.loss_from_order(anchors, cands, self.candidate_order(anchors, cands))
