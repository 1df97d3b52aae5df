"""``python -m relcon.compare RUN_OR_CONFIG...``: one table comparing finished runs.

Rows are methods (one per run, labelled by its trainer and ablation settings) plus the
random-init and hand-crafted-features baselines found in any of the runs; columns are the
evaluations; a cell is the headline metric (macro-F1 for classification, MAE for regression),
mean ± std over folds. Reads the runs' ``results.json`` and runs nothing. A comparison config
(e.g. ``demo_compare``) stands for its member runs.

Written to ``--out`` (default ``<output root>/comparison/``, or the comparison config's run
folder): ``comparison.md``, ``comparison.csv`` and, when matplotlib is installed
(``pip install -e '.[plots]'``), ``comparison.png`` in the style of ``relcon.report``.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from relcon.eval.comparison import column_title, headline, write_comparison
from relcon.experiments import registry
from relcon.report import MissingMatplotlib, _figure_class, _save
from relcon.utils.paths import out_dir


def expand(names: list[str]) -> tuple[list[str], Path | None]:
    """Runs named on the command line, comparison configs replaced by their members; and the
    folder of the first comparison config (the default output folder)."""
    runs, out = [], None
    try:
        known = registry.discover()
    except registry.ConfigError:
        known = {}
    for name in names:
        members = getattr(known.get(name), "members", None)
        if members and not Path(name).is_dir():
            runs.extend(members)
            out = out or out_dir(name)
        else:
            runs.append(name)
    return runs, out


def plot_comparison(new_figure, rows: list[dict], columns: list[str], path: Path) -> Path:
    """One panel per evaluation: a horizontal bar per method, mean ± std over folds."""
    fig = new_figure(7.5, 0.6 + (0.35 * len(rows) + 0.8) * len(columns))
    axes = fig.subplots(len(columns), 1, squeeze=False)[:, 0]
    for ax, key in zip(axes, columns):
        present = [r for r in rows if key in r["cells"]]
        values = [headline(r["cells"][key]) for r in present]
        y = np.arange(len(present))[::-1]
        means, stds = [v[2] for v in values], [v[3] for v in values]
        colors = ["tab:gray" if r["method"] in ("random init", "hand-crafted features") else "tab:blue"
                  for r in present]
        ax.barh(y, means, xerr=stds, color=colors, alpha=0.8, capsize=4)
        for yi, mean, std in zip(y, means, stds):
            ax.text(mean + std, yi, f"  {mean:.3f} ± {std:.3f}", va="center", fontsize=8)
        ax.set_yticks(y, [r["method"] for r in present], fontsize=8)
        ax.set_title(column_title(key, rows), fontsize=10)
        lo, hi = min(0.0, min(m - s for m, s in zip(means, stds))), max(m + s for m, s in zip(means, stds))
        ax.set_xlim(lo, hi + 0.35 * ((hi - lo) or 1.0))  # room for the labels right of the error bars
        ax.grid(axis="x", alpha=0.3)
    return _save(fig, path)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m relcon.compare", description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="+", metavar="RUN_OR_CONFIG", help="run folders or config names")
    p.add_argument("--out", help="output folder (default: the comparison config's folder, else <output root>/comparison)")
    p.add_argument("--no-figure", action="store_true", help="write only the markdown and CSV tables")
    args = p.parse_args(argv)
    runs, default_out = expand(args.runs)
    out = Path(args.out) if args.out else (default_out or out_dir("comparison"))
    try:
        table, rows, columns = write_comparison(runs, out)
    except (FileNotFoundError, ValueError, KeyError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(table)
    print(f"written: {out / 'comparison.md'}, {out / 'comparison.csv'}")
    if not args.no_figure and columns:
        try:
            print(f"figure: {plot_comparison(_figure_class(), rows, columns, out / 'comparison.png')}")
        except MissingMatplotlib as e:
            print(f"no figure: {e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
