"""What a flow run shows: log lines, progress and artifacts. Best-effort: a Prefect server
that stops answering never stops a fit or a publish.

Each call to the API runs in a daemon thread (with the caller's Prefect context) and is
waited for at most :data:`TIMEOUT` seconds; its errors are dropped, logged. After a failed
call a :class:`Reporter` makes no more: the run carries on without them.
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

__all__ = [
    "TIMEOUT",
    "Reporter",
    "Call",
    "ServerLostError",
    "api_lost",
    "check_api",
    "best_effort",
    "log_fitted",
    "log_loaded",
    "gate_markdown",
    "publish_artifacts",
]

#: Seconds an artifact call may take before the run goes on without it.
TIMEOUT = 3.0

log = logging.getLogger("flows")


class Call:
    """``fn(*args, **kw)`` in a daemon thread, with the caller's context (Prefect's run
    context is a context variable): :meth:`wait` for it, then read ``value`` / ``error``."""

    def __init__(self, fn: Callable[..., Any], *args: Any, **kw: Any) -> None:
        self.name = getattr(fn, "__name__", str(fn))
        self.value: Any = None
        self.error: BaseException | None = None
        context = contextvars.copy_context()

        def call() -> None:
            try:
                self.value = context.run(fn, *args, **kw)
            except Exception as exc:  # the server is gone, or refused: dropped
                self.error = exc

        self._thread = threading.Thread(target=call, daemon=True, name="prefect-artifact")
        self._thread.start()

    def wait(self, timeout: float = TIMEOUT) -> bool:
        """Whether the call ended (returned or raised) within ``timeout`` seconds."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def ok(self, timeout: float = TIMEOUT) -> bool:
        """Whether it returned within ``timeout``; logs (once) why not."""
        ended = self.wait(timeout)
        if ended and self.error is None:
            return True
        reason = self.error if ended else f"no answer within {timeout:g} s"
        log.warning("Prefect artifact skipped (%s): %s", self.name, reason)
        return False


def best_effort(fn: Callable[..., Any], *args: Any, timeout: float = TIMEOUT, **kw: Any) -> Any:
    """``fn(*args, **kw)``, or None when it raised or did not return within ``timeout``
    (it is then left to finish, or not, in its thread)."""
    call = Call(fn, *args, **kw)
    return call.value if call.ok(timeout) else None


