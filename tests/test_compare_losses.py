"""The comparison methods' losses and targets against their definitions: NT-Xent (SimCLR),
the REBAR loss and positive, AugPred's labels, and the distance / candidate-set ablations."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from relcon.models.AugPred.AugPred_Model import TASKS, apply_tasks, augpred_loss
from relcon.models.MotifDist.augmentations import segment_permutation, time_flip, time_warp
from relcon.models.REBAR.loss import rebar_loss
from relcon.models.RelCon.ablation_distances import dtw_distance, euclidean_distance
from relcon.models.RelCon.RelCon_Model import relative_contrastive_loss
from relcon.models.SimCLR.loss import nt_xent_loss


# ----------------------------------------------------------------------------- NT-Xent
def nt_xent_from_equation(z1, z2, tau):
    """Chen et al. 2020, Eq. 1, one anchor at a time over the 2B views."""
    views = list(z1) + list(z2)
    n, b = len(views), len(z1)
    total = 0.0
    for i in range(n):
        pos = (i + b) % n
        sim = lambda j: F.cosine_similarity(views[i], views[j], dim=0) / tau  # noqa: E731
        denom = sum(torch.exp(sim(k)) for k in range(n) if k != i)
        total = total - torch.log(torch.exp(sim(pos)) / denom)
    return total / n


@pytest.mark.parametrize("b,d,tau", [(2, 3, 1.0), (5, 8, 0.1), (7, 4, 0.5)])
def test_nt_xent_equals_loop_from_equation(b, d, tau):
    g = torch.Generator().manual_seed(b)
    z1, z2 = torch.randn(b, d, generator=g, dtype=torch.float64), torch.randn(b, d, generator=g, dtype=torch.float64)
    torch.testing.assert_close(nt_xent_loss(z1, z2, tau), nt_xent_from_equation(z1, z2, tau), rtol=1e-10, atol=1e-10)


def test_nt_xent_closed_form_two_orthogonal_pairs():
    # B = 2, each view equal to its positive, the pairs orthogonal: for every anchor the positive
    # has cos 1 and the two negatives cos 0, so l = -log(e^(1/t) / (e^(1/t) + 2)).
    z1 = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    tau = 0.5
    expected = -math.log(math.exp(1 / tau) / (math.exp(1 / tau) + 2))
    assert nt_xent_loss(z1, z1.clone(), tau).item() == pytest.approx(expected, rel=1e-6)


def test_nt_xent_sgd_steps_lower_it():
    g = torch.Generator().manual_seed(0)
    z1, z2 = torch.randn(8, 4, generator=g).requires_grad_(), torch.randn(8, 4, generator=g).requires_grad_()
    opt = torch.optim.SGD([z1, z2], lr=0.5)
    losses = []
    for _ in range(20):
        loss = nt_xent_loss(z1, z2, 0.5)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.9 * losses[0]


# ----------------------------------------------------------------------------- REBAR
def rebar_from_equation(emb_ancs, emb_cands, distances, tau, allowed=None):
    """The closest candidate (by distance) is the positive, all other (allowed) ones negatives."""
    bs, k, _ = emb_cands.shape
    total = 0.0
    for b in range(bs):
        cands = [emb_ancs[(b + 1 + j) % bs] for j in range(bs - 1)] + [emb_cands[b, i] for i in range(k)]
        ids = list(range(len(cands))) if allowed is None else allowed
        pos = min(ids, key=lambda i: (distances[i, b].item(), i))
        sims = {i: F.cosine_similarity(emb_ancs[b], cands[i], dim=0) / tau for i in ids}
        total = total - (sims[pos] - torch.log(sum(torch.exp(s) for s in sims.values())))
    return total / bs


def _case(bs=5, k=3, d=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(bs, d, generator=g, dtype=torch.float64), torch.randn(bs, k, d, generator=g, dtype=torch.float64),
            torch.rand(bs - 1 + k, bs, generator=g, dtype=torch.float64))


def test_rebar_loss_equals_loop_from_equation():
    a, c, dist = _case()
    order = torch.sort(dist, dim=0, stable=True).indices
    torch.testing.assert_close(rebar_loss(a, c, order, tau=0.2), rebar_from_equation(a, c, dist, 0.2),
                               rtol=1e-10, atol=1e-10)


def test_rebar_loss_closed_form():
    # One anchor, K = 2 candidates at cos 0 (positive) and cos 1: l = -log(e^0 / (e^0 + e^1)).
    anc = torch.tensor([[1.0, 0.0]])
    cands = torch.tensor([[[0.0, 1.0], [1.0, 0.0]]])
    order = torch.tensor([[0], [1]])
    assert rebar_loss(anc, cands, order, tau=1.0).item() == pytest.approx(math.log(1 + math.e), rel=1e-6)


class _Stub:
    """A RelCon/REBAR trainer reduced to what ``candidate_order`` needs."""

    def __init__(self, distances, candidates):
        from types import SimpleNamespace

        self._d, self.config = distances, SimpleNamespace(candidates=candidates)

    def distances(self, anchors, cands):
        return self._d


@pytest.mark.parametrize("candidates", ["both", "withinuser", "interuser"])
def test_rebar_positive_is_the_argmin_of_the_distance(candidates):
    from relcon.models.REBAR.REBAR_Model import Model

    a, c, dist = _case()
    bs, k = a.shape[0], c.shape[1]
    order = Model.candidate_order(_Stub(dist, candidates), torch.zeros(bs, 4, 3), torch.zeros(bs, k, 4, 3))
    allowed = {"both": list(range(bs - 1 + k)), "withinuser": list(range(bs - 1, bs - 1 + k)),
               "interuser": list(range(bs - 1))}[candidates]
    assert order.shape == (len(allowed), bs)
    expected = torch.tensor(allowed)[dist[allowed].argmin(dim=0)]
    assert torch.equal(order[0], expected)
    torch.testing.assert_close(rebar_loss(a, c, order, tau=0.3), rebar_from_equation(a, c, dist, 0.3, allowed),
                               rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("candidates", ["withinuser", "interuser"])
def test_candidate_ablation_keeps_relcons_loss_on_the_subset(candidates):
    """Masked candidates leave Eq. 3 entirely: the loss equals the paper's loop over the kept set."""
    from relcon.models.RelCon.RelCon_Model import Model

    a, c, dist = _case(seed=1)
    bs, k = a.shape[0], c.shape[1]
    allowed = list(range(bs - 1, bs - 1 + k)) if candidates == "withinuser" else list(range(bs - 1))
    order = Model.candidate_order(_Stub(dist, candidates), torch.zeros(bs, 4, 3), torch.zeros(bs, k, 4, 3))
    total = 0.0
    for b in range(bs):
        cands = [a[(b + 1 + j) % bs] for j in range(bs - 1)] + [c[b, i] for i in range(k)]
        sim = {i: F.cosine_similarity(a[b], cands[i], dim=0) / 0.5 for i in allowed}
        for i in allowed:
            negatives = [j for j in allowed if dist[j, b] > dist[i, b]]
            if negatives:
                denom = torch.exp(sim[i]) + sum(torch.exp(sim[j]) for j in negatives)
                total = total - (sim[i] - torch.log(denom))
    torch.testing.assert_close(relative_contrastive_loss(a, c, order, tau=0.5), total / bs, rtol=1e-10, atol=1e-10)


