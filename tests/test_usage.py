"""Using a trained model: load_encoder / embed (API and CLI), reference checkpoints, export, report."""
import json
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from relcon_testutils import REPO, load_fixture, run_env, write_tree
from tinyconfigs import write_tiny_configs

from relcon.api import load_encoder, load_net_checkpoint
from relcon.embed import embed
from relcon.embed.cli import main as embed_main
from relcon.embed.cli import read_csv
from relcon.models.Base_Model import CheckpointError


def python(args, env, cwd, timeout=600):
    return subprocess.run([sys.executable, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)


def recording(n=1000, seed=0):
    """(n, 3) wrist-like acceleration in g: gravity on z, a 2 Hz swing, noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / 50.0
    swing = np.sin(2 * np.pi * 2.0 * t)[:, None] * np.array([0.4, 0.2, 0.1])
    return swing + np.array([0.0, 0.0, 1.0]) + 0.02 * rng.standard_normal((n, 3))


def write_csv(path, data, header="x,y,z"):
    lines = ([header] if header else []) + [",".join(f"{v:.6f}" for v in row) for row in data]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A finished tiny RelCon run (with its MotifDist prerequisite and a linear-probe evaluation)."""
    tmp = tmp_path_factory.mktemp("usage")
    tree = write_tree(tmp / "tree", subjects=(2, 1, 1), hours=2, segments=5)
    env = run_env(tmp / "out", write_tiny_configs(tmp, tree))
    cwd = tmp / "elsewhere"
    cwd.mkdir()
    r = python([str(REPO / "run_exp.py"), "--config", "tiny_relcon", "--device", "cpu"], env, cwd)
    assert r.returncode == 0, r.stderr
    return {"tmp": tmp, "env": env, "cwd": cwd, "run": tmp / "out" / "tiny_relcon", "output": r.stdout + r.stderr}


@pytest.fixture
def small_encoder():
    from relcon.experiments.registry import get_config
    from relcon.utils.imports import import_net

    torch.manual_seed(0)
    return import_net(get_config("demo").net_config).eval()


# ----------------------------------------------------------------------------- embed: CLI == API
def test_embed_cli_on_csv_equals_python_api(trained):
    data = recording(1000)  # 20 s at 50 Hz
    write_csv(trained["cwd"] / "rec.csv", data)
    r = python(["-m", "relcon.embed", "--config", "tiny_relcon", "--input", "rec.csv", "--output", "emb.npy",
                "--fs", "50", "--hop", "1.28", "--csv", "--device", "cpu"], trained["env"], trained["cwd"])
    assert r.returncode == 0, r.stderr
    assert "embedded 14 windows" in r.stdout
    cli = np.load(trained["cwd"] / "emb.npy")

    encoder = load_encoder(trained["run"])
    assert not encoder.training
    api, times = embed(data, encoder, fs=50, hop_s=1.28, return_times=True, progress=False)
    assert cli.dtype == np.float32 and cli.shape == api.shape == (14, 16)
    np.testing.assert_allclose(cli, api, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(times, np.arange(14) * 1.28)

    table = (trained["cwd"] / "emb.csv").read_text().splitlines()
    assert table[0] == "start_s," + ",".join(f"e{i}" for i in range(16))
    assert table[2].startswith("1.28,") and len(table) == 15
    np.testing.assert_allclose(np.loadtxt(table[1:], delimiter=",")[:, 1:], api, rtol=1e-6, atol=1e-7)


def test_relcon_embed_is_callable_however_it_was_imported(trained):
    script = textwrap.dedent(f"""
        import sys
        import numpy as np
        import relcon
        assert "torch" not in sys.modules and "relcon.embed" not in sys.modules, "import relcon is not light"
        x = np.random.default_rng(0).standard_normal((600, 3))
        encoder = relcon.load_encoder({str(trained['run'])!r})
        a = relcon.embed(x, encoder, progress=False)
        import relcon.embed
        b = relcon.embed(x, encoder, progress=False)
        from relcon import embed
        from relcon.embed import embed as embed_function
        c = embed(x, encoder, progress=False)
        d = embed_function(x, encoder, progress=False)
        assert a.shape == (2, 16) and all(np.array_equal(a, e) for e in (b, c, d))
        print("ok")
    """)
    r = python(["-c", script], trained["env"], trained["cwd"])
    assert r.returncode == 0 and "ok" in r.stdout, r.stderr


def test_windows_input_and_resampling(small_encoder):
    data = recording(256 * 4, seed=1)
    from_recording = embed(data, small_encoder, progress=False)
    windows = data.reshape(4, 256, 3)
    np.testing.assert_array_equal(embed(windows, small_encoder, progress=False), from_recording)
    # torch input, batches of one, and the encoder's training mode is restored
    small_encoder.train()
    out = embed(torch.from_numpy(windows), small_encoder, batch_size=1, progress=False)
    assert small_encoder.training
    np.testing.assert_allclose(out, from_recording, rtol=1e-5, atol=1e-6)
    # 50 Hz input is resampled to 100 Hz: 512 samples at 50 Hz are 1024 at 100 Hz, 4 windows
    assert embed(data[::2], small_encoder, fs=50, progress=False).shape == (4, 128)
    emb, times = embed(data, small_encoder, hop_s=1.28, return_times=True, progress=False)
    assert emb.shape == (7, 128)  # the last partial window is dropped
    np.testing.assert_allclose(times, np.arange(7) * 1.28)
    with pytest.warns(UserWarning, match="pre-trained on 256"):
        assert embed(windows[:, :128], small_encoder, progress=False).shape == (4, 128)


def test_embed_bad_input(small_encoder):
    data = recording(600)
    for fs in (0, -50, float("nan")):
        with pytest.raises(ValueError, match="fs=.*positive number"):
            embed(data, small_encoder, fs=fs, progress=False)
    with pytest.raises(ValueError, match=r"shorter than one window of 2.56 s"):
        embed(data[:255], small_encoder, progress=False)
    with pytest.raises(ValueError, match=r"shorter than one window"):
        embed(data[:300], small_encoder, fs=200, progress=False)  # 1.5 s
    with pytest.raises(ValueError, match="channels first"):
        embed(data.T, small_encoder, progress=False)
    with pytest.raises(ValueError, match="hop_s"):
        embed(data, small_encoder, hop_s=0, progress=False)
    bad = data.copy()
    bad[7, 1] = np.nan
    with pytest.raises(ValueError, match=r"non-finite.*\(7, 1\)"):
        embed(bad, small_encoder, progress=False)
    with pytest.raises(ValueError, match="cannot embed windows of 5 samples"), pytest.warns(UserWarning):
        embed(data[None, :5], small_encoder, progress=False)


# ----------------------------------------------------------------------------- CSV reading
def test_csv_with_and_without_header(tmp_path):
    data = recording(300)
    a = read_csv(write_csv(tmp_path / "a.csv", data))
    b = read_csv(write_csv(tmp_path / "b.csv", data, header=None))
    c = read_csv(write_csv(tmp_path / "c.csv", data, header='"acc x","acc y","acc z"'))
    assert a.shape == (300, 3)
    np.testing.assert_allclose(a, data, atol=1e-6)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)
    # blank lines and spaces around numbers are accepted
    (tmp_path / "d.csv").write_text("x,y,z\n0.1, 0.2 ,0.3\n\n1,2,3\n")
    np.testing.assert_array_equal(read_csv(tmp_path / "d.csv"), [[0.1, 0.2, 0.3], [1, 2, 3]])


def test_embed_cli_errors(tmp_path, trained, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run = str(trained["run"])
    (tmp_path / "bad.csv").write_text("x,y,z\n1,2,3\n4,five,6\n")
    assert embed_main(["--run-dir", run, "--input", "bad.csv", "--output", "e.npy"]) == 1
    assert "bad.csv, line 3, column 2 ('y'): 'five' is not a number" in capsys.readouterr().err
    write_csv(tmp_path / "short.csv", recording(100))
    assert embed_main(["--run-dir", run, "--input", "short.csv", "--output", "e.npy", "--fs", "50"]) == 1
    assert "2.000 s) is shorter than one window of 2.56 s" in capsys.readouterr().err
    write_csv(tmp_path / "ok.csv", recording(600))
    assert embed_main(["--run-dir", run, "--input", "ok.csv", "--output", "e.npy", "--fs", "0"]) == 1
    assert "fs=0.0: expected the sampling rate in Hz, a positive number" in capsys.readouterr().err
    assert embed_main(["--run-dir", run, "--input", "missing.csv", "--output", "e.npy"]) == 1
    assert "missing.csv does not exist" in capsys.readouterr().err
    assert embed_main(["--input", "ok.csv", "--output", "e.npy"]) == 2
    assert not (tmp_path / "e.npy").exists()
    # .npy windows in, CSV out (index column), relative to the working directory
    np.save(tmp_path / "w.npy", recording(512).reshape(2, 256, 3).astype(np.float32))
    assert embed_main(["--run-dir", run, "--input", "w.npy", "--output", "out/e.csv", "--quiet"]) == 0
    assert (tmp_path / "out" / "e.csv").read_text().startswith("window,e0,")
    assert not (tmp_path / "out" / "e.npy").exists()


def test_embed_cli_units_dialect_and_low_rate(tmp_path, trained, capsys, monkeypatch):
    """m/s² in a ';' file with decimal commas gives the embeddings of the g comma file, with a
    warning; --units check refuses it naming the factor; a 5 Hz recording warns."""
    monkeypatch.chdir(tmp_path)
    run = str(trained["run"])
    data = recording(900)
    write_csv(tmp_path / "g.csv", data)
    lines = ["x;y;z"] + [";".join(f"{v * 9.80665:.7f}".replace(".", ",") for v in row) for row in data]
    (tmp_path / "ms2.csv").write_text("\n".join(lines) + "\n")
    assert embed_main(["--run-dir", run, "--input", "g.csv", "--output", "g.npy", "--fs", "30", "--quiet"]) == 0
    assert "warning" not in capsys.readouterr().err
    assert embed_main(["--run-dir", run, "--input", "ms2.csv", "--output", "ms2.npy", "--fs", "30", "--quiet"]) == 0
    assert "ms2.csv: median magnitude 9." in capsys.readouterr().err
    np.testing.assert_allclose(np.load(tmp_path / "ms2.npy"), np.load(tmp_path / "g.npy"), atol=1e-5)
    assert embed_main(["--run-dir", run, "--input", "ms2.csv", "--output", "e.npy", "--units", "check"]) == 1
    assert "looks like m/s2; × 0.101972 gives g. Expected g" in capsys.readouterr().err
    assert embed_main(["--run-dir", run, "--input", "g.csv", "--output", "e.npy", "--fs", "5", "--quiet"]) == 0
    assert "warning: " in (err := capsys.readouterr().err) and "sampling rate 5 Hz is below 20 Hz" in err


def test_run_folder_without_checkpoint_lists_what_exists(tmp_path, capsys):
    run = tmp_path / "myrun"
    run.mkdir()
    (run / "log.txt").write_text("")
    (run / "metrics.csv").write_text("epoch,train_loss,val_loss\n")
    with pytest.raises(CheckpointError,
                       match=r"checkpoint_best.pkl does not exist; present in .*myrun: log.txt, metrics.csv\."):
        load_encoder(run)
    with pytest.raises(CheckpointError, match=r"checkpoint_epoch3.pkl does not exist"):
        load_encoder(run, ckpt=3)
    write_csv(tmp_path / "ok.csv", recording(600))
    assert embed_main(["--run-dir", str(run), "--input", str(tmp_path / "ok.csv"), "--output",
                       str(tmp_path / "e.npy")]) == 1
    assert "myrun: log.txt, metrics.csv." in capsys.readouterr().err


# ----------------------------------------------------------------------------- reference checkpoints
def reference_checkpoint(path, net_class, params, state_dict, epoch=12, test_loss=0.5):
    """What the reference's create_state_dict + torch.save write: net, optimizer, test_loss, epoch."""
    net = net_class(**params)
    net.load_state_dict(state_dict)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    shadow = net_class(**params)  # an Adam state with moments, without moving the saved weights
    shadow_opt = torch.optim.Adam(shadow.parameters(), lr=1e-3)
    for p in shadow.parameters():
        p.grad = torch.ones_like(p)
    shadow_opt.step()
    optimizer.load_state_dict(shadow_opt.state_dict())
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"net": net.state_dict(), "optimizer": optimizer.state_dict(), "test_loss": test_loss,
                "epoch": epoch}, path)
    return path


