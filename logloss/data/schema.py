"""The column plan: which columns are features, label and weight, decided from all footers.

Type rules: features and weights must be numeric (int, float or bool); the label may also be a
string (or a dictionary of strings). A list of strings or integers is a multi-valued
(bag) feature (:mod:`.bags`). A used column must be in every file, once, with one type;
a hive partition key is a column only when it is numeric in every file and no file also holds
a column of that name.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from .arrow import numpy_dtype
from .bags import BAG, BAG_KINDS, HASHED_BAG, bag_type_error, is_bag_type, is_list
from .discovery import _parse_number_kind
from .encoding import CATEGORICAL, NUMERIC, Encoding
from .errors import DataError, _some_files
from .footers import _Footer

_DTYPES = ("float64", "float32")


def _numeric(t: pa.DataType) -> bool:
    return bool(pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t))


def _categorical_type(t: pa.DataType) -> bool:
    """Types read as categorical by default: strings, dictionaries and bool."""
    return bool(pa.types.is_dictionary(t) or _stringy(t) or pa.types.is_boolean(t))


def _feature_type(t: pa.DataType) -> bool:
    """Types a feature may have: numeric (int, float, decimal, bool) or categorical."""
    return bool(_numeric(t) or pa.types.is_decimal(t) or _categorical_type(t) or is_bag_type(t))


def _type_family(t: pa.DataType) -> str:
    """Types that are one column kind across files: the string forms (plain, large,
    dictionary-encoded) are one; every other type is itself."""
    if _stringy(t):
        return "string"
    if is_bag_type(t):  # list, large_list, of strings or dictionaries or integers
        return "bag"
    return str(t)


def _stringy(t: pa.DataType) -> bool:
    if pa.types.is_dictionary(t):
        t = t.value_type
    return bool(pa.types.is_string(t) or pa.types.is_large_string(t))


@dataclass(frozen=True)
class _Plan:
    features: tuple[str, ...]
    label: str | None
    weight: str | None
    dtype: str
    file_columns: tuple[str, ...]  # columns to read from the files
    drop_invalid: bool
    invalid_hint: str | None = None  # appended to value errors as " (<hint>)"
    kinds: tuple[str, ...] = ()  # per feature: "numeric" or "categorical" (empty: numeric)
    missing: str = "error"  # "error", "drop" or "impute"
    encoding: Encoding | None = None  # the learned encoding (None: numeric features as is)
    ignored: tuple[tuple[str, str], ...] = ()  # (column, type) left out of automatic features
    log1p: tuple[str, ...] = ()  # numeric features read as log(1 + x) (--log1p)

    @property
    def needs_encoding(self) -> bool:
        bags = BAG in self.kinds
        return (
            CATEGORICAL in self.kinds
            or bags
            or bool(self.log1p)
            or (self.missing == "impute" and bool(self.features))
        )

    @property
    def feature_kinds(self) -> list[tuple[str, str]]:
        return list(
            zip(self.features, self.kinds or ("numeric",) * len(self.features), strict=True)
        )


def _partition_kinds(footers: list[_Footer]) -> dict[str, type]:
    """Numeric partition keys present in every file, mapped to int or float."""
    keys: dict[str, type] | None = None
    for footer in footers:
        kinds = {}
        for key, value in footer.file.partition:
            kinds[key] = _parse_number_kind(value)
        if keys is None:
            keys = {k: v for k, v in kinds.items() if v is not str}
        else:
            keys = {
                k: (float if float in (v, kinds[k]) else int)
                for k, v in keys.items()
                if kinds.get(k, str) is not str
            }
    return keys or {}


def _available(footer: _Footer) -> str:
    cols = list(footer.schema.names) + [k for k, _ in footer.file.partition]
    return ", ".join(repr(c) for c in cols)


def _field_types(footer: _Footer) -> dict[str, list[pa.DataType]]:
    """Column name -> the types of the file's columns of that name (several if duplicated)."""
    out: dict[str, list[pa.DataType]] = {}
    for f in footer.schema:
        out.setdefault(f.name, []).append(f.type)
    return out


