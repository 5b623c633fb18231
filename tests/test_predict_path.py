"""The one-call native predict path (ONNX): pandas, NumPy and Arrow inputs read in Rust.

Differential against mlflow.pyfunc on the same models and inputs, once per input kind: pandas
frames are compared with mlflow directly; Arrow input (pyarrow Table and RecordBatch, polars) must
give the same columns and values as the pandas input it converts to (``table.to_pandas()``).
"""

from __future__ import annotations

import logging
import subprocess
import textwrap
import warnings

import mlflow
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema, TensorSpec
from test_enforce import columns

import fastpyfunc
from fastpyfunc.exceptions import FastPyFuncError, SchemaEnforcementError

from conftest import PY, assert_same, logged_warnings, require

pa = require("pyarrow")


def _graph(inputs, outputs, nodes):
    require("onnx")
    from onnx import TensorProto, helper

    types = {"float": TensorProto.FLOAT, "double": TensorProto.DOUBLE, "int64": TensorProto.INT64}
    g = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info(n, types[t], s) for n, t, s in inputs],
        [helper.make_tensor_value_info(n, types[t], s) for n, t, s in outputs],
        initializer=[helper.make_tensor("axes", TensorProto.INT64, [1], [1])],
    )
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def _row_sum(elem: str, k: int):
    """X [N, k] -> Y = sum over the row [N]."""
    from onnx import helper

    return _graph(
        [("X", elem, [None, k])],
        [("Y", elem, [None])],
        [helper.make_node("ReduceSum", ["X", "axes"], ["Y"], keepdims=0)],
    )


def _two_inputs():
    """a float [N], b double [N] -> a2 = a + a (float), b1 = b (double), both [N]."""
    from onnx import helper

    return _graph(
        [("a", "float", [None]), ("b", "double", [None])],
        [("a2", "float", [None]), ("b1", "double", [None])],
        [helper.make_node("Add", ["a", "a"], ["a2"]), helper.make_node("Identity", ["b"], ["b1"])],
    )


def _rows_out():
    """X [N, 2] float -> Y = X (an [N, 2] output: rows as arrays)."""
    from onnx import helper

    return _graph(
        [("X", "float", [None, 2])], [("Y", "float", [None, 2])], [helper.make_node("Identity", ["X"], ["Y"])]
    )


def _identity():
    """X double [N] -> Y = X."""
    from onnx import helper

    return _graph(
        [("X", "double", [None])], [("Y", "double", [None])], [helper.make_node("Identity", ["X"], ["Y"])]
    )


def _cols(**types):
    return Schema([ColSpec(t, n) for n, t in types.items()])


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("predict-path")
    specs = {
        # named doubles over one float input (the issue's case)
        "doubles": (_row_sum("float", 3), _cols(a="double", b="double", c="double")),
        # integers over one int64 input
        "longs": (_row_sum("int64", 2), _cols(a="long", b="integer")),
        # one column per model input
        "two": (_two_inputs(), _cols(a="float", b="double")),
        # unnamed columns
        "unnamed": (_row_sum("double", 2), Schema([ColSpec("double"), ColSpec("double")])),
        # one unnamed column (a scalar is one row)
        "one": (_row_sum("double", 1), Schema([ColSpec("double")])),
        # no signature at all
        "nosig": (_row_sum("float", 2), None),
        # a tensor signature
        "tensor": (_row_sum("float", 3), Schema([TensorSpec(np.dtype("float32"), (-1, 3))])),
        # one unnamed vector (a Series is one)
        "vector": (_identity(), Schema([TensorSpec(np.dtype("float64"), (-1,))])),
        # an [N, 2] output
        "rows": (_rows_out(), _cols(a="float", b="float")),
        # the issue's case with a params schema (the wrapper ignores params once enforced)
        "params": (_row_sum("float", 3), _cols(a="double", b="double", c="double")),
        # named tensors, one per model input (dict input)
        "named": (
            _two_inputs(),
            Schema(
                [TensorSpec(np.dtype("float32"), (-1,), "a"), TensorSpec(np.dtype("float64"), (-1,), "b")]
            ),
        ),
        # one named tensor (an ndarray becomes {name: array})
        "named1": (_row_sum("float", 3), Schema([TensorSpec(np.dtype("float32"), (-1, 3), "X")])),
        # two inputs, no signature (a dict fed as it is)
        "two_nosig": (_two_inputs(), None),
    }
    params = ParamSchema([ParamSpec("k", "long", 1), ParamSpec("tag", "string", "x")])
    out = {}
    for name, (onx, inputs) in specs.items():
        d = root / name
        sig = (
            ModelSignature(inputs=inputs, params=params if name == "params" else None)
            if inputs is not None
            else None
        )
        mlflow.onnx.save_model(onx, str(d), signature=sig, onnx_execution_providers=["CPUExecutionProvider"])
        out[name] = (fastpyfunc.load_model(str(d)), mlflow.pyfunc.load_model(str(d)), d)
    return out


