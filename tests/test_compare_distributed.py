"""The comparison trainers with heads (SimCLR, AugPred) train under torchrun (2 gloo processes)
with identical weights on both ranks, rank 0 writing."""
import subprocess
import sys
import textwrap

from relcon_testutils import REPO, run_env, write_tree
from tinyconfigs import TINY_NETS

TEMPLATE = '''
from relcon.data.Base_Dataset import SSLDataConfig
from relcon.models.AugPred.AugPred_Model import AugPred_ModelConfig
from relcon.models.SimCLR.SimCLR_Model import SimCLR_ModelConfig

COMMON = dict(data_config=SSLDataConfig(data_folder={data!r}), net_config=tiny_resnet(), epochs=2, lr=1e-3,
              batch_size=4)
allddp_expconfigs = {{
    "ddp_simclr": SimCLR_ModelConfig(proj_hidden=8, proj_dim=8, **COMMON),
    "ddp_augpred": AugPred_ModelConfig(**COMMON),
}}
'''


def test_two_gloo_processes_train_simclr_and_augpred(tmp_path):
    tree = write_tree(tmp_path / "tree", subjects=(2, 1, 1), hours=2, segments=5, length=64)
    cfg = tmp_path / "ddp_expconfigs.py"
    cfg.write_text(textwrap.dedent(TINY_NETS + TEMPLATE.format(data=str(tree))))
    env = run_env(tmp_path / "out", cfg)
    env["OMP_NUM_THREADS"] = "1"
    for name in ("ddp_simclr", "ddp_augpred"):
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
               str(REPO / "run_exp.py"), "--config", name, "--device", "cpu"]
        r = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
        log = (tmp_path / "out" / name / "log.txt").read_text()
        assert log.count("2 ranks, identical weights") == 2, log
        assert log.count("Epoch #0:") == 1
