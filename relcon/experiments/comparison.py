"""Comparison configs: several configs trained and evaluated in turn by one ``run_exp.py``
call, which ends with their comparison table (``relcon.eval.comparison``)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar


@dataclass(kw_only=True)
class Comparison_Config:
    """``python run_exp.py --config NAME`` trains and evaluates each of ``members`` (config
    names, in order; each skipped where already done, as a run of its own would be), then writes
    ``comparison.md`` / ``comparison.csv`` to NAME's run folder and prints the table.

    Args:
        members: config names; their runs become the table's rows (baselines come from the
            members' random-init and hand-crafted-features evaluations).
        description: one line shown by ``run_exp.py --list``.
        num_threads: torch CPU threads for the whole comparison (-1: torch's default).
    """

    # It trains and evaluates nothing itself.
    eval_configs: ClassVar[tuple] = ()
    data_config: ClassVar[None] = None
    net_config: ClassVar[None] = None

    members: list
    description: str = ""
    num_threads: int = -1

    def __post_init__(self):
        self.members = list(self.members)
