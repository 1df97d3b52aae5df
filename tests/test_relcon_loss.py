import math

import pytest
import torch
import torch.nn.functional as F

from relcon_testutils import load_fixture
from relcon.models.RelCon.RelCon_Model import relative_contrastive_loss

CASES = load_fixture("relcon_loss.pt")["cases"]


def loss_from_paper(emb_ancs, emb_cands, distances, tau):
    """L_RelCon straight from the paper: for each candidate X_i as positive, the negatives are
    the candidates farther from the anchor than X_i; sum over candidates, mean over anchors."""
    bs, k, _ = emb_cands.shape
    total = 0.0
    for b in range(bs):
        cands = [emb_ancs[(b + 1 + j) % bs] for j in range(bs - 1)] + [emb_cands[b, i] for i in range(k)]
        d = distances[:, b]
        sim = [F.cosine_similarity(emb_ancs[b], c, dim=0) / tau for c in cands]
        for i in range(len(cands)):
            negatives = [j for j in range(len(cands)) if d[j] > d[i]]
            if not negatives:
                continue  # the farthest candidate is never a positive
            denom = torch.exp(sim[i]) + sum(torch.exp(sim[j]) for j in negatives)
            total = total - (sim[i] - torch.log(denom))
    return total / bs


@pytest.mark.parametrize("case", CASES, ids=[f"bs{c['bs']}_k{c['cands']}" for c in CASES])
def test_matches_reference_loss_and_gradients(case):
    a = case["emb_ancs"].clone().requires_grad_(True)
    c = case["emb_withinuser_cands"].clone().requires_grad_(True)
    loss = relative_contrastive_loss(a, c, case["sortedinds"], tau=case["tau"])
    torch.testing.assert_close(loss, case["loss"], rtol=1e-5, atol=1e-5)
    loss.backward()
    torch.testing.assert_close(a.grad, case["grad_emb_ancs"], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(c.grad, case["grad_emb_withinuser_cands"], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("case", CASES, ids=[f"bs{c['bs']}_k{c['cands']}" for c in CASES])
def test_equals_slow_loop_from_the_equation(case):
    expected = loss_from_paper(case["emb_ancs"].double(), case["emb_withinuser_cands"].double(),
                               case["distances"].double(), case["tau"])
    got = relative_contrastive_loss(case["emb_ancs"].double(), case["emb_withinuser_cands"].double(),
                                    case["sortedinds"], tau=case["tau"])
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-10)


def test_closed_form_single_anchor_two_candidates():
    # One anchor, K=2: farthest c0 (sim s0), closest c1 (s1): loss = -(s1 - log(e^s0 + e^s1)).
    anc = torch.tensor([[1.0, 0.0]])
    cands = torch.tensor([[[0.0, 1.0], [1.0, 1.0]]])
    sortedinds = torch.tensor([[1], [0]])  # closest first
    s0, s1 = 0.0, 1 / math.sqrt(2)
    expected = -(s1 - math.log(math.exp(s0) + math.exp(s1)))
    assert relative_contrastive_loss(anc, cands, sortedinds, tau=1.0).item() == pytest.approx(expected, rel=1e-6)


def test_stable_for_small_tau():
    case = CASES[2]
    loss = relative_contrastive_loss(case["emb_ancs"], case["emb_withinuser_cands"], case["sortedinds"], tau=1e-3)
    assert torch.isfinite(loss)


def test_sgd_steps_lower_the_loss():
    torch.manual_seed(0)
    case = CASES[2]
    a = case["emb_ancs"].clone().requires_grad_(True)
    c = case["emb_withinuser_cands"].clone().requires_grad_(True)
    opt = torch.optim.SGD([a, c], lr=0.05)
    losses = []
    for _ in range(20):
        loss = relative_contrastive_loss(a, c, case["sortedinds"], tau=case["tau"])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.9 * losses[0]


def test_loss_gradients_are_bitwise_reproducible_with_several_threads():
    """Training runs (and resumed runs) are bitwise reproducible only if every backward is: the
    gather of the inter-user candidates used to accumulate in a thread-dependent order."""
    previous = torch.get_num_threads()
    torch.set_num_threads(max(2, previous))
    try:
        gen = torch.Generator().manual_seed(0)
        b, k, d = 32, 8, 128
        emb_ancs, emb_cands = torch.randn(b, d, generator=gen), torch.randn(b, k, d, generator=gen)
        order = torch.stack([torch.randperm(b - 1 + k, generator=gen) for _ in range(b)], dim=1)
        grads = []
        for _ in range(20):
            a, c = emb_ancs.clone().requires_grad_(), emb_cands.clone().requires_grad_()
            relative_contrastive_loss(a, c, order, tau=0.1).backward()
            grads.append((a.grad, c.grad))
        assert all(torch.equal(grads[0][0], ga) and torch.equal(grads[0][1], gc) for ga, gc in grads[1:])
    finally:
        torch.set_num_threads(previous)
