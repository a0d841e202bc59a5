"""The data checks between runs: the new data against the champion's training data.

- the schema (:func:`schema_problem`): a column of the champion gone from the files, or
  of another kind now; the run fails before fitting, naming the column;
- the label rate (its change), the null rate per column, the rate of rows with a level
  the champion never saw per categorical column, and the population stability index of
  each numeric column between the champion's decile bins and the new rows in them.

The numbers come from passes over the persisted blocks (:func:`logloss.metrics.profile`):
one for the sums, the label rate, a row sample and the rows in the champion's bins, one for
the rows in this data's own decile bins (stored with the model for the next run).
Each check has a threshold (a setting; None: measured, not enforced) that blocks
promotion (:class:`~logloss.training.gate.Check`); PSI over 0.2 is flagged without one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np

from ..data import DataError, Dataset, footer_stats
from ..metrics.profile import decile_edges, profile_pass, psi
from ..prepare import remember_moments
from ..windows import Window
from .champion import Champion, columns_of, data_columns
from .gate import Check, CheckRules

__all__ = ["CheckRules", "DataChecks", "data_checks", "footer_checks", "schema_problem"]

#: PSI above which a column is flagged even without ``drift_max_psi`` (a customary level).
PSI_WARN = 0.2


@dataclass
class DataChecks:
    """The profile of the new data (stored with the model: ``rows``, ``label_rate``,
    ``null_rate`` per column, ``numeric`` {column: {edges, counts}}) and the checks
    against the champion's (none without one but the null rates)."""

    profile: dict[str, Any]
    checks: list[Check] = field(default_factory=list)
    champion_version: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "champion_version": self.champion_version,
            "checks": [c.to_json() for c in self.checks],
        }


def schema_problem(champion: Champion | None, ds: Dataset) -> DataError | None:
    """A DataError naming the first column of the champion that ``ds``'s files lack, or
    whose kind changed (the run fails before fitting); None when the schema holds."""
    if champion is None:
        return None
    old, new = columns_of(champion.model), data_columns(ds)
    v = champion.version
    for path, columns in ds.file_columns:
        if gone := [c for c in old if c not in columns]:
            return DataError(
                f"schema change: column {gone[0]!r} of the champion ({v}) is gone from "
                f"file {path}: refused before fitting"
            )
    left_out = dict(ds.ignored)
    for c, kind in old.items():
        now = new.get(c) or left_out.get(c)
        if now is not None and now != kind:
            return DataError(
                f"schema change: column {c!r} was {kind} in the champion ({v}), is {now} "
                f"in {ds.source}: refused before fitting"
            )
    return None


def _kind(t: Any) -> str:
    """The kind logloss gives an Arrow type: numeric, categorical, or the type's name."""
    import pyarrow as pa

    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "numeric"
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_boolean(t):
        return "categorical"
    if pa.types.is_list(t) or pa.types.is_large_list(t):  # a multi-valued column, a bag
        return "bag"
    return "categorical" if pa.types.is_dictionary(t) else str(t)


def footer_checks(
    data: str,
    features: list[str] | None,
    skip: set[Any],
    champion: dict[str, str] | None = None,
    forced: dict[str, str] | None = None,
    window: Window | None = None,
) -> DataError | None:
    """From the Parquet footers of ``data`` only (no data read): a DataError naming the
    first column of the ``champion`` (its columns and kinds) gone or of another kind
    (``forced``: kinds the settings give columns), or the first feature column whose every
    row is null by the footers' statistics (``skip``: label, weight, excluded); else None,
    also when the footers cannot be read here (the data layer then reads and refuses).
    With a ``window`` over partitions, only its partitions' files are opened and counted."""

    def wanted(schema: Any) -> list[str]:
        return [n for n in features or schema.names if n not in skip]

    try:
        found = footer_stats(data, wanted, lambda path: _in_window(path, window))
    except Exception:  # the data layer reads (and refuses) what this cannot
        return None
    schema, nulls, rows = found.schema, found.nulls, found.rows
    names = list(nulls)
    for c, kind in (champion or {}).items():
        if c not in schema.names:
            return DataError(
                f"schema change: column {c!r} of the champion is gone from {data}: refused "
                "before fitting"
            )
        now = (forced or {}).get(c) or _kind(schema.field(c).type)
        kind = {"hashed": "categorical", "hashed_bag": "bag"}.get(kind, kind)  # its type's
        if now != kind and c in names:
            return DataError(
                f"schema change: column {c!r} was {kind} in the champion, is {now} "
                f"({schema.field(c).type}) in {data}: refused before fitting"
            )
    if gone := [n for n in names if rows and nulls.get(n) == rows]:
        return DataError(
            f"column {gone[0]!r} arrives all null ({rows:,} of {rows:,} rows of {data}): "
            f"refused before fitting"
        )
    return None


def _in_window(path: str, window: Window | None) -> bool:
    """Whether the file at ``path`` is in a window over partitions (by its path only)."""
    if window is None or window.column is not None:
        return True
    found = re.search(rf"(?:^|/){re.escape(window.key)}=(\d{{4}}-\d{{2}}-\d{{2}})", path)
    return found is not None and window.holds_day(date.fromisoformat(found.group(1)))


