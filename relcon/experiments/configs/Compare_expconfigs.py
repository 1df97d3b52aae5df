"""The comparison with other self-supervised methods and the RelCon ablations (paper Sec. 5).

Full scale: ``25_3_8_simclr``, ``25_3_8_augpred``, ``25_3_8_rebar`` and ``25_3_8_relcon_<ablation>``
share ``25_3_8_relcon``'s data, encoder, optimisation and evaluations; only the trainer (or the
ablated setting) differs. ``25_3_8_baselines`` evaluates the random-init encoder and the
hand-crafted features on the same frozen-encoder evaluations; ``25_3_8_compare`` trains and
evaluates all of them and prints the table.

Demo scale (``python run_exp.py --config demo_compare``): the demo's data and encoder, 3 epochs
each, evaluated with the synthetic HAR probes and the gait-cadence ridge probe.
"""
import copy

from relcon.data import class_names
from relcon.data.Base_Dataset import SSLDataConfig, SupervisedDataConfig
from relcon.eval.Base_Eval import Base_EvalConfig
from relcon.experiments.comparison import Comparison_Config
from relcon.experiments.configs.Demo_expconfigs import DEMO_GAIT, DEMO_HAR, alldemo_expconfigs
from relcon.experiments.configs.RelCon_expconfigs import allrelcon_expconfigs
from relcon.models.AugPred.AugPred_Model import AugPred_ModelConfig
from relcon.models.REBAR.REBAR_Model import REBAR_ModelConfig
from relcon.models.RelCon.RelCon_Model import RelCon_ModelConfig
from relcon.models.SimCLR.SimCLR_Model import SimCLR_ModelConfig

allcompare_expconfigs = {}

ABLATIONS = {"euclidean": {"distance": "euclidean"}, "dtw": {"distance": "dtw"},
             "withinuser": {"candidates": "withinuser"}, "interuser": {"candidates": "interuser"}}


def _shared(relcon: RelCon_ModelConfig) -> dict:
    """What every method takes from a RelCon config: data, encoder, optimisation, evaluations."""
    return dict(data_config=copy.deepcopy(relcon.data_config), net_config=copy.deepcopy(relcon.net_config),
                epochs=relcon.epochs, lr=relcon.lr, batch_size=relcon.batch_size, save_epochfreq=relcon.save_epochfreq,
                eval_configs=copy.deepcopy(relcon.eval_configs))


def _relcon_args(relcon: RelCon_ModelConfig) -> dict:
    return dict(motifdist_expconfig_key=relcon.motifdist_expconfig_key, withinuser_cands=relcon.withinuser_cands,
                tau=relcon.tau)


def methods(prefix: str, relcon: RelCon_ModelConfig, scale: str) -> dict:
    """``{prefix}_simclr``, ``_augpred``, ``_rebar`` and ``_relcon_<ablation>`` built on ``relcon``."""
    out = {
        f"{prefix}_simclr": SimCLR_ModelConfig(
            description=f"SimCLR baseline ({scale}): NT-Xent on two views from the 8 augmentations", tau=relcon.tau,
            **_shared(relcon)),
        f"{prefix}_augpred": AugPred_ModelConfig(
            description=f"AugPred baseline ({scale}): predict time reversal, permutation, time warp",
            **_shared(relcon)),
        f"{prefix}_rebar": REBAR_ModelConfig(
            description=f"REBAR baseline ({scale}): RelCon's candidates and distance, closest one the positive",
            **_relcon_args(relcon), **_shared(relcon)),
    }
    for name, setting in ABLATIONS.items():
        what = ", ".join(f"{k}={v}" for k, v in setting.items())
        out[f"{prefix}_relcon_{name}"] = RelCon_ModelConfig(
            description=f"RelCon ablation ({scale}): {what}", **setting, **_relcon_args(relcon), **_shared(relcon))
    return out


# ----------------------------------------------------------------------------- full scale
_relcon = allrelcon_expconfigs["25_3_8_relcon"]
allcompare_expconfigs.update(methods("25_3_8", _relcon, "reference values"))

_baselines = copy.deepcopy(_relcon)
_baselines.description = ("random-init encoder and hand-crafted features on 25_3_8_relcon's frozen-encoder "
                          "evaluations (trains 25_3_8_relcon if missing, as pretrained_from does)")
_baselines.eval_configs = [copy.deepcopy(ev) for ev in _relcon.eval_configs if ev.model_file != "MLP_finetune"
                           for _ in range(2)]
for ev, init in zip(_baselines.eval_configs, ["random", "features"] * len(_baselines.eval_configs)):
    ev.encoder_init = init
_baselines.pretrained_from = "25_3_8_relcon"
allcompare_expconfigs["25_3_8_baselines"] = _baselines

allcompare_expconfigs["25_3_8_compare"] = Comparison_Config(
    members=["25_3_8_relcon", "25_3_8_simclr", "25_3_8_augpred", "25_3_8_rebar"]
    + [f"25_3_8_relcon_{a}" for a in ABLATIONS] + ["25_3_8_baselines"],
    description="every method and ablation at full scale, then one table (long: trains 9 encoders)")


