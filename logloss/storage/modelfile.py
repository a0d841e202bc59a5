"""The model file: ``model.json``'s schema (declared once, with pydantic) and the estimator's
mapping to and from it; ``coef.npy`` read without pickle, its header checked before its data.

``model.json`` holds the metadata: format, library version, parameters, classes, feature
names, the fit summary and history, training facts, the column encoding, a cross-validation
table, and ``coef_shape`` (``[n_features_in + 1]``). ``coef.npy`` holds the float64 vector
``[coef_0 .. coef_{p-1}, intercept]`` in NumPy's format (read with ``allow_pickle=False``
semantics: only a plain float64 header is accepted). Format 1 (logloss 0.1) also listed the
coefficients and their SHA-256 in model.json; it still loads (the list, when present, must
equal coef.npy). Every defect raises :class:`ModelFileError` naming the file, field and value.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import IO, Annotated, Any, Literal

import numpy as np
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    create_model,
    field_validator,
)

from ..settings import TRAIN_SETTINGS, check_setting

FORMAT = "logloss-model"
#: 3: large vocabularies in side files (:mod:`.levels`); 2: no coefficient list in
#: model.json; 1: logloss 0.1. A folder without side files is written as format 2.
FORMAT_VERSION = 3
INT32_MAX = 2**31 - 1  # n_iter_ is an int32 array, as in scikit-learn


class ModelFileError(ValueError):
    """A model that is missing, corrupt, or not a logloss model."""


# ------------------------------------------------------------------ the schema
def _param_rule(name: str) -> Callable[[Any], Any]:
    """The check of ``params[name]``: the training setting's own rule."""

    def check(value: Any) -> Any:
        if name == "penalty":
            if value not in (None, "l2", "deprecated"):
                raise ValueError("must be 'l2', null or 'deprecated'")
            return value
        kind = next(s.kind for s in TRAIN_SETTINGS if s.name == name)
        if name == "class_weight" and isinstance(value, list):
            if not all(
                isinstance(kv, list) and len(kv) == 2 and _number(kv[1]) and 0 <= kv[1] < math.inf
                for kv in value
            ):
                raise ValueError("must be null, 'balanced' or a list of [label, weight >= 0] pairs")
            return value
        if value is None and next(s.default for s in TRAIN_SETTINGS if s.name == name) is None:
            return value  # a number setting whose default is None (no limit)
        if kind in ("int", "float") and not (_number(value) or (name == "C" and value == "inf")):
            raise ValueError("must be a number" + (" or 'inf'" if name == "C" else ""))
        if (kind == "bool" and type(value) is not bool) or (
            kind == "int" and type(value) is not int
        ):
            raise ValueError("must be " + ("true or false" if kind == "bool" else "an integer"))
        try:
            check_setting(name, value)
        except ValueError as exc:
            raise ValueError(str(exc).split(";")[0].removeprefix(name).strip()) from None
        return value

    return check


_PARAM_FIELDS: Any = {
    name: (Annotated[Any, AfterValidator(_param_rule(name))], None)
    for name in [s.name for s in TRAIN_SETTINGS] + ["penalty"]
}
Params = create_model("Params", __config__=ConfigDict(extra="forbid"), **_PARAM_FIELDS)

_LABEL_OK: dict[str, Callable[[Any], bool]] = {
    "bool": lambda v: type(v) is bool,
    "int": lambda v: type(v) is int,
    "float": lambda v: _number(v) and math.isfinite(v),
    "str": lambda v: isinstance(v, str),
}


class Classes(BaseModel):
    model_config = ConfigDict(strict=True, extra="allow")
    kind: Literal["bool", "int", "float", "str"]
    values: list[Any]
    dtype: str | None = None

    @field_validator("values")
    @classmethod
    def _two_labels(cls, values: list[Any], info: ValidationInfo) -> list[Any]:
        kind = info.data.get("kind")
        if len(values) != 2:
            raise ValueError("must list exactly 2 class labels (binary model)")
        if kind is not None and not all(_LABEL_OK[kind](v) for v in values):
            raise ValueError(f"must be two {kind} labels")
        if values[0] == values[1]:
            raise ValueError("must be two different labels")
        return values

    @field_validator("dtype")
    @classmethod
    def _dtype(cls, dtype: str | None, info: ValidationInfo) -> str | None:
        kind, values = info.data.get("kind"), info.data.get("values")
        if kind in (None, "str") or values is None:
            return dtype
        try:
            dt = np.dtype(dtype)
        except TypeError:
            raise ValueError("must be a NumPy dtype string") from None
        if dtype is None or dt.kind not in {"bool": "b", "int": "iu", "float": "f"}[kind]:
            raise ValueError(f"must be a {kind} NumPy dtype")
        if kind == "int" and not all(np.iinfo(dt).min <= v <= np.iinfo(dt).max for v in values):
            raise ValueError(f"must fit the labels {values}")
        return dtype


