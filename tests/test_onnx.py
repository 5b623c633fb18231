"""The native ONNX engine against mlflow.pyfunc on models made at test time."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

import fastpyfunc
from fastpyfunc.exceptions import (
    EngineUnavailableError,
    FastPyFuncError,
    InvalidInputError,
    MalformedModelError,
    ModelLoadError,
)

from conftest import assert_same, both, compare_predict, logged_warnings, require

onnx = require("onnx")
require("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

# Every element type mlflow can feed, with the ONNX enum and the NumPy dtype.
ELEMENT_TYPES = {
    "bool": (TensorProto.BOOL, np.bool_),
    "int8": (TensorProto.INT8, np.int8),
    "int16": (TensorProto.INT16, np.int16),
    "int32": (TensorProto.INT32, np.int32),
    "int64": (TensorProto.INT64, np.int64),
    "uint8": (TensorProto.UINT8, np.uint8),
    "uint16": (TensorProto.UINT16, np.uint16),
    "uint32": (TensorProto.UINT32, np.uint32),
    "uint64": (TensorProto.UINT64, np.uint64),
    "float16": (TensorProto.FLOAT16, np.float16),
    "float32": (TensorProto.FLOAT, np.float32),
    "float64": (TensorProto.DOUBLE, np.float64),
    "string": (TensorProto.STRING, object),
}


def _model(nodes, inputs, outputs, initializers=()):
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(initializers))
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    return m


def _vi(name, elem, shape):
    return helper.make_tensor_value_info(name, elem, shape)


def _save(onx, tmp_path_factory, name, **kwargs):
    d = tmp_path_factory.mktemp(name) / "model"
    mlflow.onnx.save_model(onx, str(d), **kwargs)
    return d


def _data(rng, n=5):
    return {
        "bool": rng.random(n) > 0.5,
        "int8": rng.integers(-100, 100, n).astype(np.int8),
        "int16": rng.integers(-1000, 1000, n).astype(np.int16),
        "int32": rng.integers(-(10**6), 10**6, n).astype(np.int32),
        "int64": rng.integers(-(10**12), 10**12, n),
        "uint8": rng.integers(0, 255, n).astype(np.uint8),
        "uint16": rng.integers(0, 60000, n).astype(np.uint16),
        "uint32": rng.integers(0, 4 * 10**9, n).astype(np.uint32),
        "uint64": rng.integers(0, 2**62, n).astype(np.uint64),
        "float16": rng.random(n).astype(np.float16),
        "float32": rng.random(n).astype(np.float32),
        "float64": rng.random(n),
        "string": np.array([f"s{i}é" for i in range(n)], dtype=object),
    }


@pytest.fixture(scope="module")
def all_types_model(tmp_path_factory):
    """One Identity per element type: x_<type> -> y_<type>."""
    nodes, ins, outs = [], [], []
    for name, (elem, _) in ELEMENT_TYPES.items():
        nodes.append(helper.make_node("Identity", [f"x_{name}"], [f"y_{name}"]))
        ins.append(_vi(f"x_{name}", elem, [None]))
        outs.append(_vi(f"y_{name}", elem, [None]))
    return _save(_model(nodes, ins, outs), tmp_path_factory, "alltypes")


@pytest.fixture(scope="module")
def mixed_model(tmp_path_factory):
    """Three inputs of different dtypes, three 1-D outputs: fed per column from a DataFrame."""
    two = numpy_helper.from_array(np.array(2.0, dtype=np.float32), "two")
    nodes = [
        helper.make_node("Mul", ["a", "two"], ["a2"]),
        helper.make_node("Add", ["b", "b"], ["b2"]),
        helper.make_node("Identity", ["s"], ["s_out"]),
    ]
    ins = [
        _vi("a", TensorProto.FLOAT, [None]),
        _vi("b", TensorProto.INT64, [None]),
        _vi("s", TensorProto.STRING, [None]),
    ]
    outs = [
        _vi("a2", TensorProto.FLOAT, [None]),
        _vi("b2", TensorProto.INT64, [None]),
        _vi("s_out", TensorProto.STRING, [None]),
    ]
    return _save(_model(nodes, ins, outs, [two]), tmp_path_factory, "mixed")


@pytest.fixture(scope="module")
def wide_models(tmp_path_factory):
    """x (N,3) -> rowsum (N,) and doubled (N,3); and a model with only the (N,3) output."""
    two = numpy_helper.from_array(np.array(2.0, dtype=np.float32), "two")
    axes = numpy_helper.from_array(np.array([1], dtype=np.int64), "axes")
    x = _vi("x", TensorProto.FLOAT, [None, 3])
    doubled = _vi("doubled", TensorProto.FLOAT, [None, 3])
    both_out = _model(
        [
            helper.make_node("ReduceSum", ["x", "axes"], ["rowsum"], keepdims=0),
            helper.make_node("Mul", ["x", "two"], ["doubled"]),
        ],
        [x],
        [_vi("rowsum", TensorProto.FLOAT, [None]), doubled],
        [two, axes],
    )
    only_2d = _model([helper.make_node("Mul", ["x", "two"], ["doubled"])], [x], [doubled], [two])
    return _save(both_out, tmp_path_factory, "wide"), _save(only_2d, tmp_path_factory, "wide2d")


@pytest.fixture(scope="module")
def classifiers(tmp_path_factory, iris):
    """skl2onnx LogisticRegression with ZipMap on (list of dicts) and off (probability matrix)."""
    from skl2onnx import to_onnx
    from sklearn.linear_model import LogisticRegression

    X, y = iris
    clf = LogisticRegression(max_iter=500).fit(X.to_numpy(np.float32), y)
    sample = X.to_numpy(np.float32)[:1]
    on = to_onnx(clf, sample, target_opset=17)
    off = to_onnx(clf, sample, target_opset=17, options={id(clf): {"zipmap": False}})
    return _save(on, tmp_path_factory, "zipmap"), _save(off, tmp_path_factory, "nozipmap")


@pytest.fixture(scope="module")
def regressor_with_signature(tmp_path_factory, iris):
    from mlflow.models import infer_signature
    from skl2onnx import to_onnx
    from sklearn.ensemble import RandomForestRegressor

    X, y = iris
    x = X.to_numpy(np.float32)
    reg = RandomForestRegressor(n_estimators=5, max_depth=4, random_state=0).fit(x, y)
    onx = to_onnx(reg, x[:1], target_opset=17)
    sig = infer_signature(x[:5], reg.predict(x[:5]).astype(np.float32).reshape(-1, 1))
    return _save(onx, tmp_path_factory, "rfsig", signature=sig)


@pytest.fixture(scope="module")
def external_data_model(tmp_path_factory):
    """A MatMul whose 64x64 weight matrix mlflow writes to an external data file."""
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.random((64, 64), dtype=np.float32), "w")
    m = _model(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        [_vi("x", TensorProto.FLOAT, [None, 64])],
        [_vi("y", TensorProto.FLOAT, [None, 64])],
        [w],
    )
    return _save(m, tmp_path_factory, "extdata", save_as_external_data=True)


# -- parity ---------------------------------------------------------------------------------


def test_runs_natively(onnx_model):
    assert fastpyfunc.load_model(str(onnx_model)).engine == "onnx"


def test_every_element_type_round_trips_like_mlflow(all_types_model):
    feeds = _data(np.random.default_rng(0))
    got = compare_predict(all_types_model, {f"x_{k}": v for k, v in feeds.items()})
    for name, (_, dtype) in ELEMENT_TYPES.items():
        assert got[f"y_{name}"].dtype == np.dtype(dtype), name
    assert list(got["y_string"]) == list(feeds["string"])


def test_string_inputs_accept_unicode_object_and_bytes_arrays(all_types_model):
    base = {f"x_{k}": v for k, v in _data(np.random.default_rng(1), 3).items()}
    ours, theirs = both(all_types_model)
    for strings in (
        np.array(["a", "bé", ""]),
        np.array(["a", "bé", ""], dtype=object),
        np.array([1, 2.5, "x"], dtype=object),
    ):
        feeds = dict(base, x_string=strings)
        assert_same(ours.predict(dict(feeds)), theirs.predict(dict(feeds)))
    # onnxruntime's Python API garbles bytes arrays; UTF-8 bytes are decoded here.
    got = ours.predict(dict(base, x_string=np.array([b"a", "bé".encode()], dtype="S3")))
    assert list(got["y_string"]) == ["a", "bé"]


def test_regressor_ndarray_dict_dataframe(onnx_model, iris):
    X, _ = iris
    x32 = X.to_numpy(np.float32)[:9]
    compare_predict(onnx_model, x32)
    compare_predict(onnx_model, {"X": x32})
    compare_predict(onnx_model, X.iloc[:9])  # float64 DataFrame: cast to float32 as mlflow does
    compare_predict(onnx_model, X.to_numpy()[:9])  # float64 ndarray: cast too
    compare_predict(onnx_model, x32[:0])  # empty batch


def test_signature_is_enforced_then_run_natively(regressor_with_signature, iris):
    X, _ = iris
    x = X.to_numpy(np.float32)[:6]
    got = compare_predict(regressor_with_signature, x)
    assert got["variable"].shape == (6, 1)
    ours, theirs = both(regressor_with_signature)
    with pytest.raises(Exception) as theirs_err:
        theirs.predict(x.astype(np.int64))
    with pytest.raises(FastPyFuncError) as ours_err:
        ours.predict(x.astype(np.int64))
    assert theirs_err.value.message in ours_err.value.message


def test_multi_input_dataframe_and_dict(mixed_model):
    df = pd.DataFrame({"a": [0.5, 1.5, -2.0], "b": [1, 2, 3], "s": pd.Series(["x", "y", "zé"], dtype=object)})
    got = compare_predict(mixed_model, df)
    assert list(got.columns) == ["a2", "b2", "s_out"]
    compare_predict(mixed_model, {"a": np.float32([1, 2]), "b": np.int64([3, 4]), "s": np.array(["p", "q"])})
    # Column order does not matter and extra columns are ignored, as in mlflow.
    compare_predict(mixed_model, df[["s", "b", "a"]].assign(extra=1))


def test_pandas_string_columns_feed_string_inputs(mixed_model):
    df = pd.DataFrame({"a": [0.5, 1.5], "b": [1, 2], "s": ["x", "zé"]})  # pandas' default str dtype
    ours, theirs = both(mixed_model)
    with pytest.raises(RuntimeError, match="list of dictionaries or a single numpy array"):
        theirs.predict(df)  # mlflow passes the ArrowStringArray to onnxruntime, which refuses it
    expected = theirs.predict(df.astype({"s": object}))
    assert_same(ours.predict(df), expected)


def test_zipmap_classifier_matches_mlflow(classifiers, iris):
    X, _ = iris
    zipmap, _ = classifiers
    got = compare_predict(zipmap, X.to_numpy(np.float32)[:5])
    assert isinstance(got["output_probability"], list) and isinstance(got["output_probability"][0], dict)
    frame = compare_predict(zipmap, X.iloc[:5])
    assert isinstance(frame.loc[0, "output_probability"], dict)


def test_classifier_without_zipmap(classifiers, iris):
    X, _ = iris
    _, plain = classifiers
    compare_predict(plain, X.to_numpy(np.float32)[:5])
    ours, theirs = both(plain)
    # mlflow flattens the (N, 3) probabilities next to the (N,) labels and fails (#12539).
    with pytest.raises(ValueError, match="same length"):
        theirs.predict(X.iloc[:5])
    frame = ours.predict(X.iloc[:5])
    as_dict = ours.predict(X.to_numpy(np.float32)[:5])
    assert list(frame.columns) == ["label", "probabilities"] and len(frame) == 5
    np.testing.assert_array_equal(frame["label"].to_numpy(), as_dict["label"])
    np.testing.assert_array_equal(np.stack(frame["probabilities"].to_numpy()), as_dict["probabilities"])


def test_two_dimensional_outputs_keep_rows_together(wide_models):
    both_out, only_2d = wide_models
    x = np.arange(12, dtype=np.float32).reshape(4, 3)
    df = pd.DataFrame(x, columns=["p", "q", "r"])
    ours, theirs = both(only_2d)
    scrambled = theirs.predict(df)
    assert len(scrambled) == 12  # mlflow: N*k interleaved rows
    frame = ours.predict(df)
    assert len(frame) == 4
    np.testing.assert_array_equal(np.stack(frame["doubled"].to_numpy()), 2 * x)
    frame = fastpyfunc.load_model(str(both_out)).predict(df)
    np.testing.assert_array_equal(frame["rowsum"].to_numpy(), x.sum(axis=1))
    np.testing.assert_array_equal(frame.loc[2, "doubled"], 2 * x[2])


def test_external_data(external_data_model):
    extra = [p.name for p in external_data_model.iterdir() if p.name not in {"MLmodel", "model.onnx"}]
    assert any(not n.endswith((".yaml", ".txt", ".json")) for n in extra), extra
    x = np.random.default_rng(3).random((3, 64), dtype=np.float32)
    got = compare_predict(external_data_model, x)
    assert got["y"].shape == (3, 64)


def test_model_without_signature(onnx_model):
    assert fastpyfunc.load_model(str(onnx_model)).metadata.signature is None
    compare_predict(onnx_model, np.ones((2, 4), dtype=np.float32))


def test_params_are_ignored_like_mlflow(onnx_model):
    x = np.ones((2, 4), dtype=np.float32)
    compare_predict(onnx_model, x, params=None)


# -- get_raw_model, providers, session options -------------------------------------------------


def test_get_raw_model_is_an_inference_session(onnx_model):
    import onnxruntime

    ours, theirs = both(onnx_model)
    raw = ours.get_raw_model()
    assert isinstance(raw, onnxruntime.InferenceSession)
    assert raw is ours.get_raw_model()
    x = np.ones((2, 4), dtype=np.float32)
    np.testing.assert_array_equal(raw.run(None, {"X": x})[0], theirs.get_raw_model().run(None, {"X": x})[0])


def test_default_providers_warn_as_mlflow_does(onnx_model, caplog):
    import onnxruntime

    with caplog.at_level(logging.WARNING):
        ours, _ = both(onnx_model)
    ours_msgs, theirs_msgs = logged_warnings(caplog, "fastpyfunc"), logged_warnings(caplog, "mlflow.onnx")
    assert ours_msgs == theirs_msgs
    cuda = "CUDAExecutionProvider" in onnxruntime.get_available_providers()
    assert bool(ours_msgs) is not cuda
    assert ours._model_impl.providers[-1] == "CPUExecutionProvider"


def test_declared_providers_and_session_options(tmp_path_factory, caplog, iris):
    from skl2onnx import to_onnx
    from sklearn.linear_model import Ridge

    X, y = iris
    x = X.to_numpy(np.float32)
    onx = to_onnx(Ridge().fit(x, y), x[:1], target_opset=17)
    options = {
        "intra_op_num_threads": 1,
        "inter_op_num_threads": 1,
        "execution_mode": "parallel",
        "graph_optimization_level": 1,
        "extra_session_config": {"session.intra_op.allow_spinning": "0"},
    }
    d = _save(
        onx,
        tmp_path_factory,
        "opts",
        onnx_execution_providers=["CPUExecutionProvider"],
        onnx_session_options=options,
    )
    with caplog.at_level(logging.WARNING):
        ours = fastpyfunc.load_model(str(d))
    assert logged_warnings(caplog, "fastpyfunc") == []
    assert ours._model_impl.providers == ["CPUExecutionProvider"]
    compare_predict(d, x[:4])
    assert ours.get_raw_model().get_session_options().intra_op_num_threads == 1


def _with_flavor(src: Path, dst: Path, **onnx_keys) -> Path:
    import shutil

    import yaml

    shutil.copytree(src, dst)
    meta = yaml.safe_load((dst / "MLmodel").read_text())
    meta["flavors"]["onnx"].update(onnx_keys)
    (dst / "MLmodel").write_text(yaml.safe_dump(meta))
    return dst


def test_unknown_provider_falls_back_to_cpu_with_a_warning(onnx_model, tmp_path, caplog):
    d = _with_flavor(
        onnx_model, tmp_path / "m", providers=["NoSuchExecutionProvider", ["CPUExecutionProvider", {}]]
    )
    with caplog.at_level(logging.WARNING):
        ours = fastpyfunc.load_model(str(d))
    assert any("NoSuchExecutionProvider" in m for m in logged_warnings(caplog, "fastpyfunc"))
    assert ours._model_impl.providers == ["CPUExecutionProvider"]
    compare_predict(d, np.ones((1, 4), dtype=np.float32))


def test_impossible_session_options_name_their_key(onnx_model, tmp_path):
    d = _with_flavor(onnx_model, tmp_path / "m", onnx_session_options={"graph_optimization_level": 7})
    with pytest.raises(MalformedModelError) as err:
        fastpyfunc.load_model(str(d))
    assert err.value.key == "flavors.onnx.onnx_session_options.graph_optimization_level"
    assert str(d) in str(err.value)


# -- bad input ----------------------------------------------------------------------------------


def test_bad_inputs_raise_like_mlflow(mixed_model, onnx_model):
    from mlflow.exceptions import MlflowException
    from onnxruntime.capi.onnxruntime_pybind11_state import InvalidArgument

    ours, theirs = both(mixed_model)
    good = {"a": np.float32([1]), "b": np.int64([1]), "s": np.array(["x"])}
    # What mlflow raises for each (several types); fastpyfunc raises InvalidInputError for all.
    cases = {
        "ndarray for several inputs": (np.float32([1]), MlflowException),
        "missing input": ({"a": np.float32([1]), "b": np.int64([1])}, ValueError),
        "unknown input": (dict(good, zzz=np.float32([1])), InvalidArgument),
        "wrong dtype": (dict(good, b=np.int32([1])), InvalidArgument),
        "float64 for an int input": (dict(good, b=np.float64([1])), InvalidArgument),
        "wrong rank": (dict(good, a=np.float32([[1]])), InvalidArgument),
        "not an array": (dict(good, a=3.0), AttributeError),
        "unsupported container": ([1, 2, 3], TypeError),
    }
    for what, (data, theirs_type) in cases.items():
        with pytest.raises(theirs_type):
            theirs.predict(data)
        with pytest.raises(InvalidInputError) as err:
            ours.predict(data)
        assert str(mixed_model) in str(err.value), what
    with pytest.raises(InvalidInputError) as err:
        ours.predict(dict(good, b=np.int32([1])))
    assert err.value.key == "b" and "tensor(int32)" in str(err.value)
    with pytest.raises(InvalidInputError) as err:
        ours.predict(pd.DataFrame({"a": [1.0], "b": [1]}))
    assert err.value.key == "s"


def test_dict_input_is_not_modified(onnx_model):
    ours, theirs = both(onnx_model)
    x = np.ones((2, 4))
    feeds = {"X": x}
    ours.predict(feeds)
    assert feeds["X"] is x and x.dtype == np.float64
    theirs.predict(feeds)  # mlflow casts inside the caller's dict
    assert feeds["X"].dtype == np.float32


def test_corrupt_and_truncated_model_files(onnx_model, tmp_path):
    import shutil

    for name, mutate in {
        "garbage": lambda b: b"\x08\x07not an onnx model at all",
        "truncated": lambda b: b[: len(b) // 2],
    }.items():
        d = tmp_path / name
        shutil.copytree(onnx_model, d)
        f = d / "model.onnx"
        f.write_bytes(mutate(f.read_bytes()))
        with pytest.raises(ModelLoadError) as err:
            fastpyfunc.load_model(str(d))
        assert str(f) in str(err.value), name


# -- zero copy, threads, no Python engine -----------------------------------------------------


def test_fitting_arrays_reach_onnxruntime_without_a_copy(onnx_model):
    model = fastpyfunc.load_model(str(onnx_model))
    native = model._model_impl._native
    x = np.random.default_rng(4).random((100, 4), dtype=np.float32)
    model.predict(x)
    assert native._last_feed_addrs() == [x.ctypes.data]
    model.predict({"X": x})
    assert native._last_feed_addrs() == [x.ctypes.data]
    for converted in (x.astype(np.float64), np.asfortranarray(x), x[::2]):
        expected = model.predict(np.ascontiguousarray(converted, dtype=np.float32))
        got = model.predict(converted)
        assert native._last_feed_addrs() != [converted.ctypes.data]
        assert_same(got, expected)


def test_many_threads_share_one_model(onnx_model):
    model = fastpyfunc.load_model(str(onnx_model))
    rng = np.random.default_rng(5)
    inputs = [rng.random((i % 7 + 1, 4), dtype=np.float32) for i in range(64)]
    expected = [mlflow.pyfunc.load_model(str(onnx_model)).predict(x)["variable"] for x in inputs]
    failures: list[str] = []

    def work(t: int) -> None:
        for i in range(1000):
            k = (t * 131 + i) % len(inputs)
            got = model.predict(inputs[k])["variable"]
            if not np.array_equal(got, expected[k]):
                failures.append(f"thread {t} call {i}")

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert failures == []


def _run_python(code: str, **env: str) -> subprocess.CompletedProcess:
    import os

    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, **env}, timeout=300
    )


def test_predict_does_not_import_onnxruntime(onnx_model):
    code = f"""
