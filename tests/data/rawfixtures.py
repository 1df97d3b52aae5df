"""Tiny raw trees in each benchmark's exact on-disk format and nesting (generated at test time).

* Opportunity: ``OpportunityUCIDataset/dataset/S<s>-<session>.dat``, 250 space-separated
  columns, ``NaN`` tokens, locomotion labels 0/1/2/4/5 in column 243, milli-g in 22-24.
* PAMAP2: ``PAMAP2_Dataset/{Protocol,Optional}/subject10N.dat`` (54 columns) inside
  ``PAMAP2_Dataset.zip``, optionally inside the outer UCI archive.
* HHAR: ``Activity recognition exp/Watch_accelerometer.csv`` inside ``Activity recognition exp.zip``.
* MotionSense: ``B_Accelerometer_data/B_Accelerometer_data/<trial>/sub_<k>.csv`` and the
  ``C_Gyroscope_data`` twin, with the saved index column (header ``,x,y,z``).

Real subject ids are used everywhere, so the sslbench folds are those of the tables in
docs/datasets.md §1.3. Values go past ±3 g, there are NaN rows, label transitions and
(PAMAP2) a 100/100 tie.
"""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np

OPPORTUNITY_SESSIONS = ("ADL1", "ADL2", "Drill")
MOTIONSENSE_TRIALS = ("dws_1", "dws_2", "dws_11", "ups_3", "ups_4", "ups_12", "wlk_7", "wlk_8", "wlk_15",
                      "jog_9", "jog_16", "std_6", "std_14", "sit_5", "sit_13")


