"""The PyFuncModel and Model API, attribute by attribute against mlflow's."""

from __future__ import annotations

import json

import mlflow
import numpy as np
import pandas as pd
import pytest
import yaml

import fastpyfunc
from fastpyfunc import exceptions as exc

from conftest import assert_same, both, logged_warnings, write_mlmodel


def test_metadata_attributes(custom_model):
    ours, theirs = both(custom_model, trust_code=True)
    for attr in (
        "artifact_path",
        "run_id",
        "utc_time_created",
        "flavors",
        "saved_input_example_info",
        "model_uuid",
        "mlflow_version",
        "metadata",
        "prompts",
        "model_size_bytes",
        "resources",
        "env_vars",
        "auth_policy",
        "model_id",
    ):
        # ours.metadata is mlflow's Model here (mlflow is imported); ours._model_meta is the
        # fastpyfunc Model that metadata is without mlflow
        for meta in (ours.metadata, ours._model_meta):
            assert getattr(meta, attr) == getattr(theirs.metadata, attr), attr
    assert ours._model_meta.to_dict() == yaml.safe_load((custom_model / "MLmodel").read_text())
    assert ours.loader_module == theirs.loader_module == "mlflow.pyfunc.model"
    assert ours.model_id == theirs.model_id


def test_schemas_match_mlflow(custom_model, sklearn_models, onnx_model):
    for d in (custom_model, sklearn_models[("skops", "predict")], onnx_model):
        ours, theirs = both(d, trust_code=d == custom_model)
        for getter in ("get_input_schema", "get_output_schema", "get_params_schema"):
            a, b = getattr(ours.metadata, getter)(), getattr(theirs.metadata, getter)()
            assert (a is None) == (b is None), getter
            if b is not None:
                # mlflow is imported here, so metadata is mlflow's own Model: its types and ==
                assert type(a) is type(b) and a == b and b == a, getter
                # fastpyfunc's own (what metadata is without mlflow): the same JSON form, and it
                # converts to (and compares equal with) mlflow's
                own = getattr(ours._model_meta, getter)()
                assert own.to_dict() == json.loads(json.dumps(b.to_dict())), getter
                assert own.as_mlflow() == b and own == b, getter
        sig = ours._model_meta.signature  # fastpyfunc's own (ours.metadata is mlflow's here)
        assert (sig is None) == (theirs.metadata.signature is None)
        if sig is None:
            continue
        assert sig.to_dict() == theirs.metadata.signature.to_dict()
        inputs, their_inputs = ours._model_meta.get_input_schema(), theirs.metadata.get_input_schema()
        assert inputs.input_names() == their_inputs.input_names()
        assert inputs.has_input_names() == their_inputs.has_input_names()
        assert inputs.is_tensor_spec() == their_inputs.is_tensor_spec()
        assert inputs.required_input_names() == their_inputs.required_input_names()
        assert inputs.optional_input_names() == their_inputs.optional_input_names()


def test_input_example(custom_model, sklearn_models, onnx_model, torch_pt2_model):
    for d in (custom_model, sklearn_models[("pickle", "predict")], onnx_model, torch_pt2_model):
        ours, theirs = both(d, trust_code=d in (custom_model, torch_pt2_model))
        assert_same(ours.input_example, theirs.input_example)
        for meta in (ours.metadata, ours._model_meta):
            assert_same(meta.load_input_example(str(d)), theirs.metadata.load_input_example(str(d)))


def test_model_config_and_unwrap(custom_model):
    ours, theirs = both(custom_model, trust_code=True)
    assert ours.model_config == theirs.model_config == {"scale": 2.0}
    assert type(ours.unwrap_python_model()).__name__ == "AddOffset"
    with pytest.raises(NotImplementedError):
        ours.get_raw_model()


def test_unwrap_on_non_custom_model(sklearn_models):
    ours = fastpyfunc.load_model(str(sklearn_models[("skops", "predict")]))
    with pytest.raises(exc.FastPyFuncError, match="unable to retrieve base model"):
        ours.unwrap_python_model()


def test_repr(custom_model):
    """mlflow's fields, under fastpyfunc's name, plus what runs the model."""
    ours, theirs = both(custom_model, trust_code=True)
    shown = yaml.safe_load(repr(ours))["fastpyfunc.loaded_model"]
    assert shown.pop("engine") == "python (not native)"
    assert shown == yaml.safe_load(repr(theirs))["mlflow.pyfunc.loaded_model"]


def test_predict_stream_not_streamable(custom_model):
    ours = fastpyfunc.load_model(str(custom_model), trust_code=True)
    with pytest.raises(exc.FastPyFuncError, match="does not support predict_stream"):
        ours.predict_stream(pd.DataFrame({"a": [1.0]}))


@pytest.fixture(scope="module")
def stream_model(tmp_path_factory):
    import mlflow

    class Chunks(mlflow.pyfunc.PythonModel):
        def predict(self, context, model_input, params=None):
            return [str(model_input)]

        def predict_stream(self, context, model_input, params=None):
            yield from str(model_input).split()

    d = tmp_path_factory.mktemp("stream") / "model"
    mlflow.pyfunc.save_model(str(d), python_model=Chunks())
    return d


def test_predict_stream(stream_model):
    ours, theirs = both(stream_model, trust_code=True)
    assert list(ours.predict_stream("a b c")) == list(theirs.predict_stream("a b c")) == ["a", "b", "c"]


