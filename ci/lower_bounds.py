"""Print pip constraints pinning every dependency of pyproject.toml to its lower bound.

Used by ``ci/run-lower-bounds.sh``: installing with these constraints and running the
default test suite keeps the ``>=`` bounds in pyproject.toml true.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import tomllib


def lower_bounds(pyproject: Path, extras: list[str]) -> dict[str, str]:
    project = tomllib.loads(pyproject.read_text())["project"]
    requirements = list(project["dependencies"])
    for extra in extras:  # the test tools are not pinned: they do not ship with logloss
        requirements += project["optional-dependencies"][extra]
    pins: dict[str, str] = {}
    for req in requirements:
        m = re.match(r"^([A-Za-z0-9_.-]+)(\[[^\]]*\])?\s*(.*)$", req.split(";")[0].strip())
        if not m:
            raise SystemExit(f"cannot parse requirement {req!r}")
        name, spec = m.group(1).lower(), m.group(3)
        low = re.search(r">=\s*([0-9][^,\s]*)", spec)
        if low:
            pins[name] = max(pins.get(name, low.group(1)), low.group(1), key=_version_key)
    return pins


# Transitive dependencies that the oldest supported releases leave unbounded but do not work
# with at their newest: pinned for the lower-bound run only.
TRANSITIVE = {
    "fastapi": "0.135.1",  # Prefect 3.4.0's server calls Body(min_items=), gone in later FastAPI
}


def _version_key(v: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", v))


if __name__ == "__main__":
    root = Path(__file__).resolve().parents[1]
    pins = {**TRANSITIVE, **lower_bounds(root / "pyproject.toml", sys.argv[1:])}
    for name, version in sorted(pins.items()):
        print(f"{name}=={version}")
