"""mlflow.onnx's ``_OnnxModelWrapper`` on the native engine (ONNX Runtime through Rust).

Feeds follow mlflow: a dict is used as is; an ndarray feeds a single-input model; a DataFrame is
fed whole (one input) or per input name (several). Dtype casts (float64 -> float32 for float
inputs only), zero-copy lending and the onnxruntime call happen in Rust with the GIL released.
Outputs: ``{name: array}`` for dict/ndarray input, a DataFrame for DataFrame input.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from . import _fork, _native
from . import exceptions as exc
from ._dependencies import loaded
from ._dependencies import numpy as np
from ._engines import onnxruntime_library

_logger = logging.getLogger("fastpyfunc")


class OnnxModel:
    """The predict implementation of an ``onnx`` flavor model."""

    def __init__(self, model_path: str, model_file: str, flavor: dict[str, Any] | None) -> None:
        self._model_path = model_path
        self._model_file = model_file
        self._flavor = flavor or {}
        library = onnxruntime_library(model_path)
        self._native, warnings = _native.load_onnx(
            model_file, library, flavor, os.path.join(model_path, "MLmodel")
        )
        for message in warnings:
            _logger.warning(message)
        # mlflow's wrapper exposes these two attributes; keep them for code that reads them.
        self.inputs: list[tuple[str, str]] = [(n, t) for n, t, _ in self._native.inputs]
        self.output_names: list[str] = [n for n, _, _ in self._native.outputs]
        self._single_input = self.inputs[0][0] if len(self.inputs) == 1 else None
        self._run = self._native.run
        #: The whole predict in one native call (see ``PyFuncModel.predict``).
        self.native_predict = self._native.predict
        self._raw: Any = None
        options = self._flavor.get("onnx_session_options") or {}
        self._parallel = str(options.get("execution_mode") or "").upper() == "PARALLEL"

    def fork_hazard(self) -> str | None:
        """Why this model cannot run in a forked child (see ``_fork``), or None."""
        return _fork.ONNX_PARALLEL if self._parallel else None

    @property
    def providers(self) -> list[str]:
        """Execution providers the native session runs with."""
        return list(self._native.providers)

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        """Runs every output on ``data`` (params are ignored, as mlflow ignores them)."""
        if type(data) is np.ndarray:  # the common fast path first
            return self._run({self._feed_name(): data})
        if isinstance(data, dict):
            # mlflow casts float64 inside the caller's dict in place; the cast here leaves it alone.
            return self._run(data)
        if isinstance(data, np.ndarray):
            return self._run({self._feed_name(): data})
        pd = loaded("pandas")
        if pd is not None and isinstance(data, pd.DataFrame):
            if self._single_input is not None:
                feeds = {self._single_input: data.values}
            else:
                missing = [name for name, _ in self.inputs if name not in data.columns]
                if missing:
                    raise exc.make(
                        exc.InvalidInputError,
                        f"{self._model_path}: DataFrame input lacks columns {missing} for the model "
                        f"inputs {[n for n, _ in self.inputs]}",
                        model_path=self._model_path,
                        key=missing[0],
                    )
                feeds = {name: _column(data[name]) for name, _ in self.inputs}
            return _frame(pd, self._run(feeds))
        raise exc.make(
            exc.InvalidInputError,
            f"{self._model_path}: Input should be a dictionary or a numpy array or a pandas.DataFrame, "
            f"got '{type(data)}'",
            model_path=self._model_path,
        )

    def _feed_name(self) -> str:
        if self._single_input is None:
            names = [n for n, _ in self.inputs]
            raise exc.make(
                exc.InvalidInputError,
                f"{self._model_path}: Unable to map numpy array input to the expected model input. "
                "Numpy arrays can only be used as input for MLflow ONNX models that have a single "
                f"input. This model requires {len(names)} inputs. Please pass in data as either a "
                f"dictionary or a DataFrame with the following tensors: {names}.",
                model_path=self._model_path,
            )
        return self._single_input

    @property
    def rt(self) -> Any:
        """mlflow's wrapper attribute: the ``onnxruntime.InferenceSession`` (made on first access)."""
        return self.get_raw_model()

    def get_raw_model(self) -> Any:
        """An ``onnxruntime.InferenceSession`` over the same file and settings (what mlflow
        returns), created on first call."""
        if self._raw is None:
            try:
                import onnxruntime
            except ImportError as e:
                raise exc.make(
                    exc.EngineUnavailableError,
                    f"{self._model_path}: get_raw_model() returns an onnxruntime.InferenceSession, "
                    "which needs the onnxruntime Python package: pip install 'onnxruntime>=1.31'",
                    model_path=self._model_path,
                    key="onnxruntime",
                ) from e
            self._raw = onnxruntime.InferenceSession(
                self._model_file,
                providers=self.providers,
                sess_options=_session_options(onnxruntime, self._flavor),
            )
        return self._raw


def _column(series: Any) -> Any:
    """mlflow's ``df[name].values``; extension arrays (pandas' default ``str`` dtype, nullable
    ints) become NumPy arrays, where mlflow hands onnxruntime an object it rejects."""
    values = series.values
    return values if isinstance(values, np.ndarray) else series.to_numpy()


def _session_options(onnxruntime: Any, flavor: dict[str, Any]) -> Any:
    """The same SessionOptions the native session was built with."""
    so = onnxruntime.SessionOptions()
    options = flavor.get("onnx_session_options") or {}
    if n := options.get("inter_op_num_threads"):
        so.inter_op_num_threads = n
    if n := options.get("intra_op_num_threads"):
        so.intra_op_num_threads = n
    mode = str(options.get("execution_mode") or "").upper()
    if mode == "SEQUENTIAL":
        so.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    elif mode == "PARALLEL":
        so.execution_mode = onnxruntime.ExecutionMode.ORT_PARALLEL
    level = options.get("graph_optimization_level")
    if level is not None:
        so.graph_optimization_level = onnxruntime.GraphOptimizationLevel(level)
    for key, value in (options.get("extra_session_config") or {}).items():
        so.add_session_config_entry(key, value if isinstance(value, str) else str(value))
    return so


def _frame(pd: Any, outputs: dict[str, Any]) -> Any:
    """mlflow's DataFrame: one column per output, ``np.asarray(out).reshape(-1)``.

    Where that would interleave rows (an output of shape (N, k>1): mlflow issue #12539, which
    scrambles rows on its own and raises next to a 1-D output), the column holds each row's
    array instead, so row i of the frame is row i of every output.
    """
    columns: dict[str, Any] = {}
    for name, value in outputs.items():
        arr = np.asarray(value)
        if arr.ndim >= 2 and arr.size != arr.shape[0]:
            columns[name] = list(arr)
        else:
            columns[name] = arr.reshape(-1)
    return pd.DataFrame.from_dict(columns)
