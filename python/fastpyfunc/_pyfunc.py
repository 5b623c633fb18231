"""``load_model`` and ``PyFuncModel``: mlflow.pyfunc's API, with the load planned in Rust."""

from __future__ import annotations

import contextlib
import inspect
import json
import logging
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from . import _fork, _native, _safety
from . import exceptions as exc
from ._dependencies import loaded, require
from ._enforce import Enforcer
from ._fallback import load_impl
from ._metadata import Model
from ._uri import resolve

_logger = logging.getLogger("fastpyfunc")
_UNSET = object()


class PyFuncModel:
    """A loaded model: ``predict`` enforces the signature, then runs the model.

    Same interface as ``mlflow.pyfunc.PyFuncModel``.
    """

    def __init__(
        self,
        model_path: str,
        metadata: Model,
        impl: Any,
        plan: _native.LoadPlan,
        input_plan: _native.EnforcePlan | None = None,
        param_plan: Callable[[], _native.ParamPlan | None] | None = None,
    ) -> None:
        self._model_path = model_path
        self._model_meta = metadata
        self._mlflow_meta: Any = None  # mlflow's Model, made on first use (see metadata)
        self._impl = impl
        self._plan = plan
        self._predict_fn = self._method(plan.predict_fn, "predict_fn")
        self._predict_takes_params = _takes_params(self._predict_fn)
        stream_fn = plan.predict_stream_fn
        self._predict_stream_fn = self._method(stream_fn, "predict_stream_fn") if stream_fn else None
        # mlflow's predict_stream passes params when the function has any parameter named so.
        self._stream_takes_params = self._predict_stream_fn is not None and _has_parameter(
            self._predict_stream_fn, "params"
        )
        self._enforce = Enforcer(model_path, metadata, self.loader_module, input_plan, param_plan)
        # Native engines read the input, enforce the signature and params and run in one call
        # into Rust; None from it means mlflow's rules need pandas (or Python) for that input or
        # those params: the path below takes the call.
        self._native_predict = getattr(impl, "native_predict", None)
        self._native_plan = self._enforce._plan
        self._param_plan = self._enforce._param_plan
        # The native reader matches labels to str(name): a schema with non-str names (0, as
        # infer_signature writes) would take label "0" for 0, so only arrays (no labels) go native.
        self._native_arrays_only = self._enforce._odd is not None
        self._input_example: Any = _UNSET
        from ._engines import describe_route  # importlib.metadata: not at package import

        self._engine, self._route_reason = describe_route(plan, impl)
        self._native_route = self._engine != "python"
        _log_route(model_path, self.loader_module, self._engine, self._route_reason, plan)
        if hasattr(impl, "fork_hazard"):
            _fork.track(self)

    def _refuse_after_fork(self, why: str) -> None:
        """In a forked child where this model would hang: predict raises instead (see ``_fork``)."""
        refuse = _fork.refusal(self._model_path, why)
        self._native_predict = None
        self._predict_fn = refuse
        if self._predict_stream_fn is not None:
            self._predict_stream_fn = refuse

    def _method(self, name: str, key: str) -> Any:
        if not hasattr(self._impl, name):
            raise exc.make(
                exc.ModelLoadError,
                f"{self._model_path}: model implementation is missing required {name} method",
                model_path=self._model_path,
                key=f"flavors.python_function.{key}",
            )
        return getattr(self._impl, name)

    # -- prediction -------------------------------------------------------------------------

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        """Enforces the signature on ``data`` and ``params``, then returns the model's output.

        Arrow input (pyarrow, polars, any Arrow PyCapsule producer) to a native engine gives an
        Arrow result of the same family, with the columns and values a pandas input gives.
        """
        data = _replayable(data)
        result = self._native_call(data, params)
        if result is not None:
            return result
        origin = _arrow_origin(data) if self._native_route else None
        if origin is not None:  # the native reader handed it on: the flavor's rules read pandas
            data = self._enforce.arrow_input(data)
        data, params = self._enforce(data, params)
        if not self._predict_takes_params:
            _warn_params_dropped(params)
        try:
            with self._prediction_context():
                if self._predict_takes_params:
                    result = self._predict_fn(data, params=params)
                else:
                    result = self._predict_fn(data)
        except exc.FastPyFuncError:
            raise
        except Exception as e:  # the model's own error: one class whatever the engine
            raise exc.make(
                exc.PredictionError,
                f"{self._model_path}: the model's predict raised {type(e).__name__}: {e}",
                model_path=self._model_path,
                error_code=exc.mlflow_code(e, "error_code"),
                error_class=exc.mlflow_code(e, "error_class"),
            ) from e
        return _as_arrow(result, origin) if origin is not None else result

    def _native_call(self, data: Any, params: dict[str, Any] | None) -> Any:
        """The one native call (input, signature, params, engine, result), or None where the
        Python path must take this input or these params."""
        if self._native_predict is None or (self._native_arrays_only and not _is_ndarray(data)):
            return None
        try:
            return self._native_predict(data, self._native_plan, params, self._param_plan)
        except _native.ParamError as e:
            raise self._enforce.param_error(e) from e

    def predict_stream(self, data: Any, params: dict[str, Any] | None = None) -> Iterator[Any]:
        """Streams the output of a streamable model (single input)."""
        if self._predict_stream_fn is None:
            raise exc.make(
                exc.FastPyFuncError,
                f"{self._model_path}: this model does not support predict_stream method.",
                model_path=self._model_path,
            )
        data, params = self._enforce(_replayable(data), params)
        if isinstance(data, list):
            if len(data) != 1:
                raise exc.make(
                    exc.SchemaEnforcementError,
                    f"{self._model_path}: 'predict_stream' requires single input, but it got input data {data}",
                    model_path=self._model_path,
                )
            data = data[0]
        if self._stream_takes_params:
            stream = self._predict_stream_fn(data, params=params)
        else:
            _warn_params_dropped(params)
            stream = self._predict_stream_fn(data)
        if "mlflow" not in sys.modules:
            return stream  # type: ignore[no-any-return]
        context = self._prediction_context()  # built now, applied while the stream is consumed

        def _with_context() -> Iterator[Any]:
            with context:
                yield from stream

        return _with_context()

    def _prediction_context(self) -> contextlib.AbstractContextManager[Any]:
        """mlflow's prediction context around Python code (the model's own predict), as
        mlflow's ``PyFuncModel.predict`` sets it: traces the model emits carry its ``model_id``
        and dependencies schemas. Only where mlflow is already imported (no user code can
        trace otherwise), and never on the native path (no Python runs there)."""
        if "mlflow" not in sys.modules:
            return contextlib.nullcontext()
        try:
            from mlflow.pyfunc.context import Context, set_prediction_context
            from mlflow.tracing.utils import _try_get_prediction_context
        except ImportError:  # mlflow-skinny without pyfunc: nothing to set
            return contextlib.nullcontext()
        context = _try_get_prediction_context() or Context()
        schemas = (self._model_meta.metadata or {}).get("dependencies_schemas")
        if schemas:
            context.update(dependencies_schemas={k: json.dumps(v) for k, v in schemas.items()})
        if self.model_id:
            context.update(model_id=self.model_id)
        return set_prediction_context(context)  # type: ignore[no-any-return]

    # -- attributes -------------------------------------------------------------------------

    @property
    def metadata(self) -> Any:
        """The model's MLmodel. Once mlflow is imported, mlflow's own ``mlflow.models.Model``
        (so its schemas, ``DataType``s and ``==`` are mlflow's, for code that hands them to
        mlflow); otherwise fastpyfunc's :class:`~fastpyfunc._metadata.Model`, which has the
        same attributes and methods and ``as_mlflow()``. mlflow is never imported for it."""
        if "mlflow" in sys.modules:
            if self._mlflow_meta is None:
                try:
                    self._mlflow_meta = self._model_meta.as_mlflow()
                except Exception:  # noqa: BLE001 - a broken mlflow install: ours still works
                    return self._model_meta
            return self._mlflow_meta
        return self._model_meta

    @property
    def model_config(self) -> dict[str, Any]:
        """The model_config the model was loaded with (saved config merged with overrides)."""
        return self._model_meta.flavors["python_function"].get("config") or {}

    @property
    def loader_module(self) -> str | None:
        pf = self._model_meta.flavors.get("python_function")
        return pf.get("loader_module") if pf else None

    @property
    def model_id(self) -> str | None:
        return self._model_meta.model_id

    @property
    def input_example(self) -> Any:
        """The saved input example, read on first access (None if absent or unreadable)."""
        if self._input_example is _UNSET:
            try:
                self._input_example = self._model_meta.load_input_example(self._model_path)
            except Exception as e:  # mlflow swallows these too
                _logger.debug("Failed to load input example from model metadata: %s", e)
                self._input_example = None
        return self._input_example

    @input_example.setter
    def input_example(self, value: Any) -> None:
        self._input_example = value

    @property
    def _model_impl(self) -> Any:
        return self._impl

    @property
    def engine(self) -> str:
        """What runs this model: a native engine (``"onnx"``, ``"savedmodel"``,
        ``"torchscript"``), or ``"python"`` (embedded Python, including a native engine's
        fallback); ``route_reason`` says why it is not native."""
        return self._engine

    @property
    def route_reason(self) -> str | None:
        """None when a native engine runs the model, else a sentence saying why Python does."""
        return self._route_reason

    def unwrap_python_model(self) -> Any:
        """The user's PythonModel instance (custom pyfunc models only)."""
        python_model = getattr(self._impl, "python_model", None)
        if python_model is None:
            raise exc.make(
                exc.FastPyFuncError,
                f"{self._model_path}: unable to retrieve base model object from pyfunc.",
                model_path=self._model_path,
            )
        return python_model

    def get_raw_model(self) -> Any:
        """The framework's own model object (what mlflow's wrapper returns)."""
        if hasattr(self._impl, "get_raw_model"):
            return self._impl.get_raw_model()
        raise NotImplementedError("`get_raw_model` is not implemented by the underlying model")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PyFuncModel) and self._model_meta == other._model_meta

    __hash__ = object.__hash__

    def __repr__(self) -> str:
        meta = self._model_meta
        info: dict[str, str | None] = {}
        if meta.artifact_path is not None:
            info["artifact_path"] = meta.artifact_path
        info["flavor"] = self.loader_module
        info["engine"] = self._engine if self._route_reason is None else f"{self._engine} (not native)"
        if meta.run_id is not None:
            info["run_id"] = meta.run_id
        body = "".join(f"  {k}: {v}\n" for k, v in info.items())
        return f"fastpyfunc.loaded_model:\n{body}"


