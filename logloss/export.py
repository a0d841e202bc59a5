"""A fitted logloss model as a fitted scikit-learn estimator, for tools that take those
(skops, skl2onnx, mlflow.sklearn).

Conventions
-----------
- Numeric-only models become a ``sklearn.linear_model.LogisticRegression`` with the same
  ``coef_``, ``intercept_`` and ``classes_`` (and ``feature_names_in_`` when known).
- Models with an encoding (categorical or imputed columns) become a ``Pipeline`` of a
  ``ColumnTransformer`` (``SimpleImputer(strategy="mean", add_indicator=True)`` on the numeric
  columns, ``OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=K)`` on the
  categorical ones) and that LogisticRegression; it takes a pandas DataFrame of the input columns.
  With ``categorical_coding="reference"`` the encoder drops each column's reference level
  (``OneHotEncoder(drop=[first level of each column])``, the level's value itself).
  The transformers are fitted on a few synthetic rows built so that they learn exactly the
  model's means, missing indicators, levels and infrequent levels; the result's
  ``predict_proba`` equals logloss's (the tests check 1e-12).
- Hashed columns (:mod:`logloss.data.hashing`) become a third part of the
  ColumnTransformer: a ``FunctionTransformer`` making each row's tokens ``column=value``
  (:func:`logloss.data.hashing.row_tokens`: a null is ``column=(null)``, an integer-valued
  float an integer) and ``FeatureHasher(n_features=2**B, input_type="string",
  alternate_sign=True)``: the model's shared block of 2^B features, last; the crosses'
  tokens ``A=a^B=b`` join each row's list, and so do the hashed multi-valued columns' tokens
  ``column=token`` (one per list element: ``FeatureHasher`` sums repeats, as logloss does).
- A multi-valued column with a vocabulary (:mod:`logloss.data.bags`) becomes, after the
  hashed block, a ``FunctionTransformer`` mapping each row's list to its feature names
  (:func:`logloss.data.bags.bag_documents`: a token outside the vocabulary is
  ``column=(infrequent)``) and ``CountVectorizer(analyzer=as_tokens, binary=True,
  vocabulary=the model's names)``: binary features, as logloss's. A cross with a
  vocabulary (:mod:`logloss.data.crosses`) is the same pair after the categorical part:
  :func:`logloss.data.crosses.cross_documents` (each row's ``A=a^B=b``, or
  ``A^B=(infrequent)``) and that ``CountVectorizer`` over the cross's names.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .data.bags import BAG, BAG_KINDS, HASHED_BAG
from .data.encoding import Encoding

__all__ = ["to_onnx", "to_sklearn"]


def _logistic_regression(model: Any) -> Any:
    from sklearn.linear_model import LogisticRegression

    kw: dict[str, Any] = {
        "C": float(model.C),
        "fit_intercept": bool(model.fit_intercept),
        "tol": float(model.tol),
        "max_iter": int(model.max_iter),
    }
    if model.class_weight is not None:
        kw["class_weight"] = model.class_weight
    if float(getattr(model, "l1_ratio", 0.0)) > 0 and math.isfinite(model.C):
        kw["l1_ratio"] = float(model.l1_ratio)
    lr = LogisticRegression(**kw)
    lr.coef_ = np.array(model.coef_, dtype=np.float64, copy=True)
    lr.intercept_ = np.array(model.intercept_, dtype=np.float64, copy=True)
    lr.classes_ = np.array(model.classes_, copy=True)
    lr.n_features_in_ = int(model.n_features_in_)
    lr.n_iter_ = np.array(model.n_iter_, copy=True)
    return lr


def _raw(c: Any, value: float) -> float:
    """The input value that column ``c``'s transform takes to ``value`` (log1p: expm1)."""
    return float(np.expm1(value)) if c.transform == "log1p" else value


