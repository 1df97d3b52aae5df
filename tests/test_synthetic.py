"""Tests of the synthetic wrist-accelerometry generators (relcon/data/synthetic.py)."""
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # plain `pytest` does not put the repository root on sys.path
    sys.path.insert(0, str(REPO_ROOT))

from relcon.data import synthetic as S  # noqa: E402

FS = 100.0


def dominant_frequency(x, fs=FS, f_min=0.5):
    """Peak frequency (Hz) of the detrended, Hann-windowed magnitude of (T, 3) or (N, 3, T) signals."""
    from scipy.signal import detrend

    x = np.asarray(x, dtype=float)
    mag = np.linalg.norm(x, axis=1) if x.ndim == 2 else np.linalg.norm(x, axis=-2)
    mag = detrend(mag, axis=-1)
    nfft = 1 << 16  # zero padding: bins of ~1.5 mHz, far finer than the 2 % tolerance
    spec = np.abs(np.fft.rfft(mag * np.hanning(mag.shape[-1]), nfft, axis=-1))
    freqs = np.fft.rfftfreq(nfft, 1.0 / fs)
    spec[..., freqs < f_min] = 0.0
    return freqs[spec.argmax(-1)]


def har_features(X, fs=FS):
    """Per-window per-axis mean and std, and the dominant frequency and std of the magnitude."""
    mag = np.linalg.norm(X, axis=1)
    mag = mag - mag.mean(-1, keepdims=True)
    spec = np.abs(np.fft.rfft(mag * np.hanning(X.shape[-1]), 1024, axis=-1))
    freqs = np.fft.rfftfreq(1024, 1.0 / fs)
    spec[:, freqs < 0.5] = 0.0
    return np.column_stack([X.mean(-1), X.std(-1), freqs[spec.argmax(-1)], mag.std(-1)])


@pytest.fixture(scope="module")
def har():
    return S.make_har_dataset(n_subjects=12, windows_per_activity=20, T=256, seed=0)


# ------------------------------------------------------------------------------------------------
# Single windows


def test_activity_names():
    assert S.ACTIVITIES == ("walking", "running", "stairs_up", "stairs_down", "cycling", "sitting",
                            "standing", "lying")


@pytest.mark.parametrize("activity", S.ACTIVITIES)
def test_simulate_activity_shape_and_range(activity):
    rng = np.random.default_rng(1)
    subject = S.sample_subject(rng)
    x = S.simulate_activity(activity, 512, FS, subject, rng)
    assert x.shape == (512, 3) and x.dtype == np.float64
    assert np.all(np.isfinite(x))
    assert np.abs(x).max() <= S.SENSOR_RANGE_G
    mag = np.linalg.norm(x, axis=1)
    assert np.percentile(mag, 99) < 5.0  # a few g at most, even when running
    assert 0.85 < mag.mean() < (2.0 if activity == "running" else 1.3)
    if activity in S.STATIC_ACTIVITIES:
        assert abs(np.linalg.norm(x.mean(0)) - 1.0) < 0.1  # gravity dominates a still wrist
        assert x.std(0).max() < 0.2


def test_running_is_stronger_than_walking_and_static_is_quiet():
    rng = np.random.default_rng(2)
    stds = {}
    for a in ("walking", "running", "cycling", "sitting"):
        stds[a] = np.mean([np.linalg.norm(S.simulate_activity(a, 512, FS, S.sample_subject(rng), rng), axis=1).std()
                           for _ in range(5)])
    assert stds["running"] > 2 * stds["walking"] > 4 * stds["cycling"] > 0
    assert stds["sitting"] < stds["cycling"]


