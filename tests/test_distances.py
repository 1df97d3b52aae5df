import pytest
import torch

from relcon_testutils import load_fixture
from relcon.models.RelCon.RelCon_Model import compute_candidate_distances
from relcon.testing import pairwise_candidate_distances
from relcon.nets.CrossAttn.CrossAttn_Net import Net

REF = load_fixture("crossattn.pt")


def inputs(bs=5, k=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(256) / 100.0
    base = torch.sin(2 * torch.pi * t)[None, :, None] * torch.rand(bs, 1, 3, generator=g) * 2
    anchors = base + torch.randn(bs, 256, 3, generator=g) * 0.3 + torch.rand(bs, 1, 3, generator=g)
    cands = anchors[:, None] + torch.randn(bs, k, 256, 3, generator=g) * 0.5
    return anchors, cands


@pytest.mark.parametrize("attention", ["sparsemax", "softmax"])
@pytest.mark.parametrize("chunk", [3, 7, 14, 1000])  # part of an anchor's 7 pairs, all, 2 anchors, all anchors
def test_batched_equals_pairwise(attention, chunk):
    net = Net(**REF["params"], attention=attention)
    net.load_state_dict(REF["state_dict"])
    anchors, cands = inputs()
    fast = compute_candidate_distances(net, anchors, cands, chunk=chunk)
    slow = pairwise_candidate_distances(net, anchors, cands)
    assert fast.shape == (5 - 1 + 3, 5)
    torch.testing.assert_close(fast, slow, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("attention", ["sparsemax", "softmax"])
def test_batched_equals_pairwise_for_offset_signals_and_trained_revin(attention):
    # Gravity-like channels (mean 1 g, small spread) and a non-identity RevIN affine map: the
    # fast path recombines the first query layer from per-channel responses, which must not
    # lose precision to cancellation here.
    net = Net(**REF["params"], attention=attention)
    net.load_state_dict(REF["state_dict"])
    with torch.no_grad():
        net.revin.affine_weight.copy_(torch.tensor([0.7, 1.3, 1.1]))
        net.revin.affine_bias.copy_(torch.tensor([0.2, -0.4, 0.1]))
    anchors, cands = inputs(bs=4, k=3, seed=1)
    offset = torch.tensor([0.0, 0.0, 1.0])
    anchors, cands = offset + 0.02 * anchors, offset + 0.02 * cands
    fast = compute_candidate_distances(net, anchors, cands, chunk=5)
    slow = pairwise_candidate_distances(net, anchors, cands)
    torch.testing.assert_close(fast, slow, rtol=1e-5, atol=0)


def test_layout_of_rows():
    net = Net(**REF["params"])
    net.load_state_dict(REF["state_dict"])
    anchors, cands = inputs(bs=4, k=2)
    d = compute_candidate_distances(net, anchors, cands)
    with torch.no_grad():
        net.eval()
        for b in range(4):
            for j in range(3):
                other = anchors[(b + 1 + j) % 4][None]
                r, _ = net(anchors[b][None], other)
                assert d[j, b].item() == pytest.approx(((r - anchors[b]) ** 2).sum().item(), rel=1e-5)
            r, _ = net(anchors[b][None], cands[b, 1][None])
            assert d[3 + 1, b].item() == pytest.approx(((r - anchors[b]) ** 2).sum().item(), rel=1e-5)


def test_mode_restored_and_no_grad():
    net = Net(**REF["params"]).train()
    anchors, cands = inputs(bs=3, k=2)
    d = compute_candidate_distances(net, anchors, cands)
    assert net.training and not d.requires_grad
    net.eval()
    compute_candidate_distances(net, anchors, cands)
    assert not net.training


def test_single_anchor_has_only_within_user_rows():
    net = Net(**REF["params"])
    anchors, cands = inputs(bs=1, k=4)
    assert compute_candidate_distances(net, anchors, cands).shape == (4, 1)


def test_relcon_step_loss_equals_the_simple_composition(tmp_path):
    """The trainer's loss (batched distances, memory-saving encoder) equals the loss built from
    the simple pieces: the pairwise distance loop, the encoder's modules one by one, and the
    relative contrastive loss written as a loop from the paper's equation."""
    import copy

    from test_relcon_loss import loss_from_paper

    from relcon.data.Base_Dataset import SSLDataConfig
    from relcon.models.RelCon.RelCon_Model import Model, RelCon_ModelConfig
    from relcon.nets.Base_Nets import Base_NetConfig

    params = dict(init_conv=dict(in_channels=3, base_filters=8, kernel_size=7, stride=2, padding=0),
                  init_maxpool=dict(kernel_size=3, stride=2), finalpool="avg",
                  blocks=[dict(n=1, in_channels=8, base_filters=16, kernel_size=4, stride=1)])
    config = RelCon_ModelConfig(motifdist_expconfig_key="none", withinuser_cands=3, tau=0.1,
                                data_config=SSLDataConfig(data_folder=str(tmp_path)),
                                net_config=Base_NetConfig("ResNet1D", "ResNet1D_Net", params))
    net = Net(**REF["params"])
    net.load_state_dict(REF["state_dict"])
    torch.manual_seed(0)
    model = Model(config, motifdist_net=copy.deepcopy(net), run_dir=tmp_path / "run")
    encoder = copy.deepcopy(model.net)
    model.net.train(), encoder.train()
    anchors, cands = inputs(bs=6, k=3, seed=2)
    loss = model.compute_loss({"signal": anchors, "withinuser_cand_signals": cands}, train=True)

    distances = pairwise_candidate_distances(net, anchors, cands)
    emb_ancs = encoder.forward_modules(anchors.transpose(1, 2))
    emb_cands = encoder.forward_modules(cands.reshape(-1, 256, 3).transpose(1, 2)).view(6, 3, -1)
    expected = loss_from_paper(emb_ancs.double(), emb_cands.double(), distances.double(), 0.1)
    torch.testing.assert_close(loss.double(), expected, rtol=1e-4, atol=1e-4)