def _outcome(model, data):
    """The result, or ("error", exception class, inner schema message)."""
    try:
        return model.predict(data)
    except FastPyFuncError as e:
        inner = e.message.split(". Error: ", 1)[-1] if isinstance(e, SchemaEnforcementError) else None
        return ("error", SchemaEnforcementError if inner is not None else FastPyFuncError, inner)
    except mlflow.exceptions.MlflowException as e:
        inner = e.message.split(". Error: ", 1)[-1] if "Failed to enforce schema" in e.message else None
        return ("error", SchemaEnforcementError if inner is not None else FastPyFuncError, inner)
    except Exception as e:  # mlflow lets onnxruntime's and pandas' own errors through
        return ("error", FastPyFuncError, type(e).__name__)


def _same_outcome(ours, theirs):
    if isinstance(theirs, tuple):
        assert isinstance(ours, tuple), f"mlflow refused ({theirs}) but fastpyfunc gave {ours!r}"
        assert ours[1] is theirs[1]
        if theirs[1] is SchemaEnforcementError:
            assert ours[2] == theirs[2]
    else:
        assert not isinstance(ours, tuple), f"fastpyfunc refused ({ours}) but mlflow accepted"
        assert_same(ours, theirs)


def _arrow_kinds(frame):
    """The Arrow forms of ``frame`` (where pyarrow can convert it)."""
    try:
        table = pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowException, TypeError, ValueError):
        return []
    kinds = [("table", table)]
    if table.num_rows:
        kinds.append(("batch", table.combine_chunks().to_batches()[0]))
    return kinds


def _check_every_kind(ours, theirs, frame):
    _same_outcome(_outcome(ours, frame.copy()), _outcome(theirs, frame.copy()))
    for kind, arrow in _arrow_kinds(frame):
        as_pandas = arrow.to_pandas() if kind == "table" else pa.Table.from_batches([arrow]).to_pandas()
        expected = _outcome(ours, as_pandas)
        got = _outcome(ours, arrow)
        if isinstance(expected, tuple):
            assert isinstance(got, tuple), f"{kind}: pandas refused ({expected}) but Arrow gave {got!r}"
            assert got[1:] == expected[1:], kind
        else:
            assert isinstance(got, pa.Table), f"{kind}: Arrow input gave {type(got)}"
            assert_same(got.to_pandas(), expected)


NUMERIC = ["bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"]
NUMERIC += ["float16", "float32", "float64"]


@st.composite
def frames(draw, names, target):
    n = draw(st.integers(1, 4))
    present = [x for x in names if draw(st.integers(0, 9)) > 0]
    extras = draw(st.lists(st.sampled_from(["x", "y"]), unique=True, max_size=1))
    labels = draw(st.permutations(present + extras))
    return pd.DataFrame({label: draw(columns(n, target.get(label))) for label in labels})


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_named_columns_like_mlflow_for_every_input_kind(models, data):
    name = data.draw(st.sampled_from(["doubles", "longs", "two", "rows"]))
    ours, theirs, _ = models[name]
    target = {
        "doubles": dict.fromkeys("abc", "double"),
        "longs": {"a": "long", "b": "integer"},
        "two": {"a": "float", "b": "double"},
        "rows": {"a": "float", "b": "float"},
    }[name]
    frame = data.draw(frames(list(target), target))
    if name == "rows":  # mlflow scrambles [N, 2] outputs (#12539): compare Arrow with pandas only
        for kind, arrow in _arrow_kinds(frame):
            expected = _outcome(ours, arrow.to_pandas() if kind == "table" else frame)
            got = _outcome(ours, arrow)
            if not isinstance(expected, tuple) and kind == "table":
                assert_same(got.to_pandas(), expected)
        return
    _check_every_kind(ours, theirs, frame)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_unnamed_and_unsigned_models_like_mlflow(models, data):
    name = data.draw(st.sampled_from(["unnamed", "nosig"]))
    ours, theirs, _ = models[name]
    n = data.draw(st.integers(1, 3))
    width = data.draw(st.integers(1, 3))
    frame = pd.DataFrame(
        {f"c{i}": data.draw(columns(n, "double" if data.draw(st.booleans()) else None)) for i in range(width)}
    )
    _check_every_kind(ours, theirs, frame)