def _type_groups(
    footers: list[_Footer], types: list[dict[str, list[pa.DataType]]], name: str
) -> str:
    """'double in a, b; int64 in c' for the files that hold column ``name``."""
    groups: dict[str, list[str]] = {}
    for footer, cols in zip(footers, types, strict=True):
        if name in cols:
            groups.setdefault(str(cols[name][0]), []).append(footer.file.path)
    return "; ".join(f"{t} in file {_some_files(paths)}" for t, paths in sorted(groups.items()))


@dataclass(frozen=True)
class _Files:
    """The footers sorted by path, with what the column checks need from them."""

    ordered: list[_Footer]
    types: list[dict[str, list[pa.DataType]]]
    partition_kinds: dict[str, type]
    partition_keys: set[str]
    auto: bool  # features were not given: every numeric column is a feature

    @classmethod
    def of(cls, footers: list[_Footer], auto: bool) -> _Files:
        ordered = sorted(footers, key=lambda f: f.file.path)
        return cls(
            ordered,
            [_field_types(f) for f in ordered],
            _partition_kinds(ordered),
            {k for f in ordered for k, _ in f.file.partition},
            auto,
        )

    @property
    def reference(self) -> _Footer:
        return self.ordered[0]

    def paths(self, indices: Sequence[int]) -> list[str]:
        return [self.ordered[i].file.path for i in indices]


def _check_arguments(
    label: str | None, features: Sequence[str] | None, weight: str | None
) -> list[str] | None:
    """The features asked for (``None``: all numeric), checked against label and weight."""
    if isinstance(features, str):
        raise TypeError("features must be a sequence of column names, not a string")
    if weight is not None and weight == label:
        raise DataError(f"weight column must differ from the label column; got {weight!r}")
    if features is None:
        return None
    feats = list(features)
    if not feats:
        raise DataError("features must name at least one column; got an empty list")
    dupes = sorted({f for f in feats if feats.count(f) > 1})
    if dupes:
        raise DataError(
            f"feature columns must be distinct; got {', '.join(repr(d) for d in dupes)} "
            f"more than once in features {feats}"
        )
    for role, name in (("label", label), ("weight", weight)):
        if name is not None and name in feats:
            raise DataError(
                f"column {name!r} cannot be both a feature and the {role} column; "
                f"remove it from features"
            )
    return feats


def _auto_features(
    files: _Files, label: str | None, weight: str | None, exclude: Sequence[str] = ()
) -> tuple[list[str], list[tuple[str, str]]]:
    """Every column of a feature type (numeric or categorical) in at least one file, in order
    of first appearance by path, but the ``exclude`` ones; and the (column, type) of the
    others, left out."""
    names: list[str] = []
    for cols in files.types:
        names += [n for n in cols if n not in names]
    feats, ignored = [], []
    for n in names:
        if n in (label, weight) or n in exclude:
            continue
        types = [t for c in files.types for t in c.get(n, [])]
        if any(_feature_type(t) for t in types):
            feats.append(n)
        else:
            ignored.append((n, str(types[0])))
    if not feats and exclude:
        raise DataError(f"no feature columns left: every feature column is excluded ({exclude})")
    if not feats:
        reference = files.reference
        raise DataError(
            f"no feature columns in file {reference.file.path} besides the label "
            f"{label!r}; available columns: {_available(reference)}"
        )
    return feats, ignored


def _why_not_feature(
    name: str,
    files: _Files,
    ignored: dict[str, str],
    label: str | None,
    weight: str | None,
    exclude: Sequence[str],
) -> str:
    """Why ``name`` is not a feature column, for the error of a flag that names it."""
    if name == label:
        return f"{name!r} is the label"
    if name == weight:
        return f"{name!r} is the weight column"
    if name in exclude:
        return f"{name!r} is excluded (--exclude)"
    if name in ignored:
        return (
            f"{name!r} is {ignored[name]}: dates, times, binary and nested columns are not "
            f"features; cast it to string (or a number) in the data to use it"
        )
    if any(name in cols for cols in files.types):
        return f"{name!r} is not among the features asked for"
    reference = files.reference
    return f"no column {name!r} in file {reference.file.path}; its columns: {_available(reference)}"


