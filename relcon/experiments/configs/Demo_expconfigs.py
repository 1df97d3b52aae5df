"""The offline demo (README command 1): the whole pipeline on synthetic data, on a CPU, in minutes.

    python run_exp.py --config demo

creates structured synthetic wrist accelerometry (``relcon.data.synthetic``), trains a small
MotifDist distance (``demo_motifdist``) and a small RelCon encoder (``demo``), then evaluates
the encoder on a synthetic 8-activity HAR set with subject-wise folds: linear probe, MLP probe,
fine-tuning and from-scratch, plus the probes on a randomly initialised encoder as baselines; and
on synthetic walking, stairs and running with a known cadence (10 s windows): a ridge linear probe
regressing the cadence, for the pre-trained and a randomly initialised encoder.
"""
from relcon.data.Base_Dataset import SSLDataConfig, SupervisedDataConfig
from relcon.data.synthetic import ACTIVITIES
from relcon.eval.Base_Eval import Base_EvalConfig
from relcon.models.MotifDist.MotifDist_Model import MotifDist_ModelConfig
from relcon.models.RelCon.RelCon_Model import RelCon_ModelConfig
from relcon.nets.Base_Nets import Base_NetConfig

alldemo_expconfigs = {}

# torch's CPU kernels sum in a thread-count-dependent order, so results follow the thread count
# (and the CPU's instruction set); pinned, the table no longer depends on the machine's cores.
DEMO_THREADS = 2

DEMO_PRETRAIN = SSLDataConfig(
    data_folder="relcon/data/datasets/demo_motion",
    generate={"name": "pretrain_tree", "args": {"kind": "motion", "train_subjects": 24, "val_subjects": 6,
                                                 "test_subjects": 6, "hours": 2, "segments": 16, "seed": 0}},
)
DEMO_HAR = SupervisedDataConfig(
    data_folder="relcon/data/datasets/synthetic_har/processed",
    generate={"name": "synthetic_har", "args": {"n_subjects": 12, "windows_per_activity": 20, "n_folds": 3,
                                                 "seed": 0}},
    class_names=list(ACTIVITIES),
)
# The same arguments as process_synthetic_gait.py's defaults, so either creates the same folder.
DEMO_GAIT = SupervisedDataConfig(
    data_folder="relcon/data/datasets/synthetic_gait/processed",
    generate={"name": "synthetic_gait", "args": {"n_subjects": 12, "windows_per_subject": 30, "n_folds": 3,
                                                  "seed": 0}},
)
DEMO_ENCODER = {
    "init_conv": {"in_channels": 3, "base_filters": 32, "kernel_size": 7, "stride": 2, "padding": 0},
    "init_maxpool": {"kernel_size": 3, "stride": 2},
    "blocks": [
        {"n": 1, "in_channels": 32, "base_filters": 32, "kernel_size": 3, "stride": 1},
        {"n": 1, "in_channels": 32, "base_filters": 64, "kernel_size": 4, "stride": 1},
        {"n": 1, "in_channels": 64, "base_filters": 128, "kernel_size": 4, "stride": 1},
    ],
    "finalpool": "avg",
}
DEMO_HEAD = {"embed_dim": 128, "mlp_dim": 128, "class_num": 8}


def demo_har_evals():
    evals = []
    for init in ("pretrained", "random"):
        evals.append(Base_EvalConfig(name="synthetic_har", model_folder="Classify", model_file="linear_probe",
                                     data_config=DEMO_HAR, cv_splits=3, encoder_init=init))
        evals.append(Base_EvalConfig(name="synthetic_har", model_folder="Classify", model_file="MLP_probe",
                                     data_config=DEMO_HAR, cv_splits=3, encoder_init=init))
    for model_file in ("MLP_finetune", "scratch"):
        evals.append(Base_EvalConfig(name="synthetic_har", model_folder="Classify", model_file=model_file,
                                     data_config=DEMO_HAR, cv_splits=3, evalnetparams=dict(DEMO_HEAD), epochs=8,
                                     lr=1e-3, batch_size=32, save_epochfreq=100))
    return evals


def demo_gait_evals():
    """Cadence regression (steps/min) from 10 s windows; the encoder, pre-trained on 2.56 s
    segments, pools globally over any length."""
    return [Base_EvalConfig(name="synthetic_gait", model_folder="Regress", model_file="linear_probe",
                            data_config=DEMO_GAIT, cv_splits=3, encoder_init=init) for init in ("pretrained", "random")]


alldemo_expconfigs["demo_motifdist"] = MotifDist_ModelConfig(
    description="demo stage 1: small MotifDist (E=32) on synthetic motion, 10 epochs (CPU, ~45 s)",
    data_config=DEMO_PRETRAIN,
    net_config=Base_NetConfig(net_folder="CrossAttn", net_file="CrossAttn_Net",
                              params={"query_dimsize": 3, "key_dimsize": 3, "kernel_size": 15, "embed_dim": 32,
                                      "double_receptivefield": 2}),
    epochs=10, lr=1e-3, batch_size=64, save_epochfreq=100, num_threads=DEMO_THREADS,
)

alldemo_expconfigs["demo"] = RelCon_ModelConfig(
    description="offline demo: synthetic motion -> MotifDist -> small RelCon -> synthetic HAR and gait-cadence "
                "evaluations (README command 1)",
    motifdist_expconfig_key="demo_motifdist",
    withinuser_cands=8,
    data_config=DEMO_PRETRAIN,
    net_config=Base_NetConfig(net_folder="ResNet1D", net_file="ResNet1D_Net", params=DEMO_ENCODER),
    epochs=3, lr=1e-3, batch_size=32, save_epochfreq=100, num_threads=DEMO_THREADS,
    eval_configs=demo_har_evals() + demo_gait_evals(),
)
