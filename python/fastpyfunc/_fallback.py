"""Models run through embedded Python.

scikit-learn models are loaded here without mlflow. Every other flavor goes through mlflow's
``loader_module._load_pyfunc``, exactly as ``mlflow.pyfunc.load_model`` calls it. Every
deserialization of model bytes goes through :func:`deserialize` (ours) or is announced to
:func:`check_deserialization_allowed` before mlflow's loader runs, so one gate guards them all.
Without trust (``_safety``), nothing from the model directory runs: pickles are verified first
and unpickled with the allow-list, and whatever carries code is refused before it is read.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
from collections.abc import Iterator
from typing import Any

from . import _native, _safety
from . import exceptions as exc

# Loader modules whose _load_pyfunc deserializes pickled Python objects.
_PICKLING_LOADERS = _safety.PICKLING_LOADERS | {"mlflow.sklearn"}
# xz, lzma (legacy container), gzip, bzip2, zlib (joblib's compressors; the verifier
# decompresses the same ones).
_COMPRESSED_MAGIC = (b"\xfd7zXZ\x00", b"\x5d\x00", b"\x1f\x8b", b"BZh", b"\x78")


_FEATURE_STORE_LOADER = "databricks.feature_store.mlflow_model"


def _allow_pickle() -> bool:
    raw = os.environ.get("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "true").strip().lower()
    if raw in ("true", "1"):
        return True
    if raw in ("false", "0"):
        return False
    raise exc.make(
        exc.InvalidModelConfigError,
        f"MLFLOW_ALLOW_PICKLE_DESERIALIZATION must be 'true' or 'false', got {raw!r}",
        key="MLFLOW_ALLOW_PICKLE_DESERIALIZATION",
    )


def check_deserialization_allowed(model_path: str, artifact: str, fmt: str) -> None:
    """The one gate before any model bytes are deserialized into Python objects.

    Honours ``MLFLOW_ALLOW_PICKLE_DESERIALIZATION`` as mlflow does (default true; skops included,
    since its trusted-type list comes from the model file itself).
    """
    if not _allow_pickle():
        raise exc.make(
            exc.UnsafeModelError,
            f"{model_path}: deserializing {artifact} ({fmt}) is disallowed because "
            "MLFLOW_ALLOW_PICKLE_DESERIALIZATION is not 'true'. Loading it could run arbitrary code "
            "from the model file; only set it for models from trusted sources.",
            model_path=model_path,
            key=artifact,
        )


def deserialize(
    model_path: str, path: str, fmt: str, trusted: list[str] | None = None, trust: bool = True
) -> Any:
    """Every unpickling fastpyfunc itself does goes through here. Without ``trust``, pickles are
    verified and unpickled with the allow-list, and skops ignores the model's own trusted types."""
    check_deserialization_allowed(model_path, path, fmt)
    name = os.path.basename(path)
    with _load_errors(model_path, f"loading {name} ({fmt})", name, " (pip install 'fastpyfunc[sklearn]')"):
        if fmt == "skops":
            return _safety.load_skops(model_path, path, trusted, trust)
        if not trust:
            return _safety.load_verified(model_path, path, fmt)
        import pickle

        with open(path, "rb") as f:
            try:
                if fmt == "pickle":
                    return pickle.load(f)
                import cloudpickle

                return cloudpickle.load(f)
            except pickle.UnpicklingError:
                # joblib.dump's file (arrays as raw bytes after each wrapper) or a compressed
                # pickle: mlflow's pickle.load cannot read them; joblib can, as the verified
                # path does (which loads them without trust).
                f.seek(0)
                data = f.read()
                if b"NumpyArrayWrapper" not in data and not data.startswith(_COMPRESSED_MAGIC):
                    raise
        import joblib

        return joblib.load(path)


@contextlib.contextmanager
def _load_errors(model_path: str, what: str, key: str | None, install_hint: str = "") -> Iterator[None]:
    """Turns what a loader raises into fastpyfunc errors that name the model and the step."""
    try:
        yield
    except exc.FastPyFuncError:
        raise
    except ImportError as e:
        raise exc.make(
            exc.EngineUnavailableError,
            f"{model_path}: {what} needs the Python package '{e.name}', which is not installed{install_hint}",
            model_path=model_path,
            key=e.name,
        ) from e
    except Exception as e:
        raise exc.make(
            exc.ModelLoadError,
            f"{model_path}: {what} failed: {type(e).__name__}: {e}",
            model_path=model_path,
            key=key,
            error_code=getattr(e, "error_code", None),
            error_class=getattr(e, "error_class", None),
        ) from e


class SklearnModel:
    """mlflow.sklearn's ``_SklearnModelWrapper``, without mlflow."""

    _CUSTOM_PREDICT_FNS = ("predict_proba", "predict_log_proba", "predict_joint_log_proba", "score")

    def __init__(self, sklearn_model: Any) -> None:
        self.sklearn_model = sklearn_model
        for name in self._CUSTOM_PREDICT_FNS:
            if fn := getattr(sklearn_model, name, None):
                setattr(self, name, fn)

    def get_raw_model(self) -> Any:
        return self.sklearn_model

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        return self.sklearn_model.predict(data)


def add_code_path(code_path: str | None) -> None:
    """Prepends the model's ``code/`` directory to ``sys.path``, as mlflow does."""
    if code_path and os.path.isdir(code_path) and code_path not in sys.path:
        sys.path.insert(0, code_path)


