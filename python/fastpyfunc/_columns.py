"""Carrying out the native plan's column decisions with pandas, and the pandas half of the
native nested rules (``_native.NestedType``, mlflow's ``_enforce_type`` for Array, Object, Map,
Any): scalars and an Array's scalar items go through ``pd.Series`` and the same column rules.
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
                try:
                    if hint and _native.nan_and_integers(series.to_numpy()):
                        message += _native.nan_int_hint()
                except OverflowError as e:  # mlflow's int(inf), reported as it is
                    fail(str(e))
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
# mlflow's ``_enforce_type`` (Array, Object, Map, Any) is the native ``NestedType``; what stays
# here is the pandas it runs on scalars.


def _scalar_series(data: Any, type_name: str) -> Any:
    """``_enforce_mlflow_datatype("", pd.Series(data), t)`` with the native rules."""
    series = pd.Series(data)

    def decide(dtype: Any, inferred: bool) -> _native.ColumnAction:
        return _native.scalar_action(type_name, dtype, inferred)

    return apply(series, decide(series.dtype, False), decide)


#: DataType -> numpy dtype name (``DataType.to_numpy()``), for an Array's scalar items.
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


def scalars(data: Any, type_name: str, as_array: bool) -> Any:
    """What mlflow's nested rules make of a scalar (``as_array`` False: ``series[0]``) or of an
    Array's scalar items (``to_numpy`` in the DataType's numpy dtype), through ``pd.Series`` and
    the column rules. Called by the native ``NestedType``."""
    series = _scalar_series(data, type_name)
    return series.to_numpy(dtype=np.dtype(NUMPY_DTYPES[type_name])) if as_array else series[0]


def enforce_type(data: Any, t: Any, required: bool = True) -> Any:
    """mlflow's ``_enforce_type`` for one value; ``t`` is a DataType name or a type's dict.
    Callers with many values build one ``_native.NestedType(t)`` and call it instead."""
    return _native.NestedType(t)(data, required)
