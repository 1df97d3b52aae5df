"""The evaluation side of the comparison: the hand-crafted features encoder, the MLP probe's
regularisation chosen on the validation split, and the comparison table and command."""
import json
import textwrap

import numpy as np
import pytest
import torch

from relcon.data.Base_Dataset import SupervisedDataConfig
from relcon.eval.Base_Eval import Base_EvalConfig, load_fold
from relcon.nets.Features.Features_Net import Net as Features
from relcon.utils.imports import model_module
from relcon_testutils import write_tree
from reliability_helpers import run_main
from test_eval import write_folds
from tinyconfigs import TINY_NETS


# ----------------------------------------------------------------------------- features
def test_features_have_no_parameters_and_a_fixed_width():
    net = Features()
    assert list(net.parameters()) == []
    out = net(torch.randn(5, 3, 256))
    assert out.shape == (5, net.embed_dim) == (5, 71) and torch.isfinite(out).all()
    with pytest.raises(ValueError, match=r"expected \(N, 3, T\)"):
        net(torch.randn(5, 4, 256))


def test_features_equal_their_definitions_on_known_signals():
    t = torch.arange(256, dtype=torch.float64)
    x = torch.zeros(1, 3, 256)
    x[0, 0] = 2.0  # constant
    x[0, 1] = torch.sin(2 * np.pi * 16 * t / 256).float()  # 16 cycles: frequency 1/16 per sample, bin 1 of 4
    x[0, 2] = torch.sin(2 * np.pi * 100 * t / 256).float()  # 0.39 per sample: bin 4 (0.375-0.5)
    f = Features()(x)[0].view(-1)[:68].view(4, 17)  # (x, y, z, |a|) x 17
    mean, std, lo, hi = f[:, 0], f[:, 1], f[:, 2], f[:, 3]
    assert mean[0] == pytest.approx(2.0) and std[0] == pytest.approx(0.0, abs=1e-6)
    assert lo[0] == pytest.approx(2.0) and hi[0] == pytest.approx(2.0)
    assert std[1] == pytest.approx(1 / np.sqrt(2), rel=1e-3)  # RMS of a unit sine
    assert f[1, 6] == pytest.approx(0.0, abs=1e-5)  # median of a whole-cycle sine
    bins_y, bins_z = f[1, 12:16], f[2, 12:16]
    assert bins_y[0] == pytest.approx(1.0, abs=1e-4) and bins_z[3] == pytest.approx(1.0, abs=1e-4)
    assert f[1, 16] == pytest.approx(0.0, abs=1e-3)  # one spectral line: zero entropy
    corr = Features()(x)[0, 68:]
    assert abs(corr[2]) < 1e-3  # sines of different frequencies are uncorrelated


def test_features_baseline_is_selectable_in_an_evaluation(tmp_path):
    ev = Base_EvalConfig(model_folder="Classify", model_file="linear_probe", name="t", encoder_init="features",
                         data_config=SupervisedDataConfig(data_folder=str(tmp_path)), cv_splits=1)
    assert ev.label == "t/linear_probe [hand-crafted features]" and ev.folder == "t/linear_probe_features"
    with pytest.raises(ValueError, match="encoder_init"):
        Base_EvalConfig(model_folder="Classify", model_file="linear_probe", encoder_init="nope",
                        data_config=SupervisedDataConfig(data_folder=str(tmp_path)))


# ----------------------------------------------------------------------------- MLP probe
def test_mlp_probe_chooses_its_penalty_on_validation(tmp_path):
    folder = write_folds(tmp_path / "data", n_train=6, n_eval=6)
    grid = [1e-4, 10.0]
    ev = Base_EvalConfig(model_folder="Classify", model_file="MLP_probe", name="t", cv_splits=1,
                         data_config=SupervisedDataConfig(data_folder=str(folder)),
                         evalnetparams={"alpha_grid": grid, "hidden": 32})
    data = load_fold(folder, 0, in_channels=3)
    model = model_module(ev).Model(ev, Features(), tmp_path / "run", "cpu", {"init": "features"})
    model.fit(data["train"], data["val"])
    scores = list(model.selection["val_macro_f1"].values())
    assert len(scores) == 2
    assert model.selection["alpha"] == grid[int(np.argmax(scores))]
    # the kept weights are the chosen penalty's refit: choosing from that penalty alone gives the same predictions
    alone = Base_EvalConfig(model_folder="Classify", model_file="MLP_probe", name="t", cv_splits=1,
                            data_config=SupervisedDataConfig(data_folder=str(folder)),
                            evalnetparams={"alpha_grid": [model.selection["alpha"]], "hidden": 32})
    single = model_module(alone).Model(alone, Features(), tmp_path / "run2", "cpu", {"init": "features"})
    single.fit(data["train"], data["val"])
    np.testing.assert_array_equal(model.predict(data["test"].X), single.predict(data["test"].X))
    # a stored fit made with another grid is not reused
    assert single.stale_reason() is None
    other = model_module(ev).Model(ev, Features(), tmp_path / "run2", "cpu", {"init": "features"})
    assert "settings changed" in other.stale_reason()