def _numeric_part(encoding: Encoding) -> Any:
    """The numeric columns' scikit-learn part: log(1 + x) of the ``--log1p`` columns, then
    the mean imputer with its missing indicators."""
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    from .data.values import log1p_columns

    imputer = SimpleImputer(strategy="mean", add_indicator=True)
    logs = [i for i, c in enumerate(encoding.numeric) if c.transform == "log1p"]
    if not logs:
        return imputer
    log1p = FunctionTransformer(log1p_columns, kw_args={"columns": logs})
    return Pipeline([("log1p", log1p), ("impute", imputer)])


def _synthetic_rows(encoding: Encoding, min_frequency: int) -> Any:
    """A DataFrame on which the scikit-learn transformers learn exactly ``encoding``."""
    import pandas as pd

    columns: dict[str, list[Any]] = {}
    for c in encoding.columns:
        if c.kind == "numeric":
            columns[c.name] = [_raw(c, c.mean)] + ([np.nan] if c.indicator else [])
        elif c.kind == "hashed":
            columns[c.name] = ["x"]  # hashing learns nothing
        elif c.kind in BAG_KINDS:
            columns[c.name] = [[]]  # a fixed vocabulary, or hashing: nothing learnt
        else:
            if not c.levels:
                raise NotImplementedError(
                    f"column {c.name!r} has only infrequent levels: no scikit-learn "
                    "OneHotEncoder learns that"
                )
            values = [v for v in c.levels for _ in range(min_frequency)]
            columns[c.name] = values + list(c.infrequent)
    n = max(len(v) for v in columns.values())
    out = {}
    for c in encoding.columns:
        values = columns[c.name]
        pad = _raw(c, c.mean) if c.kind == "numeric" else "x" if c.kind == "hashed" else None
        pad = pad if pad is not None or c.kind in BAG_KINDS else c.levels[0]
        out[c.name] = pd.Series(values + [pad] * (n - len(values)), dtype=object)
        if c.kind == "numeric":
            out[c.name] = out[c.name].astype(np.float64)
    return pd.DataFrame(out)


def _dropped(encoding: Encoding) -> list[Any] | None:
    """OneHotEncoder's ``drop``: each categorical column's reference level (reference
    coding), or None (every level keeps its indicator)."""
    if not encoding.reference:
        return None
    out = []
    for c in encoding.categorical:
        if not c.levels or c.levels[0] is None:
            raise NotImplementedError(
                f"column {c.name!r}: its reference is the infrequent or the null level, "
                "which a scikit-learn OneHotEncoder cannot drop by value"
            )
        out.append(c.levels[0])
    return out


def _hasher(encoding: Encoding) -> Any:
    """The hashed columns' scikit-learn part: their tokens, then ``FeatureHasher``."""
    from sklearn.feature_extraction import FeatureHasher
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    from .data.hashing import row_tokens

    names = [c.name for c in encoding.hashed]
    pairs = [list(p) for p in encoding.interactions]
    bags = [c.name for c in encoding.bags if c.kind == HASHED_BAG]
    kw = {"columns": names, "interactions": pairs, "bags": bags}
    tokens = FunctionTransformer(row_tokens, kw_args=kw)
    hasher = FeatureHasher(n_features=encoding.hash_width, input_type="string", alternate_sign=True)
    return Pipeline([("tokens", tokens), ("hasher", hasher)])


def _bag_vectorizer(encoding: Encoding, c: Any) -> Any:
    """A vocabulary bag's scikit-learn part: its feature names per row, then a binary
    ``CountVectorizer`` over the model's names of that column."""
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    from .data.bags import as_tokens, bag_documents

    kw = {"column": c.name, "levels": list(c.levels), "infrequent": bool(c.infrequent)}
    names = encoding._indicator_names(c, drop=False)
    vectorizer = CountVectorizer(analyzer=as_tokens, binary=True, vocabulary=names, lowercase=False)
    return Pipeline(
        [("tokens", FunctionTransformer(bag_documents, kw_args=kw)), ("count", vectorizer)]
    )


