"""Stage 2 configs: RelCon pre-training, with the paper's benchmark evaluations."""
import copy

from relcon.data import class_names
from relcon.data.Base_Dataset import SSLDataConfig, SupervisedDataConfig
from relcon.data.process.common import PRIORPT_LEAKFREE_SUBDIR, PROCESSED_SUBDIR
from relcon.data.process.process_pamap2_gait import CV_SPLITS as PAMAP2_GAIT_FOLDS
from relcon.eval.Base_Eval import Base_EvalConfig
from relcon.models.RelCon.RelCon_Model import RelCon_ModelConfig
from relcon.nets.Base_Nets import Base_NetConfig

allrelcon_expconfigs = {}

RESNET1D_PARAMS = {
    "init_conv": {"in_channels": 3, "base_filters": 64, "kernel_size": 7, "stride": 2, "padding": 0},
    "init_maxpool": {"kernel_size": 3, "stride": 2},
    "blocks": [
        {"n": 3, "in_channels": 64, "base_filters": 64, "kernel_size": 3, "stride": 1},
        {"n": 4, "in_channels": 64, "base_filters": 128, "kernel_size": 4, "stride": 1},
        {"n": 6, "in_channels": 128, "base_filters": 256, "kernel_size": 4, "stride": 1},
    ],
    "finalpool": "avg",
}

FINETUNE_PARAMS = {"embed_dim": 256, "mlp_dim": 512, "class_num": 8}


def benchmark_evals(priorpt_subdir: str = PROCESSED_SUBDIR):
    """The paper's benchmark evaluations (Tables 3 and 4). ``priorpt_subdir`` picks the
    reference's priorpt folds ("processed") or the leak-free ones ("processed_leakfree")."""
    sslbench = "relcon/data/datasets/sslbench/{}/processed"
    priorpt = "relcon/data/datasets/priorpt/{}/" + priorpt_subdir
    evals = [
        Base_EvalConfig(name=name, model_folder="Classify", model_file="linear_probe", cv_splits=5,
                        data_config=SupervisedDataConfig(data_folder=sslbench.format(name),
                                                         class_names=class_names.BY_SET[f"sslbench/{name}"]))
        for name in ("hhar", "motionsense", "pamap2")
    ]
    for name, folds in (("pamap2", 8), ("opportunity", 4)):
        data = SupervisedDataConfig(data_folder=priorpt.format(name), class_names=class_names.BY_SET[f"priorpt/{name}"])
        evals.append(Base_EvalConfig(name=f"priorpt_{name}", model_folder="Classify", model_file="MLP_probe",
                                     cv_splits=folds, data_config=data))
        evals.append(Base_EvalConfig(name=f"priorpt_{name}", model_folder="Classify", model_file="MLP_finetune",
                                     cv_splits=folds, data_config=data, evalnetparams=dict(FINETUNE_PARAMS),
                                     epochs=10, lr=1e-3, batch_size=16, save_epochfreq=5))
    return evals


def gait_evals():
    """Ours, not the paper's (its gait data is private): PAMAP2 wrist -> cadence regression
    (``relcon/data/process/process_pamap2_gait.py``), one fold per subject with walking-type
    windows: 8 on the full data (101-108; 109 did none of these activities)."""
    data = SupervisedDataConfig(data_folder="relcon/data/datasets/pamap2_gait/processed")
    return [Base_EvalConfig(name="pamap2_gait", model_folder="Regress", model_file=model_file,
                            cv_splits=PAMAP2_GAIT_FOLDS, data_config=data)
            for model_file in ("linear_probe", "MLP_probe")]


allrelcon_expconfigs["25_3_8_relcon"] = RelCon_ModelConfig(
    description="RelCon (reference values): ResNet1D-256, K=20 within-user candidates, 100 epochs on "
                "dummydataset; 7 benchmark evaluations + PAMAP2 wrist->cadence regression (ours)",
    withinuser_cands=20,
    motifdist_expconfig_key="25_3_8_motifdist",
    data_config=SSLDataConfig(data_folder="relcon/data/datasets/dummydataset"),
    net_config=Base_NetConfig(net_folder="ResNet1D", net_file="ResNet1D_Net", params=RESNET1D_PARAMS),
    epochs=100,
    lr=0.000001,
    batch_size=64,
    save_epochfreq=10,
    eval_configs=benchmark_evals() + gait_evals(),
)

# The encoder of 25_3_8_relcon (trained first if missing), evaluated with the priorpt sets on
# leak-free folds (true leave-one-subject-out with a disjoint validation subject) instead of the
# reference's folds. ``pretrained_from`` makes a config evaluate another run's checkpoints
# instead of training its own; results go to this config's run folder.
_leakfree = copy.deepcopy(allrelcon_expconfigs["25_3_8_relcon"])
_leakfree.description = ("evaluations of 25_3_8_relcon's encoder, priorpt sets on leak-free folds "
                         "(processed_leakfree/)")
_leakfree.eval_configs = benchmark_evals(PRIORPT_LEAKFREE_SUBDIR)
_leakfree.pretrained_from = "25_3_8_relcon"
allrelcon_expconfigs["25_3_8_relcon_leakfree"] = _leakfree