class ModelDoc(BaseModel):
    """model.json. Field order matters: a field's check sees the fields above it."""

    model_config = ConfigDict(strict=True, extra="allow")
    format: Literal["logloss-model"]
    format_version: int = Field(ge=1, le=FORMAT_VERSION)
    library: Literal["logloss"] = "logloss"
    version: str = ""
    estimator: Literal["LogisticRegression"] = "LogisticRegression"
    n_features_in: int = Field(ge=1)
    coef_file: Literal["coef.npy"] = "coef.npy"
    coef_shape: list[int]
    feature_names: list[str] | None = None
    encoding: dict[str, Any] | None = None
    classes: Classes
    n_iter: int = Field(ge=0, le=INT32_MAX)
    converged: bool
    n_rows: int = Field(0, ge=0)
    history: list[dict[str, Any]] = []
    training: dict[str, Any] | None = None
    params: Params  # type: ignore[valid-type]
    cv: dict[str, Any] | None = None
    coef: list[float] | None = None  # format 1 only
    intercept: float | None = None

    @field_validator("coef_shape")
    @classmethod
    def _shape(cls, shape: list[int], info: ValidationInfo) -> list[int]:
        p = info.data.get("n_features_in")
        if p is not None and shape != [p + 1]:
            raise ValueError(f"must be [{p + 1}] (n_features_in + 1)")
        return shape

    @field_validator("feature_names")
    @classmethod
    def _names(cls, names: list[str] | None, info: ValidationInfo) -> list[str] | None:
        p = info.data.get("n_features_in")
        if names is not None and p is not None and len(names) != p:
            raise ValueError(f"must have n_features_in = {p} names")
        if names is not None and len(set(names)) != len(names):
            raise ValueError(f"must not repeat a name (repeated: {_repeated(names)})")
        return names

    @field_validator("encoding")
    @classmethod
    def _encoding(cls, doc: dict[str, Any] | None, info: ValidationInfo) -> dict[str, Any] | None:
        if doc is None:
            return None
        from ..data.encoding import Encoding

        enc = Encoding.from_json(doc)  # its ValueError names the rule
        if enc.width != info.data.get("n_features_in"):
            raise ValueError(f"must encode n_features_in features; it encodes {enc.width}")
        names = info.data.get("feature_names")
        if names is not None and names != enc.feature_names:
            raise ValueError("must have the feature names in 'feature_names'")
        return doc

    @field_validator("cv")
    @classmethod
    def _cv(cls, cv: dict[str, Any] | None) -> dict[str, Any] | None:
        ok = cv is None or (
            type(cv.get("folds")) is int
            and isinstance(cv.get("Cs"), list)
            and all(_number(c) and c > 0 for c in cv["Cs"])
            and isinstance(cv.get("mean"), list)
            and isinstance(cv.get("std_err"), list)
            and len(cv["mean"]) == len(cv["std_err"])
            and _number(cv.get("C"))
        )
        if not ok:
            raise ValueError("must be a cross-validation table (folds, Cs, mean, std_err, C)")
        return cv


def _number(v: Any) -> bool:
    return type(v) in (int, float)


def _repeated(names: list[str]) -> list[str]:
    return sorted({n for n in names if names.count(n) > 1})


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


