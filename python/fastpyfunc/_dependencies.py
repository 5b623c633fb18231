"""Optional dependencies, reached through this one module (polars' ``_dependencies.py`` is the
model), so ``import fastpyfunc`` imports none of them and every message about a missing one has
the same form.

The data libraries are lazy modules: ``from ._dependencies import pandas as pd`` costs nothing
at import and imports pandas on the first attribute read (an ``EngineUnavailableError`` with the
install hint where it is missing). For type checkers they are the real modules.

Three questions, three functions:

- :func:`loaded` -- has the user's process imported it already? For type checks on ``predict``
  input (``isinstance(data, pandas.DataFrame)`` is only possible when pandas is loaded, and
  asking must not import it: pandas costs ~0.3 s, mlflow seconds).
- :func:`available` -- is it installed? Answered by ``importlib.util.find_spec``, which finds a
  package without running it; cached.
- :func:`require` -- import it now, or raise ``EngineUnavailableError`` that says what needs it
  and what to install.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import sys
from types import ModuleType
from typing import TYPE_CHECKING, Any

from . import exceptions as exc

#: What to install for each optional package (a pip requirement, in exc.install_hint's form).
REQUIREMENTS: dict[str, str] = {
    "numpy": "numpy",
    "pandas": "pandas",
    "pyarrow": "pyarrow",
    "polars": "polars",
    "mlflow": "fastpyfunc[mlflow]",
    "onnxruntime": "fastpyfunc[onnx]",
    "torch": "torch>=2.13,<2.14",
    "tensorflow": "tensorflow>=2.16",
    "sklearn": "scikit-learn",
    "skops": "skops",
    "pyspark": "fastpyfunc[spark]",
}


def loaded(name: str) -> ModuleType | None:
    """The module when this process has imported it already, else None (never imports)."""
    return sys.modules.get(name)


@functools.cache
def available(name: str) -> bool:
    """Whether ``name`` is installed (found without importing it)."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # a broken parent package, or a module without a spec
        return False


def require(name: str, purpose: str, *, model_path: str | None = None) -> ModuleType:
    """Imports ``name``, or raises ``EngineUnavailableError``: "<purpose> needs <name>: pip install ..."."""
    module = sys.modules.get(name)
    if module is not None:
        return module
    try:
        return importlib.import_module(name)
    except ImportError as e:
        top = name.partition(".")[0]
        hint = exc.install_hint(REQUIREMENTS.get(top, top))
        prefix = f"{model_path}: " if model_path else ""
        raise exc.make(
            exc.EngineUnavailableError,
            f"{prefix}{purpose} needs {top}, which cannot be imported ({e}): {hint}",
            model_path=model_path,
            key=top,
        ) from e


class _LazyModule(ModuleType):
    """Stands for an optional module until an attribute is read, then imports it."""

    def __init__(self, name: str, purpose: str) -> None:
        super().__init__(name)
        self._purpose = purpose

    def __getattr__(self, attr: str) -> Any:
        module = require(self.__name__, self._purpose)
        value = getattr(module, attr)
        # kept on this object: the next read is a plain module-dict lookup, as fast as the real
        # module's (hot paths read np.ndarray on every predict)
        setattr(self, attr, value)
        return value

    def __repr__(self) -> str:
        return f"<lazy module {self.__name__!r}>"


if TYPE_CHECKING:
    import numpy
    import pandas
    import pyarrow
else:
    numpy = _LazyModule("numpy", "reading and returning arrays")
    pandas = _LazyModule("pandas", "DataFrame input and output")
    pyarrow = _LazyModule("pyarrow", "Arrow input and output")

__all__ = ["REQUIREMENTS", "available", "loaded", "numpy", "pandas", "pyarrow", "require"]
