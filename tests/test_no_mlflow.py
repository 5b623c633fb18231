"""Where mlflow and the frameworks are absent: cheap import, sklearn models still load."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import fastpyfunc

from conftest import assert_same

HEAVY = ["torch", "tensorflow", "onnxruntime", "pandas", "sklearn", "mlflow", "numpy", "yaml"]


def _run(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_import_is_cheap():
    out = _run(f"import sys, json, fastpyfunc; print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))")
    assert json.loads(out) == []


def test_import_without_any_framework():
    blockers = "; ".join(f"sys.modules[{m!r}] = None" for m in HEAVY)
    out = _run(f"import sys; {blockers}\nimport fastpyfunc; print(fastpyfunc.__version__)")
    assert out.strip() == fastpyfunc.__version__


def test_sklearn_without_mlflow(sklearn_models, iris):
    X, _ = iris
    x = X.iloc[:8].to_numpy()
    for d in sklearn_models.values():
        code = (
            "import sys, warnings; sys.modules['mlflow'] = None\n"
            "warnings.simplefilter('ignore')\n"
            "import json, numpy as np, fastpyfunc\n"
            f"m = fastpyfunc.load_model({str(d)!r})\n"
            f"x = np.array({x.tolist()!r})\n"
            "import pandas as pd\n"
            f"df = pd.DataFrame(x, columns={list(X.columns)!r})\n"
            "out = m.predict(df)\n"
            "print(json.dumps({'dtype': str(out.dtype), 'values': out.tolist(), 'mlflow': 'mlflow' in sys.modules and sys.modules['mlflow'] is not None}))\n"
        )
        got = json.loads(_run(code))
        assert got["mlflow"] is False
        expected = fastpyfunc.load_model(str(d)).predict(X.iloc[:8])
        assert_same(np.array(got["values"], dtype=got["dtype"]), expected)


def test_other_flavors_without_mlflow_say_what_to_install(custom_model):
    code = (
        "import sys; sys.modules['mlflow'] = None\n"
        "import fastpyfunc\n"
        "try:\n"
        f"    fastpyfunc.load_model({str(custom_model)!r}, trust_code=True)\n"
        "except fastpyfunc.exceptions.EngineUnavailableError as e:\n"
        "    print(e)\n"
    )
    out = _run(code)
    assert "mlflow.pyfunc.model" in out and "pip install mlflow" in out and str(custom_model) in out


def test_onnx_without_mlflow_or_onnxruntime_module(onnx_model, iris):
    """The native ONNX engine needs neither mlflow nor the onnxruntime Python module."""
    X, _ = iris
    x = X.iloc[:6].to_numpy(np.float32)
    code = (
        "import sys; sys.modules['mlflow'] = None\n"
        "import json, numpy as np, fastpyfunc\n"
        f"m = fastpyfunc.load_model({str(onnx_model)!r})\n"
        f"out = m.predict(np.array({x.tolist()!r}, dtype=np.float32))['variable']\n"
        "print(json.dumps({'dtype': str(out.dtype), 'values': out.tolist(), 'ort': 'onnxruntime' in sys.modules}))\n"
    )
    got = json.loads(_run(code))
    assert got["ort"] is False
    import mlflow

    expected = mlflow.pyfunc.load_model(str(onnx_model)).predict(x)["variable"]
    assert_same(np.array(got["values"], dtype=got["dtype"]), expected)


def test_onnx_without_numpy_says_what_to_install(onnx_model):
    code = (
        "import sys; sys.modules['numpy'] = None\n"
        "import fastpyfunc\n"
        "try:\n"
        f"    fastpyfunc.load_model({str(onnx_model)!r})\n"
        "except fastpyfunc.exceptions.EngineUnavailableError as e:\n"
        "    print(e)\n"
    )
    out = _run(code)
    assert "'numpy'" in out and "fastpyfunc[onnx]" in out and str(onnx_model) in out


def test_signature_enforced_without_mlflow(sklearn_models, iris):
    """Column schemas are enforced natively: the same rejection as mlflow, with mlflow blocked."""
    X, _ = iris
    d = sklearn_models[("skops", "predict")]
    bad = X.iloc[:2].astype("int64")
    import mlflow

    with pytest.raises(mlflow.exceptions.MlflowException) as theirs:
        mlflow.pyfunc.load_model(str(d)).predict(bad)
    code = (
        "import logging, sys; sys.modules['mlflow'] = None\n"
        "logging.getLogger('fastpyfunc').addHandler(logging.StreamHandler(sys.stdout))\n"
        "import pandas as pd, fastpyfunc\n"
        f"m = fastpyfunc.load_model({str(d)!r})\n"
        f"bad = pd.DataFrame({bad.to_dict('list')!r}).astype('int64')\n"
        "try:\n"
        "    m.predict(bad)\n"
        "except fastpyfunc.exceptions.SchemaEnforcementError as e:\n"
        "    print(e.message)\n"
    )
    assert _run(code).strip() == f"{d}: {theirs.value.message}"
