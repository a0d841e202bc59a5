"""Benchmark: wide dense data in memory, 500 rows × 20,000 columns (``--quick``: 300 × 5,000).

logloss's ``LogisticRegression(solver="lbfgs")`` against scikit-learn's
``LogisticRegression()`` (lbfgs), same C and tol, each fit in a fresh process of its own so
that its peak memory (``ru_maxrss``) is its own; the data are generated in that process (the
same seed). Printed: seconds of the fit, peak memory of the process, and both as ratios to
scikit-learn's. Targets: time ≤ 2× and peak memory ≤ 1.5× scikit-learn's (the objective's
w = Aθ is applied in O(p); a dense A made this 20 s and 3.6 GB against 0.9 s and 0.66 GB).
"""

from __future__ import annotations

import json
import subprocess
import sys

from common import Table, header, parser, verdict

CHILD = r"""
import json, resource, sys, time, warnings
import numpy as np
n, p, which, repeats = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
rng = np.random.default_rng(0)
X = rng.standard_normal((n, p))
beta = np.zeros(p)
beta[:20] = 1.0
y = (X @ beta + rng.logistic(size=n) > 0).astype(int)
if which == "logloss":
    from logloss import LogisticRegression
    make = lambda: LogisticRegression(solver="lbfgs", C=1.0, tol=1e-4, max_iter=1000)
else:
    from sklearn.linear_model import LogisticRegression
    make = lambda: LogisticRegression(C=1.0, tol=1e-4, max_iter=1000)
best = float("inf")
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    for _ in range(repeats):
        t = time.perf_counter()
        make().fit(X, y)
        best = min(best, time.perf_counter() - t)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"seconds": best, "peak": peak, "data": X.nbytes}))
"""


def run(n: int, p: int, which: str, repeats: int) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(n), str(p), which, str(repeats)],
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    args = parser(__doc__.splitlines()[0]).parse_args()
    header("bench_wide: wide dense data, lbfgs, against scikit-learn", args.quick)
    n, p = (300, 5_000) if args.quick else (500, 20_000)
    repeats = args.repeats or (1 if args.quick else 3)
    sk = run(n, p, "sklearn", repeats)
    ours = run(n, p, "logloss", repeats)
    table = Table(
        f"{n} rows × {p:,} columns (X {sk['data'] / 2**20:.0f} MiB)",
        "scikit-learn",
        ("peak MiB", "peak ratio"),
    )
    table.add("scikit-learn", sk["seconds"], sk["peak"] / 2**20, 1.0)
    table.add("logloss", ours["seconds"], ours["peak"] / 2**20, ours["peak"] / sk["peak"])
    table.show()
    verdict("time vs scikit-learn", ours["seconds"] / sk["seconds"], 2.0)
    verdict("peak memory vs scikit-learn", ours["peak"] / sk["peak"], 1.5)


if __name__ == "__main__":
    main()