def _numeric(ds: Dataset) -> list[tuple[str, int]]:
    """(name, column of X) of the numeric input columns: X's first columns."""
    if ds.encoding is None:
        return [(str(n), j) for j, n in enumerate(ds.feature_names)]
    return [(c.name, j) for j, c in enumerate(ds.encoding.numeric)]


def _positive(ds: Dataset) -> Any:
    labels = ds.check_labels()
    try:
        return sorted(labels)[-1]
    except TypeError:
        return sorted(labels, key=repr)[-1]


def _rates(ds: Dataset, sums: np.ndarray, rows: int) -> tuple[dict[str, float], dict[str, Any]]:
    """Null rates per input column, and level counts per categorical column, from the sums
    of X's indicator columns (a coded block's from its codes' counts; the hashed features
    have no sums here, see :func:`_sums_stop`)."""
    null = dict.fromkeys(ds.input_columns, 0.0)
    levels: dict[str, dict[str, float]] = {}
    enc = ds.encoding
    if enc is None or len(sums) != _sums_stop(ds) or not rows:
        return null, levels
    first = len(enc.numeric)
    for i, c in enumerate(enc.indicators):
        null[c.name] = float(sums[first + i]) / rows
    by_name = {c.name: c for c in enc.categorical}
    for name, sl in enc.categorical_slices():
        col = by_name[name]
        names = [n.split("=", 1)[1] for n in enc._indicator_names(col)]
        counts = dict(zip(names, sums[sl].tolist(), strict=True))
        ref = enc.reference_level(col)
        if ref is not None:
            counts[ref.split("=", 1)[1]] = rows - float(sums[sl].sum())
        levels[name] = counts
        null[name] = counts.get("(null)", 0.0) / rows
    return null, levels


def _sums_stop(ds: Dataset) -> int:
    """How many of X's features the profile sums: those before the hashed block (the hashed
    and bag features, last, are read by no check; 2^B buckets per block would cost O(2^B)
    each)."""
    enc = ds.encoding
    return ds.n_features if enc is None else enc.width - enc.hash_width - enc.bag_width


def _unseen(champion: Champion, levels: dict[str, dict[str, float]], rows: int) -> list[Check]:
    enc = getattr(champion.model, "encoding_", None)
    if enc is None or not rows:
        return []
    out = []
    for c in enc.categorical:
        if c.name not in levels:
            continue
        seen = {"(null)" if v is None else str(v) for v in (*c.levels, *c.infrequent)}
        new = sum(n for lv, n in levels[c.name].items() if lv not in seen)
        out.append(Check("unseen_levels", c.name, new / rows))
    return out


def data_checks(
    rules: CheckRules, ds: Dataset, champion: Champion | None, *, moments: bool = False
) -> DataChecks:
    """The profile of ``ds`` and its checks against ``champion``'s stored profile
    (thresholds: ``rules``); two passes over the blocks. With ``moments``, the first also
    finds X's moments, kept for the fit that follows (:func:`logloss.prepare.remember_moments`:
    its moments pass is one fewer over the blocks)."""
    numeric = _numeric(ds)
    cols = [j for _, j in numeric]
    positive = _positive(ds)
    old = (getattr(champion.model, "training_", None) or {}).get("profile") if champion else None
    old = old if isinstance(old, dict) else None
    against = [(n, j, (old or {}).get("numeric", {}).get(n)) for n, j in numeric]
    binned = [(n, j, np.asarray(b["edges"]), b["counts"]) for n, j, b in against if b]
    first = profile_pass(
        ds.X,
        ds.y,
        positive=positive,
        cols=cols,
        binned=[j for _, j, _, _ in binned],
        edges=[e for _, _, e, _ in binned] if binned else None,
        sums=_sums_stop(ds),
        moments=moments,
    )
    if moments:
        remember_moments(ds.X, first.moments)
    sample = first.sample
    edges = [decile_edges(sample[:, i]) for i in range(len(cols))]
    own = profile_pass(
        ds.X, None, positive=positive, cols=[], binned=cols, edges=edges, sample=False, sums=0
    )
    rows = first.rows
    rate = first.positives / rows if rows else None
    null, levels = _rates(ds, first.sums, rows)
    profile = {
        "rows": rows,
        "positive": str(positive),
        "label_rate": rate,
        "null_rate": null,
        "numeric": {
            n: {"edges": e.tolist(), "counts": c.tolist()}
            for (n, _), e, c in zip(numeric, edges, own.counts or [], strict=True)
        },
    }
    checks = [
        Check("null_rate", c, r, rules.check_max_null_rate, "check_max_null_rate")
        for c, r in null.items()
    ]
    if champion is not None and old is not None:
        before = old.get("label_rate")
        if isinstance(before, float) and rate is not None:
            checks.append(
                Check(
                    "label_rate_change",
                    None,
                    abs(rate - before),
                    rules.check_label_rate_change,
                    "check_label_rate_change",
                )
            )
        for (n, _, _, expected), actual in zip(binned, first.counts or [], strict=True):
            value = psi(expected, actual)
            checks.append(Check("psi", n, value, rules.drift_max_psi, "drift_max_psi", PSI_WARN))
    if champion is not None:
        for c in _unseen(champion, levels, rows):
            checks.append(
                Check(
                    c.name, c.column, c.value, rules.check_max_unseen_rate, "check_max_unseen_rate"
                )
            )
    return DataChecks(profile, checks, None if champion is None else champion.version)
