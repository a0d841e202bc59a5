"""A training run in MLflow: its parameters, metrics and model, a registered model version,
and the ``champion`` alias following promotions (optional: ``pip install 'logloss[mlflow]'``).

Conventions
-----------
- The tracking URI is the run's ``mlflow_tracking_uri``, else the environment's
  ``MLFLOW_TRACKING_URI``; without either nothing is recorded and mlflow is never imported.
  A URI given without mlflow installed is refused before any data is read
  (:func:`check_available`, one line naming the extra).
- One MLflow run per training run, in the experiment named by ``MLFLOW_EXPERIMENT_NAME``,
  else by the registered model's name. Its parameters: every training setting
  (:class:`~logloss.settings.TrainSettings`, by name) and the run's data, label, hold-out and
  destination. Its metrics: the evaluation metrics (``log_loss``, ``roc_auc``, ``accuracy``
  ..., on the hold-out when there is one), ``passes``, ``iterations``, ``train_loss`` (the
  training objective) and ``gradient_norm``.
- Its artifacts: ``model``, the scikit-learn export (``model.to_sklearn()``) in MLflow's
  sklearn flavour (``mlflow.sklearn.load_model`` or ``mlflow.pyfunc.load_model``; in skops
  format where the installed MLflow offers it, else MLflow's own pickle, which logloss never
  reads), and ``logloss``, the model's own plain files (model.json + coef.npy, what
  ``logloss.load`` reads).
- A model version of the registered model (default name: the output location's last part,
  else ``logloss``) per run, tagged ``verdict`` (``promoted`` | ``rejected``),
  ``logloss_version`` and ``logloss_location``; a promoted version gets the alias
  ``champion``, a rejected one leaves it where it was.
- A tracking server that does not answer never fails a training run: the model is published
  all the same, and :func:`record_run` tells one line (a :class:`~logloss.remedies.Problem`,
  ``what`` "not tracked") to the face, which shows it as a warning. :func:`record` raises
  :class:`TrackingError` instead.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import math
import os
import tempfile
import urllib.parse
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ..remedies import Problem, ProblemError, Remedy

__all__ = [
    "ALIAS",
    "EXTRA",
    "Recorded",
    "TrackingError",
    "check_available",
    "default_model_name",
    "record",
    "record_run",
    "shown",
    "tracking_uri",
]

EXTRA = "pip install 'logloss[mlflow]'"
#: The alias of the registered model's served version.
ALIAS = "champion"
Verdict = str  # "promoted" or "rejected" (logloss.training.gate)
VERDICTS = ("promoted", "rejected")
#: Seconds the server has to answer the probe before a run (``/health``).
PROBE_SECONDS = 5.0
LEAVE_OUT = Remedy("mlflow_tracking_uri", "leave out", detail=" (and env MLFLOW_TRACKING_URI)")


class RunPlan(Protocol):
    """What :func:`record_run` reads of a run's plan (:class:`logloss.training.TrainPlan`)."""

    @property
    def settings(self) -> Any: ...
    @property
    def data(self) -> str: ...
    @property
    def label(self) -> str: ...
    @property
    def validation(self) -> float | str | None: ...
    @property
    def destination(self) -> str: ...
    @property
    def mlflow_tracking_uri(self) -> str | None: ...
    @property
    def mlflow_model_name(self) -> str | None: ...


class TrackingError(ProblemError):
    """The tracking server did not answer, or refused what a run sent."""


@dataclass(frozen=True)
class Recorded:
    """What a run left in MLflow: its run, the registered model's new version, the verdict
    it was tagged with and the version the ``champion`` alias points at now (None: none)."""

    tracking_uri: str
    run_id: str
    model_name: str
    version: str
    verdict: str
    champion: str | None

    @property
    def model_uri(self) -> str:
        return f"models:/{self.model_name}/{self.version}"

    def line(self) -> str:
        alias = f"{ALIAS} -> version {self.champion}" if self.champion else f"no {ALIAS}"
        return (
            f"recorded in MLflow ({shown(self.tracking_uri)}): run {self.run_id}, "
            f"{self.model_name} version {self.version} ({self.verdict}; {alias})"
        )


def tracking_uri(given: str | None = None) -> str | None:
    """The tracking URI: ``given``, else env ``MLFLOW_TRACKING_URI``, else None."""
    uri = (given or os.environ.get("MLFLOW_TRACKING_URI") or "").strip()
    return uri or None


def default_model_name(destination: str) -> str:
    """The registered model's default name: the output location's last part, or logloss."""
    return os.path.basename(str(destination).rstrip("/")) or "logloss"


def check_available(uri: str | None) -> None:
    """Refuse a tracking URI when mlflow is not installed (a :class:`ProblemError`, one line
    naming the extra), without importing it."""
    if uri is not None and importlib.util.find_spec("mlflow") is None:
        raise ProblemError(_missing(uri))


def _missing(uri: str) -> Problem:
    why = f"tracking runs in MLflow ({shown(uri)}) needs mlflow, which is not installed: {EXTRA}"
    return Problem("missing extra", why, (LEAVE_OUT,))