def test_install_patches_mlflow(sklearn_models, iris):
    import mlflow

    X, _ = iris
    d = str(sklearn_models[("skops", "predict")])
    original = mlflow.pyfunc.load_model
    with fastpyfunc.installed():
        m = mlflow.pyfunc.load_model(d)
        assert isinstance(m, fastpyfunc.PyFuncModel)
        assert_same(m.predict(X.head()), original(d).predict(X.head()))
    assert mlflow.pyfunc.load_model is original
    fastpyfunc.install()
    fastpyfunc.install()
    assert mlflow.pyfunc.load_model is fastpyfunc.load_model
    fastpyfunc.uninstall()
    fastpyfunc.uninstall()
    assert mlflow.pyfunc.load_model is original


def test_params_without_schema_are_dropped(sklearn_models, iris):
    X, _ = iris
    ours, theirs = both(sklearn_models[("skops", "predict")])
    assert_same(ours.predict(X.head(), params={"x": 1}), theirs.predict(X.head(), params={"x": 1}))


def test_model_without_signature(tmp_path):
    import mlflow
    from sklearn.linear_model import LinearRegression

    reg = LinearRegression().fit(np.arange(10.0).reshape(5, 2), np.arange(5.0))
    d = tmp_path / "m"
    mlflow.sklearn.save_model(reg, str(d))
    ours, theirs = both(d)
    x = np.arange(6.0).reshape(3, 2)
    assert ours.metadata.signature is None
    assert_same(ours.predict(x), theirs.predict(x))


def test_mlmodel_file_path_is_accepted(sklearn_models):
    d = sklearn_models[("skops", "predict")]
    m = fastpyfunc.load_model(str(d))
    assert m.metadata.flavors["python_function"]["loader_module"] == "mlflow.sklearn"


def test_file_uri(sklearn_models, iris):
    X, _ = iris
    d = sklearn_models[("skops", "predict")]
    m = fastpyfunc.load_model(d.as_uri())
    assert_same(m.predict(X.head()), fastpyfunc.load_model(str(d)).predict(X.head()))


def test_unknown_keys_are_kept(tmp_path, sklearn_models):
    import shutil

    d = tmp_path / "m"
    shutil.copytree(sklearn_models[("skops", "predict")], d)
    with open(d / "MLmodel", "a") as f:
        f.write("future_key: {a: 1}\n_raw: clobber\n")
    m = fastpyfunc.load_model(str(d))
    assert m._model_meta.future_key == {"a": 1}
    assert m._model_meta.to_dict()["future_key"] == {"a": 1}
    # a key that names internal state does not overwrite it
    assert m._model_meta.to_dict()["_raw"] == "clobber"
    assert m._model_meta.flavors["python_function"]["loader_module"] == "mlflow.sklearn"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("python_version: 3.7.1", "Python 3.7.1"),
        ("", "does not have a specified Python version"),
        ("python_version: ''", "differs"),
    ],
)
def test_python_version_mismatch_is_logged_as_mlflow_logs_it(
    tmp_path, sklearn_models, caplog, line, expected
):
    """A mismatched (or missing) python_version: mlflow's message on the fastpyfunc logger, and
    ``suppress_warnings=True`` silences it as it silences mlflow's."""
    import logging
    import re
    import shutil
    import warnings

    d = tmp_path / "m"
    shutil.copytree(sklearn_models[("skops", "predict")], d)
    text = re.sub(r"python_version: 3\.\d+\.\d+", line, (d / "MLmodel").read_text())
    write_mlmodel(d, text)
    with caplog.at_level(logging.WARNING), warnings.catch_warnings():
        warnings.simplefilter("error")  # one channel: nothing of ours through warnings
        fastpyfunc.load_model(str(d))
    ours = logged_warnings(caplog)
    with caplog.at_level(logging.WARNING):
        mlflow.pyfunc.load_model(str(d))
    theirs = [m for m in logged_warnings(caplog, "mlflow.pyfunc") if "Python" in m]
    assert ours == theirs and len(ours) == 1 and expected in ours[0]
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        fastpyfunc.load_model(str(d), suppress_warnings=True)
    assert logged_warnings(caplog) == []


def test_metadata_is_mlflows_model_once_mlflow_is_imported(sklearn_models):
    """Code that hands ``metadata`` (or its schemas) to mlflow gets mlflow's own types."""
    d = sklearn_models[("skops", "predict")]
    ours, theirs = both(d)
    meta = ours.metadata
    assert isinstance(meta, mlflow.models.Model)
    assert meta.signature == theirs.metadata.signature
    assert meta.get_input_schema().input_types() == theirs.metadata.get_input_schema().input_types()
    info, their_info = meta.get_model_info(), theirs.metadata.get_model_info()
    assert (info.signature, info.flavors, info.model_uuid) == (
        their_info.signature,
        their_info.flavors,
        their_info.model_uuid,
    )
    assert ours._model_meta.get_model_info().signature == their_info.signature


def test_metadata_without_mlflow_imported_is_fastpyfuncs(sklearn_models):
    """Reading metadata never imports mlflow; without it, the class is fastpyfunc's."""
    import subprocess
    import sys

    d = sklearn_models[("skops", "predict")]
    code = (
        "import sys, fastpyfunc\n"
        f"m = fastpyfunc.load_model({str(d)!r})\n"
        "meta = m.metadata\n"
        "print(type(meta).__module__, meta.get_input_schema().input_names(), 'mlflow' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    names = mlflow.pyfunc.load_model(str(d)).metadata.get_input_schema().input_names()
    assert out.split(" ", 1)[0] == "fastpyfunc._metadata"
    assert out.strip().endswith("False") and repr(names)[1:-1] in out