def test_reference_resnet1d_checkpoint_loads_strictly(tmp_path):
    from test_resnet1d import rebuild_state_dict
    from relcon.experiments.registry import get_config
    from relcon.nets.ResNet1D.ResNet1D_Net import Net

    ref = load_fixture("resnet1d.pt")
    assert get_config("25_3_8_relcon").net_config.params == ref["params"]
    state_dict = rebuild_state_dict()
    path = reference_checkpoint(tmp_path / "25_3_8_relcon" / "checkpoint_best.pkl", Net, ref["params"], state_dict)
    assert set(torch.load(path, weights_only=True)) == {"net", "optimizer", "test_loss", "epoch"}

    direct = Net(**ref["params"])
    direct.load_state_dict(state_dict, strict=True)
    direct.eval()
    with torch.no_grad():
        expected = direct(ref["x"])
    torch.testing.assert_close(expected, ref["out_eval"], rtol=1e-5, atol=1e-5)
    # the architecture from the run folder's name (a registry config), or named explicitly
    for encoder in (load_encoder(tmp_path / "25_3_8_relcon"), load_encoder(path, config="25_3_8_relcon")):
        with torch.no_grad():
            assert torch.equal(encoder(ref["x"]), expected)
    # another folder name and no config: a clear error
    other = tmp_path / "downloaded"
    other.mkdir()
    shutil.copy(path, other / "checkpoint_best.pkl")
    with pytest.raises(CheckpointError, match=r"holds no config.*config='25_3_8_relcon'"):
        load_encoder(other)
    # the wrong architecture is refused with the mismatching keys named
    with pytest.raises(CheckpointError, match="shape mismatches: first_block_conv.weight"):
        load_encoder(other, config="demo")


