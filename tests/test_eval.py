import copy
import os

import numpy as np
import pytest
import torch
from sklearn import metrics as skm

from relcon.data.Base_Dataset import SupervisedDataConfig
from relcon.eval.Base_Eval import Base_EvalConfig, load_fold, state_fingerprint
from relcon.eval.metrics import aggregate, classification_metrics
from relcon.experiments import registry
from relcon.nets.ResNet1D.ResNet1D_Net import Net as ResNet
from relcon.utils.imports import model_module

TINY_RESNET = dict(init_conv=dict(in_channels=3, base_filters=8, kernel_size=7, stride=2, padding=0),
                   init_maxpool=dict(kernel_size=3, stride=2),
                   blocks=[dict(n=1, in_channels=8, base_filters=16, kernel_size=3, stride=1)], finalpool="avg")


def easy_fold_data(n_per_class=12, n_classes=3, T=128, seed=0, channels=3):
    """Classes differ in oscillation frequency; learnable from random conv features."""
    rng = np.random.default_rng(seed)
    X, y = [], []
    for c in range(n_classes):
        t = np.arange(T) / 50.0
        for _ in range(n_per_class):
            phase = rng.uniform(0, 2 * np.pi)
            sig = np.sin(2 * np.pi * (1 + 2 * c) * t + phase)[None, :] * rng.uniform(0.8, 1.2, (channels, 1))
            X.append(sig + 0.1 * rng.standard_normal((channels, T)))
            y.append(c)
    X, y = np.array(X, dtype=np.float32), np.array(y)
    order = rng.permutation(len(y))
    return X[order], y[order]


def write_folds(folder, n_folds=2, T=128, n_classes=3, y_dtype=np.int64, channels=3, n_train=10, n_eval=5):
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(n_folds):
        for i, mode in enumerate(("train", "val", "test")):
            X, y = easy_fold_data(n_per_class=n_train if mode == "train" else n_eval, n_classes=n_classes, T=T,
                                  seed=100 * k + i, channels=channels)
            np.save(folder / f"cv{k}_{mode}_X.npy", X)
            np.save(folder / f"cv{k}_{mode}_y.npy", y.astype(y_dtype))
    return folder


def make_eval(model_file, folder, **kw):
    kw.setdefault("evalnetparams", {"embed_dim": 16, "mlp_dim": 16, "class_num": 3})
    return Base_EvalConfig(model_folder="Classify", model_file=model_file, name="t",
                           data_config=SupervisedDataConfig(data_folder=str(folder)), cv_splits=2,
                           epochs=kw.pop("epochs", 3), batch_size=8, **kw)


def encoder():
    torch.manual_seed(0)
    return ResNet(**TINY_RESNET)


@pytest.mark.parametrize("model_file,params", [
    ("linear_probe", {}), ("MLP_probe", {}), ("MLP_probe", {"early_stopping": "reference"}),
    ("MLP_finetune", {"embed_dim": 16, "mlp_dim": 16, "class_num": 3}),
    ("scratch", {"embed_dim": 16, "mlp_dim": 16, "class_num": 3})])
def test_each_model_fits_predicts_and_reloads(tmp_path, model_file, params):
    folder = write_folds(tmp_path / "data")
    ev = make_eval(model_file, folder, evalnetparams=params, epochs=6)
    data = load_fold(folder, 0, in_channels=3)
    cls = model_module(ev).Model
    enc = encoder()
    before = state_fingerprint(enc)
    model = cls(ev, enc, tmp_path / "run", "cpu", {"init": "test"})
    assert not model.is_fitted()
    model.fit(data["train"], data["val"])
    if cls.frozen_encoder:
        assert state_fingerprint(enc) == before
    pred = model.predict(data["test"].X)
    assert pred.shape == data["test"].y.shape
    if params.get("early_stopping") == "reference":
        np.testing.assert_array_equal(pred, reference_mlp_predictions(enc, data))
    else:
        assert skm.accuracy_score(data["test"].y, pred) > 0.5  # chance is 1/3
    again = cls(ev, copy.deepcopy(encoder()), tmp_path / "run", "cpu", {"init": "test"})
    assert again.is_fitted()
    again.load()
    if cls.frozen_encoder:
        np.testing.assert_array_equal(again.predict(data["test"].X), pred)
    assert not cls(ev, encoder(), tmp_path / "run", "cpu", {"init": "other"}).is_fitted()


