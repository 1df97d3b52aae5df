"""Stage 2: relative contrastive learning (RelCon paper, Sec. 3.2).

Each anchor has (B-1)+K candidates: the other anchors of the batch (inter-user) and K other
segments of its own subject-hour folder (within-user). The frozen learned distance ranks them;
the encoder is trained so that its embedding space keeps that order ("all pairs are positive,
but some are more positive than others").
"""
from __future__ import annotations

import hashlib

import numpy as np
import torch
import torch.nn.functional as F

from relcon.data.Base_Dataset import DataError, SegmentDataset, SegmentIndex, hashed_uniform_keys
from relcon.models.Base_Model import (Base_ModelClass, Base_ModelConfig, CheckpointError, load_checkpoint,
                                      load_state_dict_strict, make_loader)
from relcon.models.RelCon.ablation_distances import dtw_distance, euclidean_distance

DISTANCES = ("motifdist", "euclidean", "dtw")
CANDIDATE_SETS = ("both", "withinuser", "interuser")


class RelCon_ModelConfig(Base_ModelConfig):
    """Args:
        motifdist_expconfig_key: name of the MotifDist config whose best checkpoint is the
            frozen distance (trained first if missing).
        withinuser_cands: K, within-user candidates per anchor.
        tau: temperature of the cosine similarity.
        encoder_dims: channels fed to the encoder (``...`` = all).
        distance_chunk: pairs scored per step of the distance net (each holds a 256 KB score
            map): bounds memory; no effect on results. ``None``: 16 on CPU (cache-sized), 4096 on
            a GPU (see ``relcon.nets.CrossAttn.CrossAttn_Net.default_pair_chunk``).
        distance: ablation of the distance that ranks the candidates: "motifdist" (the learned
            one), "euclidean" or "dtw" on the raw segments (``ablation_distances.py``).
        candidates: ablation of the candidate set: "both" (inter-user and within-user),
            "withinuser" or "interuser" only; excluded candidates leave the loss entirely.
    """

    # Class-level defaults: a config holds these attributes only when they differ, so runs
    # trained before the ablations existed (whose saved configs lack them) still resume and
    # are still recognised as trained with the same settings.
    distance = "motifdist"
    candidates = "both"

    def __init__(self, motifdist_expconfig_key: str, withinuser_cands: int, tau=0.1, encoder_dims=...,
                 distance_chunk: int | None = None, distance: str = "motifdist", candidates: str = "both",
                 **kwargs):
        super().__init__(model_folder="RelCon", model_file="RelCon_Model", **kwargs)
        self.motifdist_expconfig_key = motifdist_expconfig_key
        self.withinuser_cands = withinuser_cands
        self.tau = tau
        self.encoder_dims = encoder_dims
        self.distance_chunk = distance_chunk
        if distance not in DISTANCES:
            raise ValueError(f"distance={distance!r}: expected one of {DISTANCES}")
        if candidates not in CANDIDATE_SETS:
            raise ValueError(f"candidates={candidates!r}: expected one of {CANDIDATE_SETS}")
        if distance != type(self).distance:
            self.distance = distance
        if candidates != type(self).candidates:
            self.candidates = candidates

    def prerequisites(self) -> list[str]:
        return [self.motifdist_expconfig_key] if self.distance == "motifdist" else []


