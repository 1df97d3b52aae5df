"""The processing specification (docs/datasets.md §0-§9) transcribed step by step, plainly and slowly.

Used as the expected output in the tests: it reads the raw fixture trees the way the spec
words it (line splits, ``np.loadtxt``, pandas ``interpolate().ffill().bfill()``,
``scipy.stats.mode``, sklearn ``LeaveOneGroupOut`` in the reference's nested loop, the fold
tables of docs/datasets.md §1.3 typed in) and shares no code with the package.
Returns ``{file name without .npy: array}`` per processed folder.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.stats
from sklearn.model_selection import LeaveOneGroupOut
from sklearn.preprocessing import LabelEncoder, StandardScaler

# docs/datasets.md §1.3 fold tables (train, val, test), real subject ids.
HHAR_FOLDS = [
    ("d,i,e,c,g", "f,a", "h,b"),
    ("a,b,c,i,e", "g,h", "d,f"),
    ("c,g,b,h,e", "d,f", "a,i"),
    ("c,h,i,b,a", "d,f", "e,g"),
    ("d,e,g,b,h,a", "f,i", "c"),
]
MOTIONSENSE_FOLDS = [
    ("4,15,22,24,11,20,2,5,7,6,21,16,23,8,13", "10,3,18,14", "9,17,1,19,12"),
    ("12,22,5,19,21,23,4,14,24,6,17,10,15,20,9", "1,7,16,3", "11,18,13,8,2"),
    ("12,20,5,17,19,22,3,13,23,6,16,11,14,18,9", "1,8,15,2", "4,10,7,24,21"),
    ("10,20,4,17,19,21,3,11,24,5,15,9,12,18,8", "1,7,13,2", "22,6,16,23,14"),
    ("11,8,14,6,23,21,17,4,12,24,7,16,10,13,18,9", "1,22,19,2", "5,15,3,20"),
]
PAMAP2_FOLDS = [
    ("4,9,5,3,7", "6,1", "8,2"),
    ("8,4,6,5,9", "2,3", "1,7"),
    ("7,3,6,5,8", "1,2", "4,9"),
    ("8,4,7,5,9", "1,2", "6,3"),
    ("1,9,3,6,4,8", "2,7", "5"),
]


def fold_table(name: str) -> list:
    """The docs/datasets.md §1.3 table of a set as lists of ids typed as the reference types them."""
    table = {"hhar": HHAR_FOLDS, "motionsense": MOTIONSENSE_FOLDS, "pamap2": PAMAP2_FOLDS}[name]
    conv = str if name == "hhar" else float
    return [tuple([conv(x) for x in cell.split(",")] for cell in row) for row in table]


# ------------------------------------------------------------------------------- priorpt


def _priorpt_file_windows(rows: np.ndarray):
    M = len(rows)
    Sc = M // 1000
    rows = rows[: Sc * 1000]
    wins = [rows[1000 * k: 1000 * k + 1000] for k in range(Sc)]
    wins += [rows[500 + 1000 * j: 1500 + 1000 * j] for j in range(Sc - 1)]
    X, Y = [], []
    for w in wins:
        labels = w[:, 1]
        if np.sum(labels == 0) > 500:
            continue
        X.append(w[:, 2:5])
        Y.append(int(scipy.stats.mode(labels).mode))
    return X, Y


def _priorpt_folds(X, Y, pid) -> dict:
    out = {"X": X, "Y": Y, "pid": pid}
    Xt = X.transpose(0, 2, 1)
    y = np.array([sorted(set(Y.tolist())).index(v) for v in Y.tolist()], dtype=np.int64)
    for i, (trval, test) in enumerate(LeaveOneGroupOut().split(Xt, y, pid)):
        for tr, va in LeaveOneGroupOut().split(Xt[trval], y[trval], pid[trval]):
            # positions within the non-test rows used on the full arrays (kept quirk)
            out[f"cv{i}_train_X"], out[f"cv{i}_train_y"] = Xt[tr], y[tr]
            out[f"cv{i}_val_X"], out[f"cv{i}_val_y"] = Xt[va], y[va]
        out[f"cv{i}_test_X"], out[f"cv{i}_test_y"] = Xt[test], y[test]
    return out


def opportunity(raw_root) -> dict:
    folder = Path(raw_root) / "priorpt/opportunity/OpportunityUCIDataset/dataset"
    X, Y, pid = [], [], []
    for f in sorted(folder.glob("*.dat")):
        rows = []
        for line in f.read_text().splitlines():
            tok = line.split()
            assert len(tok) == 250
            v = [float(tok[c]) for c in (0, 243, 22, 23, 24)]
            if not any(math.isnan(x) for x in v):
                rows.append(v)
        a = np.array(rows)
        N = len(a)
        U = np.zeros((3 * N, 5))
        for t in range(N):
            for j in range(3):
                U[3 * t + j, :2] = a[t, :2]
            U[3 * t, 2:] = a[t, 2:]
            if t < N - 1:
                U[3 * t + 1, 2:] = (a[t, 2:] + a[t + 1, 2:]) / 3
                U[3 * t + 2, 2:] = (a[t, 2:] + a[t + 1, 2:]) * 2 / 3
        fx, fy = _priorpt_file_windows(U)
        if not fy:
            continue
        X += fx
        Y += fy
        pid += [int(f.name[1])] * len(fy)
    X = np.clip(np.array(X) / 1000, -3, 3)
    Y, pid = np.array(Y, dtype=np.int64), np.array(pid, dtype=np.int64)
    keep = Y != 0
    X, Y, pid = X[keep], Y[keep], pid[keep]
    Y[Y == 5] = 3
    return _priorpt_folds(X, Y, pid)


def _pamap2_files(set_root):
    base = Path(set_root) / "PAMAP2_Dataset"
    return sorted((base / "Protocol").glob("*.dat")) + sorted((base / "Optional").glob("*.dat"))


def pamap2_priorpt(raw_root) -> dict:
    X, Y, pid = [], [], []
    for f in _pamap2_files(Path(raw_root) / "priorpt/pamap2"):
        rows = []
        for line in f.read_text().splitlines():
            tok = line.split()
            v = [float(tok[c]) for c in (0, 1, 4, 5, 6)]
            if not any(math.isnan(x) for x in v):
                rows.append(v)
        fx, fy = _priorpt_file_windows(np.array(rows))
        X += fx
        Y += fy
        pid += [int(f.name[-7:-4])] * len(fy)
    X = np.clip(np.array(X) / 9.80665, -3, 3)
    Y, pid = np.array(Y, dtype=np.int64), np.array(pid, dtype=np.int64)
    keep = np.isin(Y, [1, 2, 3, 4, 12, 13, 16, 17])
    return _priorpt_folds(X[keep], Y[keep], pid[keep])


# ------------------------------------------------------------------------------- sslbench


def _sslbench_folds(table: pd.DataFrame, folds) -> dict:
    out = {}
    for k, (TR, VA, TE) in enumerate(folds):
        scaler = StandardScaler().fit(table[table.user.isin(TR)][["x", "y", "z"]].to_numpy())
        for part, subjects in (("train", TR), ("val", VA), ("test", TE)):
            X, y = [], []
            for s in subjects:
                df = table[table.user == s]
                n = len(df)
                start = 0
                while start < n - 200:
                    w = df.iloc[start:start + 200]
                    L = w["gt"].tolist()
                    y.append(max(set(L), key=L.count))
                    X.append(scaler.transform(w[["x", "y", "z"]].to_numpy()))
                    start += 200
            out[f"cv{k}_{part}_X"] = np.array(X).transpose(0, 2, 1)
            out[f"cv{k}_{part}_y"] = np.array(y)
    return out


def hhar(raw_root) -> dict:
    df = pd.read_csv(Path(raw_root) / "sslbench/hhar/Activity recognition exp/Watch_accelerometer.csv")
    df = df.dropna()
    gear = df[df.Model == "gear"]
    lg = df[df.Model == "lgwatch"].iloc[::2]
    t = pd.concat([gear, lg])
    codes = {"bike": 0, "sit": 1, "stairsdown": 2, "stairsup": 3, "stand": 4, "walk": 5}
    table = pd.DataFrame({"user": t.User.astype(object).to_numpy(), "x": t.x.to_numpy(), "y": t.y.to_numpy(),
                          "z": t.z.to_numpy(), "gt": t["gt"].map(codes).astype(np.int64).to_numpy()})
    return _sslbench_folds(table, fold_table("hhar"))


def motionsense(raw_root) -> dict:
    root = Path(raw_root) / "sslbench/motionsense"
    acc_dir = root / "B_Accelerometer_data/B_Accelerometer_data"
    labels = {"dws": 0, "ups": 1, "wlk": 2, "jog": 3, "std": 4, "sit": 5}
    rows = []
    for trial in sorted(p.name for p in acc_dir.iterdir()):
        if trial.split("_")[0] not in labels:
            continue
        for k in range(1, 25):
            acc = pd.read_csv(acc_dir / trial / f"sub_{k}.csv").drop(["Unnamed: 0"], axis=1).to_numpy()
            gyro = pd.read_csv(root / "C_Gyroscope_data/C_Gyroscope_data" / trial / f"sub_{k}.csv").drop(
                ["Unnamed: 0"], axis=1).to_numpy()
            d = acc[: len(gyro)]
            n = len(d)
            for t in range(n):
                rows.append([k, *d[t], labels[trial[:3]]])
                nxt = (d[t] + d[t + 1]) / 2 if t < n - 1 else d[n - 1]
                rows.append([k, *nxt, labels[trial[:3]]])
    table = pd.DataFrame(np.array(rows, dtype=np.float64), columns=["user", "x", "y", "z", "gt"])
    return _sslbench_folds(table, fold_table("motionsense"))


def pamap2_sslbench(raw_root) -> dict:
    parts = []
    for f in _pamap2_files(Path(raw_root) / "sslbench/pamap2"):
        a = np.loadtxt(f)
        assert a.shape[1] == 54
        df = pd.DataFrame({"user": float(f.name[-5]), "label": a[:, 1]})
        for c, col in zip("xyz", (38, 39, 40)):
            df[c] = pd.Series(a[:, col]).interpolate().ffill().bfill()
        parts.append(df)
    t = pd.concat(parts, ignore_index=True)
    t = t[t.label.isin([1, 2, 3, 4, 5, 6, 7, 12, 13, 16, 17, 24])].copy()
    t["gt"] = LabelEncoder().fit_transform(t.label)
    return _sslbench_folds(t, fold_table("pamap2"))