@settings(max_examples=60, deadline=None)
@given(
    dtype=st.sampled_from(["float32", "float64", "int64"]),
    shape=st.sampled_from([(1, 3), (4, 3), (2, 2), (3,), (0, 3)]),
)
def test_ndarrays_into_a_tensor_signature_like_mlflow(models, dtype, shape):
    ours, theirs, _ = models["tensor"]
    x = np.arange(int(np.prod(shape)), dtype=dtype).reshape(shape)
    _same_outcome(_outcome(ours, x), _outcome(theirs, x.copy()))


def test_the_issue_case_takes_the_native_path(models):
    ours, theirs, _ = models["doubles"]
    df = pd.DataFrame({"a": [1.5, 2.0], "b": [0.25, 1.0], "c": [3.0, -1.0]})
    # the one native call answers by itself (None would mean the pandas path)
    direct = ours._native_predict(df, ours._native_plan)
    assert direct is not None
    assert_same(direct, theirs.predict(df))
    table = pa.table(df)
    got = ours._native_predict(table, ours._native_plan)
    assert isinstance(got, pa.Table) and got.column_names == ["Y"]
    np.testing.assert_array_equal(got.column("Y").to_numpy(), theirs.predict(df)["Y"].to_numpy())


def test_overflow_in_the_float32_cast_warns_as_numpy_does(models):
    """mlflow's ONNX wrapper casts float64 feeds to float32 with numpy's ``astype``, which warns
    "overflow encountered in cast" where a finite value becomes infinite (not for inf or NaN)."""
    ours, theirs, _ = models["doubles"]
    df = pd.DataFrame({"a": [1e300, 1.0], "b": [np.inf, 2.0], "c": [0.5, -1e39]})
    with pytest.warns(RuntimeWarning, match="overflow encountered in cast"):
        expected = theirs.predict(df)
    for data in (df, pa.table(df)):
        with pytest.warns(RuntimeWarning, match="overflow encountered in cast"):
            direct = ours._native_predict(data, ours._native_plan)
        assert direct is not None
        with pytest.warns(RuntimeWarning, match="overflow encountered in cast"):
            got = ours.predict(data)
        assert_same(got if isinstance(got, pd.DataFrame) else got.to_pandas(), expected)
    # under -W error the warning is the error, as numpy's is
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(RuntimeWarning):
            theirs.predict(df)
        with pytest.raises(RuntimeWarning):
            ours.predict(df)
        quiet = pd.DataFrame({"a": [np.inf], "b": [-np.inf], "c": [np.nan]})
        assert_same(ours.predict(quiet), theirs.predict(quiet))
        assert_same(ours.predict(pa.table(quiet)).to_pandas(), theirs.predict(quiet))


def test_params_are_enforced_in_the_one_native_call(models, caplog):
    """A model with a params schema keeps the one call: params enforced there with mlflow's
    rules and messages (its warning logged once), then ignored as mlflow's wrapper ignores them."""
    ours, theirs, path = models["params"]
    df = pd.DataFrame({"a": [1.5, 2.0], "b": [0.25, 1.0], "c": [3.0, -1.0]})
    for data in (df, pa.table(df)):
        for params in (None, {"k": 3}, {"k": 2, "tag": "y"}):
            assert ours._native_call(data, params) is not None
    for params in (None, {"k": 3}, {"k": np.int32(4), "other": 1}):
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            got = ours.predict(df, params=params)
            expected = theirs.predict(df.copy(), params=params)
        assert_same(got, expected)
        assert logged_warnings(caplog) == logged_warnings(caplog, "mlflow.models.utils")
    with pytest.raises(SchemaEnforcementError, match="Invalid parameters found") as info:
        ours.predict(df, params={"k": "three"})
    assert info.value.key == "k" and str(path) in str(info.value)
    with pytest.raises(Exception, match="Invalid parameters found"):  # noqa: PT011
        theirs.predict(df.copy(), params={"k": "three"})


