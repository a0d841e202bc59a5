"""Vocabularies: the counting pass (Arrow / NumPy counts, merged in a bounded tree), the
vocabularies stored binary in the model folder, and ONNX export of coded models.

References: the counting pass against ``collections.Counter`` over the rows and Python's
``sorted`` (the rule the encoding's levels follow: values in their natural order, the null
level last; levels seen fewer than ``min_frequency`` times folded into "(infrequent)");
the stored models against the models they were saved from; the ONNX graphs against the
models' ``predict_proba`` through onnxruntime.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from logloss.data import read_parquet
from logloss.data.counting import block_stats, learn, merge
from logloss.data.encoding import CATEGORICAL, NUMERIC, _Where, level_key
from logloss.data.errors import DataError


# ------------------------------------------------------------------ the counting pass
def _reference(rows: list, min_frequency: int) -> tuple[tuple, tuple]:
    counts = Counter(rows)
    levels = sorted(counts, key=level_key)
    return (
        tuple(v for v in levels if counts[v] >= min_frequency),
        tuple(v for v in levels if counts[v] < min_frequency),
    )


def _learned(tables: list[pa.Table], min_frequency: int, limit: int | None = None) -> dict:
    kinds = [(n, CATEGORICAL) for n in tables[0].column_names]
    where = _Where("t", int)
    parts = [block_stats(t, kinds, None, where, "impute", None) for t in tables]
    merged = merge(parts, limit=limit)
    enc = learn(
        kinds,
        merged,
        missing="impute",
        max_categories=None,
        min_frequency=min_frequency,
        source="t",
    )
    return {c.name: (c.levels, c.infrequent) for c in enc.columns}


def _words(rng: np.random.Generator, n: int, k: int) -> list:
    pool = [f"w{i}" for i in range(k)] + ["é", "ß", "Z", "a b", "", "日本", "\U0001f600"]
    p = 1.0 / np.arange(1, len(pool) + 1)
    picks = rng.choice(len(pool), size=n, p=p / p.sum())
    out: list = [pool[i] for i in picks]
    for i in rng.choice(n, size=n // 17, replace=False):
        out[i] = None
    return out


@pytest.mark.parametrize("min_frequency", [1, 3, 40])
def test_levels_and_infrequent_equal_a_counter_over_the_rows(min_frequency):
    """Strings (unicode, the empty string, nulls), integers and bools, split into blocks
    of which some are dictionary-encoded with dictionaries that differ between chunks."""
    rng = np.random.default_rng(0)
    n = 3000
    s, i = _words(rng, n, 300), rng.zipf(1.6, size=n).astype(np.int64) % 500 - 250
    b = rng.random(n) < 0.3
    tables = []
    for lo in range(0, n, 700):
        part = pa.table(
            {"s": pa.array(s[lo : lo + 700]), "i": i[lo : lo + 700], "b": b[lo : lo + 700]}
        )
        if lo % 1400 == 0:  # dictionary-encoded, two chunks of their own dictionaries
            half = part.num_rows // 2
            col = pa.chunked_array(
                [
                    part.column("s").chunk(0)[:half].dictionary_encode(),
                    part.column("s").chunk(0)[half:].dictionary_encode(),
                ]
            )
            part = part.set_column(0, "s", col)
        tables.append(part)
    got = _learned(tables, min_frequency)
    assert got["s"] == _reference(s, min_frequency)
    assert got["i"] == _reference(i.tolist(), min_frequency)
    assert got["b"] == _reference(b.tolist(), min_frequency)


def test_a_dictionary_that_repeats_a_value_is_counted_as_one_level():
    """A Parquet dictionary may hold a value twice (a writer other than Arrow's): its
    counts are added up even when the block is the only one, so a level seen 3 + 3 times
    is frequent at min_frequency 5 and appears once."""
    dictionary = pa.array(["a", "b", "a", "c"])
    indices = pa.array([0, 2, 0, 2, 2, 0, 1, 3], pa.int32())  # "a" 3 + 3 times, b, c once
    t = pa.table({"s": pa.DictionaryArray.from_arrays(indices, dictionary)})
    assert _learned([t], 5)["s"] == (("a",), ("b", "c"))
    assert _learned([t], 1)["s"] == _reference(["a"] * 6 + ["b", "c"], 1)


def test_counts_flow_as_arrow_values_and_int64_counts():
    t = pa.table({"s": ["b", "a", None, "b"], "x": [1.0, None, 3.0, 4.0]})
    kinds = [("s", CATEGORICAL), ("x", NUMERIC)]
    part = block_stats(t, kinds, None, _Where("t", int), "impute", None)
    kind, values, counts = part["s"]
    assert kind == "levels" and isinstance(values, pa.Array) and counts.dtype == np.int64
    assert dict(zip(values.to_pylist(), counts.tolist(), strict=True)) == {"a": 1, "b": 2, None: 1}
    assert part["x"] == ("numeric", 1, 8.0, 3.0)
    kind, values, counts = merge([part, part])["s"]
    assert dict(zip(values.to_pylist(), counts.tolist(), strict=True)) == {"a": 2, "b": 4, None: 2}
    assert merge([part, part])["x"] == ("numeric", 2, 16.0, 6.0)


def test_a_merge_over_its_limit_keeps_a_count_not_the_levels():
    """The tree of merges holds at most ``limit`` levels a column: more become ("many",
    count, inexact), and learn refuses them naming an "at least" count."""
    kinds = [("id", CATEGORICAL)]
    where = _Where("t", int)
    parts = [
        block_stats(
            pa.table({"id": [f"u{k}" for k in range(j, j + 50)]}),
            kinds,
            None,
            where,
            "impute",
            None,
        )
        for j in range(0, 200, 50)
    ]
    assert merge(parts, limit=200)["id"][0] == "levels"
    assert merge(parts, limit=199)["id"] == ("many", 200, False)
    with pytest.raises(
        DataError, match="'id' has at least 200 distinct values, more than --max-categories 199"
    ):
        learn(
            kinds,
            merge(parts, limit=199),
            missing="impute",
            max_categories=199,
            min_frequency=1,
            source="t",
        )


def test_an_all_distinct_column_over_many_files_is_refused_by_the_tree(tmp_path):
    """37 files (10 merges of at most 4 parts, then 3, then the client's) of ids all
    distinct: the count passes --max-categories in the tree and is refused; under it the
    levels are all there, sorted."""
    for j in range(37):
        ids = [f"id{j:02d}-{k:03d}" for k in range(30)]
        pq.write_table(pa.table({"id": ids, "y": [0, 1] * 15}), tmp_path / f"p{j:02d}.parquet")
    with pytest.raises(DataError, match="'id' has at least"):
        read_parquet(tmp_path, "y", max_categories=500)
    ds = read_parquet(tmp_path, "y", max_categories=37 * 30)
    want = sorted(
        f"id={j:02d}-{k:03d}".replace("=", "=id", 1) for j in range(37) for k in range(30)
    )
    assert ds.feature_names == want


def test_parquet_dictionary_pages_are_counted_as_plain_strings_are(tmp_path):
    """The same rows written with and without dictionary pages learn the same levels."""
    rng = np.random.default_rng(3)
    s = _words(rng, 2000, 60)
    y = (rng.random(2000) < 0.4).astype(np.int8)
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    pq.write_table(pa.table({"s": s, "y": y}), a / "1.parquet", row_group_size=300)
    pq.write_table(pa.table({"s": s, "y": y}), b / "1.parquet", use_dictionary=False)
    got = [read_parquet(p, "y", missing="impute", min_frequency=5).encoding for p in (a, b)]
    assert got[0] == got[1]
    assert (got[0].columns[0].levels, got[0].columns[0].infrequent) == _reference(s, 5)


def test_a_dictionary_that_repeats_a_value_counts_it_once():
    """Arrow dictionaries may repeat a value (Parquet's never do): its counts are summed."""
    col = pa.DictionaryArray.from_arrays(pa.array([0, 1, None, 0, 2], pa.int8()), ["q", "q", "a"])
    assert _learned([pa.table({"s": col})], 2) == {"s": (("q",), ("a", None))}


# ------------------------------------------------------------------ vocabularies in files
def _vocabulary_model(levels: tuple, rare: tuple = ("rare",), seed: int = 0):
    """A fitted model of a numeric column and one categorical column of ``levels``."""
    from fitted import fitted_model

    from logloss.data.encoding import ColumnCode, Encoding

    enc = Encoding(
        (ColumnCode("a", NUMERIC, mean=0.5), ColumnCode("user", CATEGORICAL, levels, rare)),
        "impute",
    )
    return fitted_model(enc.width, seed=seed, encoding=enc)


def _frame(users: list):
    import pandas as pd

    return pd.DataFrame(
        {"a": np.linspace(-1, 1, len(users)), "user": pd.Series(users, dtype=object)}
    )


@pytest.mark.parametrize(
    "levels, rare",
    [
        (tuple(f"u{i:06d}" for i in range(30_000)) + (None,), ("rare", "ß")),
        (tuple(range(-15_000, 15_000)), (10**6,)),
        (tuple(f"ü{i}" for i in range(20_000)), ()),
    ],
    ids=["strings-and-null", "integers", "no-infrequent"],
)
def test_a_large_vocabulary_is_a_side_file_and_loads_equal(tmp_path, levels, rare):
    import json

    from logloss import LogisticRegression
    from logloss.storage import read_model

    model = _vocabulary_model(levels, rare)
    version = model.save(tmp_path / "m")
    doc = json.loads((version / "model.json").read_text())
    entry = doc["encoding"]["columns"][1]
    assert entry["levels_file"] == "levels-1.arrow" and "levels" not in entry
    assert (entry["levels_count"], entry["infrequent_count"]) == (len(levels), len(rare))
    assert doc["format_version"] == 3 and doc["feature_names"] is None
    assert (version / "levels-1.arrow").stat().st_size == entry["bytes"]
    back = LogisticRegression.load(tmp_path / "m")
    assert back.encoding_ == model.encoding_
    assert list(back.feature_names_in_) == list(model.feature_names_in_)
    meta, _ = read_model(tmp_path / "m")  # what the report and others read: names derived
    assert meta["feature_names"] == list(model.feature_names_in_)
    unseen = 2**40 if isinstance(levels[0], int) else "never seen"
    users = [levels[0], levels[-1], levels[len(levels) // 2], *rare[:1], unseen]
    np.testing.assert_array_equal(
        back.predict_proba(_frame(users)), model.predict_proba(_frame(users))
    )


def test_a_small_vocabulary_stays_inline_as_format_2(tmp_path):
    import json

    from logloss import LogisticRegression

    model = _vocabulary_model(("a", "b", None), ("c",))
    version = model.save(tmp_path / "m")
    doc = json.loads((version / "model.json").read_text())
    assert doc["format_version"] == 2 and doc["encoding"]["columns"][1]["levels"] == [
        "a",
        "b",
        None,
    ]
    assert not list(version.glob("levels-*"))
    assert LogisticRegression.load(tmp_path / "m").encoding_ == model.encoding_


def test_an_old_folder_with_a_large_inline_vocabulary_still_loads(tmp_path):
    """Folders written before side files hold every level in model.json (format 2)."""
    import json

    from logloss import LogisticRegression
    from logloss.storage import model_meta, model_vector

    model = _vocabulary_model(tuple(f"u{i}" for i in range(20_000)))
    folder = tmp_path / "old"
    folder.mkdir()
    meta = model_meta(model)
    coef, intercept = model_vector(model)
    vec = np.concatenate([coef, intercept])
    meta.update(
        format="logloss-model", format_version=2, coef_file="coef.npy", coef_shape=[vec.size]
    )
    (folder / "model.json").write_text(json.dumps(meta))
    np.save(folder / "coef.npy", vec)
    back = LogisticRegression.load(folder)
    assert back.encoding_ == model.encoding_
    assert list(back.feature_names_in_) == list(model.feature_names_in_)


@pytest.mark.parametrize("defect", ["missing", "flipped", "truncated", "not-arrow", "count"])
def test_a_missing_or_corrupt_side_file_is_refused_in_one_line_naming_it(tmp_path, defect):
    import json

    from logloss import LogisticRegression
    from logloss.storage import ModelFileError

    version = _vocabulary_model(tuple(f"u{i}" for i in range(20_000))).save(tmp_path / "m")
    side = version / "levels-1.arrow"
    data = side.read_bytes()
    if defect == "missing":
        side.unlink()
    elif defect == "flipped":
        side.write_bytes(data[:5000] + bytes([data[5000] ^ 1]) + data[5001:])
    elif defect == "truncated":
        side.write_bytes(data[:-10])
    else:
        doc = json.loads((version / "model.json").read_text())
        entry = doc["encoding"]["columns"][1]
        if defect == "not-arrow":
            junk = b"x" * len(data)
            side.write_bytes(junk)
            import hashlib

            entry["sha256"] = hashlib.sha256(junk).hexdigest()
        else:
            entry["levels_count"] += 1
        (version / "model.json").write_text(json.dumps(doc))
    with pytest.raises(ModelFileError) as info:
        LogisticRegression.load(tmp_path / "m")
    msg = str(info.value)
    assert "\n" not in msg and str(side) in msg
    assert ("missing" if defect == "missing" else "corrupt") in msg


def test_the_cli_refuses_a_model_whose_side_file_is_missing(tmp_path, capsys):
    from logloss.cli import main

    version = _vocabulary_model(tuple(f"u{i}" for i in range(20_000))).save(tmp_path / "m")
    (version / "levels-1.arrow").unlink()
    with pytest.raises(SystemExit) as info:
        main(["export", str(tmp_path / "m"), str(tmp_path / "m.onnx")])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "levels-1.arrow" in err[0] and "missing" in err[0]


@pytest.mark.slow
@pytest.mark.parametrize("n", [1_000_000, 10_000_000])
def test_vocabularies_of_millions_of_levels_save_and_load(tmp_path, n):
    """Seconds printed (``-s``), never asserted; the folder's size is."""
    import time

    from logloss import LogisticRegression

    model = _vocabulary_model(tuple(f"u{i:08d}" for i in range(n)))
    t = time.perf_counter()
    version = model.save(tmp_path / "m")
    saved = time.perf_counter() - t
    t = time.perf_counter()
    back = LogisticRegression.load(tmp_path / "m")
    loaded = time.perf_counter() - t
    size = (version / "levels-1.arrow").stat().st_size
    mib = size / 2**20
    print(f"\n{n:,} levels: saved in {saved:.2f} s, loaded in {loaded:.2f} s, file {mib:.0f} MiB")
    assert (version / "model.json").stat().st_size < 10_000 and size < n * 14 + 4096
    assert back.encoding_ == model.encoding_


# ------------------------------------------------------------------ ONNX
def _onnx_feed(model, frame) -> dict:
    """The graph's inputs from a DataFrame: [N, 1] per column (a null as "(null)"; a
    hashed column as strings)."""
    from logloss.export import _onnx_kind

    out = {}
    for c in model.encoding_.columns:
        values = frame[c.name].tolist()
        if c.kind == "numeric":
            out[c.name] = np.asarray(values, dtype=np.float64).reshape(-1, 1)
        elif _onnx_kind(model.encoding_, c) == "int64":  # the type the graph declares
            out[c.name] = np.asarray(values, dtype=np.int64).reshape(-1, 1)
        else:
            text = ["(null)" if v is None or v != v else str(v) for v in values]
            out[c.name] = np.asarray(text, dtype=object).reshape(-1, 1)
    return out


def _onnx_run(model, frame):
    ort = pytest.importorskip("onnxruntime")
    from logloss.export import to_onnx

    session = ort.InferenceSession(to_onnx(model))
    return session.run(["label", "probabilities"], _onnx_feed(model, frame))


def _mixed_frame(rng: np.random.Generator, n: int):
    import pandas as pd

    s = rng.choice(["x", "y", "z", "w", "é", None], size=n, p=[0.35, 0.3, 0.2, 0.07, 0.03, 0.05])
    return pd.DataFrame(
        {
            "a": rng.normal(size=n),
            "b": np.where(rng.random(n) < 0.2, np.nan, rng.normal(size=n)),
            "s": pd.Series(s, dtype=object),
            "k": rng.integers(0, 30, size=n),
        }
    )


@pytest.mark.parametrize("coding", ["all", "reference"])
@pytest.mark.parametrize("codes", [False, True])
def test_onnx_of_a_vocabulary_model_equals_predict_proba(tmp_path, coding, codes):
    """Numeric columns imputed (with a missing indicator), a string column with a null
    level and an infrequent one, an integer column as categories; as indicators and as
    int32 codes; rows with unseen levels."""
    from logloss.settings import TrainSettings
    from logloss.training.fit import train_model

    rng = np.random.default_rng(5)
    X = _mixed_frame(rng, 600)
    y = (rng.random(600) < 0.3 + 0.3 * (X["s"] == "x")).astype(int)
    path = tmp_path / "d.parquet"
    pq.write_table(pa.Table.from_pandas(X.assign(y=y), preserve_index=False), path)
    ds = read_parquet(
        path,
        "y",
        missing="impute",
        min_frequency=25,
        categorical=["k"],
        categorical_coding=coding,
        codes=codes,
    )
    model = train_model(ds.persist(), TrainSettings(C=10.0, max_iter=300))
    assert model.encoding_.coded == codes
    new = _mixed_frame(np.random.default_rng(6), 50)
    new.loc[:4, "s"] = "never seen"
    new.loc[5:9, "k"] = 1000
    for frame in (X, new):
        label, prob = _onnx_run(model, frame)
        np.testing.assert_allclose(prob, model.predict_proba(frame), rtol=0, atol=1e-6)
        np.testing.assert_array_equal(label, model.predict(frame))


def test_onnx_of_a_hashed_model_with_crosses_equals_predict_proba(tmp_path):
    """Hashed columns (strings, unicode, nulls; an integer column) and a cross in the
    shared 2^B block beside a vocabulary column: FeatureHasher's MurmurHash3 in the graph."""
    import pandas as pd

    from logloss.settings import TrainSettings
    from logloss.training.fit import train_model

    rng = np.random.default_rng(7)
    n = 3000
    words = [f"w{i}" for i in range(400)] + ["é", "日本", "\U0001f600"]
    frame = pd.DataFrame(
        {
            "a": rng.normal(size=n),
            "h": pd.Series([words[i] for i in rng.integers(0, len(words), n)], dtype=object),
            "g": rng.integers(0, 50, size=n),
            "c": pd.Series(rng.choice(["p", "q", "r"], size=n), dtype=object),
        }
    )
    frame.loc[rng.choice(n, 100, replace=False), "h"] = None
    frame["y"] = (rng.random(n) < 0.35).astype(int)
    path = tmp_path / "d.parquet"
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)
    ds = read_parquet(
        path,
        "y",
        missing="impute",
        categorical=["g"],
        hash_bits=6,
        hash_columns=["h", "g"],
        interactions=["h:c"],
    )
    model = train_model(ds.persist(), TrainSettings(C=1.0, hash_bits=6, max_iter=200))
    assert model.encoding_.hash_width == 64 and model.encoding_.interactions == (("h", "c"),)
    X = frame.drop(columns="y")
    label, prob = _onnx_run(model, X)
    # the reference: the model on its own coded blocks of these rows (and scikit-learn's
    # FeatureHasher pipeline, to_sklearn())
    blocks = [b.compute() for b in ds.X.to_delayed().ravel()]
    want = np.vstack([model.predict_proba(b) for b in blocks])
    np.testing.assert_allclose(prob, want, rtol=0, atol=1e-6)
    np.testing.assert_allclose(prob, model.to_sklearn().predict_proba(X), rtol=0, atol=1e-6)
    np.testing.assert_array_equal(label, model.classes_[(want[:, 1] > 0.5).astype(int)])


def test_onnx_of_a_vocabulary_cross_equals_predict_proba_and_a_bag_is_refused(tmp_path):
    """A cross with a vocabulary (a string column with a null level, an integer column):
    kept pairs, rarer ones and unseen ones (the graph had left the cross out: 0.35 apart
    from predict_proba). A list column cannot be an input of one value a row: one line."""
    from logloss.export import to_onnx
    from logloss.settings import TrainSettings
    from logloss.training.fit import train_model

    rng = np.random.default_rng(8)
    X = _mixed_frame(rng, 1500)
    X["k"] = X["k"] % 6
    y = (rng.random(1500) < 0.2 + 0.5 * ((X["s"] == "x") & (X["k"] < 3))).astype(int)
    path = tmp_path / "d.parquet"
    pq.write_table(pa.Table.from_pandas(X.assign(y=y), preserve_index=False), path)
    ds = read_parquet(
        path, "y", missing="impute", min_frequency=15, categorical=["k"], interactions=["s:k"]
    )
    model = train_model(ds.persist(), TrainSettings(C=10.0, max_iter=500))
    (cross,) = model.encoding_.crosses
    assert cross.levels and cross.infrequent and not model.encoding_.hash_width
    new = _mixed_frame(np.random.default_rng(9), 60)
    new["k"] = new["k"] % 6
    new.loc[:9, "k"] = 17  # pairs never seen: "(infrequent)"
    for frame in (X, new):
        label, prob = _onnx_run(model, frame)
        np.testing.assert_allclose(prob, model.predict_proba(frame), rtol=0, atol=1e-6)
        np.testing.assert_allclose(prob, model.to_sklearn().predict_proba(frame), atol=1e-6)
        np.testing.assert_array_equal(label, model.predict(frame))
    tags = pa.array([["a", "b"] if v else ["c"] for v in y[:200] > 0])
    bag = tmp_path / "bag.parquet"
    pq.write_table(pa.table({"tags": tags, "a": X["a"][:200], "y": y[:200]}), bag)
    bagged = train_model(read_parquet(bag, "y").persist(), TrainSettings())
    with pytest.raises(ValueError) as info:
        to_onnx(bagged)
    msg = str(info.value)
    assert "\n" not in msg and "'tags' is a list column" in msg and "to_sklearn()" in msg


def test_onnx_refuses_what_its_inputs_cannot_hold_in_one_line():
    """An integer column's null level: an int64 ONNX input has no null."""
    import pandas as pd

    from logloss import LogisticRegression

    X = pd.DataFrame({"k": pd.array([1, 2, None, 1, 2, 2], dtype="Int64"), "a": np.arange(6.0)})
    model = LogisticRegression(missing="impute", categorical=["k"]).fit(X, [0, 1, 0, 1, 1, 0])
    pytest.importorskip("onnx")
    from logloss.export import to_onnx

    with pytest.raises(ValueError) as info:
        to_onnx(model)
    msg = str(info.value)
    assert "\n" not in msg and "'k'" in msg and "null level" in msg


@pytest.mark.slow
def test_the_counting_pass_of_10m_all_distinct_values_has_a_bounded_peak(tmp_path):
    """10 M distinct ids in 20 files: the tree of merges stops keeping levels above the
    vocabulary's limit (5 M) and the column is refused in one line, at a bounded peak
    (measured in a subprocess: its maximum resident set; 1.7 GiB alone on 2 cores, about
    4 GiB while other test suites ran beside it: Arrow's allocator returns memory later
    under load). The bound is a quarter of the machine's 24 GiB."""
    import subprocess
    import sys

    import pyarrow.compute as pc

    per = 500_000
    for j in range(20):
        ids = pc.binary_join_element_wise(
            "id", pa.array(np.arange(j * per, (j + 1) * per)).cast(pa.string()), ""
        )
        y = pa.array((np.arange(per) % 3 == 0).astype(np.int8))
        pq.write_table(pa.table({"id": ids, "y": y}), tmp_path / f"p{j:02d}.parquet")
    code = (
        "import resource, sys\n"
        "from logloss.data import read_parquet\n"
        "from logloss.data.errors import DataError\n"
        "try:\n"
        f"    read_parquet({str(tmp_path)!r}, 'y')\n"
        "except DataError as exc:\n"
        "    print(exc)\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    message, peak_kib = out.stdout.strip().splitlines()
    print(f"\n{message}\npeak {int(peak_kib) / 2**20:.2f} GiB")
    assert "'id' has at least" in message and "more than a vocabulary holds" in message
    assert int(peak_kib) * 1024 < 6 * 2**30


def test_side_files_on_an_fsspec_store_are_written_and_checked():
    """memory://: the side file is put beside model.json (model.json last) and read back
    through the store; a missing one is refused naming its URL."""
    import fsspec

    from logloss import LogisticRegression
    from logloss.storage import ModelFileError

    model = _vocabulary_model(tuple(f"u{i}" for i in range(20_000)))
    version = str(model.save("memory://vocabio/m"))
    assert LogisticRegression.load("memory://vocabio/m").encoding_ == model.encoding_
    fs = fsspec.filesystem("memory")
    names = sorted(p.rsplit("/", 1)[-1] for p in fs.ls(version, detail=False))
    assert names == ["_version.json", "coef.npy", "levels-1.arrow", "model.json"]
    fs.rm(f"{version.removeprefix('memory://')}/levels-1.arrow")
    with pytest.raises(ModelFileError, match=f"'{version}/levels-1.arrow' of the model is missing"):
        LogisticRegression.load("memory://vocabio/m")
    fs.rm("/vocabio", recursive=True)


def test_a_column_whose_every_level_is_infrequent_exports_to_sklearn_and_onnx(tmp_path):
    """An id seen once a row (strings, and integers), every level below --min-frequency:
    the model has only its "(infrequent)" coefficient. to_sklearn() had refused it
    ("no scikit-learn OneHotEncoder learns that"); its OneHotEncoder now learns one
    infrequent category, and the pipeline and the ONNX graph equal predict_proba."""
    import pandas as pd

    from logloss.settings import TrainSettings
    from logloss.training.fit import train_model

    rng = np.random.default_rng(11)
    n = 800
    X = _mixed_frame(rng, n)
    X["uid"] = pd.Series([f"user-{i}" for i in range(n)], dtype=object)
    X["rid"] = np.arange(10_000, 10_000 + n, dtype=np.int64)
    y = (rng.random(n) < 0.3 + 0.3 * (X["s"] == "x")).astype(int)
    path = tmp_path / "d.parquet"
    pq.write_table(pa.Table.from_pandas(X.assign(y=y), preserve_index=False), path)
    ds = read_parquet(
        path, "y", missing="impute", min_frequency=3, categorical=["k", "rid"], codes=True
    )
    model = train_model(ds.persist(), TrainSettings(C=10.0, max_iter=300))
    by_name = {c.name: c for c in model.encoding_.categorical}
    assert not by_name["uid"].levels and by_name["uid"].infrequent
    assert not by_name["rid"].levels and by_name["rid"].infrequent
    pipe = model.to_sklearn()
    new = _mixed_frame(np.random.default_rng(12), 40)
    new["uid"] = pd.Series(["user-3"] * 20 + ["never"] * 20, dtype=object)
    new["rid"] = np.r_[np.full(20, 10_005), np.full(20, 7)].astype(np.int64)
    for frame in (X, new):
        expected = model.predict_proba(frame)
        np.testing.assert_allclose(pipe.predict_proba(frame), expected, rtol=0, atol=1e-9)
        label, prob = _onnx_run(model, frame)
        np.testing.assert_allclose(prob, expected, rtol=0, atol=1e-6)
