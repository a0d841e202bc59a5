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
            values = [v for v in c.levels for _ in range(min_frequency)]
            columns[c.name] = values + list(c.infrequent)
    n = max(len(v) for v in columns.values())
    out = {}
    for c in encoding.columns:
        values = columns[c.name]
        if c.kind == "categorical" and not c.levels:
            padding = _unseen_values(c, n - len(values))
        else:
            pad = _raw(c, c.mean) if c.kind == "numeric" else "x" if c.kind == "hashed" else None
            pad = pad if pad is not None or c.kind in BAG_KINDS else c.levels[0]
            padding = [pad] * (n - len(values))
        out[c.name] = pd.Series(values + padding, dtype=object)
        if c.kind == "numeric":
            out[c.name] = out[c.name].astype(np.float64)
        elif c.kind == "categorical" and values and None not in values:
            # an integer (or bool) column's levels in its own dtype: OneHotEncoder's
            # categories of objects fail on the int64 column a user passes
            if all(type(v) is int for v in values):
                out[c.name] = out[c.name].astype(np.int64)
            elif all(type(v) is bool for v in values):
                out[c.name] = out[c.name].astype(bool)
    return pd.DataFrame(out)


def _unseen_values(c: Any, n: int) -> list[Any]:
    """``n`` distinct values none of ``c``'s: a column whose every level is infrequent (an
    id seen fewer than min_frequency times each) pads its synthetic rows with values seen
    once, infrequent to OneHotEncoder as every value of that column is to the model."""
    known = [v for v in c.infrequent if v is not None]
    if known and all(type(v) is int for v in known):
        start = max(known) + 1
        return list(range(start, start + n))
    if known and not all(isinstance(v, str) for v in known):
        raise NotImplementedError(
            f"column {c.name!r} has only infrequent levels of {type(known[0]).__name__}: "
            "no scikit-learn OneHotEncoder learns that"
        )
    taken = set(known)
    fresh = (f"(unseen {i})" for i in range(n + len(taken)))
    return [v for v in fresh if v not in taken][:n]


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
    """The model as an ONNX graph (``pip install 'logloss[onnx]'``); outputs "label" and
    "probabilities" (float64, equal to ``predict_proba`` to rounding).

    A numeric-only model (via skl2onnx): input "X", float64 features in the model's order.
    A model with an encoding (:func:`_encoded_graph`): one input per input column, named
    as the column, of shape [N, 1]: float64 for a numeric column (NaN: missing), string or
    int64 for a categorical or hashed one (a null given as the string "(null)"). The graph
    computes the margin as the model's codes do: a lookup of each value's level
    (``LabelEncoder``), a gather of its coefficient, and for hashed columns and crosses
    the token ``column=value`` hashed as scikit-learn's ``FeatureHasher`` (MurmurHash3,
    seed 0, onnxruntime's com.microsoft domain). ValueError naming what a model holds that
    the graph cannot express (an integer or bool column's null level, a hashed bool)."""
    if getattr(model, "encoding_", None) is not None:
        return _encoded_graph(model, model.encoding_)
    try:
        from skl2onnx import convert_sklearn
        from skl2onnx.common.data_types import DoubleTensorType
    except ImportError:
        raise ImportError(
            "ONNX export needs skl2onnx: pip install 'logloss[onnx]' (skl2onnx, onnxruntime)"
        ) from None
    est = to_sklearn(model)
    inputs = [("X", DoubleTensorType([None, int(model.n_features_in_)]))]
    onx = convert_sklearn(est, initial_types=inputs, options={id(est): {"zipmap": False}})
    return bytes(onx.SerializeToString())


class _Graph:
    """An ONNX graph being built: nodes, constants (initializers), unique names."""

    def __init__(self) -> None:
        self.nodes: list[Any] = []
        self.inits: list[Any] = []
        self.k = 0

    def const(self, value: Any, dtype: Any = None) -> str:
        from onnx import numpy_helper

        self.k += 1
        arr = np.asarray(value, dtype=dtype)
        if arr.dtype.kind in "OUS":
            arr = arr.astype(object)
        self.inits.append(numpy_helper.from_array(arr, name=f"c{self.k}"))
        return f"c{self.k}"

    def op(self, kind: str, *inputs: str, domain: str = "", **attrs: Any) -> str:
        from onnx import helper

        self.k += 1
        out = f"t{self.k}"
        self.nodes.append(helper.make_node(kind, list(inputs), [out], domain=domain, **attrs))
        return out


def _onnx_kind(enc: Encoding, c: Any) -> str:
    """The ONNX input type of column ``c``: "double", "string", "int64" or "bool" (a
    hashed column's is "string": its token is ``column=`` and the value as given)."""
    if c.kind != "categorical":
        return "double" if c.kind == "numeric" else "string"
    values = [v for v in (*c.levels, *c.infrequent) if v is not None]
    if values and all(type(v) is bool for v in values):
        return "bool"
    return "int64" if values and all(type(v) is int for v in values) else "string"