def test_default_candidate_order_is_the_plain_sort():
    from relcon.models.RelCon.RelCon_Model import Model

    _, c, dist = _case()
    order = Model.candidate_order(_Stub(dist, "both"), torch.zeros(5, 4, 3), torch.zeros(5, 3, 4, 3))
    assert torch.equal(order, torch.sort(dist, dim=0, stable=True).indices)


# ----------------------------------------------------------------------------- AugPred
def test_augpred_labels_are_the_transforms_applied():
    x = np.random.default_rng(0).standard_normal((64, 3))
    seen = set()
    for seed in range(40):
        out, labels = apply_tasks(x, np.random.default_rng(seed), p=0.5)
        # replay: the coin flips, then the flagged transforms in TASKS order with the same generator
        rng = np.random.default_rng(seed)
        flags = rng.random(len(TASKS)) < 0.5
        expected = x.copy()
        for (name, fn), flag in zip(TASKS, flags):
            if flag:
                expected = fn(expected, rng)
        assert labels.tolist() == flags.astype(np.float32).tolist()
        np.testing.assert_allclose(out, expected.astype(np.float32))
        seen.add(tuple(labels.tolist()))
        if labels.tolist() == [0, 0, 0]:
            np.testing.assert_allclose(out, x.astype(np.float32))
        if labels.tolist() == [1, 0, 0]:
            np.testing.assert_allclose(out, x[::-1].astype(np.float32))
        if labels.tolist() == [0, 1, 0]:  # the same rows, reordered
            assert not np.allclose(out, x)
            np.testing.assert_allclose(np.sort(out, axis=0), np.sort(x.astype(np.float32), axis=0))
    assert len(seen) == 8, "every combination of the three tasks occurs"
    assert [name for name, _ in TASKS] == ["time_reversal", "permutation", "time_warp"]
    assert [fn for _, fn in TASKS] == [time_flip, segment_permutation, time_warp]


