"""The steps of a published run around its fit: the champion (the model ``latest`` names)
read once, the schema and data checks against it, where the fit starts, both models scored
on the same hold-out, and the promotion gate's verdict. :mod:`.run` calls them in order;
the ``train`` flow from its tasks.
"""

from __future__ import annotations

from typing import Any

from ..data import Dataset
from ..evaluation import evaluate_model, evaluate_models
from ..logistic import LogisticCore
from ..placement import default_client
from ..prepare import exact_moments
from .champion import Champion, Start, columns_of, load_champion, scorer, start_from
from .checks import DataChecks, data_checks, footer_checks, schema_problem
from .gate import Verdict, judge
from .plan import TrainPlan

__all__ = ["champion", "checks", "evaluate", "footers", "gate", "refuse", "start"]


def champion(plan: TrainPlan) -> Champion | None:
    """The published model ``latest`` names at the run's location (None: none)."""
    return load_champion(plan)


def checks(plan: TrainPlan, ds: Dataset, old: Champion | None) -> DataChecks:
    """The schema check (a DataError naming the column, before fitting), then the data
    checks of ``ds`` against the champion's training data (two passes over the blocks)."""
    problem = schema_problem(old, ds) if plan.guarded else None
    if problem is not None:
        raise refuse(plan, problem)
    # the fit's exact moments pass (standardized, or data too small for a row sample) is
    # made by the checks' first pass instead
    exact = exact_moments(plan.settings.standardize, ds.n_rows)
    exact = exact and not isinstance(plan.validation, float)  # else the fit's rows differ
    # in this process only: on a cluster the fit's moments pass adds up a partial per worker,
    # where the profile's would move every block's (2p + 1 floats) between them
    exact = exact and default_client() is None
    return data_checks(plan.checks, ds, old, moments=exact)


def start(plan: TrainPlan, ds: Dataset, old: Champion | None) -> Start:
    """Where the fit on ``ds`` starts: the champion's coefficients when it fits the data."""
    return start_from(
        old, ds, warm_start=plan.warm_start, cv=bool(plan.settings.cv), where=plan.destination
    )


def evaluate(
    model: LogisticCore, ds: Dataset, old: Champion | None = None
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The model's metrics on ``ds`` and, with a champion that fits its columns, the
    champion's on the same rows, summed in the same pass
    (:func:`logloss.evaluation.evaluate_models`); (metrics, None) without one."""
    rival = None if old is None else scorer(old, ds)
    if rival is None:
        return evaluate_model(model, ds), None
    mine, theirs = evaluate_models([model, rival], ds)
    return mine, theirs


def gate(
    plan: TrainPlan,
    metrics: dict[str, Any],
    rival: dict[str, Any] | None,
    old: Champion | None,
    found: DataChecks | None,
) -> Verdict:
    """The promotion gate's verdict (:func:`logloss.training.gate.judge`)."""
    return judge(
        plan.gate,
        metrics,
        rival,
        champion_version=None if old is None else old.version,
        checks=() if found is None else found.checks,
    )


def footers(plan: TrainPlan, columns: dict[str, Any]) -> Exception | None:
    """The data checks the footers answer: the champion's columns, columns all null."""
    old = champion(plan)
    forced = {c: k for k in ("categorical", "numeric") for c in columns.get(k) or ()}
    skip = {plan.label, plan.weight, *columns.get("exclude", ())}
    theirs = None if old is None or not plan.guarded else columns_of(old.model)
    return footer_checks(plan.data, plan.features, skip, theirs, forced, plan.data_window())


def refuse(plan: TrainPlan, exc: Exception) -> Exception:
    """``exc`` (a data check that refused the run before any fit), recorded first as a
    version of verdict ``refused`` with the reason, when the run's location already holds
    versions (a deployment's history: ``logloss versions`` shows the night it refused); a
    first run writes nothing. ``latest`` never moves to it. Returns ``exc``, to raise."""
    from ..storage import save_refused
    from ..storage.versions import list_versions

    try:
        if not list_versions(plan.destination):
            return exc
        window = plan.data_window()
        record = {"window": None if window is None else window.to_json(), "metrics": {}}
        save_refused(plan.destination, str(exc), record=record, keep=plan.keep_versions)
    except Exception as failed:  # the refusal is the news; a record that fails is a note
        exc.add_note(f"(its refusal could not be recorded at {plan.destination}: {failed})")
    return exc