def _level_codes(g: _Graph, x: str, c: Any, kind: str) -> tuple[str, int]:
    """Per row: the code of its level (frequent levels 0.., the infrequent ones and unseen
    values the "(infrequent)" code when there is one, else ``none``), and ``none``."""
    from onnx import TensorProto, helper

    from .data.hashing import NULL_TOKEN

    n, none = len(c.levels), len(c.levels) + 1
    unseen = n if c.infrequent else none
    keys = [v for v in c.levels if v is not None]
    codes = [i for i, v in enumerate(c.levels) if v is not None]
    keys += [v for v in c.infrequent if v is not None]
    codes += [n] * (len(keys) - len(codes))
    if None in c.levels or None in c.infrequent:
        if kind != "string":
            raise ValueError(
                f"ONNX export: column {c.name!r} has a null level, which an {kind} ONNX input "
                "cannot hold; export model.to_sklearn() with skl2onnx and your own types"
            )
        if NULL_TOKEN in keys:
            raise ValueError(
                f"ONNX export: column {c.name!r} has both a null level and the level "
                f"{NULL_TOKEN!r}, which stands for a null in the graph's string inputs"
            )
        keys.append(NULL_TOKEN)
        codes.append(c.levels.index(None) if None in c.levels else unseen)
    if kind == "bool":
        x, keys = g.op("Cast", x, to=7), [int(v) for v in keys]  # (7: int64)
    attrs: dict[str, Any] = {"values_int64s": codes, "default_int64": unseen}
    if kind == "string":
        attrs["keys_strings"] = [str(v) for v in keys]
    else:
        attrs["keys_int64s"] = [int(v) for v in keys]
    if not keys:  # no level to look up: every row is unseen
        value = helper.make_tensor("v", TensorProto.INT64, [1], [unseen])
        return g.op("ConstantOfShape", g.op("Shape", x), value=value), none
    return g.op("LabelEncoder", x, domain="ai.onnx.ml", **attrs), none


def _token(g: _Graph, x: str, name: str, kind: str) -> str:
    """The token ``name=value`` of each row (an int64 input cast to its decimal string)."""
    if kind == "bool":
        raise ValueError(
            f"ONNX export: column {name!r} of a cross holds bools, whose tokens "
            f"('{name}=True') an ONNX cast does not spell; export model.to_sklearn() instead"
        )
    text = x if kind == "string" else g.op("Cast", x, to=8)  # (8: string)
    return g.op("StringConcat", g.const([f"{name}="]), text)


def _cross_term(
    g: _Graph, x: Any, xs: dict[str, str], kinds: dict[str, str], own: np.ndarray
) -> str:
    """A cross with a vocabulary's term: each row's ``A=a^B=b`` (a null side ``(null)``, as
    the feature names spell it) looked up among the kept pairs' names; a rarer or unseen
    pair takes ``A^B=(infrequent)``'s coefficient if there is one, else none."""
    a, b = x.pair
    token = g.op(
        "StringConcat", g.op("StringConcat", _token(g, xs[a], a, kinds[a]), g.const(["^"])),
        _token(g, xs[b], b, kinds[b]),
    )  # fmt: skip
    kept = x.feature_names()[: len(x.levels)]
    n = len(kept)
    unseen = n if x.infrequent else n + 1
    per_code = np.zeros(n + 2)
    per_code[: len(own)] = own
    if kept:
        code = g.op(
            "LabelEncoder", token, domain="ai.onnx.ml", keys_strings=kept,
            values_int64s=list(range(n)), default_int64=unseen,
        )  # fmt: skip
    else:  # no pair kept: every row is rarer or unseen
        from onnx import TensorProto, helper

        value = helper.make_tensor("v", TensorProto.INT64, [1], [unseen])
        code = g.op("ConstantOfShape", g.op("Shape", token), value=value)
    return g.op("Gather", g.const(per_code, np.float64), code)


