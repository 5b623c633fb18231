"""Native signature enforcement vs mlflow's ``_enforce_schema``: differential (hypothesis) and
rule by rule, plus end-to-end through a model that returns what it was given."""

from __future__ import annotations

import decimal
import json
import logging
import re
from copy import deepcopy

import mlflow
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from mlflow.models.utils import _enforce_schema
from mlflow.types import Schema as MlflowSchema

import fastpyfunc
from fastpyfunc._enforce import Enforcer
from fastpyfunc._schema import Schema
from fastpyfunc.exceptions import SchemaEnforcementError

from conftest import assert_same, both, require

SCALAR_TYPES = ["boolean", "integer", "long", "float", "double", "string", "binary", "datetime"]


class _Meta:
    """The slice of ``Model`` the Enforcer reads."""

    def __init__(self, specs: list[dict]) -> None:
        self.signature = True
        self._schema = Schema(specs)

    def get_input_schema(self) -> Schema:
        return self._schema

    def get_params_schema(self) -> None:
        return None

    def _is_signature_from_type_hint(self) -> bool:
        return False


def as_kind(frame: pd.DataFrame, kind: str):
    """The frame as the input kind under test: itself, or a pyarrow Table (None where pyarrow
    cannot hold its columns, e.g. mixed-type object columns)."""
    if kind == "pandas":
        return frame
    import pyarrow as pa

    try:
        return pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowException, TypeError, ValueError):
        return None


def run_both(specs: list[dict], data):
    """(ours, theirs): each the enforced data, or the inner error message. Arrow input is
    compared with mlflow on its pandas conversion (``to_pandas()``), which mlflow would need."""
    enforcer = Enforcer("m", _Meta(specs), None)
    if type(data).__module__.startswith("pyarrow"):
        copy = data.to_pandas()
    else:
        copy = data.copy() if hasattr(data, "copy") else data
    try:
        ours = enforcer(data, None)[0]
    except SchemaEnforcementError as e:
        ours = e.message.split(". Error: ", 1)[1]
    try:
        theirs = _enforce_schema(copy, MlflowSchema.from_json(json.dumps(specs)))
    except Exception as e:
        theirs = str(e)
    return ours, theirs


def assert_parity(specs, data):
    ours, theirs = run_both(specs, data)
    if isinstance(theirs, str):
        assert isinstance(ours, str), f"mlflow refused ({theirs}) but fastpyfunc accepted"
        # mlflow lists extra columns in set order (arbitrary); compare them as sets.
        if "Note that there were extra inputs: " in theirs:
            head_t, tail_t = theirs.split("Note that there were extra inputs: ")
            head_o, tail_o = ours.split("Note that there were extra inputs: ")
            assert head_o == head_t
            assert sorted(eval(tail_o.rstrip("."))) == sorted(eval(tail_t.rstrip(".")))
        else:
            assert ours == theirs
    else:
        assert not isinstance(ours, str), f"fastpyfunc refused ({ours}) but mlflow accepted"
        assert_same(ours, theirs)
    return ours


# -- differential ---------------------------------------------------------------------------------

INT_KINDS = ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"]
FLOAT_KINDS = ["float16", "float32", "float64"]
COLUMN_KINDS = [
    "bool",
    *INT_KINDS,
    *FLOAT_KINDS,
    "object_str",
    "pandas_str",
    "datetime64[s]",
    "datetime64[ns]",
    "object_mixed",
    "object_bool_none",
    "Int64",
    "decimal",
    "bytes",
]


# Column dtypes likely to fit each DataType, so that accepted inputs are common too.
FITTING = {
    "boolean": ["bool", "object_bool_none"],
    "integer": ["int8", "int16", "int32", "uint8", "uint16"],
    "long": ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "Int64"],
    "float": ["float16", "float32"],
    "double": ["float16", "float32", "float64", "int32", "int64", "decimal"],
    "string": ["object_str", "pandas_str", "object_mixed"],
    "binary": ["bytes", "pandas_str", "object_str"],
    "datetime": ["datetime64[s]", "datetime64[ns]"],
}