def _log_route(
    path: str, flavor: str | None, engine: str, reason: str | None, plan: _native.LoadPlan
) -> None:
    if reason is None:
        _logger.info("%s: %s model runs on the native %s engine", path, flavor, engine)
    else:
        _logger.info("%s: %s model runs in Python: %s", path, flavor, reason)
    _logger.debug("%s: load plan %s", path, plan)


def _replayable(data: Any) -> Any:
    """A pyarrow ``RecordBatchReader`` (an IPC stream, a DuckDB or ADBC result, a dataset
    scan) as the table of its batches (no copy): a reader can be read once, and the native
    reader reads it before it knows whether the pandas path must take the input."""
    pa = loaded("pyarrow")
    if pa is not None and isinstance(data, pa.RecordBatchReader):
        return data.read_all()
    return data


def _arrow_origin(data: Any) -> str | None:
    """ "polars" or "arrow" for Arrow input (tables and arrays), else None."""
    module = type(data).__module__
    if module.startswith("pandas") or not (
        hasattr(data, "__arrow_c_stream__") or hasattr(data, "__arrow_c_array__")
    ):
        return None
    return "polars" if module.startswith("polars") else "arrow"


def _as_arrow(result: Any, origin: str) -> Any:
    """A native engine's DataFrame result for Arrow input, as Arrow (what the native reader
    returns when it handles the input itself)."""
    pd = loaded("pandas")
    if pd is None or not isinstance(result, pd.DataFrame):
        return result
    pa = require("pyarrow", "Arrow output")

    table = pa.Table.from_pandas(result, preserve_index=False)
    if origin == "polars":
        pl = require("polars", "polars output")
        return pl.from_arrow(table)
    return table


