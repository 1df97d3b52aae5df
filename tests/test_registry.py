import textwrap

import pytest
import torch

from relcon.experiments import registry
from relcon.utils.imports import import_net


def net_configs():
    seen = {}
    for name, config in registry.discover().items():
        if config.net_config is not None:
            seen[f"{name}:{config.net_config.net_folder}"] = config.net_config
    return seen


NETS = net_configs()


@pytest.mark.parametrize("key", sorted(NETS))
def test_every_registered_net_builds_runs_and_gets_gradients(key):
    torch.manual_seed(0)
    net = import_net(NETS[key]).train()
    if NETS[key].net_folder == "CrossAttn":
        out, _ = net(torch.randn(2, 64, net.query_dimsize), torch.randn(2, 64, net.key_dimsize))
    else:
        out = net(torch.randn(4, net.in_channels, 256))
    assert torch.isfinite(out).all()
    out.square().mean().backward()
    for pname, p in net.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), pname
        assert p.grad.abs().sum() > 0, pname


def test_reference_configs_hold_reference_values():
    reg = registry.discover()
    md = reg["25_3_8_motifdist"]
    assert md.net_config.params == {"query_dimsize": 3, "key_dimsize": 3, "kernel_size": 15, "embed_dim": 64,
                                    "double_receptivefield": 2}
    assert (md.epochs, md.lr, md.batch_size, md.save_epochfreq) == (10, 0.001, 64, 10)
    assert md.data_config.data_folder == "relcon/data/datasets/dummydataset"
    rc = reg["25_3_8_relcon"]
    assert (rc.withinuser_cands, rc.motifdist_expconfig_key, rc.epochs, rc.lr, rc.batch_size) == \
        (20, "25_3_8_motifdist", 100, 1e-6, 64)
    assert [b["base_filters"] for b in rc.net_config.params["blocks"]] == [64, 128, 256]


def test_overrides_types_and_nested_keys():
    config = registry.get_config("25_3_8_relcon")
    registry.apply_overrides(config, ["epochs=3", "lr=1e-3", "net_config.params.finalpool=max",
                                      "net_config.params.init_conv.base_filters=32", "tau=1"])
    assert config.epochs == 3 and config.lr == 1e-3 and config.tau == 1.0 and isinstance(config.tau, float)
    assert config.net_config.params["finalpool"] == "max"
    assert config.net_config.params["init_conv"]["base_filters"] == 32
    assert registry.get_config("25_3_8_relcon").epochs == 100  # the registry is untouched
    for bad, match in [("epochs=1.5", "expected int"), ("epochs=ten", "expected int"), ("lr=[1]", "expected float"),
                       ("nope=1", "unknown key"), ("net_config.params.nope=1", "unknown key"), ("epochs", "key=value")]:
        with pytest.raises(registry.ConfigError, match=match):
            registry.apply_overrides(registry.get_config("25_3_8_relcon"), [bad])


def test_unknown_name_lists_closest():
    with pytest.raises(registry.ConfigError, match="25_3_8_relcon"):
        registry.get_config("25_3_8_relcn")


def test_user_config_files_are_discovered_and_duplicates_named(tmp_path, monkeypatch):
    extra = tmp_path / "mine_expconfigs.py"
    extra.write_text(textwrap.dedent('''
        from relcon.data.Base_Dataset import SSLDataConfig
        from relcon.models.MotifDist.MotifDist_Model import MotifDist_ModelConfig
        allmine_expconfigs = {"my_dist": MotifDist_ModelConfig(data_config=SSLDataConfig(data_folder="x"))}
    '''))
    monkeypatch.setenv("RELCON_CONFIGS", str(extra))
    assert "my_dist" in registry.discover()
    dup = tmp_path / "dup_expconfigs.py"
    dup.write_text(extra.read_text().replace("allmine", "allother").replace('"my_dist"', '"25_3_8_relcon"'))
    monkeypatch.setenv("RELCON_CONFIGS", str(dup))
    with pytest.raises(registry.ConfigError, match=r"defined twice: in .*RelCon_expconfigs.py.* and in .*dup_expconfigs"):
        registry.discover()


def test_config_round_trip():
    config = registry.get_config("25_3_8_relcon")
    data = registry.config_to_dict(config)
    back = registry.config_from_dict(data)
    assert registry.config_to_dict(back) == data
    assert type(back.eval_configs[0]).__name__ == "Base_EvalConfig"


def test_two_evaluations_sharing_a_results_folder_are_a_config_error():
    import types

    from relcon.data.Base_Dataset import SupervisedDataConfig
    from relcon.eval.Base_Eval import Base_EvalConfig
    from relcon.experiments.runner import check_eval_folders

    def ev(**kw):
        return Base_EvalConfig(model_folder="Classify", model_file="MLP_probe", name="har",
                               data_config=SupervisedDataConfig(data_folder="x"), **kw)

    config = types.SimpleNamespace(eval_configs=[ev(), ev(encoder_init="random"),
                                                 ev(evalnetparams={"early_stopping": "reference"})])
    with pytest.raises(registry.ConfigError,
                       match=r"eval_configs\[0\] and eval_configs\[2\] .*same folder 'har/MLP_probe'.*different `name`s"):
        check_eval_folders("mine", config)
    config.eval_configs[2].name = "har_reference_stopping"
    check_eval_folders("mine", config)


def test_every_shipped_config_has_distinct_evaluation_folders():
    from relcon.experiments.runner import check_eval_folders

    for name, config in registry.discover().items():
        check_eval_folders(name, config)


