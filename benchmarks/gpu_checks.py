#!/usr/bin/env python
"""CUDA checks of the fast paths (run by benchmarks/gpu_check.sh on a GPU machine).

    python benchmarks/gpu_checks.py [--device cuda] [--json PATH]

Each check prints PASS/FAIL with its numbers: candidate distances batched vs the pairwise
loop (both attention paths, TF32 off), exact sparsemax (sort-free vs sort), the ResNet1D
memory-saving step vs the module composition (both layouts), the same under bf16 autocast
(the fused path's error to float32 against the module composition's), and a short DDP-free training
step of each trainer on the device. Exit status 1 if any check fails.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

RESULTS = []


def check(name):
    def decorator(fn):
        def run(device):
            t0 = time.time()
            try:
                info = fn(device) or {}
                ok = info.pop("ok", True)
            except Exception as e:  # report and go on with the other checks
                ok, info = False, {"error": f"{type(e).__name__}: {e}", "trace": traceback.format_exc(limit=3)}
            info["seconds"] = round(time.time() - t0, 2)
            RESULTS.append({"check": name, "ok": ok, **info})
            print(f"{'PASS' if ok else 'FAIL'} {name}: {json.dumps(info, default=str)[:400]}", flush=True)
        return run
    return decorator


@check("distances batched == pairwise (sparsemax, softmax)")
def distances(device):
    from relcon.models.RelCon.RelCon_Model import compute_candidate_distances
    from relcon.testing import pairwise_candidate_distances
    from relcon.nets.CrossAttn.CrossAttn_Net import Net

    out = {"ok": True}
    for attention in ("sparsemax", "softmax"):
        torch.manual_seed(0)
        net = Net(query_dimsize=3, key_dimsize=3, kernel_size=15, embed_dim=64, double_receptivefield=2,
                  attention=attention).to(device)
        anchors = torch.randn(16, 256, 3, device=device) + torch.tensor([0.0, 0.0, 1.0], device=device)
        cands = anchors[:, None] + 0.5 * torch.randn(16, 5, 256, 3, device=device)
        fast = compute_candidate_distances(net, anchors, cands)
        slow = pairwise_candidate_distances(net, anchors, cands)
        rel = float(((fast - slow).abs() / slow.abs()).max())
        out[f"{attention}_max_rel_diff"] = rel
        out["ok"] &= rel <= 1e-5
    return out


@check("sparsemax sort-free == sorted (values and gradients)")
def sparsemax_check(device):
    from relcon.nets.CrossAttn.utils.sparsemax import sparsemax

    torch.manual_seed(0)
    z = (torch.randn(64, 256, 256, device=device) * 2).requires_grad_()
    g = torch.randn_like(z)
    a = sparsemax(z)
    (ga,) = torch.autograd.grad((a * g).sum(), z)
    b = sparsemax(z, topk=None, method="sort")
    (gb,) = torch.autograd.grad((b * g).sum(), z)
    diff, gdiff = float((a - b).detach().abs().max()), float((ga - gb).abs().max())
    return {"ok": diff <= 1e-5 and gdiff <= 1e-4, "max_abs_diff": diff, "grad_max_abs_diff": gdiff}


@check("ResNet1D memory-saving step as accurate as the module composition (both layouts, vs float64)")
def resnet(device):
    from relcon.experiments.configs.RelCon_expconfigs import RESNET1D_PARAMS
    from relcon.nets.ResNet1D.ResNet1D_Net import Net

    def grads(net, x, forward):
        net.zero_grad()
        out = forward(net, x)
        out.square().sum().backward()
        return out.detach().double(), [p.grad.double() for p in net.parameters()]

    torch.manual_seed(0)
    base = Net(**RESNET1D_PARAMS)
    x = torch.randn(32, 3, 256, device=device)
    exact = Net(**RESNET1D_PARAMS).to(device).double()
    exact.load_state_dict(base.state_dict())
    out64, g64 = grads(exact, x.double(), Net.forward_modules)
    scale = max(float(g.abs().max()) for g in g64)

    def error(out, g):
        """Largest output error, and largest gradient error relative to the largest gradient (the
        biases of convolutions followed by batch norm have gradient 0 up to rounding noise)."""
        return (float((out - out64).abs().max()), max(float((a - b).abs().max()) for a, b in zip(g, g64)) / scale)

    reference = Net(**RESNET1D_PARAMS).to(device)
    reference.load_state_dict(base.state_dict())
    ref_out_err, ref_grad_err = error(*grads(reference, x, Net.forward_modules))
    result = {"ok": True, "module_composition": {"out_err": ref_out_err, "grad_err": ref_grad_err}}
    for layout in (False, True):
        fast = Net(**RESNET1D_PARAMS).to(device)
        fast.load_state_dict(base.state_dict())
        fast.channels_last = layout
        out_err, grad_err = error(*grads(fast, x, lambda n, v: n(v)))
        result[f"channels_last={layout}"] = {"out_err": out_err, "grad_err": grad_err}
        # float32 against float64 through 13 blocks: about 1e-6 on outputs, 1e-4 on gradients.
        result["ok"] &= out_err <= max(4 * ref_out_err, 1e-5) and grad_err <= max(4 * ref_grad_err, 1e-3)
    return result


@check("ResNet1D fused path under bf16 autocast vs the module composition under autocast (error to float32)")
def resnet_bf16(device):
    from relcon.experiments.configs.RelCon_expconfigs import RESNET1D_PARAMS
    from relcon.nets.ResNet1D.ResNet1D_Net import Net

    torch.manual_seed(0)
    base = Net(**RESNET1D_PARAMS)
    x = torch.randn(32, 3, 256, device=device)
    weights = torch.randn(32, base.embed_dim, device=device)
    outs, grads = {}, {}
    for name, bf16, forward in (("fp32", False, Net.forward_modules), ("modules", True, Net.forward_modules),
                                ("fused", True, Net.forward)):
        net = Net(**RESNET1D_PARAMS).to(device)
        net.load_state_dict(base.state_dict())
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            out = forward(net, x)
        (out.float() * weights).sum().backward()
        outs[name] = out.float().detach()
        grads[name] = torch.cat([p.grad.flatten() for p in net.parameters()])
        if name == "fused":
            dtypes = {str(out.dtype)} | {str(p.grad.dtype) for p in net.parameters()}

    def rel(a, b):
        return float((a - b).norm() / b.norm())

    result = {name: {"out_rel_err": rel(outs[name], outs["fp32"]), "grad_rel_err": rel(grads[name], grads["fp32"])}
              for name in ("modules", "fused")}
    result["fused_dtypes"] = sorted(dtypes)
    result["ok"] = (dtypes == {"torch.bfloat16", "torch.float32"}
                    and result["fused"]["out_rel_err"] <= 2 * result["modules"]["out_rel_err"] + 1e-3
                    and result["fused"]["grad_rel_err"] <= 2 * result["modules"]["grad_rel_err"] + 1e-3)
    return result


@check("trainer steps on the device (MotifDist, RelCon, loss finite, weights move)")
def trainers(device):
    import tempfile

    from relcon.experiments.registry import get_config
    from relcon.models.MotifDist.MotifDist_Model import Model as MotifDist
    from relcon.models.RelCon.RelCon_Model import Model as RelCon

    out = {"ok": True}
    md_config, rc_config = get_config("25_3_8_motifdist"), get_config("25_3_8_relcon")
    md = MotifDist(md_config, run_dir=tempfile.mkdtemp(), device=device)
    frozen = type(md.net)(**md_config.net_config.params)
    frozen.load_state_dict(md.net.state_dict())
    rc = RelCon(rc_config, motifdist_net=frozen, run_dir=tempfile.mkdtemp(), device=device)
    def pinned(t):  # what the loaders hand over on CUDA (copied with non_blocking=True)
        return t.pin_memory() if device.type == "cuda" else t

    for name, model, batch in (
            ("motifdist", md, {"signal": pinned(torch.randn(64, 256, 3)), "aug_signal": pinned(torch.randn(64, 256, 3))}),
            ("relcon", rc, {"signal": pinned(torch.randn(64, 256, 3)),
                            "withinuser_cand_signals": pinned(torch.randn(64, 20, 256, 3))})):
        model.configure_optimizer()
        model.net.train()
        before = [p.detach().clone() for p in model.net.parameters()]
        loss = model.compute_loss(batch, True)
        model.optimizer.zero_grad()
        loss.backward()
        model.optimizer.step()
        moved = any(not torch.equal(a, b) for a, b in zip(before, model.net.parameters()))
        out[name] = {"loss": loss.item(), "weights_moved": moved}
        out["ok"] &= bool(torch.isfinite(loss)) and moved
    out["peak_cuda_gb"] = round(torch.cuda.max_memory_allocated() / 1e9, 3) if device.type == "cuda" else None
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--device", default="cuda")
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            print("FAIL: CUDA is not available", flush=True)
            return 1
        torch.backends.cuda.matmul.allow_tf32 = False  # equal numerics: compare float32 with float32
        torch.backends.cudnn.allow_tf32 = False
        print(f"device {torch.cuda.get_device_name(device)}, torch {torch.__version__}, CUDA {torch.version.cuda}")
    for fn in (distances, sparsemax_check, resnet, resnet_bf16, trainers):
        fn(device)
    if args.json:
        Path(args.json).write_text(json.dumps(RESULTS, indent=2, default=str))
    failed = [r["check"] for r in RESULTS if not r["ok"]]
    print(f"{len(RESULTS) - len(failed)}/{len(RESULTS)} checks passed" + (f"; failed: {failed}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