def _takes_params(fn: Any) -> bool:
    try:
        param = inspect.signature(fn).parameters.get("params")
    except (TypeError, ValueError):
        return False
    return param is not None and param.kind != inspect.Parameter.VAR_KEYWORD


def _has_parameter(fn: Any, name: str) -> bool:
    try:
        return name in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def _warn_params_dropped(params: Any) -> None:
    if params:
        _logger.warning(
            "The underlying model does not support passing additional parameters to the predict"
            f" function. `params` {params} will be ignored."
        )


def _read_model_config(model_config: Any) -> dict[str, Any] | None:
    if model_config is None or isinstance(model_config, dict):
        return model_config
    if isinstance(model_config, (str, Path)):
        path = os.path.abspath(model_config)
        if not os.path.isfile(path):
            raise exc.make(
                exc.InvalidModelConfigError,
                f"model_config file '{path}' does not exist",
                key=path,
            )
        try:
            loaded = _native.read_yaml(path)
        except exc.FastPyFuncError as e:
            raise exc.make(
                exc.InvalidModelConfigError, f"model_config file is not valid YAML: {e}", key=path
            ) from e
        if loaded is not None and not isinstance(loaded, dict):
            raise exc.make(
                exc.InvalidModelConfigError, f"model_config file '{path}' must hold a mapping", key=path
            )
        return loaded
    raise exc.make(
        exc.InvalidModelConfigError,
        f"model_config must be a dict or a path to a YAML file, got {type(model_config).__name__}",
        key="model_config",
    )