def test_augpred_loss_is_the_mean_of_the_task_bces():
    logits = torch.tensor([[2.0, -1.0, 0.5], [0.0, 3.0, -2.0]])
    labels = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]])
    per_task = [F.binary_cross_entropy_with_logits(logits[:, t], labels[:, t]) for t in range(3)]
    assert augpred_loss(logits, labels).item() == pytest.approx(sum(per_task).item() / 3, rel=1e-6)


# ----------------------------------------------------------------------------- distances
def dtw_from_definition(x, y):
    t, u = len(x), len(y)
    r = np.full((t + 1, u + 1), np.inf)
    r[0, 0] = 0.0
    for i in range(1, t + 1):
        for j in range(1, u + 1):
            r[i, j] = ((x[i - 1] - y[j - 1]) ** 2).sum() + min(r[i - 1, j - 1], r[i - 1, j], r[i, j - 1])
    return r[t, u]


def test_dtw_equals_its_definition():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(5, 9, 3, generator=g, dtype=torch.float64), torch.randn(5, 7, 3, generator=g, dtype=torch.float64)
    got = dtw_distance(x, y, chunk=2)
    expected = torch.tensor([dtw_from_definition(x[p].numpy(), y[p].numpy()) for p in range(5)], dtype=torch.float64)
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-10)


def test_dtw_closed_forms():
    x = torch.tensor([[[0.0], [1.0], [2.0], [1.0]]])
    assert dtw_distance(x, x).item() == 0.0
    # a repeated sample is absorbed by warping: zero cost, where the Euclidean distance is not 0
    y = torch.tensor([[[0.0], [0.0], [1.0], [2.0], [1.0]]])
    assert dtw_distance(x, y).item() == 0.0
    shifted = torch.tensor([[[0.0], [0.0], [1.0], [2.0]]])
    assert euclidean_distance(x, shifted).item() > 0 and dtw_distance(x, shifted).item() == pytest.approx(1.0)


def test_euclidean_equals_its_definition():
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(4, 6, 3, generator=g), torch.randn(4, 6, 3, generator=g)
    expected = torch.stack([torch.sqrt(((x[p] - y[p]) ** 2).sum()) for p in range(4)])
    torch.testing.assert_close(euclidean_distance(x, y), expected)


@pytest.mark.parametrize("distance", ["euclidean", "dtw"])
def test_ablation_distance_matrix_pairs_each_anchor_with_its_candidates(distance):
    from types import SimpleNamespace

    from relcon.models.RelCon.RelCon_Model import Model

    g = torch.Generator().manual_seed(2)
    bs, k = 4, 2
    anchors, cands = torch.randn(bs, 8, 3, generator=g), torch.randn(bs, k, 8, 3, generator=g)
    stub = SimpleNamespace(config=SimpleNamespace(distance=distance))
    got = Model.ablation_distances(stub, anchors, cands)
    fn = euclidean_distance if distance == "euclidean" else dtw_distance
    for b in range(bs):
        others = [anchors[(b + 1 + j) % bs] for j in range(bs - 1)] + [cands[b, i] for i in range(k)]
        for row, other in enumerate(others):
            torch.testing.assert_close(got[row, b], fn(anchors[b][None], other[None])[0])
