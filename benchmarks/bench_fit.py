"""Benchmark 1: time to the optimum on persisted data, against scikit-learn and dask-ml.

Data: X ~ N(0, I) with 2 000 000 × 20 and 200 000 × 500 float64 rows (``--quick``: 200 000 × 20
and 20 000 × 200). logloss and dask-ml fit the same persisted Dask arrays on a 2-worker
LocalCluster (1 thread each); scikit-learn fits the same data in memory in this process.
No penalty anywhere (dask-ml: C = 1e12), so all solve the same problem. A fit counts as
having reached the optimum when its mean log loss is within 1e-9 of the best of all fits.

Baseline: scikit-learn lbfgs. Targets: logloss <= 0.5x scikit-learn, <= 0.1x dask-ml
(the faster of its lbfgs and newton).
"""

from __future__ import annotations

import sys
import warnings

import numpy as np
from common import (
    Table,
    have,
    header,
    local_cluster,
    make_data,
    mean_log_loss,
    parser,
    timed,
    verdict,
)

GAP = 1e-9


def main() -> None:
    args = parser(__doc__.splitlines()[0]).parse_args()
    args.dask_ml = have("dask_ml")
    header("bench_fit: time to the optimum on persisted data", args.quick)
    cases = (
        [(200_000, 20, 50_000), (20_000, 200, 5_000)]
        if args.quick
        else [
            (2_000_000, 20, 250_000),
            (200_000, 500, 25_000),
        ]
    )
    repeats = args.repeats or (1 if args.quick else 2)
    with local_cluster() as client:
        client.run(_warm)  # imports on the workers are not part of any fit
        for n, p, chunk in cases:
            run_case(client, n, p, chunk, repeats, args)


def _warm() -> None:
    import logloss.estimator  # noqa: F401

    if have("dask_ml"):
        import dask_ml.linear_model  # noqa: F401


def run_case(client, n: int, p: int, chunk: int, repeats: int, args) -> None:
    import dask.array as da
    from sklearn.linear_model import LogisticRegression as SkLR

    from logloss import LogisticRegression

    X, y = make_data(n, p, seed=1)
    Xd = da.from_array(X, chunks=(chunk, p)).persist()
    yd = da.from_array(y, chunks=chunk).persist()
    from distributed import wait

    wait([Xd, yd])
    table = Table(
        f"Fit {n:,} x {p} on 2 workers", "scikit-learn lbfgs", ("iters", "passes", "loss gap")
    )
    results: dict[str, tuple[float, int, int, np.ndarray, float]] = {}

    def record(name, seconds, iters, passes, coef, b):
        results[name] = (seconds, iters, passes, coef, b)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t, m = timed(lambda: SkLR(penalty=None, tol=1e-8, max_iter=1000).fit(X, y), repeats)
        record("scikit-learn lbfgs", t, int(m.n_iter_[0]), -1, m.coef_[0], float(m.intercept_[0]))
        for solver in ("lbfgs", "newton"):
            t, m = timed(
                lambda solver=solver: LogisticRegression(
                    penalty=None, solver=solver, tol=1e-7, max_iter=500
                ).fit(Xd, yd),
                repeats,
            )
            record(
                f"logloss {solver}",
                t,
                int(m.n_iter_[0]),
                int(m.n_passes_),
                m.coef_[0],
                float(m.intercept_[0]),
            )
        if args.dask_ml:
            from dask_ml.linear_model import LogisticRegression as DmLR

            for solver in ("lbfgs", "newton"):
                t, m = timed(
                    lambda solver=solver: DmLR(
                        penalty="l2", C=1e12, solver=solver, max_iter=500
                    ).fit(Xd, yd),
                    1,
                )
                record(
                    f"dask-ml {solver}",
                    t,
                    -1,
                    -1,
                    np.ravel(m.coef_),
                    float(np.ravel(m.intercept_)[0]),
                )

    losses = {k: mean_log_loss(X, y, v[3], v[4]) for k, v in results.items()}
    best = min(losses.values())
    for name, (t, iters, passes, _, _) in results.items():
        gap = losses[name] - best
        table.add(
            name, t, iters if iters >= 0 else "-", passes if passes >= 0 else "-", f"{gap:.1e}"
        )
    table.show()
    ours = min(
        (k for k in results if k.startswith("logloss") and losses[k] - best <= GAP),
        key=lambda k: results[k][0],
        default=None,
    )
    default = "logloss lbfgs"
    if ours is None:
        print(f"MISS  no logloss fit reached the optimum within {GAP} on {n:,} x {p}")
        return
    note = f"best logloss fit: {ours}; default solver: {table.ratio(default):.3f}x"
    verdict(f"{n:,} x {p}: logloss vs scikit-learn", table.ratio(ours), 0.5, note=note)
    dm = [k for k in results if k.startswith("dask-ml")]
    if dm:
        fastest = min(dm, key=lambda k: results[k][0])
        ratio = results[ours][0] / results[fastest][0]
        unreached = [k for k in dm if losses[k] - best > GAP]
        extra = f"vs {fastest}" + (
            f"; {', '.join(unreached)} stopped short of the optimum" if unreached else ""
        )
        verdict(f"{n:,} x {p}: logloss vs dask-ml", ratio, 0.1, note=extra)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
