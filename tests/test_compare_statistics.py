"""Uncertainty in comparison tables (relcon.eval.statistics, relcon.eval.comparison): the
interval and the paired tests against scipy on fixed numbers, Holm's correction on a worked
example, bold only for a best significantly better than the runner-up, runs of several
pre-training seeds joined into one row and paired by (seed, fold), and a comparison config
trained over two seeds end to end."""
import json
import math

import numpy as np
import pytest
from scipy import stats

from relcon.eval.comparison import analyse, collect, markdown
from relcon.eval.statistics import holm, paired_p_value, t_interval
from relcon.experiments.comparison import Comparison_Config, member_runs

# ----------------------------------------------------------------------------- the statistics
VALUES = [0.61, 0.58, 0.66, 0.55, 0.63, 0.60]


def test_t_interval_is_scipys_student_interval_on_fixed_numbers():
    mean, low, high = t_interval(VALUES)
    x = np.array(VALUES)
    half = stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x))
    assert mean == pytest.approx(0.605, abs=1e-12)
    assert (low, high) == pytest.approx((mean - half, mean + half), abs=1e-12)
    assert (low, high) == pytest.approx(stats.t.interval(0.95, 5, loc=x.mean(), scale=stats.sem(x)), abs=1e-12)
    assert high - low == pytest.approx(2 * 2.570582 * 0.038341 / math.sqrt(6), abs=1e-5)  # t_{5, .975}
    one = t_interval([0.7])
    assert one[0] == 0.7 and math.isnan(one[1]) and math.isnan(one[2])
    assert t_interval([0.5, 0.5, 0.5]) == (0.5, 0.5, 0.5)
    with pytest.raises(ValueError, match="non-empty 1-D"):
        t_interval([])


def test_paired_tests_are_scipys_on_fixed_numbers():
    a = np.array(VALUES)
    b = a - np.array([0.02, 0.05, -0.01, 0.04, 0.03, 0.01])
    assert paired_p_value(a, b, "t") == pytest.approx(stats.ttest_rel(a, b).pvalue, rel=1e-12)
    assert paired_p_value(a, b, "t") == pytest.approx(0.04566, abs=5e-5)  # t = 2.6458 on 5 df
    assert paired_p_value(a, b, "wilcoxon") == pytest.approx(stats.wilcoxon(a, b).pvalue, rel=1e-12)
    assert paired_p_value(a, a, "t") == 1.0  # no difference at all
    assert paired_p_value(a, a - 0.1, "t") == 0.0  # the same difference in every pair
    assert math.isnan(paired_p_value([0.5], [0.4]))
    with pytest.raises(ValueError, match="equal length"):
        paired_p_value([0.1, 0.2], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="expected one of"):
        paired_p_value(a, b, "mann-whitney")


def test_holm_on_a_worked_example():
    # sorted: 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 = 0.04 -> monotone 0.06
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    adjusted = holm([0.2, math.nan, 0.9])  # NaN is not a test: m = 2
    assert adjusted[0] == pytest.approx(0.4) and math.isnan(adjusted[1]) and adjusted[2] == pytest.approx(0.9)
    assert holm([0.6, 0.7]) == pytest.approx([1.0, 1.0])  # capped at 1


def test_holm_equals_statsmodels_where_installed():
    multitest = pytest.importorskip("statsmodels.stats.multitest")
    p = np.array([0.001, 0.02, 0.3, 0.04, 0.011, 0.5])
    assert holm(p) == pytest.approx(multitest.multipletests(p, method="holm")[1])


# ----------------------------------------------------------------------------- the table
def record(values, task="classification"):
    metric = "macro_f1" if task == "classification" else "mae"
    return {"task": task, "folds": [{metric: float(v)} for v in values],
            "mean": {metric: float(np.mean(values))}, "std": {metric: float(np.std(values))}}


