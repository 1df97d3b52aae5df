"""Comparison configs: several configs trained and evaluated in turn by one ``run_exp.py``
call, which ends with their comparison table (``relcon.eval.comparison``)."""
from __future__ import annotations


class Comparison_Config:
    """``python run_exp.py --config NAME`` trains and evaluates each of ``members`` (config
    names, in order; each skipped where already done, as a run of its own would be), then writes
    ``comparison.md`` / ``comparison.csv`` to NAME's run folder and prints the table.

    Args:
        members: config names; their runs become the table's rows (baselines come from the
            members' random-init and hand-crafted-features evaluations).
        description: one line shown by ``run_exp.py --list``.
    """

    def __init__(self, members: list, description: str = ""):
        self.members = list(members)
        self.description = description
        self.eval_configs = []
        self.net_config = self.data_config = None  # trains nothing itself
        self.num_threads = -1
        self.device = None
        self.run_dir = None

    def set_device(self, device):
        self.device = device

    def set_rundir(self, run_dir):
        self.run_dir = run_dir
