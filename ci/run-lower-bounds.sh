#!/usr/bin/env bash
# Install logloss with every dependency at the lower bound pyproject.toml declares (in a
# fresh virtual environment) and run the default test suite there, so the bounds stay true.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
venv="${LOWER_BOUNDS_VENV:-$(mktemp -d)/venv}"
python -m venv "$venv"
constraints="$(dirname "$venv")/constraints.txt"
python ci/lower_bounds.py > "$constraints"
# Prefect 3.4.0's notification blocks fail on apprise >= 1.9.4 (NOTIFY_TYPES became a frozenset;
# fixed in Prefect by PrefectHQ/prefect#18697): its users pin apprise below it, and so does this
echo "apprise<1.9.4" >> "$constraints"
echo "lower bounds:"; sed 's/^/  /' "$constraints"
"$venv/bin/python" -m pip install -q --upgrade pip
"$venv/bin/python" -m pip install -q -c "$constraints" -e ".[test]"
"$venv/bin/python" -m pip list 2>/dev/null | grep -iE "^($(cut -d= -f1 "$constraints" | paste -sd'|')) "
"$venv/bin/python" -m pytest -p no:cacheprovider "$@"