def row(method, by_seed, task="classification", key="har"):
    """A table row: ``by_seed`` maps a seed to that seed's per-fold values."""
    return {"method": method, "seeds": list(by_seed), "cells": {key: {s: record(v, task) for s, v in by_seed.items()}}}


NOISE = {1: [0.60, 0.70, 0.50], 2: [0.66, 0.52, 0.63], 3: [0.55, 0.69, 0.58]}


def shifted(by_seed, shift, jitter=(0.0, 0.0, 0.0)):
    return {s: [v + shift + j for v, j in zip(vals, jitter)] for s, vals in by_seed.items()}


def test_a_difference_inside_the_noise_is_neither_bold_nor_marked():
    # B beats RelCon by 0.01 on average, with pair differences of either sign
    rows = [row("RelCon", NOISE), row("B", {s: [v + d for v, d in zip(vals, (0.08, -0.07, 0.02))]
                                         for s, vals in NOISE.items()})]
    result = analyse(rows, ["har"])
    assert result["cells"][(1, "har")]["diff"] == pytest.approx(0.01)
    assert result["cells"][(1, "har")]["p"] > 0.05 and not result["cells"][(1, "har")]["significant"]
    assert result["best"]["har"]["row"] == 1 and not result["best"]["har"]["bold"]
    lines = markdown(rows, ["har"], result).splitlines()
    assert "**" not in "\n".join(lines) and "†" not in "\n".join(lines)
    mean, low, high = t_interval([v for vals in NOISE.values() for v in vals])
    assert lines[2] == f"| RelCon | {mean:.3f} [{low:.3f}, {high:.3f}] |"  # 9 values: 3 seeds x 3 folds


def test_a_clear_difference_is_bold_and_marked():
    rows = [row("RelCon", NOISE), row("B", shifted(NOISE, 0.10, (0.01, -0.01, 0.0))), row("C", shifted(NOISE, -0.2))]
    result = analyse(rows, ["har"])
    assert result["tests"] == 2  # B and C against RelCon; the best-runner-up pair (B, RelCon) is one of them
    b = result["cells"][(1, "har")]
    assert b["diff"] == pytest.approx(0.10) and b["n_pairs"] == 9 and b["significant"]
    assert result["best"]["har"]["row"] == 1 and result["best"]["har"]["bold"]
    lines = markdown(rows, ["har"], result).splitlines()
    assert lines[3].startswith("| B | **") and lines[3].endswith("** † |")
    assert lines[4].endswith(" † |") and "**" not in lines[4]


def test_the_best_is_tested_against_the_runner_up_not_only_against_relcon():
    # B and C both far above RelCon, but B vs C is inside the noise: neither is bold, both marked
    rows = [row("RelCon", NOISE), row("B", shifted(NOISE, 0.20, (0.03, -0.03, 0.01))),
            row("C", shifted(NOISE, 0.20, (-0.02, 0.02, 0.0)))]
    result = analyse(rows, ["har"])
    assert result["tests"] == 3
    assert result["cells"][(1, "har")]["significant"] and result["cells"][(2, "har")]["significant"]
    assert result["best"]["har"]["row"] == 1 and result["best"]["har"]["runner_up"] == 2
    assert not result["best"]["har"]["bold"]


def test_lower_is_better_for_the_mae_and_pairs_are_matched_by_seed_and_fold():
    rows = [row("RelCon", NOISE, "regression", "gait"), row("B", shifted(NOISE, -0.05, (0.001, 0.0, -0.001)),
                                                            "regression", "gait")]
    result = analyse(rows, ["gait"])
    assert result["best"]["gait"]["row"] == 1 and result["best"]["gait"]["bold"]
    # a method with one seed fewer is paired on the seeds both have
    rows[1]["cells"]["gait"].pop(3)
    result = analyse(rows, ["gait"])
    assert result["cells"][(1, "gait")]["n_pairs"] == 6 and result["cells"][(1, "gait")]["n"] == 6
    assert result["cells"][(0, "gait")]["n"] == 9


