"""Evaluation of a pre-trained run over its evaluation configs (filled in by the evaluation module)."""
from relcon.utils.paths import out_dir, resolve_path
from relcon.utils.utils import printlog


def run_evaluations(name, config, args):
    log_dir = out_dir(name)
    for ev in config.eval_configs:
        folder = resolve_path(ev.data_config.data_folder)
        if not folder.is_dir():
            printlog(f"skipped evaluation {ev.name}/{ev.model_file}: data folder {folder} is missing", log_dir)
