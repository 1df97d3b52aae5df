"""Reading raw recordings for embedding: units, CSV dialects, very low sampling rates."""
import gzip
import warnings

import numpy as np
import pytest
import torch

from relcon.data import recordings
from relcon.data.units import STANDARD_GRAVITY, UnitsError, detect_units, to_g
from relcon.embed import embed


def wrist(n=1500, fs=30.0, seed=0):
    """(n, 3) wrist-like acceleration in g: gravity mostly on z, a 1.8 Hz swing, noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / fs
    swing = np.sin(2 * np.pi * 1.8 * t)[:, None] * np.array([0.5, 0.3, 0.2])
    return swing + np.array([0.1, -0.2, 0.95]) + 0.03 * rng.standard_normal((n, 3))


@pytest.fixture(scope="module")
def encoder():
    from relcon.experiments.registry import get_config
    from relcon.utils.imports import import_net

    torch.manual_seed(0)
    return import_net(get_config("demo").net_config).eval()


# ----------------------------------------------------------------------------- units
def test_units_of_m_s2_and_mg_are_recognised_and_give_the_g_embedding(encoder):
    x = wrist()
    reference = embed(x, encoder, fs=30, progress=False)
    ms2 = x * STANDARD_GRAVITY
    np.testing.assert_allclose(embed(ms2 / STANDARD_GRAVITY, encoder, fs=30, progress=False), reference, atol=1e-5)
    with pytest.warns(UserWarning, match=r"looks like m/s2; × 0.101972 gives g; converted"):
        auto = embed(ms2, encoder, fs=30, progress=False)
    np.testing.assert_allclose(auto, reference, atol=1e-5)
    with pytest.warns(UserWarning, match=r"looks like mg"):
        np.testing.assert_allclose(embed(x * 1000, encoder, fs=30, progress=False), reference, atol=1e-5)
    with warnings.catch_warnings():  # forced units: converted without a word
        warnings.simplefilter("error")
        np.testing.assert_allclose(embed(ms2, encoder, fs=30, units="m/s2", progress=False), reference, atol=1e-5)
        np.testing.assert_array_equal(embed(x, encoder, fs=30, units="check", progress=False), reference)


def test_units_not_g_refused_with_check_and_ambiguous_refused_naming_the_median():
    x = wrist()
    assert detect_units(x)[0] == "g" and detect_units(x * STANDARD_GRAVITY)[0] == "m/s2"
    assert detect_units(x * 1000)[0] == "mg"
    with pytest.raises(UnitsError, match=r"median magnitude 9\.\d+: looks like m/s2; × 0.101972 gives g\. Expected g"):
        to_g(x * STANDARD_GRAVITY, "check")
    for scale, shown in ((3.5, r"3\.\d+"), (0.05, r"0\.0\d+"), (256.0, r"2\d\d\.?\d*")):  # between units, gravity removed, raw counts
        with pytest.raises(UnitsError, match=rf"median acceleration magnitude {shown} fits no known unit"):
            to_g(x * scale, "auto")
    with pytest.raises(ValueError, match=r"units='furlongs': expected one of auto, check, g, m/s2, mg"):
        to_g(x, "furlongs")


# ----------------------------------------------------------------------------- CSV dialects
def _fmt(v, decimal):
    text = f"{v:.6f}"
    return text.replace(".", ",") if decimal == "," else text


def write_dialect(path, data, delimiter=",", decimal=".", header="x,y,z", preamble=(), time=None):
    lines = list(preamble)
    if header:
        lines.append(header.replace(",", delimiter))
    for i, row in enumerate(data):
        cells = [_fmt(v, decimal) for v in row]
        if time is not None:
            cells.insert(0, time[i])
        lines.append(delimiter.join(cells))
    text = "\n".join(lines) + "\n"
    if str(path).endswith(".gz"):
        with gzip.open(path, "wt") as f:
            f.write(text)
    else:
        path.write_text(text)
    return path


ACTIGRAPH_PREAMBLE = (
    "------------ Data File Created By ActiGraph GT3X+ ActiLife v6.13.4 Firmware v1.9.2 date format M/d/yyyy at 30 Hz  "
    "Filter Normal -----------",
    "Serial Number: MOS2E22180349", "Start Time 10:00:00", "Start Date 5/7/2014", "Epoch Period (hh:mm:ss) 00:00:00",
    "Download Time 12:01:22", "Download Date 5/9/2014", "Current Memory Address: 0",
    "Current Battery Voltage: 4.21     Mode = 12", "--------------------------------------------------",
)


@pytest.mark.parametrize("name, kwargs", [
    ("semicolon_decimal_comma.csv", dict(delimiter=";", decimal=",")),
    ("semicolon.csv", dict(delimiter=";")),
    ("tab_decimal_comma.tsv", dict(delimiter="\t", decimal=",", header=None)),
    ("spaces.txt", dict(delimiter=" ", header=None)),
    ("no_header.csv", dict(header=None)),
    ("quoted_header.csv", dict(header='"Accelerometer X","Accelerometer Y","Accelerometer Z"')),
    ("actigraph.csv", dict(header="Accelerometer X,Accelerometer Y,Accelerometer Z", preamble=ACTIGRAPH_PREAMBLE)),
    ("iso_time.csv.gz", dict(header="time,x,y,z", time="iso")),
    ("actigraph_timestamps.csv", dict(header="Timestamp,Accelerometer X,Accelerometer Y,Accelerometer Z",
                                      preamble=ACTIGRAPH_PREAMBLE, time="actilife")),
    ("epoch_ms_no_header.csv", dict(header=None, time="ms")),
])
def test_csv_dialects_read_to_the_comma_file_and_its_embeddings(tmp_path, encoder, name, kwargs):
    x = wrist(600)
    comma = recordings.read_csv(write_dialect(tmp_path / "comma.csv", x)).xyz
    times = None
    if kwargs.get("time") == "iso":
        stamps = np.datetime64("2016-11-13T02:18:00") + (np.arange(len(x)) * 1e9 / 30).astype("timedelta64[ns]")
        times = [str(s).replace("T", " ")[:23] for s in stamps]
    elif kwargs.get("time") == "actilife":  # M/d/yyyy, as the preamble says
        times = [f"11/13/2016 02:18:{i / 30:06.3f}" for i in range(len(x))]
    elif kwargs.get("time") == "ms":
        times = [str(1_700_000_000_000 + int(i * 1000 / 30)) for i in range(len(x))]
    kwargs = {k: v for k, v in kwargs.items() if k != "time"}
    rec = recordings.read_csv(write_dialect(tmp_path / name, x, time=times, **kwargs))
    np.testing.assert_array_equal(rec.xyz, comma)
    np.testing.assert_array_equal(embed(rec.xyz, encoder, fs=30, progress=False),
                                  embed(comma, encoder, fs=30, progress=False))
    if times is not None or "actigraph" in name:
        assert recordings.file_rate(rec) == pytest.approx(30, abs=0.1)
    if times is not None:
        assert rec.time[0] == pytest.approx(1_700_000_000.0 if "ms" in name else 1_479_003_480.0)


@pytest.mark.parametrize("text, message", [
    # two numbers per line, whatever the delimiter: the delimiter and column count are named
    ("1;2\n3;4\n", r"no line holds 3 numbers \(first line '1;2'; columns by delimiter: \{\"','\": 1, \"';'\": 2"),
    ("1,2,3,4,5\n6,7,8,9,10\n", r"5 ','-separated columns and no header line \(first data line 1\); expected 3"),
    ("a;b;c;d;e\n1;2;3;4;5\n", r"5 ';'-separated columns \('a', 'b', 'c', 'd', 'e'\); expected one column per axis"),
    ("1\t2\t3\n4\t5\t6\t7\n", r"line 2: 4 column\(s\) separated by tab; expected 3 like line 1"),
    # a bad line or cell: named with its line, column and (with a header) the column's name
    ("x,y,z\n1,2,3\n1,2,3,4\n", r"line 3: 4 column\(s\) separated by ','; expected 3 like line 2"),
    ("1,2,3\n4,5\n", r"line 2: 2 column\(s\) separated by ','; expected 3 like line 1"),
    ("x,y,z\n1,2,3\n4,abc,6\n", r"line 3, column 2 \('y'\): 'abc' is not a number"),
    ("1,2,3\n4,5,\n", r"line 2, column 3: '' is not a number"),
    ("1,2,3\n4,5,nan\n", r"line 2, column 3: 'nan' is not a finite number"),
    ("time,x,y\n0,1,2,3\n", r"line 1 \(header\): 3 column\(s\) separated by ',' .* but line 2 holds 4"),
    ("x,y,z\n", r"no data rows"),
    ("", r"empty file"),
])
def test_unreadable_csv_names_delimiter_and_column_count(tmp_path, text, message):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(recordings.RecordingError, match=message):
        recordings.read_csv(path)


def test_a_numeric_first_row_is_data_never_a_header(tmp_path):
    path = tmp_path / "rows.csv"
    path.write_text("0.1;0.2;0.9\n0.1;0.2;abc\n")
    with pytest.raises(recordings.RecordingError) as err:
        recordings.read_csv(path)
    assert "header" not in str(err.value) and "line 2, column 3: 'abc' is not a number" in str(err.value)
    path.write_text("0,1;0,2;0,9\n0,1;0,2\n")
    with pytest.raises(recordings.RecordingError) as err:
        recordings.read_csv(path)
    assert "header" not in str(err.value) and "line 2: 2 column(s) separated by ';'; expected 3" in str(err.value)


# ----------------------------------------------------------------------------- very low rates
@pytest.mark.parametrize("fs", [1, 5, 12.5])
def test_rates_below_the_floor_warn_naming_the_rate(encoder, fs):
    x = wrist(int(fs * 10) + 3, fs=fs)
    with pytest.warns(UserWarning, match=rf"sampling rate {fs:g} Hz is below 20 Hz"):
        assert embed(x, encoder, fs=fs, progress=False).shape[0] >= 3


@pytest.mark.parametrize("fs", [20, 25, 30, 100])
def test_rates_at_or_above_the_floor_do_not_warn(encoder, fs):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        embed(wrist(int(fs * 6), fs=fs), encoder, fs=fs, progress=False)