class Reporter:
    """Progress artifact + run-logger lines while the solver iterates (a solver callback).
    Best-effort: one artifact call in flight at a time, waited for at most :data:`TIMEOUT`
    seconds (a slow update is skipped, not queued); none after one has failed."""

    def __init__(self, max_iter: int, logger: Any) -> None:
        self.logger = logger
        self.max_iter = max(1, max_iter)
        self.every = max(1, max_iter // 100)
        self.lost = False
        self._created: Call | None = None
        self._pending: Call | None = None
        self._last_update = 0.0

    def __enter__(self) -> Reporter:
        from prefect.artifacts import create_progress_artifact

        self._created = self._call(
            create_progress_artifact,
            0.0,
            key="training-progress",
            description="training iterations (% of max_iter)",
        )
        return self

    def _call(self, fn: Callable[..., Any], *args: Any, final: bool = False, **kw: Any) -> Any:
        if self.lost:
            return None
        if self._pending is not None and not self._pending.wait(TIMEOUT if final else 0):
            return None  # the last call is still waiting for an answer
        call = self._pending = Call(fn, *args, **kw)
        if call.wait(TIMEOUT) and not call.ok(0):
            self.lost = True  # refused or failed: the run goes on without artifacts
        return call

    def _update(self, percent: float, final: bool = False) -> None:
        from prefect.artifacts import update_progress_artifact

        created = self._created
        if created is not None and created.wait(0) and created.error is None:
            self._call(update_progress_artifact, created.value, percent, final=final)

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
            if self._created is not None:
                self._created.wait(TIMEOUT)
            self._update(100.0, final=True)
            if self._pending is not None:
                self._pending.wait(TIMEOUT)


def publish_artifacts(
    plan: Any,
    model: Any,
    metrics: dict[str, Any],
    saved: Any,
    decision: Any = None,
    found: Any = None,
) -> None:
    """The report (metrics, settings, pictures, the promotion gate's verdict) and the
    iteration history as artifacts; the data checks as a table."""
    from prefect.artifacts import create_markdown_artifact, create_table_artifact

    from logloss.report import markdown_report

    body = markdown_report(metrics, model.get_params(), saved.links)
    if decision is not None:
        body = gate_markdown(decision, model) + "\n" + body
    best_effort(
        create_markdown_artifact,
        body,
        key="training-report",
        description=f"model {plan.name} version {saved.version}"
        + ("" if decision is None else f": {decision.status}"),
    )
    if found is not None and found.checks:
        best_effort(
            create_table_artifact,
            [c.to_json() for c in found.checks],
            key="data-checks",
            description=f"the data checks against {found.champion_version or 'no champion'}",
        )
    best_effort(
        create_table_artifact,
        [dict(h) for h in model.history_],
        key="iteration-history",
        description="per iteration",
    )


def gate_markdown(decision: Any, model: Any) -> str:
    """The promotion gate's section of the report artifact: the verdict, both models'
    numbers on the same hold-out, the rules, how the fit started and the flagged checks."""
    new, old = decision.challenger, decision.champion or {}
    lines = [
        "## Promotion gate",
        "",
        f"**{decision.line()}**",
        "",
        "| on the same hold-out | challenger | champion |",
        "| --- | --- | --- |",
    ]
    for key in ("log_loss", "roc_auc", "n"):
        lines.append(f"| {key} | {_cell(new.get(key))} | {_cell(old.get(key))} |")
    rules = ", ".join(f"gate_{k}={v}" for k, v in decision.rules.items() if v is not None)
    lines += ["", f"Rules: {rules or 'none'}."]
    start = (getattr(model, "training_", None) or {}).get("start") or {}
    if start.get("line"):
        lines.append(f"Fit: {start['line']}.")
    lines += [f"- flagged: {f}" for f in decision.flagged]
    return "\n".join(lines) + "\n"


def _cell(v: Any) -> str:
    return "" if v is None else f"{v:.6g}"


def log_loaded(logger: Any, ds: Any) -> None:
    logger.info(
        "loaded %s: %d rows x %d features in %d blocks; labels %s",
        ds.source,
        ds.n_rows,
        ds.n_features,
        len(ds.blocks),
        ds.check_labels(),
    )


def log_fitted(logger: Any, fitted: Any, checkpoint: str | None) -> None:
    """The fit's warnings, where it resumed from, and how it ended."""
    from logloss.training.run import chosen

    if fitted.resumed:
        logger.info("resumed from checkpoint %s", checkpoint)
    for message in fitted.warnings:
        logger.warning("%s", message)
    m = fitted.model
    logger.info(
        "fit %s: %d iterations, %d passes, loss %.10g, converged=%s",
        m.solver_,
        int(m.n_iter_[0]),
        m.n_passes_,
        m.history_[-1]["loss"] if m.history_ else float("nan"),
        m.converged_,
    )
    if getattr(m, "cv_", None):
        logger.info(chosen(m.cv_))


class ServerLostError(RuntimeError):
    """The Prefect server that records the run stopped answering during it."""


def api_lost(timeout: float = TIMEOUT) -> str | None:
    """The Prefect API's URL when it does not answer its health check within ``timeout``
    seconds (None: it answers)."""
    import httpx
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        url = str(client.api_url).rstrip("/")
    try:
        httpx.get(f"{url}/health", timeout=timeout).raise_for_status()
    except Exception:
        return url
    return None


def check_api() -> None:
    """ServerLostError when the Prefect server recording the run no longer answers: nothing
    is published then (the fit's checkpoint is kept)."""
    lost = api_lost()
    if lost is not None:
        raise ServerLostError(
            f"lost the Prefect server at {lost} during the run: the fit ended, nothing was "
            "published (latest not moved); run the flow again to resume from its checkpoint"
        )
