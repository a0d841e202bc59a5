"""The Prefect flows of logloss: ``train``, ``score`` and the deployments that serve them.

Importing this package turns Prefect's server analytics off by default (the temporary
server Prefect starts for a first ``python -m flows.train`` otherwise reports telemetry and,
on a fresh machine, prints a "database is locked" traceback), and the client's usage data
and its notice with them (``DO_NOT_TRACK=1``); set ``PREFECT_SERVER_ANALYTICS_ENABLED=true``
or ``DO_NOT_TRACK=0`` to keep them. The temporary server gets 120 s to start
(``PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS``; Prefect's default of 20 s is too
short for a busy 2-core machine).
"""

import os
import warnings

# older pydantic-settings warn about keys of Prefect's own settings at every import
warnings.filterwarnings("ignore", message=r"Config key `\w+` is set in model_config")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
# the temporary server of a first run may take longer than Prefect's 20 s on a busy machine
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