@st.composite
def columns(draw, n: int, target: str | None = None):
    pool = FITTING[target] if target is not None and draw(st.booleans()) else COLUMN_KINDS
    kind = draw(st.sampled_from(pool))
    if kind == "bool":
        return np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)), dtype=bool)
    if kind in INT_KINDS:
        info = np.iinfo(kind)
        values = st.one_of(st.sampled_from([0, 1]), st.integers(max(info.min, -300), min(info.max, 300)))
        return np.array(draw(st.lists(values, min_size=n, max_size=n)), dtype=kind)
    if kind in FLOAT_KINDS:
        values = st.one_of(
            st.sampled_from([0.0, 1.0, float("nan"), 3.0, -2.0]), st.floats(-1e3, 1e3, allow_nan=False)
        )
        return np.array(draw(st.lists(values, min_size=n, max_size=n)), dtype=kind)
    text = st.text(alphabet="abcé xyz", max_size=4)
    if kind == "object_str":
        return np.array(draw(st.lists(text, min_size=n, max_size=n)), dtype=object)
    if kind == "pandas_str":
        return pd.array(draw(st.lists(text, min_size=n, max_size=n)), dtype="str")
    if kind.startswith("datetime64"):
        secs = draw(st.lists(st.integers(0, 2_000_000_000), min_size=n, max_size=n))
        return np.array(secs, dtype="datetime64[s]").astype(kind)
    if kind == "object_mixed":
        return np.array(
            draw(st.lists(st.one_of(text, st.integers(0, 9)), min_size=n, max_size=n)), dtype=object
        )
    if kind == "object_bool_none":
        return np.array(
            draw(st.lists(st.sampled_from([True, False, None]), min_size=n, max_size=n)), dtype=object
        )
    if kind == "Int64":
        return pd.array(
            draw(st.lists(st.one_of(st.none(), st.integers(-5, 5)), min_size=n, max_size=n)), dtype="Int64"
        )
    if kind == "decimal":
        return np.array(
            [decimal.Decimal(v) for v in draw(st.lists(st.integers(-9, 9), min_size=n, max_size=n))],
            dtype=object,
        )
    return np.array(draw(st.lists(st.binary(max_size=3), min_size=n, max_size=n)), dtype="S3")


@st.composite
def named_cases(draw):
    names = draw(st.lists(st.sampled_from("abcde"), min_size=1, max_size=5, unique=True))
    specs = [
        {"name": n, "type": draw(st.sampled_from(SCALAR_TYPES)), "required": draw(st.booleans())}
        for n in names
    ]
    n = draw(st.integers(1, 4))
    present = [name for name in names if draw(st.integers(0, 9)) > 0]  # mostly present
    extras = draw(st.lists(st.sampled_from(["x", "y"]), unique=True, max_size=2))
    labels = draw(st.permutations(present + extras))
    types = {s["name"]: s["type"] for s in specs}
    frame = pd.DataFrame({label: draw(columns(n, types.get(label))) for label in labels})
    return specs, frame


@st.composite
def unnamed_cases(draw):
    specs = [
        {"type": draw(st.sampled_from(SCALAR_TYPES)), "required": True}
        for _ in range(draw(st.integers(1, 3)))
    ]
    n = draw(st.integers(1, 4))
    types = [s["type"] for s in specs]
    frame = pd.DataFrame(
        {i: draw(columns(n, types[i] if i < len(types) else None)) for i in range(draw(st.integers(0, 4)))}
    )
    return specs, frame


@pytest.mark.parametrize("kind", ["pandas", "arrow"])
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=named_cases())
def test_named_columns_accept_and_convert_exactly_as_mlflow(kind, case):
    specs, frame = case
    data = as_kind(frame, kind)
    assume(data is not None)
    assert_parity(specs, data)


@pytest.mark.parametrize("kind", ["pandas", "arrow"])
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=unnamed_cases())
def test_unnamed_columns_accept_and_convert_exactly_as_mlflow(kind, case):
    specs, frame = case
    data = as_kind(frame, kind)
    assume(data is not None)
    assert_parity(specs, data)


TENSOR_DTYPES = ["float32", "float64", "int32", "int64", "bool", "object", "str", "uint8"]