def _hashed_terms(
    g: _Graph, enc: Encoding, xs: dict[str, str], kinds: dict[str, str], w: np.ndarray
) -> list[str]:
    """The hashed block's terms: per hashed column and cross, sign * w[bucket] of its token
    (scikit-learn's FeatureHasher: index abs(h) % 2^B, the sign of h; abs in int64 makes
    h = -2^31 what scikit-learn special-cases)."""
    start = enc.width - enc.hash_width
    table = g.const(w[start : start + enc.hash_width], np.float64)
    toks = {
        c: _token(g, xs[c], c, kinds[c])
        for c in {c.name for c in enc.hashed} | {c for p in enc.interactions for c in p}
    }
    tokens = [toks[c.name] for c in enc.hashed]
    tokens += [
        g.op("StringConcat", g.op("StringConcat", toks[a], g.const(["^"])), toks[b])
        for a, b in enc.interactions
    ]
    terms = []
    for t in tokens:
        h = g.op("Cast", g.op("MurmurHash3", t, domain="com.microsoft", positive=0, seed=0), to=7)
        bucket = g.op("Mod", g.op("Abs", h), g.const(enc.hash_width, np.int64))
        sign = g.op("Where", g.op("Less", h, g.const(0, np.int64)), g.const(-1.0), g.const(1.0))
        terms.append(g.op("Mul", sign, g.op("Gather", table, bucket)))
    return terms


def _encoded_graph(model: Any, enc: Encoding) -> bytes:
    """The ONNX graph of an encoded model (see :func:`to_onnx`)."""
    try:
        from onnx import TensorProto, helper
    except ImportError:
        raise ImportError("ONNX export needs onnx: pip install 'logloss[onnx]'") from None
    for c in enc.bags:
        raise ValueError(
            f"ONNX export: column {c.name!r} is a list column (a bag of tokens), which the "
            f"graph's inputs of one value a row cannot hold; export model.to_sklearn() (skops) "
            f"or score with logloss predict"
        )
    g, w = _Graph(), np.asarray(model.coef_[0], dtype=np.float64)
    types = {
        "double": TensorProto.DOUBLE,
        "string": TensorProto.STRING,
        "int64": TensorProto.INT64,
        "bool": TensorProto.BOOL,
    }
    kinds = {c.name: _onnx_kind(enc, c) for c in enc.columns}
    flat = g.const([-1], np.int64)
    xs = {c.name: g.op("Reshape", c.name, flat) for c in enc.columns}
    terms = [g.const(np.full(1, float(model.intercept_[0])))]
    ind = len(enc.numeric)
    for j, c in enumerate(enc.numeric):  # a missing value is the training mean
        missing = g.op("IsNaN", xs[c.name])
        filled = g.op("Where", missing, g.const(c.mean, np.float64), xs[c.name])
        terms.append(g.op("Mul", filled, g.const(w[j], np.float64)))
        if c.indicator:
            terms.append(g.op("Where", missing, g.const(w[ind], np.float64), g.const(0.0)))
            ind += 1
    for c, (_, sl) in zip(enc.categorical, enc.categorical_slices(), strict=True):
        code, none = _level_codes(g, xs[c.name], c, kinds[c.name])
        per_code = np.zeros(none + 1)
        own = w[sl]
        if enc.reference:
            own = np.concatenate([[0.0], own])  # the reference level (code 0) has none
        per_code[: len(own)] = own
        terms.append(g.op("Gather", g.const(per_code, np.float64), code))
    k = len(enc.numeric) + len(enc.indicators) + sum(enc.column_width(c) for c in enc.categorical)
    for x in enc.crosses:  # a vocabulary of pairs: the feature name A=a^B=b looked up
        terms.append(_cross_term(g, x, xs, kinds, w[k : k + x.width]))
        k += x.width
    if enc.hash_width:
        terms += _hashed_terms(g, enc, xs, kinds, w)
    z = g.op("Sum", *terms)
    p1 = g.op("Sigmoid", z)
    one = g.op("Unsqueeze", p1, g.const([1], np.int64))
    zero = g.op("Sub", g.const([[1.0]]), one)
    g.nodes.append(helper.make_node("Concat", [zero, one], ["probabilities"], axis=1))
    classes = np.asarray(model.classes_)
    kind = {"b": "bool", "i": "int64", "u": "int64", "f": "double"}.get(
        classes.dtype.kind, "string"
    )
    labels = g.const(
        classes.astype({"bool": bool, "int64": np.int64, "double": np.float64}.get(kind, object))
    )
    label = g.op("Cast", g.op("Greater", z, g.const(0.0)), to=7)
    g.nodes.append(helper.make_node("Gather", [labels, label], ["label"]))
    graph = helper.make_graph(
        g.nodes,
        "logloss",
        [
            helper.make_tensor_value_info(c.name, types[kinds[c.name]], [None, 1])
            for c in enc.columns
        ],
        [
            helper.make_tensor_value_info("label", types[kind], [None]),
            helper.make_tensor_value_info("probabilities", TensorProto.DOUBLE, [None, 2]),
        ],
        initializer=g.inits,
    )
    opsets = [helper.make_opsetid("", 21), helper.make_opsetid("ai.onnx.ml", 3)]
    opsets += [helper.make_opsetid("com.microsoft", 1)] if enc.hash_width else []
    onx = helper.make_model(graph, opset_imports=opsets, producer_name="logloss")
    onx.ir_version = 10
    return bytes(onx.SerializeToString())
