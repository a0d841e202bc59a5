"""The promotion gate: whether a challenger may replace the champion (the model ``latest``
names), from both models' metrics on the same hold-out and the data checks of the run.

Pure (the standard library only): :func:`judge` takes numbers and returns a
:class:`Verdict`; the run publishes by it and the faces render it (a line, an exit status,
a Prefect state).

Rules (each off when None):

- absolute: ``max_log_loss`` (the challenger's log loss above it rejects),
  ``min_auc`` (its ROC AUC below it rejects);
- relative to the champion: ``max_log_loss_increase`` (challenger minus champion log loss
  above it rejects, e.g. 0.002), ``max_auc_drop`` (champion minus challenger AUC above it
  rejects). Without a champion (a first run) the relative rules pass.

A data check over its threshold (:class:`Check`, ``blocking``) rejects as well; one over
its warning level only is ``flagged`` (named in the verdict, promoted all the same).
With no rule and no blocking check every challenger is promoted, as before the gate.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from ..remedies import Problem, ProblemError

__all__ = ["Check", "CheckRules", "GateRules", "RejectedError", "Verdict", "judge"]

PROMOTED, REJECTED = "promoted", "rejected"


@dataclass(frozen=True)
class GateRules:
    """The gate's thresholds by their flow-parameter names without the ``gate_`` prefix."""

    max_log_loss: float | None = None
    min_auc: float | None = None
    max_log_loss_increase: float | None = None
    max_auc_drop: float | None = None

    @property
    def any(self) -> bool:
        return any(v is not None for v in asdict(self).values())

    @property
    def relative(self) -> bool:
        """Whether a rule compares with the champion (then the champion is scored)."""
        return self.max_log_loss_increase is not None or self.max_auc_drop is not None


@dataclass(frozen=True)
class CheckRules:
    """The data checks' thresholds by their setting names (None: measured only)."""

    drift_max_psi: float | None = None
    check_max_null_rate: float | None = None
    check_label_rate_change: float | None = None
    check_max_unseen_rate: float | None = None

    @property
    def any(self) -> bool:
        return any(v is not None for v in asdict(self).values())


@dataclass(frozen=True)
class Check:
    """One data check: its ``name`` (``null_rate``, ``psi`` ...), the ``column`` (None: the
    whole data), the ``value`` measured, the ``threshold`` that blocks promotion (None:
    measured, not enforced), the ``setting`` that holds it, and ``warn``: the level above
    which the check is flagged in the report without blocking (PSI's customary 0.2)."""

    name: str
    column: str | None
    value: float
    threshold: float | None = None
    setting: str | None = None
    warn: float | None = None

    @property
    def blocking(self) -> bool:
        return _over(self.value, self.threshold)

    @property
    def flagged(self) -> bool:
        return self.blocking or _over(self.value, self.warn)

    def line(self) -> str:
        where = f" of column {self.column!r}" if self.column else ""
        if self.blocking:
            return f"{self.name}{where} {self.value:.4g} > {self.setting} {self.threshold:g}"
        return f"{self.name}{where} {self.value:.4g} > {self.warn:g} (flagged, not blocking)"

    def to_json(self) -> dict[str, Any]:
        """Plain JSON (an undefined value, e.g. PSI of an empty column, is None)."""
        value = self.value if math.isfinite(self.value) else None
        return {**asdict(self), "value": value, "flagged": self.flagged, "blocking": self.blocking}


def _over(value: float, limit: float | None) -> bool:
    return limit is not None and math.isfinite(value) and value > limit