@st.composite
def tensor_cases(draw):
    dtype = draw(st.sampled_from(TENSOR_DTYPES))
    rank = draw(st.integers(1, 3))
    shape = [-1] + [draw(st.sampled_from([-1, 2, 3])) for _ in range(rank - 1)]
    spec = {"type": "tensor", "tensor-spec": {"dtype": dtype, "shape": shape}}
    actual_rank = draw(st.sampled_from([rank, rank, 1, 2]))
    actual = [draw(st.integers(0, 3)) for _ in range(actual_rank)]
    arr = np.zeros(actual, dtype=draw(st.sampled_from([*TENSOR_DTYPES, ">f8", "U3"])))
    named = draw(st.booleans())
    if named:
        spec["name"] = "t"
        data = draw(
            st.sampled_from([{"t": arr}, arr, {"t": arr, "extra": arr}, {"u": arr}, {"t": arr.tolist()}])
        )
    else:
        data = draw(st.sampled_from([arr, [1, 2], {"t": arr}]))
    return [spec], data


@settings(max_examples=300, deadline=None)
@given(tensor_cases())
def test_tensors_accept_exactly_as_mlflow(case):
    specs, data = case
    ours, theirs = run_both(specs, data)
    if isinstance(theirs, str):
        assert isinstance(ours, str) and ours == theirs
    else:
        assert not isinstance(ours, str), ours
        assert_same(ours, theirs)


# -- rules by name ---------------------------------------------------------------------------------


def spec(**cols):
    return [{"name": n, "type": t, "required": True} for n, t in cols.items()]


@pytest.mark.parametrize(
    ("dtype", "target", "ok"),
    [
        ("int32", "long", True),
        ("int8", "long", True),
        ("uint32", "long", True),
        ("uint8", "integer", True),
        ("int16", "integer", True),
        ("float16", "double", True),
        ("float32", "double", True),
        ("float16", "float", True),
        ("int32", "double", True),
        ("int64", "double", False),
        ("int64", "integer", False),
        ("int16", "float", False),
        ("float64", "float", False),
        ("float32", "long", False),
        ("uint32", "integer", False),
        ("uint64", "long", False),
        ("bool", "long", False),
        ("int64", "boolean", False),
        ("int64", "string", False),
    ],
)
def test_numeric_conversion_table(dtype, target, ok):
    frame = pd.DataFrame({"c": np.array([2, 3], dtype=dtype)})
    got = assert_parity(spec(c=target), frame)
    assert isinstance(got, pd.DataFrame) is ok


def test_int64_zero_one_columns_may_become_double():
    assert isinstance(assert_parity(spec(c="double"), pd.DataFrame({"c": [0, 1, 1]})), pd.DataFrame)
    assert "Can not safely convert int64 to float64" in assert_parity(
        spec(c="double"), pd.DataFrame({"c": [0, 2]})
    )


def test_nan_in_integer_columns_gets_the_hint():
    msg = assert_parity(spec(c="long"), pd.DataFrame({"c": [1.0, np.nan]}))
    assert "Hint: the type mismatch is likely caused by missing values" in msg
    msg = assert_parity(spec(c="long"), pd.DataFrame({"c": [1.5, np.nan]}))
    assert "Hint" not in msg


def test_datetimes_strings_decimals_and_objects():
    assert_parity(spec(d="datetime"), pd.DataFrame({"d": pd.to_datetime(["2020-01-01", "2021-06-30"])}))
    assert_parity(spec(d="datetime"), pd.DataFrame({"d": np.array(["2020-01-01"], dtype="datetime64[s]")}))
    tz = assert_parity(spec(d="datetime"), pd.DataFrame({"d": pd.to_datetime(["2020-01-01"], utc=True)}))
    assert "timezone-naive" in tz
    assert_parity(spec(s="string"), pd.DataFrame({"s": np.array(["a", 1], dtype=object)}))
    assert_parity(spec(s="binary"), pd.DataFrame({"s": ["a", "b"]}))
    assert_parity(spec(x="double"), pd.DataFrame({"x": [decimal.Decimal("1.5")]}))
    assert_parity(spec(b="boolean"), pd.DataFrame({"b": np.array([True, None], dtype=object)}))
    assert_parity(spec(n="long"), pd.DataFrame({"n": pd.array([1, None], dtype="Int64")}))


