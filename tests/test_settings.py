"""The training settings are defined once (logloss.settings) and every entry point agrees."""

from __future__ import annotations

import argparse
import inspect
import math

import numpy as np
import pytest

from logloss import LogisticRegression
from logloss.cli import build_parser, train_settings
from logloss.settings import (
    CV_SETTING_NAMES,
    DATA_SETTING_NAMES,
    TRAIN_SETTINGS,
    check_setting,
    defaults,
    fit_settings,
    normalise,
)
from logloss.solvers import SOLVERS

NAMES = [s.name for s in TRAIN_SETTINGS]


def _same(a, b) -> bool:
    return a == b or (
        isinstance(a, float) and isinstance(b, float) and math.isnan(a) == math.isnan(b)
    )


def _train_parser() -> argparse.ArgumentParser:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices["train"]


def test_the_estimator_has_one_parameter_per_setting_with_its_default():
    params = inspect.signature(LogisticRegression.__init__).parameters
    got = {k: p.default for k, p in params.items() if k not in ("self", "penalty")}
    assert got == fit_settings(defaults())  # the cross-validation settings are not a fit's
    assert CV_SETTING_NAMES == {"cv", "Cs", "l1_ratios"}
    assert DATA_SETTING_NAMES == {"exclude", "log1p"}
    # neither the search's settings nor how the data are read are a fit's
    assert set(defaults()) - set(got) == CV_SETTING_NAMES | DATA_SETTING_NAMES
    assert params["penalty"].default == "deprecated"  # the deprecated alias, as scikit-learn


def test_the_cv_estimator_has_the_search_settings_instead_of_c():
    from logloss import LogisticRegressionCV

    params = inspect.signature(LogisticRegressionCV.__init__).parameters
    got = {k: p.default for k, p in params.items() if k != "self"}
    own = {"Cs", "l1_ratios", "cv", "scoring", "refit"}
    expected = {
        k: v
        for k, v in defaults().items()
        if k not in ("C", "l1_ratio", "cv") and k not in DATA_SETTING_NAMES
    }
    assert {k: v for k, v in got.items() if k not in own} == {
        k: v for k, v in expected.items() if k not in own
    }
    assert got["Cs"] == defaults()["Cs"] and got["l1_ratios"] is None
    assert got["cv"] == 5  # scikit-learn's default; 0 (no search) has no meaning here


def test_the_cli_has_one_option_per_setting_with_its_default():
    args = _train_parser().parse_args(["data.parquet", "--label", "y", "--out", "m"])
    assert train_settings(args) == defaults()


def test_the_train_flow_has_one_parameter_per_setting_with_its_default():
    from flows.train import train

    params = inspect.signature(train.fn).parameters
    assert {k: params[k].default for k in NAMES} == defaults()


def test_the_flow_command_line_has_the_same_options():
    from flows import train as module

    seen = {}

    def fake_train(**kwargs):  # capture what main() would run; no flow is started
        seen.update(kwargs)
        return "ok"

    original = module.train
    module.train = fake_train
    try:
        module.main(["--C", "0.5", "--no-intercept", "--checkpoint-every", "3"])
    finally:
        module.train = original
    expected = dict(defaults(), C=0.5, fit_intercept=False, checkpoint_every=3)
    assert {k: seen[k] for k in NAMES} == expected


def test_solver_choices_are_the_registered_solvers():
    choices = next(s.choices for s in TRAIN_SETTINGS if s.name == "solver")
    assert set(choices) == set(SOLVERS) | {"auto"}


@pytest.mark.parametrize(
    "name,value",
    [
        ("tol", "inf"),
        ("tol", float("nan")),
        ("learning_rate", "inf"),
        ("C", 0),
        ("C", "nan"),
        ("max_iter", 1.5),
        ("checkpoint_every", 0),
        ("solver", "sgd"),
        ("standardize", "maybe"),
    ],
)
def test_bad_values_are_refused_the_same_way_everywhere(name, value, capsys):
    with pytest.raises(ValueError, match=f"^{name} must be"):
        check_setting(name, value)
    with pytest.raises((ValueError, TypeError)):
        LogisticRegression(**{name: value}).fit(np.eye(4), [0, 1, 0, 1])
    option = next(s.option for s in TRAIN_SETTINGS if s.name == name)
    if next(s.kind for s in TRAIN_SETTINGS if s.name == name) != "bool":
        with pytest.raises(SystemExit) as exc:
            _train_parser().parse_args(["d", "--label", "y", "--out", "m", option, str(value)])
        assert exc.value.code == 2
        assert f"{name} must be" in capsys.readouterr().err


def test_c_inf_means_no_penalty_and_penalty_none_is_its_deprecated_alias():
    assert normalise({"C": "inf"})["C"] == math.inf
    args = _train_parser().parse_args(["d", "--label", "y", "--out", "m", "--penalty", "none"])
    assert train_settings(args)["C"] == math.inf
