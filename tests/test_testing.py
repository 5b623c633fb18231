"""fastpyfunc.testing: prediction comparison, parity with mlflow, signature checks, validate()."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from validation_models import ALL_PASSING

import fastpyfunc
from fastpyfunc.testing import (
    ValidationReport,
    assert_matches_mlflow,
    assert_predictions_equal,
    assert_signature_enforced,
    validate,
)

pytest_plugins = ["validation_models"]


@pytest.fixture(autouse=True)
def _trusted_models(monkeypatch):
    """These models are the user's own custom PythonModels, which carry code: the user trusts them
    (safe loading refuses them otherwise; test_cli checks that refusal and --trust-code)."""
    monkeypatch.setenv("FASTPYFUNC_TRUST_CODE", "1")


def fails(left, right, **kwargs) -> str:
    with pytest.raises(AssertionError) as e:
        assert_predictions_equal(left, right, **kwargs)
    return str(e.value)


# -- assert_predictions_equal ---------------------------------------------------------------


def test_equal_values_of_every_kind_pass():
    import pyarrow as pa

    df = pd.DataFrame({"a": [1.0, np.nan], "b": ["x", "y"], "c": [np.array([1, 2]), np.array([3])]})
    cases = [
        df,
        df["a"],
        np.array([[1.0, np.nan], [3.0, 4.0]], dtype=np.float32),
        {"p": np.arange(3), "q": [1, "s", None]},
        [np.float64(1.5), {"k": (1, 2)}],
        pa.table({"a": [1, 2], "s": ["u", None]}),
        np.array(["a", "b"]),
        np.array(["2024-01-01", "NaT"], dtype="datetime64[ns]"),
    ]
    for value in cases:
        assert_predictions_equal(value, value.copy() if hasattr(value, "copy") else value)


def test_float_tolerance():
    base = np.array([1.0, 1000.0, 0.0])
    assert_predictions_equal(base * (1 + 5e-6), base)  # within rtol=1e-5
    assert_predictions_equal(base + 5e-9, base)  # within atol=1e-8 (the 0.0)
    message = fails(base * (1 + 5e-5), base)
    assert "2 of 3 values differ" in message
    assert "at [1]: left=1000.0500000000001 right=1000.0   (abs diff 0.05)" in message
    assert_predictions_equal(base * (1 + 5e-5), base, rtol=1e-4)
    fails(base + 1e-12, base, rtol=0, atol=0)


def test_frame_diff_names_columns_rows_and_values():
    left = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": ["x", "y", "z"]})
    right = pd.DataFrame({"a": [1.0, 2.5, 3.0], "b": ["x", "y", "w"]})
    message = fails(left, right)
    assert "result['a']: 1 of 3 values differ" in message
    assert "at [1]: left=2.0 right=2.5   (abs diff 0.5)" in message
    assert "result['b'][2]: 'z' != 'w'" in message


def test_structure_differences():
    df = pd.DataFrame({"a": [1, 2], "b": [3, 4]})
    assert "columns ['b', 'a'] != ['a', 'b'] (order)" in fails(df[["b", "a"]], df)
    assert "missing on the left: ['b']" in fails(df[["a"]], df)
    assert "dtype int32 != int64" in fails(df.astype({"a": "int32"}), df)
    assert_predictions_equal(df.astype({"a": "int32"}), df, check_dtype=False)
    assert "type pandas.DataFrame != numpy.ndarray" in fails(df, df.to_numpy())
    assert "index" in fails(df.set_axis([5, 6]), df)
    assert "shape (2, 2) != (2, 3)" in fails(np.zeros((2, 2)), np.zeros((2, 3)))
    assert "keys ['y'] != ['x']" in fails({"y": 1}, {"x": 1})
    assert "length 1 != 2" in fails([1], [1, 2])
    assert "result[1]['x']: type int != float" in fails([0, {"x": 2}], [0, {"x": 2.0}])
    assert "name 'p' != 'q'" in fails(pd.Series([1], name="p"), pd.Series([1], name="q"))


def test_arrow_tables():
    import pyarrow as pa

    left = pa.table({"a": [1.0, 2.0]})
    assert "dtype float != double" in fails(pa.table({"a": pa.array([1.0, 2.0], pa.float32())}), left)
    assert "result['a'][1]: 3.0 != 2.0" in fails(pa.table({"a": [1.0, 3.0]}), left)


def test_many_differences_are_elided():
    message = fails(np.arange(100.0), np.arange(100.0) + 1)
    assert "100 of 100 values differ" in message
    assert "... and 90 more" in message


# -- model-level helpers --------------------------------------------------------------------


def test_assert_matches_mlflow(sk_model, custom_model, iris):
    X, _ = iris
    got = assert_matches_mlflow(str(sk_model), X.iloc[:10])
    assert got.shape == (10, 3)
    df = pd.DataFrame({"a": [1.0, 2.0], "b": [0.5, 0.0]})
    assert_matches_mlflow(custom_model, df, params={"k": 2, "as_frame": True})
    # both refuse the same bad input: that is agreement, not a failure
    assert assert_matches_mlflow(sk_model, X.iloc[:3].astype("int64")) is None


def test_assert_matches_mlflow_reports_divergence(divergent_model):
    with pytest.raises(AssertionError) as e:
        assert_matches_mlflow(divergent_model, pd.DataFrame({"a": [1.0, 5.0]}))
    message = str(e.value)
    assert str(divergent_model) in message
    assert "fastpyfunc (left) and mlflow (right) disagree" in message
    assert "at [1]: left=6.0 right=5.0" in message


def test_assert_signature_enforced(sk_model, unsigned_model, iris):
    X, _ = iris
    err = assert_signature_enforced(sk_model, X.iloc[:3].astype("int64"))
    assert isinstance(err, fastpyfunc.exceptions.SchemaEnforcementError)
    assert "Can not safely convert int64 to float64" in str(err)
    with pytest.raises(AssertionError, match="did not refuse the input"):
        assert_signature_enforced(sk_model, X.iloc[:3])
    with pytest.raises(AssertionError, match="has no signature"):
        assert_signature_enforced(unsigned_model, X.iloc[:3])


# -- validate -------------------------------------------------------------------------------


def statuses(report: ValidationReport) -> dict[str, str]:
    return {c.name: c.status for c in report}


def test_validate_good_model(onnx_signed_model, iris):
    X, _ = iris
    report = validate(onnx_signed_model, against_mlflow=True, input=X.to_numpy(np.float32)[:4])
    assert report.ok, str(report)
    got = statuses(report)
    for name in ALL_PASSING:
        assert got[name] == "pass", (name, str(report))
    assert got["scan"] in ("pass", "skip")
    assert report.engine == "onnx"
    assert report["load"].seconds > 0
    text = str(report)
    assert "PASS  parity:input" in text and text.endswith("result: OK")
    assert repr(report).startswith("ValidationReport(") and "ok=True" in repr(report)
    assert report.to_dict()["checks"][1]["name"] == "load"


def test_validate_reports_failures(divergent_model, unsigned_model, tmp_path):
    report = validate(divergent_model, against_mlflow=True)
    assert not report.ok
    assert [c.name for c in report.failures] == ["parity:input_example"]
    assert "left=2.0 right=1.0" in report["parity:input_example"].message
    assert "FAILED (1 check)" in str(report)

    unsigned = validate(unsigned_model)
    assert statuses(unsigned)["signature"] == "fail"
    assert statuses(unsigned)["input_example"] == "skip"
    assert validate(unsigned_model, require_signature=False).ok

    (tmp_path / "MLmodel").write_text("flavors: {}\n")
    broken = validate(tmp_path)
    assert statuses(broken)["load"] == "fail" and not broken.ok
    assert str(tmp_path) in broken["load"].message


def test_validate_output_schema_mismatch(tmp_path):
    """A model whose answer does not fit its declared output schema fails input_example."""
    import mlflow
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    class Strings(mlflow.pyfunc.PythonModel):
        def predict(self, context, model_input, params=None):
            return np.array(["a"] * len(model_input))

    sig = ModelSignature(Schema([ColSpec("double", "x")]), Schema([ColSpec("double")]))
    d = tmp_path / "m"
    mlflow.pyfunc.save_model(
        str(d),
        python_model=Strings(),
        signature=sig,
        input_example=pd.DataFrame({"x": [1.0]}),
        pip_requirements=["mlflow"],
    )
    report = validate(d)
    assert report["input_example"].status == "fail"
    assert "does not fit the output schema" in report["input_example"].message
