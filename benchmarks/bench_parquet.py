"""Benchmark 3: end to end from Parquet, against dask-ml (and Spark local[2] when installed).

Data: 2 000 000 × 20 float64 rows (``--quick``: 200 000) written by ``logloss.generate.generate``
as 8 files of 125 000-row row groups. Cluster (and Spark session) start-up is excluded; every
timing includes reading the Parquet files.

- logloss: ``logloss.loading.load_dataset`` + ``logloss.training.fit.train_model`` (what
  ``logloss train`` runs) when those modules exist, else ``read_parquet`` -> ``Dataset.persist`` ->
  ``LogisticRegression().fit``. Default solver and settings, and with ``solver="newton"``.
- dask-ml: ``dask.dataframe.read_parquet`` -> ``to_dask_array(lengths=True)`` -> persist ->
  ``dask_ml.linear_model.LogisticRegression(solver=...)`` (lbfgs and newton).
- Spark (``--spark`` or full mode, if pyspark imports): ``spark.read.parquet`` ->
  ``VectorAssembler`` -> cache -> ``pyspark.ml.classification.LogisticRegression``.

Baseline: dask-ml newton (its fastest here). Target: logloss <= 0.2x dask-ml.
"""

from __future__ import annotations

import time
import warnings

from common import Table, data_dir, have, header, local_cluster, parquet_dataset, parser, verdict


def logloss_train(path: str, solver: str | None) -> float:
    import logloss

    try:
        from logloss.loading import load_dataset
        from logloss.settings import TrainSettings
        from logloss.training.fit import train_model
    except ImportError:
        load_dataset = None
    t = time.perf_counter()
    if load_dataset is not None:
        settings = TrainSettings() if solver is None else TrainSettings(solver=solver)
        ds = load_dataset(path, "y")
        train_model(ds, settings)
    else:
        ds = logloss.read_parquet(path, "y").persist()
        kw = {} if solver is None else {"solver": solver}
        logloss.LogisticRegression(**kw).fit(ds.X, ds.y)
    return time.perf_counter() - t


def dask_ml_train(path: str, solver: str) -> float:
    import dask.dataframe as dd
    from dask_ml.linear_model import LogisticRegression

    t = time.perf_counter()
    df = dd.read_parquet(path)
    cols = [c for c in df.columns if c != "y"]
    arr = df[[*cols, "y"]].to_dask_array(lengths=True)
    X, y = arr[:, :-1].persist(), arr[:, -1].persist()
    LogisticRegression(solver=solver).fit(X, y)
    return time.perf_counter() - t


def spark_train(path: str) -> tuple[float, float]:
    """(seconds to read+assemble+cache, seconds to fit) with local[2]; session start excluded."""
    from pyspark.ml.classification import LogisticRegression
    from pyspark.ml.feature import VectorAssembler
    from pyspark.sql import SparkSession

    spark = (
        SparkSession.builder.master("local[2]")
        .config("spark.driver.memory", "6g")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.host", "127.0.0.1")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    try:
        t = time.perf_counter()
        df = spark.read.parquet(f"{path}/*.parquet")
        cols = [c for c in df.columns if c != "y"]
        data = VectorAssembler(inputCols=cols, outputCol="features").transform(df)
        data = data.select("features", data["y"].cast("double").alias("label")).cache()
        data.count()
        load = time.perf_counter() - t
        t = time.perf_counter()
        LogisticRegression(maxIter=100, regParam=0.0).fit(data)
        return load, time.perf_counter() - t
    finally:
        spark.stop()


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--spark", action="store_true", help="also time Spark local[2] in quick mode")
    p.add_argument("--no-spark", action="store_true")
    args = p.parse_args()
    header("bench_parquet: end to end from Parquet", args.quick)
    rows = 200_000 if args.quick else 2_000_000
    path = str(parquet_dataset(data_dir(args.data_dir), rows, 20))
    table = Table(f"Train from Parquet, {rows:,} x 20 (reading included)", "dask-ml newton")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with local_cluster() as client:
            logloss_train(path, None)  # warm up imports and the worker processes
            client.run(lambda: None)
            table.add("logloss train (default solver)", logloss_train(path, None))
            table.add("logloss train (newton)", logloss_train(path, "newton"))
            if have("dask_ml"):
                for solver in ("newton", "lbfgs"):
                    table.add(f"dask-ml {solver}", dask_ml_train(path, solver))
    if not have("dask_ml"):
        print("dask-ml is not installed: no baseline (pip install dask-ml)")
        return
    if (args.spark or not args.quick) and not args.no_spark and have("pyspark"):
        try:
            load, fit = spark_train(path)
            table.add("Spark local[2] (load+cache+fit)", load + fit, f"fit {fit:.2f} s")
        except Exception as exc:  # no JVM, ...
            print(f"Spark skipped: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
    table.show()
    best = min(
        table.seconds("logloss train (default solver)"), table.seconds("logloss train (newton)")
    )
    verdict(
        "logloss train vs dask-ml (from Parquet)",
        best / table.seconds("dask-ml newton"),
        0.2,
        note=f"default solver: {table.ratio('logloss train (default solver)'):.3f}x",
    )


if __name__ == "__main__":
    main()
