"""The native SavedModel engine (TensorFlow C API) against mlflow.pyfunc, tf2-module models."""

from __future__ import annotations

import logging
import subprocess
import sys

import mlflow
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import fastpyfunc
from fastpyfunc.exceptions import (
    FastPyFuncError,
    InvalidInputError,
    ModelLoadError,
    SchemaEnforcementError,
)

from conftest import assert_same, both, compare_predict, logged_warnings, require


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
        if name == "linear":  # the same module with a params schema (its wrapper ignores params)
            x = np.ones((2, 4), dtype=np.float32)
            signature = mlflow.models.infer_signature(x, params={"k": 1, "tag": "a"})
            mlflow.tensorflow.save_model(module, str(root / "params"), signature=signature)
            out["params"] = root / "params"
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


def test_without_a_serving_signature_python_tensorflow_runs_it(tf_models, caplog):
    with caplog.at_level(logging.WARNING, logger="fastpyfunc"):
        ours = fastpyfunc.load_model(str(tf_models["nosig"]))
    assert any("has no signature 'serving_default'" in m for m in logged_warnings(caplog))
    assert ours.engine == "python"  # planned natively, run by the fallback
    assert "has no signature 'serving_default'" in ours.route_reason
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


def test_predict_does_not_import_tensorflow(tf_models, tf1_models):
    code = f"""
import sys, numpy as np, pandas as pd, fastpyfunc
m = fastpyfunc.load_model({str(tf_models["linear"])!r})
out = m.predict(np.ones((3, 4), dtype=np.float32))
assert out.shape == (3, 2), out
m = fastpyfunc.load_model({str(tf1_models["typed"])!r})
out = m.predict(pd.DataFrame({{"x": [1.0, 2.0], "n": [3, 4]}}))
assert list(out.columns) == ["flat", "pair", "score"], out
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


def test_array_wrappers_take_the_one_native_call(tf_models, keras_export):
    """tf2-module and exported Keras models: an ndarray (and, for Keras, a DataFrame turned into
    one by its tensor signature) is checked, fed and answered in one native call."""
    rng = np.random.default_rng(5)
    ours, theirs = both(tf_models["linear"])
    x = rng.random((3, 4), dtype=np.float32)
    direct = ours._native_predict(x, ours._native_plan)
    assert direct is not None
    assert_same(direct, theirs.predict(x))
    assert ours._native_predict(x.astype(np.float64), ours._native_plan) is None  # TF's error, in Python
    ours, theirs = both(tf_models["two"])
    x = rng.random((2, 3))
    direct = ours._native_predict(x, ours._native_plan)
    assert isinstance(direct, dict) and sorted(direct) == ["doubled", "total"]
    for k, v in theirs.predict(x).items():
        assert_same(direct[k], v.numpy())
    ours, theirs = both(keras_export)
    x = rng.random((3, 4), dtype=np.float32)
    direct = ours._native_predict(x, ours._native_plan)
    assert direct is not None
    np.testing.assert_allclose(direct, theirs.predict(x), rtol=1e-6)
    assert direct.dtype == theirs.predict(x).dtype
    # a DataFrame becomes df.to_numpy() under the (required) tensor signature, natively too
    df = pd.DataFrame(x, index=[7, 8, 9])
    direct = ours._native_predict(df, ours._native_plan)
    assert isinstance(direct, np.ndarray)
    np.testing.assert_allclose(direct, theirs.predict(df.copy()), rtol=1e-6)


def test_lists_convert_as_tensorflow_converts_them(tmp_path):
    """A list into a tf2-module model is ``tf.convert_to_tensor(list)``: Python ints are int32,
    or int64 where one does not fit int32 (never wrapped)."""
    tf = require("tensorflow")

    class Doubler(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.int64)])
        def __call__(self, x):
            return x * 2

    d = tmp_path / "model"
    mlflow.tensorflow.save_model(Doubler(), str(d))
    ours, theirs = both(d)
    big = [2**40, -(2**35), 3]
    assert_same(ours.predict(big), np.asarray(theirs.predict(big)))
    with pytest.raises(Exception):  # noqa: B017, PT011 - TensorFlow raises several types
        theirs.predict([1, 2])  # int32, which the int64 signature refuses
    with pytest.raises(InvalidInputError):
        ours.predict([1, 2])


@pytest.fixture(scope="module")
def identities(tmp_path_factory):
    """One identity tf.Module per dtype a list converts to, over a tensor of any shape."""
    tf = require("tensorflow")
    out = {}
    for dtype in ("float32", "float64", "int32", "int64", "bool"):

        class Identity(tf.Module):
            @tf.function(input_signature=[tf.TensorSpec(None, getattr(tf, dtype))])
            def __call__(self, x):
                return tf.identity(x)

        d = tmp_path_factory.mktemp("identity") / dtype
        mlflow.tensorflow.save_model(Identity(), str(d))
        out[dtype] = both(d)
    return out


_BIG = [2**31 - 1, 2**31, -(2**31), -(2**31) - 1, 2**63 - 1, 2**63, 2**64, 10**39]
_LEAF = st.one_of(
    st.integers(-3, 3),
    st.sampled_from(_BIG),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1e300, -1e39, 3.4028235e38, 3.5e38]),
    st.booleans(),
    st.floats(-10, 10).map(np.float64),
    st.floats(-10, 10, width=32).map(np.float32),
    st.integers(-(2**40), 2**40).map(np.int64),
    st.integers(0, 2**64 - 1).map(np.uint64),
    st.booleans().map(np.bool_),
    st.sampled_from([None, "a", b"b", {"k": 1}]),
)


@st.composite
def _lists(draw):
    """Lists of one or two levels of these values, some ragged, some with tuples for rows."""
    depth = draw(st.integers(1, 2))
    if depth == 1:
        return draw(st.lists(_LEAF, max_size=4))
    width = draw(st.integers(0, 3))
    rows = draw(st.lists(st.lists(_LEAF, min_size=width, max_size=width), max_size=3))
    if rows and draw(st.integers(0, 4)) == 0:  # a ragged row, or a scalar where a row belongs
        scalar = st.one_of(st.integers(-3, 3), st.floats(), st.none(), st.booleans().map(np.bool_))
        rows.append(draw(st.one_of(st.lists(_LEAF, max_size=width + 2), scalar)))
    if rows and draw(st.booleans()):
        rows[0] = tuple(rows[0]) if isinstance(rows[0], list) else rows[0]
    return rows


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=_lists())
@example(data=[1, 2**31])
@example(data=[np.float64(1.5), 2.0])
@example(data=[2.0, np.float64(1.5)])
@example(data=[True, 1])
@example(data=[1, True])
@example(data=[1.5, True])
@example(data=[1.5, np.bool_(True)])
@example(data=[1e300])
@example(data=[[1, 2], [3]])
@example(data=[[1, "a"], [3]])
@example(data=[[], []])
@example(data=[None])
@example(data=[1, 2**64, 1.5])
@example(data=[1, 1.5, 2**64])
@example(data=[np.uint64(2**63)])
def test_lists_are_converted_natively_as_tensorflow_converts_them(identities, data):
    """mlflow's tf2-module wrapper feeds ``tf.convert_to_tensor(list)``: the native reader
    converts every list as TensorFlow does (shape, dtype, values), and refuses what TensorFlow
    refuses with TensorFlow's message. Compared with TensorFlow itself on the same lists."""
    tf = require("tensorflow")
    try:
        t = tf.convert_to_tensor(data)
        expected, refused = t.numpy(), None
    except (ValueError, TypeError) as e:
        expected, refused = None, str(e)
    taken = expected.dtype.name if expected is not None else None
    for dtype, (ours, theirs) in identities.items():
        try:
            got = ours._native_predict(data, None)
        except InvalidInputError as e:
            assert dtype != taken, f"{dtype}: refused {data!r}: {e}"
            if refused is not None and "unsupported type" not in refused:
                assert refused in str(e)
            continue
        assert got is not None, f"the list took the Python path: {data!r}"
        assert dtype == taken, f"{dtype}: fed {data!r}, TensorFlow makes {taken} ({refused})"
        assert got.dtype == expected.dtype and got.shape == expected.shape
        np.testing.assert_array_equal(got, expected)
        assert_same(ours.predict(data), np.asarray(theirs.predict(data)))
    if refused is not None:
        with pytest.raises(InvalidInputError):
            identities["float32"][0].predict(data)