def _check_not_shadowed(files: _Files, name: str, role: str, holders: list[int]) -> None:
    """A name must not be a hive partition key in a file that also holds a column of it."""
    both = [
        files.ordered[i].file.path
        for i in holders
        if any(k == name for k, _ in files.ordered[i].file.partition)
    ]
    if both:
        raise DataError(
            f"column names must be unambiguous; {role} column {name!r} is both a hive "
            f"partition key (directory {name}=...) and a column in file {_some_files(both)}"
        )


def _check_partition_column(files: _Files, name: str, role: str) -> None:
    """A name held by no file must be a numeric partition key of every file."""
    if name in files.partition_kinds:
        return
    ordered, n_files, reference = files.ordered, len(files.ordered), files.reference
    if name in files.partition_keys:
        bad = [
            f.file.path
            for f in ordered
            if _parse_number_kind(dict(f.file.partition).get(name, "")) is str
        ]
        raise DataError(
            f"partition column {name!r} must be numeric in every file to be used; "
            f"got non-numeric or missing values in {len(bad)} of {n_files} files: "
            f"{_some_files(bad)}"
        )
    where = f"file {reference.file.path}" if n_files == 1 else f"any of {n_files} files"
    raise DataError(
        f"{role} column {name!r} not found in {where}; available columns"
        f"{'' if n_files == 1 else ' in ' + reference.file.path}: {_available(reference)}"
    )


def _check_in_every_file(files: _Files, name: str, role: str, holders: list[int]) -> None:
    n_files = len(files.ordered)
    if len(holders) == n_files:
        return
    absent = [i for i in range(n_files) if i not in set(holders)]
    missing = files.paths(absent)
    first_missing = files.ordered[absent[0]]
    hint = (
        "; every numeric column is a feature when features are not given: exclude it, "
        "or name the features explicitly, to leave it out"
        if files.auto and role == "feature"
        else ""
    )
    raise DataError(
        f"{role} column {name!r} not found in {len(missing)} of {n_files} files: "
        f"{_some_files(missing)} (available columns in {first_missing.file.path}: "
        f"{_available(first_missing)}); every file must hold the used columns{hint}"
    )


def _check_type(files: _Files, name: str, role: str, holders: list[int]) -> None:
    """Once per file, one type in all files, and a type the role accepts."""
    types = files.types
    dup = [i for i in holders if len(types[i][name]) > 1]
    if dup:
        raise DataError(
            f"column names must be unique within a file; {role} column {name!r} appears "
            f"{len(types[dup[0]][name])} times in file {_some_files(files.paths(dup))}"
        )
    kinds = {_type_family(types[i][name][0]) for i in holders}
    if len(kinds) > 1:
        raise DataError(
            f"files must agree on column types; {role} column {name!r} is "
            f"{_type_groups(files.ordered, types, name)}"
        )
    t = types[holders[0]][name][0]
    if role == "label":
        if not (_numeric(t) or _stringy(t)):
            raise DataError(
                f"label column {name!r} must be numeric, bool or string; got type {t} "
                f"in file {_some_files(files.paths(holders))}"
            )
    elif role == "feature":
        if is_list(t) and not is_bag_type(t):
            raise bag_type_error(name, t, _some_files(files.paths(holders)))
        if not _feature_type(t):
            raise DataError(
                f"feature column {name!r} must be numeric (int, float, decimal, bool) or "
                f"categorical (string, dictionary); got type {t} in file "
                f"{_some_files(files.paths(holders))}"
            )
    elif not _numeric(t):
        raise DataError(
            f"{role} column {name!r} must be numeric (int, float or bool); got type {t} "
            f"in file {_some_files(files.paths(holders))}"
        )


