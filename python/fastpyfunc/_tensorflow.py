"""mlflow.tensorflow's ``_TF2ModuleWrapper`` on the native SavedModel engine (the TensorFlow C API
driven from Rust; Python ``tensorflow`` is not imported to load or predict).

A ``tf2-module`` model is called as ``module(data)`` by mlflow; natively that is the SavedModel's
``serving_default`` signature, which ``tf.saved_model.save`` exports from a ``__call__`` with an
``input_signature``. Where the native engine cannot run the model (no TensorFlow libraries, no
single-input serving signature, non-numeric tensors), mlflow's own loader runs it through Python
TensorFlow, with a warning that says why.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

import numpy as np

from . import _native
from . import exceptions as exc
from ._engines import tensorflow_library_dir

_logger = logging.getLogger("fastpyfunc")

SERVING_TAGS = ["serve"]


def load(model_path: str, saved_model_dir: str, plan: dict[str, Any], config: Any) -> Any:
    """The native wrapper, or mlflow's Python one when the native engine cannot run the model."""
    keras = plan["loader_module"] == "mlflow.keras"
    # tf.saved_model.save exports `__call__` as serving_default; Keras' ExportArchive, as "serve".
    key = "serve" if keras else "serving_default"
    try:
        library_dir = tensorflow_library_dir(model_path)
        native = _native.load_savedmodel(saved_model_dir, SERVING_TAGS, key, library_dir)
        if len(native.inputs) != 1 or (keras and len(native.outputs) != 1):
            raise exc.make(
                exc.EngineUnavailableError,
                f"{model_path}: the '{key}' signature takes {len(native.inputs)} inputs and gives "
                f"{len(native.outputs)} outputs; the native engine runs one input (and, for Keras, one output)",
                model_path=model_path,
            )
    except exc.EngineUnavailableError as why:
        return _python_fallback(model_path, plan, config, why)
    if keras:
        return KerasExportModel(model_path, saved_model_dir, native)
    return TF2ModuleModel(model_path, saved_model_dir, native)


def _python_fallback(model_path: str, plan: dict[str, Any], config: Any, why: Exception) -> Any:
    import importlib.util

    if importlib.util.find_spec("tensorflow") is None:
        raise why
    warnings.warn(
        f"fastpyfunc: running this TensorFlow model through Python TensorFlow, because the native "
        f"SavedModel engine cannot: {why}",
        RuntimeWarning,
        stacklevel=4,
    )
    from ._fallback import _load_with_module

    return _load_with_module(model_path, plan["loader_module"], plan["data_path"], config)


class TF2ModuleModel:
    """The predict implementation of a ``tf2-module`` TensorFlow model."""

    def __init__(self, model_path: str, saved_model_dir: str, native: Any) -> None:
        self._model_path = model_path
        self._dir = saved_model_dir
        self._native = native
        self._run = native.run
        self._raw: Any = None

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        """``module(data)``: one numpy array (or list) in; the array, or a dict of arrays where
        the module returns several outputs (mlflow returns TensorFlow tensors there)."""
        if isinstance(data, list):
            data = _like_convert_to_tensor(data)
        elif not isinstance(data, np.ndarray):
            raise exc.make(
                exc.InvalidInputError,
                f"{self._model_path}: Unsupported input data type: {type(data)}, the input data must "
                "be numpy array or a list.",
                model_path=self._model_path,
            )
        out = self._run([data])
        return next(iter(out.values())) if len(out) == 1 else out

    def get_raw_model(self) -> Any:
        """The module loaded by Python TensorFlow (what mlflow returns), loaded on first call."""
        if self._raw is None:
            import tensorflow as tf

            self._raw = tf.saved_model.load(self._dir)
        return self._raw


class KerasExportModel:
    """mlflow.keras' ``KerasModelWrapper`` for a model saved with ``save_exported_model=True``:
    ``model.serve(data)``, a DataFrame fed as ``df.values`` and answered as a DataFrame."""

    def __init__(self, model_path: str, saved_model_dir: str, native: Any) -> None:
        self._model_path = model_path
        self._dir = saved_model_dir
        self._run = native.run
        self._raw: Any = None

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        import sys

        pd = sys.modules.get("pandas")
        if pd is not None and isinstance(data, pd.DataFrame):
            return pd.DataFrame(self._call(data.values), index=data.index)
        if not isinstance(data, (np.ndarray, list, tuple)):
            raise exc.make(
                exc.InvalidInputError,
                f"{self._model_path}: `data` must be one of: ['ndarray', 'list', 'tuple', 'dict'], but "
                f"received type: {type(data)}.",
                model_path=self._model_path,
            )
        return self._call(data if isinstance(data, np.ndarray) else _like_convert_to_tensor(list(data)))

    def _call(self, arr: Any) -> Any:
        return next(iter(self._run([arr]).values()))

    def get_raw_model(self) -> Any:
        """The exported model loaded by Python TensorFlow (what mlflow returns)."""
        if self._raw is None:
            import tensorflow as tf

            self._raw = tf.saved_model.load(self._dir)
        return self._raw


def _like_convert_to_tensor(data: list[Any]) -> Any:
    """``tf.convert_to_tensor(list)``: Python floats become float32 and ints int32."""
    arr = np.asarray(data)
    if arr.dtype == np.float64:
        return arr.astype(np.float32)
    if arr.dtype == np.int64:
        return arr.astype(np.int32)
    return arr