def test_holm_takes_back_a_difference_that_one_test_alone_would_call_real():
    # RelCon against 6 methods; one has a raw p just under 0.05, which 6 tests do not allow
    base = {1: [0.60, 0.70, 0.50, 0.65, 0.55, 0.62]}
    near = {1: [v + d for v, d in zip(base[1], (0.02, 0.05, -0.01, 0.04, 0.03, 0.01))]}  # p = 0.046
    rows = [row("RelCon", base), row("near", near)] + [
        row(f"m{k}", {1: [v + d for v, d in zip(base[1], (0.05, -0.05, 0.02, -0.02, 0.01, -0.01))]})
        for k in range(5)]
    result = analyse(rows, ["har"])
    assert result["cells"][(1, "har")]["p"] == pytest.approx(0.04566, abs=5e-5)
    assert result["cells"][(1, "har")]["p_holm"] > 0.05 and not result["cells"][(1, "har")]["significant"]


def write_run(folder, model_file, seed, values, init_rows=()):
    folder.mkdir(parents=True)
    evaluations = [dict(record(values), name="har", model_file="linear_probe", status="done",
                        encoder={"init": "pretrained", "run": folder.name})]
    for init, vals in init_rows:
        evaluations.append(dict(record(vals), name="har", model_file="linear_probe", status="done",
                                encoder={"init": init}))
    (folder / "results.json").write_text(json.dumps({"evaluations": evaluations}))
    (folder / "config.json").write_text(json.dumps({"model_file": model_file, "seed": seed}))
    return folder


def test_runs_of_several_seeds_join_one_row(tmp_path):
    runs = [write_run(tmp_path / "r", "RelCon_Model", 1234, [0.6, 0.7], [("random", [0.5, 0.4])]),
            write_run(tmp_path / "s", "SimCLR_Model", 1234, [0.5, 0.6]),
            write_run(tmp_path / "r-seed7", "RelCon_Model", 7, [0.65, 0.75], [("random", [0.45, 0.35])]),
            write_run(tmp_path / "s-seed7", "SimCLR_Model", 7, [0.55, 0.65]),
            write_run(tmp_path / "again", "SimCLR_Model", 7, [0.1, 0.2])]
    rows, columns = collect(runs)
    assert [r["method"] for r in rows] == ["RelCon", "SimCLR", "SimCLR [again]", "random init"]
    assert rows[0]["seeds"] == [1234, 7] and rows[0]["run"] == "r, r-seed7"
    assert sorted(rows[3]["cells"]["har/linear_probe"]) == [7, 1234]  # the baseline of each seed
    result = analyse(rows, columns)
    simclr = result["cells"][(1, "har/linear_probe")]
    assert simclr["n_pairs"] == 4 and simclr["diff"] == pytest.approx(-0.1)
    assert result["cells"][(2, "har/linear_probe")]["n_pairs"] == 2  # seed 7 only


# ----------------------------------------------------------------------------- the config
def test_comparison_config_checks_its_seeds_and_names_the_seed_runs():
    with pytest.raises(ValueError, match="distinct integers"):
        Comparison_Config(members=["a"], seeds=[1, 1])
    with pytest.raises(ValueError, match="expected one of"):
        Comparison_Config(members=["a"], test="anova")
    config = Comparison_Config(members=["a", "b"], seeds=[1234, 5])

    class Member:
        seed = 1234

    known = {"a": Member(), "b": Member()}
    assert member_runs(config, known) == ["a", "b", "a-seed5", "b-seed5"]
    assert member_runs(Comparison_Config(members=["a", "b"]), known) == ["a", "b"]


