"""Mixed precision (``precision="bf16"``, ``relcon/utils/precision.py``): bfloat16 forward passes
close to float32 ones, float32 where it matters (sparsemax, distances, losses, parameters,
optimiser state, embeddings), and ``"fp32"`` exactly today's computation."""
import copy
import hashlib
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from relcon_testutils import FIXTURES, REPO, run_env, write_tree

from relcon.data.Base_Dataset import SSLDataConfig
from relcon.models.AugPred.AugPred_Model import AugPred_ModelConfig
from relcon.models.MotifDist.MotifDist_Model import MotifDist_ModelConfig
from relcon.models.REBAR.REBAR_Model import REBAR_ModelConfig
from relcon.models.RelCon.RelCon_Model import RelCon_ModelConfig
from relcon.models.SimCLR.SimCLR_Model import SimCLR_ModelConfig
from relcon.nets.CrossAttn.CrossAttn_Net import Net as CrossAttn
from relcon.nets.CrossAttn.utils.sparsemax import sparsemax, sparsemax_inplace_
from relcon.utils.imports import import_model, import_net
from relcon.utils.precision import autocast, check_precision
from tinyconfigs import tiny_crossattn, tiny_resnet

BF16 = dict(device_type="cpu", dtype=torch.bfloat16)
# bfloat16 keeps 8 mantissa bits (relative rounding 2^-8 = 0.4% per value); through the nets'
# layers the outputs measured differ from float32 by 0.3-0.8% (relative L2). Bounds with margin:
NET_RTOL = 0.03  # relative L2 error of a bf16 forward pass against float32
EMBED_RTOL = 0.03  # relative L2 error of bf16 embeddings against float32


def motion(n, seed=0):
    """(n, 256, 3) wrist-like signals in g: a periodic movement on top of gravity, plus noise."""
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(256) / 100.0
    amplitude = torch.rand(n, 1, 3, generator=g) + 0.2
    x = torch.sin(2 * torch.pi * 1.5 * t)[None, :, None] * amplitude + 0.1 * torch.randn(n, 256, 3, generator=g)
    return x + torch.tensor([0.0, 0.0, 1.0])


def rel_l2(a, b):
    return float((a.detach().float() - b.detach().float()).norm() / b.detach().float().norm())


# ----------------------------------------------------------------------------- nets
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_crossattn_bf16_forward_close_to_fp32(mode):
    torch.manual_seed(0)
    net = import_net(tiny_crossattn())
    getattr(net, mode)()
    q, k = motion(6, seed=1), motion(6, seed=2)
    torch.manual_seed(3)  # the same dropout draws in both
    ref, _ = net(q, k)
    torch.manual_seed(3)
    seen = []
    net.out_proj.register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    with torch.autocast(**BF16):
        out, weights = net(q, k)
    assert seen == [torch.bfloat16]  # the products did run in bf16
    assert out.dtype == torch.float32  # de-normalised by RevIN in float32
    assert weights is None or weights.dtype == torch.float32  # sparsemax in float32
    assert 0 < rel_l2(out, ref) < NET_RTOL


def test_pair_distances_bf16_float32_and_close():
    torch.manual_seed(0)
    net = import_net(tiny_crossattn()).eval()
    q, k = motion(4, seed=1), motion(6, seed=2)
    ids = torch.tensor([[0, 1, 2], [3, 4, 5], [1, 3, 5], [0, 2, 4]])
    ref = net.pair_distances(q, k, ids)
    with torch.autocast(**BF16):
        out = net.pair_distances(q, k, ids)
    assert out.dtype == torch.float32
    assert 0 < rel_l2(out, ref) < NET_RTOL


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_resnet1d_bf16_forward_close_to_fp32(mode):
    torch.manual_seed(0)
    net = import_net(tiny_resnet())
    getattr(net, mode)()
    x = motion(8).transpose(1, 2).contiguous()
    ref = net(x)
    if mode == "train":  # batch norm updated its running statistics: start the second pass from the same ones
        torch.manual_seed(0)
        net = import_net(tiny_resnet()).train()
    with torch.autocast(**BF16):
        out = net(x)
    assert out.dtype == torch.bfloat16  # the convolutions ran in bf16
    assert 0 < rel_l2(out, ref) < NET_RTOL