def test_dicts_take_the_one_native_call(models, caplog):
    """A dict of ndarrays (named TensorSpecs, or no signature) and an ndarray under one named
    spec are enforced, fed by name and answered in the one native call, as mlflow answers them;
    what mlflow converts, warns about or refuses is handed on and answered as mlflow does."""
    rng = np.random.default_rng(5)
    a, b = rng.random(4).astype(np.float32), rng.random(4)
    cases = {
        "named": [{"a": a, "b": b}, {"b": b, "a": a}],
        # float64 for the float input: mlflow's wrapper casts it (in the caller's dict)
        "two_nosig": [{"a": a, "b": b}, {"a": a.astype(np.float64), "b": b}, {"a": a[::2], "b": b[::2]}],
        "named1": [rng.random((3, 3)).astype(np.float32)],
    }
    for name, inputs in cases.items():
        ours, theirs, _ = models[name]
        for data in inputs:
            direct = ours._native_predict(data, ours._native_plan)
            assert direct is not None, (name, data)
            expected = theirs.predict(
                {k: v.copy() for k, v in data.items()} if isinstance(data, dict) else data
            )
            assert_same(direct, expected)
            assert_same(ours.predict(data), expected)
    ours, theirs, _ = models["named"]
    handed_on = [
        {"a": a},  # missing input: mlflow's error
        {"a": a, "b": b, "c": b},  # an extra key: mlflow warns, then drops it
        {"a": a.astype(np.float64), "b": b},  # a dtype the spec refuses
        {"a": list(a), "b": b},  # not an ndarray
        {"a": a.reshape(2, 2), "b": b},  # a shape the spec refuses
    ]
    for data in handed_on:
        assert ours._native_predict(data, ours._native_plan) is None
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            got = _outcome(ours, dict(data))
            expected = _outcome(theirs, dict(data))
        _same_outcome(got, expected)
        assert logged_warnings(caplog) == logged_warnings(caplog, "mlflow.models.utils")
    # no signature: names the model lacks are onnxruntime's error, worded by the Python path
    ours, theirs, path = models["two_nosig"]
    assert ours._native_predict({"a": a}, None) is None
    with pytest.raises(FastPyFuncError, match="missing") as info:
        ours.predict({"a": a})
    assert info.value.key == "b" and str(path) in str(info.value)


