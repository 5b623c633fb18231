"""What runs a model is visible and true: ``engine``, ``route_reason``, ``repr``, the
``fastpyfunc`` logger; reading the input example does not import mlflow."""

from __future__ import annotations

import logging
import pickle
import subprocess
import sys

import mlflow
import numpy as np
import pandas as pd
import pytest
import yaml

import fastpyfunc

from conftest import assert_same, logged_warnings, require


def test_native_model_says_so(onnx_model, caplog):
    with caplog.at_level(logging.DEBUG, logger="fastpyfunc"):
        model = fastpyfunc.load_model(str(onnx_model))
    assert model.engine == "onnx" and model.route_reason is None
    shown = yaml.safe_load(repr(model))["fastpyfunc.loaded_model"]
    assert shown["flavor"] == "mlflow.onnx" and shown["engine"] == "onnx"
    info = [r.getMessage() for r in caplog.records if r.name == "fastpyfunc" and r.levelno == logging.INFO]
    assert info == [f"{onnx_model}: mlflow.onnx model runs on the native onnx engine"]
    debug = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
    assert any("load plan" in m and 'NativeRoute(engine="onnx"' in m for m in debug), debug


def test_python_route_says_why(sklearn_models, caplog):
    d = sklearn_models[("skops", "predict")]
    with caplog.at_level(logging.INFO, logger="fastpyfunc"):
        model = fastpyfunc.load_model(str(d))
    assert model.engine == "python"
    assert "scikit-learn" in model.route_reason
    assert yaml.safe_load(repr(model))["fastpyfunc.loaded_model"]["engine"] == "python (not native)"
    (record,) = [r for r in caplog.records if r.name == "fastpyfunc"]
    assert record.levelno == logging.INFO and model.route_reason in record.getMessage()


def test_torchscript_fallback_is_not_called_torchscript(tmp_path, monkeypatch, caplog):
    """Without the engine library, Python torch.jit runs the model: engine says python."""
    torch = require("torch")
    torch.manual_seed(0)
    d = tmp_path / "model"
    module = torch.jit.trace(torch.nn.Linear(4, 2).eval(), torch.zeros(1, 4))
    mlflow.pytorch.save_model(module, str(d), serialization_format="pickle")
    native = fastpyfunc.load_model(str(d))
    assert native.engine == "torchscript" and native.route_reason is None
    monkeypatch.setenv("FASTPYFUNC_TORCH_ENGINE", str(tmp_path / "missing-engine.so"))
    with caplog.at_level(logging.WARNING, logger="fastpyfunc"):
        model = fastpyfunc.load_model(str(d))
    assert any("Python torch.jit" in m for m in logged_warnings(caplog))
    assert model.engine == "python"
    assert "missing-engine.so" in model.route_reason and "Python torch.jit" in model.route_reason
    x = np.ones((2, 4), dtype=np.float32)
    assert_same(model.predict(x), mlflow.pyfunc.load_model(str(d)).predict(x))


def _example_in_fresh_process(model_dir, out) -> None:
    code = (
        "import pickle, sys, fastpyfunc\n"
        f"m = fastpyfunc.load_model({str(model_dir)!r})\n"
        "example = m.input_example\n"
        "assert example is not None\n"
        "m.predict(example)\n"
        "assert 'mlflow' not in sys.modules, 'reading the input example imported mlflow'\n"
        f"pickle.dump(example, open({str(out)!r}, 'wb'))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]


@pytest.mark.parametrize("which", ["onnx-ndarray", "sklearn-dataframe"])
def test_input_example_without_importing_mlflow(which, onnx_model, sklearn_models, tmp_path):
    d = {"onnx-ndarray": onnx_model, "sklearn-dataframe": sklearn_models[("skops", "predict")]}[which]
    out = tmp_path / "example.pkl"
    _example_in_fresh_process(d, out)
    with open(out, "rb") as f:
        ours = pickle.load(f)
    assert_same(ours, mlflow.pyfunc.load_model(str(d)).input_example)


def test_input_example_of_typed_columns(tmp_path):
    """int32 / float32 / bool / int64 columns are cast as mlflow casts them (a scikit-learn
    model, which fastpyfunc loads without mlflow)."""
    from sklearn.tree import DecisionTreeRegressor

    df = pd.DataFrame(
        {
            "i": np.array([1, 2, 3], dtype=np.int32),
            "f": np.array([0.5, 1.5, 2.5], dtype=np.float32),
            "b": [True, False, True],
            "l": [3, 4, 5],
        }
    )
    d = tmp_path / "model"
    mlflow.sklearn.save_model(
        DecisionTreeRegressor().fit(df, [1.0, 2.0, 3.0]),
        str(d),
        input_example=df,
        serialization_format="pickle",
    )
    out = tmp_path / "example.pkl"
    _example_in_fresh_process(d, out)
    with open(out, "rb") as f:
        ours = pickle.load(f)
    theirs = mlflow.pyfunc.load_model(str(d)).input_example
    assert list(theirs.dtypes) == [np.int32, np.float32, bool, np.int64]  # the signature's types
    assert_same(ours, theirs)
