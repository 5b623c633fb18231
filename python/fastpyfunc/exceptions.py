"""Exceptions raised by fastpyfunc.

Every error is a :class:`FastPyFuncError`. Messages name the model path and the offending
key, file, input or column. Where code written for mlflow catches
``mlflow.exceptions.MlflowException``, our exceptions are caught too: once ``mlflow`` has been
imported in the process, each raised exception is an instance of a subclass that also derives
from ``MlflowException`` and carries mlflow's ``error_code`` and ``error_class``. This module
never imports mlflow itself.
"""

from __future__ import annotations

import sys
from typing import Any

__all__ = [
    "FastPyFuncError",
    "MalformedModelError",
    "ModelNotFoundError",
    "UnsupportedFlavorError",
    "InvalidUriError",
    "EngineUnavailableError",
    "ModelLoadError",
    "UnsafeModelError",
    "SchemaEnforcementError",
    "InvalidModelConfigError",
    "InvalidInputError",
    "InvalidInputTypeError",
    "PredictionError",
]


class FastPyFuncError(Exception):
    """Base class of every fastpyfunc error.

    Attributes:
        message: the full message.
        model_path: the model directory (or URI) the error is about, if any.
        key: the MLmodel key, file, input, column or parameter the error is about, if any.
        error_code: mlflow's error code name (``INVALID_PARAMETER_VALUE``, ...).
        error_class: mlflow's error class (``SCHEMA_ENFORCEMENT_FAILED``, ...) or None.
    """

    default_error_code = "INTERNAL_ERROR"
    default_error_class: str | None = None

    def __init__(
        self,
        message: str,
        *,
        model_path: str | None = None,
        key: str | None = None,
        error_code: str | None = None,
        error_class: str | None = None,
    ) -> None:
        Exception.__init__(self, message)
        self.message = message
        self.model_path = model_path
        self.key = key
        self.error_code = error_code or self.default_error_code
        self.error_class = error_class or self.default_error_class
        # Attributes MlflowException's methods (serialize_as_json, ...) read.
        self.sqlstate = None
        self.json_kwargs: dict[str, Any] = {}

    def __str__(self) -> str:
        return self.message

    def __reduce__(self):  # picklable across processes (Spark workers), mixed class or not
        base = _public_base(type(self))
        return (
            _rebuild,
            (base.__name__, self.message, self.model_path, self.key, self.error_code, self.error_class),
        )


class MalformedModelError(FastPyFuncError):
    """The MLmodel file (or its signature) is not valid: bad YAML, limits exceeded, wrong shapes."""

    default_error_code = "INVALID_PARAMETER_VALUE"


class ModelNotFoundError(FastPyFuncError):
    """The model directory, its MLmodel file or a file it names does not exist."""

    default_error_code = "RESOURCE_DOES_NOT_EXIST"


class UnsupportedFlavorError(FastPyFuncError):
    """The model has no ``python_function`` flavor, or cannot be loaded at all."""

    default_error_code = "RESOURCE_DOES_NOT_EXIST"


class InvalidUriError(FastPyFuncError):
    """The model URI cannot be resolved."""

    default_error_code = "INVALID_PARAMETER_VALUE"


class EngineUnavailableError(FastPyFuncError):
    """A runtime or package the model needs (an engine, mlflow, a framework) is not installed."""

    default_error_code = "INTERNAL_ERROR"


class ModelLoadError(FastPyFuncError):
    """The model's artifacts exist but could not be loaded (corrupt file, version mismatch...)."""

    default_error_code = "INTERNAL_ERROR"


class UnsafeModelError(FastPyFuncError):
    """Loading the model would deserialize code (pickle...) and that is not allowed."""

    default_error_code = "INVALID_PARAMETER_VALUE"


class SchemaEnforcementError(FastPyFuncError):
    """The input or params do not fit the model signature."""

    default_error_code = "INVALID_PARAMETER_VALUE"
    default_error_class = "SCHEMA_ENFORCEMENT_FAILED"


class InvalidModelConfigError(FastPyFuncError):
    """``model_config`` is not a dict, or its file cannot be read."""

    default_error_code = "INVALID_PARAMETER_VALUE"


class InvalidInputError(FastPyFuncError):
    """The data given to ``predict`` does not fit the model's inputs (names, types, shapes)."""

    default_error_code = "INVALID_PARAMETER_VALUE"


class InvalidInputTypeError(InvalidInputError, TypeError):
    """An input of a Python type the flavor does not take, where mlflow raises ``TypeError``
    (a list or dict given to a PyTorch model): ``except TypeError`` written for mlflow still
    catches it."""


class PredictionError(FastPyFuncError):
    """The engine failed while running the model."""

    default_error_code = "INTERNAL_ERROR"


_PUBLIC = {name: globals()[name] for name in __all__}
_MIXED: dict[type, type] = {}


def _public_base(cls: type) -> type:
    for c in cls.__mro__:
        if c.__module__ == __name__ and c.__name__ in _PUBLIC:
            return c
    return FastPyFuncError


def _class_for(cls: type[FastPyFuncError]) -> type[FastPyFuncError]:
    """``cls``, or a subclass of ``cls`` and MlflowException when mlflow is loaded."""
    mlflow_exceptions = sys.modules.get("mlflow.exceptions")
    base = getattr(mlflow_exceptions, "MlflowException", None)
    if base is None:
        return cls
    mixed = _MIXED.get(cls)
    if mixed is None:
        mixed = type(
            cls.__name__, (cls, base), {"__module__": cls.__module__, "__qualname__": cls.__qualname__}
        )
        _MIXED[cls] = mixed
    return mixed


def make(cls: type[FastPyFuncError], message: str, **kwargs: Any) -> FastPyFuncError:
    """Builds an instance of ``cls`` (mlflow-compatible where mlflow is loaded). Raise the result."""
    return _class_for(cls)(message, **kwargs)


def install_hint(*requirements: str) -> str:
    """The one way messages say what to install, e.g. ``pip install 'fastpyfunc[mlflow]'``."""
    return "pip install " + " ".join(f"'{r}'" for r in requirements)


def mlflow_code(error: BaseException, attr: str) -> str | None:
    """``error_code`` / ``error_class`` of an MlflowException being wrapped (kept as mlflow set them)."""
    value = getattr(error, attr, None)
    return value if isinstance(value, str) else None


def _rebuild(name, message, model_path, key, error_code, error_class):
    return make(
        _PUBLIC.get(name, FastPyFuncError),
        message,
        model_path=model_path,
        key=key,
        error_code=error_code,
        error_class=error_class,
    )


def _from_native(kind: str, message: str, model_path: str | None, key: str | None) -> FastPyFuncError:
    """Called by the Rust binding: the one mapping from core error kinds to classes."""
    return make(_PUBLIC.get(kind, FastPyFuncError), message, model_path=model_path, key=key)