@pytest.mark.parametrize("loss", ["cross_entropy", "mse_loss"])
def test_lbfgs_probe_reaches_a_minimum_of_the_penalised_objective(loss):
    from relcon.eval.Classify.MLP_probe import fit_mlp_lbfgs, linear_layers, mlp, penalised_objective
    rng = np.random.default_rng(0)
    z = rng.standard_normal((80, 6)).astype(np.float32)
    mixing = rng.standard_normal((6, 3)).astype(np.float32)  # learnable targets
    y = (z @ mixing).argmax(1) if loss == "cross_entropy" else np.tanh(z @ mixing[:, :2])
    loss_fn = getattr(torch.nn.functional, loss)
    zt, yt = torch.from_numpy(z), torch.as_tensor(y)
    norms = []
    for alpha in (1e-2, 10.0):
        torch.manual_seed(0)
        net = fit_mlp_lbfgs(mlp(6, 16, 3 if loss == "cross_entropy" else 2), loss_fn, z, y, alpha, max_iter=500)
        # the objective, written out: mean loss + alpha / (2N) * squared weights (biases unpenalised)
        w1, w2 = (layer.weight for layer in linear_layers(net))
        by_hand = loss_fn(net(zt), yt) + alpha / (2 * 80) * ((w1 ** 2).sum() + (w2 ** 2).sum())
        objective = penalised_objective(net, loss_fn, zt, yt, alpha)
        torch.testing.assert_close(objective, by_hand)
        # (close to) a stationary point: the objective's gradient is a small fraction of the initial one
        torch.manual_seed(0)
        start = mlp(6, 16, 3 if loss == "cross_entropy" else 2)
        grad_start = torch.autograd.grad(penalised_objective(start, loss_fn, zt, yt, alpha), list(start.parameters()))
        grads = torch.autograd.grad(objective, list(net.parameters()))
        largest = max(float(g.abs().max()) for g in grads)
        assert largest < 5e-3 and largest < 0.05 * max(float(g.abs().max()) for g in grad_start)
        if alpha < 1:
            assert float(objective.detach()) < 0.5 * float(penalised_objective(start, loss_fn, zt, yt, alpha).detach())
        norms.append(float((w1 ** 2).sum().detach() + (w2 ** 2).sum().detach()))
        # deterministic: the same seed gives the same net
        torch.manual_seed(0)
        again = fit_mlp_lbfgs(mlp(6, 16, 3 if loss == "cross_entropy" else 2), loss_fn, z, y, alpha, max_iter=500)
        torch.testing.assert_close(again[0].weight, w1, rtol=0, atol=0)
    assert norms[1] < 0.5 * norms[0]  # a larger penalty, smaller weights


@pytest.mark.parametrize("key", ["reg_grid", "max_epochs", "lr"])
def test_mlp_probe_names_the_adam_settings_it_no_longer_takes(tmp_path, key):
    folder = write_folds(tmp_path / "data", n_train=2, n_eval=2)
    ev = Base_EvalConfig(model_folder="Classify", model_file="MLP_probe", name="t", cv_splits=1,
                         data_config=SupervisedDataConfig(data_folder=str(folder)), evalnetparams={key: 1})
    data = load_fold(folder, 0, in_channels=3)
    model = model_module(ev).Model(ev, Features(), tmp_path / "run", "cpu", {"init": "features"})
    with pytest.raises(ValueError, match=f"evalnetparams\\['{key}'\\]"):
        model.fit(data["train"], data["val"])
    # the reference protocol keeps scikit-learn's settings
    from relcon.eval.Classify.MLP_probe import REFERENCE_PATIENCE
    assert REFERENCE_PATIENCE == 5


# ----------------------------------------------------------------------------- the table
TEMPLATE = '''
from relcon.data.Base_Dataset import SSLDataConfig, SupervisedDataConfig
from relcon.eval.Base_Eval import Base_EvalConfig
from relcon.experiments.comparison import Comparison_Config
from relcon.models.AugPred.AugPred_Model import AugPred_ModelConfig
from relcon.models.RelCon.RelCon_Model import RelCon_ModelConfig
from relcon.models.SimCLR.SimCLR_Model import SimCLR_ModelConfig

DATA = SSLDataConfig(data_folder={data!r})
HAR = SupervisedDataConfig(data_folder={har!r})


def evals(inits=("pretrained",)):
    return [Base_EvalConfig(name="har", model_folder="Classify", model_file=m, data_config=HAR, cv_splits=2,
                            encoder_init=i, evalnetparams={{"hidden": 16}} if m == "MLP_probe" else {{}})
            for i in inits for m in ("linear_probe", "MLP_probe")]


COMMON = dict(data_config=DATA, net_config=tiny_resnet(), epochs=1, lr=1e-3, batch_size=4, num_threads=1)
alltc_expconfigs = {{
    "tc_relcon_euclidean": RelCon_ModelConfig(motifdist_expconfig_key="none", withinuser_cands=3,
                                              distance="euclidean", eval_configs=evals(("pretrained", "random",
                                                                                       "features")), **COMMON),
    "tc_simclr": SimCLR_ModelConfig(proj_hidden=8, proj_dim=8, eval_configs=evals(), **COMMON),
    "tc_augpred": AugPred_ModelConfig(eval_configs=evals(), **COMMON),
    "tc_compare": Comparison_Config(members=["tc_relcon_euclidean", "tc_simclr", "tc_augpred"]),
}}
'''


