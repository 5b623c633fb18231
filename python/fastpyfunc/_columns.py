"""Carrying out the native plan's column decisions with pandas, and mlflow's cell-by-cell rules for
nested types (``_enforce_type``: Array, Object, Map, Any), whose scalar items are decided by the
same native rules as whole columns.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NoReturn

from . import _native
from ._dependencies import numpy as np
from ._dependencies import pandas as pd

#: Asks the native rules again about a column's new dtype (after ``infer_objects()``).
Decide = Callable[[Any, bool], _native.ColumnAction]
_A = _native.ColumnAction


class Failure(Exception):
    """An enforcement error whose message is mlflow's inner message; ``key`` names the column or
    input at fault where one is."""

    def __init__(self, message: str, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


class PandasFailure(Failure):
    """pandas itself refused a conversion (mlflow lets these through with pandas' message)."""


def fail(message: str, key: str | None = None) -> NoReturn:
    raise Failure(message, key)


def apply(series: Any, action: _native.ColumnAction, decide: Decide) -> Any:
    """Carries out one native decision on a column, as mlflow's ``_enforce_mlflow_datatype``
    does; ``decide`` is asked again about the column's dtype after ``infer_objects()``."""
    try:
        match action:
            case _A.Keep():
                return series
            case _A.InferObjects():
                series = series.infer_objects()
                return apply(series, decide(series.dtype, True), decide)
            case _A.Reject(message=message, nan_int_hint=hint):
                if hint and _native.nan_and_integers(series.to_numpy()):
                    message += _native.nan_int_hint()
                fail(message)
            case _A.Cast(to=to):
                return series.astype(to, errors="raise")
            case _A.CastDatetime():
                try:
                    return series.astype("datetime64[ns]")
                except TypeError as e:
                    fail(
                        "Please ensure that the input data of datetime column only contains "
                        f"timezone-naive datetime objects. Error: {e}"
                    )
            case _A.CastObjectDatetime(message=message):
                try:
                    return series.astype("datetime64[ns]", errors="raise")
                except ValueError:
                    fail(message)
            case _A.ToNumeric(message=message):
                try:
                    return pd.to_numeric(series, errors="raise")
                except ValueError:
                    fail(message)
            case _A.CastIfZeroOne(to=to, message=message):
                if not _native.all_zero_or_one(series.to_numpy()):
                    fail(message)
                return series.astype(to, errors="raise")
    except Failure:
        raise
    except Exception as e:  # pandas' own error (e.g. NA into int64), as mlflow reports it
        raise PandasFailure(str(e)) from e
    raise AssertionError(f"no column action {action!r} here")  # Nested is handled by the caller


# -- nested types -----------------------------------------------------------------------------------


def _none_or_nan(x: Any) -> bool:
    if isinstance(x, float):
        return x != x
    return x is None or x is pd.NA or x is pd.NaT


def _scalar_series(data: Any, type_name: str) -> Any:
    """``_enforce_mlflow_datatype("", pd.Series(data), t)`` with the native rules."""
    series = pd.Series(data)

    def decide(dtype: Any, inferred: bool) -> _native.ColumnAction:
        return _native.scalar_action(type_name, dtype, inferred)

    return apply(series, decide(series.dtype, False), decide)


def _datatype(data: Any, name: str, required: bool) -> Any:
    if not required and _none_or_nan(data):
        return None
    if not np.isscalar(data):
        fail(f"Expected data to be scalar, got {type(data).__name__}")
    try:
        series = _scalar_series(data, name)
    except PandasFailure:
        raise
    except Failure:
        fail(f"Failed to enforce schema of data `{str(data)}` with dtype `{name}`")  # str(b"x") as mlflow
    return series[0]


#: DataType -> numpy dtype name (``DataType.to_numpy()``), for nested items and params.
NUMPY_DTYPES = {
    "boolean": "bool",
    "integer": "int32",
    "long": "int64",
    "float": "float32",
    "double": "float64",
    "string": "str",
    "binary": "bytes",
    "datetime": "datetime64[ns]",
}


def _array(data: Any, t: dict[str, Any], required: bool) -> Any:
    items = t["items"]
    if (not required or items.get("type") == "any") and (
        data is None or (isinstance(data, (list, np.ndarray)) and len(data) == 0)
    ):
        return data
    if not isinstance(data, (list, np.ndarray)):
        fail(f"Expected data to be list or numpy array, got {type(data).__name__}")
    name = _scalar_name(items)
    if name is not None:
        out = (
            _scalar_series(data, name).to_numpy(dtype=np.dtype(NUMPY_DTYPES[name])) if len(data) > 0 else data
        )
    else:
        out = [enforce_type(x, items, required) for x in data]
    if isinstance(data, list) and isinstance(out, np.ndarray):
        return out.tolist()
    if isinstance(data, np.ndarray) and isinstance(out, list):
        return np.array(out)
    return out


def _object(data: Any, t: dict[str, Any], required: bool) -> Any:
    from ._schema import _type_repr

    if not required and (data is None or data == {}):
        return data
    if not isinstance(data, dict):
        fail(
            f"Failed to enforce schema of '{data}' with type '{_type_repr(t)}'. "
            f"Expected data to be dictionary, got {type(data).__name__}"
        )
    props = t.get("properties", {})
    required_props = {k for k, p in props.items() if p.get("required", True)}
    if missing := required_props - set(data.keys()):
        fail(f"Missing required properties: {missing}")
    if invalid := data.keys() - props.keys():
        fail(f"Invalid properties not defined in the schema found: {invalid}")
    out = {}  # a new dict: mlflow rewrites the caller's in place
    for k, v in data.items():
        try:
            out[k] = enforce_type(v, props[k], props[k].get("required", True))
        except PandasFailure:
            raise
        except Failure:
            fail(
                f"Failed to enforce schema for key `{k}`. Expected type {props[k]['type']}, "
                f"received type {type(v).__name__}"
            )
    return out


def _map(data: Any, t: dict[str, Any], required: bool) -> Any:
    values = t["values"]
    if (not required or values.get("type") == "any") and (data is None or data == {}):
        return data
    if not isinstance(data, dict):
        fail(f"Expected data to be a dict, got {type(data).__name__}")
    if not all(isinstance(k, str) for k in data):
        fail("Expected all keys in the map type data are string type.")
    return {k: enforce_type(v, values, required) for k, v in data.items()}


def _scalar_name(t: Any) -> str | None:
    """The DataType name when ``t`` is a scalar type (``"long"`` or ``{"type": "long"}``)."""
    name = t if isinstance(t, str) else t.get("type")
    return name if name in NUMPY_DTYPES else None


def enforce_type(data: Any, t: Any, required: bool = True) -> Any:
    """mlflow's ``_enforce_type`` for one cell; ``t`` is a DataType name or a type's JSON dict.
    Errors that are not mlflow's own (numpy/pandas conversions) keep their message and pass
    through the Object and DataType wrappers untouched, as in mlflow."""
    try:
        return _enforce_type(data, t, required)
    except Failure:
        raise
    except Exception as e:
        raise PandasFailure(str(e)) from e


def _enforce_type(data: Any, t: Any, required: bool) -> Any:
    name = _scalar_name(t)
    if name is not None:
        return _datatype(data, name, required)
    kind = t["type"]
    if kind == "array":
        return _array(data, t, required)
    if kind == "object":
        return _object(data, t, required)
    if kind == "map":
        return _map(data, t, required)
    if kind == "any":
        return data
    from ._schema import _type_repr

    fail(f"Invalid data type: {_type_repr(t)}")