def test_lists_tensorflow_reads_otherwise_take_the_python_path(identities):
    """Where TensorFlow would iterate a value in a row's place (a string, a dict, an array) or
    convert a type the native reader does not model (float16, complex), the list is left to the
    Python path, which answers or refuses it."""
    ours, theirs = identities["float32"]
    for data in ([[0.5], "a"], [[0.5], {"k": 1}], [np.float16(1.5)], [1j]):  # TensorFlow refuses
        assert ours._native_predict(data, None) is None, data
        with pytest.raises(FastPyFuncError):
            ours.predict(data)
    deep: list = [1.0]
    for _ in range(100):
        deep = [deep]
    assert ours._native_predict(deep, None) is None  # deeper than any rank: not walked natively
    with pytest.raises(FastPyFuncError):
        ours.predict(deep)
    for arrays in ([np.float32([1.5, 2.0])], [1.0, np.array(2.0)]):  # TensorFlow converts them
        assert ours._native_predict(arrays, None) is None
        assert_same(ours.predict(arrays), np.asarray(theirs.predict(arrays)))


def test_keras_one_column_frames_take_the_one_native_call(tmp_path):
    """A one-column frame or a Series under a ``(-1, 1)`` spec (mlflow's ``np.array(series,
    dtype).reshape(shape)``), in one native call."""
    require("tensorflow")
    import keras
    from mlflow.models import infer_signature

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(2)])
    x = np.float32([[0.5], [-1.0], [2.0]])
    d = tmp_path / "model"
    signature = infer_signature(x, model.predict(x, verbose=0))
    mlflow.keras.save_model(model, str(d), signature=signature, save_exported_model=True)
    ours, theirs = both(d)
    frame = pd.DataFrame({"v": x[:, 0]})
    for data in (frame, frame["v"]):
        expected = theirs.predict(data.copy())
        direct = ours._native_predict(data, ours._native_plan)
        assert isinstance(direct, np.ndarray), type(data)
        np.testing.assert_allclose(direct, expected, rtol=1e-6)
        assert direct.dtype == expected.dtype