def _mlflow(uri: str) -> Any:
    try:
        import mlflow
    except ImportError:
        raise ProblemError(_missing(uri)) from None
    return mlflow


def shown(uri: str) -> str:
    """``uri`` as messages show it: without a password (``http://user:***@host``)."""
    parts = urllib.parse.urlsplit(uri)
    if parts.password is None:
        return uri
    netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def _not_recorded(uri: str, reason: object, *, answered: bool = False) -> TrackingError:
    """The one line of a run not recorded: the server did not answer, or it (or MLflow's
    client) refused what the run sent."""
    first = (str(reason).strip().splitlines() or [type(reason).__name__])[0][:300]
    how = "refused the run" if answered else "did not answer"
    why = (
        f"MLflow at {shown(uri)} {how} ({first}): this run is not recorded there; "
        "the model is published all the same"
    )
    return TrackingError(Problem("not tracked", why, (Remedy("mlflow_tracking_uri", "check"),)))


def _lost(exc: BaseException) -> bool:
    """Whether an error of MLflow's client is a server that went away (its retries ran out)."""
    text = str(exc)
    return isinstance(exc, OSError) or "Max retries exceeded" in text or "Connection" in text


def _probe(uri: str) -> None:
    """A server's ``/health``, with a short timeout: a server that is down is found in
    seconds, not after MLflow's retries. Any HTTP answer counts (a proxy, an auth layer:
    MLflow's client has the last word); other URIs (a database, a folder) are not probed."""
    if not uri.startswith(("http://", "https://")):
        return
    import ssl  # here: the command line imports this module, and these cost 40 ms
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=PROBE_SECONDS):
            pass
    except urllib.error.HTTPError:
        return
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, ssl.SSLError):
            return  # certificates are MLflow's settings (MLFLOW_TRACKING_INSECURE_TLS ...)
        raise _not_recorded(uri, exc.reason) from None
    except (OSError, ValueError) as exc:
        raise _not_recorded(uri, exc) from None


#: MLflow's settings while recording, unless the environment sets them: few HTTP retries
#: (its default, 7 with exponential backoff, waits minutes on a server that went away) and
#: no run links printed on stdout (``logloss train --json`` prints one JSON object there).
QUIET = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2", "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true"}


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """:data:`QUIET`'s defaults, and MLflow's info logs ("waiting for the model version")
    held back, while recording."""
    added = [k for k in QUIET if k not in os.environ]
    os.environ.update({k: QUIET[k] for k in added})
    logger = logging.getLogger("mlflow")
    level = logger.level
    logger.setLevel(max(level, logging.WARNING))
    try:
        yield
    finally:
        logger.setLevel(level)
        for k in added:
            os.environ.pop(k, None)


def _params(settings: Any, extra: Mapping[str, Any] | None) -> dict[str, str]:
    values = {**settings.values, **(extra or {})}
    return {k: str(v) for k, v in values.items()}


def _metrics(model: Any, metrics: Mapping[str, Any] | None) -> dict[str, float]:
    last = model.history_[-1] if getattr(model, "history_", None) else {}
    n_iter = getattr(model, "n_iter_", None)
    found: dict[str, Any] = {
        **(metrics or {}),
        "passes": getattr(model, "n_passes_", None),
        "iterations": None if n_iter is None else int(n_iter[0]),
        "train_loss": last.get("loss"),
        "gradient_norm": last.get("grad_norm"),
    }
    out = {}
    for k, v in found.items():
        if isinstance(v, bool) or not isinstance(v, int | float):
            continue
        if math.isfinite(float(v)):
            out[k] = float(v)
    return out


def _sklearn_flavour(model: Any, folder: Path) -> None:
    """The scikit-learn export saved in MLflow's sklearn flavour into ``folder``: skops
    format where this MLflow offers it, trusting the types skops does not know by default
    that the export itself put in (``numpy.dtype`` of an encoder); the requirements named,
    not inferred (inference loads the model in a subprocess)."""
    import mlflow.sklearn
    import sklearn

    estimator = model.to_sklearn()
    kwargs: dict[str, Any] = {}
    requirements = [f"scikit-learn=={sklearn.__version__}"]
    if hasattr(mlflow.sklearn, "SERIALIZATION_FORMAT_SKOPS"):
        import skops
        import skops.io

        kwargs["serialization_format"] = mlflow.sklearn.SERIALIZATION_FORMAT_SKOPS
        untrusted = skops.io.get_untrusted_types(data=skops.io.dumps(estimator))
        if untrusted:
            kwargs["skops_trusted_types"] = untrusted
        requirements.append(f"skops=={skops.__version__}")
    mlflow.sklearn.save_model(estimator, str(folder), pip_requirements=requirements, **kwargs)


def _registered(client: Any, mlflow: Any, name: str) -> None:
    try:
        client.create_registered_model(name)
    except mlflow.exceptions.MlflowException as exc:
        if exc.error_code != "RESOURCE_ALREADY_EXISTS":
            raise


