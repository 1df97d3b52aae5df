"""RelCon's candidates (paper Sec. 3.2): who they are, how they are drawn, how far they are.

Each anchor has (B-1)+K candidates: the other anchors of its batch (inter-user, ``inter_user_ids``)
and K other segments of its own subject-hour folder (within-user,
``WithinUserCandidateDataset``). ``compute_candidate_distances`` scores every anchor-candidate
pair with the frozen learned distance.
"""
from __future__ import annotations

import numpy as np
import torch

from relcon.data.Base_Dataset import DataError, SegmentDataset, SegmentIndex, hashed_uniform_keys
from relcon.utils.inference import eval_mode


def inter_user_ids(bs: int, device=None) -> torch.Tensor:
    """(B, B-1) batch positions of each anchor's inter-user candidates: row b is anchors
    (b + 1 + j) mod B for j = 0 .. B-2 (the other anchors of the batch, in the reference's order)."""
    return (torch.arange(bs, device=device)[:, None] + 1 + torch.arange(bs - 1, device=device)[None, :]) % bs


def candidate_ids(bs: int, k: int, device) -> torch.Tensor:
    """((B-1)+K, B) ids of the candidate sequence of every entry of the distance matrix.
    Sequence ids: 0..B-1 are the anchors, B + b*K + k the within-user candidates."""
    b = torch.arange(bs, device=device)
    within = bs + b[None, :] * k + torch.arange(k, device=device)[:, None]  # (K, B)
    return torch.cat([inter_user_ids(bs, device).t(), within], dim=0)


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
    with eval_mode(motifdist_net):
        with torch.inference_mode():
            queries = anchors if query_dims is None else anchors[:, :, query_dims]
            sequences = torch.cat([anchors, withinuser_cands.reshape(bs * k, length, channels)])  # (B+B*K, T, C)
            if key_dims is not None:
                sequences = sequences[:, :, key_dims]
            key_ids = candidate_ids(bs, k, anchors.device)  # ((B-1)+K, B)
            out = motifdist_net.pair_distances(queries.contiguous(), sequences.contiguous(),
                                               key_ids.t().contiguous(), chunk=chunk)  # (B, (B-1)+K)
        return out.t().clone()  # cloned outside inference mode: a normal tensor autograd may save


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
