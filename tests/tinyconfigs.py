"""Tiny configs for end-to-end tests, written next to a tiny data tree (via RELCON_CONFIGS)."""
import textwrap

# The tiny nets of every test config file (``TINY_NETS`` is pasted into each template).
TINY_NETS = """
from relcon.nets.Base_Nets import Base_NetConfig


def tiny_crossattn():
    return Base_NetConfig("CrossAttn", "CrossAttn_Net", dict(query_dimsize=3, key_dimsize=3, kernel_size=5,
                                                             embed_dim=16, double_receptivefield=1))


def tiny_resnet():
    return Base_NetConfig("ResNet1D", "ResNet1D_Net", dict(
        init_conv=dict(in_channels=3, base_filters=8, kernel_size=7, stride=2, padding=0),
        init_maxpool=dict(kernel_size=3, stride=2),
        blocks=[dict(n=1, in_channels=8, base_filters=8, kernel_size=3, stride=1),
                dict(n=1, in_channels=8, base_filters=16, kernel_size=4, stride=1)],
        finalpool="avg"))
"""

# The same nets as functions, for tests that build them directly.
_NETS: dict = {}
exec(TINY_NETS, _NETS)
tiny_crossattn, tiny_resnet = _NETS["tiny_crossattn"], _NETS["tiny_resnet"]

TEMPLATE = '''
from relcon.data.Base_Dataset import SSLDataConfig, SupervisedDataConfig
from relcon.eval.Base_Eval import Base_EvalConfig
from relcon.models.MotifDist.MotifDist_Model import MotifDist_ModelConfig
from relcon.models.RelCon.RelCon_Model import RelCon_ModelConfig

DATA = {data!r}
HAR = SupervisedDataConfig(data_folder=DATA + "_har", generate={{"name": "synthetic_har", "args": dict(
    n_subjects=4, windows_per_activity=2, n_folds=2, seed=0)}}, class_names=["walking", "running", "stairs_up",
    "stairs_down", "cycling", "sitting", "standing", "lying"])
alltiny_expconfigs = {{
    "tiny_motifdist": MotifDist_ModelConfig(
        description="tiny distance for tests",
        data_config=SSLDataConfig(data_folder=DATA),
        net_config=tiny_crossattn(),
        epochs=1, lr=1e-3, batch_size=8, save_epochfreq=1),
    "tiny_relcon": RelCon_ModelConfig(
        description="tiny RelCon for tests",
        motifdist_expconfig_key="tiny_motifdist", withinuser_cands=3,
        data_config=SSLDataConfig(data_folder=DATA),
        net_config=tiny_resnet(),
        epochs=1, lr=1e-3, batch_size=4, save_epochfreq=1,
        eval_configs=[Base_EvalConfig(name="har", model_folder="Classify", model_file="linear_probe",
                                      data_config=HAR, cv_splits=2)]{extra}),
}}
'''


def write_tiny_configs(folder, data, extra=""):
    path = folder / "tiny_expconfigs.py"
    path.write_text(textwrap.dedent(TINY_NETS + TEMPLATE.format(data=str(data), extra=extra)))
    return path