# ----------------------------------------------------------------------------- the loss
def relative_contrastive_loss(emb_ancs: torch.Tensor, emb_withinuser_cands: torch.Tensor,
                              sortedinds: torch.Tensor, tau: float = 1) -> torch.Tensor:
    """L_RelCon (paper Eq. 3), averaged over anchors.

    Args:
        emb_ancs: (B, D) anchor embeddings.
        emb_withinuser_cands: (B, K, D) within-user candidate embeddings.
        sortedinds: ((B-1)+K, B) int64; column b lists anchor b's candidates from closest to
            farthest by the learned distance. Candidate row j < B-1 is anchor (b+1+j) mod B,
            row B-1+k is within-user candidate k.
        tau: temperature.

    With s_i = cos(anchor, c_i) / tau over candidates ordered from farthest (i = 0) to closest,
    each candidate in turn is the positive and every farther one a negative:

        loss_b = sum_{i >= 1} -[ s_i - log sum_{m <= i} exp(s_m) ].
    """
    bs, k, _ = emb_withinuser_cands.shape
    # (B, B-1) ids of the inter-user candidates of each anchor, in the rotation order.
    rot = (torch.arange(bs, device=emb_ancs.device)[:, None] + 1
           + torch.arange(bs - 1, device=emb_ancs.device)[None, :]) % bs
    # index_select, not emb_ancs[rot]: the backward of advanced indexing (index_put_ with
    # accumulate) adds in a thread-dependent order on CPU, which made training runs differ bitwise.
    inter = emb_ancs.index_select(0, rot.reshape(-1)).view(bs, bs - 1, emb_ancs.shape[1])
    cands = torch.cat([inter, emb_withinuser_cands], dim=1)  # (B, (B-1)+K, D)
    sims = F.cosine_similarity(emb_ancs[:, None, :], cands, dim=-1) / tau  # (B, N)
    far_to_close = sims.gather(1, sortedinds.t().flip(1))  # (B, N)
    log_norm = torch.logcumsumexp(far_to_close, dim=1)
    per_anchor = -(far_to_close[:, 1:] - log_norm[:, 1:]).sum(dim=1)
    return per_anchor.mean()


# ----------------------------------------------------------------------------- distances
def _candidate_ids(bs: int, k: int, device) -> torch.Tensor:
    """((B-1)+K, B) ids of the candidate sequence of every entry of the distance matrix.
    Sequence ids: 0..B-1 are the anchors, B + b*K + k the within-user candidates."""
    b = torch.arange(bs, device=device)
    inter = (b[None, :] + 1 + torch.arange(bs - 1, device=device)[:, None]) % bs  # (B-1, B)
    within = bs + b[None, :] * k + torch.arange(k, device=device)[:, None]  # (K, B)
    return torch.cat([inter, within], dim=0)


def compute_candidate_distances(motifdist_net, anchors: torch.Tensor, withinuser_cands: torch.Tensor,
                                query_dims=None, key_dims=None,
                                chunk: int | None = None) -> torch.Tensor:
    """The ((B-1)+K, B) matrix of learned distances from each anchor to its candidates.

    Row j < B-1 of column b: d(anchor b, anchor (b+1+j) mod B); row B-1+k: d(anchor b, its k-th
    within-user candidate). anchors (B, T, C), withinuser_cands (B, K, T, C).

    The candidate side (key/value stacks) is computed once per distinct candidate sequence
    (B + B*K of them) and the pairs ``chunk`` at a time, by the net's
    ``pair_distances`` (equal to its forward pass, see ``pairwise_candidate_distances``). The
    net runs in eval mode under ``inference_mode``; its mode is restored afterwards.
    """
    bs, length, channels = anchors.shape
    k = withinuser_cands.shape[1]
    was_training = motifdist_net.training
    motifdist_net.eval()
    try:
        with torch.inference_mode():
            queries = anchors if query_dims is None else anchors[:, :, query_dims]
            sequences = torch.cat([anchors, withinuser_cands.reshape(bs * k, length, channels)])
            if key_dims is not None:
                sequences = sequences[:, :, key_dims]
            key_ids = _candidate_ids(bs, k, anchors.device)  # ((B-1)+K, B)
            out = motifdist_net.pair_distances(queries.contiguous(), sequences.contiguous(),
                                               key_ids.t().contiguous(), chunk=chunk)  # (B, (B-1)+K)
        return out.t().clone()
    finally:
        motifdist_net.train(was_training)


