"""Models for the validation tools' tests (CLI, fastpyfunc.testing, pytest plugin), saved by mlflow.

The model classes are defined inside the fixtures so cloudpickle stores them by value: a fresh
process (the CLI, a pytester run) loads them without importing this module.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import pytest

import fastpyfunc

#: PYTHONPATH for child processes: this checkout's package first, then tests/ (conftest's classes)
CHILD_PYTHONPATH = os.pathsep.join([str(Path(fastpyfunc.__file__).parent.parent), str(Path(__file__).parent)])


#: the checks validate() passes for a good model given an input and against_mlflow=True
ALL_PASSING = (
    "load",
    "mlmodel",
    "signature",
    "input_example",
    "input",
    "parity:input_example",
    "parity:input",
)


def child_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = CHILD_PYTHONPATH
    env.update(extra)
    return env


def run_cli(
    *args: Any, stdin: bytes | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[bytes]:
    """``python -m fastpyfunc ARGS`` in a fresh process (stdout/stderr captured, so not a terminal)."""
    return subprocess.run(
        [sys.executable, "-m", "fastpyfunc", *map(str, args)],
        input=stdin,
        capture_output=True,
        env=child_env(),
        timeout=timeout,
    )


@pytest.fixture(scope="session")
def divergent_model(tmp_path_factory):
    """A custom model whose answer is off by one only when fastpyfunc runs it (it looks for
    fastpyfunc's predict on the call stack), so parity with mlflow fails."""

    class Divergent(mlflow.pyfunc.PythonModel):
        def predict(self, context, model_input, params=None):
            import traceback

            ours = any(
                f.filename.endswith(os.path.join("fastpyfunc", "_pyfunc.py"))
                for f in traceback.extract_stack()
            )
            return model_input["a"].to_numpy() + (1.0 if ours else 0.0)

    from mlflow.models import infer_signature

    example = pd.DataFrame({"a": [1.0, 2.0]})
    d = tmp_path_factory.mktemp("divergent") / "model"
    mlflow.pyfunc.save_model(
        str(d),
        python_model=Divergent(),
        signature=infer_signature(example, np.array([1.0, 2.0])),
        input_example=example,
        pip_requirements=["mlflow"],  # given: mlflow's requirement inference is a slow subprocess
    )
    return d


@pytest.fixture(scope="session")
def unsigned_model(tmp_path_factory):
    """A custom model saved without signature or input example."""

    class Doubler(mlflow.pyfunc.PythonModel):
        def predict(self, context, model_input, params=None):
            return model_input * 2

    d = tmp_path_factory.mktemp("unsigned") / "model"
    mlflow.pyfunc.save_model(str(d), python_model=Doubler(), pip_requirements=["mlflow"])
    return d


@pytest.fixture(scope="session")
def sk_model(tmp_path_factory, iris):
    """LogisticRegression on iris (pickle, predict_proba), with a signature and input example.

    Requirements are given, so mlflow skips its slow requirement inference (a subprocess)."""
    from mlflow.models import infer_signature
    from sklearn.linear_model import LogisticRegression

    X, y = iris
    clf = LogisticRegression(max_iter=1000).fit(X, y)
    d = tmp_path_factory.mktemp("sk") / "model"
    mlflow.sklearn.save_model(
        clf,
        str(d),
        serialization_format="pickle",
        pyfunc_predict_fn="predict_proba",
        # given: mlflow infers the output schema from predict (long), not predict_proba
        signature=infer_signature(X, clf.predict_proba(X)),
        input_example=X.head(3),
        pip_requirements=["scikit-learn", "pandas"],
    )
    return d


@pytest.fixture(scope="session")
def onnx_signed_model(tmp_path_factory, iris):
    """iris LinearRegression as ONNX with a tensor signature (mlflow.onnx infers none)."""
    from mlflow.models import infer_signature
    from skl2onnx import to_onnx
    from sklearn.linear_model import LinearRegression

    X, y = iris
    x = X.to_numpy(np.float32)
    onx = to_onnx(LinearRegression().fit(x, y.to_numpy(np.float32)), x[:1], target_opset=17)
    d = tmp_path_factory.mktemp("onnx-signed") / "model"
    sig = infer_signature(x, np.zeros((1, 1), np.float32))
    mlflow.onnx.save_model(onx, str(d), signature=sig, input_example=x[:2], pip_requirements=["onnxruntime"])
    return d


@pytest.fixture(scope="session")
def raising_model(tmp_path_factory):
    """A custom model whose predict raises ValueError (a bug in the model's own code)."""

    class Raising(mlflow.pyfunc.PythonModel):
        def predict(self, context, model_input, params=None):
            raise ValueError("the model's own bug")

    d = tmp_path_factory.mktemp("raising") / "model"
    mlflow.pyfunc.save_model(str(d), python_model=Raising(), pip_requirements=["mlflow"])
    return d
