"""Params enforcement: mlflow's ``_enforce_params_schema``, without mlflow.

Params are a handful of Python scalars or lists per call, so the rules run here, on Python values
with Python's and NumPy's own type semantics (which is what mlflow's decisions are made of):
unknown keys dropped with a warning, defaults filled in, the allowed widenings (int -> long,
float, double; long -> float, double; float -> double), datetimes parsed by ``np.datetime64``,
shape ``(-1,)`` for lists. Object-typed params are checked with the nested-type rules of
``_columns.py``, as mlflow checks them with ``_enforce_object``.
"""

from __future__ import annotations

import datetime as dt
import logging
from copy import deepcopy
from typing import Any

from ._columns import NUMPY_DTYPES, enforce_type

_logger = logging.getLogger("fastpyfunc")

# DataType -> (to_pandas when it is not to_numpy, to_python), as mlflow defines them; to_numpy is
# _columns.NUMPY_DTYPES.
_TYPES: dict[str, tuple[str | None, type]] = {
    "boolean": (None, bool),
    "integer": (None, int),
    "long": (None, int),
    "float": (None, float),
    "double": (None, float),
    "string": ("object", str),
    "binary": ("object", bytes),
    "datetime": (None, dt.date),
}
#: Types whose Python value `python_type(value)` returns unchanged.
_UNCHANGED = {"boolean", "integer", "long", "float", "double", "string"}
_ALLOWED = {"long": ("integer",), "float": ("integer", "long"), "double": ("integer", "long", "float")}


class ParamError(Exception):
    """A param failed validation; the message is mlflow's, ``key`` the param at fault."""

    def __init__(self, message: str, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


def _check_type(np: Any, name: str, value: Any) -> bool:
    """``DataType.check_type``: ``type(value) in [to_numpy, to_pandas, to_python, ...]`` with
    NumPy's equality (``np.dtype('int64') == int`` is True)."""
    numpy_name = NUMPY_DTYPES[name]
    pandas_name, python_type = _TYPES[name]
    types: list[Any] = [
        np.dtype(numpy_name),
        object if pandas_name == "object" else np.dtype(numpy_name),
        python_type,
    ]
    if name == "datetime":
        types += [np.datetime64, dt.datetime]
    if name == "binary":
        types.append(bytearray)
    return type(value) in types


def _datatype(np: Any, value: Any, name: str) -> Any:
    """``_enforce_param_datatype``; messages print the type as ``str(DataType.x)`` does."""
    if value is None:
        return None
    shown = f"DataType.{name}"
    if name == "datetime":
        try:
            parsed = np.datetime64(value).item()
        except ValueError as e:
            raise ParamError(
                f"Failed to convert value `{value}` from type `{type(value)}` to `{shown}`"
            ) from e
        if isinstance(parsed, int):
            raise ParamError(
                f"Failed to convert value to `{shown}`. It must be convertible to datetime.date/datetime, got `{value}`"
            )
        return parsed
    if not np.isscalar(value):
        raise ParamError(f"Value must be a scalar for type `{shown}`, got `{value}`")
    python_type = _TYPES[name][1]
    if _check_type(np, name, value):
        return python_type(value)
    if name in _ALLOWED and any(_check_type(np, t, value) for t in _ALLOWED[name]):
        try:
            return python_type(value)
        except ValueError as e:
            raise ParamError(
                f"Failed to convert value `{value}` from type `{type(value)}` to `{shown}`"
            ) from e
    raise ParamError(f"Can not safely convert `{type(value)}` to `{shown}` for value `{value}`")


def validate(np: Any, spec_repr: str, value: Any, type_: Any, shape: tuple[int, ...] | None) -> Any:
    """``ParamSpec.validate_type_and_shape``."""
    if shape == (-1,) and not (isinstance(value, (list, np.ndarray)) and np.array(value).ndim == 1):
        raise ParamError(
            f"Value must be a 1D array with shape (-1,) for param {spec_repr}, "
            f"received {type(value).__name__} with ndim {np.array(value).ndim}"
        )
    try:
        if shape is None:
            if isinstance(type_, str):
                return _datatype(np, value, type_)
            _enforce_object(type_, value)
            return value
        if shape == (-1,):
            return [_datatype(np, v, type_) for v in value]
    except Exception as e:
        raise ParamError(f"Failed to validate type and shape for {spec_repr}, error: {e}") from e
    return None


def _enforce_object(type_: dict[str, Any], value: Any) -> None:
    enforce_type(deepcopy(value), type_)  # validates; the original value is returned, as mlflow does


class ParamPlan:
    """A params schema, with defaults converted once (as mlflow's ParamSpec does at creation)."""

    def __init__(self, specs: list[Any]) -> None:
        import numpy as np

        self._np = np
        self._specs = []
        for s in specs:
            type_ = (
                s.type if s.type != "object" else {"type": "object", "properties": s.to_dict()["properties"]}
            )
            try:
                default = validate(np, repr(s), s.default, type_, s.shape) if s.default is not None else None
            except ParamError as e:  # mlflow's ParamSpec refuses it when the MLmodel is read
                raise ParamError(f"the default of param {s.name!r} does not fit its spec: {e}", s.name) from e
            self._specs.append((s.name, type_, s.shape, default))
        self._names = {s[0] for s in self._specs}
        self._defaults = {name: default for name, _, _, default in self._specs}
        # Scalar params whose value, given as exactly this Python type, passes unchanged: the
        # common call skips the per-spec validation (same result, a few µs less per predict).
        self._exact = {
            name: _TYPES[t][1]
            for name, t, shape, _ in self._specs
            if shape is None and isinstance(t, str) and t in _UNCHANGED
        }

    def _repr(self, name: str, type_: Any, shape: Any, default: Any) -> str:
        kind = type_ if isinstance(type_, str) else _object_repr(type_)
        return f"{name!r}: {kind} (default: {default})" + (f" (shape: {shape})" if shape is not None else "")

    def __call__(self, params: Any) -> dict[str, Any]:
        if params is None:
            return dict(self._defaults)
        exact = self._exact
        if type(params) is dict and all(type(v) is exact.get(k) for k, v in params.items()):
            return {**params, **{k: d for k, d in self._defaults.items() if k not in params}}
        if not isinstance(params, dict):
            raise ParamError(
                f"Parameters must be a dictionary. Got type '{type(params).__name__}'.", "params"
            )
        if any(not isinstance(k, str) for k in params):
            _logger.warning(
                "Keys in parameters should be of type `str`, but received non-string keys."
                "Converting all keys to string..."
            )
            params = {str(k): v for k, v in params.items()}
        if ignored := set(params) - self._names:
            _logger.warning(
                f"Unrecognized params {list(ignored)} are ignored for inference. "
                f"Supported params are: {self._names}. "
                "To enable them, please add corresponding schema in ModelSignature."
            )
        params = {k: params[k] for k in params if k in self._names}
        invalid = set()
        first = None  # the key: the first param at fault in schema order
        for name, type_, shape, default in self._specs:
            if name in params:
                try:
                    params[name] = validate(
                        self._np, self._repr(name, type_, shape, default), params[name], type_, shape
                    )
                except ParamError as e:
                    invalid.add((name, str(e)))
                    first = first or name
            else:
                params[name] = default
        if invalid:
            raise ParamError(f"Invalid parameters found: {invalid!r}", first)
        return params


def _object_repr(type_: dict[str, Any]) -> str:
    from ._schema import _type_repr

    return _type_repr(type_)
