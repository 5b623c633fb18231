"""Signature enforcement before every predict.

Until the native enforcement plan lands (issue #4), the decisions are mlflow's own: where mlflow
is installed, ``_validate_prediction_input`` runs on the model's signature (converted to mlflow
classes once per model), so accept/reject and conversions are exactly mlflow's. Where mlflow is
not installed, inputs reach the model unchanged and a one-time warning says so.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

from . import exceptions as exc

_logger = logging.getLogger("fastpyfunc")
_warned_no_mlflow = False


class Enforcer:
    """Per-model enforcement state, built once at load."""

    def __init__(self, model_path: str, metadata: Any, loader_module: str | None) -> None:
        self._model_path = model_path
        self._meta = metadata
        self._loader_module = loader_module
        self._mlflow_schemas: tuple[Any, Any] | None = None
        self.has_schema = metadata.signature is not None and (
            metadata.get_input_schema() is not None or metadata.get_params_schema() is not None
        )

    def _schemas(self) -> tuple[Any, Any] | None:
        if self._mlflow_schemas is None:
            try:
                inputs = self._meta.get_input_schema()
                params = self._meta.get_params_schema()
                self._mlflow_schemas = (
                    inputs.as_mlflow() if inputs is not None else None,
                    params.as_mlflow() if params is not None else None,
                )
            except ImportError:
                return None
        return self._mlflow_schemas

    def __call__(self, data: Any, params: dict[str, Any] | None) -> tuple[Any, dict[str, Any] | None]:
        if not self.has_schema:
            if params not in (None, {}):
                info = (
                    f"Ignoring provided params: {list(params.keys())}"
                    if isinstance(params, dict)
                    else "Ignoring invalid params (not a dictionary)."
                )
                _logger.warning(
                    "`params` can only be specified at inference time if the model signature "
                    f"defines a params schema. This model does not define a params schema. {info}"
                )
                return data, {}
            return data, params
        schemas = self._schemas()
        if schemas is None:
            _warn_no_mlflow()
            return data, params
        from mlflow.exceptions import MlflowException
        from mlflow.pyfunc import _validate_prediction_input

        input_schema, params_schema = schemas
        try:
            if self._meta._is_signature_from_type_hint():
                from mlflow.models.utils import _enforce_params_schema

                return data, _enforce_params_schema(params, params_schema)
            return _validate_prediction_input(data, params, input_schema, params_schema, self._loader_module)
        except MlflowException as e:
            raise exc.make(
                exc.SchemaEnforcementError,
                f"{self._model_path}: {e.message}",
                model_path=self._model_path,
                error_code=e.error_code,
                error_class=e.error_class,
            ) from e


def _warn_no_mlflow() -> None:
    global _warned_no_mlflow
    if not _warned_no_mlflow:
        _warned_no_mlflow = True
        warnings.warn(
            "fastpyfunc: mlflow is not installed, so the model signature is not enforced yet; "
            "inputs reach the model unchanged (native enforcement is planned).",
            RuntimeWarning,
            stacklevel=3,
        )
