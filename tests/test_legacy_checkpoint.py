"""Checkpoints written before the layering change (tests/fixtures/legacy_run/, made by
`run_exp.py --config tiny_relcon` of tests/tinyconfigs.py with save_stepfreq=2, one thread) still
load, embed and resume to the same weights.

Trained weights are never compared with a digest recorded on another CPU: float sums differ by
instruction set (AVX2, AVX-512, AMX), and Adam turns those last-bit differences into weight
differences of ~1e-3 after one epoch. The resume is compared, bit for bit, with the same epoch
continued by hand on this CPU from the checkpoint's weights, optimiser state and RNG state."""
import hashlib
import shutil

import numpy as np
import pytest
import torch

from relcon_testutils import FIXTURES, write_tree

LEGACY = FIXTURES / "legacy_run"
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


def legacy_trainer(tmp_path, run, resume_on):
    from relcon.experiments.registry import config_from_dict
    from relcon.models.Base_Model import load_checkpoint, load_state_dict_strict
    from relcon.models.RelCon.RelCon_Model import Model
    from relcon.nets.CrossAttn.CrossAttn_Net import Net as CrossAttn

    config = config_from_dict(load_checkpoint(LEGACY / "relcon_latest.pt")["config"])
    config.epochs = 2
    md_state = load_checkpoint(LEGACY / "motifdist_best.pt")
    motifdist = CrossAttn(**config_from_dict(md_state["config"]).net_config.params)
    load_state_dict_strict(motifdist, md_state["net"], "legacy MotifDist")
    tree = write_tree(tmp_path / "tree", subjects=(2, 1, 1), hours=1, segments=6)
    return Model(config, train_data=tree / "train", val_data=tree / "val", test_data=tree / "test",
                 resume_on=resume_on, run_dir=run, device="cpu", motifdist_net=motifdist)


def test_legacy_run_resumes_to_the_same_weights(tmp_path, one_thread):
    """``resume_on`` restores the legacy run's weights, optimiser and RNG state: its second epoch
    equals, bitwise, that epoch run by hand from the checkpoint's state on this CPU."""
    from relcon.models.Base_Model import load_checkpoint, load_state_dict_strict
    from relcon.runs import set_rng_state

    model = legacy_trainer(tmp_path, legacy_run_dir(tmp_path), resume_on=True)
    history = model.fit()
    assert [h["epoch"] for h in history] == [0, 1]
    resumed = digest(model.net.state_dict())

    state = load_checkpoint(LEGACY / "relcon_latest.pt")
    assert state["epoch"] == 0 and state.get("epoch_done", True)
    by_hand = legacy_trainer(tmp_path / "by_hand", tmp_path / "by_hand_run", resume_on=False)
    by_hand.configure_optimizer()
    load_state_dict_strict(by_hand.net, state["net"], "legacy RelCon")
    assert digest(by_hand.net.state_dict()) != resumed, "the resumed epoch did not change the weights"
    by_hand.optimizer.load_state_dict(state["optimizer"])
    set_rng_state(state["rng"])
    by_hand.run_one_epoch(by_hand.setup_dataloader(by_hand.train_data, None, train=True), True, 1)
    assert digest(by_hand.net.state_dict()) == resumed