def test_demo_compare_seeds_reuses_demo_compares_runs_as_its_first_seed():
    from relcon.experiments import registry

    known = registry.discover()
    one, three = known["demo_compare"], known["demo_compare_seeds"]
    assert one.seeds is None and len(three.seeds) == 3 and three.members == one.members
    runs = member_runs(three, known)
    assert runs[:len(one.members)] == member_runs(one, known)
    assert runs[len(one.members)] == f"{one.members[0]}-seed{three.seeds[1]}"


SEEDED = '''
from relcon.data.Base_Dataset import SSLDataConfig, SupervisedDataConfig
from relcon.eval.Base_Eval import Base_EvalConfig
from relcon.experiments.comparison import Comparison_Config
from relcon.models.MotifDist.MotifDist_Model import MotifDist_ModelConfig
from relcon.models.RelCon.RelCon_Model import RelCon_ModelConfig
from relcon.models.SimCLR.SimCLR_Model import SimCLR_ModelConfig

DATA = SSLDataConfig(data_folder={data!r})
HAR = SupervisedDataConfig(data_folder={har!r})
EVALS = [Base_EvalConfig(name="har", model_folder="Classify", model_file="linear_probe", data_config=HAR,
                         cv_splits=2, encoder_init=i) for i in ("pretrained", "random")]
COMMON = dict(data_config=DATA, net_config=tiny_resnet(), epochs=1, lr=1e-3, batch_size=4, num_threads=1)
allts_expconfigs = {{
    "ts_md": MotifDist_ModelConfig(data_config=DATA, net_config=tiny_crossattn(), epochs=1, lr=1e-3, batch_size=4,
                                   num_threads=1),
    "ts_relcon": RelCon_ModelConfig(motifdist_expconfig_key="ts_md", withinuser_cands=3, eval_configs=EVALS,
                                    **COMMON),
    "ts_simclr": SimCLR_ModelConfig(proj_hidden=8, proj_dim=8, eval_configs=EVALS[:1], **COMMON),
    "ts_compare": Comparison_Config(members=["ts_relcon", "ts_simclr"], seeds=[1234, 7]),
}}
'''


def test_a_comparison_over_two_seeds_trains_each_seed_in_its_own_runs(tmp_path, monkeypatch):
    from reliability_helpers import run_main
    from test_compare_eval import run_tiny_comparison

    rc, out, err = run_tiny_comparison(tmp_path, monkeypatch, SEEDED, "ts")
    assert rc == 0, err
    root = tmp_path / "out"
    for run in ("ts_relcon", "ts_simclr", "ts_md", "ts_relcon-seed7", "ts_simclr-seed7", "ts_md-seed7"):
        assert (root / run / "checkpoint_best.pkl").exists(), run
    assert json.loads((root / "ts_relcon-seed7" / "config.json").read_text())["seed"] == 7
    assert json.loads((root / "ts_md-seed7" / "config.json").read_text())["seed"] == 7
    # the random-init baseline follows the seed: two seeds, two different initialisations
    res = {s: json.loads((root / run / "results.json").read_text())["evaluations"]
           for s, run in ((1234, "ts_relcon"), (7, "ts_relcon-seed7"))}
    inits = {s: next(r for r in ev if r["encoder"]["init"] == "random")["encoder"]["sha256"] for s, ev in res.items()}
    assert inits[1234] != inits[7]
    lines = (root / "ts_compare" / "comparison.csv").read_text().splitlines()
    assert {line.split(",")[2] for line in lines[1:]} == {"1234", "7"}
    assert len(lines) == 1 + 3 * 2 * 2  # RelCon, SimCLR, random init x 2 seeds x 2 folds
    assert "2 seeds × the evaluation's folds" in out
    # a second call trains nothing and prints the same table
    rc, again, err = run_main(monkeypatch, tmp_path / "out", tmp_path / "ts_expconfigs.py", "--config", "ts_compare",
                              "--device", "cpu")
    assert rc == 0, err
    assert "already trained" in again
    assert again.split("Comparison ts_compare")[1] == out.split("Comparison ts_compare")[1]