def _merge_model_config(
    pyfunc_conf: dict[str, Any], overrides_arg: dict[str, Any] | None, model_path: str
) -> dict[str, Any] | None:
    """mlflow's ``_get_overridden_pyfunc_model_config``: env JSON first, then the argument; only
    keys the saved config already has are applied (in place, as mlflow does)."""
    saved = pyfunc_conf.get("config")
    overrides: dict[str, Any] = {}
    if env := os.environ.get("MLFLOW_PYFUNC_INFERENCE_CONFIG"):
        try:
            overrides.update(dict(json.loads(env)))
        except (ValueError, TypeError) as e:
            raise exc.make(
                exc.InvalidModelConfigError,
                f"{model_path}: MLFLOW_PYFUNC_INFERENCE_CONFIG is not a JSON object: {e}",
                model_path=model_path,
                key="MLFLOW_PYFUNC_INFERENCE_CONFIG",
            ) from e
    if overrides_arg:
        overrides.update(overrides_arg)
    if not overrides:
        return saved
    if not saved:
        _logger.warning(
            f"Argument(s) {', '.join(map(str, overrides))} were ignored since the model's "
            "``pyfunc`` flavor doesn't accept model configuration. Use ``model_config`` when "
            "logging the model to allow it."
        )
        return None
    ignored = [k for k in overrides if k not in saved]
    if ignored:
        _logger.warning(
            f"Argument(s) {', '.join(map(str, ignored))} were ignored since they are not valid "
            "keys in the corresponding section of the ``pyfunc`` flavor. Current allowed "
            f"configuration includes {', '.join(map(str, saved))}"
        )
    saved.update({k: v for k, v in overrides.items() if k in saved})
    return saved