import sys, numpy as np, fastpyfunc
m = fastpyfunc.load_model({str(onnx_model)!r})
out = m.predict(np.ones((3, 4), dtype=np.float32))
assert out["variable"].shape == (3, 1), out
print(sorted(k for k in ("onnxruntime", "mlflow", "pandas") if k in sys.modules))
"""
    r = _run_python(code)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


def test_missing_or_broken_onnxruntime_is_a_clear_error(onnx_model, tmp_path):
    code = f"""
import sys
{{pre}}
import fastpyfunc
from fastpyfunc.exceptions import EngineUnavailableError
try:
    fastpyfunc.load_model({str(onnx_model)!r})
except EngineUnavailableError as e:
    print(e)
else:
    raise SystemExit("loaded")
"""
    r = _run_python(code.replace("{pre}", "sys.modules['onnxruntime'] = None"))
    assert r.returncode == 0, r.stderr
    assert "not installed" in r.stdout and "onnxruntime>=1.31" in r.stdout
    r = _run_python(code.replace("{pre}", ""), ORT_DYLIB_PATH=str(tmp_path / "nope.so"))
    assert r.returncode == 0, r.stderr
    assert "ORT_DYLIB_PATH" in r.stdout
    not_a_library = tmp_path / "libonnxruntime.so.1.99"
    not_a_library.write_bytes(b"\x7fELF but not really")
    r = _run_python(code.replace("{pre}", ""), ORT_DYLIB_PATH=str(not_a_library))
    assert r.returncode == 0, r.stderr
    assert "cannot load ONNX Runtime" in r.stdout and "onnxruntime>=1.31" in r.stdout


def test_too_old_onnxruntime_names_the_version_to_install(onnx_model, monkeypatch):
    import importlib.metadata

    monkeypatch.delenv("ORT_DYLIB_PATH", raising=False)
    monkeypatch.setattr(importlib.metadata, "version", lambda name: "1.20.1")
    with pytest.raises(EngineUnavailableError) as err:
        fastpyfunc.load_model(str(onnx_model))
    assert "onnxruntime 1.20.1" in str(err.value) and "onnxruntime>=1.31" in str(err.value)


def test_inputs_and_outputs_describe_the_graph(mixed_model):
    impl = fastpyfunc.load_model(str(mixed_model))._model_impl
    assert impl.inputs == [("a", "tensor(float)"), ("b", "tensor(int64)"), ("s", "tensor(string)")]
    assert impl.output_names == ["a2", "b2", "s_out"]
    assert json.loads(json.dumps(impl._native.inputs))[0] == ["a", "tensor(float)", [-1]]


def test_outputs_are_views_of_onnxruntime_memory(onnx_model):
    out = fastpyfunc.load_model(str(onnx_model)).predict(np.ones((3, 4), dtype=np.float32))["variable"]
    assert type(out.base).__name__ == "EngineOutput"  # owns the onnxruntime value; no copy out
    out[0, 0] = 42.0  # writeable, like onnxruntime's own arrays
    assert out[0, 0] == 42.0


def test_tensor_signature_with_dataframe_input(tmp_path_factory, iris):
    """A TensorSpec signature turns the DataFrame into the tensor first, as mlflow does."""
    from mlflow.models import ModelSignature
    from mlflow.types import Schema as MlflowSchema
    from mlflow.types import TensorSpec
    from skl2onnx import to_onnx
    from sklearn.linear_model import LinearRegression

    X, y = iris
    x = X.to_numpy(np.float32)
    onx = to_onnx(LinearRegression().fit(x, y), x[:1], target_opset=17)
    sig = ModelSignature(inputs=MlflowSchema([TensorSpec(np.dtype(np.float32), (-1, 4))]))
    d = _save(onx, tmp_path_factory, "tensorsig", signature=sig)
    compare_predict(d, pd.DataFrame(x[:5]))
    compare_predict(d, x[:5])


def test_predict_releases_the_gil(tmp_path_factory):
    """While one thread runs a long predict, another keeps running Python."""
    import time

    rng = np.random.default_rng(7)
    layers = []
    prev = "x"
    inits = []
    for i in range(6):
        inits.append(numpy_helper.from_array(rng.random((256, 256), dtype=np.float32) / 256, f"w{i}"))
        layers.append(helper.make_node("MatMul", [prev, f"w{i}"], [f"h{i}"]))
        prev = f"h{i}"
    m = _model(
        layers, [_vi("x", TensorProto.FLOAT, [None, 256])], [_vi(prev, TensorProto.FLOAT, [None, 256])], inits
    )
    d = _save(m, tmp_path_factory, "heavy", onnx_session_options={"intra_op_num_threads": 1})
    model = fastpyfunc.load_model(str(d))
    x = rng.random((20000, 256), dtype=np.float32)
    start = time.perf_counter()
    model.predict(x)
    alone = time.perf_counter() - start
    done = threading.Event()
    worker = threading.Thread(target=lambda: (model.predict(x), done.set()))
    ticks = [time.perf_counter()]
    worker.start()
    while not done.is_set():
        ticks.append(time.perf_counter())
    ticks.append(time.perf_counter())  # a stall at the end counts too
    worker.join()
    gaps = np.diff(ticks)
    # With the GIL held for the whole call, this loop would stall for about `alone` seconds.
    assert alone > 0.05, alone
    assert gaps.max() < alone / 2, (gaps.max(), alone)