def parse_doc(
    raw: bytes, shown: str, prepare: Callable[[dict[str, Any]], None] | None = None
) -> tuple[ModelDoc, dict[str, Any]]:
    """model.json's bytes, checked, and as read; :class:`ModelFileError` naming ``shown``
    and the field on any defect. ``prepare(doc)``: completes the decoded document before it
    is checked (the vocabularies of side files, :func:`.levels.join`)."""
    try:
        doc = json.loads(raw.decode("utf-8"))
    except RecursionError:
        raise ModelFileError(f"{shown!r} is corrupt: JSON nested too deeply") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise ModelFileError(f"{shown!r} is corrupt: not valid JSON ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        found = doc.get("format") if isinstance(doc, dict) else None
        raise ModelFileError(
            f"{shown!r} is not a logloss model file (format {found!r}, expected {FORMAT!r})"
        )
    if prepare is not None:
        prepare(doc)
    try:
        return ModelDoc.model_validate(doc), doc
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        field = ".".join(str(x) for x in err["loc"] if isinstance(x, str))
        item = "".join(f" item {x}" for x in err["loc"] if isinstance(x, int))
        if err["type"] == "missing":
            raise ModelFileError(f"{shown!r}: required field {field!r} is missing") from None
        rule = str(err["msg"]).removeprefix("Value error, ")
        raise ModelFileError(
            f"{shown!r}: field {field!r}{item}: {rule}; got {_shown(err['input'])}"
        ) from None
    except RecursionError:
        raise ModelFileError(f"{shown!r} is corrupt: JSON nested too deeply") from None


def read_coef(fh: IO[bytes], shown: str, doc: ModelDoc) -> np.ndarray:
    """The coefficient vector from an open coef.npy: the header's dtype and shape must be
    float64 and ``doc.coef_shape`` before a byte of data is read, and nothing may follow."""
    fmt = np.lib.format
    try:
        major, _minor = fmt.read_magic(fh)
        read_header = fmt.read_array_header_1_0 if major == 1 else fmt.read_array_header_2_0
        shape, fortran, dtype = read_header(fh)
    except (ValueError, OSError) as exc:
        raise ModelFileError(f"{shown!r} is corrupt: {exc}") from None
    want = tuple(doc.coef_shape)
    if dtype != np.dtype("<f8") or shape != want:
        raise ModelFileError(
            f"{shown!r} is corrupt: it holds {dtype} of shape {shape}; model.json says "
            f"float64 of shape {want}"
        )
    vec = np.empty(int(np.prod(want)), dtype="<f8")
    n, got = vec.nbytes, _read_into(fh, memoryview(vec.data).cast("B"))
    if got == n:
        got += len(fh.read(1))  # nothing may follow
    if got != n:
        raise ModelFileError(f"{shown!r} is corrupt: {got} bytes of data, expected {n}")
    if not np.isfinite(vec).all():
        raise ModelFileError(f"{shown!r}: the coefficients are not all finite")
    return vec


def _read_into(fh: IO[bytes], buf: memoryview) -> int:
    """Fill ``buf`` from ``fh`` (read straight into the array: no copy of 128 MB at 2^24
    coefficients); the number of bytes read (fewer at the end of the file)."""
    done = 0
    readinto = getattr(fh, "readinto", None)
    while done < len(buf):
        if readinto is not None:
            k = readinto(buf[done:])
        else:
            chunk = fh.read(len(buf) - done)
            k = len(chunk)
            buf[done : done + k] = chunk
        if not k:
            break
        done += k
    return done


def check_vector(doc: ModelDoc, vec: np.ndarray, shown: str) -> None:
    """model.json's own copies of the coefficients (0.1's list, the intercept) against
    coef.npy; ``shown`` names model.json."""
    p = doc.n_features_in
    if doc.coef is not None and not np.array_equal(np.asarray(doc.coef), vec[:p]):
        raise ModelFileError(f"{shown!r}: field 'coef' must list the coefficients of coef.npy")
    if doc.intercept is not None and not _same(doc.intercept, vec[p]):
        raise ModelFileError(
            f"{shown!r}: field 'intercept' must equal coef.npy's ({vec[p]!r}); "
            f"got {doc.intercept!r}"
        )


def _same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


def npy_header(n: int) -> bytes:
    """The header of a coef.npy holding ``n`` float64 values (the data follow it raw)."""
    import io

    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": "<f8", "fortran_order": False, "shape": (n,)}
    )
    return buf.getvalue()