def _cross_vectorizer(x: Any) -> Any:
    """A cross's scikit-learn part: each row's feature name, then a ``CountVectorizer``."""
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    from .data.bags import as_tokens
    from .data.crosses import cross_documents

    names = x.feature_names()
    kept = names[: len(x.levels)]
    kw = {"pair": list(x.pair), "levels": kept, "infrequent": bool(x.infrequent)}
    vectorizer = CountVectorizer(analyzer=as_tokens, binary=True, vocabulary=names)
    tokens = FunctionTransformer(cross_documents, kw_args=kw)
    return Pipeline([("tokens", tokens), ("count", vectorizer)])


def to_sklearn(model: Any) -> Any:
    """The fitted scikit-learn equivalent of ``model`` (see the module's conventions)."""
    lr = _logistic_regression(model)
    encoding = getattr(model, "encoding_", None)
    if encoding is None:
        names = getattr(model, "feature_names_in_", None)
        if names is not None:
            lr.feature_names_in_ = np.asarray(names, dtype=object)
        return lr
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    k = int(getattr(model, "min_frequency", 1) or 1)
    if k == 1 and any(c.infrequent for c in encoding.categorical):
        k = 2  # the synthetic rows: k of each level, one of each infrequent one
    numeric = [c.name for c in encoding.numeric]
    categorical = [c.name for c in encoding.categorical]
    parts = []
    if numeric:
        parts.append(("num", _numeric_part(encoding), numeric))
    if categorical:
        encoder = OneHotEncoder(
            handle_unknown="infrequent_if_exist" if k > 1 else "ignore",
            min_frequency=k if k > 1 else None,
            drop=_dropped(encoding),
        )
        parts.append(("cat", encoder, categorical))
    for x in encoding.crosses:  # crosses with a vocabulary, after the categorical part
        parts.append((f"cross_{x.name}", _cross_vectorizer(x), list(x.pair)))
    if encoding.hash_width:
        used = [c.name for c in encoding.hashed]
        used += [c for pair in encoding.interactions for c in pair]
        used += [c.name for c in encoding.bags if c.kind == HASHED_BAG]
        parts.append(("hash", _hasher(encoding), list(dict.fromkeys(used))))
    for c in encoding.bags:  # the bags' vocabulary features come last
        if c.kind == BAG:
            parts.append((f"bag_{c.name}", _bag_vectorizer(encoding, c), c.name))
    columns = ColumnTransformer(parts)
    columns.fit(_synthetic_rows(encoding, k))
    width = int(columns.transform(_synthetic_rows(encoding, k).iloc[:1]).shape[1])
    if width != encoding.width:  # pragma: no cover - a level set scikit-learn cannot learn
        raise NotImplementedError(
            f"the scikit-learn transformers give {width} features; the model has {encoding.width}"
        )
    return Pipeline([("columns", columns), ("logistic", lr)])


def to_onnx(model: Any) -> bytes:
    """The model as an ONNX graph (via skl2onnx, ``pip install 'logloss[onnx]'``): input "X",
    float64 features in the model's order; outputs "label" and "probabilities" (equal to
    ``predict_proba`` to rounding). Models with an encoding (categorical or imputed
    columns) are refused: onnxruntime has no float64 imputer, and float32 would change the
    probabilities; export ``model.to_sklearn()`` with your own input types instead."""
    try:
        from skl2onnx import convert_sklearn
        from skl2onnx.common.data_types import DoubleTensorType
    except ImportError:
        raise ImportError(
            "ONNX export needs skl2onnx: pip install 'logloss[onnx]' (skl2onnx, onnxruntime)"
        ) from None
    if getattr(model, "encoding_", None) is not None:
        raise ValueError(
            "ONNX export covers numeric-only models; this one encodes categorical or missing "
            "values: convert model.to_sklearn() (a scikit-learn Pipeline) with skl2onnx and "
            "the input types of your columns"
        )
    est = to_sklearn(model)
    inputs = [("X", DoubleTensorType([None, int(model.n_features_in_)]))]
    onx = convert_sklearn(est, initial_types=inputs, options={id(est): {"zipmap": False}})
    return bytes(onx.SerializeToString())
