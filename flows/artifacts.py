"""The flows' artifacts and progress, best-effort: a Prefect server that stops answering
never stops a fit or a publish.

Each call to the API runs in a daemon thread (with the caller's Prefect context) and is
waited for at most :data:`TIMEOUT` seconds; its errors are dropped, logged once. After the
first failure the calls of that reporter are skipped: the run carries on without them.
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

from logloss.solvers import SolverState

__all__ = ["TIMEOUT", "Reporter", "attempt", "best_effort", "publish_artifacts"]

#: Seconds an artifact call may take before the run goes on without it.
TIMEOUT = 3.0

log = logging.getLogger("flows")


def best_effort(fn: Callable[..., Any], *args: Any, timeout: float = TIMEOUT, **kw: Any) -> Any:
    """``fn(*args, **kw)``, or None when it raised or did not return within ``timeout``."""
    return attempt(fn, *args, timeout=timeout, **kw)[1]


def attempt(
    fn: Callable[..., Any], *args: Any, timeout: float = TIMEOUT, **kw: Any
) -> tuple[bool, Any]:
    """(True, ``fn(*args, **kw)``), or (False, None) when it raised or did not return
    within ``timeout`` seconds (it is then left to finish, or not, in its thread)."""
    out: dict[str, Any] = {}
    context = contextvars.copy_context()

    def call() -> None:
        try:
            out["value"] = context.run(fn, *args, **kw)
        except Exception as exc:  # the server is gone, or refused: drop it
            out["error"] = exc

    thread = threading.Thread(target=call, daemon=True, name="prefect-artifact")
    thread.start()
    thread.join(timeout)
    if "value" in out:
        return True, out["value"]
    reason = out.get("error", f"no answer within {timeout:g} s")
    log.warning("Prefect artifact skipped (%s): %s", getattr(fn, "__name__", fn), reason)
    return False, None


class Reporter:
    """Progress artifact + run-logger lines while the solver iterates (a solver callback);
    best-effort: it stops updating the artifact once the API fails to answer."""

    def __init__(self, max_iter: int, logger: Any) -> None:
        self.logger = logger
        self.max_iter = max(1, max_iter)
        self.every = max(1, max_iter // 100)
        self.artifact: Any = None
        self.lost = False
        self._last_update = 0.0

    def __enter__(self) -> Reporter:
        from prefect.artifacts import create_progress_artifact

        self.artifact = self._call(
            create_progress_artifact,
            0.0,
            key="training-progress",
            description="training iterations (% of max_iter)",
        )
        return self

    def _call(self, fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
        if self.lost:
            return None
        ok, value = attempt(fn, *args, **kw)
        self.lost = not ok
        return value

    def _update(self, percent: float) -> None:
        from prefect.artifacts import update_progress_artifact

        if self.artifact is not None:
            self._call(update_progress_artifact, self.artifact, percent)

    def __call__(self, state: SolverState) -> None:
        row = state.history[-1]
        it = row["iteration"]
        if it <= 10 or it % self.every == 0:
            self.logger.info(
                "iteration %d: loss %.10g, gradient norm %.3e, step %.3e",
                it,
                row["loss"],
                row["grad_norm"],
                row["step"],
            )
        now = time.monotonic()
        if now - self._last_update >= 1.0:
            self._last_update = now
            self._update(min(100.0, 100.0 * it / self.max_iter))

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if kind is None:
            self._update(100.0)


def publish_artifacts(plan: Any, model: Any, metrics: dict[str, Any], saved: Any) -> None:
    """The report (metrics, settings, pictures) and the iteration history as artifacts."""
    from prefect.artifacts import create_markdown_artifact, create_table_artifact

    from logloss.report import markdown_report

    best_effort(
        create_markdown_artifact,
        markdown_report(metrics, model.get_params(), saved.links),
        key="training-report",
        description=f"model {plan.name} version {saved.version}",
    )
    best_effort(
        create_table_artifact,
        [dict(h) for h in model.history_],
        key="iteration-history",
        description="per iteration",
    )
