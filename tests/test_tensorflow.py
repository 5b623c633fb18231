"""The native SavedModel engine (TensorFlow C API) against mlflow.pyfunc, tf2-module models."""

from __future__ import annotations

import subprocess
import sys

import mlflow
import numpy as np
import pandas as pd
import pytest

import fastpyfunc
from fastpyfunc.exceptions import InvalidInputError, ModelLoadError

from conftest import assert_same, both, compare_predict, require


def _modules(tf):
    """tf.Modules to save; defined here so that tensorflow is imported by the fixture, not at
    collection (see conftest.pytest_configure about import order)."""

    class Linear(tf.Module):
        def __init__(self):
            self.w = tf.Variable(np.arange(8, dtype=np.float32).reshape(4, 2) / 8)
            self.b = tf.Variable([0.5, -1.0])

        @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32)])
        def __call__(self, x):
            return tf.matmul(x, self.w) + self.b

    class TwoOutputs(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float64)])
        def __call__(self, x):
            return {"total": tf.reduce_sum(x, axis=1), "doubled": x * 2}

    class NoSignature(tf.Module):
        def __init__(self):
            self.w = tf.Variable(2.0)

        @tf.function
        def __call__(self, x):
            return x * self.w

    return {"linear": Linear(), "two": TwoOutputs(), "nosig": NoSignature()}


@pytest.fixture(scope="module")
def tf_models(tmp_path_factory):
    tf = require("tensorflow")
    root = tmp_path_factory.mktemp("tf")
    out = {}
    for name, module in _modules(tf).items():
        if name == "nosig":
            module(tf.constant([1.0]))  # traced once, so it can be saved
        mlflow.tensorflow.save_model(module, str(root / name))
        out[name] = root / name
    return out


def test_runs_natively_with_mlflows_answers(tf_models):
    model = fastpyfunc.load_model(str(tf_models["linear"]))
    assert model.engine == "savedmodel"
    x = np.random.default_rng(0).random((5, 4), dtype=np.float32)
    compare_predict(tf_models["linear"], x)
    compare_predict(tf_models["linear"], x[:1])
    compare_predict(tf_models["linear"], [[1.0, 2.0, 3.0, 4.0]])  # a list: float32, as TF converts it
    compare_predict(tf_models["linear"], x[:0])


def test_several_outputs_become_arrays(tf_models):
    ours, theirs = both(tf_models["two"])
    x = np.random.default_rng(1).random((4, 3))
    expected = {k: v.numpy() for k, v in theirs.predict(x).items()}  # mlflow returns tf tensors
    got = ours.predict(x)
    assert sorted(got) == sorted(expected)
    for k in expected:
        assert_same(got[k], expected[k])


def test_wrong_inputs_are_refused_like_mlflow(tf_models):
    ours, theirs = both(tf_models["linear"])
    for bad in (np.ones((2, 4)), np.ones((2, 4), dtype=np.int32)):
        with pytest.raises(Exception):  # noqa: B017, PT011 - TensorFlow raises several types
            theirs.predict(bad)
        with pytest.raises(InvalidInputError) as err:
            ours.predict(bad)
        assert str(tf_models["linear"]) in str(err.value)
    with pytest.raises(mlflow.exceptions.MlflowException, match="Unsupported input data type"):
        theirs.predict(pd.DataFrame(np.ones((2, 4), dtype=np.float32)))
    with pytest.raises(InvalidInputError, match="Unsupported input data type"):
        ours.predict(pd.DataFrame(np.ones((2, 4), dtype=np.float32)))


def test_without_a_serving_signature_python_tensorflow_runs_it(tf_models):
    with pytest.warns(RuntimeWarning, match="has no signature 'serving_default'"):
        ours = fastpyfunc.load_model(str(tf_models["nosig"]))
    assert ours.engine == "savedmodel"  # planned natively, run by the fallback
    theirs = mlflow.pyfunc.load_model(str(tf_models["nosig"]))
    x = np.array([2.5], dtype=np.float32)  # the shape it was traced with
    assert_same(ours.predict(x), theirs.predict(x))


def test_corrupt_saved_model(tf_models, tmp_path):
    import shutil

    d = tmp_path / "m"
    shutil.copytree(tf_models["linear"], d)
    (d / "tf2model" / "saved_model.pb").write_bytes(b"\x08\x01garbage")
    with pytest.raises(ModelLoadError) as err:
        fastpyfunc.load_model(str(d))
    assert str(d) in str(err.value)


def test_get_raw_model(tf_models):
    raw = fastpyfunc.load_model(str(tf_models["linear"])).get_raw_model()
    x = np.ones((1, 4), dtype=np.float32)
    np.testing.assert_allclose(raw(x).numpy(), mlflow.pyfunc.load_model(str(tf_models["linear"])).predict(x))


def test_predict_does_not_import_tensorflow(tf_models):
    code = f"""
import sys, numpy as np, fastpyfunc
m = fastpyfunc.load_model({str(tf_models["linear"])!r})
out = m.predict(np.ones((3, 4), dtype=np.float32))
assert out.shape == (3, 2), out
print(sorted(k for k in ("tensorflow", "keras", "mlflow") if k in sys.modules))
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == "[]"


def test_native_tensorflow_leaves_later_imports_alone(tf_models):
    """The C API libraries are loaded privately: importing torch's compiler stack afterwards works
    (with TensorFlow's symbols exported process-wide it segfaults)."""
    code = f"""
import numpy as np, fastpyfunc
fastpyfunc.load_model({str(tf_models["linear"])!r}).predict(np.ones((1, 4), dtype=np.float32))
import torch._dynamo
print("ok")
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip().splitlines()[-1] == "ok"


def test_onnx_and_tensorflow_in_one_process(tf_models, onnx_model):
    x = np.ones((2, 4), dtype=np.float32)
    compare_predict(onnx_model, x)
    compare_predict(tf_models["linear"], x)
    compare_predict(onnx_model, x)


@pytest.fixture(scope="module")
def keras_export(tmp_path_factory):
    require("tensorflow")
    import keras
    from mlflow.models import infer_signature

    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(3, activation="relu"), keras.layers.Dense(2)]
    )
    x = np.random.default_rng(2).random((5, 4), dtype=np.float32)
    d = tmp_path_factory.mktemp("kx") / "model"
    mlflow.keras.save_model(
        model, str(d), signature=infer_signature(x, model.predict(x, verbose=0)), save_exported_model=True
    )
    return d


def test_keras_exported_models_run_natively(keras_export):
    assert fastpyfunc.load_model(str(keras_export)).engine == "savedmodel"
    x = np.random.default_rng(3).random((6, 4), dtype=np.float32)
    ours, theirs = both(keras_export)
    np.testing.assert_allclose(ours.predict(x), theirs.predict(x), rtol=1e-6)
    assert ours.predict(x).dtype == theirs.predict(x).dtype
    # the tensor signature turns a DataFrame into the array first, in both
    df = pd.DataFrame(x, index=list("abcdef"))
    got, expected = ours.predict(df), theirs.predict(df)
    assert type(got) is type(expected) and got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-6)
