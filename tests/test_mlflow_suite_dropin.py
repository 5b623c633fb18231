"""Drop-in gaps found by running mlflow's own test files with fastpyfunc.install() active
(tools/mlflow_tests.py): each test saves a model with real mlflow and compares with mlflow.pyfunc."""

from __future__ import annotations

import os

import mlflow
import pandas as pd
import pytest
from mlflow.models import ModelSignature as MlflowSignature
from mlflow.types import ColSpec as MlflowColSpec
from mlflow.types import Schema as MlflowSchema

from conftest import both


class ContextEcho(mlflow.pyfunc.PythonModel):
    """Answers with the prediction context mlflow's PyFuncModel sets around predict (what a trace
    the model emits is linked with)."""

    def predict(self, context, model_input, params=None):
        from mlflow.pyfunc.context import get_prediction_context

        ctx = get_prediction_context()
        return [ctx.model_id if ctx else None, ctx.dependencies_schemas if ctx else None]

    def predict_stream(self, context, model_input, params=None):
        yield from self.predict(context, model_input, params)


@pytest.fixture(scope="module")
def logged_context_model(tmp_path_factory):
    # restored afterwards: set_tracking_uri(None) would also unset conftest's MLFLOW_TRACKING_URI
    # for every later test module (test_uris then sees no registry configured)
    previous = os.environ.get("MLFLOW_TRACKING_URI")
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path_factory.mktemp('mlruns')}/mlflow.db")
    try:
        with mlflow.start_run():
            info = mlflow.pyfunc.log_model(
                name="model",
                python_model=ContextEcho(),
                metadata={"dependencies_schemas": {"retrievers": [{"name": "r", "primary_key": "id"}]}},
            )
        yield info
    finally:
        mlflow.set_tracking_uri(previous)


def test_predict_sets_mlflows_prediction_context(logged_context_model):
    ours, theirs = both(logged_context_model.model_uri, trust_code=True)
    expected = theirs.predict(pd.DataFrame({"x": [1]}))
    assert expected[0] == logged_context_model.model_id  # what mlflow links traces with
    assert expected[1]  # and the dependencies schemas
    assert ours.predict(pd.DataFrame({"x": [1]})) == expected
    assert list(ours.predict_stream("q")) == list(theirs.predict_stream("q")) == expected


def test_signature_and_schemas_compare_equal_to_mlflows(tmp_path):
    d = tmp_path / "model"
    mlflow.pyfunc.save_model(str(d), python_model=ContextEcho(), input_example=["a", "b"])
    ours, theirs = both(d, trust_code=True)
    expected = MlflowSignature(MlflowSchema([MlflowColSpec("string")]), theirs.metadata.signature.outputs)
    assert expected.outputs is not None
    assert theirs.metadata.signature == expected
    assert ours.metadata.signature == expected
    assert ours.metadata.get_input_schema() == MlflowSchema([MlflowColSpec("string")])
    assert ours.metadata.get_input_schema().inputs[0] == MlflowColSpec("string")
    assert ours.metadata.signature != MlflowSignature(MlflowSchema([MlflowColSpec("long")]))
    assert ours.metadata.get_input_schema() != MlflowSchema([MlflowColSpec("long")])


def test_feature_store_model_is_refused_with_mlflows_note(tmp_path):
    from mlflow.exceptions import MlflowException
    from mlflow.models.model import _DATABRICKS_FS_LOADER_MODULE

    data = tmp_path / "feature_store"
    data.mkdir()
    (data / "feature_spec.yaml").write_text("contents")
    d = tmp_path / "model"
    mlflow.pyfunc.save_model(str(d), data_path=str(data), loader_module=_DATABRICKS_FS_LOADER_MODULE)
    note = "Note: mlflow.pyfunc.load_model is not supported for Feature Store models"
    with pytest.raises(MlflowException, match=note):
        mlflow.pyfunc.load_model(str(d))
    import fastpyfunc

    with pytest.raises(fastpyfunc.exceptions.EngineUnavailableError, match=note) as e:
        fastpyfunc.load_model(str(d), trust_code=True)
    assert isinstance(e.value, MlflowException)
    assert str(d) in str(e.value) and e.value.key == "flavors.python_function.loader_module"
