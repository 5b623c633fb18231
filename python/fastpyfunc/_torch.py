"""mlflow.pytorch's ``_PyTorchWrapper`` for TorchScript models, on the native TorchScript engine
(libtorch through ``tch``, in its own shared library; Python ``torch`` is not imported to load or
predict).

mlflow's rules, kept: a DataFrame is fed as ``to_numpy(float32)`` and answered as a DataFrame with
the input's index; an ndarray is fed as it is (no cast); forward runs under no_grad on the device
from ``model_config["device"]``, else ``MLFLOW_DEFAULT_PREDICTION_DEVICE``, else CUDA when libtorch
sees one, else the CPU. Beyond mlflow (which raises for these): a list or tuple of ndarrays feeds
forward's positional arguments, and tuple, list and dict outputs come back as a tuple, list or
dict of ndarrays.

Where the native engine cannot run (not built, no torch 2.13, a device it does not know) and
Python ``torch`` imports, ``torch.jit.load`` runs the model with the same rules, after a warning
that says why. ``params`` are forward's keyword arguments: the engine binds them to positions by
forward's signature (read from the archive's code) with TorchScript's conversions. The few calls
whose conversion only Python does (an argument of a tuple or class type, a default the engine does
not read) run through Python torch, after a warning naming the param.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

from . import _fork, _native
from . import exceptions as exc
from ._dependencies import REQUIREMENTS, available, loaded, require
from ._dependencies import numpy as np
from ._engines import mark_python_fallback, torchscript_engine

CPU = "cpu"
_warned: set[str] = set()
_logger = logging.getLogger("fastpyfunc")

#: (structure, [(dict key or None, ndarray), ...]) -> what predict returns for it.
Outputs = tuple[str, list[tuple[Any, Any]]]


def _warn_once(message: str) -> None:
    if message not in _warned:
        _warned.add(message)
        _logger.warning(message)


def load(model_path: str, archive: str, config: dict[str, Any] | None) -> TorchScriptModel:
    """The wrapper over the native engine, or over ``torch.jit.load`` when the engine cannot run."""
    check_archive(model_path, archive)
    wanted = (config or {}).get("device") or os.environ.get("MLFLOW_DEFAULT_PREDICTION_DEVICE") or None
    _fork.check_load(_fork.TORCHSCRIPT, model_path)
    try:
        engine, torch_lib = torchscript_engine(model_path)
        device = wanted or ("cuda" if _native.torch_cuda_available(engine, torch_lib) else CPU)
        if device != CPU and device != "cuda" and not str(device).startswith("cuda:"):
            raise exc.make(
                exc.EngineUnavailableError,
                f"{model_path}: the native TorchScript engine runs on cpu and cuda, not {device!r}",
                model_path=model_path,
                key="device",
            )
        native = _native.load_torchscript(archive, str(device), engine, torch_lib)
    except exc.EngineUnavailableError as why:
        if not available("torch"):
            raise
        _warn_once(
            f"fastpyfunc: running TorchScript models through Python torch.jit, because the native "
            f"TorchScript engine cannot: {why}"
        )
        model = TorchScriptModel(model_path, archive, wanted, None)
        mark_python_fallback(model, why, "Python torch.jit")
        return model
    return TorchScriptModel(model_path, archive, device, native)


def check_archive(model_path: str, archive: str) -> None:
    """Refuses an archive that libtorch could not read safely (a zip bomb, printed code nested
    deep enough to overflow libtorch's parser) before libtorch or torch sees it."""
    bad = _native.check_torchscript_archive(archive)
    if bad is None:
        return
    entry, reason = bad
    rel = os.path.relpath(archive, model_path)
    where = f"{rel}: entry {entry}" if entry else rel
    raise exc.make(
        exc.MalformedModelError,
        f"{model_path}: {where} {reason}; the TorchScript archive is refused before libtorch reads it",
        model_path=model_path,
        key=rel,
    )


class TorchScriptModel:
    """The predict implementation of a TorchScript pytorch model."""

    def __init__(self, model_path: str, archive: str, device: str | None, native: Any) -> None:
        self._model_path = model_path
        self._archive = archive
        self._device = device
        self._native = native
        self._python: Callable[[list[Any], dict[str, Any]], Outputs] | None = None
        self._raw: Any = None

    @property
    def native(self) -> bool:
        """Whether predictions run on the native engine (False: through Python torch)."""
        return self._native is not None

    def native_predict(
        self,
        data: Any,
        plan: _native.EnforcePlan | None,
        params: Any = None,
        param_plan: _native.ParamPlan | None = None,
    ) -> Any:
        """The whole predict in one native call (see ``PyFuncModel.predict``); None where
        mlflow's rules need Python for this input or these params (``predict`` takes it)."""
        if self._native is None:
            return None
        _fork.used(_fork.TORCHSCRIPT)  # its OpenMP pool may start now
        return self._native.predict(data, plan, params, param_plan)

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        if params and "device" in params:
            raise self._invalid(
                "device' can no longer be specified as an inference parameter. It must be specified at "
                "load time. Please specify the device at load time, for example: "
                "`mlflow.pyfunc.load_model(model_uri, model_config={'device': 'cuda'})`.",
                "device",
            )
        pd = loaded("pandas")
        frame = pd is not None and isinstance(data, pd.DataFrame)
        if frame:
            arrays = [data.to_numpy(dtype=np.float32)]
        elif isinstance(data, np.ndarray):
            arrays = [data]
        elif isinstance(data, (list, tuple)) and data and all(isinstance(a, np.ndarray) for a in data):
            arrays = list(data)  # forward's positional arguments (mlflow raises here)
        elif isinstance(data, (list, dict)):
            raise self._invalid(
                "The PyTorch flavor does not support List or Dict input types. Please use a pandas.DataFrame "
                "or a numpy.ndarray (or, with fastpyfunc, a list of ndarrays for several inputs)",
                cls=exc.InvalidInputTypeError,
            )
        else:
            raise self._invalid(
                "Input data should be pandas.DataFrame or numpy.ndarray", cls=exc.InvalidInputTypeError
            )
        for i, a in enumerate(arrays):
            if a.dtype.kind in "OUSVMm":  # torch.from_numpy's TypeError in mlflow
                raise self._invalid(
                    f"can't convert np.ndarray of type {a.dtype.type.__module__}.{a.dtype.type.__name__}. "
                    "The only supported types are: float64, float32, float16, complex64, complex128, "
                    "int64, int32, int16, int8, uint64, uint32, uint16, uint8, and bool.",
                    f"input {i}",
                    cls=exc.InvalidInputTypeError,
                )
        if self._native is None:
            structure, items = self._python_runner()(arrays, params or {})
        else:
            _fork.used(_fork.TORCHSCRIPT)  # its OpenMP pool may start now
            out = self._native.run(arrays, params or None)
            if isinstance(out, _native.NeedsPython):
                out = self._python_runner(out.reason)(arrays, params or {})
            structure, items = out
        if structure == "tensor":
            out = items[0][1]
            if frame and pd is not None:
                return pd.DataFrame(out, index=data.index)
            return out
        if structure == "dict":
            return {k: v for k, v in items}
        values = [v for _, v in items]
        return tuple(values) if structure == "tuple" else values

    def fork_hazard(self) -> str | None:
        """Why this model cannot run in a forked child (see ``_fork``), or None."""
        return _fork.hazard(_fork.TORCHSCRIPT) if self._native is not None else None

    def _invalid(
        self, message: str, key: str | None = None, cls: type[exc.FastPyFuncError] = exc.InvalidInputError
    ) -> exc.FastPyFuncError:
        return exc.make(cls, f"{self._model_path}: {message}", model_path=self._model_path, key=key)

    def _python_runner(self, why: str | None = None) -> Callable[[list[Any], dict[str, Any]], Outputs]:
        """Python torch's call; ``why`` is the engine's reason when the native module is loaded."""
        if why is not None:
            if not available("torch"):
                # The same install hint as require()'s, on the params at fault.
                raise self._invalid(
                    f"the native TorchScript engine cannot pass this call's params ({why}); it needs "
                    f"Python torch ({exc.install_hint(REQUIREMENTS['torch'])})",
                    "params",
                )
            _warn_once(
                f"fastpyfunc: {self._model_path}: a TorchScript call runs through Python torch.jit: {why}"
            )
        if self._python is None:
            self._python = _python_runner(self.get_raw_model(), self._device or self._default_device())
        return self._python

    def _default_device(self) -> str:
        torch = require("torch", "choosing the device", model_path=self._model_path)
        return "cuda" if torch.cuda.is_available() else CPU

    def get_raw_model(self) -> Any:
        """The module loaded by ``torch.jit.load`` (what mlflow returns), loaded on first call."""
        if self._raw is None:
            torch = require("torch", "torch.jit.load", model_path=self._model_path)
            device = self._device or self._default_device()
            try:
                self._raw = torch.jit.load(self._archive, map_location=device).eval()
            except Exception as e:  # noqa: BLE001 - torch raises RuntimeError and others
                raise exc.make(
                    exc.ModelLoadError,
                    f"{self._model_path}: torch.jit.load cannot load {self._archive}: {e}",
                    model_path=self._model_path,
                ) from e
        return self._raw


def _python_runner(module: Any, device: str) -> Callable[[list[Any], dict[str, Any]], Outputs]:
    """The same call through Python torch: ``module(*tensors, **params)`` under no_grad."""
    torch = require("torch", "running a TorchScript model through Python")

    def run(arrays: list[Any], params: dict[str, Any]) -> Outputs:
        with torch.no_grad():
            out = module(*[torch.from_numpy(a).to(device) for a in arrays], **params)
        host = lambda t: t.to(CPU).numpy()  # noqa: E731
        if isinstance(out, torch.Tensor):
            return "tensor", [(None, host(out))]
        if isinstance(out, dict):
            return "dict", [(k, host(v)) for k, v in out.items()]
        if isinstance(out, (tuple, list)):
            return ("tuple" if isinstance(out, tuple) else "list"), [(None, host(v)) for v in out]
        raise exc.make(
            exc.PredictionError,
            f"Expected PyTorch model to output a tensor (or a tuple, list or dict of tensors), got {type(out)}",
        )

    return run