def test_bad_arguments():
    rng = np.random.default_rng(0)
    subject = S.sample_subject(rng)
    with pytest.raises(ValueError, match="walking, running"):
        S.simulate_activity("jogging", 100, FS, subject, rng)
    with pytest.raises(ValueError, match="fs"):
        S.simulate_activity("walking", 100, 0, subject, rng)
    with pytest.raises(ValueError, match="fs"):
        S.simulate_activity("walking", 100, -50, subject, rng)
    with pytest.raises(ValueError, match="n_samples"):
        S.simulate_activity("walking", 0, FS, subject, rng)
    with pytest.raises(ValueError, match="cadence"):
        S.simulate_activity("walking", 100, FS, subject, rng, cadence_spm=500)
    with pytest.raises(ValueError, match="cadence"):
        S.simulate_activity("walking", 100, FS, subject, rng, cadence_spm=5)
    with pytest.raises(ValueError, match="gait"):
        S.simulate_activity("sitting", 100, FS, subject, rng, cadence_spm=100)
    with pytest.raises(ValueError, match="duration_s"):
        S.simulate_gait_recording(100, 0, rng=rng)
    with pytest.raises(ValueError, match="cadence_range"):
        S.make_gait_dataset(n_subjects=2, windows_per_subject=2, cadence_range=(150, 90))


def test_same_seed_same_data_different_seed_different():
    a = S.simulate_activity("walking", 300, FS, rng=7)
    b = S.simulate_activity("walking", 300, FS, rng=7)
    c = S.simulate_activity("walking", 300, FS, rng=8)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)

    h1 = S.sample_hour_segments(np.random.default_rng(3), S.sample_subject(np.random.default_rng(3)), 10)
    h2 = S.sample_hour_segments(np.random.default_rng(3), S.sample_subject(np.random.default_rng(3)), 10)
    np.testing.assert_array_equal(h1, h2)

    X1, y1, p1 = S.make_har_dataset(n_subjects=3, windows_per_activity=2, seed=5)
    X2, y2, p2 = S.make_har_dataset(n_subjects=3, windows_per_activity=2, seed=5)
    X3, _, _ = S.make_har_dataset(n_subjects=3, windows_per_activity=2, seed=6)
    np.testing.assert_array_equal(X1, X2)
    np.testing.assert_array_equal(y1, y2)
    np.testing.assert_array_equal(p1, p2)
    assert not np.allclose(X1, X3)

    G1 = S.make_gait_dataset(n_subjects=3, windows_per_subject=2, T=300, seed=5)
    G2 = S.make_gait_dataset(n_subjects=3, windows_per_subject=2, T=300, seed=5)
    G3 = S.make_gait_dataset(n_subjects=3, windows_per_subject=2, T=300, seed=6)
    for u, v in zip(G1, G2):
        np.testing.assert_array_equal(u, v)
    assert not np.allclose(G1[1], G3[1])


# ------------------------------------------------------------------------------------------------
# Known cadence


@pytest.mark.parametrize("cadence", [60, 80, 100, 120, 140, 160, 180])
def test_walking_cadence_is_the_dominant_frequency(cadence):
    for seed in range(3):
        x = S.simulate_gait_recording(cadence, 20.0, FS, rng=np.random.default_rng([seed, cadence]))
        assert x.shape == (2000, 3)
        f = dominant_frequency(x)
        assert abs(f - cadence / 60.0) <= 0.02 * cadence / 60.0, (seed, cadence, f)


def test_step_events_have_exact_mean_rate_with_jitter():
    rng = np.random.default_rng(0)
    rate = np.array([1.0, 1.7, 2.9])
    phase = S._event_phase(rng, rate, 60_000, FS, 0.02)  # 10 minutes
    # Step times = where the phase crosses multiples of 2*pi.
    for r, ph in zip(rate, phase):
        steps = np.flatnonzero(np.diff(np.floor(ph / (2 * np.pi))) > 0) / FS
        intervals = np.diff(steps)
        assert abs(1.0 / intervals.mean() - r) / r < 0.002
        assert 0.005 < intervals.std() / intervals.mean() < 0.06  # natural, small step-to-step jitter


def test_gait_dataset(tmp_path):
    X, y, pid, act = S.make_gait_dataset(n_subjects=4, windows_per_subject=12, T=1000, seed=0,
                                         return_activity=True)
    assert X.shape == (48, 3, 1000) and X.dtype == np.float32
    assert y.shape == (48,) and y.dtype == np.float64 and pid.dtype == np.int64
    assert y.min() >= 60 and y.max() <= 180
    assert set(np.unique(pid)) == {0, 1, 2, 3}
    assert set(np.unique(act)) <= set(range(4))
    # Running only where a run is plausible.
    assert np.all(y[act == 1] >= 130)
    walk = act == 0
    f = dominant_frequency(X[walk])
    assert np.mean(np.abs(f * 60 - y[walk]) / y[walk] < 0.03) >= 0.9