def test_params_are_enforced_in_the_one_native_call(tf_models, caplog):
    """With a params schema the call stays native: params enforced there with mlflow's rules
    (its warning logged once, its error keyed by the param), then ignored as mlflow ignores them."""
    ours, theirs = both(tf_models["params"])
    x = np.random.default_rng(6).random((3, 4), dtype=np.float32)
    for params in (None, {"k": 2}, {"tag": "b", "other": 1}):
        assert ours._native_call(x, params) is not None
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            got = ours.predict(x, params=params)
            expected = theirs.predict(x, params=params)
        assert_same(got, expected)
        assert logged_warnings(caplog) == logged_warnings(caplog, "mlflow.models.utils")
    with pytest.raises(SchemaEnforcementError, match="Invalid parameters found") as info:
        ours.predict(x, params={"k": [1, 2]})
    assert info.value.key == "k"
    with pytest.raises(Exception, match="Invalid parameters found"):  # noqa: PT011
        theirs.predict(x, params={"k": [1, 2]})


def _tf1_graph_savedmodel(tf, export_dir, tags):
    """A TF1-style SavedModel (graph, placeholders, SavedModelBuilder), as estimators exported them:
    two inputs and three outputs of the three shapes mlflow's `_TF2Wrapper` treats differently."""
    v1 = tf.compat.v1
    graph = tf.Graph()
    with graph.as_default():
        x = v1.placeholder(tf.float64, [None], name="x")
        n = v1.placeholder(tf.int64, [None], name="n")
        w = v1.get_variable("w", initializer=tf.constant(1.5, tf.float64))
        total = x * w + tf.cast(n, tf.float64)
        outputs = {
            "score": tf.expand_dims(total, 1),  # (N, 1): raveled
            "pair": tf.stack([x, total], axis=1),  # (N, 2): a list of lists
            "flat": total * 2,  # (N,): a list
        }
        with v1.Session(graph=graph) as sess:
            sess.run(v1.global_variables_initializer())
            builder = v1.saved_model.Builder(str(export_dir))
            sig = v1.saved_model.predict_signature_def(inputs={"x": x, "n": n}, outputs=outputs)
            builder.add_meta_graph_and_variables(sess, tags, signature_def_map={"predict": sig})
            builder.save()