def _check_column(files: _Files, name: str, role: str) -> bool:
    """Check one used column; True if it is read from the files, False for a partition key."""
    holders = [i for i, cols in enumerate(files.types) if name in cols]
    _check_not_shadowed(files, name, role, holders)
    if not holders:
        _check_partition_column(files, name, role)
        return False
    _check_in_every_file(files, name, role, holders)
    _check_type(files, name, role, holders)
    return True


@dataclass(frozen=True)
class ColumnOptions:
    """How feature columns are read: kinds forced either way, missing values, level limits;
    or the ``encoding`` of a trained model, which decides all of it."""

    categorical: tuple[str, ...] = ()
    numeric: tuple[str, ...] = ()
    missing: str = "error"
    max_categories: int | None = None
    min_frequency: int = 1
    encoding: Encoding | None = None
    categorical_coding: str = "all"
    exclude: tuple[str, ...] = ()
    hash_bits: int | None = None  # hash categorical columns into 2^hash_bits buckets
    hash_columns: tuple[str, ...] | None = None  # those (categorical); None: by size
    interactions: tuple[tuple[str, str], ...] = ()  # crosses, hashed (categorical)


def _check_excluded(
    files: _Files, exclude: Sequence[str], label: str | None, weight: str | None
) -> None:
    """Excluded columns must exist (in some file, or as a partition key) and be neither the
    label nor the weight."""
    if isinstance(exclude, str):
        raise TypeError("exclude must be a sequence of column names, not a string")
    held = {n for cols in files.types for n in cols} | files.partition_keys
    for name in exclude:
        for role, column in (("label", label), ("weight", weight)):
            if name == column:
                raise DataError(
                    f"column {name!r} is the {role} column: it cannot be excluded from the features"
                )
        if name not in held:
            reference = files.reference
            n = len(files.ordered)
            where = f"file {reference.file.path}" if n == 1 else f"any of {n} files"
            raise DataError(
                f"excluded column {name!r} not found in {where}; available columns"
                f"{'' if n == 1 else ' in ' + reference.file.path}: {_available(reference)}"
            )


def _column_type(files: _Files, name: str) -> pa.DataType | None:
    for cols in files.types:
        if name in cols:
            return cols[name][0]
    return None  # a partition key: numeric


def column_kind(
    name: str, t: pa.DataType | None, categorical: Sequence[str], numeric: Sequence[str]
) -> str:
    """numeric or categorical for a column of type ``t`` (None: a numeric partition key):
    strings, dictionaries and bool are categorical by default, numbers numeric;
    ``categorical`` forces integers/floats categorical, ``numeric`` forces bool numeric."""
    if t is None:
        return CATEGORICAL if name in categorical else NUMERIC
    if is_bag_type(t):  # a multi-valued column, whatever --categorical says
        if name in numeric:
            raise DataError(f"column {name!r} has type {t}: it cannot be numeric (--numeric)")
        return BAG
    if name in numeric:
        if _categorical_type(t) and not pa.types.is_boolean(t):
            raise DataError(
                f"column {name!r} has type {t}: it cannot be numeric (--numeric); leave it "
                f"out of --numeric to use it as categorical"
            )
        return NUMERIC
    if name in categorical or _categorical_type(t):
        return CATEGORICAL
    return NUMERIC


def _check_model_kinds(files: _Files, encoding: Encoding) -> None:
    """The data's columns must have the kinds the model was trained with."""
    for c in encoding.columns:
        t = _column_type(files, c.name)
        if t is None:
            continue
        string = _stringy(t) or pa.types.is_dictionary(t)
        if (
            (c.kind in BAG_KINDS) != is_bag_type(t)
            or (c.kind == NUMERIC and string)
            or (c.kind == CATEGORICAL and _level_family(c) == "str" and not string)
        ):
            holders = [i for i, cols in enumerate(files.types) if c.name in cols]
            if c.kind in BAG_KINDS:
                was = "a list column (a bag of tokens)"
            elif c.kind == CATEGORICAL:
                was = "a categorical column of strings"
            else:
                was = f"a {c.kind} column"
            raise DataError(
                f"column {c.name!r} was {was} when the model was trained; got type {t} in "
                f"file {_some_files(files.paths(holders))}"
            )


