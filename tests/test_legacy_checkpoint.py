"""Checkpoints written before the layering change (tests/fixtures/legacy_run/, made by
`run_exp.py --config tiny_relcon` of tests/tinyconfigs.py with save_stepfreq=2, one thread) still
load, embed and resume to the same weights."""
import hashlib
import shutil

import numpy as np
import pytest
import torch

from relcon_testutils import FIXTURES, write_tree

LEGACY = FIXTURES / "legacy_run"
# sha256 of the encoder's state_dict after resuming the legacy run for a second epoch (one thread).
RESUMED_SHA256 = "72a146e8fb7856f91d674fb7a20ac06538921f0afd19009118abdd37297f7310"
# Sum of the 16-d embedding of a fixed input before the change.
EMBEDDING_SUM = 1.2486461489461362


def digest(state_dict) -> str:
    h = hashlib.sha256()
    for key, value in state_dict.items():
        h.update(key.encode())
        h.update(value.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def legacy_run_dir(tmp_path):
    run = tmp_path / "tiny_relcon"
    run.mkdir()
    shutil.copy(LEGACY / "relcon_latest.pt", run / "checkpoint_latest.pkl")
    shutil.copy(LEGACY / "relcon_config.json", run / "config.json")
    return run


def test_legacy_encoder_loads_and_embeds(tmp_path, one_thread):
    import relcon

    encoder = relcon.load_encoder(legacy_run_dir(tmp_path), ckpt="latest")
    x = torch.from_numpy(np.sin(np.linspace(0, 20, 3 * 256)).reshape(1, 3, 256).astype(np.float32))
    with torch.no_grad():
        emb = encoder(x)
    assert emb.shape == (1, 16) and torch.isfinite(emb).all()
    assert emb.double().sum().item() == pytest.approx(EMBEDDING_SUM, abs=1e-6)


def test_legacy_run_resumes_to_the_same_weights(tmp_path, one_thread):
    from relcon.experiments.registry import config_from_dict
    from relcon.models.Base_Model import load_checkpoint, load_state_dict_strict
    from relcon.models.RelCon.RelCon_Model import Model
    from relcon.nets.CrossAttn.CrossAttn_Net import Net as CrossAttn

    state = load_checkpoint(LEGACY / "relcon_latest.pt")
    config = config_from_dict(state["config"])
    config.epochs = 2
    md_state = load_checkpoint(LEGACY / "motifdist_best.pt")
    motifdist = CrossAttn(**config_from_dict(md_state["config"]).net_config.params)
    load_state_dict_strict(motifdist, md_state["net"], "legacy MotifDist")
    tree = write_tree(tmp_path / "tree", subjects=(2, 1, 1), hours=1, segments=6)
    run = legacy_run_dir(tmp_path)
    model = Model(config, train_data=tree / "train", val_data=tree / "val", test_data=tree / "test",
                  resume_on=True, run_dir=run, device="cpu", motifdist_net=motifdist)
    history = model.fit()
    assert [h["epoch"] for h in history] == [0, 1]
    assert digest(model.net.state_dict()) == RESUMED_SHA256
