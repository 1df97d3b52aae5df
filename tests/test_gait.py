"""The step detector (relcon/data/gait.py) on signals of known cadence.

Two kinds of synthetic signal, because the detector's period depends on where the sensor is:
* the ankle path (the PAMAP2 benchmark's reference label) on a one-ankle signal
  (``rawfixtures.ankle_gait_signal``: heel strike, push-off, swing, the other foot's echo);
* the wrist path on the repository's synthetic wrist generator
  (``relcon.data.synthetic.simulate_gait_recording``), walking, stairs and running.
Neither is a real recording.
"""
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "data"))  # rawfixtures, whatever the import mode

import rawfixtures  # noqa: E402
from relcon.data import gait  # noqa: E402
from relcon.data.synthetic import simulate_gait_recording  # noqa: E402

FS = 100.0
CADENCES = np.arange(60, 181, 10)  # steps/min
# Gait activities of the wrist generator at the cadences where each is plausible.
WRIST_GRID = [(a, c) for a, lo, hi in (("walking", 60, 180), ("stairs_up", 60, 120), ("stairs_down", 60, 140),
                                        ("running", 130, 180)) for c in range(lo, hi + 1, 10)]


def test_ankle_cadence_within_2_spm():
    """One ankle sees a stride per period; the detector reports the steps of both feet."""
    errors = []
    for cadence in CADENCES:
        for seed in range(3):
            for running, echo in ((False, 0.1), (False, 0.6), (True, 0.3)):
                x = rawfixtures.ankle_gait_signal(cadence, 10.0, FS, rng=[seed, int(cadence)], running=running,
                                                  echo_g=echo)
                errors.append(gait.cadence_spm(x, FS, "ankle") - cadence)
    errors = np.abs(errors)
    assert np.isfinite(errors).all()
    assert errors.max() < 2.0, errors.max()
    assert errors.mean() < 0.5


def test_wrist_cadence_on_synthetic_gait():
    """The wrist path on the synthetic wrist generator, 60-180 steps/min, 3 seeds each.

    The arm swing (once per stride) can outweigh the step; the detector then has to tell a stride
    from a step. On a larger grid (3280 windows, 20 seeds every 2 steps/min) that failed for 0.2 %
    of windows (a stride read as a step or the reverse, or no steps found); this grid allows 2 %."""
    errors = []
    for activity, cadence in WRIST_GRID:
        for seed in range(3):
            x = simulate_gait_recording(cadence, 10.0, FS, rng=[seed, cadence, 11], activity=activity)
            errors.append(abs(gait.cadence_spm(x, FS, "wrist") - cadence))
    errors = np.array(errors)
    ok = errors < 2.0  # NaN counts as a failure
    assert ok.mean() >= 0.98, np.flatnonzero(~ok)
    assert np.median(errors) < 0.5


def test_no_steps_is_nan():
    rng = np.random.default_rng(0)
    still = np.array([0.1, 0.2, 0.97]) + rng.normal(0, 0.005, (1000, 3))
    noise = np.array([0.0, 0.0, 1.0]) + rng.normal(0, 0.3, (1000, 3))
    for placement in ("ankle", "wrist"):
        assert np.isnan(gait.cadence_spm(still, FS, placement))
        assert np.isnan(gait.cadence_spm(noise, FS, placement))
    windows = np.stack([still, rawfixtures.ankle_gait_signal(120.0, 10.0, FS, rng=1)])
    y = gait.window_cadences(windows, FS, "ankle")
    assert np.isnan(y[0]) and y[1] == pytest.approx(120.0, abs=2.0)


def test_bad_input():
    x = rawfixtures.ankle_gait_signal(100.0, 10.0, FS, rng=0)
    with pytest.raises(ValueError, match="placement='hip'"):
        gait.cadence_spm(x, FS, "hip")
    x[5] = np.nan
    with pytest.raises(ValueError, match="3 non-finite"):
        gait.cadence_spm(x, FS)
    with pytest.raises(ValueError, match="cannot show two periods"):
        gait.cadence_spm(np.ones((300, 3)), FS, "ankle")
    with pytest.raises(ValueError, match=r"expected \(T, 3\)$"):
        gait.cadence_spm(np.ones(1000), FS, "wrist")
