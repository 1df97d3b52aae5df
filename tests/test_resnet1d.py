import hashlib

import pytest
import torch

from relcon_testutils import load_fixture
from relcon.nets.ResNet1D.ResNet1D_Net import Net

REF = load_fixture("resnet1d.pt")
# A small encoder with both block kinds (identity and projection skip) and two kernel sizes.
SMALL = dict(init_conv=dict(in_channels=3, base_filters=8, kernel_size=7, stride=2, padding=0),
             init_maxpool=dict(kernel_size=3, stride=2), finalpool="avg",
             blocks=[dict(n=2, in_channels=8, base_filters=8, kernel_size=3, stride=1),
                     dict(n=2, in_channels=8, base_filters=16, kernel_size=4, stride=1)])


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


@pytest.mark.parametrize("channels_last", [False, True])
def test_memory_saving_forward_and_backward_equal_the_module_composition(channels_last):
    torch.manual_seed(0)
    fast = Net(**SMALL)
    fast.channels_last = channels_last
    slow = Net(**SMALL)
    slow.load_state_dict(fast.state_dict())
    for step in range(2):  # two steps: running statistics and num_batches_tracked too
        x = torch.randn(6, 3, 128) * 2 + 0.5
        out_fast, out_slow = fast(x), slow.forward_modules(x)
        torch.testing.assert_close(out_fast, out_slow, rtol=1e-5, atol=1e-5)
        weights = torch.randn_like(out_slow)
        (out_fast * weights).sum().backward()
        (out_slow * weights).sum().backward()
        for (name, p_fast), p_slow in zip(fast.named_parameters(), slow.parameters()):
            torch.testing.assert_close(p_fast.grad, p_slow.grad, rtol=1e-4, atol=1e-5, msg=name)
        for (name, b_fast), b_slow in zip(fast.named_buffers(), slow.buffers()):
            torch.testing.assert_close(b_fast, b_slow, rtol=1e-5, atol=1e-6, msg=name)
    fast.eval(), slow.eval()
    with torch.no_grad():
        torch.testing.assert_close(fast(x), slow.forward_modules(x), rtol=1e-5, atol=1e-5)


def test_unfused_forward_is_the_module_composition():
    net = Net(**dict(REF["params"], blocks=REF["params"]["blocks"][:1])).eval()
    x = torch.randn(2, 3, 256)
    net.fused = False
    with torch.no_grad():
        assert torch.equal(net(x), net.forward_modules(x))


@pytest.mark.parametrize("channels_last", [False, True])
def test_reused_scratch_buffers_change_nothing(channels_last):
    """The fused training step writes its short-lived maps into buffers kept on the net
    (``fused.Scratch``). Reusing them across blocks of different widths, across two encoder
    calls before one backward (as RelCon's anchors and candidates) and across steps gives
    bit-for-bit what fresh buffers for every call give; the buffers are reused, not regrown,
    after the first step, and are neither saved nor copied."""
    import copy
    import pickle

    from relcon.nets.ResNet1D import fused

    torch.manual_seed(0)
    shared = Net(**SMALL)
    fresh = copy.deepcopy(shared)
    for net in (shared, fresh):
        net.channels_last = channels_last

    def step(net, anchors, candidates, renew):
        if renew:
            net.__dict__["_fused_scratch"] = fused.Scratch()
        emb_a = net(anchors)
        if renew:
            net.__dict__["_fused_scratch"] = fused.Scratch()
        emb_c = net(candidates)
        if renew:  # the backward takes its buffers from the scratch the forward saw last
            net.__dict__["_fused_scratch"] = fused.Scratch()
        (emb_a.square().sum() + (emb_c * emb_c.flip(0)).sum()).backward()
        return emb_a, emb_c

    pointers = []
    for _ in range(3):
        anchors, candidates = torch.randn(4, 3, 128), torch.randn(10, 3, 128) * 2 + 0.5
        out_shared = step(shared, anchors, candidates, renew=False)
        out_fresh = step(fresh, anchors, candidates, renew=True)
        for a, b in zip(out_shared, out_fresh):
            assert torch.equal(a, b)
        for (name, p), q in zip(shared.named_parameters(), fresh.parameters()):
            assert torch.equal(p.grad, q.grad), name
            p.grad, q.grad = None, None
        for (name, b), c in zip(shared.named_buffers(), fresh.buffers()):
            assert torch.equal(b, c), name
        scratch = fused.scratch_of(shared)
        pointers.append({key: buf.data_ptr() for key, buf in scratch.buffers.items()})
    # the "padded" slot is never released; the "normalised" one is released after each forward
    padded = [key for key in pointers[0] if key[0] == "padded"]
    assert padded and all(p[key] == pointers[0][key] for p in pointers for key in padded)
    assert all(key[0] in fused.Scratch.SLOTS for key in pointers[0])

    assert not any("scratch" in key for key in shared.state_dict())
    assert fused.scratch_of(copy.deepcopy(shared)).buffers == {}
    assert fused.scratch_of(pickle.loads(pickle.dumps(shared))).buffers == {}
    assert fused.scratch_of(shared).buffers  # the original keeps its own


def test_every_convolution_backward_gets_a_channels_last_gradient():
    """On the channels-last path the pooling's gradient is put into the feature maps' layout
    once (``fused._channels_last_grad``), so no block's convolution backward receives the other
    layout (which oneDNN would reorder block after block along the skip path); the values are
    those of the backward without that conversion, bit for bit."""
    import copy

    from torch.utils._python_dispatch import TorchDispatchMode

    from relcon.nets.ResNet1D import fused

    class Layouts(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.seen = []

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            if func is torch.ops.aten.convolution_backward.default:
                self.seen.append(args[0].is_contiguous(memory_format=torch.channels_last))
            return func(*args, **(kwargs or {}))

    torch.manual_seed(0)
    net = Net(**SMALL)
    net.channels_last = True
    plain = copy.deepcopy(net)
    x = torch.randn(6, 3, 128)
    layouts = Layouts()
    with layouts:
        net(x).square().sum().backward()
    assert layouts.seen and all(layouts.seen), layouts.seen

    original = fused._channels_last_grad
    fused._channels_last_grad = lambda grad: grad
    try:
        with (layouts := Layouts()):
            plain(x).square().sum().backward()
    finally:
        fused._channels_last_grad = original
    assert not all(layouts.seen)  # without it some convolutions get the contiguous layout
    for (name, p), q in zip(net.named_parameters(), plain.parameters()):
        assert torch.equal(p.grad, q.grad), name
