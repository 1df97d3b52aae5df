"""Command-line pieces shared by ``process_synthetic_har.py`` and ``process_synthetic_gait.py``."""
from __future__ import annotations

import argparse

from relcon.utils.paths import cli_path, resolve_path


def base_parser(description: str, default_out: str, default_T: int) -> argparse.ArgumentParser:
    """Options both synthetic sets take: output folder, subjects, folds, seed, window length."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--out-dir", default=str(resolve_path(default_out)), type=cli_path,
                   help="output folder; a relative path is taken from the current directory (default: %(default)s)")
    p.add_argument("--subjects", type=int, default=12, help="number of subjects (default: %(default)s)")
    p.add_argument("--folds", type=int, default=3, help="subject-wise CV folds (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    p.add_argument("--T", type=int, default=default_T, help="samples per window at 100 Hz (default: %(default)s)")
    return p


def print_folds(summary: dict, out_dir) -> None:
    """One line per fold (subjects and windows of train/val/test), then the output folder."""
    for f in summary["folds"]:
        parts = ", ".join(f"{s} {f[s]['n_subjects']} subj/{f[s]['n_windows']} win" for s in ("train", "val", "test"))
        print(f"  fold {f['fold']}: {parts}")
    print(f"  -> {out_dir}")