def test_reference_crossattn_checkpoint_loads_strictly(tmp_path):
    from relcon.experiments.registry import get_config
    from relcon.models.MotifDist.MotifDist_Model import Model
    from relcon.nets.CrossAttn.CrossAttn_Net import Net

    ref = load_fixture("crossattn.pt")
    config = get_config("25_3_8_motifdist")
    assert {k: config.net_config.params[k] for k in ref["params"]} == ref["params"]
    run = tmp_path / "25_3_8_motifdist"
    reference_checkpoint(run / "checkpoint_best.pkl", Net, ref["params"], ref["state_dict"], epoch=3)

    direct = Net(**ref["params"])
    direct.load_state_dict(ref["state_dict"], strict=True)
    direct.eval()
    with torch.no_grad():
        expected, _ = direct(ref["query"], ref["key"])
        net, state, _ = load_net_checkpoint(run)
        assert torch.equal(net(ref["query"], ref["key"])[0], expected)
    torch.testing.assert_close(expected, ref["recon_sparsemax_eval"], rtol=1e-5, atol=5e-5)
    assert state["epoch"] == 3
    with pytest.raises(CheckpointError, match="MotifDist distance network"):
        load_encoder(run)
    # the trainer's load() reads the same file
    model = Model(config, run_dir=run)
    assert model.load("best", return_state_dict=True)["epoch"] == 3
    model.net.eval()
    with torch.no_grad():
        assert torch.equal(model.net(ref["query"], ref["key"])[0], expected)