def test_series_lists_scalars_and_row_dicts_take_the_one_native_call(models, caplog):
    """Under a column signature, a Series, a list (of rows or of row dicts), a dict (of columns or
    of one row) and a scalar become the DataFrame mlflow's enforcement makes of them (its own
    pandas call), which the one native call then reads, enforces and runs. What the coercion or
    the rules refuse is handed on and answered as mlflow does."""
    cases = {
        "doubles": [
            [{"a": 1.0, "b": 2.0, "c": 3.0}, {"a": 4.0, "b": 5.0, "c": 6.5}],
            {"a": 1.0, "b": 2.0, "c": 3.0},  # one row
            {"a": [1.0, 4.0], "b": [2.0, 5.0], "c": [3.0, 6.5]},  # columns
            {"a": np.array([1.0, 4.0]), "b": np.array([2.0, 5.0]), "c": np.array([3.0, 6.5])},
        ],
        "unnamed": [[[1.0, 2.0], [4.0, 5.5]]],
        "one": [3.5, np.float64(-1.0), [1.0, 2.0], pd.Series([1.0, 2.0], index=[4, 2], name="s")],
        "two": [pd.Series([1.5, 2.5], name="a").to_frame().assign(b=[3.0, 4.0])["a"]],
    }
    for name, inputs in cases.items():
        ours, theirs, _ = models[name]
        for data in inputs:
            direct = ours._native_predict(data, ours._native_plan)
            expected = _outcome(theirs, data)
            if name == "two":  # a Series is one column: mlflow's missing-input error, in Python
                assert direct is None
                _same_outcome(_outcome(ours, data), expected)
                continue
            assert direct is not None, (name, data)
            _same_outcome(direct, expected)
            _same_outcome(_outcome(ours, data), expected)
    handed_on = {
        "doubles": [
            [{"a": 1.0, "b": 2.0}],  # a missing column: mlflow's error
            [{"a": 1.0, "b": 2.0, "c": 3.0, "d": 4.0}],  # an extra column: mlflow warns, then drops it
            {"a": "x", "b": 2.0, "c": 3.0},  # a str for a double: mlflow's error
            [[1.0, 2.0, 3.0]],  # columns 0, 1, 2 for a named signature: mlflow's error
            {"a": [1.0], "b": [2.0, 3.0], "c": [3.0]},  # ragged: pandas refuses, mlflow words it
            "text",
            3.5,
        ],
        "unnamed": [np.float32(2.5)],  # one column for two
        "one": ["text"],
    }
    for name, inputs in handed_on.items():
        ours, theirs, _ = models[name]
        for data in inputs:
            assert ours._native_predict(data, ours._native_plan) is None, data
            caplog.clear()
            with caplog.at_level(logging.WARNING):
                got = _outcome(ours, data)
                expected = _outcome(theirs, data)
            _same_outcome(got, expected)
            assert logged_warnings(caplog) == logged_warnings(caplog, "mlflow.models.utils")


