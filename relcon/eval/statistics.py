"""Uncertainty for comparison tables: intervals, paired tests and Holm's correction.

A comparison cell holds one headline value (macro-F1, MAE) per pre-training seed and
evaluation fold. Two methods evaluated with the same seeds on the same subject-wise folds are
paired by (seed, fold): the fold's test subjects are the same, so the per-pair difference
removes most of the between-fold spread that a mean ± std over folds mixes in.

* Interval: Student's t-interval of the mean over a cell's per-(seed, fold) values
  (``scipy.stats.t.interval``, standard error with ``ddof=1``).
* Paired test (default ``"t"``): the paired t-test over the (seed, fold) differences
  (``scipy.stats.ttest_rel``). Chosen over the Wilcoxon signed-rank test because a table
  holds few pairs (3 folds × 1-3 seeds): the exact signed-rank test of n pairs cannot give a
  p below 2 / 2**n (0.25 for 3 pairs, 0.0039 for 9), so after a correction over the 20-odd
  tests of a table it could never call any difference real; the t-test uses the size of the
  differences and assumes they are roughly normal. ``"wilcoxon"``
  (``scipy.stats.wilcoxon``, exact where scipy's default is) is there for tables with many
  pairs. Folds share training subjects, so neither test's pairs are fully independent: p
  values are optimistic (Nadeau & Bengio 2003), another reason for the correction below.
* Holm's step-down correction over every test of a table (family-wise error rate). scipy
  has no Holm (``scipy.stats.false_discovery_control`` controls the false discovery rate
  instead, a weaker guarantee), and the procedure is four lines, written here.
"""
from __future__ import annotations

import math

import numpy as np
from scipy import stats

TESTS = ("t", "wilcoxon")
ALPHA = 0.05
CONFIDENCE = 0.95


def t_interval(values, confidence: float = CONFIDENCE) -> tuple[float, float, float]:
    """(mean, low, high) of ``values`` (1-D, n ≥ 1): the ``confidence`` Student t-interval of the
    mean, ``mean ± t_{n-1} · s / sqrt(n)``. With one value, or values all equal, the interval is
    the mean itself (n = 1: NaN bounds, nothing is known of the spread)."""
    x = np.asarray(values, dtype=float)
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"t_interval: expected a non-empty 1-D sequence of values, got shape {x.shape}")
    mean = float(x.mean())
    if x.size == 1:
        return mean, math.nan, math.nan
    sem = float(stats.sem(x))
    if sem == 0.0:
        return mean, mean, mean
    low, high = stats.t.interval(confidence, x.size - 1, loc=mean, scale=sem)
    return mean, float(low), float(high)


def paired_p_value(a, b, test: str = "t") -> float:
    """Two-sided p-value that paired values ``a`` and ``b`` (same length n, pair i = one seed and
    fold) have the same mean (``"t"``: paired t-test) or a symmetric difference around 0
    (``"wilcoxon"``: signed-rank test). NaN when n < 2; 1.0 when every difference is 0."""
    if test not in TESTS:
        raise ValueError(f"paired test {test!r}: expected one of {TESTS}")
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"paired test: expected two 1-D sequences of equal length, got {a.shape} and {b.shape}")
    if a.size < 2:
        return math.nan
    d = a - b
    if np.all(d == 0):
        return 1.0
    if test == "t":
        if np.all(d == d[0]):  # a constant non-zero difference: no spread, the t statistic is infinite
            return 0.0
        return float(stats.ttest_rel(a, b).pvalue)
    return float(stats.wilcoxon(a, b).pvalue)


def holm(p_values) -> np.ndarray:
    """Holm-adjusted p-values (same order as given; NaN entries stay NaN and are not counted):
    the i-th smallest of m p-values becomes max_{j ≤ i} min(1, (m − j + 1) · p_(j)). Reject
    where the adjusted value is below alpha: the family-wise error rate stays ≤ alpha
    (Holm 1979, Scand. J. Statist. 6:65-70)."""
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, math.nan)
    valid = np.flatnonzero(~np.isnan(p))
    m = valid.size
    if m == 0:
        return out
    order = valid[np.argsort(p[valid], kind="stable")]
    adjusted = np.minimum(1.0, (m - np.arange(m)) * p[order])
    out[order] = np.maximum.accumulate(adjusted)
    return out