def load_impl(
    model_path: str,
    plan: _native.LoadPlan,
    model_config: dict[str, Any] | None,
    flavors: dict[str, Any],
    trust: bool = False,
) -> Any:
    """Builds the object whose ``predict_fn`` the PyFuncModel calls. Without ``trust``, refuses
    (``UnsafeModelError``) whatever would run code from the model directory, before it runs."""
    route = plan.route
    pyfunc_conf = flavors.get("python_function") or {}
    _safety.confine_plan(model_path, plan, pyfunc_conf)
    # mlflow's own gate first, with its message; then ours.
    if isinstance(route, _native.SklearnRoute):
        check_deserialization_allowed(model_path, route.model_file, route.format)
    elif isinstance(route, _native.LoaderModuleRoute) and route.module in _PICKLING_LOADERS:
        check_deserialization_allowed(model_path, plan.data_path, route.module)
    _safety.check_code(model_path, plan, pyfunc_conf, flavors, trust)
    add_code_path(plan.code_path)
    if isinstance(route, _native.SklearnRoute):
        return SklearnModel(
            deserialize(model_path, route.model_file, route.format, route.trusted_types, trust)
        )
    if isinstance(route, _native.LoaderModuleRoute):
        if route.module == "mlflow.lightgbm":
            return _load_lightgbm(model_path, plan.data_path, flavors, model_config, trust)
        return _load_with_module(model_path, route.module, plan.data_path, model_config)
    if route.engine == "onnx":
        with _load_errors(model_path, "the native ONNX engine", None, " (pip install 'fastpyfunc[onnx]')"):
            import numpy  # noqa: F401  (_onnx reads it lazily; a missing one is reported here, at load)

            from ._onnx import OnnxModel
        return OnnxModel(model_path, route.artifact, flavors.get("onnx"))
    if route.engine == "savedmodel":
        with _load_errors(
            model_path, "the native SavedModel engine", None, " (pip install 'fastpyfunc[tensorflow]')"
        ):
            from . import _tensorflow  # needs numpy
        return _tensorflow.load(model_path, route.artifact, plan, model_config, flavors.get("tensorflow"))
    if route.engine == "torchscript":
        with _load_errors(
            model_path, "the native TorchScript engine", None, " (pip install 'fastpyfunc[torch]')"
        ):
            from . import _torch  # needs numpy
        return _torch.load(model_path, route.artifact, model_config)
    raise exc.make(
        exc.EngineUnavailableError,
        f"{model_path}: native engine {route.engine!r} is not available in this build",
        model_path=model_path,
    )


def _load_lightgbm(
    model_path: str, data_path: str, flavors: dict[str, Any], model_config: dict[str, Any] | None, trust: bool
) -> Any:
    """mlflow.lightgbm: a booster (text, data) through mlflow's loader; the scikit-learn API's
    pickle or skops file, gated as mlflow gates it and, without trust, verified and unpickled by
    fastpyfunc, then wrapped by mlflow's own ``_LGBModelWrapper``."""
    if trust:
        conf = flavors.get("lightgbm")
        if (
            not isinstance(conf, dict)
            or conf.get("model_class", _safety.LIGHTGBM_BOOSTER) != _safety.LIGHTGBM_BOOSTER
        ):
            check_deserialization_allowed(model_path, data_path, "mlflow.lightgbm")
        return _load_with_module(model_path, "mlflow.lightgbm", data_path, model_config)
    spec = _safety.boosting_file(model_path, "mlflow.lightgbm", data_path, flavors)
    if spec.format == "lightgbm":
        return _load_with_module(model_path, "mlflow.lightgbm", data_path, model_config)
    module = _import_loader(model_path, "mlflow.lightgbm")
    return module._LGBModelWrapper(deserialize(model_path, spec.path, spec.format, spec.trusted_types, trust))


def _import_loader(model_path: str, module_name: str) -> Any:
    try:
        import mlflow  # noqa: F401  (the loader modules live in mlflow)
    except ImportError as e:
        raise exc.make(
            exc.EngineUnavailableError,
            f"{model_path}: this model's loader_module is {module_name!r}, which needs mlflow: "
            "pip install mlflow (and the model's framework)",
            model_path=model_path,
            key="flavors.python_function.loader_module",
        ) from e
    try:
        return importlib.import_module(module_name)
    except ImportError as e:
        # mlflow's note for Databricks Feature Store models (which code matches on)
        note = (
            "; Note: mlflow.pyfunc.load_model is not supported for Feature Store models. "
            "spark_udf() and predict() will not work as expected. Use score_batch for offline "
            "predictions."
            if module_name == _FEATURE_STORE_LOADER and (e.name or "").startswith("databricks")
            else ""
        )
        raise exc.make(
            exc.EngineUnavailableError,
            f"{model_path}: cannot import the model's loader_module {module_name!r}: {e}{note}",
            model_path=model_path,
            key="flavors.python_function.loader_module",
        ) from e


def _load_with_module(
    model_path: str, module_name: str, data_path: str, model_config: dict[str, Any] | None
) -> Any:
    if module_name in _PICKLING_LOADERS:
        check_deserialization_allowed(model_path, data_path, module_name)
    module = _import_loader(model_path, module_name)
    with _load_errors(
        model_path, f"loading the model with {module_name}", "flavors.python_function.loader_module"
    ):
        if model_config:
            return module._load_pyfunc(data_path, model_config)
        return module._load_pyfunc(data_path)
