"""Benchmark 2: one distributed loss+gradient pass against a single-process NumPy fused pass.

Data: 2 000 000 × 20 and 200 000 × 500 float64 (``--quick``: 200 000 × 20), plus the same
stored as float32. The engine pass (``BlockData.sums``) runs on a 2-worker LocalCluster
(1 thread each) over persisted blocks; the baseline is ``logloss.loss.block_sums`` over the
whole in-memory array in this process (BLAS at its default threads). Also shown: the same
pass written as a dask.array expression ``X.T @ (sigmoid(X @ w) - y)``.

Target: engine pass <= 1.0x the NumPy pass (median of the repeats).
"""

from __future__ import annotations

import numpy as np
from common import Table, header, local_cluster, make_data, median_time, parser, verdict


def main() -> None:
    args = parser(__doc__.splitlines()[0]).parse_args()
    header("bench_pass: one loss+gradient pass", args.quick)
    cases = (
        [(200_000, 20, 50_000)]
        if args.quick
        else [(2_000_000, 20, 250_000), (200_000, 500, 25_000)]
    )
    repeats = args.repeats or (5 if args.quick else 15)
    with local_cluster() as client:
        for n, p, chunk in cases:
            for dtype in (np.float64, np.float32):
                run_case(client, n, p, chunk, np.dtype(dtype), repeats)


def run_case(client, n: int, p: int, chunk: int, dtype: np.dtype, repeats: int) -> None:
    import dask.array as da
    from scipy.special import expit

    from logloss.blockdata import BlockData
    from logloss.loss import block_sums

    X, y = make_data(n, p, seed=2, dtype=dtype)
    w = np.random.default_rng(3).normal(size=p + 1) * 0.1
    Xd = da.from_array(X, chunks=(chunk, p))
    yd = da.from_array(y, chunks=chunk)
    try:
        data = BlockData(Xd, yd, storage="persist")
    except TypeError:  # an engine without storage modes
        data = BlockData(Xd, yd)
    Xp, yp = client.persist([Xd, yd])
    table = Table(f"One pass over {n:,} x {p} {dtype.name}", "numpy fused pass (1 process)")
    from threadpoolctl import threadpool_limits

    default = median_time(lambda: block_sums(X, y, w), repeats)
    with threadpool_limits(1, user_api="blas"):
        single = median_time(lambda: block_sums(X, y, w), repeats)
    # the baseline is the faster of BLAS at its default threads and at 1 thread
    table.add("numpy fused pass (1 process)", min(default, single), f"{default:.4f} / {single:.4f}")
    table.columns = ("default / 1 thread",)
    want = block_sums(X, y, w)
    got = data.sums(w)
    assert np.allclose(got, want, rtol=1e-9), "engine pass disagrees with NumPy"
    table.add("logloss engine pass (2 workers)", median_time(lambda: data.sums(w), repeats))
    table.add(
        "logloss engine pass + Hessian",
        median_time(lambda: data.sums(w, True), max(3, repeats // 3)),
    )

    def dask_expr():
        z = Xp @ w[:p] + w[p]
        r = z.map_blocks(expit, dtype=np.float64) - yp
        return da.compute(Xp.T @ r, r.sum())

    table.add("dask.array expression (2 workers)", median_time(dask_expr, max(3, repeats // 3)))
    table.show()
    verdict(
        f"{n:,} x {p} {dtype.name}: engine pass vs NumPy",
        table.ratio("logloss engine pass (2 workers)"),
        1.0,
        note="one task per worker" if getattr(data, "per_worker", False) else "one task per block",
    )
    data.release()


if __name__ == "__main__":
    main()
