"""Signatures whose column names are not strings (``"name": 0``), as mlflow's infer_signature
writes them for unnamed DataFrame and list data: they load, enforce and predict as in mlflow."""

from __future__ import annotations

import json

import mlflow
import numpy as np
import pandas as pd
import pytest

from conftest import assert_same, both, require


class Doubler(mlflow.pyfunc.PythonModel):
    """Type-hinted: mlflow infers the signature from the example, the output unnamed."""

    def predict(self, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        return pd.DataFrame(model_input.to_numpy() * 2)


def _signature_parts(model_dir) -> dict:
    import yaml

    return yaml.safe_load((model_dir / "MLmodel").read_text())["signature"]


def _assert_same_schemas(ours, theirs) -> None:
    for part in ("inputs", "outputs"):
        a, b = getattr(ours.metadata.signature, part), getattr(theirs.metadata.signature, part)
        assert a.to_dict() == b.to_dict(), part
        assert repr(a) == repr(b), part
        assert a.input_names() == b.input_names(), part
        assert a.has_input_names() == b.has_input_names(), part
        assert a.required_input_names() == b.required_input_names(), part
        assert [s.name for s in a.inputs] == [s.name for s in b.inputs], part


def test_type_hinted_python_model_with_unnamed_output(tmp_path):
    d = tmp_path / "model"
    mlflow.pyfunc.save_model(str(d), python_model=Doubler(), input_example=pd.DataFrame({"x": [1.0, 2.0]}))
    assert json.loads(_signature_parts(d)["outputs"])[0]["name"] == 0  # what mlflow writes
    ours, theirs = both(d, trust_code=True)  # a custom PythonModel carries code
    _assert_same_schemas(ours, theirs)
    data = pd.DataFrame({"x": [1.5, -3.0, 7.0]})
    assert_same(ours.predict(data.copy()), theirs.predict(data.copy()))


def test_unnamed_dataframe_inputs_and_outputs(tmp_path):
    """sklearn (fastpyfunc's own loader) fitted on a DataFrame without column names."""
    from sklearn.linear_model import LinearRegression

    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.random((20, 3)))
    reg = LinearRegression().fit(X, X.sum(axis=1))
    d = tmp_path / "model"
    mlflow.sklearn.save_model(reg, str(d), input_example=X.head(2))
    assert [c["name"] for c in json.loads(_signature_parts(d)["inputs"])] == [0, 1, 2]
    ours, theirs = both(d)
    _assert_same_schemas(ours, theirs)
    assert_same(ours.predict(X.copy()), theirs.predict(X.copy()))
    # Columns matched by value, reordered to the schema's order, extras dropped, as in mlflow.
    shuffled = X[[2, 0, 1]].assign(extra=1.0)
    assert_same(ours.predict(shuffled.copy()), theirs.predict(shuffled.copy()))
    # A missing column fails in both.
    with pytest.raises(mlflow.exceptions.MlflowException, match="missing inputs"):
        theirs.predict(X[[0, 1]].copy())
    with pytest.raises(mlflow.exceptions.MlflowException, match="missing inputs"):
        ours.predict(X[[0, 1]].copy())


def test_torchscript_with_dataframe_example(tmp_path):
    """``mlflow.pytorch.save_model(..., input_example=df)`` of an unnamed DataFrame, then a load:
    the native TorchScript engine behind the int-named signature."""
    torch = require("torch")
    torch.manual_seed(0)
    module = torch.jit.trace(torch.nn.Linear(4, 2).eval(), torch.zeros(1, 4))
    example = pd.DataFrame(np.random.default_rng(1).random((3, 4), dtype=np.float32))
    d = tmp_path / "model"
    mlflow.pytorch.save_model(module, str(d), input_example=example, serialization_format="pickle")
    assert json.loads(_signature_parts(d)["inputs"])[0]["name"] == 0
    ours, theirs = both(d)
    _assert_same_schemas(ours, theirs)
    assert_same(ours.predict(example.copy()), theirs.predict(example.copy()))