def reference_mlp_predictions(enc, data):
    """The paper's MLP probe written directly with scikit-learn: pooled val + train windows, a
    random validation fraction for early stopping, no feature scaling."""
    from sklearn.neural_network import MLPClassifier

    from relcon.eval.Base_Eval import extract_features

    f = {m: extract_features(enc, data[m].X) for m in ("train", "val", "test")}
    n_val, n_train = len(f["val"]), len(f["train"])
    clf = MLPClassifier(hidden_layer_sizes=512, early_stopping=True, n_iter_no_change=5, random_state=42,
                        shuffle=False, validation_fraction=n_val / (n_val + n_train))
    clf.fit(np.concatenate([f["val"], f["train"]]), np.concatenate([data["val"].y, data["train"].y]))
    return clf.predict(f["test"])


def test_probe_refuses_to_move_encoder(tmp_path, monkeypatch):
    folder = write_folds(tmp_path / "data")
    ev = make_eval("linear_probe", folder)
    cls = model_module(ev).Model
    model = cls(ev, encoder(), tmp_path / "run", "cpu", {})
    original = cls._fit

    def sneaky(self, train, val):
        original(self, train, val)
        with torch.no_grad():
            next(self.encoder.parameters()).add_(1.0)
    monkeypatch.setattr(cls, "_fit", sneaky)
    data = load_fold(folder, 0)
    with pytest.raises(AssertionError, match="frozen encoder"):
        model.fit(data["train"], data["val"])


def test_metrics_equal_sklearn_on_known_predictions():
    y_true = np.array([0, 0, 1, 1, 2, 2, 2, 0])
    y_pred = np.array([0, 1, 1, 1, 2, 0, 2, 0])
    m = classification_metrics(y_true, y_pred)
    assert m["accuracy"] == pytest.approx(6 / 8)
    assert m["macro_f1"] == pytest.approx(skm.f1_score(y_true, y_pred, average="macro"))
    assert m["kappa"] == pytest.approx(skm.cohen_kappa_score(y_true, y_pred))
    assert m["balanced_accuracy"] == pytest.approx((2 / 3 + 1 + 2 / 3) / 3)


def test_fold_aggregation():
    mean, std = aggregate([{"macro_f1": 0.5, "accuracy": 1.0}, {"macro_f1": 0.7, "accuracy": 0.0}])
    assert mean == pytest.approx({"macro_f1": 0.6, "accuracy": 0.5})
    assert std == pytest.approx({"macro_f1": 0.1, "accuracy": 0.5})


def test_fold_input_errors(tmp_path):
    folder = write_folds(tmp_path / "data", n_folds=1)
    with pytest.raises(FileNotFoundError, match=r"cv1_train_X.npy is missing \(fold 1, train split\); create the folds with"):
        load_fold(folder, 1)
    np.save(folder / "cv0_val_X.npy", np.zeros((4, 128), dtype=np.float32))
    with pytest.raises(ValueError, match=r"cv0_val_X.npy: float32 array of shape \(4, 128\)"):
        load_fold(folder, 0)
    np.save(folder / "cv0_val_X.npy", np.zeros((4, 128, 3), dtype=np.float32))
    with pytest.raises(ValueError, match="channels first"):
        load_fold(folder, 0, in_channels=3)
    folder = write_folds(tmp_path / "data2", n_folds=1)
    with pytest.raises(ValueError, match=r"label 2 found; expected class ids in \[0, 2\)"):
        load_fold(folder, 0, class_num=2)
    np.save(folder / "cv0_test_y.npy", np.array([0.5] * 15))
    with pytest.raises(ValueError, match="expected integer class ids"):
        load_fold(folder, 0)


def test_float_labels_accepted(tmp_path):
    folder = write_folds(tmp_path / "data", n_folds=1, y_dtype=np.float64)  # MotionSense stores float labels
    assert load_fold(folder, 0)["train"].y.dtype == np.int64


def _tiny_pretrained_run(tmp_path, monkeypatch, eval_configs):
    """A fake pre-trained RelCon run (random tiny encoder) under a temporary output root."""
    import relcon.utils.paths as paths
    from relcon.experiments.registry import config_to_dict

    monkeypatch.setattr(paths, "OUT_ROOT", tmp_path / "out")
    config = registry.get_config("25_3_8_relcon")
    config.net_config.params = copy.deepcopy(TINY_RESNET)
    config.eval_configs = eval_configs
    run = tmp_path / "out" / "tiny"
    run.mkdir(parents=True)
    torch.save({"net": encoder().state_dict(), "epoch": 0, "config": config_to_dict(config)},
               run / "checkpoint_best.pkl")
    return config