def _experiment(client: Any, mlflow: Any, name: str) -> str:
    found = client.get_experiment_by_name(name)
    if found is not None:
        return str(found.experiment_id)
    try:
        return str(client.create_experiment(name))
    except mlflow.exceptions.MlflowException as exc:  # another run created it meanwhile
        if exc.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
        return str(client.get_experiment_by_name(name).experiment_id)


def record(
    model: Any,
    settings: Any,
    *,
    tracking_uri: str,
    model_name: str,
    metrics: Mapping[str, Any] | None = None,
    params: Mapping[str, Any] | None = None,
    tags: Mapping[str, Any] | None = None,
    verdict: Verdict = "promoted",
    run_name: str | None = None,
) -> Recorded:
    """Record a fitted ``model`` (a :class:`~logloss.logistic.LogisticCore` or an
    estimator) and its ``settings`` (:class:`~logloss.settings.TrainSettings`) as one MLflow
    run and a new version of the registered model ``model_name`` (see the module's
    conventions); ``params`` and ``tags`` are added to the run's (tags also to the
    version's). Raises :class:`TrackingError` when the server does not answer or refuses,
    :class:`~logloss.remedies.ProblemError` without mlflow."""
    if verdict not in VERDICTS:
        raise ValueError(f"verdict must be one of {VERDICTS}; got {verdict!r}")
    mlflow = _mlflow(tracking_uri)
    _probe(tracking_uri)
    try:
        with _quiet():
            return _record(
                mlflow, model, settings, tracking_uri, model_name, metrics, params,
                {k: str(v) for k, v in (tags or {}).items() if v is not None}, verdict, run_name,
            )  # fmt: skip
    except (mlflow.exceptions.MlflowException, OSError) as exc:
        raise _not_recorded(tracking_uri, exc, answered=not _lost(exc)) from None


def _record(
    mlflow: Any,
    model: Any,
    settings: Any,
    uri: str,
    name: str,
    metrics: Mapping[str, Any] | None,
    params: Mapping[str, Any] | None,
    tags: dict[str, str],
    verdict: str,
    run_name: str | None,
) -> Recorded:
    client = mlflow.MlflowClient(tracking_uri=uri)
    experiment = _experiment(client, mlflow, os.environ.get("MLFLOW_EXPERIMENT_NAME") or name)
    run = client.create_run(experiment, run_name=run_name, tags=tags)
    run_id = run.info.run_id
    status = "FAILED"
    try:
        params_ = _params(settings, params)
        client.log_batch(
            run_id,
            metrics=[
                mlflow.entities.Metric(k, v, 0, 0) for k, v in _metrics(model, metrics).items()
            ],
            params=[mlflow.entities.Param(k, v) for k, v in params_.items()],
        )
        with tempfile.TemporaryDirectory(prefix="logloss-mlflow-") as tmp:
            folder = model.save(Path(tmp) / "logloss")  # a version folder: model.json + coef.npy
            client.log_artifacts(run_id, str(folder), "logloss")
            _sklearn_flavour(model, Path(tmp) / "model")
            client.log_artifacts(run_id, str(Path(tmp) / "model"), "model")
        _registered(client, mlflow, name)
        version = client.create_model_version(
            name, f"runs:/{run_id}/model", run_id=run_id, tags={**tags, "verdict": verdict}
        ).version
        if verdict == "promoted":
            client.set_registered_model_alias(name, ALIAS, str(version))
        status = "FINISHED"
    finally:
        with contextlib.suppress(mlflow.exceptions.MlflowException, OSError):
            client.set_terminated(run_id, status)
    champion = client.get_registered_model(name).aliases.get(ALIAS)  # (an int in SQL stores)
    return Recorded(
        uri, run_id, name, str(version), verdict, None if champion is None else str(champion)
    )


def record_run(
    plan: RunPlan,
    model: Any,
    metrics: Mapping[str, Any] | None,
    *,
    location: str | None = None,
    version: str | None = None,
    verdict: Verdict = "promoted",
    note: Callable[[Problem], None] | None = None,
) -> Recorded | None:
    """Record a training run that wrote its model to ``location`` (a published version, or
    the model directory; ``version``: a published version's name, the MLflow run's name)
    when the plan (or the environment) gives a tracking URI. None without one, or when the
    server does not answer: ``note`` is told why in one line (else a RuntimeWarning), and
    the run goes on."""
    uri = tracking_uri(plan.mlflow_tracking_uri)
    if uri is None:
        return None
    validation = plan.validation
    params = {
        "data": plan.data,
        "label": plan.label,
        "validation": "none" if validation is None else validation,
        "destination": plan.destination,
    }
    try:
        return record(
            model,
            plan.settings,
            tracking_uri=uri,
            model_name=plan.mlflow_model_name or default_model_name(plan.destination),
            metrics=metrics,
            params=params,
            tags={"logloss_location": location, "logloss_version": version},
            verdict=verdict,
            run_name=version,
        )
    except TrackingError as exc:
        if note is None:
            warnings.warn(exc.problem.render(), RuntimeWarning, stacklevel=2)
        else:
            note(exc.problem)
        return None
