"""Forked children (gunicorn ``--preload``, multiprocessing's ``fork`` start method).

A child inherits the parent's memory but none of its threads. Engines whose thread pools were
started in the parent then wait forever on threads that do not exist (measured on Linux):

- SavedModel: TensorFlow's pools start when a SavedModel is loaded; every native SavedModel
  predict in the child hangs, including one on a model the child loads itself.
- TorchScript: libtorch's OpenMP pool starts with the first native predict; after that every
  TorchScript predict in the child hangs (before it, the child works).
- ONNX: a session in parallel execution mode (its inter-op pool) hangs in the child; sessions in
  the default sequential mode work, as do models the child loads itself.
- Python-route models run as they do under mlflow.

Where the child would hang, its first predict raises ``PredictionError`` (and a load that could
only hang raises ``ModelLoadError``) saying to load the model after forking. The check costs
nothing per predict: the handler registered with ``os.register_at_fork`` swaps the predict
functions of the affected models in the child once, at fork time.
"""

from __future__ import annotations

import os
import weakref
from typing import Any

from . import exceptions as exc

SAVEDMODEL = "savedmodel"
TORCHSCRIPT = "torchscript"

#: What the parent did, per engine, that leaves a forked child unable to run it.
_CAUSES = {
    SAVEDMODEL: "loaded a SavedModel natively (TensorFlow's thread pools do not survive a fork)",
    TORCHSCRIPT: "ran a native TorchScript predict (libtorch's OpenMP thread pool does not survive a fork)",
}
_ADVICE = (
    "load models in each worker process after it starts instead (gunicorn without --preload, "
    "multiprocessing with the 'spawn' or 'forkserver' start method)"
)

#: Engines this process has used in a way that a forked child cannot repeat.
_used: set[str] = set()
#: In a forked child: the engines it cannot run, with why.
_broken: dict[str, str] = {}
#: Why an ONNX session in parallel execution mode cannot run in a forked child.
ONNX_PARALLEL = (
    "its ONNX Runtime session runs in parallel execution mode (the inter-op thread pool does not "
    "survive a fork)"
)
#: Loaded models that may be unusable in a forked child, by id (models compare by metadata, so a
#: WeakSet would merge two loads of one directory).
_models: weakref.WeakValueDictionary[int, Any] = weakref.WeakValueDictionary()


def used(engine: str) -> None:
    """Records that this process started ``engine``'s thread pools."""
    _used.add(engine)


def track(model: Any) -> None:
    """Registers a loaded model whose implementation has ``fork_hazard()``."""
    _models[id(model)] = model


def check_load(engine: str, model_path: str) -> None:
    """Raises in a forked child where loading ``engine``'s model could only give a model that hangs."""
    why = _broken.get(engine)
    if why is not None:
        raise exc.make(
            exc.ModelLoadError,
            f"{model_path}: {why}; a {engine} model loaded in this forked process would hang on predict: "
            f"{_ADVICE}",
            model_path=model_path,
            key="os.fork",
        )


def hazard(engine: str) -> str | None:
    """Why ``engine`` cannot run in this (forked) process, or None."""
    return _broken.get(engine)


def refusal(model_path: str, why: str) -> Any:
    """A predict function that raises the fork error (a fresh exception per call)."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise exc.make(
            exc.PredictionError,
            f"{model_path}: this model was loaded before the process forked and {why}; its predict "
            f"would hang in this child: {_ADVICE}",
            model_path=model_path,
            key="os.fork",
        )

    return refuse


def _after_fork_in_child() -> None:
    for engine in _used:
        _broken[engine] = f"the parent process {_CAUSES[engine]}"
    for model in list(_models.values()):
        why = model._impl.fork_hazard()
        if why is not None:
            model._refuse_after_fork(why)


os.register_at_fork(after_in_child=_after_fork_in_child)
