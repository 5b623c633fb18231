"""fastpyfunc: a drop-in, faster and safer ``mlflow.pyfunc.load_model``.

    import fastpyfunc
    model = fastpyfunc.load_model("path/to/model")   # or runs:/, models:/, s3://... with mlflow
    model.predict(df)

Importing this package is cheap: no mlflow, pandas, numpy or ML framework is imported until a
model needs it.
"""

from typing import Any

from . import exceptions
from ._install import install, installed, uninstall
from ._metadata import Model
from ._native import __version__
from ._pyfunc import PyFuncModel, load_model
from ._safety import scan

__all__ = [
    "__version__",
    "exceptions",
    "install",
    "installed",
    "load_model",
    "Model",
    "PyFuncModel",
    "scan",
    "spark_udf",
    "uninstall",
]


def __getattr__(name: str) -> Any:
    # fastpyfunc.spark (and spark_udf) on first use, so that importing fastpyfunc never imports pyspark
    if name in ("spark", "spark_udf"):
        import importlib

        module = importlib.import_module(".spark", __name__)
        return module if name == "spark" else module.spark_udf
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
