"""Exceptions: one base class, mlflow-compatible where mlflow is loaded, picklable."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.exceptions import MlflowException

import fastpyfunc
from fastpyfunc import exceptions as exc

from conftest import write_mlmodel


def test_mlflow_code_catches_our_errors(tmp_path):
    with pytest.raises(MlflowException) as err:
        fastpyfunc.load_model(str(tmp_path / "nope"))
    assert isinstance(err.value, exc.ModelNotFoundError)
    assert isinstance(err.value, exc.FastPyFuncError)
    assert err.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert '"error_code": "RESOURCE_DOES_NOT_EXIST"' in err.value.serialize_as_json()


def test_errors_pickle_roundtrip(tmp_path):
    root = write_mlmodel(tmp_path / "m", "flavors: [\n")
    with pytest.raises(exc.MalformedModelError) as err:
        fastpyfunc.load_model(str(root))
    back = pickle.loads(pickle.dumps(err.value))
    assert type(back).__name__ == "MalformedModelError"
    assert isinstance(back, MlflowException) and isinstance(back, exc.MalformedModelError)
    assert back.message == err.value.message and back.model_path == err.value.model_path


def test_without_mlflow_loaded_errors_are_plain(tmp_path):
    code = (
        "import sys, fastpyfunc\n"
        "try:\n"
        f"    fastpyfunc.load_model({str(tmp_path / 'nope')!r})\n"
        "except fastpyfunc.exceptions.ModelNotFoundError as e:\n"
        "    assert [c.__name__ for c in type(e).__mro__][:3] == ['ModelNotFoundError', 'FastPyFuncError', 'Exception'], type(e).__mro__\n"
        "    assert 'mlflow' not in sys.modules\n"
        "    print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "ok", out.stderr


@pytest.mark.parametrize(
    "uri,scheme",
    [("runs:/0123/model", "runs"), ("models:/name/1", "models"), ("s3://bucket/m", "s3")],
)
def test_remote_uri_without_mlflow_names_scheme(uri, scheme):
    code = (
        "import sys; sys.modules['mlflow'] = None\n"
        "import fastpyfunc\n"
        "try:\n"
        f"    fastpyfunc.load_model({uri!r})\n"
        "except fastpyfunc.exceptions.InvalidUriError as e:\n"
        "    print(e, '|', e.key)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert f"'{scheme}:'" in out.stdout, out.stdout + out.stderr
    assert "pip install 'fastpyfunc[mlflow]'" in out.stdout and out.stdout.strip().endswith(f"| {scheme}")


def test_bare_model_id_hint():
    with pytest.raises(exc.InvalidUriError, match="models:/m-"):
        fastpyfunc.load_model("m-0123456789abcdef0123456789abcdef")


def test_pickle_gate(sklearn_models, custom_model, monkeypatch):
    monkeypatch.setenv("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "false")
    for d in (sklearn_models[("skops", "predict")], sklearn_models[("pickle", "predict")], custom_model):
        with pytest.raises(exc.UnsafeModelError, match="MLFLOW_ALLOW_PICKLE_DESERIALIZATION") as err:
            fastpyfunc.load_model(str(d))
        assert str(d) in str(err.value)


def test_bad_model_config(custom_model, tmp_path):
    with pytest.raises(exc.InvalidModelConfigError, match="does not exist"):
        fastpyfunc.load_model(str(custom_model), model_config=str(tmp_path / "missing.yaml"))
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [\n")
    with pytest.raises(exc.InvalidModelConfigError, match="not valid YAML"):
        fastpyfunc.load_model(str(custom_model), model_config=str(bad))
    with pytest.raises(exc.InvalidModelConfigError, match="dict or a path"):
        fastpyfunc.load_model(str(custom_model), model_config=42)


def test_schema_errors_carry_a_key(sklearn_models, iris):
    X, _ = iris
    model = fastpyfunc.load_model(str(sklearn_models[("skops", "predict")]))
    with pytest.raises(exc.SchemaEnforcementError) as err:
        model.predict(X.iloc[:2].drop(columns=X.columns[0]))
    assert err.value.key == X.columns[0]  # the missing column


def test_params_errors_carry_a_key(custom_model):
    model = fastpyfunc.load_model(str(custom_model), trust_code=True)
    with pytest.raises(exc.SchemaEnforcementError) as err:
        model.predict(pd.DataFrame({"a": [1.0]}), params={"k": "not a number"})
    assert err.value.key == "k"


def test_python_route_model_errors_are_prediction_errors(sklearn_models, iris):
    """scikit-learn's own ValueError (NaN input) is wrapped, as native engines' errors are."""
    X, _ = iris
    d = sklearn_models[("skops", "predict")]
    bad = X.iloc[:2].copy()
    bad.iloc[0, 0] = np.nan
    with pytest.raises(ValueError) as theirs:
        mlflow.pyfunc.load_model(str(d)).predict(bad.copy())
    model = fastpyfunc.load_model(str(d))
    assert model.engine == "python"
    with pytest.raises(exc.PredictionError) as ours:
        model.predict(bad.copy())
    assert isinstance(ours.value, MlflowException)
    assert type(ours.value.__cause__) is type(theirs.value)
    assert f"ValueError: {theirs.value}" in str(ours.value) and str(d) in str(ours.value)


def test_unconfigured_registry_says_so(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    code = (
        "import fastpyfunc\n"
        "try:\n"
        "    fastpyfunc.load_model('models:/fpf-nothing/1')\n"
        "except fastpyfunc.exceptions.InvalidUriError as e:\n"
        "    print(e)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path, env=env
    )
    assert "no model registry is configured" in out.stdout, out.stdout + out.stderr[-2000:]
    assert "MLFLOW_TRACKING_URI" in out.stdout


def test_install_without_mlflow_says_what_to_install():
    code = (
        "import sys; sys.modules['mlflow'] = None\n"
        "import fastpyfunc\n"
        "try:\n"
        "    fastpyfunc.install()\n"
        "except fastpyfunc.exceptions.EngineUnavailableError as e:\n"
        "    print(e, '|', e.key)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "pip install 'fastpyfunc[mlflow]'" in out.stdout and "| mlflow" in out.stdout, (
        out.stdout + out.stderr
    )
