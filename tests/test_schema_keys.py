"""Schema failures name their column, input or param in ``key`` (the input mlflow also refuses)."""

from __future__ import annotations

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature, infer_signature
from mlflow.types import ColSpec, Schema, TensorSpec

import fastpyfunc
from fastpyfunc.exceptions import SchemaEnforcementError

from conftest import require

NAMES = [f"f{i}" for i in range(5)]


def _graph():
    from onnx import TensorProto, helper

    g = helper.make_graph(
        [helper.make_node("ReduceSum", ["X", "axes"], ["Y"], keepdims=0)],
        "g",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, 5])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [None])],
        initializer=[helper.make_tensor("axes", TensorProto.INT64, [1], [1])],
    )
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    require("onnxruntime")
    root = tmp_path_factory.mktemp("keys")
    columns = Schema([ColSpec("double", n) for n in NAMES])
    named = Schema([TensorSpec(np.dtype("float32"), (-1, 5), "X")])
    for name, schema in (("columns", columns), ("named", named)):
        mlflow.onnx.save_model(
            _graph(),
            str(root / name),
            signature=ModelSignature(inputs=schema),
            onnx_execution_providers=["CPUExecutionProvider"],
        )
    return root


def _frame():
    return pd.DataFrame({n: [1.0, 2.0] for n in NAMES})


def _key_of(model_dir, data, params=None):
    with pytest.raises(MlflowException):  # mlflow refuses the same input
        mlflow.pyfunc.load_model(str(model_dir)).predict(data, params=params)
    with pytest.raises(SchemaEnforcementError) as info:
        fastpyfunc.load_model(str(model_dir)).predict(data, params=params)
    return info.value.key


def test_missing_column_is_the_key(models):
    assert _key_of(models / "columns", _frame().drop(columns=["f2"])) == "f2"


@pytest.mark.parametrize("column", ["f0", "f3"])
def test_a_column_mlflow_cannot_convert_is_the_key(models, column):
    df = _frame().astype({column: object})
    df[column] = ["a", "b"]
    assert _key_of(models / "columns", df) == column


def test_named_tensor_of_the_wrong_type_is_the_key(models):
    assert _key_of(models / "named", {"X": [[1.0] * 5]}) == "X"
    assert _key_of(models / "named", {"X": np.ones((2, 3), dtype=np.float32)}) == "X"


def test_missing_named_tensor_is_the_key(models):
    assert _key_of(models / "named", {"Z": np.ones((2, 5), dtype=np.float32)}) == "X"


@pytest.fixture(scope="module")
def with_params(tmp_path_factory, iris):
    from sklearn.linear_model import LinearRegression

    X, y = iris
    d = tmp_path_factory.mktemp("keys-params") / "model"
    signature = infer_signature(X, y.astype(float), params={"alpha": 1.0, "n": 2})
    mlflow.sklearn.save_model(
        LinearRegression().fit(X, y), str(d), signature=signature, serialization_format="skops"
    )
    return d


def test_invalid_param_is_the_key(with_params, iris):
    X = iris[0].head(2)
    assert _key_of(with_params, X, params={"n": "many"}) == "n"
    assert _key_of(with_params, X, params={"alpha": "x", "n": "y"}) == "alpha"  # schema order
