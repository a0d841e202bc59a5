"""The champion: the published model ``latest`` names at a run's output location, read once;
whether it fits the new data (then the fit starts from its coefficients), and its
coefficients mapped onto the new data's features (to score it on the same hold-out).

A model fits the data when it has the same input columns of the same kinds, the same
categorical coding (and, with reference coding, the same reference levels) and the same
labels. Its coefficients map by feature name: a level new in the data gets 0 (as the
champion itself scores an unseen level: all-zero indicators), a level gone is dropped.
Scored that way the champion's margins are its own on the same rows, except with
``missing="impute"``, where a missing value is filled with the new data's mean rather than
the champion's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..data import Dataset
from ..logistic import LogisticCore
from ..storage import ModelFileError
from .plan import TrainPlan

__all__ = ["Champion", "Start", "load_champion", "scorer", "start_from", "started"]


@dataclass(frozen=True)
class Champion:
    """The model in force at the output location and its version's name."""

    model: LogisticCore
    version: str

    @property
    def passes(self) -> int | None:
        """The passes over the data of the champion's own fit (None: not recorded)."""
        start = (getattr(self.model, "training_", None) or {}).get("start") or {}
        return start.get("passes") if isinstance(start.get("passes"), int) else None


@dataclass(frozen=True)
class Start:
    """Where a fit starts: ``init`` (None: cold) and the one line saying so."""

    init: np.ndarray | None
    line: str
    version: str | None = None

    @property
    def warm(self) -> bool:
        return self.init is not None


def load_champion(plan: TrainPlan) -> Champion | None:
    """The model ``latest`` names at the run's output location (None: a first run, or a
    location whose model cannot be read)."""
    from ..storage.files import model_folder

    try:
        folder = model_folder(plan.destination)
        model = LogisticCore.load(plan.destination)
    except (ModelFileError, OSError, ValueError):
        return None
    version = str(folder).rstrip("/").rsplit("/", 1)[-1]
    return Champion(model, version)


def columns_of(model: Any) -> dict[str, str]:
    """The model's input columns and their kinds (numeric, categorical)."""
    enc = getattr(model, "encoding_", None)
    if enc is not None:
        return {c.name: c.kind for c in enc.columns}
    return {str(c): "numeric" for c in getattr(model, "feature_names_in_", [])}


def data_columns(ds: Dataset) -> dict[str, str]:
    """The dataset's input columns and their kinds."""
    if ds.encoding is not None:
        return {c.name: c.kind for c in ds.encoding.columns}
    return dict.fromkeys(ds.feature_names, "numeric")


def misfit(champion: Champion, ds: Dataset, labels: list[Any]) -> str | None:
    """Why the champion does not fit ``ds`` (one clause), or None."""
    old, new = columns_of(champion.model), data_columns(ds)
    if added := [c for c in new if c not in old]:
        return f"column {added[0]!r} is new"
    if gone := [c for c in old if c not in new]:
        return f"column {gone[0]!r} is gone"
    if changed := [c for c in new if new[c] != old[c]]:
        c = changed[0]
        return f"column {c!r} was {old[c]}, is {new[c]}"
    a, b = getattr(champion.model, "encoding_", None), ds.encoding
    if a is not None and b is not None:
        if a.categorical_coding != b.categorical_coding:
            return f"categorical_coding changed ({a.categorical_coding} -> {b.categorical_coding})"
        if (a.hash_bits, tuple(a.interactions)) != (b.hash_bits, tuple(b.interactions)):
            return (
                f"the hashing changed ({a.hash_bits} -> {b.hash_bits} bits, interactions "
                f"{list(a.interactions)} -> {list(b.interactions)})"
            )
        logs = [[c.name for c in e.numeric if c.transform] for e in (a, b)]
        if logs[0] != logs[1]:
            return f"the --log1p columns changed ({logs[0]} -> {logs[1]})"
        refs = [(c.name, a.reference_level(c), b.reference_level(d)) for c, d in _pairs(a, b)]
        if moved := [name for name, x, y in refs if x != y]:
            return f"the reference level of column {moved[0]!r} changed"
    classes = [v.item() if hasattr(v, "item") else v for v in champion.model.classes_]
    if sorted(map(str, labels)) != sorted(map(str, classes)):
        return f"the labels changed ({classes} -> {labels})"
    return None


def _pairs(a: Any, b: Any) -> list[tuple[Any, Any]]:
    by_name = {c.name: c for c in b.categorical}
    return [(c, by_name[c.name]) for c in a.categorical if c.name in by_name]


def mapped(champion: Champion, feature_names: list[str]) -> np.ndarray:
    """The champion's coefficients on ``feature_names`` (0 for a feature it has not), then
    its intercept: a vector of ``len(feature_names) + 1``."""
    m = champion.model
    names = [str(c) for c in getattr(m, "feature_names_in_", [])]
    coef = dict(zip(names, np.asarray(m.coef_[0], dtype=np.float64).tolist(), strict=True))
    out = np.array([coef.get(n, 0.0) for n in feature_names] + [float(m.intercept_[0])])
    return out


def start_from(
    champion: Champion | None, ds: Dataset, *, warm_start: bool, cv: bool, where: str
) -> Start:
    """Where the fit on ``ds`` starts: the champion's coefficients when it fits the data
    (and ``warm_start``), else zeros, with the reason in one line."""
    if not warm_start:
        return Start(None, "cold start: warm_start is off")
    if cv:
        return Start(None, "cold start: a cross-validation search starts each model cold")
    if champion is None:
        return Start(None, f"cold start: no published model at {where}")
    why = misfit(champion, ds, ds.check_labels())
    if why is not None:
        return Start(None, f"cold start: {why}", champion.version)
    init = mapped(champion, list(ds.feature_names))
    return Start(init, f"warm start from {champion.version}", champion.version)


def scorer(champion: Champion, ds: Dataset) -> LogisticCore | None:
    """The champion with its coefficients on ``ds``'s features, to score it on the same
    rows as the challenger; None when it does not fit the data (its columns differ)."""
    if misfit(champion, ds, ds.check_labels()) is not None:
        return None
    vec = mapped(champion, list(ds.feature_names))
    m = LogisticCore(**champion.model.get_params())
    m.set_features(champion.model.classes_, len(ds.feature_names), ds.feature_names, ds.encoding)
    m.feature_names_in_ = np.asarray(ds.feature_names, dtype=object)
    m.coef_, m.intercept_ = vec[:-1].reshape(1, -1), vec[-1:].copy()
    return m


def started(begin: Start | None, model: LogisticCore) -> dict[str, Any]:
    """How the fit started and its passes, for the model's metadata and the summary:
    ``line`` is "warm start from vNNN: K passes" or "cold start: why"."""
    passes = int(getattr(model, "n_passes_", 0))
    if begin is None:
        return {"warm": False, "from": None, "passes": passes, "line": "cold start"}
    line = f"{begin.line}: {passes} passes" if begin.warm else begin.line
    return {"warm": begin.warm, "from": begin.version, "passes": passes, "line": line}