def load_model(
    model_uri: str | os.PathLike[str],
    suppress_warnings: bool = False,
    dst_path: str | None = None,
    model_config: str | Path | dict[str, Any] | None = None,
    trust_code: bool | None = None,
) -> PyFuncModel:
    """Loads an MLflow model directory (or URI) and returns a :class:`PyFuncModel`.

    Drop-in for ``mlflow.pyfunc.load_model``: same arguments, same predictions. Unless
    ``trust_code=True`` (or ``FASTPYFUNC_TRUST_CODE=1``), nothing from the model directory runs:
    models that carry code raise ``UnsafeModelError`` (see ``fastpyfunc.scan``).
    """
    local_path = resolve(model_uri, dst_path)
    info = _native.load_model_info(local_path)
    meta = Model(info.root, info.mlmodel, info.signature)
    plan = info.plan
    pyfunc_conf = meta.flavors["python_function"]
    if not suppress_warnings:
        _warn_python_version(local_path, pyfunc_conf.get("python_version"))
    config = _merge_model_config(pyfunc_conf, _read_model_config(model_config), local_path)
    impl = load_impl(local_path, plan, config, meta.flavors, _safety.trusted(trust_code))
    return _model_class()(local_path, meta, impl, plan, info.input_plan(), info.param_plan)


_MIXED: list[type] = []


def _model_class() -> type[PyFuncModel]:
    """PyFuncModel, or once mlflow is imported a subclass that is also mlflow's PyFuncModel (so
    ``isinstance`` and ``mlflow.models.evaluate`` accept it). mlflow itself is never imported
    here (seconds); ``mlflow.pyfunc`` is, when ``mlflow`` already is (mlflow loads it lazily)."""
    if "mlflow" not in sys.modules:
        return PyFuncModel
    try:
        import mlflow.pyfunc
    except Exception:  # noqa: BLE001 - a broken mlflow install: our class still works
        return PyFuncModel
    base = getattr(mlflow.pyfunc, "PyFuncModel", None)
    if base is None:
        return PyFuncModel
    if not _MIXED:
        _MIXED.append(
            type("PyFuncModel", (PyFuncModel, base), {"__module__": __name__, "__qualname__": "PyFuncModel"})
        )
    return _MIXED[0]


def _is_ndarray(data: Any) -> bool:
    np = loaded("numpy")
    return np is not None and isinstance(data, np.ndarray)


def _warn_python_version(model_path: str, saved: Any) -> None:
    """mlflow's check of ``python_function.python_version`` (only made when warnings are on).

    Logged at WARNING on the ``fastpyfunc`` logger with mlflow's text (mlflow logs it on
    ``mlflow.pyfunc``): no version at all says so; any string is split and compared on
    major.minor (an odd one, such as ``"banana"`` or ``""``, only warns); anything else (a YAML
    number such as ``3.10``) fails in mlflow with an ``AttributeError``: a malformed MLmodel
    here, named. With ``suppress_warnings`` neither looks at it.
    """
    running = f"{sys.version_info.major}.{sys.version_info.minor}.{sys.version_info.micro}"
    if saved is None:
        _logger.warning(
            "The specified model does not have a specified Python version. It may be"
            " incompatible with the version of Python that is currently running: Python %s",
            running,
        )
        return
    key = "flavors.python_function.python_version"
    if not isinstance(saved, str):
        raise exc.make(
            exc.MalformedModelError,
            f"{model_path}: malformed MLmodel at key '{key}': expected a version string such as "
            f"'3.11.7', got {type(saved).__name__} {saved!r:.100} (quote it in the MLmodel)",
            model_path=model_path,
            key=key,
        )
    if saved.split(".")[:2] != running.split(".")[:2]:
        _logger.warning(  # the saved string capped: an MLmodel can hold anything there
            "The version of Python that the model was saved in, `Python %.100s`, differs"
            " from the version of Python that is currently running, `Python %s`,"
            " and may be incompatible",
            saved,
            running,
        )
