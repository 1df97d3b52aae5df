"""Synthetic wrist accelerometry from one shared generative model of wrist motion.

The offline demo pre-trains on unlabelled ``subject/hour/segment`` data and evaluates on a labelled
HAR set and a gait-cadence set. All three come from this one model, so that what the encoder learns
during pre-training (activities, postures, subject variation) is what the downstream tasks need.

Signal model (units: g, with gravity = 1 g; sampling rate ``fs`` Hz; segments are time-major
``(T, 3)`` float64 unless stated):

* Frames. Body frame: X forward, Y left, Z up. Device (watch) frame: x along the forearm towards the
  hand, y across the wrist towards the thumb, z out of the watch face. The sensor reads specific force,
  so a device at rest reads +1 g "up" expressed in device axes.
* Per sample ``t``::

      f(t) = e_Z + a_trunk(t) + a_arm(t)                  body-frame specific force (g)
      Q(t) = R_dyn(t) @ Q_posture                          device axes expressed in the body frame
      v(t) = Q(t)^T f(t)                                   ideal reading on the wrist
      x(t) = gain * (F @ M @ v(t)) + bias + drift(t) + e(t) what the sensor records, clipped to +-8 g

* Activities (``ACTIVITIES``). Gait (walking ~1.6-2 Hz, running ~2.5-3 Hz, stairs up/down slower):
  step events at the cadence with small independent timing jitter (so the mean step rate is exact);
  vertical/antero-posterior trunk acceleration is a harmonic series of the step phase plus an impact
  pulse (sharper for running and stairs down); stairs use a time-skewed phase so the up/down waveform
  is asymmetric; medio-lateral sway and the arm swing run at the stride rate (half the step rate); the
  arm swing rotates the device (moving gravity between axes) and adds tangential/centripetal
  acceleration at the wrist. Cycling: smooth pedalling-rate (~1-1.5 Hz) sway of the hands on the
  handlebar, weak pedal-stroke acceleration and road vibration, no impacts. Sitting, standing, lying:
  static postures (distinct gravity directions) with tremor, slow posture drift, body sway (standing)
  and occasional gestures (a smooth wrist rotation of 10-50 degrees lasting 0.4-1.6 s).
* Subject (``SubjectProfile``): device mounting rotation (random axis, up to ``max_mount_deg``),
  left wrist (a mirror of the device y axis), amplitude scale, cadence multiplier, sensor noise/drift,
  gain and bias, habitual posture offsets per activity, and a motif style (harmonic weights and phases,
  impact sharpness). An "hour" or recording session adds its own small cadence, amplitude and posture
  offsets, and each window adds per-window jitter.

Everything is vectorised over windows and samples; a Python loop runs at most per activity group.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from relcon.data.folds import remove_stale_folds, write_fold
from relcon.utils.io import atomic_write_json

ACTIVITIES = (
    "walking",
    "running",
    "stairs_up",
    "stairs_down",
    "cycling",
    "sitting",
    "standing",
    "lying",
)
GAIT_ACTIVITIES = ("walking", "running", "stairs_up", "stairs_down")
STATIC_ACTIVITIES = ("sitting", "standing", "lying")

N_HARMONICS = 5
_AP_SHAPE = np.array([0.6, 1.0, 0.8, 0.6, 0.4])  # AP sway carries relatively more higher harmonics
CADENCE_LIMITS_SPM = (20.0, 260.0)  # what a human gait can plausibly be asked for
SENSOR_RANGE_G = 8.0  # a typical wrist accelerometer range; running peaks stay far below it
_G_MS2 = 9.81
_ARM_LENGTH_M = 0.45  # effective shoulder-to-wrist pendulum length

# Seed streams: the same integer ``seed`` gives unrelated subjects in each set, so the labelled sets
# are new draws from the subject distribution rather than copies of pre-training subjects.
STREAM_PRETRAIN = 101
STREAM_HAR = 202
STREAM_GAIT = 303

# Cadence bands (steps/min) in which each gait activity is plausible; used by make_gait_dataset.
_GAIT_CADENCE_BANDS = {
    "walking": (40.0, 200.0),
    "running": (130.0, 250.0),
    "stairs_up": (50.0, 130.0),
    "stairs_down": (60.0, 140.0),
}


@dataclasses.dataclass(frozen=True)
class _ActivitySpec:
    kind: str  # "gait", "cycle" or "static"
    elev_deg: float  # forearm elevation from hanging straight down towards pointing forward
    pron_deg: float  # rotation about the forearm (negative: palm turns down, watch face up)
    posture_sd_deg: float  # spread of habitual posture between subjects
    rate_hz: float = 0.0  # step rate (gait) or pedal rate (cycling)
    trunk_v_g: float = 0.0
    trunk_ap_g: float = 0.0
    trunk_ml_g: float = 0.0
    swing_rad: float = 0.0  # arm swing (gait) or handlebar sway (cycling) amplitude
    arm_beta0_deg: float = 0.0  # mean pendulum angle of the arm, for the swing acceleration
    harm_w: tuple = (1.0, 0.0, 0.0, 0.0, 0.0)
    kappa: float = 1.0  # impact pulse sharpness (von Mises concentration)
    impact_w: float = 0.0
    skew: float = 0.0  # time asymmetry of the step waveform (stairs)
    tremor_g: float = 0.0
    sway_g: float = 0.0
    drift_deg: float = 0.0
    gesture_rate_hz: float = 0.0
    vibration_g: float = 0.0


_SPECS = {
    "walking": _ActivitySpec(
        "gait", 10, 0, 8, rate_hz=1.8, trunk_v_g=0.28, trunk_ap_g=0.12, trunk_ml_g=0.05,
        swing_rad=0.20, arm_beta0_deg=0, harm_w=(1.0, 0.45, 0.22, 0.10, 0.05), kappa=3.0,
        impact_w=0.5, skew=0.1, drift_deg=1.5),
    "running": _ActivitySpec(
        "gait", 75, -15, 10, rate_hz=2.75, trunk_v_g=0.90, trunk_ap_g=0.30, trunk_ml_g=0.10,
        swing_rad=0.30, arm_beta0_deg=25, harm_w=(1.0, 0.60, 0.40, 0.25, 0.15), kappa=8.0,
        impact_w=1.0, skew=0.0, drift_deg=2.0),
    "stairs_up": _ActivitySpec(
        "gait", 35, -35, 10, rate_hz=1.45, trunk_v_g=0.20, trunk_ap_g=0.12, trunk_ml_g=0.07,
        swing_rad=0.10, arm_beta0_deg=5, harm_w=(1.0, 0.35, 0.15, 0.05, 0.02), kappa=2.0,
        impact_w=0.3, skew=0.55, drift_deg=2.0),
    "stairs_down": _ActivitySpec(
        "gait", 25, 30, 10, rate_hz=1.65, trunk_v_g=0.35, trunk_ap_g=0.10, trunk_ml_g=0.07,
        swing_rad=0.10, arm_beta0_deg=5, harm_w=(1.0, 0.50, 0.30, 0.15, 0.08), kappa=6.0,
        impact_w=0.8, skew=-0.55, drift_deg=2.0),
    "cycling": _ActivitySpec(
        "cycle", 75, -70, 10, rate_hz=1.25, trunk_v_g=0.04, trunk_ap_g=0.02, trunk_ml_g=0.03,
        swing_rad=0.05, drift_deg=1.5, vibration_g=0.03),
    "sitting": _ActivitySpec(
        "static", 70, -80, 12, tremor_g=0.004, sway_g=0.002, drift_deg=2.0, gesture_rate_hz=0.12),
    "standing": _ActivitySpec(
        "static", 5, 10, 8, tremor_g=0.004, sway_g=0.010, drift_deg=1.5, gesture_rate_hz=0.06),
    # Sleeping positions vary a lot between people, hence the wide posture spread.
    "lying": _ActivitySpec(
        "static", 90, 120, 35, tremor_g=0.002, sway_g=0.001, drift_deg=1.0, gesture_rate_hz=0.03),
}

# How often each activity dominates an hour, before a subject's own preferences.
_BASE_PREFS = np.array([0.20, 0.08, 0.07, 0.07, 0.10, 0.20, 0.14, 0.14])


# ----------------------------------------------------------------------------------------------
# Subjects


@dataclasses.dataclass
class SubjectProfile:
    """One wearer and their device. Draw with :func:`sample_subject`.

    Attributes (activity-indexed arrays follow the order of ``ACTIVITIES``):
        mount: (3, 3) rotation of the device on the wrist (applied to every reading).
        mount_deg: angle of ``mount`` in degrees.
        left_wrist: worn on the left wrist (mirror image: device y axis negated).
        amplitude: scale of all dynamic accelerations (unitless, ~0.8-1.25).
        cadence_mult: multiplier of the activity's typical step/pedal rate (~0.9-1.1).
        noise_std: white sensor noise (g).
        drift_std: slow sensor drift (g).
        bias: (3,) constant offset per axis (g).
        gain: (3,) per-axis sensitivity (unitless, ~1 +- 2%).
        posture_offset: (8, 3) habitual posture per activity as a body-frame rotation vector (rad).
        harm_weight: (8, N_HARMONICS) multipliers of the step-waveform harmonic weights.
        harm_phase: (8, 2, N_HARMONICS) harmonic phases (rad) of the vertical and AP waveforms.
        aux_phase: (8, 4) phases (rad) of sway, arm swing and pedalling components.
        impact_sharpness: (8,) multiplier of the impact-pulse sharpness.
        activity_prefs: (8,) probability of each activity dominating an hour.
    """

    mount: np.ndarray
    mount_deg: float
    left_wrist: bool
    amplitude: float
    cadence_mult: float
    noise_std: float
    drift_std: float
    bias: np.ndarray
    gain: np.ndarray
    posture_offset: np.ndarray
    harm_weight: np.ndarray
    harm_phase: np.ndarray
    aux_phase: np.ndarray
    impact_sharpness: np.ndarray
    activity_prefs: np.ndarray

    @property
    def sensor_matrix(self) -> np.ndarray:
        """(3, 3) map from the ideal wrist frame to the recorded axes: mirror @ mount."""
        flip = np.diag([1.0, -1.0, 1.0]) if self.left_wrist else np.eye(3)
        return flip @ self.mount


def sample_subject(rng=None, *, max_mount_deg: float = 35.0, p_left_wrist: float = 0.5,
                   with_bias: bool = True) -> SubjectProfile:
    """Draw one subject (wearer + device) from the shared subject distribution.

    Args:
        rng: ``np.random.Generator`` or an int seed (None: fresh entropy).
        max_mount_deg: largest device mounting rotation, degrees (angle uniform in [0, max]).
        p_left_wrist: probability of the mirrored (left-wrist) placement.
        with_bias: draw small per-axis gravity-bias offsets (sd 0.015 g) and gain errors.
    """
    rng = _as_rng(rng)
    if max_mount_deg < 0:
        raise ValueError(f"max_mount_deg must be >= 0, got {max_mount_deg}")
    if not 0.0 <= p_left_wrist <= 1.0:
        raise ValueError(f"p_left_wrist must be in [0, 1], got {p_left_wrist}")
    n_act = len(ACTIVITIES)
    mount_deg = float(rng.uniform(0.0, max_mount_deg))
    mount = _rotvec_to_matrix(_unit(rng.standard_normal(3)) * np.deg2rad(mount_deg))
    posture_sd = np.deg2rad([_SPECS[a].posture_sd_deg for a in ACTIVITIES])
    prefs = _BASE_PREFS * rng.lognormal(0.0, 0.5, n_act)
    return SubjectProfile(
        mount=mount,
        mount_deg=mount_deg,
        left_wrist=bool(rng.random() < p_left_wrist),
        amplitude=float(rng.uniform(0.8, 1.25)),
        cadence_mult=float(rng.uniform(0.9, 1.1)),
        noise_std=float(rng.uniform(0.004, 0.02)),
        drift_std=float(rng.uniform(0.002, 0.01)),
        bias=rng.normal(0.0, 0.015, 3) if with_bias else np.zeros(3),
        gain=1.0 + rng.normal(0.0, 0.02, 3) if with_bias else np.ones(3),
        posture_offset=rng.standard_normal((n_act, 3)) * posture_sd[:, None] / np.sqrt(3.0),
        harm_weight=rng.lognormal(0.0, 0.25, (n_act, N_HARMONICS)),
        harm_phase=rng.normal(0.0, 0.5, (n_act, 2, N_HARMONICS)),
        aux_phase=rng.uniform(0.0, 2 * np.pi, (n_act, 4)),
        impact_sharpness=rng.lognormal(0.0, 0.2, n_act),
        activity_prefs=prefs / prefs.sum(),
    )


@dataclasses.dataclass
class _Context:
    """Session ("hour") level variation shared by all windows of a session."""

    cad_factor: float = 1.0
    amp_factor: float = 1.0
    posture_rv: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(3))


def _draw_context(rng) -> _Context:
    return _Context(
        cad_factor=float(rng.lognormal(0.0, 0.04)),
        amp_factor=float(rng.lognormal(0.0, 0.08)),
        posture_rv=rng.normal(0.0, np.deg2rad(5.0), 3),
    )


# ----------------------------------------------------------------------------------------------
# Small vectorised helpers


def _as_rng(rng) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(rng)


def _unit(v):
    v = np.asarray(v, dtype=float)
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


def _rotvec_to_matrix(rv) -> np.ndarray:
    """Rodrigues: rotation vectors (..., 3) in rad -> rotation matrices (..., 3, 3)."""
    rv = np.asarray(rv, dtype=float)
    theta = np.linalg.norm(rv, axis=-1)
    k = rv / np.where(theta > 1e-12, theta, 1.0)[..., None]
    c, s = np.cos(theta), np.sin(theta)
    C = 1.0 - c
    kx, ky, kz = k[..., 0], k[..., 1], k[..., 2]
    R = np.empty(rv.shape[:-1] + (3, 3))
    R[..., 0, 0] = c + kx * kx * C
    R[..., 0, 1] = kx * ky * C - kz * s
    R[..., 0, 2] = kx * kz * C + ky * s
    R[..., 1, 0] = ky * kx * C + kz * s
    R[..., 1, 1] = c + ky * ky * C
    R[..., 1, 2] = ky * kz * C - kx * s
    R[..., 2, 0] = kz * kx * C - ky * s
    R[..., 2, 1] = kz * ky * C + kx * s
    R[..., 2, 2] = c + kz * kz * C
    return R


# Device axes in the body frame with the arm hanging, palm facing the thigh, watch face outwards.
_Q_HANG = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, -1.0], [-1.0, 0.0, 0.0]])


def _posture_matrix(elev_deg: float, pron_deg: float) -> np.ndarray:
    """(3, 3) device axes (columns) in the body frame for a forearm elevation and pronation."""
    lift = _rotvec_to_matrix([0.0, -np.deg2rad(elev_deg), 0.0])
    pron = _rotvec_to_matrix([np.deg2rad(pron_deg), 0.0, 0.0])
    return lift @ _Q_HANG @ pron


def _smooth_noise(rng, lead: tuple, n: int, fs: float, f_lo: float, f_hi: float, n_comp: int = 4):
    """Low-frequency random signal (*lead, n), unit variance in expectation.

    A sum of a few random sinusoids rather than filtered noise, so that it stays meaningful for
    windows much shorter than its period (where an FFT has no bins at those frequencies). The
    sinusoids are evaluated on a coarse grid (>= 25 points per period of ``f_hi``) and linearly
    interpolated, which is < 1% off and several times cheaper than evaluating at every sample.
    """
    step = max(1, int(fs / (25.0 * f_hi)))
    n_c = (n - 1) // step + 2
    t_c = np.arange(n_c) * (step / fs)
    freqs = rng.uniform(f_lo, f_hi, lead + (n_comp, 1))
    phases = rng.uniform(0.0, 2 * np.pi, lead + (n_comp, 1))
    coef = rng.standard_normal(lead + (n_comp, 1))
    coarse = (coef * np.sin(2 * np.pi * freqs * t_c + phases)).sum(axis=-2) * np.sqrt(2.0 / n_comp)
    if step == 1:
        return coarse[..., :n]
    pos = np.arange(n) / step
    i0 = pos.astype(np.int64)
    frac = pos - i0
    return coarse[..., i0] * (1.0 - frac) + coarse[..., i0 + 1] * frac


def _band_noise(rng, lead: tuple, n: int, fs: float, f_lo: float, f_hi: float):
    """Band-limited Gaussian noise (*lead, n) with unit overall standard deviation."""
    white = rng.standard_normal(lead + (n,))
    spec = np.fft.rfft(white, axis=-1)
    freqs = np.fft.rfftfreq(n, 1.0 / fs)
    spec[..., (freqs < f_lo) | (freqs > f_hi)] = 0.0
    out = np.fft.irfft(spec, n=n, axis=-1)
    sd = out.std()
    return out / sd if sd > 0 else out


def _event_phase(rng, rate_hz: np.ndarray, n: int, fs: float, jitter_frac: float) -> np.ndarray:
    """Phase (B, n) in rad that advances 2*pi per event (step or pedal stroke).

    Events sit at ``(k - u0) / rate + eps_k``: a regular grid at exactly ``rate_hz`` with a random
    start and independent timing jitter ``eps_k`` (sd ``jitter_frac`` of a period, clipped so events
    stay ordered). The jitter does not accumulate, so the mean event rate is exactly ``rate_hz``.
    The phase is linear between events.
    """
    rate_hz = np.asarray(rate_hz, dtype=float)
    B = rate_hz.shape[0]
    dur = n / fs
    n_ev = int(np.ceil(dur * rate_hz.max())) + 4
    k = np.arange(-1, n_ev - 1, dtype=float)
    period = 1.0 / rate_hz[:, None]
    u0 = rng.random((B, 1))
    eps = np.clip(rng.normal(0.0, jitter_frac, (B, n_ev)), -2.5 * jitter_frac, 2.5 * jitter_frac)
    t_ev = (k - u0 + eps) * period
    # One np.interp for all rows: shift each row to its own disjoint stretch of the time axis.
    span = max(t_ev.max(), dur) - min(t_ev.min(), 0.0) + 1.0
    shift = np.arange(B)[:, None] * span
    t = np.arange(n) / fs
    phase = np.interp((t + shift).ravel(), (t_ev + shift).ravel(), np.tile(2 * np.pi * k, B))
    return phase.reshape(B, n)


def _gestures(rng, B: int, n: int, fs: float, rate_hz: float):
    """Occasional gestures: rotation vectors (B, n, 3) in rad and linear acceleration (B, n, 3) in g."""
    rv = np.zeros((B, n, 3))
    lin = np.zeros((B, n, 3))
    dur = n / fs
    counts = rng.poisson(rate_hz * dur, B)
    K = int(counts.max()) if B else 0
    if K == 0:
        return rv, lin
    active = np.arange(K)[None, :] < counts[:, None]  # (B, K)
    center = rng.uniform(0.0, dur, (B, K, 1))
    width = rng.uniform(0.4, 1.6, (B, K, 1))
    angle = np.deg2rad(rng.uniform(10.0, 50.0, (B, K))) * rng.choice([-1.0, 1.0], (B, K)) * active
    axis = _unit(rng.standard_normal((B, K, 3)))
    lin_amp = rng.uniform(0.03, 0.15, (B, K)) * active
    lin_dir = _unit(rng.standard_normal((B, K, 3)))
    t = np.arange(n) / fs
    x = (t - center) / width  # (B, K, n), support |x| < 1/2
    inside = np.abs(x) < 0.5
    bump = np.where(inside, 0.5 * (1.0 + np.cos(2 * np.pi * x)), 0.0)
    # The hand's linear acceleration follows the second derivative of the movement (up to scale).
    accel_shape = np.where(inside, -np.cos(2 * np.pi * x), 0.0)
    rv = np.einsum("bkn,bk,bkj->bnj", bump, angle, axis)
    lin = np.einsum("bkn,bk,bkj->bnj", accel_shape, lin_amp, lin_dir)
    return rv, lin


def _activity_index(activity) -> int:
    if isinstance(activity, (int, np.integer)) and not isinstance(activity, bool):
        if 0 <= int(activity) < len(ACTIVITIES):
            return int(activity)
        raise ValueError(f"activity index {activity} out of range 0..{len(ACTIVITIES) - 1}")
    if activity not in ACTIVITIES:
        raise ValueError(f"unknown activity {activity!r}; valid activities: {', '.join(ACTIVITIES)}")
    return ACTIVITIES.index(activity)


def _check_fs(fs) -> float:
    fs = float(fs)
    if not np.isfinite(fs) or fs <= 0:
        raise ValueError(f"fs must be a positive sampling rate in Hz, got {fs}")
    return fs


def _check_n(n, name="n_samples") -> int:
    if int(n) != n or int(n) < 1:
        raise ValueError(f"{name} must be a positive integer, got {n}")
    return int(n)


def _check_cadence(cadence_spm) -> np.ndarray:
    c = np.atleast_1d(np.asarray(cadence_spm, dtype=float))
    lo, hi = CADENCE_LIMITS_SPM
    if not np.all(np.isfinite(c)) or np.any(c < lo) or np.any(c > hi):
        raise ValueError(f"cadence_spm must lie in [{lo:g}, {hi:g}] steps/min, got {cadence_spm}")
    return c


# ----------------------------------------------------------------------------------------------
# Core simulator (batched over windows of one activity)


def _gait_wave(theta, weights, phases, skew, kappa, impact_w, impact_phase):
    """Unnormalised step waveform of the step phase ``theta`` (any shape, trailing time axis)."""
    psi = theta + skew * np.sin(theta)
    h = np.arange(1, weights.shape[-1] + 1)
    harm = (weights[:, None] * np.cos(h[:, None] * psi[..., None, :] + phases[:, None])).sum(-2)
    pulse = np.exp(kappa * (np.cos(theta - impact_phase) - 1.0))
    return harm + impact_w * pulse


def _normalised_gait_wave(theta, weights, phases, skew, kappa, impact_w, impact_phase):
    grid = np.linspace(0.0, 2 * np.pi, 256, endpoint=False)
    ref = _gait_wave(grid, weights, phases, skew, kappa, impact_w, impact_phase)
    w = _gait_wave(theta, weights, phases, skew, kappa, impact_w, impact_phase)
    return (w - ref.mean()) / max(ref.std(), 1e-9)


def _simulate_batch(act: int, B: int, n: int, fs: float, subject: SubjectProfile, rng,
                    cadence_spm=None, ctx: _Context | None = None) -> np.ndarray:
    """``B`` independent windows of activity index ``act``: (B, n, 3) float64 in g."""
    spec = _SPECS[ACTIVITIES[act]]
    ctx = ctx or _Context()
    t = np.arange(n) / fs
    amp = subject.amplitude * ctx.amp_factor * rng.lognormal(0.0, 0.08, B)  # (B,)

    f_body = np.zeros((B, n, 3))
    f_body[..., 2] = 1.0
    # Slow wander of the forearm posture, present in every activity.
    rv_dyn = _smooth_noise(rng, (B, 3), n, fs, 0.02, 0.3, 3).transpose(0, 2, 1)
    rv_dyn *= np.deg2rad(spec.drift_deg) / np.sqrt(3.0)

    if spec.kind in ("gait", "cycle"):
        if cadence_spm is not None:
            rate = np.broadcast_to(_check_cadence(cadence_spm) / 60.0, (B,)).astype(float)
        else:
            rate = spec.rate_hz * subject.cadence_mult * ctx.cad_factor * rng.lognormal(0.0, 0.02, B)
        jitter = 0.02 if spec.kind == "gait" else 0.01
        theta = _event_phase(rng, rate, n, fs, jitter)  # (B, n)
        omega = 2 * np.pi * rate[:, None]
        aux = subject.aux_phase[act]

    if spec.kind == "gait":
        # Impacts grow with walking speed, i.e. with cadence relative to the activity's norm.
        amp_c = (amp * np.clip(rate / spec.rate_hz, 0.4, 2.5) ** 0.7)[:, None]
        w = np.asarray(spec.harm_w) * subject.harm_weight[act]
        # Keep the step-rate fundamental the strongest harmonic: a real body's vertical bounce is.
        w[1:] = np.minimum(w[1:], 0.7 * w[0])
        ph_v, ph_ap = subject.harm_phase[act]
        kappa = spec.kappa * subject.impact_sharpness[act]
        a_v = _normalised_gait_wave(theta, w, ph_v, spec.skew, kappa, spec.impact_w, 0.0)
        # The AP waveform leads the vertical one by about a quarter step.
        a_ap = _normalised_gait_wave(theta, w * _AP_SHAPE, ph_ap + np.pi / 2, -spec.skew,
                                     kappa, 0.5 * spec.impact_w, np.pi / 2)
        half = theta / 2.0  # stride phase: left and right steps differ
        a_ml = (np.cos(half + aux[0]) + 0.3 * np.cos(3 * half + aux[1])) / np.sqrt(0.5 * 1.09)
        f_body[..., 0] += amp_c * spec.trunk_ap_g * a_ap
        f_body[..., 1] += amp_c * spec.trunk_ml_g * a_ml
        f_body[..., 2] += amp_c * spec.trunk_v_g * a_v

        # Arm swing: a pendulum at the stride rate with a small step-rate component.
        A = (spec.swing_rad * subject.amplitude * rng.lognormal(0.0, 0.1, B))[:, None]
        s1, s2 = half + aux[2], theta + aux[3]
        alpha = A * (np.sin(s1) + 0.15 * np.sin(s2))
        d_alpha = A * (0.5 * omega * np.cos(s1) + 0.15 * omega * np.cos(s2))
        dd_alpha = -A * ((0.5 * omega) ** 2 * np.sin(s1) + 0.15 * omega**2 * np.sin(s2))
        beta = np.deg2rad(spec.arm_beta0_deg) + alpha
        k_arm = _ARM_LENGTH_M / _G_MS2
        tang = np.stack([np.cos(beta), np.zeros_like(beta), np.sin(beta)], -1)
        radial = np.stack([np.sin(beta), np.zeros_like(beta), -np.cos(beta)], -1)
        f_body += k_arm * (dd_alpha[..., None] * tang - (d_alpha**2)[..., None] * radial)
        rv_dyn[..., 1] -= alpha  # forward swing lifts the forearm: rotation by -alpha about Y

    elif spec.kind == "cycle":
        a = amp[:, None]
        # Each leg's push gives a twice-per-revolution trunk bounce; the sway is once per revolution.
        f_body[..., 0] += a * spec.trunk_ap_g * np.cos(2 * theta + aux[0])
        f_body[..., 1] += a * spec.trunk_ml_g * np.sin(theta + aux[1])
        f_body[..., 2] += a * spec.trunk_v_g * np.cos(2 * theta + aux[2])
        road = _band_noise(rng, (B, 3), n, fs, 4.0, 20.0).transpose(0, 2, 1)
        road *= (spec.vibration_g * rng.lognormal(0.0, 0.4, B))[:, None, None] * np.array([0.5, 0.5, 1.0])
        f_body += road
        sway = spec.swing_rad * a
        rv_dyn[..., 0] += sway * np.sin(theta + aux[3])
        rv_dyn[..., 1] += 0.5 * sway * np.sin(2 * theta + aux[0])

    else:  # static postures
        tremor = _band_noise(rng, (B, 3), n, fs, 8.0, 12.0).transpose(0, 2, 1)
        f_body += spec.tremor_g * rng.lognormal(0.0, 0.3, (B, 1, 1)) * tremor
        sway = _smooth_noise(rng, (B, 3), n, fs, 0.1, 0.8, 4).transpose(0, 2, 1)
        f_body += spec.sway_g * sway
        g_rv, g_lin = _gestures(rng, B, n, fs, spec.gesture_rate_hz)
        rv_dyn += g_rv
        f_body += g_lin

    # Posture: activity norm, the subject's habit, this session's and this window's variation.
    jitter = rng.normal(0.0, np.deg2rad(3.0), (B, 3))
    off = subject.posture_offset[act] + ctx.posture_rv + jitter  # (B, 3)
    Q0 = _rotvec_to_matrix(off) @ _posture_matrix(spec.elev_deg, spec.pron_deg)  # (B, 3, 3)
    R_dyn = _rotvec_to_matrix(rv_dyn)  # (B, n, 3, 3)
    u = np.einsum("bnji,bnj->bni", R_dyn, f_body)  # R_dyn^T f
    v = np.einsum("bji,bnj->bni", Q0, u)  # Q0^T u: ideal reading in device axes

    x = v @ subject.sensor_matrix.T
    x *= subject.gain
    x += subject.bias
    drift = _smooth_noise(rng, (B, 3), n, fs, 0.001, 0.05, 3).transpose(0, 2, 1)
    x += subject.drift_std * drift
    x += subject.noise_std * rng.standard_normal(x.shape)
    np.clip(x, -SENSOR_RANGE_G, SENSOR_RANGE_G, out=x)
    return x


# ----------------------------------------------------------------------------------------------
# Public generators


def simulate_activity(activity, n_samples: int, fs: float = 100.0, subject: SubjectProfile | None = None,
                      rng=None, cadence_spm: float | None = None) -> np.ndarray:
    """One continuous window of ``activity`` for one subject.

    Args:
        activity: a name from ``ACTIVITIES`` (or its index).
        n_samples: window length in samples (duration ``n_samples / fs`` s).
        fs: sampling rate in Hz.
        subject: wearer/device profile; drawn from ``rng`` if None.
        rng: ``np.random.Generator`` or int seed.
        cadence_spm: gait activities only: steps per minute. Step events then occur at exactly
            ``cadence_spm / 60`` Hz on average (small independent step-to-step jitter).
    Returns:
        (n_samples, 3) float64 acceleration in g, device axes (x, y, z), sampled at ``fs``.
    """
    act = _activity_index(activity)
    fs = _check_fs(fs)
    n = _check_n(n_samples)
    rng = _as_rng(rng)
    if cadence_spm is not None:
        if ACTIVITIES[act] not in GAIT_ACTIVITIES:
            raise ValueError(f"cadence_spm applies to gait activities {GAIT_ACTIVITIES}, "
                             f"not {ACTIVITIES[act]!r}")
        if np.ndim(cadence_spm) != 0:
            raise ValueError("cadence_spm must be a single number")
        _check_cadence(cadence_spm)
    if subject is None:
        subject = sample_subject(rng)
    return _simulate_batch(act, 1, n, fs, subject, rng, cadence_spm=cadence_spm)[0]


def simulate_gait_recording(cadence_spm: float, duration_s: float, fs: float = 100.0, rng=None,
                            subject: SubjectProfile | None = None, activity: str = "walking") -> np.ndarray:
    """A long continuous gait recording with a known cadence.

    Args:
        cadence_spm: steps per minute; the mean step rate is exactly ``cadence_spm / 60`` Hz.
        duration_s: length in seconds (``round(duration_s * fs)`` samples).
        fs: sampling rate in Hz.
        rng: ``np.random.Generator`` or int seed.
        subject: profile; drawn from ``rng`` if None.
        activity: one of ``GAIT_ACTIVITIES``.
    Returns:
        (round(duration_s * fs), 3) float64 acceleration in g.
    """
    fs = _check_fs(fs)
    if not np.isfinite(duration_s) or duration_s <= 0:
        raise ValueError(f"duration_s must be > 0 seconds, got {duration_s}")
    if _activity_index(activity) >= len(GAIT_ACTIVITIES):
        raise ValueError(f"activity must be one of {GAIT_ACTIVITIES}, got {activity!r}")
    n = int(round(duration_s * fs))
    if n < 1:
        raise ValueError(f"duration_s * fs gives no samples ({duration_s} s at {fs} Hz)")
    return simulate_activity(activity, n, fs, subject, rng, cadence_spm=cadence_spm)


def _hour_mixture(rng, subject: SubjectProfile) -> np.ndarray:
    """(8,) activity probabilities of one hour: a dominant activity plus one to three others."""
    n_act = len(ACTIVITIES)
    dominant = rng.choice(n_act, p=subject.activity_prefs)
    rest = np.delete(np.arange(n_act), dominant)
    p_rest = subject.activity_prefs[rest] / subject.activity_prefs[rest].sum()
    others = rng.choice(rest, size=int(rng.integers(1, 4)), replace=False, p=p_rest)
    mix = np.zeros(n_act)
    w_dom = rng.uniform(0.5, 0.85)
    mix[dominant] = w_dom
    mix[others] = (1.0 - w_dom) * rng.dirichlet(np.ones(len(others)))
    return mix


def sample_hour_segments(rng, subject: SubjectProfile, n_segments: int, T: int = 256, fs: float = 100.0,
                         *, p_transition: float = 0.1, return_activities: bool = False):
    """Unlabelled segments of one subject-hour.

    The hour has its own activity mixture (a dominant activity plus one to three others, drawn from
    the subject's preferences) and its own cadence/amplitude/posture offsets; each segment is a
    window of continuous activity (``T / fs`` s, 2.56 s by default). With probability
    ``p_transition`` a segment cross-fades (0.5 s raised cosine, at a random point) into a second
    activity of the hour, a simple stand-in for a transition.

    Args:
        rng: ``np.random.Generator`` or int seed.
        subject: from :func:`sample_subject`.
        n_segments: number of windows.
        T: samples per window; fs: sampling rate in Hz.
        return_activities: also return the (n_segments,) int64 index of each segment's first activity.
    Returns:
        (n_segments, T, 3) float64 in g (and the activities if asked).
    """
    rng = _as_rng(rng)
    fs = _check_fs(fs)
    T = _check_n(T, "T")
    n_segments = _check_n(n_segments, "n_segments")
    if not 0.0 <= p_transition <= 1.0:
        raise ValueError(f"p_transition must be in [0, 1], got {p_transition}")
    ctx = _draw_context(rng)
    mix = _hour_mixture(rng, subject)
    acts = rng.choice(len(ACTIVITIES), size=n_segments, p=mix)
    X = _generate_grouped(acts, T, fs, subject, rng, ctx)

    trans = np.flatnonzero(rng.random(n_segments) < p_transition)
    if trans.size:
        second = rng.choice(len(ACTIVITIES), size=trans.size, p=mix)
        Y = _generate_grouped(second, T, fs, subject, rng, ctx)
        split = rng.uniform(0.2, 0.8, (trans.size, 1)) * T
        ramp = np.clip((np.arange(T) - split) / (0.5 * fs) + 0.5, 0.0, 1.0)
        w = (0.5 - 0.5 * np.cos(np.pi * ramp))[..., None]
        X[trans] = (1.0 - w) * X[trans] + w * Y
    return (X, acts.astype(np.int64)) if return_activities else X


def _generate_grouped(acts, T, fs, subject, rng, ctx, cadence=None) -> np.ndarray:
    """Windows for a vector of activity indices, one batched call per distinct activity."""
    X = np.empty((len(acts), T, 3))
    for a in np.unique(acts):
        idx = np.flatnonzero(acts == a)
        cad = None if cadence is None else cadence[idx]
        X[idx] = _simulate_batch(int(a), idx.size, T, fs, subject, rng, cadence_spm=cad, ctx=ctx)
    return X


def make_pretrain_dataset(n_subjects: int = 64, hours_per_subject: int = 2, segments_per_hour: int = 25,
                          T: int = 256, fs: float = 100.0, seed: int = 0, dtype=np.float32) -> np.ndarray:
    """Unlabelled pre-training data organised as subject/hour/segment.

    Returns:
        (n_subjects, hours_per_subject, segments_per_hour, T, 3) array in g (``dtype``, float32 by
        default to halve memory), time-major per segment, sampled at ``fs`` Hz.
    """
    for name, v in (("n_subjects", n_subjects), ("hours_per_subject", hours_per_subject),
                    ("segments_per_hour", segments_per_hour)):
        _check_n(v, name)
    T = _check_n(T, "T")
    fs = _check_fs(fs)
    rng = np.random.default_rng([int(seed), STREAM_PRETRAIN])
    out = np.empty((n_subjects, hours_per_subject, segments_per_hour, T, 3), dtype=dtype)
    for s in range(n_subjects):
        subject = sample_subject(rng)
        for h in range(hours_per_subject):
            out[s, h] = sample_hour_segments(rng, subject, segments_per_hour, T, fs)
    return out


def make_har_dataset(n_subjects: int = 12, windows_per_activity: int = 20, T: int = 256, fs: float = 100.0,
                     seed: int = 0, activities=ACTIVITIES):
    """Labelled human-activity-recognition windows.

    Each subject is a fresh draw of :func:`sample_subject` (seed stream ``STREAM_HAR``, distinct from
    pre-training); each subject-activity pair is one recording session of ``windows_per_activity``
    windows of ``T`` samples.

    Returns:
        X: (N, 3, T) float32 in g, channels-first, sampled at ``fs`` Hz.
        y: (N,) int64 index into ``ACTIVITIES``.
        pid: (N,) int64 subject id 0..n_subjects-1.
    """
    _check_n(n_subjects, "n_subjects")
    wpa = _check_n(windows_per_activity, "windows_per_activity")
    T = _check_n(T, "T")
    fs = _check_fs(fs)
    act_idx = [_activity_index(a) for a in activities]
    rng = np.random.default_rng([int(seed), STREAM_HAR])
    X = np.empty((n_subjects, len(act_idx), wpa, 3, T), dtype=np.float32)
    for s in range(n_subjects):
        subject = sample_subject(rng)
        for j, a in enumerate(act_idx):
            X[s, j] = _simulate_batch(a, wpa, T, fs, subject, rng, ctx=_draw_context(rng)).transpose(0, 2, 1)
    y = np.broadcast_to(np.asarray(act_idx, dtype=np.int64)[None, :, None], X.shape[:3])
    pid = np.broadcast_to(np.arange(n_subjects, dtype=np.int64)[:, None, None], X.shape[:3])
    return X.reshape(-1, 3, T), y.reshape(-1).copy(), pid.reshape(-1).copy()


def make_gait_dataset(n_subjects: int = 12, windows_per_subject: int = 30, T: int = 1000, fs: float = 100.0,
                      cadence_range=(60.0, 180.0), seed: int = 0, return_activity: bool = False):
    """Gait windows with a known cadence label.

    Per window the cadence is uniform in ``cadence_range`` (steps/min) and the activity is drawn among
    the gait activities plausible at that cadence (walking always; running from 130 spm; stairs up
    to 130-140 spm), walking twice as likely as each other candidate. Subjects: seed stream
    ``STREAM_GAIT``; one recording session per subject.

    Returns:
        X: (N, 3, T) float32 in g, channels-first, sampled at ``fs`` Hz.
        y: (N,) float64 cadence in steps/min (the exact mean step rate of the window's generator).
        pid: (N,) int64 subject id.
        activity: (N,) int64 index into ``ACTIVITIES``, only if ``return_activity``.
    """
    _check_n(n_subjects, "n_subjects")
    wps = _check_n(windows_per_subject, "windows_per_subject")
    T = _check_n(T, "T")
    fs = _check_fs(fs)
    lo, hi = (float(c) for c in cadence_range)
    _check_cadence([lo, hi])
    if lo > hi:
        raise ValueError(f"cadence_range must be (low, high) with low <= high, got {cadence_range}")
    rng = np.random.default_rng([int(seed), STREAM_GAIT])

    bands = np.array([_GAIT_CADENCE_BANDS[a] for a in GAIT_ACTIVITIES])  # (4, 2)
    prior = np.array([2.0, 1.0, 1.0, 1.0])
    N = n_subjects * wps
    X = np.empty((n_subjects, wps, T, 3))
    cad = rng.uniform(lo, hi, (n_subjects, wps))
    ok = (cad[..., None] >= bands[:, 0]) & (cad[..., None] <= bands[:, 1])
    ok[..., 0] = True  # walking is always possible
    p = ok * prior
    p /= p.sum(-1, keepdims=True)
    acts = np.minimum((rng.random((n_subjects, wps, 1)) > np.cumsum(p, -1)).sum(-1), len(GAIT_ACTIVITIES) - 1)
    for s in range(n_subjects):
        subject = sample_subject(rng)
        X[s] = _generate_grouped(acts[s], T, fs, subject, rng, _draw_context(rng), cadence=cad[s])
    X_out = X.reshape(N, T, 3).transpose(0, 2, 1).astype(np.float32)
    pid = np.repeat(np.arange(n_subjects, dtype=np.int64), wps)
    out = (X_out, cad.reshape(-1).astype(np.float64), pid)
    return out + (acts.reshape(-1).astype(np.int64),) if return_activity else out


# ----------------------------------------------------------------------------------------------
# Subject-wise cross-validation folds



def make_subject_folds(pid, n_folds: int, seed: int = 0, val_fraction: float = 0.2):
    """Subject-disjoint (train, val, test) subject lists for each fold.

    Subjects are shuffled and split into ``n_folds`` test groups (every subject is tested exactly
    once); for fold k a validation group of ``max(1, round(val_fraction * rest))`` subjects is drawn
    from the remaining subjects and the others train.

    Returns:
        list of ``n_folds`` dicts with sorted int lists ``train``, ``val``, ``test``.
    """
    subjects = np.unique(np.asarray(pid))
    n_sub = subjects.size
    if int(n_folds) != n_folds or n_folds < 2:
        raise ValueError(f"n_folds must be an integer >= 2, got {n_folds}")
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    if n_sub < 3:
        raise ValueError(f"need at least 3 subjects for subject-wise train/val/test folds, got {n_sub}")
    if n_sub < n_folds or n_sub - int(np.ceil(n_sub / n_folds)) < 2:
        raise ValueError(
            f"too few subjects ({n_sub}) for {n_folds} folds: each fold needs >= 1 test subject and "
            f">= 2 others (one for validation, one for training); use fewer folds or more subjects")
    rng = np.random.default_rng([int(seed), 404])
    groups = np.array_split(rng.permutation(subjects), int(n_folds))
    folds = []
    for k in range(int(n_folds)):
        test = groups[k]
        rest = rng.permutation(np.setdiff1d(subjects, test))
        n_val = min(max(1, int(round(val_fraction * rest.size))), rest.size - 1)
        folds.append({"train": sorted(rest[n_val:].tolist()), "val": sorted(rest[:n_val].tolist()),
                      "test": sorted(test.tolist())})
    return folds


def write_supervised_folds(X, y, pid, out_dir, n_folds: int = 3, seed: int = 0, val_fraction: float = 0.2) -> dict:
    """Write subject-disjoint CV folds as ``out_dir/cv{k}_{train,val,test}_{X,y}.npy``.

    Args:
        X: (N, 3, T) windows in g (a time-major (N, T, 3) array is transposed); saved as float32
            (N, 3, T).
        y: (N,) labels, saved with their dtype (int64 classes or float64 cadence).
        pid: (N,) subject ids.
        out_dir: destination folder (created). Files of folds >= ``n_folds`` from an earlier run
            are removed so the folder describes exactly this split.
        n_folds, seed, val_fraction: see :func:`make_subject_folds`.
    Every file is written atomically (temp file + fsync + rename). A ``folds.json`` lists the
    subjects of each split.

    Returns:
        ``{"n_folds", "n_subjects", "n_windows", "out_dir", "folds": [{"fold", split: {"subjects",
        "n_subjects", "n_windows"}}]}``.
    """
    X = np.asarray(X)
    y = np.asarray(y)
    pid = np.asarray(pid)
    if X.ndim != 3 or 3 not in (X.shape[1], X.shape[2]):
        raise ValueError(f"X must be (N, 3, T) (or (N, T, 3)), got shape {X.shape}")
    if X.shape[1] != 3:
        X = X.transpose(0, 2, 1)
    if y.ndim != 1 or pid.ndim != 1 or not (len(X) == len(y) == len(pid)):
        raise ValueError(f"y and pid must be 1-D with one entry per window: X {X.shape}, "
                         f"y {y.shape}, pid {pid.shape}")
    folds = make_subject_folds(pid, n_folds, seed=seed, val_fraction=val_fraction)

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary = {"n_folds": int(n_folds), "n_subjects": int(np.unique(pid).size), "n_windows": int(len(y)),
               "out_dir": str(out), "folds": []}
    for k, fold in enumerate(folds):
        entry = {"fold": k}
        for split in ("train", "val", "test"):
            mask = np.isin(pid, fold[split])
            write_fold(out, k, split, np.ascontiguousarray(X[mask], dtype=np.float32), y[mask])
            entry[split] = {"subjects": [int(s) for s in fold[split]], "n_subjects": len(fold[split]),
                            "n_windows": int(mask.sum())}
        summary["folds"].append(entry)
    remove_stale_folds(out, n_folds)
    atomic_write_json(out / "folds.json", summary)
    return summary
