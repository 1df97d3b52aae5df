"""Acceleration units: recognise them from the signal's magnitude and convert to g.

The encoder was pre-trained on acceleration in g (1 g = 9.80665 m/s², the standard gravity of
ISO 80000-3). Exports of other tools use other units: phones (Android ``SensorManager``, iOS
``CMDeviceMotion`` converted) and many apps write m/s²; research devices and older benchmarks
(Opportunity, some GENEActiv/ActiGraph exports) write milli-g. A signal in the wrong unit is
not an error a network notices: it gives unrelated embeddings. So every reader of raw
recordings passes its data through :func:`to_g`.

Rule (``units="auto"``): a worn (or resting) accelerometer measures gravity plus movement, so
the median over all samples of the vector magnitude ``sqrt(x² + y² + z²)`` is close to 1 g
whatever the activity (about 1.0 at rest and in sleep, 1.0-1.3 in walking and running).

=============  =========================  ===========
median |a|     taken to be                factor to g
=============  =========================  ===========
0.5 - 2.0      g                          1
4.9 - 19.6     m/s² (the g band × 9.81)   1 / 9.80665
500 - 2000     mg (the g band × 1000)     1 / 1000
otherwise      ambiguous: refused, naming the median found
=============  =========================  ===========

Raw ADC counts are not recognised: their scale depends on the device's range and resolution
(e.g. 256 or 1024 counts per g), so no magnitude identifies them; convert them with the
device's calibration first. Signals with gravity removed ("linear" or "user" acceleration)
have a median far below 0.5 and are refused too: the encoder expects gravity in the signal.

``units`` of :func:`to_g`: ``"auto"`` (recognise, convert other units with a warning),
``"check"`` (recognise; anything but g is refused, naming the factor), or a unit forced by the
caller, ``"g"``, ``"m/s2"`` (also ``"m/s^2"``, ``"ms2"``) or ``"mg"``: converted without a check.
"""
from __future__ import annotations

import warnings

import numpy as np

STANDARD_GRAVITY = 9.80665  # m/s² per g
FACTORS = {"g": 1.0, "m/s2": 1.0 / STANDARD_GRAVITY, "mg": 1e-3}  # multiply by this to get g
ALIASES = {"m/s^2": "m/s2", "ms2": "m/s2", "m/s²": "m/s2", "milli-g": "mg"}
G_BAND = (0.5, 2.0)  # median vector magnitude in g
CHOICES = ("auto", "check", *FACTORS)


class UnitsError(ValueError):
    """The acceleration's units are ambiguous, or not g where g is required."""


def normalise_units(units: str) -> str:
    key = ALIASES.get(str(units).strip().lower(), str(units).strip().lower())
    if key not in CHOICES:
        raise ValueError(f"units={units!r}: expected one of {', '.join(CHOICES)}")
    return key


def median_magnitude(x: np.ndarray) -> float:
    """Median over samples of ``sqrt(x² + y² + z²)``; ``x`` is (..., 3); NaN samples are ignored."""
    x = np.asarray(x, dtype=np.float64).reshape(-1, np.shape(x)[-1])
    step = max(1, len(x) // 1_000_000)  # a subsample is enough for a median, and keeps a day fast
    return float(np.nanmedian(np.sqrt(np.einsum("ij,ij->i", x[::step], x[::step]))))


def detect_units(x: np.ndarray) -> tuple[str | None, float]:
    """``(unit, median magnitude)``: ``unit`` is "g", "m/s2" or "mg" by the table of this
    module's docstring, None when the magnitude fits none of them."""
    m = median_magnitude(x)
    for unit, factor in FACTORS.items():
        lo, hi = G_BAND[0] / factor, G_BAND[1] / factor
        if lo <= m <= hi:
            return unit, m
    return None, m


def to_g(x: np.ndarray, units: str = "auto", source: str = "signals") -> tuple[np.ndarray, str]:
    """``x`` (..., 3) in g, and the unit it was taken to be in.

    Args:
        x: acceleration, channels last.
        units: "auto", "check", "g", "m/s2" or "mg" (see the module docstring).
        source: what ``x`` is (a file name), for messages.
    Raises:
        UnitsError: "auto"/"check" and the median magnitude fits no unit (the message names it),
            or "check" and the unit is not g (the message names the factor).
    Warns (UserWarning): "auto" converted from m/s² or mg.
    """
    units = normalise_units(units)
    if units in FACTORS:
        found = units
    else:
        found, m = detect_units(x)
        if found is None:
            raise UnitsError(
                f"{source}: median acceleration magnitude {m:.4g} fits no known unit (about 1 for g, "
                f"9.81 for m/s², 1000 for mg); expected acceleration including gravity. Give the unit "
                f"(units= / --units g, m/s2 or mg) if you know it")
        if found != "g":
            how = f"median magnitude {m:.4g}: looks like {found}; × {FACTORS[found]:.6g} gives g"
            if units == "check":
                raise UnitsError(f"{source}: {how}. Expected g; convert it, or pass units='{found}' "
                                 f"(--units {found}) or units='auto'")
            warnings.warn(f"{source}: {how}; converted (units='auto'; pass units='g' to keep the values)",
                          UserWarning, stacklevel=2)
    if FACTORS[found] == 1.0:
        return x, found
    return np.asarray(x, dtype=np.float64) * FACTORS[found], found
