"""``python -m flows.health``: exit 0 when the flows service is serving.

The compose stack's health check for the ``flows`` service: the Prefect API (env
``PREFECT_API_URL``) must list both deployments that ``flows/serve.py`` serves
(``logloss-train`` and ``logloss-score``), which it registers once it is up. Exit 1 (with the
reason on stderr) otherwise. Standard library only, so the check is cheap.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.request

EXPECTED = {"logloss-train", "logloss-score"}


def main() -> int:
    api = os.environ.get("PREFECT_API_URL", "").rstrip("/")
    if not api:
        print("PREFECT_API_URL is not set", file=sys.stderr)
        return 1
    request = urllib.request.Request(
        f"{api}/deployments/filter",
        data=json.dumps({"limit": 200}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            names = {d.get("name") for d in json.load(response)}
    except (OSError, ValueError) as exc:
        print(f"the Prefect API at {api} does not answer: {exc}", file=sys.stderr)
        return 1
    missing = EXPECTED - names
    if missing:
        print(f"not serving yet: {sorted(missing)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