@pytest.mark.parametrize("channels_last", [False, True])
def test_resnet1d_fused_bf16_step_as_accurate_as_the_modules_under_autocast(channels_last):
    """Under autocast the fused path runs its convolutions in bf16 as autocast runs the modules:
    bf16 maps, float32 parameter gradients, and output and gradients no further from float32
    than the module composition's under autocast."""
    torch.manual_seed(0)
    fused = import_net(tiny_resnet()).train()
    fused.channels_last = channels_last
    modules, fp32 = copy.deepcopy(fused), copy.deepcopy(fused)
    x = motion(16).transpose(1, 2).contiguous()
    weights = torch.randn(16, fused.embed_dim, generator=torch.Generator().manual_seed(1))
    outputs = {}
    for name, net, forward, bf16 in (("fused", fused, fused.forward, True),
                                     ("modules", modules, modules.forward_modules, True),
                                     ("fp32", fp32, fp32.forward, False)):
        with KernelDtypes() as kernels, torch.autocast(**BF16, enabled=bf16):
            out = forward(x)
        (out.float() * weights).sum().backward()
        outputs[name] = out
        assert kernels.seen == ({torch.bfloat16} if bf16 else {torch.float32}), name
    assert outputs["fused"].dtype == torch.bfloat16
    assert 0 < rel_l2(outputs["fused"], outputs["fp32"]) < NET_RTOL
    assert rel_l2(outputs["fused"], outputs["fp32"]) < 2 * rel_l2(outputs["modules"], outputs["fp32"])
    grads = {name: torch.cat([p.grad.flatten() for p in net.parameters()])
             for name, net in (("fused", fused), ("modules", modules), ("fp32", fp32))}
    assert all(p.grad.dtype == torch.float32 for p in fused.parameters())
    assert 0 < rel_l2(grads["fused"], grads["fp32"]) < 2 * rel_l2(grads["modules"], grads["fp32"])
    for (name, b_fused), b_modules in zip(fused.named_buffers(), modules.buffers()):  # running statistics
        torch.testing.assert_close(b_fused.float(), b_modules.float(), rtol=0.02, atol=0.02, msg=name)


def test_sparsemax_under_autocast_is_float32_and_sums_to_one():
    g = torch.Generator().manual_seed(0)
    scores = 3 * torch.randn(4, 32, 64, generator=g)
    ref = sparsemax(scores)
    low = scores.bfloat16()
    with torch.autocast(**BF16):
        weights = sparsemax(low)
        inplace = sparsemax_inplace_(low.clone())
    for w in (weights, inplace):
        assert w.dtype == torch.float32
        torch.testing.assert_close(w.sum(-1), torch.ones(4, 32), atol=1e-6, rtol=0)
        # equal to float32 sparsemax of the rounded scores; within bf16 rounding of the exact scores
        torch.testing.assert_close(w, sparsemax(low.float()), atol=1e-6, rtol=0)
        assert (w - ref).abs().max() < 0.05
    # float32 and float64 inputs keep their dtype (and the float64 fixtures their precision)
    assert sparsemax(scores.double()).dtype == torch.float64


def test_sparsemax_backward_under_autocast():
    scores = torch.randn(3, 8, 16, requires_grad=True)
    with torch.autocast(**BF16):
        w = sparsemax(scores.bfloat16())
    (w * torch.arange(16.0)).sum().backward()
    assert scores.grad.dtype == torch.float32 and torch.isfinite(scores.grad).all()


# ----------------------------------------------------------------------------- config
def test_invalid_precision_one_line_error():
    with pytest.raises(ValueError) as e:
        MotifDist_ModelConfig(data_config=SSLDataConfig(data_folder="x"), net_config=tiny_crossattn(),
                              precision="fp16")
    assert str(e.value) == "precision='fp16': expected one of 'fp32', 'bf16'"
    with pytest.raises(ValueError, match="precision='half'"):
        check_precision("half")
    with pytest.raises(ValueError, match="precision='fp16'"):
        autocast("fp16", "cpu")


