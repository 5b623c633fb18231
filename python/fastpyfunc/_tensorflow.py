"""mlflow.tensorflow's and mlflow.keras' SavedModel wrappers on the native SavedModel engine (the
TensorFlow C API driven from Rust; Python ``tensorflow`` is not imported to load or predict).

- A ``tf2-module`` model is called as ``module(data)`` by mlflow; natively that is the SavedModel's
  ``serving_default`` signature, which ``tf.saved_model.save`` exports from a ``__call__`` with an
  ``input_signature``.
- A ``tf1-estimator`` model (or a tensorflow model without ``model_type``) is its
  ``signature_def_key`` signature under ``meta_graph_tags``, called with named inputs.
- A Keras model saved with ``save_exported_model=True`` is its ``serve`` endpoint.

Where the native engine cannot run the model (no TensorFlow libraries, no such signature,
non-numeric tensors), mlflow's own loader runs it through Python TensorFlow, with a warning that
says why.
"""

from __future__ import annotations

import logging
from typing import Any

from . import _fork, _native
from . import exceptions as exc
from ._dependencies import available, loaded, require
from ._dependencies import numpy as np
from ._engines import mark_python_fallback, tensorflow_library_dir

_logger = logging.getLogger("fastpyfunc")

SERVING_TAGS = ["serve"]
SERVING_KEY = "serving_default"


def load(
    model_path: str,
    saved_model_dir: str,
    plan: _native.LoadPlan,
    config: Any,
    tf_flavor: dict[str, Any] | None,
) -> Any:
    """The native wrapper, or mlflow's Python one when the native engine cannot run the model."""
    keras = plan.loader_module == "mlflow.keras"
    conf = tf_flavor or {}
    # Planned natively without a model_type, a tensorflow model is a tf1-estimator (as mlflow's
    # `_infer_model_type` reads it).
    estimator = not keras and conf.get("model_type", "tf1-estimator") == "tf1-estimator"
    tags = SERVING_TAGS
    if estimator:
        tags = conf.get("meta_graph_tags") or SERVING_TAGS
        tags = [tags] if isinstance(tags, str) else list(tags)
        key = conf.get("signature_def_key") or SERVING_KEY
    else:
        # tf.saved_model.save exports `__call__` as serving_default; Keras' ExportArchive, as "serve".
        key = "serve" if keras else SERVING_KEY
    _fork.check_load(_fork.SAVEDMODEL, model_path)
    try:
        library_dir = tensorflow_library_dir(model_path)
        native = _native.load_savedmodel(saved_model_dir, tags, key, library_dir)
        _fork.used(_fork.SAVEDMODEL)
        if not estimator and (len(native.inputs) != 1 or (keras and len(native.outputs) != 1)):
            raise exc.make(
                exc.EngineUnavailableError,
                f"{model_path}: the '{key}' signature takes {len(native.inputs)} inputs and gives "
                f"{len(native.outputs)} outputs; the native engine runs one input (and, for Keras, one output)",
                model_path=model_path,
            )
    except exc.EngineUnavailableError as why:
        return _python_fallback(model_path, plan, config, why)
    if estimator:
        return SignatureModel(model_path, saved_model_dir, tags, native)
    if keras:
        return KerasExportModel(model_path, saved_model_dir, native)
    return TF2ModuleModel(model_path, saved_model_dir, native)


def _python_fallback(model_path: str, plan: _native.LoadPlan, config: Any, why: Exception) -> Any:
    if not available("tensorflow"):
        raise why
    _logger.warning(
        "fastpyfunc: running this TensorFlow model through Python TensorFlow, because the native "
        "SavedModel engine cannot: %s",
        why,
    )
    from ._fallback import _load_with_module

    impl = _load_with_module(model_path, plan.loader_module, plan.data_path, config)
    return mark_python_fallback(impl, why, "mlflow's loader with Python TensorFlow")


class _Native:
    """What the native wrappers share: a forked child cannot run them (see ``_fork``)."""

    def fork_hazard(self) -> str | None:
        return _fork.hazard(_fork.SAVEDMODEL)


class TF2ModuleModel(_Native):
    """The predict implementation of a ``tf2-module`` TensorFlow model."""

    def __init__(self, model_path: str, saved_model_dir: str, native: Any) -> None:
        self._model_path = model_path
        self._dir = saved_model_dir
        self._native = native
        self._run = native.run
        #: The whole predict in one native call (see ``PyFuncModel.predict``).
        self.native_predict = native.predict_module
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
            tf = require("tensorflow", "get_raw_model", model_path=self._model_path)
            self._raw = tf.saved_model.load(self._dir)
        return self._raw


