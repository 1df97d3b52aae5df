"""Pre-training on Capture-24 (``relcon/data/process/process_capture24.py``): the reference
MotifDist and RelCon settings with the Capture-24 pre-training layout as data, evaluated on the
paper's benchmarks plus Capture-24 activity recognition (Walmsley2020 labels: sleep, sedentary,
light, moderate-vigorous; 10 s windows, 5 subject-wise folds)."""
import copy

from relcon.data import class_names
from relcon.data.Base_Dataset import SSLDataConfig, SupervisedDataConfig
from relcon.eval.Base_Eval import Base_EvalConfig
from relcon.experiments.configs.MotifDist_expconfigs import allmotifdist_expconfigs
from relcon.experiments.configs.RelCon_expconfigs import allrelcon_expconfigs, benchmark_evals

CAPTURE24_PRETRAIN = "relcon/data/datasets/capture24/pretrain"
CAPTURE24_HAR = "relcon/data/datasets/capture24/har"
CAPTURE24_FOLDS = 5


def capture24_evals():
    """Linear and MLP probes on the Capture-24 HAR folds."""
    data = SupervisedDataConfig(data_folder=CAPTURE24_HAR, class_names=class_names.CAPTURE24_WALMSLEY2020)
    return [Base_EvalConfig(name="capture24", model_folder="Classify", model_file=model_file,
                            cv_splits=CAPTURE24_FOLDS, data_config=data)
            for model_file in ("linear_probe", "MLP_probe")]


allcapture24_expconfigs = {}

_motifdist = copy.deepcopy(allmotifdist_expconfigs["25_3_8_motifdist"])
_motifdist.description = "MotifDist (reference values) pre-trained on the Capture-24 pre-training layout"
_motifdist.data_config = SSLDataConfig(data_folder=CAPTURE24_PRETRAIN)
allcapture24_expconfigs["25_3_8_motifdist_capture24"] = _motifdist

_relcon = copy.deepcopy(allrelcon_expconfigs["25_3_8_relcon"])
_relcon.description = ("RelCon (reference values) pre-trained on Capture-24; the paper's benchmark evaluations + "
                       "Capture-24 HAR (linear and MLP probes)")
_relcon.data_config = SSLDataConfig(data_folder=CAPTURE24_PRETRAIN)
_relcon.motifdist_expconfig_key = "25_3_8_motifdist_capture24"
_relcon.eval_configs = benchmark_evals() + capture24_evals()
allcapture24_expconfigs["25_3_8_relcon_capture24"] = _relcon
