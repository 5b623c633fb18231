"""xgboost, lightgbm and catboost models saved by mlflow load without trust: their native formats are data,
loaded by mlflow's own flavor module, and lightgbm's pickled or skops scikit-learn models are
verified against the exact allow-list. Attacks through each route are still refused."""

from __future__ import annotations

import os
import pickle
import shutil
import sys
import textwrap

import mlflow
import pytest
import yaml

import fastpyfunc
from fastpyfunc.exceptions import MalformedModelError, UnsafeModelError

from conftest import assert_same, require


class Reduce:
    def __init__(self, fn, *args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


@pytest.fixture(scope="module")
def boosting_models(tmp_path_factory, iris):
    """{name: model dir saved by mlflow}."""
    xgb = require("xgboost")
    lgb = require("lightgbm")
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = iris
    root = tmp_path_factory.mktemp("boosting")
    out = {}

    def save(name, saver, model, **kw):
        out[name] = root / name
        saver(model, str(out[name]), **kw)

    booster = xgb.train({"objective": "multi:softprob", "num_class": 3}, xgb.DMatrix(X, label=y), 5)
    save("xgb_booster", mlflow.xgboost.save_model, booster)
    save("xgb_classifier", mlflow.xgboost.save_model, xgb.XGBClassifier(n_estimators=5).fit(X, y))
    save(
        "xgb_regressor_json",
        mlflow.xgboost.save_model,
        xgb.XGBRegressor(n_estimators=5).fit(X, y.astype(float)),
        model_format="json",
    )
    lgb_booster = lgb.train(
        {"objective": "multiclass", "num_class": 3, "verbose": -1}, lgb.Dataset(X, label=y), 5
    )
    save("lgb_booster", mlflow.lightgbm.save_model, lgb_booster)
    clf = lgb.LGBMClassifier(n_estimators=5, verbose=-1).fit(X, y)
    for fmt in ("skops", "pickle", "cloudpickle"):
        save(f"lgb_classifier_{fmt}", mlflow.lightgbm.save_model, clf, serialization_format=fmt)
    pipe = make_pipeline(StandardScaler(), xgb.XGBClassifier(n_estimators=5)).fit(X, y)
    save("sklearn_xgb_pipeline", mlflow.sklearn.save_model, pipe, serialization_format="pickle")
    pipe = make_pipeline(StandardScaler(), lgb.LGBMRegressor(n_estimators=5, verbose=-1)).fit(X, y)
    save("sklearn_lgb_pipeline", mlflow.sklearn.save_model, pipe, serialization_format="cloudpickle")
    cb = require("catboost")
    save(
        "cb_classifier",
        mlflow.catboost.save_model,
        cb.CatBoostClassifier(iterations=5, verbose=False, allow_writing_files=False).fit(X, y),
    )
    reg = cb.CatBoostRegressor(iterations=5, verbose=False, allow_writing_files=False).fit(X, y.astype(float))
    save("cb_regressor_json", mlflow.catboost.save_model, reg, format="json")
    return out


NAMES = [
    "xgb_booster",
    "xgb_classifier",
    "xgb_regressor_json",
    "lgb_booster",
    "lgb_classifier_skops",
    "lgb_classifier_pickle",
    "lgb_classifier_cloudpickle",
    "sklearn_xgb_pipeline",
    "sklearn_lgb_pipeline",
    "cb_classifier",
    "cb_regressor_json",
]


@pytest.mark.parametrize("name", NAMES)
def test_loads_without_trust_and_matches_mlflow(boosting_models, iris, name, monkeypatch):
    monkeypatch.delenv("FASTPYFUNC_TRUST_CODE", raising=False)
    d = boosting_models[name]
    report = fastpyfunc.scan(str(d))
    assert report.safe, repr(report)
    X = iris[0].head(25)
    expected = mlflow.pyfunc.load_model(str(d)).predict(X.copy())
    assert_same(fastpyfunc.load_model(str(d)).predict(X.copy()), expected)
    assert_same(fastpyfunc.load_model(str(d), trust_code=True).predict(X.copy()), expected)


def _edit_mlmodel(d, edit):
    doc = yaml.safe_load((d / "MLmodel").read_text())
    edit(doc)
    (d / "MLmodel").write_text(yaml.safe_dump(doc))


def test_xgboost_model_class_outside_the_list_is_refused(boosting_models, tmp_path, monkeypatch):
    """mlflow.xgboost imports the MLmodel's model_class and calls it: importing a module runs it."""
    marker = tmp_path / "marker"
    mods = tmp_path / "mods"
    mods.mkdir()
    (mods / "evil_xgb_mod.py").write_text(
        textwrap.dedent(f"""
            open({str(marker)!r}, "w").close()
            class Model:
                def load_model(self, path):
                    pass
        """)
    )
    monkeypatch.syspath_prepend(str(mods))
    d = tmp_path / "m"
    shutil.copytree(boosting_models["xgb_classifier"], d)
    _edit_mlmodel(d, lambda doc: doc["flavors"]["xgboost"].update(model_class="evil_xgb_mod.Model"))
    with pytest.raises(UnsafeModelError) as e:
        fastpyfunc.load_model(str(d))
    assert e.value.key == "flavors.xgboost.model_class" and "evil_xgb_mod.Model" in str(e.value)
    assert str(d) in str(e.value) and "trust_code=True" in str(e.value)
    assert not marker.exists()
    assert not fastpyfunc.scan(str(d)).safe
    assert not marker.exists()
    # with trust, mlflow's behaviour: the module is imported
    fastpyfunc.load_model(str(d), trust_code=True)
    assert marker.exists()
    sys.modules.pop("evil_xgb_mod", None)


@pytest.mark.parametrize("fmt", ["pickle", "cloudpickle"])
def test_lightgbm_pickle_payload_is_refused(boosting_models, tmp_path, fmt):
    marker = tmp_path / "marker"
    d = tmp_path / "m"
    shutil.copytree(boosting_models[f"lgb_classifier_{fmt}"], d)
    (d / "model.pkl").write_bytes(pickle.dumps(Reduce(os.system, f"touch {marker}"), protocol=4))
    with pytest.raises(UnsafeModelError) as e:
        fastpyfunc.load_model(str(d))
    assert e.value.key == "model.pkl" and "posix.system" in str(e.value), str(e.value)
    report = fastpyfunc.scan(str(d))
    assert not report.safe and report.files[0].verdict == "unsafe", repr(report)
    assert not marker.exists()


def test_lightgbm_skops_trusted_types_of_the_model_are_ignored(boosting_models, tmp_path):
    """A skops file holding a type nobody trusts, listed in the MLmodel's own trusted types."""
    require("skops")
    import skops.io
    from sklearn.preprocessing import FunctionTransformer

    d = tmp_path / "m"
    shutil.copytree(boosting_models["lgb_classifier_skops"], d)
    skops.io.dump(FunctionTransformer(os.system), str(d / "model.skops"))
    _edit_mlmodel(d, lambda doc: doc["flavors"]["lightgbm"]["skops_trusted_types"].append("posix.system"))
    with pytest.raises(UnsafeModelError) as e:
        fastpyfunc.load_model(str(d))
    assert "posix.system" in str(e.value) and e.value.key == "model.skops", str(e.value)


def test_catboost_model_type_outside_the_list_is_refused(boosting_models, tmp_path):
    d = tmp_path / "m"
    shutil.copytree(boosting_models["cb_classifier"], d)
    _edit_mlmodel(d, lambda doc: doc["flavors"]["catboost"].update(model_type="EvilBoost"))
    with pytest.raises(UnsafeModelError) as e:
        fastpyfunc.load_model(str(d))
    assert e.value.key == "flavors.catboost.model_type" and "EvilBoost" in str(e.value)
    assert not fastpyfunc.scan(str(d)).safe


def test_catboost_loads_with_pickles_disallowed_as_in_mlflow(boosting_models, iris, monkeypatch):
    """mlflow.catboost deserializes no Python objects: MLFLOW_ALLOW_PICKLE_DESERIALIZATION=false
    does not stop mlflow from loading it, nor fastpyfunc."""
    monkeypatch.setenv("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "false")
    d = str(boosting_models["cb_classifier"])
    X = iris[0].head(10)
    assert_same(fastpyfunc.load_model(d).predict(X.copy()), mlflow.pyfunc.load_model(d).predict(X.copy()))


@pytest.mark.parametrize("name", ["xgb_booster", "lgb_booster", "cb_classifier"])
def test_flavor_data_outside_the_model_directory_is_refused(boosting_models, tmp_path, name):
    d = tmp_path / "m"
    shutil.copytree(boosting_models[name], d)
    flavor = {"xgb": "xgboost", "lgb": "lightgbm", "cb": "catboost"}[name.split("_")[0]]
    data = next(p for p in d.iterdir() if p.suffix in (".ubj", ".lgb", ".cb"))
    shutil.move(str(data), str(tmp_path / data.name))
    os.symlink(tmp_path / data.name, data)
    with pytest.raises(MalformedModelError) as e:
        fastpyfunc.load_model(str(d))
    # python_function.data names the same file and is checked first
    assert e.value.key in ("flavors.python_function.data", f"flavors.{flavor}.data")
    assert "outside the model directory" in str(e.value) and data.name in str(e.value)
