"""What one training run is asked to do (:class:`TrainPlan`), and its first step: the output
rule, checked before any data is read or a cluster started.

Light on purpose (the standard library, the settings and the output rule): the command line
checks its paths with it before the heavy imports.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..integrations.mlflow import check_available, tracking_uri
from ..remedies import Problem, ProblemError, Remedy
from ..settings import TrainSettings
from ..storage import OutputPathError, check_output, check_work_dir
from ..windows import Window, WindowError, parse_as_of
from .gate import CheckRules, GateRules

__all__ = ["OutputRefusedError", "TrainPlan", "check_outputs"]

#: Where a model goes: ``out`` (a model directory, replaced) or ``model_dir`` + ``name``
#: (a new published version, ``latest`` moved last).


@dataclass(frozen=True)
class TrainPlan:
    """One training run: the data, the settings, the hold-out, the output, the cluster.

    ``validation``: a fraction of the rows to hold out (0 < f < 1), a second dataset, or
    None (evaluate, and report, on the training rows). ``window`` (a duration, ``"30d"``),
    ``as_of`` (ISO; fixed to now when not given) and ``time_column``: train on the rows of
    ``[as_of - window, as_of)`` (:mod:`logloss.windows`); ``holdout``: a duration, the newest
    part of the window held out instead of ``validation``. ``keep_versions``: retention.
    ``checkpoint``: a directory (None: a published run keeps one of its own under
    ``model_dir/name/.checkpoints/``, other runs none). ``scheduler`` / ``workers`` /
    ``processes``: where the tasks run
    (:func:`logloss.cluster.dask_client`). ``notices``: what the plan's making noticed
    (a deprecated setting), for the face to show. ``mlflow_tracking_uri`` /
    ``mlflow_model_name``: where the run is also recorded (:mod:`logloss.integrations.mlflow`).
    ``warm_start``: start the fit from the
    champion's coefficients when it fits the data; ``gate`` and ``checks``: the promotion
    gate's rules and the data checks' thresholds (:mod:`logloss.training.gate`), given to
    :meth:`create` by their flat names (``gate_max_log_loss``, ``drift_max_psi`` ...).
    """

    data: str
    label: str
    settings: TrainSettings = field(default_factory=TrainSettings)
    features: list[str] | None = None
    weight: str | None = None
    dtype: str = "float64"
    block_mb: float = 128.0
    validation: float | str | None = None
    out: str | None = None
    model_dir: str | None = None
    name: str | None = None
    report: bool = False
    checkpoint: str | None = None
    checkpoint_restart: bool = False
    allow_unconverged: bool = False
    # MLflow (logloss.integrations.mlflow): a tracking URI (None: env MLFLOW_TRACKING_URI, else
    # none) and the registered model's name (None: the output's last part)
    mlflow_tracking_uri: str | None = None
    mlflow_model_name: str | None = None
    scheduler: str | None = None
    workers: int | None = None
    processes: bool = False
    quiet: bool = True
    notices: tuple[Problem, ...] = ()
    warm_start: bool = True
    gate: GateRules = field(default_factory=GateRules)
    checks: CheckRules = field(default_factory=CheckRules)
    window: str | None = None
    as_of: str | None = None
    time_column: str | None = None
    holdout: str | None = None
    keep_versions: int | None = None

    @classmethod
    def create(
        cls, settings: dict[str, Any], *, drop_invalid: bool = False, **fields: Any
    ) -> TrainPlan:
        """A plan from the training ``settings`` by name (the deprecated ``penalty`` too)
        and the run's ``fields``; ``drop_invalid`` is ``missing="drop"``."""
        values = dict(settings)
        if drop_invalid:
            if values.get("missing") == "impute":
                raise ProblemError(
                    Problem(
                        "conflicting settings",
                        "drop_invalid means missing='drop'; it cannot go with missing='impute'",
                        (Remedy("drop_invalid", "leave out"),),
                    )
                )
            values["missing"] = "drop"
        train, notice = TrainSettings.from_values(values)
        fields.update(_rules(fields))
        validation = fields.pop("validation", None)
        held = fields.pop("holdout", None)
        if held is not None and not _is_duration(held):  # a fraction: the random split
            validation, held = held, None
        if isinstance(validation, str) and _number(validation) is not None:
            validation = _number(validation)
        if isinstance(validation, int | float) and not isinstance(validation, bool):
            validation = _fraction(float(validation))
        plan = cls(
            settings=train,
            validation=None if held else validation,
            holdout=held,
            notices=() if notice is None else (notice,),
            **fields,
        )
        return _windowed(plan)

    @property
    def published(self) -> bool:
        return self.out is None

    @property
    def guarded(self) -> bool:
        """Whether the run is a retraining whose data must keep the champion's schema (a
        column gone or retyped refuses it): a published run, or one with a window or a
        gate rule or check threshold. A plain ``--out`` run may change its columns freely."""
        return self.published or self.window is not None or self.gate.any or self.checks.any

    @property
    def destination(self) -> str:
        """The output as the user named it: ``out``, or ``model_dir/name``."""
        if self.out is not None:
            return self.out
        return f"{str(self.model_dir).rstrip('/')}/{self.name}"

    def data_window(self) -> Window | None:
        """The run's whole window (None: all the data)."""
        if self.window is None:
            return None
        return Window.of(self.window, self.as_of, self.time_column)

    def train_window(self) -> Window | None:
        """The window of the training rows: the whole window less a time hold-out."""
        window = self.data_window()
        if window is None or self.holdout is None:
            return window
        return window.split(self.holdout)[0]

    def holdout_window(self) -> Window | None:
        """The window of a time hold-out (its newest ``holdout``), or None."""
        window = self.data_window()
        if window is None or self.holdout is None:
            return None
        return window.split(self.holdout)[1]

    def inputs(self) -> list[str | None]:
        second = self.validation if isinstance(self.validation, str) else None
        return [self.data, second]