@dataclass(frozen=True)
class Verdict:
    """The gate's answer: ``promoted``, the ``reasons`` it was not (one line each), the
    ``challenger`` and ``champion`` metrics used (``champion`` None: none was scored), the
    ``champion_version`` and the data checks that were ``flagged`` (over a threshold)."""

    promoted: bool
    reasons: tuple[str, ...] = ()
    challenger: dict[str, float | None] = field(default_factory=dict)
    champion: dict[str, float | None] | None = None
    champion_version: str | None = None
    rules: dict[str, float | None] = field(default_factory=dict)
    flagged: tuple[str, ...] = ()

    @property
    def status(self) -> str:
        return PROMOTED if self.promoted else REJECTED

    @property
    def reason(self) -> str:
        """One line: why it was rejected ("" when promoted)."""
        return "; ".join(self.reasons)

    def line(self) -> str:
        """The verdict in one line (the run summary, a Prefect state's message)."""
        if self.promoted:
            against = f" (champion {self.champion_version})" if self.champion_version else ""
            return f"promoted{against}"
        return f"rejected: {self.reason}"

    def to_json(self) -> dict[str, Any]:
        doc = asdict(self)
        doc.update(status=self.status, reason=self.reason)
        doc["reasons"], doc["flagged"] = list(self.reasons), list(self.flagged)
        return doc


def _numbers(metrics: dict[str, Any] | None) -> dict[str, float | None] | None:
    if metrics is None:
        return None
    out = {k: _num(metrics.get(k)) for k in ("log_loss", "roc_auc")}
    n = metrics.get("n")
    return {**out, "n": int(n) if isinstance(n, int | float) else None}


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and math.isfinite(float(v)) else None


def judge(
    rules: GateRules,
    challenger: dict[str, Any],
    champion: dict[str, Any] | None = None,
    *,
    champion_version: str | None = None,
    checks: list[Check] | tuple[Check, ...] = (),
) -> Verdict:
    """The verdict of ``rules`` on the ``challenger``'s metrics (``log_loss``, ``roc_auc``)
    and the ``champion``'s on the same rows (None: no champion), and of the data ``checks``
    (a flagged one rejects)."""
    new, old = _numbers(challenger) or {}, _numbers(champion)
    reasons: list[str] = []
    loss, auc = new.get("log_loss"), new.get("roc_auc")
    if rules.max_log_loss is not None and (loss is None or loss > rules.max_log_loss):
        reasons.append(f"log loss {_f(loss)} > gate_max_log_loss {rules.max_log_loss:g}")
    if rules.min_auc is not None and (auc is None or auc < rules.min_auc):
        reasons.append(f"ROC AUC {_f(auc)} < gate_min_auc {rules.min_auc:g}")
    if old is not None:
        old_loss, old_auc = old.get("log_loss"), old.get("roc_auc")
        limit = rules.max_log_loss_increase
        if limit is not None and loss is not None and old_loss is not None:
            if loss - old_loss > limit:
                reasons.append(
                    f"log loss {loss:.6g} vs the champion's {old_loss:.6g} on the same "
                    f"hold-out: +{loss - old_loss:.4g} > gate_max_log_loss_increase {limit:g}"
                )
        drop = rules.max_auc_drop
        if drop is not None and auc is not None and old_auc is not None and old_auc - auc > drop:
            reasons.append(
                f"ROC AUC {auc:.6g} vs the champion's {old_auc:.6g} on the same hold-out: "
                f"-{old_auc - auc:.4g} > gate_max_auc_drop {drop:g}"
            )
    reasons.extend(c.line() for c in checks if c.blocking)
    flagged = tuple(c.line() for c in checks if c.flagged)
    return Verdict(
        promoted=not reasons,
        reasons=tuple(reasons),
        challenger=new,
        champion=old,
        champion_version=champion_version,
        rules=asdict(rules),
        flagged=flagged,
    )


def _f(v: float | None) -> str:
    return "undefined" if v is None else f"{v:.6g}"


class RejectedError(ProblemError):
    """A challenger the promotion gate rejected: published as a version marked
    ``rejected``, ``latest`` left on the champion. Its message is the verdict's line."""

    def __init__(self, verdict: Verdict, version: str | None = None) -> None:
        kept = f"version {version} kept, " if version else ""
        super().__init__(Problem("rejected", f"{verdict.line()} ({kept}latest unchanged)"))
        self.verdict = verdict