def pairwise_candidate_distances(motifdist_net, anchors: torch.Tensor, withinuser_cands: torch.Tensor,
                                 query_dims=None, key_dims=None) -> torch.Tensor:
    """The same matrix by the straightforward procedure (one full forward per rotation and per
    within-user slot). Slow; kept as the reference for tests and benchmarks."""
    from relcon.models.MotifDist.MotifDist_Model import reconstruction_error

    was_training = motifdist_net.training
    motifdist_net.eval()
    qd = slice(None) if query_dims is None else query_dims
    kd = slice(None) if key_dims is None else key_dims
    rows = []
    try:
        with torch.no_grad():
            for shift in range(1, anchors.shape[0]):
                rotated = torch.roll(anchors, -shift, dims=0)
                rows.append(reconstruction_error(motifdist_net, anchors[:, :, qd], rotated[:, :, kd]))
            for slot in range(withinuser_cands.shape[1]):
                rows.append(reconstruction_error(motifdist_net, anchors[:, :, qd], withinuser_cands[:, slot][:, :, kd]))
    finally:
        motifdist_net.train(was_training)
    return torch.stack(rows)


# ----------------------------------------------------------------------------- data
class WithinUserCandidateDataset(SegmentDataset):
    """Anchors with K within-user candidates drawn from the anchor's own folder.

    Items: ``signal`` (T, C), ``withinuser_cand_signals`` (K, T, C), ``withinuser_cand_index``
    (K,), ``index``, ``filepath``. The K candidates are distinct and never the anchor; they are a
    pure function of (seed, train/val, epoch, item) (``draw_many``). Folders with fewer than
    K + 1 segments are left out. In the packed layout the anchor and its candidates are one
    read from one array.
    """

    def __init__(self, index: SegmentIndex, withinuser_cands: int, seed: int = 0, train: bool = True):
        if withinuser_cands < 1:
            raise ValueError(f"withinuser_cands={withinuser_cands}: expected >= 1")
        sizes = index.folder_sizes()
        keep = sizes >= withinuser_cands + 1
        if len(index) == 0:
            raise DataError(f"{index.root}: no .npy segments found; expected <subject>/<hour>/*.npy files")
        if not keep.any():
            raise DataError(f"{index.root}: no folder holds withinuser_cands + 1 = {withinuser_cands + 1} segments "
                            f"(largest folder: {int(sizes.max())}); lower withinuser_cands or add segments")
        self.withinuser_cands = withinuser_cands
        self.left_out_folders = int((~keep).sum())
        self.left_out_segments = int(sizes[~keep].sum())
        super().__init__(index, seed=seed, train=train, folders=np.flatnonzero(keep))

    def draw_many(self, items) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(anchor file ids (n,), their folders (n,), candidate file ids (n, K)) of ``items``.

        Each anchor's K candidates are the K siblings with the smallest of one hashed uniform
        key per sibling (``hashed_uniform_keys`` of seed, stream, epoch, item, sibling): a
        uniformly random K-subset of the folder without the anchor, in random order, the same
        for the same (seed, epoch, item) whatever the batch, worker or layout.
        """
        k = self.withinuser_cands
        fids, folders = self.locate_many(items)
        first = self.index.offsets[folders]
        siblings = self.index.offsets[folders + 1] - first - 1  # (n,) candidates to choose from
        epoch = self.epoch if self.stream == 0 else 0
        keys = hashed_uniform_keys(self.seed, self.stream, epoch, items, int(siblings.max()))  # (n, width)
        keys[np.arange(keys.shape[1])[None, :] >= siblings[:, None]] = np.iinfo(np.uint64).max  # no such sibling
        pick = np.argpartition(keys, k - 1, axis=1)[:, :k]  # the k smallest keys, unordered
        pick = np.take_along_axis(pick, np.take_along_axis(keys, pick, axis=1).argsort(axis=1), axis=1)
        pick += pick >= (fids - first)[:, None]  # sibling number -> position in the folder, past the anchor
        return fids, folders, first[:, None] + pick

    def draw_candidates(self, item: int) -> np.ndarray:
        """(K,) file ids of the within-user candidates of ``item``."""
        return self.draw_many([item])[2][0]

    def __getitem__(self, item: int) -> dict:
        batch = self.__getitems__([item])
        return {key: value[0] for key, value in batch.items()}

    def __getitems__(self, items) -> dict:
        """A collated batch of ``items``: one read per anchor for the anchor and its candidates."""
        k, shape = self.withinuser_cands, self.expected_shape
        fids, folders, cand_ids = self.draw_many(items)
        ids = np.concatenate([fids[:, None], cand_ids], axis=1)  # (n, 1+K)
        anchors = np.empty((len(items), *shape), dtype=np.float32)
        cands = np.empty((len(items), k, *shape), dtype=np.float32)
        for row in range(len(items)):
            signals = self.index.read_many(ids[row], shape, folder=int(folders[row]), check=False,
                                           shape_source=self.shape_source)  # (1+K, T, C)
            anchors[row], cands[row] = signals[0], signals[1:]
        self.index.check_finite(anchors, fids)
        self.index.check_finite(cands.reshape(-1, *shape), cand_ids)
        return {"signal": torch.from_numpy(anchors), "index": torch.from_numpy(fids),
                "filepath": [self.index.path(int(i)) for i in fids],
                "withinuser_cand_signals": torch.from_numpy(cands),
                "withinuser_cand_index": torch.from_numpy(cand_ids)}


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
    def __init__(self, config: RelCon_ModelConfig, *args, motifdist_net=None, **kwargs):
        super().__init__(config, *args, **kwargs)
        self.motifdist_config = None
        self.motifdist_net = None
        if getattr(config, "distance", "motifdist") == "motifdist":
            self.motifdist_net = motifdist_net if motifdist_net is not None else self.load_motifdist()
            self.motifdist_net.to(self.device).eval()
            for p in self.motifdist_net.parameters():
                p.requires_grad_(False)
        dims = config.encoder_dims
        self.encoder_dims = slice(None) if dims is Ellipsis or dims == "..." else list(dims)

    def load_motifdist(self):
        """The frozen distance net from the best checkpoint of ``motifdist_expconfig_key``."""
        from relcon.experiments.registry import get_config
        from relcon.utils.imports import import_net
        from relcon.utils.paths import out_dir

        key = self.config.motifdist_expconfig_key
        self.motifdist_config = get_config(key)
        path = out_dir(key) / "checkpoint_best.pkl"
        if not path.exists():
            raise CheckpointError(f"MotifDist checkpoint {path} is missing; train it first with "
                                  f"`python run_exp.py --config {key}` (run_exp.py does this automatically)")
        net = import_net(self.motifdist_config.net_config)
        state = load_checkpoint(path)
        load_state_dict_strict(net, state["net"], f"MotifDist checkpoint {path} (config {key})")
        self.log(f"Frozen MotifDist distance from {path} (epoch {state.get('epoch')}, "
                 f"attention in eval: {getattr(net, 'attention', '?')})")
        return net

    def resume_inputs(self) -> dict:
        # The frozen distance ranks the candidates: resuming on another one would mix two targets.
        if self.motifdist_net is None:
            return {}
        if not hasattr(self, "_motifdist_sha256"):
            digest = hashlib.sha256()
            for key, value in sorted(self.motifdist_net.state_dict().items()):
                digest.update(key.encode())
                digest.update(value.detach().cpu().contiguous().numpy().tobytes())
            self._motifdist_sha256 = digest.hexdigest()
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
        if self.motifdist_net is None:
            return self.ablation_distances(anchors, cands)
        qd = getattr(self.motifdist_config, "query_dims", None)
        kd = getattr(self.motifdist_config, "key_dims", None)
        return compute_candidate_distances(self.motifdist_net, anchors, cands, qd, kd,
                                           chunk=getattr(self.config, "distance_chunk", None))

    def ablation_distances(self, anchors: torch.Tensor, cands: torch.Tensor) -> torch.Tensor:
        """The ((B-1)+K, B) candidate distances under the config's hand-made distance."""
        bs, k, length, channels = cands.shape
        sequences = torch.cat([anchors, cands.reshape(bs * k, length, channels)])
        key_ids = _candidate_ids(bs, k, anchors.device)  # ((B-1)+K, B)
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
        which = getattr(self.config, "candidates", "both")
        if which == "both":
            return torch.sort(distances, dim=0, stable=True).indices
        inter = anchors.shape[0] - 1
        excluded = slice(0, inter) if which == "withinuser" else slice(inter, None)
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
