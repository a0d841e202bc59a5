"""Benchmark 5: seconds per pass against rows and against features (should be linear).

Rows: 1, 2, 4, 8 million × 20 float64 (``--quick``: 0.1 to 0.8 million); features: 10, 50,
200, 500 at a fixed 40 million cells (``--quick``: 4 million). The data are generated on the
2 workers (``dask.array.random``), persisted as ``BlockData`` and timed with ``sums`` (median).
Ratios are seconds per pass divided by the first case's, and "per-row cost" divides that by the
size ratio: 1.0 means perfectly linear. Target: per-row cost of the largest case <= 1.25.
"""

from __future__ import annotations

import numpy as np
from common import Table, header, local_cluster, median_time, parser, verdict


def persisted(n: int, p: int, chunk_rows: int):
    import dask.array as da

    from logloss.blockdata import BlockData

    rng = da.random.default_rng(5)
    X = rng.standard_normal((n, p), chunks=(chunk_rows, p))
    y = (X[:, 0] + rng.standard_normal(n, chunks=chunk_rows) > 0).astype(np.float64)
    return BlockData(X, y)


def main() -> None:
    args = parser(__doc__.splitlines()[0]).parse_args()
    header("bench_shape: seconds per pass against rows and features", args.quick)
    scale = 0.1 if args.quick else 1.0
    repeats = args.repeats or (5 if args.quick else 9)
    with local_cluster(memory_limit="8GiB"):
        rows = [int(m * 1_000_000 * scale) for m in (1, 2, 4, 8)]
        table = Table(
            "Seconds per pass against rows (20 features)", f"{rows[0]:,} rows", ("per-row cost",)
        )
        first = None
        for n in rows:
            data = persisted(n, 20, max(50_000, n // 8))
            w = np.full(21, 0.01)
            data.sums(w)
            t = median_time(lambda data=data, w=w: data.sums(w), repeats)
            first = first or (t / n)
            table.add(f"{n:,} rows", t, (t / n) / first)
            data.release()
        table.show()
        verdict("largest/smallest per-row cost (rows)", table.rows[-1][2][0], 1.25)

        cells = int(40_000_000 * scale)
        table = Table(
            f"Seconds per pass against features ({cells:,} cells)", "p = 10", ("per-cell cost",)
        )
        first = None
        for p in (10, 50, 200, 500):
            n = cells // p
            data = persisted(n, p, max(5_000, n // 8))
            w = np.full(p + 1, 0.01)
            data.sums(w)
            t = median_time(lambda data=data, w=w: data.sums(w), repeats)
            first = first or (t / cells)
            table.add(f"p = {p}", t, (t / cells) / first)
            data.release()
        table.show()


if __name__ == "__main__":
    main()