def test_slow_cpu_warning_once(monkeypatch):
    import warnings

    from relcon.utils import precision

    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: False)
    monkeypatch.setattr(precision, "_warned_slow_cpu", False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(3):
            with autocast("bf16", "cpu"):
                pass
        with autocast("fp32", "cpu"):
            pass
    slow = [w for w in caught if "without native bfloat16" in str(w.message)]
    assert len(slow) == 1


def test_kernels_held_to_avx2_count_as_no_native_bf16(monkeypatch):
    from relcon.utils import precision

    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX2")
    assert precision.cpu_has_native_bf16() is False
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX512")
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    assert precision.cpu_has_native_bf16() is False
    monkeypatch.setattr(precision, "_warned_slow_cpu", False)
    with pytest.warns(UserWarning, match=r"kernels AVX512.*13.6x .* 7.5x slower"):
        with autocast("bf16", "cpu"):
            pass


def test_old_checkpoint_config_loads_with_fp32():
    from relcon.config import config_from_dict, config_to_dict
    from relcon.runs import load_checkpoint, resume_differences

    for name in ("relcon_latest.pt", "motifdist_best.pt"):
        saved = load_checkpoint(FIXTURES / "legacy_run" / name)["config"]
        assert "precision" not in saved  # written before the field existed
        config = config_from_dict(saved)
        assert config.precision == "fp32"
        assert resume_differences(saved, config_to_dict(config)) == []
        # switching the precision is allowed on resume (a run-time numeric setting)
        config.precision = "bf16"
        assert resume_differences(saved, config_to_dict(config)) == []


def test_run_exp_precision_option():
    from relcon.experiments.runner import RunOptions, build_parser, prepare

    args = build_parser().parse_args(["--config", "demo", "--precision", "bf16"])
    options = RunOptions.from_args(args)
    assert options.precision == "bf16" and options.for_prerequisite().precision == "bf16"
    config = prepare("demo", precision=options.precision)
    assert config.precision == "bf16" and config.eval_configs
    assert all(ev.precision == "bf16" for ev in config.eval_configs)
    assert prepare("demo").precision == "fp32"  # without the flag: the config's own
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--config", "demo", "--precision", "fp16"])
    with pytest.raises(ValueError, match="precision='fp16': expected one of 'fp32', 'bf16'"):
        prepare("demo", overrides=["precision=fp16"])


# ----------------------------------------------------------------------------- trainers
def make_trainer(kind, tree, run_dir, **extra):
    data = SSLDataConfig(data_folder=str(tree))
    common = dict(data_config=data, epochs=1, lr=1e-3, batch_size=4, save_epochfreq=100, **extra)
    distance = {}
    if kind == "motifdist":
        config = MotifDist_ModelConfig(net_config=tiny_crossattn(), **common)
    elif kind in ("relcon", "rebar"):
        cls = RelCon_ModelConfig if kind == "relcon" else REBAR_ModelConfig
        config = cls(motifdist_expconfig_key="none", withinuser_cands=3, net_config=tiny_resnet(), **common)
        torch.manual_seed(1)
        md_config = MotifDist_ModelConfig(data_config=data, net_config=tiny_crossattn())
        distance = dict(motifdist_net=CrossAttn(**tiny_crossattn().params), motifdist_config=md_config)
    elif kind == "simclr":
        config = SimCLR_ModelConfig(net_config=tiny_resnet(), proj_hidden=16, proj_dim=8, **common)
    else:
        config = AugPred_ModelConfig(net_config=tiny_resnet(), **common)
    torch.manual_seed(0)
    model = import_model(config, train_data=tree / "train", run_dir=run_dir, device="cpu", **distance)
    model.configure_optimizer()
    return model


def one_step(model, tree, steps=1):
    """``steps`` optimiser steps of the shared loop (``run_one_epoch``) on the first batches."""
    loader = model.setup_dataloader(tree / "train", None, train=True)
    batches = []
    for batch in loader:
        batches.append(batch)
        if len(batches) == steps:
            break
    return model.run_one_epoch(batches_loader(loader, batches), True, 0)


class batches_loader:
    """A loader over given batches, with the attributes ``run_one_epoch`` reads."""

    def __init__(self, loader, batches):
        self.batches, self.dataset, self.batch_size, self.sampler = batches, loader.dataset, loader.batch_size, None

    def __iter__(self):
        return iter(self.batches)

    def __len__(self):
        return len(self.batches)


TRAINERS = ["motifdist", "relcon", "rebar", "simclr", "augpred"]


class KernelDtypes(TorchDispatchMode):
    """Records the output dtype of every convolution and matrix product that runs (below
    autograd and autocast, so it sees the kernels as dispatched, whichever code path called them)."""

    PRODUCTS = {"convolution", "mm", "addmm", "bmm", "baddbmm"}

    def __init__(self):
        super().__init__()
        self.seen = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if func.overloadpacket.__name__ in self.PRODUCTS and isinstance(out, torch.Tensor):
            self.seen.add(out.dtype)
        return out


@pytest.mark.parametrize("kind", TRAINERS)
def test_bf16_training_step_finite_with_float32_state(kind, tmp_path, one_thread):
    tree = write_tree(tmp_path / "tree", subjects=(2, 1, 1), hours=1, segments=6)
    model = make_trainer(kind, tree, tmp_path / "run", precision="bf16")
    with KernelDtypes() as kernels:
        loss = one_step(model, tree)
    assert np.isfinite(loss)
    assert torch.bfloat16 in kernels.seen, "the forward pass did not run under bf16 autocast"
    for name, p in model.net.named_parameters():
        assert p.dtype == torch.float32, name
    states = list(model.optimizer.state.values())
    assert states, "the optimiser took no step"
    for state in states:
        for key in ("exp_avg", "exp_avg_sq"):
            assert state[key].dtype == torch.float32, key


def digest(module):
    h = hashlib.sha256()
    for key, value in module.state_dict().items():
        h.update(key.encode())
        h.update(value.detach().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


@pytest.mark.parametrize("kind", ["motifdist", "relcon"])
def test_fp32_step_bitwise_as_without_the_option(kind, tmp_path, one_thread):
    """Default, explicit "fp32", and the loop's step done by hand without any precision code give
    the same bits."""
    tree = write_tree(tmp_path / "tree", subjects=(2, 1, 1), hours=1, segments=6)
    losses, nets = [], []
    for run, extra in (("a", {}), ("b", {"precision": "fp32"})):
        model = make_trainer(kind, tree, tmp_path / run, **extra)
        torch.manual_seed(5)  # the same dropout draws
        losses.append(one_step(model, tree, steps=2))
        nets.append(model.net)
    default, explicit = nets

    by_hand = make_trainer(kind, tree, tmp_path / "c")
    loader = by_hand.setup_dataloader(tree / "train", None, train=True)
    by_hand.net.train()
    torch.manual_seed(5)
    total = 0.0
    for step, batch in zip(range(2), loader):
        loss = type(by_hand).compute_loss(by_hand, batch, True)  # no autocast context anywhere
        by_hand.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        by_hand.optimizer.step()
        total += float(loss.detach())
    assert losses[0] == losses[1] == total / 2
    assert digest(default) == digest(explicit) == digest(by_hand.net)


def test_bf16_distances_float32_and_close(tmp_path, one_thread):
    tree = write_tree(tmp_path / "tree", subjects=(2, 1, 1), hours=1, segments=6)
    models = {p: make_trainer("relcon", tree, tmp_path / p, precision=p) for p in ("fp32", "bf16")}
    batch = next(iter(models["fp32"].setup_dataloader(tree / "train", None, train=True)))
    anchors, cands = models["fp32"].batch_signals(batch)
    d = {p: m.distances(anchors, cands) for p, m in models.items()}
    assert d["bf16"].dtype == torch.float32 and d["bf16"].shape == d["fp32"].shape
    assert 0 < rel_l2(d["bf16"], d["fp32"]) < NET_RTOL


def test_resume_in_other_precision_is_logged(tmp_path, one_thread):
    tree = write_tree(tmp_path / "tree", subjects=(2, 1, 1), hours=1, segments=6)
    make_trainer("augpred", tree, tmp_path / "run").fit()
    model = make_trainer("augpred", tree, tmp_path / "run", precision="bf16")
    model.resume_on, model.epochs = True, 2
    history = model.fit()
    assert [h["epoch"] for h in history] == [0, 1] and np.isfinite(history[-1]["train_loss"])
    log = (tmp_path / "run" / "log.txt").read_text()
    assert "precision changed on resume: fp32 before, bf16 from here on" in log


# ----------------------------------------------------------------------------- evaluations, embeddings
def test_feature_extraction_bf16_float32_and_close():
    from relcon.eval.Base_Eval import extract_features

    torch.manual_seed(0)
    encoder = import_net(tiny_resnet())
    X = motion(10).transpose(1, 2).numpy()
    ref = extract_features(encoder, X, batch_size=4, desc=None)
    out = extract_features(encoder, X, batch_size=4, desc=None, precision="bf16")
    assert out.dtype == np.float32 and out.shape == ref.shape
    assert 0 < np.linalg.norm(out - ref) / np.linalg.norm(ref) < EMBED_RTOL


def legacy_run(tmp_path):
    run = tmp_path / "tiny_relcon"
    run.mkdir()
    shutil.copy(FIXTURES / "legacy_run" / "relcon_latest.pt", run / "checkpoint_latest.pkl")
    shutil.copy(FIXTURES / "legacy_run" / "relcon_config.json", run / "config.json")
    return run


def test_embed_bf16_float32_and_close(tmp_path):
    import relcon
    from relcon.embed import embed

    encoder = relcon.load_encoder(legacy_run(tmp_path), ckpt="latest")
    x = motion(1)[0].repeat(4, 1).numpy()  # a (1024, 3) recording: 4 windows
    ref = embed(x, encoder, progress=False)
    out = embed(x, encoder, progress=False, precision="bf16")
    assert out.dtype == np.float32 and out.shape == ref.shape == (4, 16)
    assert 0 < np.linalg.norm(out - ref) / np.linalg.norm(ref) < EMBED_RTOL
    with pytest.raises(ValueError, match="precision='fp16': expected one of 'fp32', 'bf16'"):
        embed(x, encoder, progress=False, precision="fp16")


def test_embed_cli_precision(tmp_path):
    run = legacy_run(tmp_path)
    np.save(tmp_path / "rec.npy", motion(1)[0].repeat(4, 1).numpy())
    outputs = {}
    for precision in ("fp32", "bf16"):
        out = tmp_path / f"{precision}.npy"
        r = subprocess.run([sys.executable, "-m", "relcon.embed", "--run-dir", str(run), "--ckpt", "latest",
                            "--input", str(tmp_path / "rec.npy"), "--output", str(out), "--device", "cpu",
                            "--quiet", "--precision", precision], capture_output=True, text=True, cwd=REPO,
                           env=run_env(tmp_path / "out"), timeout=300)
        assert r.returncode == 0, r.stderr
        assert "padding='same'" not in r.stderr  # torch's even-kernel warning is ours to silence (plain modules in bf16)
        outputs[precision] = np.load(out)
    assert outputs["bf16"].dtype == np.float32
    assert 0 < np.linalg.norm(outputs["bf16"] - outputs["fp32"]) / np.linalg.norm(outputs["fp32"]) < EMBED_RTOL
    r = subprocess.run([sys.executable, "-m", "relcon.embed", "--run-dir", str(run), "--input", "x.npy",
                        "--output", "y.npy", "--precision", "fp16"], capture_output=True, text=True, cwd=REPO,
                       env=run_env(tmp_path / "out"), timeout=300)
    assert r.returncode == 2 and "invalid choice: 'fp16'" in r.stderr
