import hashlib

import pytest
import torch

from relcon_testutils import load_fixture
from relcon.nets.ResNet1D.ResNet1D_Net import Net

REF = load_fixture("resnet1d.pt")


def rebuild_state_dict():
    """The reference seed-0 state_dict, rebuilt from the fixture's recipe."""
    recipe = REF["state_dict_recipe"]
    torch.manual_seed(recipe["seed"])
    state = {}
    for e in recipe["entries"]:
        dtype = getattr(torch, e["dtype"])
        if e["fill"] == "uniform":
            state[e["key"]] = torch.empty(e["shape"], dtype=dtype).uniform_(e["low"], e["high"])
        else:
            state[e["key"]] = torch.full(e["shape"], e["value"], dtype=dtype)
    return state


@pytest.fixture(scope="module")
def reference_state():
    state = rebuild_state_dict()
    for key, digest in REF["state_dict_sha256"].items():
        t = state[key].contiguous()
        assert hashlib.sha256(t.numpy().tobytes()).hexdigest() == digest, key
    return state


def test_keys_and_shapes(reference_state):
    net = Net(**REF["params"])
    assert [(k, tuple(v.shape)) for k, v in net.state_dict().items()] == \
        [(k, tuple(s)) for k, s, _ in REF["state_dict_keys"]]
    assert sum(v.numel() for v in net.state_dict().values()) == 3_644_571


def test_eval_train_outputs_and_bn_buffers(reference_state):
    net = Net(**REF["params"])
    net.load_state_dict(reference_state, strict=True)
    net.eval()
    with torch.no_grad():
        torch.testing.assert_close(net(REF["x"]), REF["out_eval"], rtol=1e-5, atol=1e-5)
        net.train()
        torch.testing.assert_close(net(REF["x"]), REF["out_train"], rtol=1e-5, atol=1e-5)
    state = net.state_dict()
    for key, value in REF["bn_buffers_after_train"].items():
        torch.testing.assert_close(state[key], value, rtol=1e-5, atol=1e-6)


def test_seeded_construction_equals_recipe(reference_state):
    torch.manual_seed(REF["seed"])
    net = Net(**REF["params"])
    for key, value in reference_state.items():
        assert torch.equal(net.state_dict()[key], value), key


def test_max_pool_and_errors():
    params = dict(REF["params"], finalpool="max")
    net = Net(**params).eval()
    assert net(torch.randn(2, 3, 256)).shape == (2, 256)
    with pytest.raises(ValueError, match="finalpool"):
        Net(**dict(REF["params"], finalpool="mean"))
    with pytest.raises(ValueError, match="expects"):
        net(torch.randn(2, 256, 3))
