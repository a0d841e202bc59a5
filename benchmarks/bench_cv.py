"""Benchmark: choosing C by cross-validation, as whole processes, against one fit and scikit-learn.

Data: ``logloss.generate.generate`` at 2 M x 20 (8 files; ``--quick``: 200 k x 20), page
cache warm. Each command is a fresh process started from a shell, alternated, median of
``--repeats`` (default 1: the scikit-learn script takes minutes at 2 M):

- ``logloss train DIR --label y --cv 5 --Cs 10 --tol 1e-6 --out M --quiet``: 50 models
  (5 folds x 10 C, log-spaced over [1e-4, 1e4]) in lockstep, then the refit at the chosen C;
- ``logloss train DIR --label y --C <the chosen C> --tol 1e-6 --out M --quiet``: one fit;
- the scikit-learn script: pyarrow.dataset -> NumPy -> ``LogisticRegressionCV(Cs=10, cv=5,
  scoring="neg_log_loss", tol=1e-6)`` (lbfgs; 5 paths of 10 warm-started fits, refit).

Targets (issue "models users expect", part 3): the whole CV + refit <= 5x one fit at the
chosen C; <= 0.1x scikit-learn's LogisticRegressionCV. Also printed: both chosen C and the
held-out mean log loss at them (the folds differ: a hash of the row position against
scikit-learn's consecutive stratified folds, so the two C may differ by a grid step where
the curve is flat).
"""

from __future__ import annotations

import json
import shutil
import statistics
import sys
import textwrap
from typing import Any

from bench_e2e import LOGLOSS, run
from common import Table, data_dir, header, parquet_dataset, parser, verdict

from logloss.storage.files import read_model

SKLEARN_CV_SCRIPT = """
import json, sys
import numpy as np
import pyarrow.dataset as pds
from sklearn.linear_model import LogisticRegressionCV

table = pds.dataset(sys.argv[1], format="parquet", exclude_invalid_files=True).to_table()
y = table.column("y").to_numpy()
X = np.column_stack([table.column(c).to_numpy() for c in table.column_names if c != "y"])
m = LogisticRegressionCV(Cs=10, cv=5, scoring="neg_log_loss", tol=1e-6, max_iter=1000,
                         l1_ratios=None, use_legacy_attributes=True).fit(X, y)
best = int(np.argmax(m.scores_[m.classes_[1]].mean(axis=0)))
print(json.dumps({"C": float(m.C_[0]),
                  "held_out_log_loss": -float(m.scores_[m.classes_[1]].mean(axis=0)[best])}))
"""


def main() -> None:
    args = parser(__doc__.splitlines()[0]).parse_args()
    header("cross-validation, whole processes", args.quick)
    rows = 200_000 if args.quick else 2_000_000
    repeats = args.repeats or 1
    root = data_dir(args.data_dir)
    work = root / "cv-work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    path = parquet_dataset(root, rows, 20)
    script = work / "sklearn_cv.py"
    script.write_text(textwrap.dedent(SKLEARN_CV_SCRIPT))
    run(
        [
            sys.executable,
            "-c",
            "import pyarrow.dataset as d, sys; "
            "d.dataset(sys.argv[1], exclude_invalid_files=True).to_table()",
            str(path),
        ]
    )
    times: dict[str, list[float]] = {
        "logloss train --cv 5 --Cs 10": [],
        "logloss train --C best": [],
    }
    times["scikit-learn LogisticRegressionCV"] = []
    chosen: dict[str, Any] = {}
    for r in range(repeats):
        cv_dir = work / f"cv-{r}"
        seconds, _, _ = run(
            [*LOGLOSS, "train", str(path), "--label", "y", "--cv", "5", "--Cs", "10"]
            + ["--tol", "1e-6", "--quiet", "--out", str(cv_dir)]
        )
        times["logloss train --cv 5 --Cs 10"].append(seconds)
        meta, _ = read_model(cv_dir)  # follows the location's 'latest' pointer
        table = meta["cv"]
        best = table["Cs"].index(table["C"])
        chosen["logloss"] = (table["C"], -table["mean"][best], table["passes"])
        one_dir = work / f"one-{r}"
        seconds, _, _ = run(
            [*LOGLOSS, "train", str(path), "--label", "y", "--C", repr(table["C"])]
            + ["--tol", "1e-6", "--quiet", "--out", str(one_dir)]
        )
        times["logloss train --C best"].append(seconds)
        seconds, _, out = run([sys.executable, str(script), str(path)])
        times["scikit-learn LogisticRegressionCV"].append(seconds)
        sk = json.loads(out.strip().splitlines()[-1])
        chosen["scikit-learn"] = (sk["C"], sk["held_out_log_loss"], None)
    median = {k: statistics.median(v) for k, v in times.items()}
    t = Table(f"{rows:,} x 20, 5 folds x 10 C", baseline="logloss train --C best")
    for name, s in median.items():
        t.add(name, s)
    t.show()
    print("\nchosen C, held-out mean log loss at it, passes of the search:")
    for name, (c, loss, passes) in chosen.items():
        print(
            f"  {name:14} C={c:.6g}  held-out log loss {loss:.6f}"
            + (f"  passes {passes}" if passes else "")
        )
    cv = median["logloss train --cv 5 --Cs 10"]
    verdict("CV + refit vs one fit at the chosen C", cv / median["logloss train --C best"], 5.0)
    verdict(
        "CV + refit vs scikit-learn's LogisticRegressionCV",
        cv / median["scikit-learn LogisticRegressionCV"],
        0.1,
    )
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