def run_tiny_evaluations(tmp_path, config, refit=False):
    """The evaluations of ``config`` on the encoder of the run ``tmp_path/out/tiny``."""
    from relcon.eval.runner import EncoderRun, run_evaluations

    run = tmp_path / "out" / "tiny"
    return run_evaluations(run, "tiny", config, "cpu", EncoderRun(run, "tiny", config), refit=refit)


@pytest.mark.parametrize("folder_name,model_file", [("Classify", "MLP_finetune"), ("Regress", "MLP_finetune")])
def test_a_fresh_fine_tuning_is_tested_with_its_best_epoch_as_a_reused_one_is(tmp_path, monkeypatch, folder_name,
                                                                              model_file):
    from relcon.eval.Classify.MLP_finetune import FinetuneTrainer

    regression = folder_name == "Regress"
    folder = write_folds(tmp_path / "data", n_folds=1, y_dtype=np.float32 if regression else np.int64)
    schedule = iter([1.0, 0.1, 5.0])  # validation losses of epochs 0, 1, 2: epoch 1 is the best, not the last
    real = FinetuneTrainer.run_one_epoch

    def run_one_epoch(self, loader, train, *args, **kwargs):
        loss = real(self, loader, train, *args, **kwargs)
        return loss if train else next(schedule)

    monkeypatch.setattr(FinetuneTrainer, "run_one_epoch", run_one_epoch)
    params = {"embed_dim": 16, "mlp_dim": 16} if regression else {"embed_dim": 16, "mlp_dim": 16, "class_num": 3}
    ev = Base_EvalConfig(model_folder=folder_name, model_file=model_file, name="t", cv_splits=1, epochs=3,
                         batch_size=8, data_config=SupervisedDataConfig(data_folder=str(folder)), evalnetparams=params)
    data = load_fold(folder, 0, in_channels=3)
    fresh = model_module(ev).Model(ev, encoder(), tmp_path / "run", "cpu", {"init": "random"})
    fresh.fit(data["train"], data["val"])
    reused = model_module(ev).Model(ev, encoder(), tmp_path / "run", "cpu", {"init": "random"})
    reused.load()
    from relcon.runs import checkpoint_path, load_checkpoint
    assert load_checkpoint(checkpoint_path(fresh.trainer.run_dir, "best"))["epoch"] == 1
    np.testing.assert_array_equal(fresh.predict(data["test"].X), reused.predict(data["test"].X))
    for a, b in zip(fresh.trainer.net.state_dict().values(), reused.trainer.net.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_rerun_reuses_fitted_models(tmp_path, monkeypatch):
    folder = write_folds(tmp_path / "data")
    config = _tiny_pretrained_run(tmp_path, monkeypatch, [make_eval("linear_probe", folder),
                                                          make_eval("MLP_finetune", folder, epochs=2)])
    first = run_tiny_evaluations(tmp_path, config)
    ckpt = tmp_path / "out" / "tiny" / "t" / "linear_probe" / "cv0" / "checkpoint_best.pkl"
    stamp = ckpt.stat().st_mtime_ns
    second = run_tiny_evaluations(tmp_path, config)
    assert ckpt.stat().st_mtime_ns == stamp
    assert [r["mean"] for r in first] == [r["mean"] for r in second]
    assert "reusing the fitted model" in (tmp_path / "out" / "tiny" / "log.txt").read_text()
    run_tiny_evaluations(tmp_path, config, refit=True)
    assert ckpt.stat().st_mtime_ns != stamp
    for name in ("results.csv", "results.json", "results.md", "tiny_easy_paste.csv"):
        assert (tmp_path / "out" / "tiny" / name).exists()
    table = (tmp_path / "out" / "tiny" / "results.md").read_text()
    assert "t/linear_probe" in table and "±" in table


def test_missing_pretrain_epoch_lists_existing(tmp_path, monkeypatch):
    from relcon.models.Base_Model import CheckpointError

    folder = write_folds(tmp_path / "data")
    config = _tiny_pretrained_run(tmp_path, monkeypatch, [make_eval("linear_probe", folder, pretrain_epoch=7)])
    with pytest.raises(CheckpointError, match=r"checkpoint_epoch7.pkl does not exist; present .*checkpoint_best.pkl"):
        run_tiny_evaluations(tmp_path, config, refit=False)


def test_class_absent_from_train_warns_and_reports(tmp_path, monkeypatch):
    folder = write_folds(tmp_path / "data", n_folds=1)
    X, y = np.load(folder / "cv0_train_X.npy"), np.load(folder / "cv0_train_y.npy")
    np.save(folder / "cv0_train_X.npy", X[y != 2])
    np.save(folder / "cv0_train_y.npy", y[y != 2])
    ev = make_eval("linear_probe", folder)
    ev.cv_splits = 1
    config = _tiny_pretrained_run(tmp_path, monkeypatch, [ev])
    records = run_tiny_evaluations(tmp_path, config, refit=False)
    assert records[0]["status"] == "done"
    assert "absent from the training split" in (tmp_path / "out" / "tiny" / "log.txt").read_text()


def test_seven_reference_evaluations_on_small_generated_folders(tmp_path, monkeypatch):
    """The 25_3_8_relcon evaluation configs (data layout, fold counts, models) end to end."""
    evaluations = registry.get_config("25_3_8_relcon").eval_configs
    reference = evaluations[:7]  # ours (gait regression) follow
    assert [(e.name, e.model_folder, e.model_file, e.cv_splits) for e in evaluations[7:]] == [
        ("pamap2_gait", "Regress", "linear_probe", 8), ("pamap2_gait", "Regress", "MLP_probe", 8)]
    assert [(e.name, e.model_file, e.cv_splits) for e in reference] == [
        ("hhar", "linear_probe", 5), ("motionsense", "linear_probe", 5), ("pamap2", "linear_probe", 5),
        ("priorpt_pamap2", "MLP_probe", 8), ("priorpt_pamap2", "MLP_finetune", 8),
        ("priorpt_opportunity", "MLP_probe", 4), ("priorpt_opportunity", "MLP_finetune", 4)]
    evals = copy.deepcopy(reference)
    for ev in evals:
        rel = ev.data_config.data_folder
        T = 1000 if "/priorpt/" in rel else 200
        n_classes = 8 if "priorpt_pamap2" == ev.name else (4 if "opportunity" in ev.name else 6)
        write_folds(tmp_path / rel, n_folds=ev.cv_splits, T=T, n_classes=n_classes, n_train=2, n_eval=1,
                    y_dtype=np.float64 if "motionsense" in rel else np.int64)
        ev.data_config.data_folder = str(tmp_path / rel)
        ev.epochs = 1
        if ev.model_file == "MLP_probe":
            ev.evalnetparams["max_iter"] = 10
    config = _tiny_pretrained_run(tmp_path, monkeypatch, evals)
    config.net_config.params["blocks"][-1]["base_filters"] = 256  # the heads expect embed_dim 256
    torch.manual_seed(0)
    torch.save({"net": ResNet(**config.net_config.params).state_dict(), "epoch": 0,
                "config": registry.config_to_dict(config)}, tmp_path / "out" / "tiny" / "checkpoint_best.pkl")
    records = run_tiny_evaluations(tmp_path, config, refit=False)
    assert [r["status"] for r in records] == ["done"] * 7
    assert [len(r["folds"]) for r in records] == [5, 5, 5, 8, 8, 4, 4]


# ----------------------------------------------------------------------------- regression
def regression_data(n, T=128, seed=0, n_targets=0):
    """Sinusoids of 1-4 Hz and amplitude 0.5-1.5; the target is the amplitude x 10 (random conv
    features see it almost linearly), and for ``n_targets`` = 2 also the rate per minute."""
    rng = np.random.default_rng(seed)
    f = rng.uniform(1.0, 4.0, n)
    amp = rng.uniform(0.5, 1.5, n)
    t = np.arange(T) / 50.0
    X = amp[:, None, None] * np.sin(2 * np.pi * f[:, None, None] * t + rng.uniform(0, 6.3, (n, 3, 1)))
    X = (X + 0.05 * rng.standard_normal(X.shape)).astype(np.float32)
    y = 10.0 * amp if n_targets == 0 else np.column_stack([10.0 * amp, 60.0 * f])
    return X, y


def write_regression_folds(folder, n_folds=2, n_targets=0, sizes=(40, 16, 16)):
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(n_folds):
        for i, (mode, n) in enumerate(zip(("train", "val", "test"), sizes)):
            X, y = regression_data(n, seed=10 * k + i, n_targets=n_targets)
            np.save(folder / f"cv{k}_{mode}_X.npy", X)
            np.save(folder / f"cv{k}_{mode}_y.npy", y)
    return folder


def make_regression_eval(model_file, folder, **kw):
    kw.setdefault("evalnetparams", {"embed_dim": 16, "mlp_dim": 16})
    return Base_EvalConfig(model_folder="Regress", model_file=model_file, name="g",
                           data_config=SupervisedDataConfig(data_folder=str(folder)), cv_splits=2,
                           epochs=kw.pop("epochs", 3), batch_size=8, **kw)


def test_regression_metrics_equal_scipy_and_sklearn():
    from scipy import stats

    from relcon.eval.metrics import regression_metrics

    y_true = np.array([100.0, 110.0, 95.0, 120.0, 130.0, 90.0])
    y_pred = np.array([102.0, 105.0, 99.0, 118.0, 121.0, 97.0])
    m = regression_metrics(y_true, y_pred)
    assert set(m) == {"mae", "rmse", "pearson_r", "r2"}
    assert m["mae"] == pytest.approx(skm.mean_absolute_error(y_true, y_pred))
    assert m["rmse"] == pytest.approx(np.sqrt(skm.mean_squared_error(y_true, y_pred)))
    assert m["pearson_r"] == pytest.approx(stats.pearsonr(y_true, y_pred)[0])
    assert m["r2"] == pytest.approx(skm.r2_score(y_true, y_pred))
    assert m["mae"] == pytest.approx(29 / 6)
    two = regression_metrics(np.column_stack([y_true, y_true / 10]), np.column_stack([y_pred, y_true / 10 + 1]))
    assert two["mae[0]"] == pytest.approx(m["mae"]) and two["mae[1]"] == pytest.approx(1.0)
    assert two["r2[1]"] == pytest.approx(skm.r2_score(y_true / 10, y_true / 10 + 1))
    assert two["pearson_r[1]"] == pytest.approx(1.0)
    assert two["rmse"] == pytest.approx((m["rmse"] + 1.0) / 2)
    assert np.isnan(regression_metrics(y_true, np.full(6, 100.0))["pearson_r"])  # constant predictions
    with pytest.raises(ValueError, match="same shape"):
        regression_metrics(y_true, y_pred[:5])


@pytest.mark.parametrize("model_file,n_targets", [
    ("linear_probe", 0), ("linear_probe", 2), ("MLP_probe", 0), ("MLP_probe", 2), ("MLP_finetune", 2),
    ("scratch", 0)])
def test_each_regression_model_fits_predicts_and_reloads(tmp_path, model_file, n_targets):
    folder = write_regression_folds(tmp_path / "data", n_folds=1, n_targets=n_targets)
    ev = make_regression_eval(model_file, folder, epochs=4)
    data = load_fold(folder, 0, in_channels=3, task="regression")
    cls = model_module(ev).Model
    assert cls.task == "regression"
    model = cls(ev, encoder(), tmp_path / "run", "cpu", {"init": "test"})
    model.fit(data["train"], data["val"])
    pred = model.predict(data["test"].X)
    y = data["test"].y
    assert pred.shape == y.shape and np.isfinite(pred).all()
    # Mapped back to the targets' units: on the scale of the targets, not of standardised values.
    assert abs(pred.mean(0) - y.mean(0)).max() < y.std(0).max()
    if cls.frozen_encoder:  # fine-tuning for 4 epochs on 40 windows is only checked for running
        first = pred if pred.ndim == 1 else pred[:, 0]
        assert np.corrcoef(first, y if y.ndim == 1 else y[:, 0])[0, 1] > 0.5
    again = cls(ev, encoder(), tmp_path / "run", "cpu", {"init": "test"})
    assert again.is_fitted()
    again.load()
    np.testing.assert_allclose(again.predict(data["test"].X), pred, rtol=1e-5, atol=1e-6)


def test_ridge_alpha_chosen_on_validation(tmp_path):
    folder = write_regression_folds(tmp_path / "data", n_folds=1)
    ev = make_regression_eval("linear_probe", folder)
    data = load_fold(folder, 0, task="regression")
    model = model_module(ev).Model(ev, encoder(), tmp_path / "run", "cpu", {})
    model.fit(data["train"], data["val"])
    mse = np.array([v[0] for v in model.selection["val_mse"].values()])
    assert model.selection["alpha"] == [float(list(model.selection["val_mse"])[int(np.argmin(mse))])]


def test_regression_targets_non_finite(tmp_path):
    folder = write_regression_folds(tmp_path / "data", n_folds=1)
    y = np.load(folder / "cv0_train_y.npy")
    y[[1, 4]] = [np.nan, np.inf]
    np.save(folder / "cv0_train_y.npy", y)
    split = load_fold(folder, 0, task="regression")["train"]
    assert split.dropped == 2 and len(split.y) == len(split.X) == 38 and np.isfinite(split.y).all()
    np.save(folder / "cv0_val_y.npy", np.full(16, np.nan))
    with pytest.raises(ValueError, match=r"cv0_val_y.npy: all 16 targets of the val split of fold 0 are non-finite"):
        load_fold(folder, 0, task="regression")
    np.save(folder / "cv0_val_y.npy", np.zeros((16, 0)))
    with pytest.raises(ValueError, match=r"expected numbers \(N,\) or \(N, M\)"):
        load_fold(folder, 0, task="regression")


def test_regression_results_table_below_classification(tmp_path, monkeypatch):
    har = write_folds(tmp_path / "har", n_folds=2)
    gait = write_regression_folds(tmp_path / "gait", n_folds=2)
    y = np.load(gait / "cv1_test_y.npy")
    y[0] = np.nan
    np.save(gait / "cv1_test_y.npy", y)
    config = _tiny_pretrained_run(tmp_path, monkeypatch, [make_eval("linear_probe", har),
                                                          make_regression_eval("linear_probe", gait)])
    records = run_tiny_evaluations(tmp_path, config, refit=False)
    assert [r["task"] for r in records] == ["classification", "regression"]
    assert records[1]["folds"][1]["n_test"] == 15
    assert {"mae", "rmse", "pearson_r", "r2"} <= set(records[1]["mean"])
    run = tmp_path / "out" / "tiny"
    table = (run / "results.md").read_text()
    assert table.index("macro-F1") < table.index("| evaluation | folds | MAE | RMSE | Pearson r | R² |")
    assert "g/linear_probe" in table.split("MAE")[1]
    assert "1 of 16 test windows have non-finite targets and were dropped" in (run / "log.txt").read_text()
    header = (run / "results.csv").read_text().splitlines()[0].split(",")
    assert {"mae", "pearson_r", "macro_f1"} <= set(header)


@pytest.mark.parametrize("model_file", ["linear_probe", "MLP_finetune"])
def test_a_stored_fit_is_reused_only_for_the_same_settings_files_and_a_finished_training(tmp_path, model_file):
    folder = write_folds(tmp_path / "data")
    ev = make_eval(model_file, folder, epochs=2)
    data = load_fold(folder, 0, in_channels=3)
    cls = model_module(ev).Model
    source = {"init": "test"}
    model = cls(ev, encoder(), tmp_path / "run", "cpu", source)
    assert model.stale_reason(data["train"], data["val"]) == "no fitted model yet"
    model.fit(data["train"], data["val"])
    same = cls(make_eval(model_file, folder, epochs=2), encoder(), tmp_path / "run", "cpu", source)
    assert same.stale_reason(data["train"], data["val"]) is None
    for changed in (make_eval(model_file, folder, epochs=3), make_eval(model_file, folder, epochs=2, lr=0.01),
                    make_eval(model_file, folder, epochs=2,
                              evalnetparams={"embed_dim": 16, "mlp_dim": 32, "class_num": 3})):
        reason = cls(changed, encoder(), tmp_path / "run", "cpu", source).stale_reason(data["train"], data["val"])
        assert reason.startswith("the evaluation settings changed")
    # the fold's training file re-written (e.g. the data set processed again)
    x_path = folder / "cv0_train_X.npy"
    np.save(x_path, np.load(x_path))
    os.utime(x_path, ns=(os.stat(x_path).st_atime_ns, os.stat(x_path).st_mtime_ns + 10**9))
    fresh = load_fold(folder, 0, in_channels=3)
    assert same.stale_reason(fresh["train"], fresh["val"]) == "the fold's train/val files changed"
    if model_file == "MLP_finetune":  # a fine-tuning killed before its last epoch is not a fit
        latest = tmp_path / "run" / "checkpoint_latest.pkl"
        state = torch.load(latest, weights_only=False)
        state["epoch"] = 0
        torch.save(state, latest)
        assert same.stale_reason() == "its training did not finish"