# ------------------------------------------------------------ the estimator in model.json
def encode_labels(classes: np.ndarray) -> dict[str, Any]:
    """JSON form of the two class labels, keeping their type (int, float, bool, str)."""
    values = classes.tolist()
    kinds = {"b": "bool", "i": "int", "u": "int", "f": "float"}
    kind = kinds.get(classes.dtype.kind)
    if kind is None and all(isinstance(v, str) for v in values):
        kind = "str"
    if kind is None:
        raise ValueError(f"cannot store class labels of type {classes.dtype}: {values!r}")
    return {"kind": kind, "dtype": classes.dtype.str, "values": values}


def decode_labels(spec: dict[str, Any]) -> np.ndarray:
    if spec["kind"] == "str":
        return np.array(spec["values"], dtype=object)
    return np.array(spec["values"], dtype=np.dtype(spec["dtype"]))


def model_meta(est: Any, training: dict[str, Any] | None = None) -> dict[str, Any]:
    """The model.json document of a fitted estimator (JSON only; no coefficient list)."""
    from ..version import __version__

    params = est.get_params()
    if isinstance(params.get("class_weight"), dict):
        params["class_weight"] = [[k, v] for k, v in params["class_weight"].items()]
    if isinstance(params.get("C"), float) and not np.isfinite(params["C"]):
        params["C"] = "inf"
    names = getattr(est, "feature_names_in_", None)
    encoding = getattr(est, "encoding_", None)
    return {
        "library": "logloss",
        "version": __version__,
        "estimator": "LogisticRegression",
        "params": params,
        "classes": encode_labels(est.classes_),
        "n_features_in": int(est.n_features_in_),
        "feature_names": None if names is None else list(map(str, names)),
        "n_iter": int(est.n_iter_[0]),
        "converged": bool(est.converged_),
        "n_rows": int(getattr(est, "n_rows_", 0)),
        "history": est.history_,
        "intercept": float(est.intercept_[0]),
        "training": dict(training or getattr(est, "training_", {})),
        "encoding": None if encoding is None else encoding.to_json(),
        "cv": getattr(est, "cv_", None),
    }


def model_vector(est: Any) -> tuple[np.ndarray, np.ndarray]:
    """The content of coef.npy as its two parts, the coefficients then the intercept:
    :func:`~logloss.storage.files.save_model` writes them one after the other (never
    concatenated: 2^24 coefficients are 128 MB)."""
    return np.asarray(est.coef_[0], dtype=np.float64), np.asarray(est.intercept_, np.float64)


def estimator_kwargs(meta: dict[str, Any]) -> dict[str, Any]:
    """The estimator's constructor arguments from model.json's "params"."""
    params = dict(meta["params"])
    if isinstance(params.get("class_weight"), list):
        params["class_weight"] = {k: v for k, v in params["class_weight"]}
    if params.get("C") == "inf":
        params["C"] = float("inf")
    return params


def fitted_attributes(meta: dict[str, Any], vec: np.ndarray) -> dict[str, Any]:
    """The fitted attributes (``classes_``, ``coef_`` ...) from model.json and coef.npy."""
    p = int(meta["n_features_in"])
    out: dict[str, Any] = {
        "classes_": decode_labels(meta["classes"]),
        "coef_": vec[:p].reshape(1, p),  # a view: coef.npy's vector is read for the model
        "intercept_": vec[p:].copy(),
        "n_features_in_": p,
        "n_iter_": np.array([int(meta["n_iter"])], dtype=np.int32),
        "converged_": bool(meta["converged"]),
        "history_": list(meta.get("history") or []),
        "n_rows_": int(meta.get("n_rows") or 0),
        "training_": dict(meta.get("training") or {}),
    }
    if meta.get("feature_names") is not None:
        out["feature_names_in_"] = np.asarray(meta["feature_names"], dtype=object)
    if meta.get("encoding") is not None:
        from ..data.encoding import Encoding

        out["encoding_"] = Encoding.from_json(meta["encoding"])
        if meta.get("feature_names") is None and meta.get("format_version", 0) >= 3:
            names = out["encoding_"].feature_names  # not repeated in model.json: derived
            out["feature_names_in_"] = np.asarray(names, dtype=object)
    if meta.get("cv") is not None:
        out["cv_"] = dict(meta["cv"])
    return out