def test_eval_only_on_a_reference_format_checkpoint(trained):
    """README: put the reference's checkpoint_best.pkl in out/<config>/ and run --eval_only."""
    out2 = trained["tmp"] / "out_reference"
    shutil.copytree(trained["tmp"] / "out" / "tiny_motifdist", out2 / "tiny_motifdist")
    state = torch.load(trained["run"] / "checkpoint_best.pkl", weights_only=True)
    (out2 / "tiny_relcon").mkdir(parents=True)
    torch.save({k: state[k] for k in ("net", "optimizer", "test_loss", "epoch")},
               out2 / "tiny_relcon" / "checkpoint_best.pkl")
    env = dict(trained["env"], RELCON_OUT=str(out2))
    r = python([str(REPO / "run_exp.py"), "--config", "tiny_relcon", "--device", "cpu", "--eval_only"], env,
               trained["cwd"])
    assert r.returncode == 0, r.stderr
    ours = json.loads((trained["run"] / "results.json").read_text())["evaluations"][0]
    theirs = json.loads((out2 / "tiny_relcon" / "results.json").read_text())["evaluations"][0]
    assert theirs["folds"] == ours["folds"] and theirs["encoder"]["sha256"] == ours["encoder"]["sha256"]


# ----------------------------------------------------------------------------- export
@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:DeprecationWarning")
@pytest.mark.parametrize("fmt, suffix", [("torchscript", ".pt"), ("export", ".pt2")])
def test_export_equals_eager(trained, tmp_path, capsys, fmt, suffix):
    from relcon.export import main as export_main

    output = tmp_path / f"encoder{suffix}"
    assert export_main(["--run-dir", str(trained["run"]), "--output", str(output), "--format", fmt]) == 0
    assert "equal to the eager model" in capsys.readouterr().out
    encoder = load_encoder(trained["run"])
    if fmt == "torchscript":
        files = {"relcon.json": ""}
        exported = torch.jit.load(str(output), _extra_files=files)
        assert json.loads(files["relcon.json"])["embed_dim"] == 16
    else:
        exported = torch.export.load(str(output)).module()
    x = torch.randn(5, 3, 256, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        torch.testing.assert_close(exported(x), encoder(x), rtol=0, atol=1e-5)
    data = recording(900)
    np.testing.assert_allclose(embed(data, exported, progress=False), embed(data, encoder, progress=False),
                               rtol=0, atol=1e-5)


def test_export_errors(tmp_path, small_encoder, capsys):
    from relcon.export import export_encoder, main as export_main

    with pytest.raises(ValueError, match=r"\*.pt2"):
        export_encoder(small_encoder, tmp_path / "e.pt", format="export")
    assert export_main(["--run-dir", str(tmp_path), "--output", str(tmp_path / "e.pt")]) == 1
    err = capsys.readouterr().err
    assert "checkpoint_best.pkl does not exist; present in" in err and "nothing (the folder is empty)" in err
    assert not (tmp_path / "e.pt").exists()


# ----------------------------------------------------------------------------- report
def is_png(path):
    return path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_report_on_a_trained_run(trained, capsys):
    pytest.importorskip("matplotlib")
    import matplotlib.image

    from relcon.report import main as report_main

    assert f"python -m relcon.report {trained['run']}" in trained["output"]  # run_exp.py says how
    assert report_main([str(trained["run"])]) == 0
    out = trained["run"] / "report"
    names = {"losses.png", "summary.png", "folds_har_linear_probe.png", "confusion_har_linear_probe.png"}
    assert names <= {p.name for p in out.glob("*.png")}
    for name in names:
        assert is_png(out / name)
        image = matplotlib.image.imread(out / name)
        assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
    report = (out / "report.md").read_text()
    for name in names:
        assert f"]({name})" in report
    assert "| har/linear_probe | 2 |" in report
    # the data config's class names travel with the results (they label the confusion matrix)
    record = json.loads((trained["run"] / "results.json").read_text())["evaluations"][0]
    assert record["class_names"][:2] == ["walking", "running"] and len(record["class_names"]) == 8
    assert "tiny_motifdist (stage 1: MotifDist distance)" in report
    assert f"report: {out / 'report.md'}" in capsys.readouterr().out


def test_report_regression_and_missing_files(tmp_path):
    """A hand-made run: a regression evaluation with (N, 2) targets, a classification one whose
    fold arrays are missing, and a skipped one."""
    pytest.importorskip("matplotlib")
    from relcon.report import write_report

    run = tmp_path / "out" / "myrun"
    run.mkdir(parents=True)
    (run / "metrics.csv").write_text("epoch,train_loss,val_loss,best_val_loss,seconds\n0,2.0,2.5,2.5,1\n"
                                     "1,1.5,2.2,2.2,1\n2,1.2,2.3,2.2,1\n")
    rng = np.random.default_rng(0)
    for k in range(2):
        folder = run / "gait" / "ridge" / f"cv{k}"
        folder.mkdir(parents=True)
        y = rng.normal(size=(30, 2))
        np.save(folder / "y_true.npy", y)
        np.save(folder / "y_pred.npy", y + 0.1 * rng.normal(size=(30, 2)))
    regression = {"label": "gait/ridge", "name": "gait", "model_file": "ridge", "status": "done",
                  "task": "regression", "folds": [{"mae": 0.08, "r2": 0.9}, {"mae": 0.1, "r2": 0.85}],
                  "mean": {"mae": 0.09, "r2": 0.875}, "std": {"mae": 0.01, "r2": 0.025}}
    classification = {"label": "har/linear_probe [random init]", "name": "har", "model_file": "linear_probe",
                      "status": "done", "task": "classification", "folds": [{"macro_f1": 0.5, "accuracy": 0.6}],
                      "mean": {"macro_f1": 0.5, "accuracy": 0.6}, "std": {"macro_f1": 0.0, "accuracy": 0.0}}
    skipped = {"label": "pamap2/MLP_probe", "status": "skipped", "reason": "data folder x is missing"}
    (run / "results.json").write_text(json.dumps({"config": "myrun", "evaluations": [regression, classification,
                                                                                     skipped]}))
    result = write_report(run, tmp_path / "pictures")
    names = {p.name for p in result["figures"]}
    assert names == {"losses.png", "summary.png", "folds_gait_ridge.png", "scatter_gait_ridge.png",
                     "folds_har_linear_probe_random_init.png"}
    assert all(is_png(p) for p in result["figures"])
    report = (tmp_path / "pictures" / "report.md").read_text()
    assert "har/linear_probe_randominit/cv0 has no y_true.npy" in report  # the missing fold arrays
    assert "pamap2/MLP_probe: data folder x is missing" in report


def test_report_without_matplotlib_says_how_to_install(trained, monkeypatch, capsys):
    from relcon.report import main as report_main

    for name in ("matplotlib", "matplotlib.figure", "matplotlib.backends.backend_agg"):
        monkeypatch.setitem(sys.modules, name, None)  # import fails as if not installed
    assert report_main([str(trained["run"])]) == 1
    err = capsys.readouterr().err
    assert "pip install -e '.[plots]'" in err and "matplotlib" in err


def test_report_on_an_empty_folder(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    from relcon.report import main as report_main

    (tmp_path / "notes.txt").write_text("")
    assert report_main([str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "nothing to draw" in err and "present: notes.txt" in err
