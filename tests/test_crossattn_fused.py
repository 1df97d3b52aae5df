"""The fused sparsemax attention (``relcon/nets/CrossAttn/fused_attention.py``) against the readable
code of ``Net.attend`` (``net.fused = False``): same outputs, same attention weights (the same
dropout draws), same gradients of every parameter, up to float32 summation order.

Tolerance: rtol = atol = 1e-5 on outputs and gradients (observed differences are ~1e-7 relative;
the folded ``out_proj`` changes the order of two sums). Attention weights are compared exactly.
"""
import copy

import pytest
import torch

from relcon.nets.CrossAttn import fused_attention
from relcon.nets.CrossAttn.CrossAttn_Net import Net

PARAMS = dict(query_dimsize=3, key_dimsize=3, kernel_size=7, embed_dim=16, double_receptivefield=2)
TOL = dict(rtol=1e-5, atol=1e-5)


def pair_of_nets(**extra):
    torch.manual_seed(0)
    readable = Net(**PARAMS, **extra)
    readable.fused = False
    fused = copy.deepcopy(readable)
    fused.fused = True
    return readable, fused


def inputs(bs=5, length=48, seed=1):
    g = torch.Generator().manual_seed(seed)
    query = torch.randn(bs, length, 3, generator=g)
    key = query + 0.5 * torch.randn(bs, length, 3, generator=g) + 1.0  # offset: RevIN has work to do
    return query, key


def run(net, query, key, loss_of, seed=123):
    """Output, weights and every parameter's gradient after ``loss_of(recon, weights).backward()``."""
    net.zero_grad(set_to_none=True)
    torch.manual_seed(seed)  # the dropout draws
    recon, weights = net(query, key)
    loss_of(recon, weights).backward()
    return recon.detach(), weights.detach(), {n: p.grad for n, p in net.named_parameters()}


def assert_same(readable_run, fused_run):
    (r_out, r_w, r_grads), (f_out, f_w, f_grads) = readable_run, fused_run
    assert torch.equal(r_w, f_w)
    torch.testing.assert_close(f_out, r_out, **TOL)
    assert r_grads.keys() == f_grads.keys()
    for name in r_grads:
        assert r_grads[name] is not None, name
        scale = r_grads[name].abs().max().clamp(min=1.0)  # sums over the batch: compare relative to size
        torch.testing.assert_close(f_grads[name] / scale, r_grads[name] / scale, **TOL, msg=name)


def reconstruction_loss(query):
    return lambda recon, weights: torch.square(recon - query).sum()


@pytest.mark.parametrize("chunk_elements", [fused_attention.CPU_CHUNK_ELEMENTS, 2 * 48 * 48 + 1])
def test_training_step_matches_readable_path(monkeypatch, chunk_elements):
    # The second size gives chunks of 2 sequences and a last chunk of 1 (5 = 2 + 2 + 1).
    monkeypatch.setattr(fused_attention, "CPU_CHUNK_ELEMENTS", chunk_elements)
    readable, fused = pair_of_nets()
    query, key = inputs()
    readable.train(), fused.train()
    assert_same(run(readable, query, key, reconstruction_loss(query)),
                run(fused, query, key, reconstruction_loss(query)))


def test_dropout_draws_are_those_of_f_dropout():
    readable, fused = pair_of_nets()
    query, key = inputs()
    readable.train(), fused.train()
    _, w_readable, _ = run(readable, query, key, reconstruction_loss(query), seed=7)
    _, w_fused, _ = run(fused, query, key, reconstruction_loss(query), seed=7)
    _, w_other, _ = run(fused, query, key, reconstruction_loss(query), seed=8)
    assert torch.equal(w_fused, w_readable)
    assert not torch.equal(w_fused, w_other)  # the draws do depend on the generator
    assert ((w_fused.sum(-1) - 1).abs() > 1e-3).any()  # some weights were dropped


def test_gradient_through_the_returned_weights():
    # A loss on the attention weights as well as on the reconstruction.
    readable, fused = pair_of_nets()
    query, key = inputs(bs=3)
    r = torch.randn(3, 48, 48, generator=torch.Generator().manual_seed(5))
    readable.train(), fused.train()

    def both(recon, weights):
        return torch.square(recon - query).sum() + (weights * r).sum()

    def weights_only(recon, weights):
        return (weights * r).sum()

    for loss_of in (both, weights_only):
        a, b = run(readable, query, key, loss_of), run(fused, query, key, loss_of)
        assert torch.equal(a[1], b[1])
        for name, grad in a[2].items():
            if grad is None:  # out_proj gets no gradient from the weights alone
                assert b[2][name] is None or not b[2][name].any(), name
                continue
            scale = grad.abs().max().clamp(min=1.0)
            torch.testing.assert_close(b[2][name] / scale, grad / scale, **TOL, msg=name)


def test_eval_mode_matches_readable_path():
    readable, fused = pair_of_nets()
    query, key = inputs()
    readable.eval(), fused.eval()
    with torch.no_grad():
        r_out, r_w = readable(query, key)
        f_out, f_w = fused(query, key)
    torch.testing.assert_close(f_out, r_out, **TOL)
    assert torch.equal(f_w, r_w)


def test_other_paths_are_untouched():
    assert fused_attention.applies(torch.zeros(1, 2, 3))
    assert not fused_attention.applies(torch.zeros(1, 2, 3, dtype=torch.float64))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert not fused_attention.applies(torch.zeros(1, 2, 3))
    # float64 and the softmax attention run the readable code whatever ``fused`` says.
    query, key = inputs()
    for extra, dtype in (({}, torch.float64), ({"attention": "softmax"}, torch.float32)):
        readable, fused = pair_of_nets(**extra)
        readable.to(dtype).eval(), fused.to(dtype).eval()
        with torch.no_grad():
            a, _ = readable(query.to(dtype), key.to(dtype))
            b, _ = fused(query.to(dtype), key.to(dtype))
        assert torch.equal(a, b)
