"""The Prefect flows of logloss: ``train``, ``score`` and the deployments that serve them.

Importing this package turns Prefect's server analytics off by default (the temporary
server Prefect starts for a first ``python -m flows.train`` otherwise reports telemetry and,
on a fresh machine, prints a "database is locked" traceback), and the client's usage data
and its notice with them (``DO_NOT_TRACK=1``); set ``PREFECT_SERVER_ANALYTICS_ENABLED=true``
or ``DO_NOT_TRACK=0`` to keep them.
"""

import os
import warnings

# pydantic-settings before 2.10 warns about a key of Prefect's own settings at every import
warnings.filterwarnings("ignore", message="Config key `pyproject_toml_table_header`")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