def test_missing_extra_and_reordered_columns(caplog):
    specs = [*spec(a="double", b="long"), {"name": "c", "type": "string", "required": False}]
    assert "Model is missing inputs ['b']" in assert_parity(specs, pd.DataFrame({"a": [1.0], "z": [1]}))
    with caplog.at_level(logging.WARNING, logger="fastpyfunc"):
        got = assert_parity(specs, pd.DataFrame({"z": [1], "b": [2], "a": [1.0]}))
    assert list(got.columns) == ["a", "b"]
    assert any(
        "These inputs will be ignored" in r.getMessage() and "'z'" in r.getMessage() for r in caplog.records
    )


def test_series_scalar_dict_list_and_ndarray_inputs():
    specs = spec(a="double", b="double")
    assert_parity(specs, {"a": 1.0, "b": 2.0})
    assert_parity(specs, {"a": [1.0, 2.0], "b": np.array([3.0, 4.0])})
    assert_parity(specs, [{"a": 1.0, "b": 2.0}, {"a": 3.0, "b": 4.0}])  # list of dicts: rows
    assert_parity([{"type": "double", "required": True}], 3.5)
    assert_parity([{"type": "double", "required": True}] * 2, [[1.0, 2.0], [3.0, 4.0]])
    assert_parity([{"type": "double", "required": True}] * 2, np.ones((2, 2)))
    assert_parity(spec(a="double"), pd.Series([1.0, 2.0], name="a"))
    assert_parity(specs, object())


NESTED_TYPES = [
    {"type": "array", "items": {"type": "long"}},
    {"type": "array", "items": {"type": "double"}},
    {"type": "array", "items": {"type": "string"}},
    {"type": "array", "items": {"type": "array", "items": {"type": "long"}}},
    {"type": "array", "items": {"type": "any"}},
    {
        "type": "object",
        "properties": {
            "a": {"type": "long", "required": True},
            "b": {"type": "array", "items": {"type": "string"}, "required": False},
        },
    },
    {"type": "map", "values": {"type": "double"}},
    {"type": "map", "values": {"type": "array", "items": {"type": "long"}}},
    {"type": "any"},
]
CELLS = [
    [1, 2],
    [1.5, 2.0],
    ["x", "y"],
    [[1], [2, 3]],
    [],
    None,
    3,
    "s",
    {"a": 1},
    {"a": 1, "b": ["q"]},
    {"a": "x"},
    {"b": ["q"]},
    {"a": 1, "zz": 2},
    {"k": 1.5},
    {"k": [1, 2]},
    {1: 2.0},
    [True, False],
    [0, 1],
]


@st.composite
def nested_cases(draw):
    names = draw(st.lists(st.sampled_from("ab"), min_size=1, max_size=2, unique=True))
    specs = [
        {"name": n, **draw(st.sampled_from(NESTED_TYPES)), "required": draw(st.booleans())} for n in names
    ]
    n = draw(st.integers(1, 3))
    frame = pd.DataFrame(
        {n_: pd.Series([draw(st.sampled_from(CELLS)) for _ in range(n)], dtype=object) for n_ in names}
    )
    return specs, frame


@pytest.mark.parametrize("kind", ["pandas", "arrow"])
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=nested_cases())
def test_nested_types_are_enforced_like_mlflow(kind, case):
    specs, frame = case
    data = as_kind(frame, kind)  # list/struct Arrow columns where the cells allow one
    assume(data is not None)
    assert_parity(specs, data)


def test_nested_types_named_cases():
    specs = [{"name": "v", "type": "array", "items": {"type": "long"}, "required": True}]
    assert_parity(specs, pd.DataFrame({"v": [[1, 2], [3]]}))
    assert "for column . Can not safely convert str" in assert_parity(
        specs, pd.DataFrame({"v": [["x"], [3]]})
    )
    assert_parity(specs, {"v": [1, 2]})  # a dict is one row when a column is an Array


NESTED_SPECS = [
    {"name": "v", "type": "array", "items": {"type": "long"}, "required": True},
    {
        "name": "o",
        "type": "object",
        "properties": {"a": {"type": "double", "required": True}, "b": {"type": "string", "required": False}},
        "required": True,
    },
    {"name": "m", "type": "map", "values": {"type": "array", "items": {"type": "long"}}, "required": False},
]


