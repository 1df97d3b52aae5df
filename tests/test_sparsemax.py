import pytest
import torch

from relcon_testutils import load_fixture
from relcon.nets.CrossAttn.utils.sparsemax import (Sparsemax, newton_threshold, sparsemax, sparsemax_inplace_,
                                                   sparsemax_threshold)

CASES = load_fixture("sparsemax.pt")["cases"]
# (method, topk): the sort-free default and the partial / full sort.
METHODS = [("newton", None), ("sort", None), ("sort", 2), ("sort", 32)]


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
@pytest.mark.parametrize("method,topk", METHODS)
def test_matches_reference_outputs_and_gradients(case, method, topk):
    x = case["logits"].clone().requires_grad_(True)
    out = sparsemax(x, dim=-1, topk=topk, method=method)
    torch.testing.assert_close(out, case["output"], rtol=1e-5, atol=1e-5)
    (out * case["weights"]).sum().backward()
    if case["autograd_matches_analytic"]:
        torch.testing.assert_close(x.grad, case["grad_logits"], rtol=1e-5, atol=1e-5)
    # The exact VJP over the support everywhere. Where a value sits exactly on the threshold the
    # reference's autograd splits the tie of max(0, z - tau) 50/50 (see tests/fixtures/README.md).
    torch.testing.assert_close(x.grad, case["grad_logits_analytic"], rtol=1e-5, atol=1e-5)


def test_tie_row_is_the_only_difference_from_reference_autograd():
    case = next(c for c in CASES if not c["autograd_matches_analytic"])
    x = case["logits"].clone().requires_grad_(True)
    (sparsemax(x) * case["weights"]).sum().backward()
    differs = (x.grad - case["grad_logits"]).abs().amax(dim=-1) > 1e-5
    assert differs.sum() == 1
    assert case["logits"][differs][0].tolist() == [2.0, 1.0, 0.0, -1.0, -2.0, -3.0]


def test_gradcheck_float64():
    torch.manual_seed(0)
    x = torch.randn(3, 4, 9, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda z: sparsemax(z, -1, 3, method="sort"), (x,))
    assert torch.autograd.gradcheck(lambda z: sparsemax(z, 1, None, method="sort"), (x,))
    assert torch.autograd.gradcheck(lambda z: sparsemax(z, 1), (x,))


def test_partial_sort_equals_full_sort_and_is_a_distribution():
    torch.manual_seed(1)
    z = torch.randn(50, 256) * torch.logspace(-2, 2, 50)[:, None]  # from dense to very sparse rows
    full = sparsemax(z, topk=None, method="sort")
    for k in (1, 4, 32, 255):
        torch.testing.assert_close(sparsemax(z, topk=k, method="sort"), full, rtol=0, atol=1e-6)
    torch.testing.assert_close(sparsemax(z), full, rtol=0, atol=1e-6)
    torch.testing.assert_close(sparsemax_inplace_(z.clone()), full, rtol=0, atol=1e-6)
    torch.testing.assert_close(full.sum(-1), torch.ones(50))
    assert (full >= 0).all()
    assert (full == 0).any()


def test_threshold_known_case():
    # z = [1, 0.5, -1]: support {0, 1}, tau = (1 + 0.5 - 1) / 2 = 0.25 -> [0.75, 0.25, 0].
    z = torch.tensor([[1.0, 0.5, -1.0]])
    torch.testing.assert_close(sparsemax_threshold(z), torch.tensor([[0.25]]))
    torch.testing.assert_close(Sparsemax()(z), torch.tensor([[0.75, 0.25, 0.0]]))


def test_newton_threshold_equals_sorted_threshold_on_attention_like_rows():
    # Peaked rows with large supports, ties, a constant row and large magnitudes.
    torch.manual_seed(2)
    z = torch.cat([torch.randn(200, 256) * s for s in (0.01, 0.3, 1.0, 5.0, 50.0)])
    z[0] = 0.0
    z[1, :3] = z[1].max() + 1.0
    z[2] += 1000.0
    zs = z - z.amax(-1, keepdim=True)
    torch.testing.assert_close(newton_threshold(zs), sparsemax_threshold(zs, topk=None), rtol=0, atol=2e-6)
    out = sparsemax(z)
    torch.testing.assert_close(out.sum(-1), torch.ones(len(z)), rtol=0, atol=1e-5)
    torch.testing.assert_close(out, sparsemax(z, topk=None, method="sort"), rtol=0, atol=2e-6)


def test_bad_method():
    with pytest.raises(ValueError, match="method"):
        sparsemax(torch.zeros(2, 3), method="bisect")