#: The flat names of the gate's rules and the data checks' thresholds (flow parameters and
#: command-line options) and the plan's field each belongs to.
RULE_NAMES = {
    **{f"gate_{f}": "gate" for f in GateRules.__dataclass_fields__},
    **{f: "checks" for f in CheckRules.__dataclass_fields__},
}


def _rules(fields: dict[str, Any]) -> dict[str, Any]:
    """``gate`` and ``checks`` of the flat rule names in ``fields`` (removed from it)."""
    given = {name: fields.pop(name) for name in list(fields) if name in RULE_NAMES}
    for name, value in given.items():
        if value is not None and not (isinstance(value, int | float) and math.isfinite(value)):
            raise ProblemError(Problem("bad setting", f"{name} must be a number; got {value!r}"))
        if value is not None and value < 0:
            raise ProblemError(Problem("bad setting", f"{name} must be >= 0; got {value}"))
    gate = {k.removeprefix("gate_"): v for k, v in given.items() if RULE_NAMES[k] == "gate"}
    checks = {k: v for k, v in given.items() if RULE_NAMES[k] == "checks"}
    out: dict[str, Any] = {}
    if gate:
        out["gate"] = GateRules(**gate)
    if checks:
        out["checks"] = CheckRules(**checks)
    return out


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _is_duration(value: Any) -> bool:
    return isinstance(value, str) and _number(value) is None


def _bad(why: str, setting: str) -> ProblemError:
    return ProblemError(Problem("bad setting", why, (Remedy(setting, "change"),)))


def _windowed(plan: TrainPlan) -> TrainPlan:
    """The plan with its window checked and ``as_of`` fixed (now, when not given: the whole
    run uses one); a hold-out duration needs a window shorter than it."""
    if plan.window is None:
        if plan.holdout is not None:
            raise _bad(f"holdout {plan.holdout!r} (a duration) needs a window", "window")
        if plan.time_column is not None:
            raise _bad(f"time_column {plan.time_column!r} needs a window", "window")
        return plan
    try:
        as_of = parse_as_of(plan.as_of).isoformat().replace("+00:00", "Z")
        plan = replace(plan, as_of=as_of)
        window = plan.data_window()
        if window is not None and plan.holdout is not None:
            window.split(plan.holdout)
    except WindowError as exc:
        raise _bad(str(exc), "window") from None
    return plan


def _fraction(value: float) -> float | None:
    if value == 0.0:
        return None
    if not 0.0 < value < 1.0 or not math.isfinite(value):
        raise ProblemError(
            Problem(
                "bad setting",
                f"validation must be a fraction between 0 and 1 (0: none), or a dataset; "
                f"got {value}",
            )
        )
    return value


class OutputRefusedError(ProblemError, OutputPathError):
    """An output (or checkpoint directory) the output rule refuses (logloss.storage.rules)."""


def _refused(why: str, setting: str) -> OutputRefusedError:
    return OutputRefusedError(Problem("output refused", why, (Remedy(setting, "choose another"),)))


def check_outputs(plan: TrainPlan) -> TrainPlan:
    """The output rule for the plan's model output and checkpoint directory; the plan with
    ``out`` as checked (a ``file://`` URL becomes its path). Raises
    :class:`OutputRefusedError` naming the setting to change."""
    try:
        if plan.out is not None:
            out = check_output(plan.out, "model", inputs=[*plan.inputs(), plan.checkpoint])
            plan = replace(plan, out=str(out))
        else:
            if not plan.model_dir or not plan.name:
                raise ValueError("a run needs an output: out, or model_dir and name")
            target: str | Path = plan.destination
            if "://" not in plan.model_dir:
                target = Path(plan.model_dir) / plan.name
            check_output(target, "published", inputs=plan.inputs())
    except OutputPathError as exc:
        raise _refused(str(exc), "out" if plan.out is not None else "name") from None
    if plan.checkpoint:
        if plan.settings.cv:
            raise OutputRefusedError(
                Problem(
                    "output refused",
                    "{0} cannot go with {1}: a cross-validation search is not checkpointed",
                    (
                        Remedy("checkpoint", "leave out"),
                        Remedy("cv", "leave out", detail=" to fit one C"),
                    ),
                    names=("checkpoint", "cv"),
                )
            )
        try:
            check_work_dir(os.fspath(plan.checkpoint), "checkpoint directory")
        except OutputPathError as exc:
            raise _refused(str(exc), "checkpoint") from None
    check_available(tracking_uri(plan.mlflow_tracking_uri))  # MLflow: its extra installed
    return plan
