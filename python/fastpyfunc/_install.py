"""Make unchanged MLflow scripts use fastpyfunc: patch ``mlflow.pyfunc.load_model``."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from . import exceptions as exc
from ._pyfunc import load_model

_original: Any = None


def install() -> None:
    """Makes ``mlflow.pyfunc.load_model`` return fastpyfunc models (idempotent).

    Code that already did ``from mlflow.pyfunc import load_model`` keeps mlflow's function;
    ``mlflow.pyfunc.load_model(...)`` calls are switched.
    """
    global _original
    pyfunc = _mlflow_pyfunc("install")
    if getattr(pyfunc, "load_model", None) is load_model:
        return
    _original = pyfunc.load_model
    pyfunc.load_model = load_model  # type: ignore[assignment]  # our PyFuncModel, same interface


def uninstall() -> None:
    """Restores mlflow's own ``load_model`` (idempotent)."""
    global _original
    if _original is None:
        return
    import mlflow.pyfunc as pyfunc

    pyfunc.load_model = _original
    _original = None


def _mlflow_pyfunc(what: str) -> Any:
    try:
        import mlflow.pyfunc as pyfunc
    except ImportError as e:
        raise exc.make(
            exc.EngineUnavailableError,
            f"fastpyfunc.{what}() patches mlflow.pyfunc.load_model, but mlflow is not installed: "
            f"{exc.install_hint('fastpyfunc[mlflow]')} (fastpyfunc.load_model works without it)",
            key="mlflow",
        ) from e
    return pyfunc


@contextlib.contextmanager
def installed() -> Iterator[None]:
    """``with fastpyfunc.installed(): ...``: install() for the block, then uninstall()."""
    already = _original is not None
    install()
    try:
        yield
    finally:
        if not already:
            uninstall()