# ------------------------------------------------------------------------------------------------
# Labelled HAR set


def test_har_dataset_layout(har):
    X, y, pid = har
    assert X.shape == (12 * 8 * 20, 3, 256) and X.dtype == np.float32
    assert y.dtype == np.int64 and pid.dtype == np.int64
    np.testing.assert_array_equal(np.bincount(y), np.full(8, 12 * 20))
    np.testing.assert_array_equal(np.bincount(pid), np.full(12, 8 * 20))
    assert np.abs(X).max() < 6.0


def test_activities_separable_but_not_trivially(har):
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import RidgeClassifier
    from sklearn.metrics import f1_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y, pid = har
    train, test = pid < 8, pid >= 8  # unseen subjects
    F = har_features(X)
    rf = RandomForestClassifier(n_estimators=150, random_state=0).fit(F[train], y[train])
    f1_feat = f1_score(y[test], rf.predict(F[test]), average="macro")
    raw = X.reshape(len(X), -1)
    lin = make_pipeline(StandardScaler(), RidgeClassifier(alpha=100.0)).fit(raw[train], y[train])
    f1_raw = f1_score(y[test], lin.predict(raw[test]), average="macro")
    print(f"macro-F1 features+RF {f1_feat:.3f}, raw+linear {f1_raw:.3f} (chance 0.125)")
    assert f1_feat > 0.7
    assert f1_raw < 0.7 and f1_raw < f1_feat - 0.15


def test_subjects_differ_in_device_orientation(har):
    X, y, pid = har
    standing = y == S.ACTIVITIES.index("standing")
    means = np.stack([X[standing & (pid == p)].mean((0, 2)) for p in range(12)])
    u = means / np.linalg.norm(means, axis=1, keepdims=True)
    angles = np.degrees(np.arccos(np.clip(u @ u.T, -1, 1)))[np.triu_indices(12, 1)]
    assert np.median(angles) > 5.0 and angles.max() > 20.0


def test_subject_profile_draws():
    rng = np.random.default_rng(0)
    subs = [S.sample_subject(rng) for _ in range(40)]
    assert all(np.allclose(s.mount @ s.mount.T, np.eye(3)) for s in subs)
    assert all(0 <= s.mount_deg <= 35 for s in subs)
    assert len({s.left_wrist for s in subs}) == 2
    assert np.ptp([s.cadence_mult for s in subs]) > 0.1
    flat = S.sample_subject(0, max_mount_deg=0, p_left_wrist=0, with_bias=False)
    np.testing.assert_allclose(flat.sensor_matrix, np.eye(3))
    np.testing.assert_array_equal(flat.bias, 0)


# ------------------------------------------------------------------------------------------------
# Unlabelled pre-training data


def test_hour_segments_structure():
    rng = np.random.default_rng(0)
    subjects = [S.sample_subject(rng) for _ in range(6)]
    hours, acts = [], []
    for s in subjects:
        for _ in range(2):
            X, a = S.sample_hour_segments(rng, s, 25, T=256, fs=FS, return_activities=True)
            assert X.shape == (25, 256, 3) and X.dtype == np.float64
            hours.append(X.mean(1))  # per-segment mean vector (posture)
            acts.append(a)
    # A dominant activity plus a few others.
    for a in acts:
        counts = np.bincount(a, minlength=8)
        assert counts.max() >= 8 and (counts > 0).sum() <= 4
    # Segments of the same hour resemble each other more than segments of other hours.
    within = np.mean([np.linalg.norm(h[:, None] - h[None], axis=-1).mean() for h in hours])
    allm = np.concatenate(hours)
    between = np.linalg.norm(allm[:, None] - allm[None], axis=-1).mean()
    assert within < 0.8 * between
    # ... but are not copies of each other.
    assert min(np.abs(np.diff(h, axis=0)).max() for h in hours) > 0