@pytest.mark.parametrize(
    "body",
    [
        {
            "dataframe_records": [
                {"v": [1, 2], "o": {"a": 1}, "m": {"k": [3]}},
                {"v": [], "o": {"a": 2.5, "b": "x"}, "m": {}},
            ]
        },
        # a record without the optional map: NaN in its column, which both refuse
        {
            "dataframe_records": [
                {"v": [1, 2], "o": {"a": 1}, "m": {"k": [3]}},
                {"v": [], "o": {"a": 2.5, "b": "x"}},
            ]
        },
        {"dataframe_split": {"columns": ["v", "o"], "data": [[[4], {"a": 0}]]}},
        {"inputs": {"v": [7, 8], "o": {"a": 1.5}, "m": {"z": [1]}}},
        {"dataframe_records": [{"v": ["x"], "o": {"a": 1}}]},  # an item mlflow cannot convert
        {"dataframe_records": [{"v": [1], "o": {"c": 1}}]},  # a property the Object lacks
        {"inputs": {"v": [1], "o": {"a": 1}, "m": {"k": 5}}},  # a map value that is no list
    ],
)
def test_scoring_requests_cast_nested_columns_like_mlflow(body):
    """The scoring JSON layouts cast nested columns with the same native rules as predict: the
    parsed data (or the refusal's reason) equals mlflow's ``infer_and_parse_data``."""
    from mlflow.pyfunc.scoring_server import infer_and_parse_data

    from fastpyfunc._serving import parse_json_request
    from fastpyfunc.exceptions import FastPyFuncError

    try:
        theirs = infer_and_parse_data(
            json.loads(json.dumps(body)), MlflowSchema.from_json(json.dumps(NESTED_SPECS))
        )
    except Exception as e:
        theirs = e
    try:
        ours = parse_json_request(json.dumps(body), None, Schema(NESTED_SPECS)).data
    except FastPyFuncError as e:
        ours = e
    if isinstance(theirs, Exception):
        assert isinstance(ours, Exception), f"mlflow refused ({theirs}) but fastpyfunc parsed {ours!r}"
        # mlflow shows the inner exception's repr (MlflowException('...')); ours its message
        inner = str(theirs).split("Error: ")[-1].strip("'")
        inner = re.sub(r"^MlflowException\((['\"])(.*)\1\)$", r"\2", inner)
        assert inner in str(ours)
    else:
        assert not isinstance(ours, Exception), f"fastpyfunc refused ({ours}) but mlflow parsed"
        assert_same(ours, theirs)


