"""mlflow's other flavor loaders without trust: prophet's JSON models load and match mlflow;
mlflow.tensorflow's Keras models load unless they carry cloudpickled custom objects or name a
module to import; loaders fastpyfunc has not checked are refused before they are imported."""

from __future__ import annotations

import os
import shutil

import mlflow
import numpy as np
import pandas as pd
import pytest
import yaml

import fastpyfunc
from fastpyfunc.exceptions import MalformedModelError, UnsafeModelError

from conftest import assert_same, require

MARKER = "fastpyfunc-flavor-marker"


@pytest.fixture(autouse=True)
def _untrusted(monkeypatch):
    monkeypatch.delenv("FASTPYFUNC_TRUST_CODE", raising=False)


@pytest.fixture(scope="module")
def prophet_model(tmp_path_factory):
    prophet = require("prophet")
    rng = np.random.default_rng(0)
    days = pd.date_range("2024-01-01", periods=90, freq="D")
    history = pd.DataFrame({"ds": days, "y": np.sin(np.arange(90) / 7) + rng.normal(0, 0.1, 90)})
    model = prophet.Prophet(weekly_seasonality=True, daily_seasonality=False, yearly_seasonality=False)
    model.fit(history)
    d = tmp_path_factory.mktemp("prophet") / "model"
    mlflow.prophet.save_model(model, str(d))
    return d


def _predict(model, future):
    np.random.seed(0)  # prophet samples its uncertainty intervals from NumPy's global generator
    return model.predict(future.copy())


def test_prophet_json_loads_without_trust_and_matches_mlflow(prophet_model, monkeypatch):
    report = fastpyfunc.scan(str(prophet_model))
    assert report.safe, repr(report)
    future = pd.DataFrame({"ds": pd.date_range("2024-03-31", periods=14, freq="D")})
    expected = _predict(mlflow.pyfunc.load_model(str(prophet_model)), future)
    assert_same(_predict(fastpyfunc.load_model(str(prophet_model)), future), expected)
    # mlflow.prophet reads JSON: mlflow's pickle gate does not apply to it, nor does ours
    monkeypatch.setenv("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "false")
    assert_same(_predict(fastpyfunc.load_model(str(prophet_model)), future), expected)


def test_prophet_json_outside_the_model_directory_is_refused(prophet_model, tmp_path):
    d = tmp_path / "m"
    shutil.copytree(prophet_model, d)
    data = d / yaml.safe_load((d / "MLmodel").read_text())["flavors"]["python_function"]["data"]
    shutil.move(str(data), str(tmp_path / "elsewhere.json"))
    os.symlink(tmp_path / "elsewhere.json", data)
    with pytest.raises(MalformedModelError) as e:
        fastpyfunc.load_model(str(d))
    assert e.value.key == "flavors.python_function.data" and "outside the model directory" in str(e.value)


def _with_loader(tmp_path, source, module):
    d = tmp_path / "m"
    shutil.copytree(source, d)
    doc = yaml.safe_load((d / "MLmodel").read_text())
    doc["flavors"]["python_function"]["loader_module"] = module
    (d / "MLmodel").write_text(yaml.safe_dump(doc))
    return d


@pytest.mark.parametrize("module", ["mlflow.langchain", "mlflow.dspy", "mlflow.paddle", "mlflow.fastai"])
def test_loaders_nobody_checked_are_refused_before_import(prophet_model, tmp_path, module, monkeypatch):
    """mlflow.dspy and mlflow.langchain cloudpickle, mlflow.paddle unpickles: a flavor loader is
    run only once it is on the list of loaders checked to read data only."""
    import sys

    d = _with_loader(tmp_path, prophet_model, module)
    monkeypatch.delitem(sys.modules, module, raising=False)
    with pytest.raises(UnsafeModelError) as e:
        fastpyfunc.load_model(str(d))
    assert e.value.key == "flavors.python_function.loader_module"
    assert module in str(e.value) and str(d) in str(e.value) and "trust_code=True" in str(e.value)
    assert module not in sys.modules
    assert not fastpyfunc.scan(str(d)).safe


@pytest.fixture(scope="module")
def keras_model(tmp_path_factory):
    """An mlflow.tensorflow Keras model (h5: Keras' own file, loaded by mlflow's Python loader)."""
    tf = require("tensorflow")
    inp = tf.keras.Input((3,))
    model = tf.keras.Model(inp, tf.keras.layers.Dense(2)(inp))
    d = tmp_path_factory.mktemp("keras") / "model"
    mlflow.tensorflow.save_model(model, str(d), keras_model_kwargs={"save_format": "h5"})
    return d


def test_keras_model_loads_without_trust(keras_model):
    x = np.random.default_rng(1).random((4, 3)).astype(np.float32)
    expected = mlflow.pyfunc.load_model(str(keras_model)).predict(x)
    assert fastpyfunc.scan(str(keras_model)).safe
    assert_same(fastpyfunc.load_model(str(keras_model)).predict(x), expected)


class _Payload:
    def __reduce__(self):
        return (open, (MARKER, "w"))


@pytest.mark.parametrize("name", ["custom_objects.cloudpickle", "global_custom_objects.cloudpickle"])
def test_keras_custom_objects_cloudpickle_is_refused(keras_model, tmp_path, name, monkeypatch):
    import cloudpickle

    d = tmp_path / "m"
    shutil.copytree(keras_model, d)
    (d / "data" / name).write_bytes(cloudpickle.dumps({"Dense": _Payload()}))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UnsafeModelError) as e:
        fastpyfunc.load_model(str(d))
    assert e.value.key == "flavors.python_function.data" and name in str(e.value)
    assert not (tmp_path / MARKER).exists()
    report = fastpyfunc.scan(str(d))
    assert not report.safe and any(name in r for r in report.reasons)
    # the pickle's own findings: the global it would call
    (scanned,) = [f for f in report.files if f.path.endswith(name)]
    assert ("io", "open") in [(g.module, g.name) for g in scanned.globals], scanned
    # with trust: mlflow's behaviour, the pickle runs
    with pytest.raises(Exception):  # noqa: B017  (Keras then fails on the payload's object)
        fastpyfunc.load_model(str(d), trust_code=True)
    assert (tmp_path / MARKER).exists()


def test_keras_module_file_naming_another_module_is_refused(keras_model, tmp_path):
    d = tmp_path / "m"
    shutil.copytree(keras_model, d)
    (d / "data" / "keras_module.txt").write_text("antigravity")
    with pytest.raises(UnsafeModelError) as e:
        fastpyfunc.load_model(str(d))
    assert "antigravity" in str(e.value) and "keras_module.txt" in str(e.value)