def test_pretrain_generation_speed_and_layout():
    t0 = time.perf_counter()
    D = S.make_pretrain_dataset(n_subjects=64, hours_per_subject=2, segments_per_hour=25, T=256, seed=0)
    elapsed = time.perf_counter() - t0
    print(f"pre-training set 64x2x25x256x3 generated in {elapsed:.2f} s")
    assert D.shape == (64, 2, 25, 256, 3) and D.dtype == np.float32
    assert np.all(np.isfinite(D))
    assert elapsed < 5.0
    # The labelled sets draw their subjects from other seed streams than pre-training.
    streams = {S.STREAM_PRETRAIN, S.STREAM_HAR, S.STREAM_GAIT}
    assert len(streams) == 3
    mounts = [S.sample_subject(np.random.default_rng([0, st])).mount for st in streams]
    assert not np.allclose(mounts[0], mounts[1]) and not np.allclose(mounts[1], mounts[2])


# ------------------------------------------------------------------------------------------------
# Folds


def test_write_supervised_folds(tmp_path, har):
    X, y, pid = har
    out = tmp_path / "folds"
    (out).mkdir()
    (out / "cv7_train_X.npy").write_bytes(b"stale")
    summary = S.write_supervised_folds(X, y, pid, out, n_folds=3, seed=0)
    assert not (out / "cv7_train_X.npy").exists()
    tested = []
    for k in range(3):
        fold = summary["folds"][k]
        tr, va, te = (set(fold[s]["subjects"]) for s in ("train", "val", "test"))
        assert not (tr & va or tr & te or va & te)
        assert tr | va | te == set(range(12))
        assert tr and va and te
        tested += sorted(te)
        for split, subj in (("train", tr), ("val", va), ("test", te)):
            Xs = np.load(out / f"cv{k}_{split}_X.npy")
            ys = np.load(out / f"cv{k}_{split}_y.npy")
            assert Xs.dtype == np.float32 and Xs.shape[1:] == (3, 256)
            assert ys.dtype == np.int64 and ys.shape == (len(Xs),)
            assert len(Xs) == fold[split]["n_windows"] == np.isin(pid, list(subj)).sum()
            np.testing.assert_array_equal(Xs, X[np.isin(pid, list(subj))])
    assert sorted(tested) == list(range(12))  # every subject tested exactly once
    assert json.loads((out / "folds.json").read_text())["n_folds"] == 3
    assert not list(out.glob("*.tmp"))

    # Time-major input and float labels are accepted.
    s2 = S.write_supervised_folds(X.transpose(0, 2, 1), y.astype(float), pid % 4,
                                  tmp_path / "f2", n_folds=2)
    assert np.load(tmp_path / "f2" / "cv0_test_X.npy").shape[1:] == (3, 256)
    assert np.load(tmp_path / "f2" / "cv0_test_y.npy").dtype == np.float64
    assert s2["n_subjects"] == 4

    with pytest.raises(ValueError, match="at least 3 subjects"):
        S.write_supervised_folds(X[:10], y[:10], np.array([0] * 5 + [1] * 5), tmp_path / "bad", n_folds=2)
    with pytest.raises(ValueError, match="too few subjects"):
        S.write_supervised_folds(X, y, pid % 4, tmp_path / "bad", n_folds=5)


# ------------------------------------------------------------------------------------------------
# Command-line scripts


@pytest.mark.parametrize("script,extra,ydtype", [
    ("process_synthetic_har", ["--windows-per-activity", "2", "--T", "128"], np.int64),
    ("process_synthetic_gait", ["--windows-per-subject", "3", "--T", "300"], np.float64),
])
def test_cli_scripts_from_another_directory(tmp_path, script, extra, ydtype):
    out = tmp_path / "out"
    cmd = [sys.executable, str(REPO_ROOT / "relcon" / "data" / "process" / f"{script}.py"),
           "--out-dir", str(out), "--subjects", "4", "--folds", "2", "--seed", "1", *extra]
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    res = subprocess.run(cmd, cwd=elsewhere, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert "fold 1" in res.stdout
    Xs = np.load(out / "cv1_test_X.npy")
    assert Xs.dtype == np.float32 and Xs.shape[1] == 3
    assert np.load(out / "cv1_test_y.npy").dtype == ydtype

    # Module form from the repository root.
    out_m = tmp_path / "out_m"
    cmd = [sys.executable, "-m", f"relcon.data.process.{script}", "--out-dir", str(out_m),
           "--subjects", "4", "--folds", "2", "--seed", "1", *extra]
    res = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    np.testing.assert_array_equal(np.load(out_m / "cv1_test_X.npy"), Xs)
