"""Make unchanged MLflow scripts use fastpyfunc: patch ``mlflow.pyfunc.load_model`` and
``mlflow.pyfunc.spark_udf``."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from . import exceptions as exc
from ._pyfunc import load_model

# mlflow's own functions, by attribute name, while ours are installed
_originals: dict[str, Any] = {}


def _ours() -> dict[str, Any]:
    # fastpyfunc.spark imports pyspark only when spark_udf is called, so this stays cheap
    from .spark import spark_udf

    return {"load_model": load_model, "spark_udf": spark_udf}


def install() -> None:
    """Makes ``mlflow.pyfunc.load_model`` return fastpyfunc models and ``mlflow.pyfunc.spark_udf``
    score with fastpyfunc on the executors (idempotent).

    Code that already did ``from mlflow.pyfunc import load_model`` keeps mlflow's function;
    ``mlflow.pyfunc.load_model(...)`` calls are switched.
    """
    pyfunc = _mlflow_pyfunc("install")
    for name, ours in _ours().items():
        current = getattr(pyfunc, name, None)
        if current is ours:
            continue
        _originals[name] = current
        setattr(pyfunc, name, ours)


def uninstall() -> None:
    """Restores mlflow's own ``load_model`` and ``spark_udf`` (idempotent)."""
    if not _originals:
        return
    import mlflow.pyfunc as pyfunc

    for name, original in _originals.items():
        setattr(pyfunc, name, original)
    _originals.clear()


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
    already = bool(_originals)
    install()
    try:
        yield
    finally:
        if not already:
            uninstall()