def _zip_bytes(entries: dict) -> bytes:
    """name -> bytes, as a deflated zip archive (entries in the given order)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _segments(rng, n, labels, lo, hi):
    """A label per row: consecutive segments of random length in [lo, hi)."""
    out = np.empty(n)
    i = 0
    while i < n:
        k = int(rng.integers(lo, hi))
        out[i:i + k] = labels[int(rng.integers(len(labels)))]
        i += k
    return out


def _g(x) -> str:
    return "NaN" if np.isnan(x) else f"{x:.6g}"


# ----------------------------------------------------------------------------- Opportunity


def opportunity_files(seed: int = 0, rows: int = 760) -> dict:
    """``file name -> text`` of a small Opportunity data set (subjects S1..S4)."""
    rng = np.random.default_rng(seed)
    files = {}
    for s in (1, 2, 3, 4):
        for session in OPPORTUNITY_SESSIONS:
            n = rows + int(rng.integers(0, 120))
            label = _segments(rng, n, [0, 1, 2, 4, 5, 1, 2], 60, 260)
            acc = rng.normal(0, 1400, size=(n, 3)).round()  # milli-g, often past ±3 g
            acc[rng.random(n) < 0.03] = np.nan  # sensor drop-outs: these rows are dropped
            label[rng.random(n) < 0.005] = np.nan
            fill_ok = " ".join(["17"] * 21), " ".join(["-4"] * 218), " ".join(["0"] * 6)
            fill_nan = " ".join(["NaN"] * 21), " ".join(["NaN"] * 218), " ".join(["101"] * 6)
            lines = []
            for t in range(n):
                a, b, c = fill_nan if t % 7 == 3 else fill_ok  # NaNs elsewhere do not matter
                lines.append(f"{33 * t} {a} {_g(acc[t, 0])} {_g(acc[t, 1])} {_g(acc[t, 2])} {b} {_g(label[t])} {c}")
            files[f"S{s}-{session}.dat"] = "\n".join(lines) + "\n"
    return files


def write_opportunity(raw_root, *, seed: int = 0, as_zip: bool = False) -> Path:
    """Under ``<raw_root>/priorpt``: the extracted tree ``opportunity/OpportunityUCIDataset/dataset``,
    or (``as_zip``) the UCI archive saved as ``opportunity.zip``."""
    family = Path(raw_root) / "priorpt"
    entries = {f"OpportunityUCIDataset/dataset/{name}": text.encode() for name, text in opportunity_files(seed).items()}
    entries["OpportunityUCIDataset/dataset/column_names.txt"] = b"Column: 1 MILLISEC; ...\n"
    if as_zip:
        return _write(family / "opportunity.zip", _zip_bytes(entries))
    for name, data in entries.items():
        _write(family / "opportunity" / name, data)
    return family / "opportunity"


# ----------------------------------------------------------------------------- PAMAP2

PAMAP2_PROTOCOL_LABELS = [0, 1, 2, 3, 4, 5, 6, 7, 12, 13, 16, 17, 24, 0]
PAMAP2_OPTIONAL_LABELS = [0, 9, 10, 11, 18, 19, 20]


def _pamap2_text(rng, n: int, label: np.ndarray, hand=None, ankle=None, hand_gap=None, ankle_gap=None) -> str:
    """One ``.dat`` file; hand/ankle accelerometers (n, 3) in m/s² and their drop-out masks (n,)
    are random unless given."""
    if hand is None:
        hand = rng.normal(0, 14, size=(n, 3))  # m/s², past ±3 g = 29.4 now and then
        hand[rng.random(n) < 0.02] *= 3
    if ankle is None:
        ankle = rng.normal(0, 9, size=(n, 3))
    hr = np.where(np.arange(n) % 10 == 0, rng.integers(70, 160, n).astype(float), np.nan)
    if hand_gap is None:
        hand_gap = rng.random(n) < 0.04  # wireless drop-out: the whole IMU block is NaN
    if ankle_gap is None:
        ankle_gap = rng.random(n) < 0.04
        ankle_gap[:5] = True  # leading and trailing gaps
        ankle_gap[-3:] = True
    ok_block = "31.5 {} {} {} 1.1 2.2 3.3 0.01 -0.02 0.03 12.5 -40.1 7.7 1 0 0 0"
    nan_block = " ".join(["NaN"] * 17)
    chest = "33.9 0.5 9.6 1.2 0.4 9.7 1.1 0.0 0.01 -0.01 20.1 -30.2 10.3 1 0 0 0"
    lines = []
    for t in range(n):
        h = nan_block if hand_gap[t] else ok_block.format(*(f"{v:.5f}" for v in hand[t]))
        a = nan_block if ankle_gap[t] else ok_block.format(*(f"{v:.5f}" for v in ankle[t]))
        lines.append(f"{5 + t / 100:.2f} {int(label[t])} {_g(hr[t])} {h} {chest} {a}")
    return "\n".join(lines) + "\n"


def pamap2_files(seed: int = 0, rows: int = 2300) -> dict:
    """``Protocol/subject10N.dat`` / ``Optional/subject10N.dat`` -> text.

    Subject 109 only has rope jumping (24) in Protocol, so nothing of it survives priorpt.
    Subject 101 starts with 100 rows of walking (4) then 100 of descending stairs (13): a
    100/100 tie between encoded labels 3 and 8 in its first sslbench window, won by 8.
    """
    rng = np.random.default_rng(seed)
    files = {}
    for s in range(101, 110):
        n = rows + int(rng.integers(0, 400))
        if s == 109:
            label = _segments(rng, n, [24, 24, 0], 150, 400)
        else:
            label = _segments(rng, n, PAMAP2_PROTOCOL_LABELS, 250, 700)
        if s == 101:
            label[:30] = 0
            label[30:130] = 4
            label[130:230] = 13
        files[f"Protocol/subject{s}.dat"] = _pamap2_text(rng, n, label)
    for s in (101, 105, 106, 108, 109):
        n = 1200 + int(rng.integers(0, 200))
        files[f"Optional/subject{s}.dat"] = _pamap2_text(rng, n, _segments(rng, n, PAMAP2_OPTIONAL_LABELS, 200, 500))
    return files


def pamap2_inner_zip(seed: int = 0) -> bytes:
    entries = {f"PAMAP2_Dataset/{name}": text.encode() for name, text in pamap2_files(seed).items()}
    entries["PAMAP2_Dataset/readme.pdf"] = b"%PDF-1.4 stub\n"
    return _zip_bytes(entries)


def write_pamap2(raw_root, family: str, *, layout: str = "inner_zip", seed: int = 0, inner: bytes | None = None) -> Path:
    """PAMAP2 under ``<raw_root>/<family>``: ``layout`` is ``"inner_zip"`` (``pamap2/PAMAP2_Dataset.zip``,
    as in the acceptance trees), ``"outer_zip"`` (the UCI archive saved as ``pamap2.zip``) or
    ``"tree"`` (extracted ``pamap2/PAMAP2_Dataset/...``)."""
    fam = Path(raw_root) / family
    inner = inner if inner is not None else pamap2_inner_zip(seed)
    if layout == "inner_zip":
        _write(fam / "pamap2" / "readme.pdf", b"%PDF-1.4 stub\n")
        return _write(fam / "pamap2" / "PAMAP2_Dataset.zip", inner)
    if layout == "outer_zip":
        return _write(fam / "pamap2.zip", _zip_bytes({"PAMAP2_Dataset.zip": inner, "readme.pdf": b"%PDF stub\n"}))
    if layout == "tree":
        with zipfile.ZipFile(io.BytesIO(inner)) as zf:
            zf.extractall(fam / "pamap2")
        return fam / "pamap2" / "PAMAP2_Dataset"
    raise ValueError(layout)


# ----------------------------------------------------------------------------- PAMAP2 gait

G = 9.80665


def ankle_gait_signal(cadence_spm: float, duration_s: float, fs: float = 100.0, rng=None, *, running: bool = False,
                      echo_g: float = 0.3) -> np.ndarray:
    """Synthetic (T, 3) accelerometry in g of a sensor on ONE ankle, at a known cadence.

    Per stride of that foot (cadence / 2 per minute): a heel-strike impact and loading, a push-off,
    and the swing (forward then braking acceleration, and the centripetal acceleration along the
    shank); the other foot's heel strike, half a stride later, arrives as a weak echo (``echo_g``).
    Stride onsets jitter independently by 1.5 % of a stride, so the mean rate is exact. Gravity
    (1 g) is on the body's vertical; the sensor axes are a random rotation of the body axes.
    """
    rng = np.random.default_rng(rng)
    n = int(round(duration_s * fs))
    t = np.arange(n) / fs
    stride = 120.0 / cadence_spm
    k = np.arange(-2, int(duration_s / stride) + 3)
    onsets = (k + rng.uniform() + np.clip(rng.normal(0, 0.015, k.size), -0.04, 0.04)) * stride  # (K,)
    d = t[None, :] - onsets[:, None]  # (K, T): time since each heel strike

    def pulse(center, width):
        return np.exp(-0.5 * ((d - center) / width) ** 2).sum(0)

    amp = rng.uniform(0.8, 1.2) * (2.0 if running else 1.0)
    w = 0.06 * stride  # the swing lasts ~40 % of a stride at any cadence
    vertical = amp * (2.0 * pulse(0.0, 0.015) + 0.8 * pulse(0.04, 0.04) - 0.6 * pulse(0.6 * stride, w)
                      + 1.5 * pulse(0.8 * stride, w)) + echo_g * pulse(stride / 2, 0.02)
    forward = amp * (0.8 * pulse(0.6 * stride, 0.04) + 1.5 * (pulse(0.72 * stride, w) - pulse(0.9 * stride, w)))
    lateral = 0.1 * amp * np.sin(2 * np.pi * t / stride + rng.uniform(0, 2 * np.pi))
    body = np.stack([forward, lateral, 1.0 + vertical], axis=1)  # (T, 3)
    rotation, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    return body @ rotation.T + rng.normal(0, 0.03, (n, 3))


# (activity id, seconds, cadence in steps/min or None, what happens) of every gait subject
PAMAP2_GAIT_PLAN = [
    (0, 3.0, None, "transient"),
    (1, 6.0, None, "lying: not a gait activity"),
    (4, 20.5, 100.0, "walking: 2 windows of 10 s, 0.5 s dropped; short drop-outs filled"),
    (0, 2.0, None, "transient"),
    (5, 10.0, 165.0, "running: 1 window, hand past 3 g"),
    (12, 10.0, 90.0, "ascending stairs: 1 window"),
    (7, 10.0, 110.0, "Nordic walking: a 0.5 s ankle drop-out, window skipped"),
    (13, 10.0, None, "descending stairs with a still ankle: no steps, excluded"),
]
PAMAP2_GAIT_SUBJECTS = (101, 102, 103, 104)  # 105: lying and sitting only, no fold


def pamap2_gait_files(seed: int = 0) -> dict:
    """``Protocol/subject10N.dat`` -> text, following :data:`PAMAP2_GAIT_PLAN` for subjects 101-104
    (cadence + 4 spm per subject), and 105 with no gait activity. Returns also, under key
    ``"expected"``, {subject: [(activity, cadence) per kept window]}."""
    from relcon.data.synthetic import simulate_gait_recording

    rng = np.random.default_rng(seed)
    files, expected = {}, {}
    for s in PAMAP2_GAIT_SUBJECTS + (105,):
        plan = PAMAP2_GAIT_PLAN if s != 105 else [(1, 8.0, None, ""), (2, 8.0, None, ""), (0, 2.0, None, "")]
        hands, ankles, labels, kept = [], [], [], []
        ankle_gap = []
        for act, seconds, cadence, _ in plan:
            n = int(round(seconds * 100))
            gap = np.zeros(n, dtype=bool)
            if cadence is None:
                hand = np.array([0.2, -0.3, 0.93]) + rng.normal(0, 0.01, (n, 3))  # still, in g
                ankle = np.array([0.1, 0.05, 0.99]) + rng.normal(0, 0.005, (n, 3))
            else:
                cadence = cadence + 4 * (s - 101)
                activity = {5: "running", 12: "stairs_up"}.get(act, "walking")
                hand = simulate_gait_recording(cadence, seconds, 100.0, rng=rng, activity=activity)
                ankle = ankle_gait_signal(cadence, seconds, rng=rng, running=act == 5)
                if act == 5:
                    hand[100:103] = [4.5, -5.0, 3.5]  # past the ±3 g clip
                if act == 7:
                    gap[400:450] = True  # 0.5 s without the ankle: the window is skipped
                else:
                    gap[rng.choice(n, 6, replace=False)] = True  # single-row drop-outs: filled
                    kept += [(act, cadence)] * int(seconds // 10)
            hands.append(hand)
            ankles.append(ankle)
            labels.append(np.full(n, act))
            ankle_gap.append(gap)
        hand, ankle, label = np.concatenate(hands), np.concatenate(ankles), np.concatenate(labels)
        n = len(label)
        files[f"Protocol/subject{s}.dat"] = _pamap2_text(rng, n, label, hand=hand * G, ankle=ankle * G,
                                                         hand_gap=np.zeros(n, dtype=bool),
                                                         ankle_gap=np.concatenate(ankle_gap))
        if kept:
            expected[s] = kept
    files["expected"] = expected
    return files


def write_pamap2_gait(raw_root, family: str = "priorpt", seed: int = 0) -> dict:
    """The extracted tree ``<raw_root>/<family>/pamap2/PAMAP2_Dataset/Protocol/`` of
    :func:`pamap2_gait_files`, without an Optional folder. Returns the expected windows."""
    files = pamap2_gait_files(seed)
    expected = files.pop("expected")
    for name, text in files.items():
        _write(Path(raw_root) / family / "pamap2" / "PAMAP2_Dataset" / name, text.encode())
    return expected


# ----------------------------------------------------------------------------- HHAR

HHAR_USERS = "abcdefghi"
HHAR_ACTIVITIES = ["bike", "sit", "stand", "walk", "stairsup", "stairsdown", "null"]


def hhar_csv(seed: int = 0) -> str:
    """``Watch_accelerometer.csv``: blocks of (user, device, activity) rows in shuffled order."""
    rng = np.random.default_rng(seed)
    blocks = []
    for u in HHAR_USERS:
        for device, count in (("gear_1", 2), ("gear_2", 1), ("lgwatch_1", 2), ("lgwatch_2", 2)):
            for _ in range(count):
                blocks.append((u, device, HHAR_ACTIVITIES[int(rng.integers(len(HHAR_ACTIVITIES)))],
                               int(rng.integers(120, 260))))
    order = rng.permutation(len(blocks))
    lines = ["Index,Arrival_Time,Creation_Time,x,y,z,User,Model,Device,gt"]
    idx = 0
    for b in order:
        user, device, act, n = blocks[b]
        model = device.split("_")[0]
        xyz = rng.normal(0, 12, size=(n, 3))  # m/s², past ±3 g now and then
        for t in range(n):
            gt = act
            if act != "null" and rng.random() < 0.05:  # label transitions inside a block
                gt = HHAR_ACTIVITIES[int(rng.integers(6))]
            x = "" if rng.random() < 0.01 else f"{xyz[t, 0]:.9f}"  # an empty cell: row dropped
            lines.append(f"{idx},{1424696633908 + 10 * idx},{1424696631913248572 + 10**7 * idx},"
                         f"{x},{xyz[t, 1]:.9f},{xyz[t, 2]:.9f},{user},{model},{device},{gt}")
            idx += 1
    return "\n".join(lines) + "\n"


def write_hhar(raw_root, *, seed: int = 0, as_outer_zip: bool = False) -> Path:
    """``<raw_root>/sslbench/hhar/Activity recognition exp.zip`` (or the outer archive ``hhar.zip``)."""
    fam = Path(raw_root) / "sslbench"
    inner = _zip_bytes({
        "Activity recognition exp/Watch_accelerometer.csv": hhar_csv(seed).encode(),
        "Activity recognition exp/Phones_accelerometer.csv": b"Index,Arrival_Time,Creation_Time,x,y,z,User,Model,Device,gt\n",
    })
    if as_outer_zip:
        return _write(fam / "hhar.zip", _zip_bytes({"Activity recognition exp.zip": inner, "Still exp.zip": _zip_bytes({})}))
    return _write(fam / "hhar" / "Activity recognition exp.zip", inner)


# ----------------------------------------------------------------------------- MotionSense


def motionsense_files(seed: int = 0) -> dict:
    """``<sensor>/<sensor>/<trial>/sub_<k>.csv`` -> text, for both sensors."""
    rng = np.random.default_rng(seed)
    files = {}
    for trial in MOTIONSENSE_TRIALS:
        for k in range(1, 25):
            n_acc = int(rng.integers(30, 46))
            n_gyro = n_acc - int(rng.integers(0, 3))  # never longer than the accelerometer
            for sensor, n, scale in (("B_Accelerometer_data", n_acc, 1.2), ("C_Gyroscope_data", n_gyro, 2.0)):
                v = rng.normal(0, scale, size=(n, 3)).tolist()
                rows = [",x,y,z"] + [f"{t},{a!r},{b!r},{c!r}" for t, (a, b, c) in enumerate(v)]
                files[f"{sensor}/{sensor}/{trial}/sub_{k}.csv"] = "\n".join(rows) + "\n"
    return files


def write_motionsense(raw_root, *, seed: int = 0, as_zip: bool = False) -> Path:
    """The two extracted trees under ``<raw_root>/sslbench/motionsense`` (plus a stray ``.DS_Store``),
    or (``as_zip``) the two GitHub zips ``B_Accelerometer_data.zip`` / ``C_Gyroscope_data.zip``."""
    root = Path(raw_root) / "sslbench" / "motionsense"
    files = motionsense_files(seed)
    if as_zip:
        for sensor in ("B_Accelerometer_data", "C_Gyroscope_data"):
            entries = {name.split("/", 1)[1]: text.encode() for name, text in files.items() if name.startswith(sensor)}
            entries[f"__MACOSX/{sensor}/._sub_1.csv"] = b"\x00\x05\x16\x07"
            _write(root / f"{sensor}.zip", _zip_bytes(entries))
        return root
    for name, text in files.items():
        _write(root / name, text.encode())
    _write(root / "B_Accelerometer_data" / "B_Accelerometer_data" / ".DS_Store", b"\x00\x00\x00\x01Bud1")
    return root


def write_all(raw_root, *, seed: int = 0) -> Path:
    """Every set, in the acceptance layout: inner zips for HHAR and PAMAP2, extracted trees for
    Opportunity and MotionSense."""
    inner = pamap2_inner_zip(seed)
    write_opportunity(raw_root, seed=seed)
    write_pamap2(raw_root, "priorpt", inner=inner)
    write_pamap2(raw_root, "sslbench", inner=inner)
    write_hhar(raw_root, seed=seed)
    write_motionsense(raw_root, seed=seed)
    return Path(raw_root)


# ----------------------------------------------------------------------------- Capture-24

CAPTURE24_ANNOTATIONS = {  # annotation -> label:Walmsley2020 (a few rows of the real dictionary's kinds)
    "7030 sleeping;MET 0.95": "sleep",
    "occupation;office and administrative support;11580 office/computer work general;MET 1.5": "sedentary",
    "home activity;household chores;preparing meals/cooking/washing dishes;5035 kitchen activity general "
    "cooking/washing/dishes/cleaning up;MET 3.3": "light",
    "leisure;walking;17161 walking for pleasure;MET 3.5": "moderate-vigorous",
}
CAPTURE24_DICTIONARY_COLUMNS = ("annotation", "label:WillettsSpecific2018", "label:WillettsMET2018",
                                "label:DohertySpecific2018", "label:Willetts2018", "label:Doherty2018",
                                "label:Walmsley2020")


def capture24_files(participants=("P001", "P002", "P003"), seconds: int = 240, seed: int = 0) -> dict:
    """``capture24/<name>`` -> bytes of a small Capture-24 release: ``P###.csv.gz`` (header
    ``time,x,y,z,annotation``, 100 Hz, g, time ``2016-11-13 02:18:00.000000``) and the label
    dictionary. Per participant: 20 s unlabelled, then labels changing at 65 s, 125 s and 185 s
    (inside the 10 s windows 6, 12 and 18), so 24 windows of 10 s: 2 unlabelled, 3 with a label
    change, 19 kept; the recording starts at 02:58:00 and crosses into hour 03."""
    import gzip
    import io

    rng = np.random.default_rng(seed)
    names = list(CAPTURE24_ANNOTATIONS)
    files = {}
    for p, pid in enumerate(participants):
        n = seconds * 100
        t = np.arange(n) / 100
        xyz = np.stack([0.3 * np.sin(2 * np.pi * (1 + p / 3) * t), 0.2 * np.cos(2 * np.pi * 0.6 * t),
                        0.95 + 0 * t], 1) + 0.03 * rng.standard_normal((n, 3))
        start = np.datetime64("2016-11-13T02:58:00.000000") + np.timedelta64(p, "D")
        stamps = start + (np.arange(n) * 10).astype("timedelta64[ms]")
        label = np.full(n, "", dtype=object)
        bounds = [20, 65, 125, 185, seconds]
        for k in range(4):
            label[bounds[k] * 100:bounds[k + 1] * 100] = names[(k + p) % 4]
        buf = io.StringIO()
        buf.write("time,x,y,z,annotation\n")
        for i in range(n):
            text = label[i]
            cell = f'"{text}"' if "," in text else text
            buf.write(f"{str(stamps[i]).replace('T', ' ')},{xyz[i, 0]:.6f},{xyz[i, 1]:.6f},{xyz[i, 2]:.6f},{cell}\n")
        files[f"capture24/{pid}.csv.gz"] = gzip.compress(buf.getvalue().encode(), compresslevel=1)
    rows = [",".join(CAPTURE24_DICTIONARY_COLUMNS)]
    for annotation, label in CAPTURE24_ANNOTATIONS.items():
        rows.append(",".join([f'"{annotation}"'] + ["x"] * 5 + [label]))
    files["capture24/annotation-label-dictionary.csv"] = ("\n".join(rows) + "\n").encode()
    files["capture24/metadata.csv"] = b"pid,age,sex\n" + b"".join(f"{q},30-37,F\n".encode() for q in participants)
    return files


def write_capture24(raw_dir, *, as_zip: bool = False, **kwargs) -> Path:
    """The extracted release under ``raw_dir/capture24/``, or (``as_zip``) ``raw_dir/capture24.zip``."""
    files = capture24_files(**kwargs)
    if as_zip:
        return _write(Path(raw_dir) / "capture24.zip", _zip_bytes(files))
    for name, data in files.items():
        _write(Path(raw_dir) / name, data)
    return Path(raw_dir) / "capture24"


SHOULDERPHYSIO_CODES = ["PEN", "ABD", "FEL", "IR", "ER", "TRAP", "ROW"]


def shoulderphysio_dict(subjects=(1, 2, 3, 4), seed: int = 0) -> dict:
    """seglearn 1.2.5's ``watch_dataset.npy`` content: a dict of ``X`` (list of (n, 6) float64 at
    50 Hz: ax, ay, az in g, wx, wy, wz), ``y`` (int64 exercise ids), ``subject`` (int64),
    ``side`` (float64, 1 right, 0 left), ``X_labels`` and ``y_labels`` (lists of str); one
    recording per subject, side and exercise, in the real file's order (by subject, then side)."""
    rng = np.random.default_rng(seed)
    X, y, subject, side = [], [], [], []
    for s in subjects:
        for arm in (0.0, 1.0):
            for label in range(len(SHOULDERPHYSIO_CODES)):
                n = int(rng.integers(300, 520))  # 6-10 s at 50 Hz
                t = np.arange(n) / 50.0
                acc = np.stack([np.sin(2 * np.pi * (0.3 + 0.1 * label) * t + k) * (0.3 + 0.1 * k)
                                for k in range(3)], axis=1) + [0.0, 0.4, -0.15] + 0.05 * rng.standard_normal((n, 3))
                gyro = 0.5 * rng.standard_normal((n, 3))
                X.append(np.concatenate([acc, gyro], axis=1))
                y.append(label)
                subject.append(s)
                side.append(arm)
    return {"X": X, "y_labels": list(SHOULDERPHYSIO_CODES), "y": np.array(y, dtype=np.int64),
            "subject": np.array(subject, dtype=np.int64), "side": np.array(side),
            "X_labels": ["ax", "ay", "az", "wx", "wy", "wz"]}


def shoulderphysio_npy_bytes(content: dict) -> bytes:
    buf = io.BytesIO()
    np.save(buf, content, allow_pickle=True)
    return buf.getvalue()


def write_shoulderphysio_wheel(raw_dir, content: dict | None = None, **kwargs) -> Path:
    """``raw_dir/seglearn-1.2.5-py3-none-any.whl``: a zip holding ``seglearn/data/watch_dataset.npy``
    (and a dist-info file, as the real wheel does)."""
    npy = shoulderphysio_npy_bytes(content if content is not None else shoulderphysio_dict(**kwargs))
    data = _zip_bytes({"seglearn/__init__.py": b"", "seglearn/data/watch_dataset.npy": npy,
                       "seglearn-1.2.5.dist-info/WHEEL": b"Wheel-Version: 1.0\n"})
    return _write(Path(raw_dir) / "seglearn-1.2.5-py3-none-any.whl", data)
