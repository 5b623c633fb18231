"""fastpyfunc and mlflow.pyfunc return the same type, columns, dtypes and values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import fastpyfunc

from conftest import assert_same, both, compare_predict


@pytest.mark.parametrize("fmt", ["skops", "pickle", "cloudpickle"])
@pytest.mark.parametrize("fn", ["predict", "predict_proba"])
def test_sklearn_formats(sklearn_models, iris, fmt, fn):
    X, _ = iris
    got = compare_predict(sklearn_models[(fmt, fn)], X.iloc[:20])
    assert got.shape == ((20,) if fn == "predict" else (20, 3))
    ours = fastpyfunc.load_model(str(sklearn_models[(fmt, fn)]))
    assert ours.engine == "python"
    assert type(ours.get_raw_model()).__name__ == "LogisticRegression"


def test_sklearn_enforcement_matches_mlflow(sklearn_models, iris):
    """Reordered and extra columns are handled as mlflow handles them; bad dtypes fail alike."""
    X, _ = iris
    d = sklearn_models[("skops", "predict")]
    shuffled = X.iloc[:10, ::-1].assign(extra=1.0)
    compare_predict(d, shuffled)
    ours, theirs = both(d)
    ints = X.iloc[:5].astype("int64")
    with pytest.raises(Exception) as mlflow_err:
        theirs.predict(ints)
    with pytest.raises(fastpyfunc.exceptions.SchemaEnforcementError) as our_err:
        ours.predict(ints)
    assert our_err.value.error_class == "SCHEMA_ENFORCEMENT_FAILED" == mlflow_err.value.error_class
    assert str(d) in str(our_err.value)
    assert "Can not safely convert int64 to float64" in str(our_err.value)


def test_custom_python_model(custom_model):
    df = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [0.5, 0.25, 0.0]})
    compare_predict(custom_model, df, trust_code=True)
    compare_predict(custom_model, df, params={"k": 3}, trust_code=True)
    compare_predict(custom_model, df, params={"k": 2, "as_frame": True}, trust_code=True)
    compare_predict(custom_model, df[["a"]], trust_code=True)  # optional column missing


def test_custom_model_config_override(custom_model):
    df = pd.DataFrame({"a": [1.0], "b": [1.0]})
    ours, theirs = both(custom_model, trust_code=True, model_config={"scale": 10.0, "unknown": 1})
    assert_same(ours.predict(df), theirs.predict(df))
    assert ours.model_config == theirs.model_config == {"scale": 10.0}


def test_custom_model_config_from_env(custom_model, monkeypatch):
    monkeypatch.setenv("MLFLOW_PYFUNC_INFERENCE_CONFIG", '{"scale": 3.0}')
    df = pd.DataFrame({"a": [1.0], "b": [1.0]})
    ours, theirs = both(custom_model, trust_code=True)
    assert_same(ours.predict(df), theirs.predict(df))
    assert ours.model_config == {"scale": 3.0}


def test_custom_model_config_file(custom_model, tmp_path):
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("scale: 7.0\n")
    df = pd.DataFrame({"a": [1.0], "b": [1.0]})
    ours, theirs = both(custom_model, trust_code=True, model_config=str(cfg))
    assert_same(ours.predict(df), theirs.predict(df))
    assert ours.model_config["scale"] == 7.0


def test_custom_params_rejected_like_mlflow(custom_model):
    df = pd.DataFrame({"a": [1.0], "b": [1.0]})
    ours, theirs = both(custom_model, trust_code=True)
    with pytest.raises(Exception) as theirs_err:
        theirs.predict(df, params={"k": "x"})
    with pytest.raises(fastpyfunc.exceptions.SchemaEnforcementError) as ours_err:
        ours.predict(df, params={"k": "x"})
    assert theirs_err.value.message in ours_err.value.message


def test_onnx(onnx_model, iris):
    X, _ = iris
    x = X.to_numpy(np.float32)[:7]
    compare_predict(onnx_model, x)
    compare_predict(onnx_model, {"X": x})
    ours = fastpyfunc.load_model(str(onnx_model))
    assert type(ours.get_raw_model()).__name__ == "InferenceSession"


def test_pytorch_pt2(torch_pt2_model):
    x = np.random.default_rng(1).random((5, 4), dtype=np.float32)
    compare_predict(torch_pt2_model, x, trust_code=True)  # pt2 archives unpickle constants


def test_keras(keras_model):
    x = np.random.default_rng(2).random((5, 4), dtype=np.float32)
    compare_predict(keras_model, x)