# ----------------------------------------------------------------------------- demo scale
def demo_compare_evals(baselines: bool = False):
    """The synthetic HAR linear and MLP probes and the gait-cadence ridge probe; ``baselines``
    adds the same probes on the random-init encoder and the hand-crafted features."""
    inits = ("pretrained", "random", "features") if baselines else ("pretrained",)
    evals = []
    for init in inits:
        for model_file in ("linear_probe", "MLP_probe"):
            evals.append(Base_EvalConfig(name="synthetic_har", model_folder="Classify", model_file=model_file,
                                         data_config=DEMO_HAR, cv_splits=3, encoder_init=init))
        evals.append(Base_EvalConfig(name="synthetic_gait", model_folder="Regress", model_file="linear_probe",
                                     data_config=DEMO_GAIT, cv_splits=3, encoder_init=init))
    return evals


_demo = copy.deepcopy(alldemo_expconfigs["demo"])
_demo.eval_configs = demo_compare_evals()
allcompare_expconfigs.update(methods("demo", _demo, "demo scale"))

# RelCon itself: the demo's encoder (trained by `demo` if missing), with the comparison's evaluations.
_demo_relcon = copy.deepcopy(alldemo_expconfigs["demo"])
_demo_relcon.description = "the demo's RelCon encoder with the comparison's evaluations and the two baselines"
_demo_relcon.eval_configs = demo_compare_evals(baselines=True)
_demo_relcon.pretrained_from = "demo"
allcompare_expconfigs["demo_relcon"] = _demo_relcon

# DTW is left out of the demo comparison for its cost: every step aligns 1248 pairs of 256-sample
# segments (82M cells, 511 sequential updates), several seconds a step on a 2-core CPU. Add it with
# `python run_exp.py --config demo_relcon_dtw` and `python -m relcon.compare demo_compare demo_relcon_dtw`.
DEMO_MEMBERS = ["demo_relcon", "demo_simclr", "demo_augpred", "demo_rebar"] + [
    f"demo_relcon_{a}" for a in ABLATIONS if a != "dtw"]
allcompare_expconfigs["demo_compare"] = Comparison_Config(
    members=DEMO_MEMBERS,
    description="offline comparison at demo scale: RelCon, SimCLR, AugPred, REBAR, 3 RelCon ablations (DTW: see "
                "demo_relcon_dtw), random init, hand-crafted features; ends with one table")
# The same comparison over 3 pre-training seeds; the first (1234, every config's own seed) is
# demo_compare's runs, so after demo_compare only seeds 1235 and 1236 are trained.
allcompare_expconfigs["demo_compare_seeds"] = Comparison_Config(
    members=DEMO_MEMBERS, seeds=[1234, 1235, 1236],
    description="demo_compare over 3 pre-training seeds (95 % intervals over seeds x folds, paired t-tests with "
                "Holm's correction); reuses demo_compare's runs as its first seed")


# ----------------------------------------------------------------------------- real recordings
# The shoulder-physiotherapy smartwatch set (``python relcon/data/process/process_shoulderphysio.py``
# downloads it from PyPI and writes both folders): pre-training on its recordings without labels,
# the 7-exercise probes over 5 subject-wise folds. The demo's encoder, distance and optimisation.
SHOULDER_PRETRAIN = SSLDataConfig(data_folder="relcon/data/datasets/shoulderphysio/pretrain")
SHOULDER_HAR = SupervisedDataConfig(data_folder="relcon/data/datasets/shoulderphysio/har",
                                    class_names=list(class_names.SHOULDERPHYSIO))


def shoulderphysio_evals():
    """Linear and MLP probes of the exercise, over 5 subject-wise folds, on the pre-trained
    encoder, a random-init encoder and the hand-crafted features."""
    return [Base_EvalConfig(name="shoulderphysio", model_folder="Classify", model_file=model_file,
                            data_config=SHOULDER_HAR, cv_splits=5, encoder_init=init)
            for init in ("pretrained", "random", "features") for model_file in ("linear_probe", "MLP_probe")]


_shoulder_md = copy.deepcopy(alldemo_expconfigs["demo_motifdist"])
_shoulder_md.description = "MotifDist (the demo's, E=32) on the shoulder-physiotherapy recordings, 10 epochs"
_shoulder_md.data_config = SHOULDER_PRETRAIN
allcompare_expconfigs["shoulderphysio_motifdist"] = _shoulder_md

_shoulder = copy.deepcopy(alldemo_expconfigs["demo"])
_shoulder.description = ("RelCon (the demo's encoder, 3 epochs) pre-trained on the shoulder-physiotherapy recordings; "
                         "exercise probes with the random-init and hand-crafted baselines")
_shoulder.data_config = SHOULDER_PRETRAIN
_shoulder.motifdist_expconfig_key = "shoulderphysio_motifdist"
_shoulder.eval_configs = shoulderphysio_evals()
allcompare_expconfigs["shoulderphysio_relcon"] = _shoulder
_shoulder_methods = methods("shoulderphysio", _shoulder, "shoulder physiotherapy")
for _name in ("shoulderphysio_simclr", "shoulderphysio_augpred"):
    _shoulder_methods[_name].eval_configs = [ev for ev in _shoulder_methods[_name].eval_configs
                                             if ev.encoder_init == "pretrained"]
    allcompare_expconfigs[_name] = _shoulder_methods[_name]

allcompare_expconfigs["shoulderphysio_compare"] = Comparison_Config(
    members=["shoulderphysio_relcon", "shoulderphysio_simclr", "shoulderphysio_augpred"], seeds=[1234, 1235, 1236],
    description="real recordings (shoulder-physiotherapy smartwatch set, 10 subjects): RelCon, SimCLR, AugPred, random "
                "init, hand-crafted features over 3 pre-training seeds x 5 subject-wise folds")