def test_configs_are_declared_without_mutable_defaults_or_run_time_state():
    import dataclasses

    from relcon.data.Base_Dataset import SSLDataConfig, SupervisedDataConfig
    from relcon.eval.Base_Eval import Base_EvalConfig
    from relcon.models.Base_Model import Base_ModelConfig
    from relcon.models.MotifDist.MotifDist_Model import MotifDist_ModelConfig
    from relcon.models.RelCon.RelCon_Model import RelCon_ModelConfig
    from relcon.nets.Base_Nets import Base_NetConfig

    classes = (Base_NetConfig, SSLDataConfig, SupervisedDataConfig, Base_ModelConfig, MotifDist_ModelConfig,
               RelCon_ModelConfig, Base_EvalConfig)
    for cls in classes:
        names = {f.name for f in dataclasses.fields(cls)}
        assert not names & {"device", "run_dir", "input_dims"}, cls
        for f in dataclasses.fields(cls):
            assert not isinstance(f.default, (list, dict, set)), (cls, f.name)
    a = SupervisedDataConfig(data_folder="a")
    b = SupervisedDataConfig(data_folder="b")
    a.X_annotates.append("x")
    assert b.X_annotates == [""]  # each instance its own list
    ev = Base_EvalConfig(model_folder="Classify", model_file="linear_probe", data_config=a)
    ev.evalnetparams["k"] = 1
    assert Base_EvalConfig(model_folder="Classify", model_file="linear_probe", data_config=a).evalnetparams == {}


def test_old_config_dicts_fill_new_fields_with_defaults_and_drop_run_time_state():
    config = registry.get_config("25_3_8_relcon")
    data = registry.config_to_dict(config)
    del data["pretrained_from"], data["distance_chunk"]  # fields an older checkpoint lacks
    data.update(device="cpu", run_dir="25_3_8_relcon", input_dims=None)  # what older versions wrote
    back = registry.config_from_dict(data)
    assert back.pretrained_from is None and back.distance_chunk is None and not hasattr(back, "run_dir")
    assert registry.config_to_dict(back) == registry.config_to_dict(config)
    data["no_such_field"] = 1
    with pytest.raises(ValueError, match="no_such_field are not fields of RelCon_ModelConfig"):
        registry.config_from_dict(data)


REFERENCE_STYLE = '''
from relcon.models.Base_Model import Base_ModelConfig
from relcon.nets.Base_Nets import Base_NetConfig
from relcon.data.Base_Dataset import SSLDataConfig, SupervisedDataConfig
from relcon.models.MotifDist.MotifDist_Model import MotifDist_ModelConfig
from relcon.models.RelCon.RelCon_Model import RelCon_ModelConfig

allrefstyle_expconfigs = {}
allrefstyle_expconfigs["ref_motifdist"] = MotifDist_ModelConfig(
    data_config=SSLDataConfig(data_folder="relcon/data/datasets/dummydataset"),
    net_config=Base_NetConfig(net_folder="CrossAttn", net_file="CrossAttn_Net",
                              params={"query_dimsize": 3, "key_dimsize": 3, "kernel_size": 15, "embed_dim": 64,
                                      "double_receptivefield": 2}),
    epochs=10, lr=0.001, batch_size=64, save_epochfreq=10,
)
allrefstyle_expconfigs["ref_relcon"] = RelCon_ModelConfig(
    withinuser_cands=20,
    motifdist_expconfig_key="ref_motifdist",
    data_config=SSLDataConfig(data_folder="relcon/data/datasets/dummydataset"),
    net_config=Base_NetConfig(net_folder="ResNet1D", net_file="ResNet1D_Net", params={
        "init_conv": {"in_channels": 3, "base_filters": 64, "kernel_size": 7, "stride": 2, "padding": 0},
        "init_maxpool": {"kernel_size": 3, "stride": 2},
        "blocks": [{"n": 3, "in_channels": 64, "base_filters": 64, "kernel_size": 3, "stride": 1}],
        "finalpool": "avg"}),
    epochs=100, lr=0.000001, batch_size=64, save_epochfreq=10,
)
'''


def test_reference_style_config_files_import_unchanged(tmp_path, monkeypatch):
    """A config file written for the reference code (its imports, classes and keywords) registers
    and builds its nets and trainers' configs unchanged."""
    path = tmp_path / "refstyle_expconfigs.py"
    path.write_text(REFERENCE_STYLE)
    monkeypatch.setenv("RELCON_CONFIGS", str(path))
    reg = registry.discover()
    md, rc = reg["ref_motifdist"], reg["ref_relcon"]
    assert (md.model_folder, md.model_file, md.query_dims) == ("MotifDist", "MotifDist_Model", [0, 1, 2])
    assert (rc.model_folder, rc.model_file, rc.tau, rc.prerequisites()) == ("RelCon", "RelCon_Model", 0.1,
                                                                           ["ref_motifdist"])
    assert import_net(rc.net_config)(torch.randn(2, 3, 256)).shape == (2, 64)
    assert registry.config_from_dict(registry.config_to_dict(rc)) == rc


def test_the_demo_pins_its_thread_count():
    """The README's demo table is reproducible for a thread count, so the demo fixes it (for
    both stages) rather than following the machine's core count."""
    threads = {name: registry.get_config(name).num_threads for name in ("demo_motifdist", "demo")}
    assert threads == {"demo_motifdist": 2, "demo": 2}
