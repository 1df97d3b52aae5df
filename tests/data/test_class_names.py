"""The class names used to label results agree with the processors' label maps."""
from relcon.data import class_names
from relcon.data.process import pamap2_raw
from relcon.data.process.comparepriorpt import opportunity, pamap2 as priorpt_pamap2
from relcon.data.process.comparesslbench import hhar, motionsense, pamap2 as sslbench_pamap2


def test_hhar_names_follow_the_label_ids():
    assert class_names.HHAR == tuple(sorted(hhar.LABELS, key=hhar.LABELS.get))


def test_motionsense_names_follow_the_trial_prefixes():
    prefix = {label: trial.split("_")[0] for trial, label in motionsense.TRIAL_LABELS.items()}
    short = {"downstairs": "dws", "upstairs": "ups", "walking": "wlk", "jogging": "jog", "standing": "std",
             "sitting": "sit"}
    assert [short[n] for n in class_names.MOTIONSENSE] == [prefix[i] for i in range(len(prefix))]


def test_pamap2_names_are_the_kept_activities_in_rank_order():
    assert class_names.PAMAP2_SSLBENCH == tuple(pamap2_raw.ACTIVITIES[i] for i in sslbench_pamap2.KEEP_LABELS)
    assert class_names.PAMAP2_PRIORPT == tuple(pamap2_raw.ACTIVITIES[i] for i in priorpt_pamap2.KEEP_LABELS)


def test_opportunity_names_match_the_documented_relabelling():
    # raw 1 Stand, 2 Walk, 5 Lie (relabelled 3), 4 Sit; fold y = rank of 1, 2, 3, 4
    assert "0 Stand, 1 Walk, 2 Lie, 3 Sit" in opportunity.__doc__ + open(opportunity.__file__).read()
    assert class_names.OPPORTUNITY == ("Stand", "Walk", "Lie", "Sit")


def test_every_benchmark_evaluation_is_labelled():
    from relcon.experiments.configs.RelCon_expconfigs import benchmark_evals

    for ev in benchmark_evals():
        assert ev.data_config.class_names, ev.label