@pytest.fixture(scope="module")
def tf1_models(tmp_path_factory):
    """tf1-estimator models: one with mlflow's model_type, tags and key; one as old mlflow wrote
    them, without model_type."""
    tf = require("tensorflow")
    from mlflow.models import Model

    out = {}
    for name, extra in (("typed", {"model_type": "tf1-estimator"}), ("legacy", {})):
        root = tmp_path_factory.mktemp("tf1") / name
        root.mkdir()
        _tf1_graph_savedmodel(tf, root / "tfmodel", ["serve", "custom"])
        meta = Model()
        meta.add_flavor(
            "tensorflow",
            saved_model_dir="tfmodel",
            meta_graph_tags=["serve", "custom"],
            signature_def_key="predict",
            **extra,
        )
        mlflow.pyfunc.add_to_model(meta, loader_module="mlflow.tensorflow")
        meta.save(str(root / "MLmodel"))
        out[name] = root
    return out


def _compare_tf1(root, data):
    """Compares with mlflow with outputs in sorted order: mlflow's follows the SignatureDef's
    protobuf map, whose iteration order changes from one process to the next (fastpyfunc's is
    sorted, always)."""
    ours, theirs = both(root)
    expected = theirs.predict(data.copy())
    expected = (
        expected[sorted(expected)] if isinstance(expected, pd.DataFrame) else dict(sorted(expected.items()))
    )
    got = ours.predict(data.copy())
    assert list(got) == sorted(got)
    assert_same(got, expected)
    return got


@pytest.mark.parametrize("name", ["typed", "legacy"])
def test_tf1_estimator_runs_natively_with_mlflows_answers(tf1_models, name):
    root = tf1_models[name]
    assert fastpyfunc.load_model(str(root)).engine == "savedmodel"
    rng = np.random.default_rng(2)
    x, n = rng.random(6), rng.integers(0, 9, 6)
    # A DataFrame in, a DataFrame out; float32 and int32 columns widen as mlflow's to_list() does.
    _compare_tf1(root, pd.DataFrame({"x": x, "n": n}))
    _compare_tf1(root, pd.DataFrame({"n": n.astype(np.int32), "x": x.astype(np.float32)}))
    _compare_tf1(root, pd.DataFrame({"x": x[:1], "n": n[:1]}))
    # A dict in, a dict out (with a list per 1-D or 2-D output, an array per (N, 1) output).
    got = _compare_tf1(root, {"x": x, "n": n})
    assert isinstance(got["score"], np.ndarray) and isinstance(got["flat"], list)
    _compare_tf1(root, {"x": np.float64(2.0).reshape(1), "n": np.array([3])})


def test_tf1_estimator_frames_take_the_one_native_call(tf1_models):
    """A DataFrame whose columns are the signature's inputs is fed, run and answered in one
    native call (columns widened as ``to_list()`` widens them); anything else is handed on."""
    ours, theirs = both(tf1_models["typed"])
    rng = np.random.default_rng(3)
    x, n = rng.random(5), rng.integers(0, 9, 5)
    for df in (
        pd.DataFrame({"x": x, "n": n}),
        pd.DataFrame({"n": n.astype(np.uint8), "x": x.astype(np.float16)}, index=list("abcde")),
    ):
        direct = ours._native_predict(df, ours._native_plan)
        assert isinstance(direct, pd.DataFrame)
        expected = theirs.predict(df.copy())
        assert_same(direct, expected[sorted(expected)])
    assert ours._native_predict(pd.DataFrame({"x": x}), ours._native_plan) is None  # missing input
    # a dict of arrays of the signature's types: fed as tf.constant feeds them, answered as a dict
    for d in ({"x": x, "n": n}, {"n": n, "x": x}):
        direct = ours._native_predict(d, ours._native_plan)
        assert isinstance(direct, dict)
        assert_same(direct, dict(sorted(theirs.predict(dict(d)).items())))
    # Python values (tf.constant converts them), other dtypes (TensorFlow's error), a missing
    # input: the Python path's
    for d in ({"x": list(x), "n": n}, {"x": x.astype(np.float32), "n": n}, {"x": x}):
        assert ours._native_predict(d, ours._native_plan) is None
    mixed = pd.DataFrame({"x": x, "n": n.astype(np.uint64)})  # numpy decides uint64 by value
    assert ours._native_predict(mixed, ours._native_plan) is None


