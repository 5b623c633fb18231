"""Model URIs: local paths are used in place; everything else is downloaded by mlflow."""

from __future__ import annotations

import os

from . import _native
from . import exceptions as exc
from ._dependencies import require

#: Schemes resolved through mlflow's tracking server or model registry (not plain storage).
_TRACKING_SCHEMES = {"models", "runs"}


def resolve(model_uri: str | os.PathLike[str], dst_path: str | None) -> str:
    """Returns the local model directory for ``model_uri``."""
    uri = os.fspath(model_uri)
    kind, value = _native.classify_uri(uri)
    if kind == "local":
        return value
    try:
        # mlflow's artifact repositories and model registry resolve every other scheme.
        artifact_utils = require(
            "mlflow.tracking.artifact_utils", f"model URI '{uri}': resolving '{value}:' URIs"
        )
    except exc.EngineUnavailableError as e:
        # A URI this installation cannot resolve: the URI is at fault, keyed by its scheme.
        raise exc.make(exc.InvalidUriError, e.message, model_path=uri, key=value) from e
    from mlflow.exceptions import MlflowException

    try:
        return artifact_utils._download_artifact_from_uri(artifact_uri=uri, output_path=dst_path)
    except MlflowException as e:
        unset = _unconfigured(value)
        raise exc.make(
            exc.InvalidUriError if unset else exc.ModelNotFoundError,
            f"model URI '{uri}': {unset}. mlflow answered: {e.message}"
            if unset
            else f"model URI '{uri}': {e.message}",
            model_path=uri,
            key=value,
            error_code=e.error_code,
            error_class=e.error_class,
        ) from e
    except OSError as e:
        raise exc.make(exc.ModelNotFoundError, f"model URI '{uri}': {e}", model_path=uri, key=value) from e


def _unconfigured(scheme: str) -> str | None:
    """Why a ``models:``/``runs:`` URI could not be found when no server is configured, else None.

    With neither ``MLFLOW_TRACKING_URI`` nor ``MLFLOW_REGISTRY_URI`` (nor ``mlflow.set_*_uri``),
    mlflow silently looks in its default local store; saying so beats "not found".
    """
    if scheme not in _TRACKING_SCHEMES:
        return None
    try:
        import mlflow
        from mlflow.tracking._model_registry import utils as registry
        from mlflow.tracking._tracking_service import utils as tracking

        if tracking.is_tracking_uri_set() or registry._registry_uri or os.environ.get("MLFLOW_REGISTRY_URI"):
            return None
        where = mlflow.get_registry_uri() if scheme == "models" else mlflow.get_tracking_uri()
    except Exception:  # noqa: BLE001 - private mlflow API moved: do not claim anything
        return None
    what = "model registry" if scheme == "models" else "tracking server"
    return (
        f"no {what} is configured (MLFLOW_TRACKING_URI and MLFLOW_REGISTRY_URI are unset), so mlflow "
        f"looked in its default store {where}; set MLFLOW_TRACKING_URI (or call mlflow.set_tracking_uri) "
        "to the server that holds the model"
    )
