"""Every comparison trainer resumes bitwise after a kill, like RelCon and MotifDist
(tests/test_resume.py): a run stopped mid-epoch or in validation and resumed with --resume_on
ends with the same weights (encoder and head), optimizer state, history and random states as a
run never stopped."""
import shutil
import textwrap
from pathlib import Path

import pytest

from relcon_testutils import write_tree
from reliability_helpers import TRAIN_STEPS, TREE, VAL_STEPS, differences, load, run_differences, run_main
from tinyconfigs import TINY_NETS

TEMPLATE = '''
from relcon.data.Base_Dataset import SSLDataConfig
from relcon.models.AugPred.AugPred_Model import AugPred_ModelConfig
from relcon.models.MotifDist.MotifDist_Model import MotifDist_ModelConfig
from relcon.models.REBAR.REBAR_Model import REBAR_ModelConfig
from relcon.models.RelCon.RelCon_Model import RelCon_ModelConfig
from relcon.models.SimCLR.SimCLR_Model import SimCLR_ModelConfig

DATA = SSLDataConfig(data_folder={data!r})
COMMON = dict(data_config=DATA, epochs=2, lr=1e-3, batch_size=4, save_epochfreq=1, save_stepfreq=1, num_threads=1)
allck_expconfigs = {{
    "ck_motifdist": MotifDist_ModelConfig(net_config=tiny_crossattn(), **COMMON),
    "ck_simclr": SimCLR_ModelConfig(net_config=tiny_resnet(), proj_hidden=16, proj_dim=8, **COMMON),
    "ck_augpred": AugPred_ModelConfig(net_config=tiny_resnet(), **COMMON),
    "ck_rebar": REBAR_ModelConfig(motifdist_expconfig_key="ck_motifdist", withinuser_cands=3,
                                  net_config=tiny_resnet(), **COMMON),
    "ck_relcon_dtw_withinuser": RelCon_ModelConfig(motifdist_expconfig_key="ck_motifdist", withinuser_cands=3,
                                                   distance="dtw", candidates="withinuser",
                                                   net_config=tiny_resnet(), **COMMON),
}}
'''
METHODS = ["ck_simclr", "ck_augpred", "ck_rebar", "ck_relcon_dtw_withinuser"]


class Killed(BaseException):
    """A simulated kill that nothing in the trainer catches."""


class Crasher:
    """Raises ``Killed`` at the ``at``-th batch (training or validation) of the trainers under test."""

    def __init__(self, monkeypatch):
        from relcon.models.AugPred import AugPred_Model
        from relcon.models.REBAR import REBAR_Model
        from relcon.models.RelCon import RelCon_Model
        from relcon.models.SimCLR import SimCLR_Model

        self.count, self.at = 0, None
        for module in (SimCLR_Model, AugPred_Model, REBAR_Model, RelCon_Model):
            cls = module.Model
            original = cls.compute_loss

            def compute_loss(model, batch, train, _original=original, _cls=cls):
                if type(model) is _cls:  # REBAR inherits RelCon's compute_loss: count once
                    self.count += 1
                    if self.count == self.at:
                        raise Killed(self.count)
                return _original(model, batch, train)
            monkeypatch.setattr(cls, "compute_loss", compute_loss)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("compare_resume")
    tree = write_tree(root / "tree", **TREE)
    configs = root / "ck_expconfigs.py"
    configs.write_text(textwrap.dedent(TINY_NETS + TEMPLATE.format(data=str(tree))))
    mp = pytest.MonkeyPatch()
    try:
        for name in ["ck_motifdist"] + METHODS:
            rc, _, err = run_main(mp, root / "ref", configs, "--config", name, "--device", "cpu")
            assert rc == 0, err
    finally:
        mp.undo()
    return root, configs


# mid-epoch in the second epoch (after step checkpoints), and in the first validation
POINTS = {"mid-epoch": TRAIN_STEPS + VAL_STEPS + 3, "validation": TRAIN_STEPS + 2}


@pytest.mark.parametrize("point", list(POINTS))
@pytest.mark.parametrize("name", METHODS)
def test_kill_then_resume_is_bitwise(world, tmp_path, monkeypatch, name, point):
    root, configs = world
    ref = root / "ref"
    shutil.copytree(ref / "ck_motifdist", tmp_path / "ck_motifdist")
    crasher = Crasher(monkeypatch)
    crasher.at = POINTS[point]
    args = ["--config", name, "--device", "cpu"]
    with pytest.raises(Killed):
        run_main(monkeypatch, tmp_path, configs, *args)
    assert (tmp_path / name / "checkpoint_latest.pkl").exists()
    crasher.at = None
    rc, out, err = run_main(monkeypatch, tmp_path, configs, *args, "--resume_on")
    assert rc == 0, err
    assert "Resuming from checkpoint_latest.pkl" in out
    assert run_differences(ref / name, tmp_path / name) == []
    for ckpt in ("checkpoint_latest.pkl", "checkpoint_best.pkl"):
        a, b = load(ref / name / ckpt), load(tmp_path / name / ckpt)
        assert set(a) == set(b)
        if "head" in a:  # the projection / task heads resume too
            assert differences(a["head"], b["head"], "head") == []


def test_heads_are_separate_from_the_encoder_checkpoint_key(world):
    """Evaluations load ``net`` (the encoder) unchanged; the heads are their own entry."""
    from relcon.api import load_encoder

    root, _ = world
    for name in ("ck_simclr", "ck_augpred"):
        state = load(root / "ref" / name / "checkpoint_best.pkl")
        assert "head" in state and not any(k.startswith("head") for k in state["net"])
        encoder = load_encoder(root / "ref" / name)
        assert encoder.embed_dim == 16


def test_ablations_without_the_learned_distance_need_no_motifdist(world, tmp_path, monkeypatch):
    root, configs = world
    rc, out, err = run_main(monkeypatch, tmp_path, configs, "--config", "ck_relcon_dtw_withinuser", "--device", "cpu",
                            "--set", "epochs=1")
    assert rc == 0, err
    assert not (tmp_path / "ck_motifdist").exists()
    assert "motifdist_sha256" not in load(tmp_path / "ck_relcon_dtw_withinuser" / "checkpoint_latest.pkl")["inputs"]