def test_tensor_rules():
    specs = [{"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 4]}}]
    assert_parity(specs, np.zeros((2, 4), dtype=np.float32))
    assert "does not match expected shape (-1, 4)" in assert_parity(specs, np.zeros((2, 5), dtype=np.float32))
    assert "dtype of input float64" in assert_parity(specs, np.zeros((2, 4)))
    assert_parity(specs, pd.DataFrame(np.zeros((2, 4), dtype=np.float32)))
    ragged = [{"type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1, -1]}}]
    rows = np.array([np.zeros(2), np.zeros(3)], dtype=object)
    ours, theirs = run_both(ragged, rows)
    assert ours is rows and not isinstance(theirs, str)  # the ragged escape hatch: passed as is


# -- no copies, Arrow input, the full message ---------------------------------------------------------


class Echo(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        return model_input


@pytest.fixture(scope="module")
def echo_models(tmp_path_factory):
    from mlflow.models import ModelSignature

    root = tmp_path_factory.mktemp("echo")
    cols = MlflowSchema.from_json(json.dumps([*spec(a="double", b="long"), {"name": "s", "type": "string"}]))
    tens = MlflowSchema.from_json(
        json.dumps([{"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 3]}}])
    )
    out = {}
    for name, schema in (("columns", cols), ("tensor", tens)):
        mlflow.pyfunc.save_model(
            str(root / name), python_model=Echo(), signature=ModelSignature(inputs=schema)
        )
        out[name] = root / name
    return out


def test_unchanged_input_is_not_copied(echo_models):
    model = fastpyfunc.load_model(str(echo_models["columns"]), trust_code=True)
    df = pd.DataFrame({"a": [1.0, 2.0], "b": [1, 2], "s": ["x", "y"]})
    assert model.predict(df) is df
    df32 = pd.DataFrame({"a": np.float32([1, 2]), "b": [1, 2], "s": ["x", "y"]})
    out = model.predict(df32)
    assert out["a"].dtype == np.float64
    assert np.shares_memory(out["b"].to_numpy(), df32["b"].to_numpy())
    x = np.zeros((4, 3), dtype=np.float32)
    assert fastpyfunc.load_model(str(echo_models["tensor"]), trust_code=True).predict(x) is x


def test_errors_carry_mlflows_full_message(echo_models):
    ours, theirs = both(echo_models["columns"], trust_code=True)
    bad = pd.DataFrame({"a": [1, 2], "b": [1, 2], "s": ["x", "y"]})
    with pytest.raises(mlflow.exceptions.MlflowException) as t:
        theirs.predict(bad)
    with pytest.raises(SchemaEnforcementError) as o:
        ours.predict(bad)
    assert o.value.message == f"{echo_models['columns']}: {t.value.message}"
    assert (
        o.value.error_class == "SCHEMA_ENFORCEMENT_FAILED" and o.value.error_code == "INVALID_PARAMETER_VALUE"
    )


def test_arrow_tables_and_batches_are_accepted(echo_models):
    import pyarrow as pa

    ours, theirs = both(echo_models["columns"], trust_code=True)
    df = pd.DataFrame({"a": [1.0, 2.0], "b": [1, 2], "s": ["x", "y"]})
    table = pa.Table.from_pandas(df, preserve_index=False)
    with pytest.raises(mlflow.exceptions.MlflowException, match="Expected input to be DataFrame"):
        theirs.predict(table)
    expected = theirs.predict(df)
    assert_same(ours.predict(table), expected)
    assert_same(ours.predict(table.to_batches()[0]), expected)


def test_polars_frames_are_accepted_through_the_arrow_stream(echo_models):
    pl = require("polars")
    ours, theirs = both(echo_models["columns"], trust_code=True)
    frame = pl.DataFrame({"s": ["x", "y"], "b": [1, 2], "a": [1.0, 2.0]})
    with pytest.raises(mlflow.exceptions.MlflowException, match="Expected input to be DataFrame"):
        theirs.predict(frame)
    assert_same(ours.predict(frame), theirs.predict(frame.to_pandas()))


# -- DataFrame input for tensor schemas -------------------------------------------------------------


@st.composite
def frame_tensor_cases(draw):
    dtype = draw(st.sampled_from(["float32", "float64", "int64", "object"]))
    n = draw(st.integers(1, 3))
    cell = draw(st.sampled_from(["scalar", "list", "ndarray"]))
    width = draw(st.integers(1, 3))
    shape = draw(st.sampled_from([[-1], [-1, 1], [-1, width], [-1, 2, 2], [2, width], [-1, -1]]))

    def column():
        if cell == "scalar":
            return draw(st.lists(st.sampled_from([0.5, 1.0, 2.0, 3]), min_size=n, max_size=n))
        rows = [[float(draw(st.integers(0, 3))) for _ in range(width)] for _ in range(n)]
        return rows if cell == "list" else [np.array(r, dtype=np.float32) for r in rows]

    named = draw(st.booleans())
    spec = {"type": "tensor", "tensor-spec": {"dtype": dtype, "shape": shape}}
    if named:
        spec["name"] = "t"
        labels = draw(st.sampled_from([["t"], ["t", "x"], ["x"]]))
    else:
        labels = draw(st.sampled_from([["a"], ["a", "b"], ["a", "b", "c"]]))
    frame = pd.DataFrame({label: column() for label in labels})
    return [spec], frame


@pytest.mark.parametrize("kind", ["pandas", "arrow"])
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=frame_tensor_cases())
def test_dataframes_for_tensor_schemas_like_mlflow(kind, case):
    specs, frame = case
    data = as_kind(frame, kind)
    assume(data is not None)
    ours, theirs = run_both(specs, data)
    if isinstance(theirs, str):
        assert isinstance(ours, str) and ours == theirs
    else:
        assert not isinstance(ours, str), ours
        assert_same(ours, theirs)


# -- params ----------------------------------------------------------------------------------------

_dt = __import__("datetime")


class _Key:
    """A non-str key whose ``str()`` names a param (mlflow converts keys with ``str``)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __str__(self) -> str:
        return self.name


PARAM_VALUES = [
    True,
    0,
    7,
    2**70,  # an int numpy cannot hold: int() keeps it, float() rounds it
    np.int32(3),
    np.int64(4),
    np.int8(5),
    np.uint32(6),
    np.bool_(False),
    1.5,
    float("nan"),
    np.float32(2.5),
    np.float64(3.5),
    np.float16(0.5),
    "x",
    "7",
    "",
    np.str_("y"),
    "2020-01-02",
    "2020-01-02T03:04:05",
    np.str_("2021-02-03"),
    b"b",
    np.bytes_(b"c"),
    bytearray(b"d"),
    decimal.Decimal("1.5"),
    1 + 2j,
    None,
    {"a": 1},
    (1, 2),
    [1, 2],
    [1.5, 2.5],
    [1, 2.5],
    ["a", "b"],
    [True, None],
    ["2020-01-01", _dt.date(2021, 1, 2)],
    [np.int32(1), np.int64(2)],
    [np.float32(1.5)],
    [],
    np.array([1, 2]),
    np.array([1.5, 2.5], dtype=np.float32),
    np.array(["a", "b"]),
    np.array(["2020-01-01"], dtype="datetime64[D]"),
    np.array(3),  # 0-d
    np.array([[1, 2], [3, 4]]),  # 2-d
    [[1], [2]],
    [[1], [1, 2]],  # ragged: numpy refuses it (ValueError), in mlflow too
    _dt.date(2021, 5, 6),
    _dt.datetime(2021, 5, 6, 7, 8, 9),
    np.datetime64("2022-01-02"),
    np.datetime64("2022-01-02T03:04:05"),
    np.datetime64(5, "ns"),  # .item() is an int
    np.datetime64("NaT"),
]
DEFAULTS = {
    "boolean": [True, False],
    "integer": [1],
    "long": [2, 3],
    "float": [1.5, 2],
    "double": [2.5, 1, 1.0],
    "string": ["s", ""],
    "datetime": ["2020-01-01", "2020-01-01T10:11:12", "1999"],
}
BAD_DEFAULTS = ["abc", 1.5, True, None, [1, 2], {"a": 1}]


@st.composite
def param_cases(draw):
    names = draw(st.lists(st.sampled_from(["k", "n", "m"]), min_size=1, max_size=3, unique=True))
    specs = []
    for name in names:
        t = draw(st.sampled_from([t for t in SCALAR_TYPES if t != "binary"]))  # params cannot be binary
        listy = draw(st.booleans())
        default = draw(st.sampled_from(DEFAULTS[t] + (BAD_DEFAULTS if draw(st.integers(0, 9)) == 0 else [])))
        specs.append(
            {
                "name": name,
                "type": t,
                "default": [default] if listy else default,
                "shape": [-1] if listy else None,
            }
        )
    key_choices = ["k", "n", "m", "zz", 1, _Key("n"), _Key("q")]
    keys = draw(st.lists(st.sampled_from(key_choices), unique_by=str, max_size=3))
    params = {k: draw(st.sampled_from(PARAM_VALUES)) for k in keys}
    return specs, draw(st.sampled_from([params, params, params, None, {}, ["k"]]))


def _typed(x):
    if isinstance(x, dict):
        return {k: _typed(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_typed(v) for v in x]
    if isinstance(x, float) and x != x:
        return (float, "nan")
    return (type(x), x)


def _outcome(run):
    """The result, or ``(raised a ValueError, message)``: mlflow lets numpy's ValueError (a
    ragged list) through, and wraps its own errors in MlflowException."""
    from fastpyfunc._native import ParamError

    try:
        return run()
    except ParamError as e:
        return (False, str(e))
    except Exception as e:  # MlflowException, or whatever its checks raise
        return (isinstance(e, ValueError) and not hasattr(e, "error_code"), getattr(e, "message", str(e)))


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _logged(logger_name: str, run):
    """``run()``'s outcome and the warnings it logged on ``logger_name`` (mlflow's logger does not
    propagate, so a handler sits on it directly)."""
    handler, logger = _Records(), logging.getLogger(logger_name)
    logger.addHandler(handler)
    try:
        return _outcome(run), handler.messages
    finally:
        logger.removeHandler(handler)


@settings(max_examples=500, deadline=None)
@given(param_cases())
def test_params_like_mlflow(case):
    from mlflow.models.utils import _enforce_params_schema
    from mlflow.types import ParamSchema as MlflowParamSchema

    from fastpyfunc._native import ParamPlan
    from fastpyfunc._schema import ParamSchema

    specs, params = case
    theirs, their_logs = _logged(
        "mlflow.models.utils",
        lambda: _enforce_params_schema(deepcopy(params), MlflowParamSchema.from_json(json.dumps(specs))),
    )
    ours, our_logs = _logged("fastpyfunc", lambda: ParamPlan(ParamSchema(specs).to_dict())(deepcopy(params)))
    if isinstance(theirs, tuple):
        assert isinstance(ours, tuple), ours
        assert ours[0] == theirs[0]  # a ValueError where mlflow lets one through
        ours_msg, theirs_msg = ours[1], theirs[1]
        prefix = "Invalid parameters found: "
        default_error = "does not fit its spec: "
        if default_error in ours_msg:  # a default mlflow's ParamSpec refuses: its message, quoted
            assert ours_msg.split(default_error, 1)[1] == theirs_msg
        elif theirs_msg.startswith(prefix):  # a set of (name, message): compare as sets
            assert eval(ours_msg[len(prefix) :]) == eval(theirs_msg[len(prefix) :])
        else:
            assert ours_msg == theirs_msg
    else:
        assert not isinstance(ours, tuple), ours
        assert _typed(ours) == _typed(theirs)
        assert list(ours) == list(theirs)  # the keys' order too
        assert our_logs == their_logs


def test_object_params_like_mlflow():
    from mlflow.models.utils import _enforce_params_schema
    from mlflow.types import ParamSchema as MlflowParamSchema

    from fastpyfunc._native import ParamError, ParamPlan
    from fastpyfunc._schema import ParamSchema

    def outcome(plan_or_schema, params):
        """The enforced params, or the error's message (mlflow's or ours)."""
        try:
            if isinstance(plan_or_schema, ParamPlan):
                return plan_or_schema(deepcopy(params))
            return _enforce_params_schema(deepcopy(params), plan_or_schema)
        except ParamError as e:
            return str(e)
        except Exception as e:  # mlflow's MlflowException, or whatever its checks raise
            if isinstance(plan_or_schema, ParamPlan):
                raise
            return str(e)

    specs = [
        {
            "name": "o",
            "type": "object",
            "properties": {
                "a": {"type": "long", "required": True},
                "b": {"type": "string", "required": False},
            },
            "default": {"a": 1},
            "shape": None,
        }
    ]
    ours_plan = ParamPlan(ParamSchema(specs).to_dict())
    theirs_schema = MlflowParamSchema.from_json(json.dumps(specs))
    for params in ({"o": {"a": 2, "b": "x"}}, {"o": {"b": "x"}}, {"o": {"a": "x"}}, {"o": 3}, {}):
        assert outcome(ours_plan, params) == outcome(theirs_schema, params), params
    # shape (-1,): mlflow checks each item as a DataType, which an Object item never passes
    listed = [{**specs[0], "default": [None], "shape": [-1]}]
    ours_plan = ParamPlan(ParamSchema(listed).to_dict())
    theirs_schema = MlflowParamSchema.from_json(json.dumps(listed))
    for params in ({"o": [None]}, {"o": [1]}, {"o": [{"a": 1}]}, {"o": "x"}, {"o": []}, {}):
        assert outcome(ours_plan, params) == outcome(theirs_schema, params), params
    for default in ([1], None):  # refused when the spec is read, as mlflow's ParamSpec does
        bad = [{**listed[0], "default": default}]
        with pytest.raises(Exception) as theirs_error:
            MlflowParamSchema.from_json(json.dumps(bad))
        with pytest.raises(ParamError) as ours_error:
            ParamPlan(ParamSchema(bad).to_dict())
        assert str(ours_error.value).endswith(theirs_error.value.message)
        assert ours_error.value.key == "o"
