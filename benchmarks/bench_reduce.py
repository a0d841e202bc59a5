"""Benchmark: the bytes a pass brings to the client at wide p (one partial per worker).

Data: one id column of about 2^20 distinct strings (each twice), a numeric column and a
label, in 8 Parquet files, read with ``read_parquet`` as coded blocks (p ≈ 2^20 features).
On a LocalCluster of 2 and then 4 worker processes (2 threads each), the blocks are
persisted and loss + gradient passes are made. Printed per cluster: the tasks of a pass,
the partial vectors the client received and their bytes (``BlockData.last_pass``), the
bytes the workers sent in that pass (their ``transfer_outgoing_log``), the bound of the
issue (2 × workers × p × 8 bytes) and what one vector per block would have been, and the
pass time. ``--quick``: 2^18 ids.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
from common import header, parser


def write_ids(path: Path, levels: int, files: int = 8, seed: int = 0) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    ids = rng.permutation(np.repeat(np.arange(levels), 2))
    x = rng.normal(size=len(ids))
    y = (rng.random(len(ids)) < 1 / (1 + np.exp(-x))).astype(np.int8)
    path.mkdir(parents=True)
    for i, rows in enumerate(np.array_split(np.arange(len(ids)), files)):
        user = pa.array(np.char.add("u", ids[rows].astype(str)))
        table = pa.table({"user": user, "x": x[rows], "label": y[rows]})
        pq.write_table(table, path / f"{i}.parquet")
    return path


def sent_bytes(dask_worker) -> int:  # type: ignore[no-untyped-def]
    return int(sum(e.get("total", 0) for e in dask_worker.transfer_outgoing_log))


def one_cluster(path: Path, workers: int, passes: int) -> None:
    from distributed import Client, LocalCluster

    from logloss.blockdata import BlockData
    from logloss.data import read_parquet

    with (
        LocalCluster(n_workers=workers, threads_per_worker=2, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        ds = read_parquet(str(path), "label")
        p = ds.n_features
        data = BlockData(ds.X, (ds.y == 1).astype(float), storage="persist")
        w = np.zeros(p + 1)
        data.sums(w)  # warm up
        seconds = []
        for _ in range(passes):
            before = sum(client.run(sent_bytes).values())
            t = time.perf_counter()
            data.sums(w)
            seconds.append(time.perf_counter() - t)
            sent = sum(client.run(sent_bytes).values()) - before
        last = data.last_pass
        bound = 2 * workers * p * 8
        print(
            f"{workers} workers x 2 threads, p = {p:,}, {data.n_blocks} blocks: "
            f"{last['tasks']} tasks, {last['partials']} partials to the client = "
            f"{last['bytes'] / 2**20:,.1f} MiB; the workers sent {sent / 2**20:,.1f} MiB "
            f"(bound 2 x workers x p x 8 = {bound / 2**20:,.1f} MiB; one vector per block "
            f"would be {data.n_blocks * (p + 3) * 8 / 2**20:,.1f} MiB); "
            f"pass {np.median(seconds):.3f} s (median of {passes})"
        )
        data.release()


def main() -> None:
    args = parser(__doc__.splitlines()[0]).parse_args()
    header("bench_reduce: one partial per worker", args.quick)
    levels = 2**18 if args.quick else 2**20
    with tempfile.TemporaryDirectory(prefix="logloss-reduce-") as tmp:
        path = write_ids(Path(tmp) / "ids", levels)
        for workers in (2, 4):
            one_cluster(path, workers, 3 if args.quick else 5)


if __name__ == "__main__":
    main()
