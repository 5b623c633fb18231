"""Where mlflow is imported, fastpyfunc models are mlflow PyFuncModels too: isinstance checks and
``mlflow.models.evaluate`` accept them, with mlflow's own metrics."""

from __future__ import annotations

import subprocess
import sys

import mlflow
import pytest

import fastpyfunc


def test_isinstance_of_mlflows_pyfuncmodel(sklearn_models):
    model = fastpyfunc.load_model(str(sklearn_models[("skops", "predict")]))
    assert isinstance(model, mlflow.pyfunc.PyFuncModel)
    assert isinstance(model, fastpyfunc.PyFuncModel)


def test_without_mlflow_imported_the_class_is_ours(onnx_model):
    code = (
        "import sys, fastpyfunc\n"
        f"m = fastpyfunc.load_model({str(onnx_model)!r})\n"
        "assert type(m) is fastpyfunc.PyFuncModel, type(m).__mro__\n"
        "assert 'mlflow' not in sys.modules\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.stdout.strip() == "ok", out.stderr[-3000:]


@pytest.mark.filterwarnings("ignore")
def test_mlflow_models_evaluate(sklearn_models, iris, tmp_path):
    X, y = iris
    data = X.assign(target=y)
    d = str(sklearn_models[("skops", "predict")])
    results = []
    for model in (fastpyfunc.load_model(d), mlflow.pyfunc.load_model(d)):
        with mlflow.start_run():
            r = mlflow.models.evaluate(model, data, targets="target", model_type="classifier")
        results.append(r.metrics)
    ours, theirs = results
    assert ours == theirs and "accuracy_score" in ours