def run_tiny_comparison(tmp_path, monkeypatch, template: str, prefix: str):
    """Run ``PREFIX_compare`` of ``template`` (configs over a tiny tree and HAR folds) through
    run_exp.py's main; returns (rc, stdout, stderr)."""
    tree = write_tree(tmp_path / "tree", subjects=(2, 1, 1), hours=2, segments=5, length=64)
    har = write_folds(tmp_path / "har", T=64)
    configs = tmp_path / f"{prefix}_expconfigs.py"
    configs.write_text(textwrap.dedent(TINY_NETS + template.format(data=str(tree), har=str(har))))
    return run_main(monkeypatch, tmp_path / "out", configs, "--config", f"{prefix}_compare", "--device", "cpu")


def test_comparison_config_trains_evaluates_and_tabulates(tmp_path, monkeypatch):
    rc, out, err = run_tiny_comparison(tmp_path, monkeypatch, TEMPLATE, "tc")
    assert rc == 0, err
    table = (tmp_path / "out" / "tc_compare" / "comparison.md").read_text().split("## Paired differences")[0]
    rows = [line for line in table.splitlines() if line.startswith("| ") and not line.startswith("| method")]
    assert [r.split(" | ")[0][2:] for r in rows] == ["RelCon (distance=euclidean)", "SimCLR", "AugPred", "random init",
                                                     "hand-crafted features"]
    assert "har/linear_probe (macro-F1)" in table and "har/MLP_probe (macro-F1)" in table
    assert "Comparison tc_compare" in out
    # every cell is the mean and t-interval of that run's per-fold values in results.json
    from relcon.eval.statistics import t_interval

    results = json.loads((tmp_path / "out" / "tc_simclr" / "results.json").read_text())
    lin = next(r for r in results["evaluations"] if r["model_file"] == "linear_probe")
    mean, low, high = t_interval([f["macro_f1"] for f in lin["folds"]])
    assert abs(mean - lin["mean"]["macro_f1"]) < 1e-12
    assert rows[1].split(" | ")[1].startswith(f"{mean:.3f}" + ("" if low == high else f" [{low:.3f}, {high:.3f}]"))
    # the CSV keeps every per-seed, per-fold value: 5 rows x 2 evaluations x 2 folds
    csv_lines = (tmp_path / "out" / "tc_compare" / "comparison.csv").read_text().splitlines()
    assert csv_lines[0] == "method,encoder_run,seed,evaluation,metric,fold,value" and len(csv_lines) == 1 + 5 * 2 * 2
    simclr = [line.split(",") for line in csv_lines[1:] if line.startswith("SimCLR,") and ",har/linear_probe," in line]
    assert [float(v[-1]) for v in simclr] == [f["macro_f1"] for f in lin["folds"]]
    assert {v[2] for v in simclr} == {"1234"}
    summary = (tmp_path / "out" / "tc_compare" / "comparison_summary.csv").read_text().splitlines()
    assert summary[0].startswith("method,evaluation,metric,n,mean,std,ci95_low,ci95_high,diff_vs_reference")
    assert len(summary) == 1 + 5 * 2

    # the command reads the same runs and runs nothing
    import relcon.utils.paths as paths
    from relcon import compare

    monkeypatch.setattr(paths, "OUT_ROOT", tmp_path / "out")
    runs = [str(tmp_path / "out" / n) for n in ("tc_relcon_euclidean", "tc_simclr", "tc_augpred")]
    assert compare.main(runs + ["--out", str(tmp_path / "cmp"), "--no-figure"]) == 0
    again = (tmp_path / "cmp" / "comparison.md").read_text().split("## Paired differences")[0]
    assert again.split("\n\n", 2)[2] == table.split("\n\n", 2)[2]
    assert compare.main([str(tmp_path / "nowhere"), "--out", str(tmp_path / "cmp2")]) == 1
    pytest.importorskip("matplotlib")
    assert compare.main(runs + ["--out", str(tmp_path / "fig")]) == 0
    assert (tmp_path / "fig" / "comparison.png").read_bytes()[:4] == b"\x89PNG"
