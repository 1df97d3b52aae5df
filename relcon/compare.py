"""``python -m relcon.compare RUN_OR_CONFIG...``: one table comparing finished runs.

Rows are methods (one per run, labelled by its trainer and ablation settings) plus the
random-init and hand-crafted-features baselines found in any of the runs; columns are the
evaluations; a cell is the headline metric (macro-F1 for classification, MAE for regression)
over every pre-training seed and fold: the mean and its 95 % t-interval, † where the method
differs from RelCon by a paired test over the same (seed, fold) pairs after Holm's correction,
bold only for a best significantly better than the runner-up (``relcon.eval.statistics``).
Runs of one method with different seeds (``seed`` in their config) join one row. Reads the
runs' ``results.json`` and runs nothing. A comparison config (e.g. ``demo_compare``) stands for
its member runs, every seed of its ``seeds``.

Written to ``--out`` (default ``<output root>/comparison/``, or the comparison config's run
folder): ``comparison.md`` (the table and the paired differences), ``comparison.csv`` (every
per-seed, per-fold value), ``comparison_summary.csv`` (every cell's statistics) and, when
matplotlib is installed (``pip install -e '.[plots]'``), ``comparison.png`` in the style of
``relcon.report`` (the intervals as error bars).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from relcon.eval.comparison import analyse, column_title, write_comparison
from relcon.eval.statistics import TESTS
from relcon.experiments import registry
from relcon.experiments.comparison import Comparison_Config, member_runs
from relcon.report import MissingMatplotlib, _figure_class, _save
from relcon.utils.paths import out_dir


def expand(names: list[str]) -> tuple[list[str], Path | None, str | None]:
    """Runs named on the command line, comparison configs replaced by their members (every seed
    of their ``seeds``); the folder of the first comparison config (the default output folder);
    and that config's paired test (None if no comparison config was named)."""
    runs, out, test = [], None, None
    try:
        known = registry.discover()
    except registry.ConfigError:
        known = {}
    for name in names:
        config = known.get(name)
        if isinstance(config, Comparison_Config) and not Path(name).is_dir():
            runs.extend(member_runs(config))
            out = out or out_dir(name)
            test = test or config.test
        else:
            runs.append(name)
    return runs, out, test


def plot_comparison(new_figure, rows: list[dict], columns: list[str], path: Path, stats: dict | None = None) -> Path:
    """One panel per evaluation: a horizontal bar per method, its mean with the 95 % interval."""
    stats = stats or analyse(rows, columns)
    fig = new_figure(7.5, 0.6 + (0.35 * len(rows) + 0.8) * len(columns))
    axes = fig.subplots(len(columns), 1, squeeze=False)[:, 0]
    for ax, key in zip(axes, columns):
        present = [i for i in range(len(rows)) if (i, key) in stats["cells"]]
        cells = [stats["cells"][(i, key)] for i in present]
        y = np.arange(len(present))[::-1]
        means = np.array([c["mean"] for c in cells])
        half = np.array([0.0 if np.isnan(c["ci_low"]) else c["ci_high"] - c["mean"] for c in cells])
        colors = ["tab:gray" if rows[i]["method"] in ("random init", "hand-crafted features") else "tab:blue"
                  for i in present]
        ax.barh(y, means, xerr=half, color=colors, alpha=0.8, capsize=4)
        for yi, mean, h, c in zip(y, means, half, cells):
            ax.text(mean + h, yi, f"  {mean:.3f} ± {h:.3f}" + (" †" if c["significant"] else ""), va="center",
                    fontsize=8)
        ax.set_yticks(y, [rows[i]["method"] for i in present], fontsize=8)
        ax.set_title(column_title(key, rows) + ", mean and 95 % interval", fontsize=10)
        lo, hi = min(0.0, float(np.min(means - half))), float(np.max(means + half))
        ax.set_xlim(lo, hi + 0.35 * ((hi - lo) or 1.0))  # room for the labels right of the error bars
        ax.grid(axis="x", alpha=0.3)
    return _save(fig, path)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m relcon.compare", description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="+", metavar="RUN_OR_CONFIG", help="run folders or config names")
    p.add_argument("--out", help="output folder (default: the comparison config's folder, else <output root>/comparison)")
    p.add_argument("--no-figure", action="store_true", help="write only the markdown and CSV tables")
    p.add_argument("--test", choices=TESTS, default=None,
                   help="paired test against RelCon: t (paired t-test, the default) or wilcoxon (signed-rank); "
                        "default: the comparison config's, else t")
    args = p.parse_args(argv)
    runs, default_out, config_test = expand(args.runs)
    out = Path(args.out) if args.out else (default_out or out_dir("comparison"))
    test = args.test or config_test or "t"
    try:
        table, rows, columns = write_comparison(runs, out, test=test)
    except (FileNotFoundError, ValueError, KeyError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(table)
    print(f"written: {out / 'comparison.md'}, {out / 'comparison.csv'}, {out / 'comparison_summary.csv'}")
    if not args.no_figure and columns:
        try:
            figure = plot_comparison(_figure_class(), rows, columns, out / 'comparison.png', analyse(rows, columns, test))
            print(f"figure: {figure}")
        except MissingMatplotlib as e:
            print(f"no figure: {e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
