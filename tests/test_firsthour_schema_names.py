"""Signatures whose column names are not strings (``"name": 0``), as mlflow's infer_signature
writes them for unnamed DataFrame and list data: they load, enforce and predict as in mlflow."""

from __future__ import annotations

import ast
import json

import mlflow
import numpy as np
import pandas as pd
import pytest

import fastpyfunc

from conftest import assert_same, both, logged_warnings, require


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


def _extras_sorted(message: str) -> str:
    """mlflow lists extra inputs in set order (random for str labels across processes)."""
    import re

    def sort(m: re.Match) -> str:
        return m.group(1) + repr(sorted(ast.literal_eval(m.group(2)))) + "."

    return re.sub(r"(Note that there were extra inputs: )(\[.*\])\.", sort, message)


@pytest.fixture(scope="module")
def int_named_models(tmp_path_factory):
    """sklearn (Python path) and ONNX (native engine) models whose signatures mlflow inferred from
    an unnamed DataFrame: column names 0, 1, 2."""
    require("skl2onnx")
    from skl2onnx import to_onnx
    from sklearn.linear_model import LinearRegression

    root = tmp_path_factory.mktemp("int_named")
    X = pd.DataFrame(np.random.default_rng(0).random((20, 3)))
    reg = LinearRegression().fit(X, X.sum(axis=1))
    mlflow.sklearn.save_model(reg, str(root / "sklearn"), input_example=X.head(2))
    Xf = X.astype(np.float32)
    onx = to_onnx(reg, Xf.to_numpy()[:1])
    signature = mlflow.models.infer_signature(Xf, np.zeros((len(Xf), 1), dtype=np.float32))
    mlflow.onnx.save_model(onx, str(root / "onnx"), signature=signature)
    for name in ("sklearn", "onnx"):
        assert [c["name"] for c in json.loads(_signature_parts(root / name)["inputs"])] == [0, 1, 2]
    return {"sklearn": (root / "sklearn", X.head(4)), "onnx": (root / "onnx", Xf.head(4))}


LABELS = {
    "int": lambda d: d,
    "str": lambda d: d.rename(columns=str),  # "0" is not 0: missing inputs in mlflow
    "str_reordered": lambda d: d.rename(columns=str)[["2", "0", "1"]],
    "one_str": lambda d: d.rename(columns={0: "0"}),
    "str_missing": lambda d: d.rename(columns=str)[["0", "1"]],
    "int_and_str": lambda d: d.assign(**{"0": d[0]}),  # "0" is an extra, ignored with a warning
    "int_reordered_extra": lambda d: d[[2, 0, 1]].assign(extra=1.0),
    "float": lambda d: d.rename(columns=float),  # 0.0 == 0: matched, as in a Python set
    "np_int64": lambda d: d.rename(columns=np.int64),
    "bool": lambda d: d[[0, 1]].rename(columns={0: False, 1: True}),  # False == 0, True == 1
    "named": lambda d: d.rename(columns={0: "a", 1: "b", 2: "c"}),
    "dict_int": lambda d: {k: v.to_numpy() for k, v in d.items()},
    "dict_str": lambda d: {str(k): v.to_numpy() for k, v in d.items()},
    "series": lambda d: d[0],
}


@pytest.mark.parametrize("flavor", ["sklearn", "onnx"])
@pytest.mark.parametrize("case", list(LABELS))
def test_int_named_signature_with_str_and_int_labels(int_named_models, flavor, case, caplog):
    """Label "0" against schema name 0, on the native path (ONNX) and the Python path (sklearn):
    mlflow's answers, and its errors (its text, after the model path)."""
    import logging

    d, frame = int_named_models[flavor]
    ours, theirs = both(d)
    data = LABELS[case](frame.copy())
    copy = (lambda: data.copy()) if hasattr(data, "copy") else (lambda: dict(data))
    try:
        with caplog.at_level(logging.WARNING):
            expected = theirs.predict(copy())
    except mlflow.exceptions.MlflowException as e:
        with pytest.raises(fastpyfunc.exceptions.SchemaEnforcementError) as err:
            ours.predict(copy())
        assert _extras_sorted(str(err.value)) == _extras_sorted(f"{d}: {e.message}")
        assert err.value.key in ("0", "1", "2")  # the first missing input
        return
    theirs_warned = [m for m in logged_warnings(caplog, "mlflow.models.utils") if "extra inputs" in m]
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        got = ours.predict(copy())
    assert_same(got, expected)
    assert [m for m in logged_warnings(caplog) if "extra inputs" in m] == theirs_warned