def _level_family(c: Any) -> str:
    values = [v for v in (*c.levels, *c.infrequent) if v is not None]
    return "str" if values and isinstance(values[0], str) else "number"


def _make_plan(
    footers: list[_Footer],
    label: str | None,
    features: Sequence[str] | None,
    weight: str | None,
    dtype: str,
    drop_invalid: bool,
    invalid_hint: str | None = None,
    options: ColumnOptions | None = None,
) -> tuple[_Plan, dict[str, type]]:
    """Decide the columns from all footers; the decision does not depend on the file order.

    Files are considered sorted by path; with ``features=None`` the feature order is the column
    order of the first file by path. A used column (feature, label, weight) must be present in
    every file, once, with one type; with ``features=None`` every column of a feature type
    (numeric or categorical) in some file counts as used, and columns of other types (dates,
    binary, nested) are left out (``plan.ignored``).
    """
    options = options or ColumnOptions()
    exclude: Sequence[str] = options.exclude
    if options.encoding is not None:
        features = options.encoding.input_columns
        exclude = ()  # a trained model's columns, as trained
    asked = _check_arguments(label, features, weight)
    files = _Files.of(footers, auto=features is None)
    _check_excluded(files, exclude, label, weight)
    ignored: list[tuple[str, str]] = []
    if asked is not None:
        feats = [f for f in asked if f not in exclude]
    else:
        feats, ignored = _auto_features(files, label, weight, exclude)
    if not feats:
        raise DataError(
            f"no feature columns left: every feature column is excluded ({list(exclude)})"
        )
    crossed = tuple(c for pair in options.interactions for c in pair)
    hashed = (*(options.hash_columns or ()), *crossed)
    for flag, names in (
        ("--categorical", options.categorical),
        ("--numeric", options.numeric),
        ("--hash-columns", options.hash_columns or ()),
        ("--interactions", crossed),
    ):
        unknown = [n for n in names if n not in feats]
        if unknown:
            why = _why_not_feature(unknown[0], files, dict(ignored), label, weight, exclude)
            raise DataError(f"{flag} names column(s) that are not features: {unknown} ({why})")
    used = [*feats] + [c for c in (label, weight) if c is not None]
    file_columns = []
    for name in used:
        role = "label" if name == label else "weight" if name == weight else "feature"
        if _check_column(files, name, role):
            file_columns.append(name)
    if options.encoding is not None:
        _check_model_kinds(files, options.encoding)
        kinds = tuple(
            CATEGORICAL if c.kind == "hashed" else BAG if c.kind == HASHED_BAG else c.kind
            for c in options.encoding.columns
        )
        # applied as trained: imputed if it imputed, else a missing value is an error
        # (rows are dropped only when the caller asks: predictions keep every row)
        impute = options.encoding.missing == "impute"
        missing = "impute" if impute else "drop" if drop_invalid else "error"
    else:
        kinds = tuple(
            column_kind(n, _column_type(files, n), (*options.categorical, *hashed), options.numeric)
            for n in feats
        )
        missing = "drop" if drop_invalid else options.missing
        bagged = [n for n, k in zip(feats, kinds, strict=True) if k == BAG and n in crossed]
        if bagged:
            raise DataError(
                f"--interactions names multi-valued (list) column(s) {bagged}: a cross takes "
                f"two single-valued categorical columns"
            )
    plan = _Plan(
        tuple(feats),
        label,
        weight,
        dtype,
        tuple(file_columns),
        missing == "drop",
        invalid_hint,
        kinds=kinds,
        missing=missing,
        encoding=options.encoding,
        ignored=tuple(ignored),
    )
    return plan, {k: v for k, v in files.partition_kinds.items() if k in used}


def _label_dtype(footers: list[_Footer], label: str, partition_kinds: dict[str, type]) -> Any:
    if label in partition_kinds:
        return np.dtype(np.int64 if partition_kinds[label] is int else np.float64)
    t = footers[0].schema.field(label).type
    if _stringy(t):
        return np.dtype(object)
    return numpy_dtype(t)