class KerasExportModel(_Native):
    """mlflow.keras' ``KerasModelWrapper`` for a model saved with ``save_exported_model=True``:
    ``model.serve(data)``, a DataFrame fed as ``df.values`` and answered as a DataFrame."""

    def __init__(self, model_path: str, saved_model_dir: str, native: Any) -> None:
        self._model_path = model_path
        self._dir = saved_model_dir
        self._run = native.run
        #: The whole predict in one native call (see ``PyFuncModel.predict``).
        self.native_predict = native.predict_keras
        self._raw: Any = None

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        pd = loaded("pandas")
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
            tf = require("tensorflow", "get_raw_model", model_path=self._model_path)
            self._raw = tf.saved_model.load(self._dir)
        return self._raw


class SignatureModel(_Native):
    """mlflow.tensorflow's ``_TF2Wrapper`` for a ``tf1-estimator`` model: the signature
    ``signature_def_key`` called with one keyword argument per input, from a dict or from the
    columns of a DataFrame; answered as a dict or a DataFrame with one entry per output."""

    def __init__(self, model_path: str, saved_model_dir: str, tags: list[str], native: Any) -> None:
        self._model_path = model_path
        self._dir = saved_model_dir
        self._tags = tags
        self._run = native.run
        self._inputs = [name for name, _, _ in native.inputs]
        #: The whole predict of a DataFrame in one native call (see ``PyFuncModel.predict``).
        self.native_predict = native.predict_signature
        self._raw: Any = None

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        pd = loaded("pandas")
        if isinstance(data, dict):
            feeds = {k: _like_constant(v) for k, v in data.items()}
        elif pd is not None and isinstance(data, pd.DataFrame):
            feeds = {}
            for name in list(data):
                col = data[name]  # duplicate names select a DataFrame: mlflow feeds its values
                feeds[name] = col.values if isinstance(col, pd.DataFrame) else _like_column(col)
        else:
            raise exc.make(
                exc.InvalidInputError,
                f"{self._model_path}: Only dict and DataFrame input types are supported "
                f"(got {type(data).__name__})",
                model_path=self._model_path,
            )
        missing = [k for k in self._inputs if k not in feeds]
        unknown = [k for k in feeds if k not in self._inputs]
        if missing or unknown:
            what = [f"missing {missing}"] * bool(missing) + [f"unknown {unknown}"] * bool(unknown)
            raise exc.make(
                exc.InvalidInputError,
                f"{self._model_path}: the signature takes the inputs {self._inputs}; {' and '.join(what)}",
                model_path=self._model_path,
            )
        out = self._run([feeds[k] for k in self._inputs])
        preds = {k: _tf2_wrapper_column(v) for k, v in out.items()}
        if isinstance(data, dict):
            return preds
        assert pd is not None  # a DataFrame came in
        return pd.DataFrame.from_dict(data=preds)

    def get_raw_model(self) -> Any:
        """The SavedModel loaded by Python TensorFlow with its tags (what mlflow returns)."""
        if self._raw is None:
            tf = require("tensorflow", "get_raw_model", model_path=self._model_path)
            self._raw = tf.saved_model.load(self._dir, tags=self._tags)
        return self._raw


def _tf2_wrapper_column(arr: Any) -> Any:
    """``_TF2Wrapper``'s output rule: an output that is not 1-D and has one value per row is
    raveled; anything else becomes a list (of lists), as ``ndarray.tolist()`` gives."""
    if arr.ndim >= 2 and (arr.shape[0] == 0 or arr.shape[1] == 1):
        return arr.ravel()
    return arr.tolist()


def _like_constant(value: Any) -> Any:
    """``tf.constant(value)``: NumPy values keep their dtype, Python values convert as TF does."""
    if isinstance(value, (np.ndarray, np.generic)):
        return np.asarray(value)
    return _like_convert_to_tensor(value)


def _like_column(col: Any) -> Any:
    """``np.array(series.to_list())``, what mlflow feeds for a column, without the Python list
    where the column is plain numeric: the values become Python scalars there, so floats widen
    to float64, integers to int64, and an empty column is float64."""
    dtype = col.dtype
    if len(col) == 0:
        return np.array([])
    if isinstance(dtype, np.dtype) and dtype.kind in "biufc":
        values = col.to_numpy()
        if dtype.kind == "f":
            return values.astype(np.float64)
        if dtype.kind == "c":
            return values.astype(np.complex128)
        if dtype.kind == "i" or (dtype.kind == "u" and (dtype.itemsize < 8 or values.max() < 2**63)):
            return values.astype(np.int64)
        if dtype.kind == "b":
            return values
    return np.array(col.to_list())  # numpy decides (uint64 past int64 mixes into float64...)


def _like_convert_to_tensor(data: list[Any]) -> Any:
    """``tf.convert_to_tensor(list)``: Python floats become float32 and ints int32, or int64
    where one does not fit int32 (TensorFlow's rule; a cast would wrap them)."""
    arr = np.asarray(data)
    if arr.dtype == np.float64:
        return arr.astype(np.float32)
    if arr.dtype == np.int64:
        small = arr.size == 0 or (arr.min() >= -(2**31) and arr.max() < 2**31)
        return arr.astype(np.int32) if small else arr
    return arr
