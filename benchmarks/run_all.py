"""Run every benchmark in turn (each in its own process) and collect the PASS/MISS lines.

    python benchmarks/run_all.py --quick      # smoke run, a few minutes at most
    python benchmarks/run_all.py              # full sizes, prints the tables (~15-25 min)

Extra arguments (``--data-dir DIR`` to keep generated Parquet between runs) are passed on.
Exits 0 whatever the ratios are: the targets are reported, never asserted. It exits non-zero
only when a benchmark itself crashes.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = [
    "bench_e2e.py",
    "bench_columns.py",
    "bench_cv.py",
    "bench_pass.py",
    "bench_fit.py",
    "bench_parquet.py",
    "bench_memory.py",
    "bench_shape.py",
    "bench_wide.py",
    "bench_ctr.py",
    "bench_flights.py",
]


def main() -> int:
    extra = sys.argv[1:]
    verdicts: list[str] = []
    failed: list[str] = []
    for script in SCRIPTS:
        t = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, str(HERE / script), *extra],
            cwd=HERE,
            capture_output=True,
            text=True,
        )
        sys.stdout.write(proc.stdout)
        if proc.returncode:  # the end of its error output: why it crashed
            sys.stdout.write("".join(proc.stderr.splitlines(keepends=True)[-15:]))
        print(f"[{script}: {time.perf_counter() - t:.0f} s, exit {proc.returncode}]\n", flush=True)
        verdicts += [line for line in proc.stdout.splitlines() if line.startswith(("PASS", "MISS"))]
        if proc.returncode:
            failed.append(script)
    print("== summary ==")
    print("\n".join(verdicts))
    if failed:
        print(f"crashed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
