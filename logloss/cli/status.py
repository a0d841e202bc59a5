"""The exit statuses of the ``logloss`` command (re-exported by :mod:`logloss.cli`)."""

from __future__ import annotations

EXIT_OK = 0
EXIT_INTERNAL_ERROR = 1
EXIT_BAD_INPUT = 2
EXIT_NOT_CONVERGED = 3
#: The connection to the Dask scheduler was lost while the command ran (the scheduler died or
#: its host went away); nothing was written, and running the command again may succeed.
EXIT_SCHEDULER_LOST = 4
#: The promotion gate rejected the new model: it was written as a version marked
#: ``rejected`` and ``latest`` still names the champion.
EXIT_REJECTED = 5
EXIT_INTERRUPTED = 130