def test_tf1_estimator_multi_io_values(tf1_models):
    """The two inputs reach the graph by name (not by position): checked by arithmetic, since
    mlflow and fastpyfunc agreeing could hide a shared swap."""
    got = fastpyfunc.load_model(str(tf1_models["typed"])).predict(
        {"n": np.array([10, 20]), "x": np.array([2.0, 4.0])}
    )
    np.testing.assert_allclose(got["score"], [13.0, 26.0])
    assert got["pair"] == [[2.0, 13.0], [4.0, 26.0]]
    assert got["flat"] == [26.0, 52.0]


def test_tf1_estimator_bad_inputs_are_refused_like_mlflow(tf1_models):
    root = tf1_models["typed"]
    ours, theirs = both(root)
    good = {"x": np.ones(2), "n": np.array([1, 2])}
    bad_inputs = {
        "missing input": {"x": np.ones(2)},
        "unknown input": {**good, "z": np.ones(2)},
        "ndarray": np.ones(2),
        "wrong dtype": {"x": np.ones(2, dtype=np.float32), "n": np.array([1, 2])},
        "list of ints (int32, as tf.constant makes it)": {"x": np.ones(2), "n": [1, 2]},
        "wrong rank": {"x": np.ones((2, 1)), "n": np.array([1, 2])},
    }
    for what, bad in bad_inputs.items():
        with pytest.raises(Exception):  # noqa: B017, PT011 - TypeError or TensorFlow's errors
            theirs.predict(bad)
        with pytest.raises(InvalidInputError) as err:
            ours.predict(bad)
        assert str(root) in str(err.value), what
    with pytest.raises(InvalidInputError, match=r"missing \['n'\]"):
        ours.predict({"x": np.ones(2)})
    with pytest.raises(InvalidInputError, match=r"'x'.*shape \(None,\)"):
        ours.predict({"x": np.ones((2, 1)), "n": np.array([1, 2])})


def test_tf1_estimator_wrong_tags_is_a_clear_error(tf1_models, tmp_path):
    import shutil

    root = tmp_path / "m"
    shutil.copytree(tf1_models["typed"], root)
    text = (root / "MLmodel").read_text().replace("- custom", "- other")
    (root / "MLmodel").write_text(text)
    with pytest.raises(ModelLoadError) as err:
        fastpyfunc.load_model(str(root))
    assert str(root) in str(err.value)


@pytest.mark.parametrize(
    "series",
    [
        pd.Series([1.5, 2.25], dtype=np.float16),
        pd.Series([1.1, 2.2], dtype=np.float32),
        pd.Series([1.1, np.nan]),
        pd.Series([1, -2], dtype=np.int8),
        pd.Series([1, 2], dtype=np.int32),
        pd.Series([1, 2], dtype=np.uint16),
        pd.Series([1, 2], dtype=np.uint64),
        pd.Series([1, 2**63 + 5], dtype=np.uint64),
        pd.Series([True, False]),
        pd.Series([1 + 2j], dtype=np.complex64),
        pd.Series([], dtype=np.int64),
        pd.Series([[1.0, 2.0], [3.0, 4.0]]),
        pd.Series(["a", "bc"]),
        pd.Series([1, None], dtype="Int64"),
    ],
    ids=lambda s: str(s.dtype),
)
def test_dataframe_columns_convert_as_mlflows_to_list(series):
    """mlflow feeds each column as np.array(series.to_list()); the fast path must equal it."""
    from fastpyfunc._tensorflow import _like_column

    assert_same(_like_column(series), np.array(series.to_list()))
