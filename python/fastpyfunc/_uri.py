"""Model URIs: local paths are used in place; everything else is downloaded by mlflow."""

from __future__ import annotations

import os

from . import _native
from . import exceptions as exc


def resolve(model_uri: str | os.PathLike[str], dst_path: str | None) -> str:
    """Returns the local model directory for ``model_uri``."""
    uri = os.fspath(model_uri)
    kind, value = _native.classify_uri(uri)
    if kind == "local":
        return value
    try:
        from mlflow.tracking.artifact_utils import _download_artifact_from_uri
    except ImportError as e:
        raise exc.make(
            exc.EngineUnavailableError,
            f"model URI '{uri}': resolving '{value}:' URIs needs mlflow (its artifact "
            "repositories and model registry): pip install mlflow",
            model_path=uri,
            key=value,
        ) from e
    from mlflow.exceptions import MlflowException

    try:
        return _download_artifact_from_uri(artifact_uri=uri, output_path=dst_path)
    except MlflowException as e:
        raise exc.make(
            exc.ModelNotFoundError,
            f"model URI '{uri}': {e.message}",
            model_path=uri,
            error_code=e.error_code,
            error_class=e.error_class,
        ) from e
    except OSError as e:
        raise exc.make(exc.ModelNotFoundError, f"model URI '{uri}': {e}", model_path=uri) from e
