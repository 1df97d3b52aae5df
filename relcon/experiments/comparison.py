"""Comparison configs: several configs trained and evaluated in turn by one ``run_exp.py``
call, which ends with their comparison table (``relcon.eval.comparison``)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

TESTS = ("t", "wilcoxon")  # relcon.eval.statistics.TESTS (configs import no evaluation code)


def seeded_name(name: str, seed: int) -> str:
    """Run folder of config ``name`` pre-trained with another ``seed`` than its own."""
    return f"{name}-seed{seed}"


@dataclass(kw_only=True)
class Comparison_Config:
    """``python run_exp.py --config NAME`` trains and evaluates each of ``members`` (config
    names, in order; each skipped where already done, as a run of its own would be) once per
    pre-training seed, then writes ``comparison.md`` / ``comparison.csv`` /
    ``comparison_summary.csv`` to NAME's run folder and prints the table
    (``relcon.eval.comparison``: 95 % intervals over seeds × folds, paired tests, Holm).

    Args:
        members: config names; their runs become the table's rows (baselines come from the
            members' random-init and hand-crafted-features evaluations).
        seeds: pre-training seeds; None (default): each member once, with its own ``seed``. A
            seed equal to a member's own trains (or reuses) its usual run folder; any other
            trains ``MEMBER-seed<S>`` with ``seed`` and every evaluation's ``seed`` set to S,
            and its prerequisites (the MotifDist distance, a ``pretrained_from`` encoder) as
            ``PREREQUISITE-seed<S>``. Evaluations use the same subject-wise folds for every seed.
        test: the paired test against RelCon, "t" (paired t-test) or "wilcoxon" (signed-rank).
        description: one line shown by ``run_exp.py --list``.
        num_threads: torch CPU threads for the whole comparison (-1: torch's default).
    """

    # It trains and evaluates nothing itself.
    eval_configs: ClassVar[tuple] = ()
    data_config: ClassVar[None] = None
    net_config: ClassVar[None] = None

    members: list
    seeds: list | None = None
    test: str = "t"
    description: str = ""
    num_threads: int = -1

    def __post_init__(self):
        self.members = list(self.members)
        if self.seeds is not None:
            self.seeds = [int(s) for s in self.seeds]
            if not self.seeds or len(set(self.seeds)) != len(self.seeds):
                raise ValueError(f"seeds={self.seeds}: expected a non-empty list of distinct integers")
        if self.test not in TESTS:
            raise ValueError(f"test={self.test!r}: expected one of {TESTS}")


def member_runs(config: Comparison_Config, known: dict | None = None) -> list[str]:
    """The run folder names of a comparison config's members, seed by seed (the order
    ``run_exp.py`` trains them in); ``known``: the config registry (default: discovered)."""
    if not config.seeds:
        return list(config.members)
    if known is None:
        from relcon.experiments import registry  # deferred: the registry imports the config modules

        known = registry.discover()
    runs = []
    for seed in config.seeds:
        for member in config.members:
            own = getattr(known.get(member), "seed", None)
            runs.append(member if seed == own else seeded_name(member, seed))
    return runs