_cell = st.one_of(
    # (float32's range: beyond it numpy's cast to the model's float warns, in either path)
    st.floats(allow_nan=True, allow_infinity=True, width=32),
    st.integers(-(2**63), 2**63 - 1),
    st.integers(-(2**54), 2**54),
    st.booleans(),
    st.none(),
    st.sampled_from([np.float64(1.5), np.int64(3), 2**70]),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
# (found by this test: mlflow's missing-values check meets the infinity and reports int()'s error)
@example(
    name="longs", cells=[[0.0, None, 0.0], [None, 0.0, 0.0], [float("inf"), 0.0, 0.0]], homogeneous=False
)
@given(
    name=st.sampled_from(["doubles", "longs"]),
    cells=st.lists(st.lists(_cell, min_size=3, max_size=3), min_size=1, max_size=4),
    homogeneous=st.booleans(),
)
def test_records_like_mlflow(models, name, cells, homogeneous):
    """A list of row dicts (read natively where every value is a Python float or int, else by
    pandas) answers as mlflow's predict does; the native reading gives what pandas would."""
    ours, theirs, _ = models[name]
    keys = ["a", "b", "c"] if name == "doubles" else ["a", "b", "x"]
    if homogeneous:  # one Python type per column: the case read natively
        cells = [[float(v) if isinstance(v, float) else v for v in row] for row in cells]
    records = [dict(zip(keys, row, strict=True)) for row in cells]
    direct = ours._native_predict(records, ours._native_plan)
    expected = _outcome(theirs, [dict(r) for r in records])
    if direct is not None:
        _same_outcome(direct, expected)
    _same_outcome(_outcome(ours, records), expected)


def test_records_are_read_natively(models):
    """Records of Python floats and ints take the one native call without pandas building a
    frame, and answer as mlflow does (mixed ints and floats are float64, as pandas makes them)."""
    import sys

    cases = {
        "doubles": [
            [{"a": 1.0, "b": 2.5, "c": float("nan")}],
            [{"a": 1.0, "b": 2.0, "c": 3.0}, {"c": 4.0, "a": 5.0, "b": -0.0}],  # key order: the first's
            [{"a": 1.0, "b": 2.0, "c": 3.0}, {"a": 2, "b": 2.0, "c": 3.0}],  # ints among floats
        ],
        "longs": [[{"a": 1, "b": 2}, {"a": -(2**40), "b": 7}]],
    }
    for name, inputs in cases.items():
        ours, theirs, _ = models[name]
        for records in inputs:
            expected = _outcome(theirs, [dict(r) for r in records])
            if name == "doubles":
                assert ours._native_predict(records, ours._native_plan) is not None
            _same_outcome(_outcome(ours, records), expected)  # longs: int64 for an integer column
    ours, _, _ = models["doubles"]
    frame = pd.DataFrame
    try:  # the native reader builds no DataFrame for the input (only the result's)
        calls = []
        pd.DataFrame = lambda *a, **k: (calls.append(a[:1]), frame(*a, **k))[1]  # type: ignore[misc]
        sys.modules["pandas"].DataFrame = pd.DataFrame
        ours.predict([{"a": 1.0, "b": 2.0, "c": 3.0}])
    finally:
        pd.DataFrame = frame
        sys.modules["pandas"].DataFrame = frame
    assert not any(isinstance(a[0], list) for a in calls if a), calls


def test_frames_under_a_tensor_signature_take_the_native_path(models):
    ours, theirs, _ = models["tensor"]
    df = pd.DataFrame(np.arange(12, dtype=np.float32).reshape(4, 3), columns=list("xyz"))
    expected = theirs.predict(df.copy())
    for data in (df, pa.table(df)):
        direct = ours._native_predict(data, ours._native_plan)
        assert direct is not None
        assert_same(direct, expected)
    # float64 columns for a float32 spec: mlflow's error, worded by the Python path
    assert ours._native_predict(df.astype(np.float64), ours._native_plan) is None


def test_a_series_under_a_tensor_signature_takes_the_one_native_call(models):
    """mlflow's enforcement makes a Series a DataFrame (``pd.DataFrame(series)``) whatever the
    schema; under a tensor signature the native call then reshapes it as any frame."""
    for name, series, native in (
        ("vector", pd.Series([1.5, -2.0, 0.25], name="s"), True),
        ("vector", pd.Series([1.0, 2.0], index=pd.RangeIndex(0, 4, 2)), True),
        # mlflow reads the first cell at label 0: another index is looked up in Python
        ("vector", pd.Series([1.5, -2.0, 0.25], index=[3, 0, 2]), False),
        ("vector", pd.Series([1.5, -2.0, 0.25], index=[3, 1, 2]), False),  # no label 0: KeyError
        ("vector", pd.Series([1, 2]), False),  # int64 for float64: numpy's cast, in Python
        ("tensor", pd.Series([1.0, 2.0, 3.0], dtype=np.float32), False),  # one column for [-1, 3]
    ):
        ours, theirs, _ = models[name]
        expected = _outcome(theirs, series.copy())
        direct = ours._native_predict(series, ours._native_plan)
        assert (direct is not None) == native, (name, series)
        if native:
            _same_outcome(direct, expected)
        _same_outcome(_outcome(ours, series), expected)


def _arrays():
    """Arrow arrays of every producer, each with the pandas Series it converts to."""
    pl = require("polars")
    out = []
    for values in ([1.5, -2.0, 0.25], [1.0, None, 3.0], [1, 2, 3], []):
        column = pa.array(values, pa.float64() if not values or isinstance(values[0], float) else pa.int64())
        out.append(("array", column, column.to_pandas()))
        chunked = pa.chunked_array([column[:1], column[1:]], column.type)
        out.append(("chunked", chunked, chunked.to_pandas()))
        series = pl.Series("s", values, dtype=pl.Float64 if values and isinstance(values[0], float) else None)
        out.append(("polars", series, pa.chunked_array(series).to_pandas().rename("s")))
    struct = pa.array([{"x": 1.0}, {"x": 2.0}])  # one column of records, not a table
    out.append(("struct", struct, struct.to_pandas()))
    return out


def test_arrow_arrays_are_the_one_column_their_series_is(models):
    """A pyarrow Array or ChunkedArray, or a polars Series, is read as the one column
    ``pd.DataFrame(series)`` makes of its pandas Series (mlflow's rule for a Series; a polars
    Series keeps its name): the answer is mlflow's for that Series, in Arrow (polars) form, and
    numeric arrays take the one native call."""
    pl = require("polars")
    for name in ("one", "vector", "nosig"):
        ours, theirs, _ = models[name]
        for kind, arrow, series in _arrays():
            frame = pd.DataFrame(series)
            expected = _outcome(theirs, series.copy() if name != "nosig" else frame)
            got = _outcome(ours, arrow)
            if isinstance(expected, tuple) or isinstance(got, tuple):
                _same_outcome(got, expected)
                continue
            family = pl.DataFrame if kind == "polars" else pa.Table
            if isinstance(expected, pd.DataFrame):
                assert isinstance(got, family), (name, kind, type(got))
                got = got.to_pandas()
                expected = expected.reset_index(drop=True)
            assert_same(got, expected)
            if series.dtype == np.float64 and len(series) and not series.isna().any():
                assert ours._native_predict(arrow, ours._native_plan) is not None, (name, kind)


def test_arrow_results_outlive_the_model(tmp_path):
    """An Arrow result's columns hold the engine's output memory without a copy: they stay valid
    after the model, and every other result, is gone."""
    import gc

    d = tmp_path / "m"
    mlflow.onnx.save_model(_rows_out(), str(d), signature=ModelSignature(inputs=_cols(a="float", b="float")))
    df = pd.DataFrame({"a": np.arange(1000, dtype=np.float32), "b": -np.arange(1000, dtype=np.float32)})
    model = fastpyfunc.load_model(str(d))
    got = model.predict(pa.table(df))
    del model
    gc.collect()
    junk = [np.full(1000 * 2, 7.0, np.float32) for _ in range(50)]  # reuse any freed memory
    assert got.column_names == ["Y"]
    # the model is the identity on [a, b] (mlflow's own frame scrambles an [N, 2] output's rows:
    # see the differences table)
    assert got.column("Y").to_pylist() == [[float(i), -float(i)] for i in range(1000)]
    del junk


def test_arrow_nulls_are_pandas_nan(models):
    ours, theirs, _ = models["doubles"]
    table = pa.table({"a": pa.array([1, None, 3], pa.int64()), "b": [1.0, 2.0, None], "c": [0.5, 0.5, 0.5]})
    expected = theirs.predict(table.to_pandas())  # int64 with nulls -> float64 NaN in pandas
    got = ours.predict(table)
    assert_same(got.to_pandas(), expected)
    longs, mlflow_longs, _ = models["longs"]
    bad = pa.table({"a": pa.array([1, None], pa.int64()), "b": pa.array([1, 2], pa.int32())})
    with pytest.raises(SchemaEnforcementError, match="missing values"):
        longs.predict(bad)
    with pytest.raises(mlflow.exceptions.MlflowException, match="missing values"):
        mlflow_longs.predict(bad.to_pandas())


def test_arrow_with_a_stored_pandas_index_is_read_as_to_pandas_reads_it(models):
    """``pa.table(df)`` of a frame with a non-range index stores it as a column
    (``__index_level_0__``) that ``to_pandas()`` turns back into the index: it is never fed."""
    for name in ("nosig", "doubles"):
        ours, theirs, _ = models[name]
        df = pd.DataFrame({"a": [1.5, 2.0, 0.5], "b": [0.25, 1.0, 2.0], "c": [3.0, -1.0, 0.0]})
        df = df.iloc[:, : 2 if name == "nosig" else 3]
        df.index = [7, 8, 9]
        table = pa.table(df)
        assert "__index_level_0__" in table.column_names
        expected = theirs.predict(table.to_pandas())
        assert_same(ours.predict(table).to_pandas(), expected.reset_index(drop=True))


def test_record_batch_readers_are_read_as_their_table(models):
    """A ``RecordBatchReader`` can be read once: where the native reader hands the input to the
    pandas path (a stored pandas index, a dictionary column), that path must see the same rows
    (it saw an exhausted reader and answered an empty table)."""
    df = pd.DataFrame({"a": [1.5, 2.0, 0.5], "b": [0.25, 1.0, 2.0], "c": [3.0, -1.0, 0.0]})
    indexed = df.set_axis([7, 8, 9])
    coded = pa.table(df).append_column("d", pa.array(["x", "y", "x"]).dictionary_encode())
    cases = [
        ("doubles", pa.table(df)),
        ("doubles", pa.table(indexed)),
        ("nosig", pa.table(indexed[["a", "b"]])),
    ]
    cases.append(("doubles", coded))
    for name, table in cases:
        ours, _, _ = models[name]
        expected = ours.predict(table)
        reader = pa.RecordBatchReader.from_batches(table.schema, table.to_batches())
        got = ours.predict(reader)
        assert isinstance(got, pa.Table)
        assert got.num_rows == 3
        assert got.equals(expected), name
    _, theirs, _ = models["doubles"]
    assert_same(got.to_pandas(), theirs.predict(coded.to_pandas().drop(columns="d")))


def test_multichunk_tables_and_strided_frames(models):
    ours, theirs, _ = models["doubles"]
    df = pd.DataFrame(np.arange(30, dtype=np.float64).reshape(10, 3), columns=list("abc"))
    expected = theirs.predict(df)
    chunked = pa.concat_tables([pa.table(df.iloc[:4]), pa.table(df.iloc[4:])])
    assert chunked.column("a").num_chunks == 2
    assert_same(ours.predict(chunked).to_pandas(), expected)
    # a frame over a transposed block: columns are strided views
    strided = pd.DataFrame(np.ascontiguousarray(df.to_numpy().T).T, columns=list("abc"), copy=False)
    assert_same(ours.predict(strided), expected)


def test_a_column_that_is_one_input_is_lent_without_a_copy(models):
    ours, _, _ = models["two"]
    table = pa.table({"a": pa.array([1.0, 2.0], pa.float32()), "b": pa.array([3.0, 4.0], pa.float64())})
    out = ours.predict(table)
    assert out.column_names == ["a2", "b1"]
    addrs = ours._model_impl._native._last_feed_addrs()
    assert addrs == [table.column(n).chunks[0].buffers()[1].address for n in ("a", "b")]


def test_polars_in_polars_out(models):
    pl = require("polars")
    ours, theirs, _ = models["doubles"]
    frame = pl.DataFrame({"c": [3.0, -1.0], "a": [1.5, 2.0], "b": [0.25, 1.0]})
    got = ours.predict(frame)
    assert isinstance(got, pl.DataFrame)
    assert_same(got.to_pandas(), theirs.predict(frame.to_pandas()))


def test_arrow_rows_output_is_a_list_column(models):
    ours, _, _ = models["rows"]
    df = pd.DataFrame({"a": np.float32([1, 2]), "b": np.float32([3, 4])})
    got = ours.predict(pa.table(df))
    assert pa.types.is_fixed_size_list(got.schema.field("Y").type)
    assert_same(got.to_pandas(), ours.predict(df))


def test_arrow_predict_imports_neither_pandas_nor_mlflow(models):
    _, _, path = models["doubles"]
    code = textwrap.dedent(
        f"""
        import sys

        class Hide:  # pandas and mlflow look uninstalled: importing either fails
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("pandas", "mlflow"):
                    raise ModuleNotFoundError(name)

        sys.meta_path.insert(0, Hide())
        import pyarrow as pa
        import fastpyfunc
        m = fastpyfunc.load_model({str(path)!r})
        t = pa.table({{"a": [1.0, 2.0], "b": [2.0, 3.0], "c": [3.0, 4.0]}})
        out = m.predict(t)
        assert isinstance(out, pa.Table), type(out)
        assert out.column("Y").to_pylist() == [6.0, 9.0], out
        for column in (pa.array([1.5, 2.5]), pa.chunked_array([[1.5], [2.5]])):  # one column
            out = fastpyfunc.load_model({str(models["vector"][2])!r}).predict(column)
            assert out["Y"].tolist() == [1.5, 2.5], out
            out = fastpyfunc.load_model({str(models["one"][2])!r}).predict(column)
            assert out.column("Y").to_pylist() == [1.5, 2.5], out
        print("ok")
        """
    )
    res = subprocess.run([PY, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0 and res.stdout.strip() == "ok", res.stderr[-3000:]


def test_onnx_models_keep_mlflows_rt_attribute(models):
    ort = require("onnxruntime")
    ours, theirs, _ = models["doubles"]
    assert isinstance(ours._model_impl.rt, ort.InferenceSession)
    assert [i.name for i in ours._model_impl.rt.get_inputs()] == [
        i.name for i in theirs._model_impl.rt.get_inputs()
    ]
