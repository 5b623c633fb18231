"""Spark: :func:`spark_udf` (drop-in for ``mlflow.pyfunc.spark_udf``) and :func:`predict`.

The executors load the model with fastpyfunc (never mlflow), once per Python worker, and hand
Arrow batches straight to ``PyFuncModel.predict``: native engines read them without pandas.
Python-route models get the pandas DataFrame mlflow's UDF would give them.

Nothing here imports pyspark, pandas or numpy at module import; ``import fastpyfunc`` does not
import this module.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import sys
import tempfile
import warnings
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import _native, _safety
from . import exceptions as exc
from ._metadata import Model
from ._schema import ColSpec, Schema, TensorSpec

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import DataType

__all__ = ["spark_udf", "predict"]

_logger = logging.getLogger("fastpyfunc")

_ENV_MANAGERS = (None, "local")
_INT_TYPES = ("int8", "uint8", "int16", "uint16", "int32")  # mlflow's select_dtypes for "int"
_LONG_TYPES = ("int8", "uint8", "int16", "uint16", "int64")  # ... and for "long" (sic: no int32)
_TENSOR_TYPES = {
    "bool": "BooleanType",
    "int32": "IntegerType",
    "int64": "LongType",
    "float32": "FloatType",
    "float64": "DoubleType",
    "str": "StringType",
    "object": "StringType",
    "bytes": "BinaryType",
    "datetime64[ns]": "TimestampType",
}
_COL_TYPES = {
    "boolean": "BooleanType",
    "integer": "IntegerType",
    "long": "LongType",
    "float": "FloatType",
    "double": "DoubleType",
    "string": "StringType",
    "binary": "BinaryType",
    "datetime": "TimestampType",
}


# -- what travels to the executors -------------------------------------------------------------


@dataclass(frozen=True)
class _Shipped:
    """Everything an executor needs to load and call the model (plain values only: unpickling
    it must not import mlflow)."""

    model_path: str  # a local directory (local master), or the SparkFiles name of a zip
    archived: bool
    model_config: dict[str, Any] | None
    trust: bool
    input_names: list[str] | None  # the signature's names, for unnamed UDF arguments
    required: int  # how many of them are required
    params: dict[str, Any] | None
    extra_env: dict[str, str] = field(default_factory=dict)
    skops: bool = False  # a skops model file: import skops.io without its unused imports

    @property
    def key(self) -> tuple[str, str, bool]:
        return (self.model_path, json.dumps(self.model_config, sort_keys=True, default=str), self.trust)


# One loaded model per (model, config, trust) in each Python worker, kept across batches and
# tasks (Spark reuses workers: spark.python.worker.reuse).
_WORKER_MODELS: dict[tuple[str, str, bool], Any] = {}
_EXTRACTED: dict[str, str] = {}


def _worker_model(shipped: _Shipped) -> Any:
    model = _WORKER_MODELS.get(shipped.key)
    if model is None:
        from ._pyfunc import load_model

        path = _extract(shipped.model_path) if shipped.archived else shipped.model_path
        if shipped.skops:
            _import_skops()
        with _environ(shipped.extra_env):
            model = load_model(
                path, suppress_warnings=True, model_config=shipped.model_config, trust_code=shipped.trust
            )
        _WORKER_MODELS[shipped.key] = model
    return model


# Top-level packages that ``import skops.io`` pulls in without using them (see _import_skops).
_UNUSED_BY_SKOPS = ("torch", "pytest")


def _import_skops() -> None:
    """``import skops.io``, cheaper in a cold worker: skops builds its trusted-type list with
    scikit-learn's ``all_estimators()``, which imports every scikit-learn package, among them
    ``externals.array_api_compat.torch`` (torch) and test helpers (pytest); neither adds a type
    to the list (208 scikit-learn types either way) and they are about half of the import (7 of
    14 s cold on the benchmark machine). While skops imports, this thread's imports of them are
    refused (ImportError, which the package walk skips); other threads, and packages already
    imported, are untouched. The model itself is loaded afterwards, with nothing refused."""
    if "skops.io" in sys.modules:
        return
    import threading

    owner = threading.get_ident()

    class _Refuse:
        def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
            top = name.partition(".")[0]
            if top in _UNUSED_BY_SKOPS and top not in sys.modules and threading.get_ident() == owner:
                raise ImportError(f"{name} is not needed to import skops.io")
            return None

    finder = _Refuse()
    sys.meta_path.insert(0, finder)
    try:
        import skops.io  # noqa: F401
    except ImportError:
        pass  # loading the model reports a missing skops with its own message
    finally:
        sys.meta_path.remove(finder)


def _uses_skops(flavors: dict[str, Any]) -> bool:
    return any(isinstance(c, dict) and c.get("serialization_format") == "skops" for c in flavors.values())


def _extract(name: str) -> str:
    """The model directory shipped with ``SparkContext.addFile``, unzipped once per worker."""
    if name not in _EXTRACTED:
        from pyspark import SparkFiles

        target = tempfile.mkdtemp(prefix="fastpyfunc-model-")
        with zipfile.ZipFile(SparkFiles.get(name)) as z:
            z.extractall(target)  # zipfile drops absolute paths and '..'
        _EXTRACTED[name] = target
    return _EXTRACTED[name]


@contextlib.contextmanager
def _environ(update: dict[str, str]) -> Iterator[None]:
    """mlflow's ``extra_env``: set for the UDF's work, restored after."""
    if not update:
        yield
        return
    saved = {k: os.environ.get(k) for k in update}
    os.environ.update(update)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


# -- driver side: resolve, check, ship ---------------------------------------------------------


def _check_env_manager(env_manager: str | None, prebuilt_env_uri: str | None) -> None:
    if env_manager not in _ENV_MANAGERS:
        raise exc.make(
            exc.FastPyFuncError,
            f"fastpyfunc.spark_udf runs the model in the executors' own Python environment "
            f"(env_manager='local' or None); env_manager={env_manager!r} is not supported. Install "
            "the model's requirements on the executors, or use mlflow.pyfunc.spark_udf to rebuild "
            "its environment",
            key="env_manager",
            error_code="INVALID_PARAMETER_VALUE",
        )
    if prebuilt_env_uri is not None:
        raise exc.make(
            exc.FastPyFuncError,
            "fastpyfunc.spark_udf does not use prebuilt environments (prebuilt_env_uri is for "
            "Databricks Connect); it runs in the executors' own Python environment",
            key="prebuilt_env_uri",
            error_code="INVALID_PARAMETER_VALUE",
        )


@dataclass
class _Prepared:
    path: str  # the model directory on the driver (what messages name)
    meta: Model
    shipped: _Shipped


def _prepare(
    spark: SparkSession,
    model_uri: str | os.PathLike[str],
    model_config: Any,
    trust_code: bool | None,
    params: dict[str, Any] | None,
    extra_env: dict[str, str] | None,
) -> _Prepared:
    """Resolves the model on the driver, refuses it there if it carries untrusted code (before any
    job), and ships it: a local master reads the directory in place; a cluster gets one zip
    through ``SparkContext.addFile``, as mlflow does."""
    from ._pyfunc import _read_model_config
    from ._uri import resolve

    trust = _safety.trusted(trust_code)  # the driver's policy, passed along explicitly
    local_path = resolve(model_uri, _download_dir() if _is_remote(model_uri) else None)
    info = _native.load_model_info(local_path)
    meta = Model(info.root, info.mlmodel, info.signature)
    pyfunc_conf = meta.flavors["python_function"]
    _safety.confine_plan(local_path, info.plan, pyfunc_conf)
    _safety.check_code(local_path, info.plan, pyfunc_conf, meta.flavors, trust)
    config = _read_model_config(model_config)
    # local-cluster[...] runs separate executors (as a cluster does), so it gets the zip too
    master = spark.sparkContext.master or ""
    if master.startswith("local") and not master.startswith("local-cluster"):
        location, archived = local_path, False
    else:
        base = tempfile.mkdtemp(prefix="fastpyfunc-ship-")
        archive = shutil.make_archive(os.path.join(base, "model"), "zip", local_path)
        named = os.path.join(base, f"fastpyfunc-{os.path.basename(base)}.zip")
        os.replace(archive, named)
        spark.sparkContext.addFile(named)
        location, archived = os.path.basename(named), True
    schema = meta.get_input_schema()
    names = [str(n) for n in schema.input_names()] if schema is not None else None
    required = len(schema.required_input_names()) if schema is not None else 0
    checked = _validate_params(local_path, meta, pyfunc_conf, params)
    shipped = _Shipped(
        location,
        archived,
        config,
        trust,
        names,
        required,
        checked,
        dict(extra_env or {}),
        _uses_skops(meta.flavors),
    )
    return _Prepared(local_path, meta, shipped)


def _validate_params(
    model_path: str, meta: Model, pyfunc_conf: dict[str, Any], params: dict[str, Any] | None
) -> dict[str, Any] | None:
    """``params`` checked against the model's params schema on the driver, before any job, as
    mlflow's spark_udf does: a value of the wrong type raises here (``key`` names the param);
    unknown params, and params for a model without a params schema, are dropped with mlflow's
    warning. What ships is the checked dict (None when there is nothing to pass)."""
    if params is None:
        return None
    from ._enforce import Enforcer

    enforcer = Enforcer(model_path, meta, pyfunc_conf.get("loader_module"))
    return enforcer._params(params) or None


def _is_remote(model_uri: str | os.PathLike[str]) -> bool:
    return _native.classify_uri(os.fspath(model_uri))[0] != "local"


def _download_dir() -> str:
    return tempfile.mkdtemp(prefix="fastpyfunc-spark-")


# -- result types ------------------------------------------------------------------------------


def _spark_type(name: str) -> DataType:
    import pyspark.sql.types as T

    return getattr(T, name)()


def _col_type(t: str | dict[str, Any], model_path: str) -> DataType:
    import pyspark.sql.types as T

    if isinstance(t, str):
        if t in _COL_TYPES:
            return _spark_type(_COL_TYPES[t])
    elif t.get("type") == "array":
        return T.ArrayType(_col_type(_nested(t["items"]), model_path))
    elif t.get("type") == "object":
        return T.StructType(
            [T.StructField(k, _col_type(_nested(v), model_path)) for k, v in t["properties"].items()]
        )
    elif t.get("type") == "map":
        return T.MapType(T.StringType(), _col_type(_nested(t["values"]), model_path))
    elif t.get("type") == "any" and hasattr(T, "VariantType"):
        return T.VariantType()
    raise exc.make(
        exc.MalformedModelError,
        f"{model_path}: output type {t!r} has no Spark type",
        model_path=model_path,
        key="signature.outputs",
    )


def _nested(t: Any) -> str | dict[str, Any]:
    return t["type"] if isinstance(t, dict) and t.get("type") in _COL_TYPES else t


def _output_type(spec: ColSpec | TensorSpec, model_path: str) -> DataType:
    """mlflow's ``_cast_output_spec_to_spark_type``, except that a 2-D tensor ``[-1, k]`` is one
    ``array<T>`` per row (mlflow infers ``array<array<T>>`` and then fails: mlflow #12539)."""
    import pyspark.sql.types as T

    if isinstance(spec, ColSpec):
        return _col_type(spec.type, model_path)
    elem = _TENSOR_TYPES.get(spec.type)
    if elem is None or len(spec.shape) > 2:
        what = f"type {spec.type}" if elem is None else f"shape {list(spec.shape)}"
        raise exc.make(
            exc.MalformedModelError,
            f"{model_path}: model output '{spec.name}' has {what}, which spark_udf cannot return "
            "(1-D or 2-D tensors of bool, int32, int64, float32, float64, str)",
            model_path=model_path,
            key=f"signature.outputs.{spec.name}",
        )
    return T.ArrayType(_spark_type(elem))


def _infer_result_type(meta: Model, model_path: str) -> DataType:
    import pyspark.sql.types as T

    outputs = meta.get_output_schema()
    if outputs is None:
        _logger.warning(
            "No 'result_type' provided for spark_udf and the model does not have an output "
            "schema. 'result_type' is set to 'double' type."
        )
        return T.DoubleType()
    specs = list(outputs)
    if len(specs) == 1:
        return _output_type(specs[0], model_path)
    return T.StructType(
        [
            T.StructField(spec.name if spec.name is not None else str(i), _output_type(spec, model_path))
            for i, spec in enumerate(specs)
        ]
    )


def _parse_result_type(result_type: Any, model_path: str) -> DataType:
    import pyspark.sql.types as T

    if isinstance(result_type, str):
        text = "boolean" if result_type == "bool" else result_type
        try:
            parsed = T._parse_datatype_string(text)
        except Exception as e:  # noqa: BLE001 - Spark's parse errors have several classes
            raise exc.make(
                exc.FastPyFuncError,
                f"{model_path}: result_type {result_type!r} is not a Spark type: {e}",
                model_path=model_path,
                key="result_type",
                error_code="INVALID_PARAMETER_VALUE",
            ) from e
    else:
        parsed = result_type
    if not _allowed_type(parsed):
        raise exc.make(
            exc.FastPyFuncError,
            f"{model_path}: invalid spark_udf result type {parsed}: it must be int, long, float, "
            "double, string or boolean, an array of these (nested arrays too), a struct of these, "
            "or a map from string to these",
            model_path=model_path,
            key="result_type",
            error_code="INVALID_PARAMETER_VALUE",
        )
    return parsed


def _allowed_type(t: Any) -> bool:
    import pyspark.sql.types as T

    primitive = (T.IntegerType, T.LongType, T.FloatType, T.DoubleType, T.StringType, T.BooleanType)
    if isinstance(t, primitive):
        return True
    if isinstance(t, T.ArrayType):
        return _allowed_type(t.elementType)
    if isinstance(t, T.StructType):
        return all(_allowed_type(f.dataType) for f in t.fields)
    if isinstance(t, T.MapType):
        return isinstance(t.keyType, T.StringType) and _allowed_type(t.valueType)
    return False


def _arrow_type(t: DataType) -> pa.DataType:
    from pyspark.sql.pandas.types import to_arrow_type

    return to_arrow_type(t)


# -- executor side: model input ----------------------------------------------------------------


def _model_input(model_path: str, shipped: _Shipped, args: tuple[Any, ...]) -> Any:
    """The UDF's arguments as one Arrow RecordBatch named as mlflow's UDF names them: a single
    struct gives its fields; columns take the signature's names in order (``0``, ``1``... without)."""
    import pyarrow as pa

    if len(args) == 1 and pa.types.is_struct(args[0].type):
        return pa.RecordBatch.from_struct_array(_array(args[0]))
    names = shipped.input_names
    if names is None:
        names = [str(i) for i in range(len(args))]
    else:
        args = args[: len(names)]
        if len(args) < shipped.required:
            raise _missing_columns(model_path, names, len(args))
    return pa.RecordBatch.from_arrays([_array(a) for a in args], names=names[: len(args)])


def _array(a: Any) -> Any:
    return a.combine_chunks() if hasattr(a, "combine_chunks") else a


def _missing_columns(model_path: str, names: list[str], got: int) -> exc.FastPyFuncError:
    return exc.make(
        exc.SchemaEnforcementError,
        f"{model_path}: model input is missing required columns. Expected {len(names)} input "
        f"columns {names}, but the UDF received only {got} unnamed input columns (unnamed columns "
        "are matched to the signature in order); pass the columns, a struct of named columns, or "
        "no arguments to use the signature's names",
        model_path=model_path,
        key=names[got] if got < len(names) else None,
    )


def _score(model: Any, params: dict[str, Any] | None, batch: Any) -> Any:
    """Native engines read the Arrow batch themselves (one call into Rust, an Arrow result);
    everything else gets the pandas DataFrame mlflow's UDF would give."""
    result = model._native_call(batch, params)
    if result is not None:
        return result
    data = _to_pandas(batch)
    return model.predict(data, params=params) if params else model.predict(data)


def _to_pandas(batch: Any) -> Any:
    """``batch.to_pandas()``, the same DataFrame; wide batches of one numeric type without nulls
    are copied in one pass into a single column-major block (``to_tensor``): about half of
    ``to_pandas``'s time for 600 double columns, and the 2-D array the model then takes is a view."""
    import pyarrow as pa

    schema = batch.schema
    first = schema.types[0] if schema.types else None
    if (
        batch.num_columns < 2
        or schema.pandas_metadata is not None
        or not (pa.types.is_integer(first) or pa.types.is_float32(first) or pa.types.is_float64(first))
        or any(t != first for t in schema.types)
        or any(c.null_count for c in batch.columns)
        or len(set(schema.names)) != len(schema.names)
    ):
        return batch.to_pandas()
    import numpy as np
    import pandas as pd

    values = np.asarray(batch.to_tensor(row_major=False))
    return pd.DataFrame(values, columns=list(schema.names), copy=False)


# -- executor side: model output ---------------------------------------------------------------


def _to_arrow(result: Any, rtype: DataType, atype: pa.DataType, model_path: str) -> pa.Array:
    """The model's output as one Arrow array of the UDF's type, by mlflow's rules."""
    import pyarrow as pa

    if isinstance(result, (pa.Table, pa.RecordBatch)):
        return _arrow_result(result, rtype, atype, model_path)
    return _pandas_to_arrow(_coerce_pandas(result, rtype, model_path), rtype, atype)


def _arrow_result(table: Any, rtype: DataType, atype: pa.DataType, model_path: str) -> pa.Array:
    import pyarrow as pa
    import pyspark.sql.types as T

    if isinstance(rtype, T.StructType):
        arrays = []
        for f in rtype.fields:
            if f.name not in table.column_names:
                raise exc.make(
                    exc.PredictionError,
                    f"{model_path}: the model's output has no column '{f.name}' for the result "
                    f"struct (it has {table.column_names})",
                    model_path=model_path,
                    key=f.name,
                )
            column, ftype = _array(table.column(f.name)), _arrow_type(f.dataType)
            if _is_list(ftype) and not _is_list(column.type):  # a 1-D output as array<T>: [v] per row
                column = pa.FixedSizeListArray.from_arrays(
                    _cast(column, ftype.value_type, model_path, f.name), 1
                )
            arrays.append(_cast(column, ftype, model_path, f.name))
        return pa.StructArray.from_arrays(arrays, fields=list(atype))
    lists = [c for c in table.columns if _is_list(c.type)]
    if isinstance(rtype, T.ArrayType) and len(lists) == 1 and table.num_columns == 1:
        # a [N, k] output: one array per row (mlflow #12539)
        return _cast(_array(lists[0]), atype, model_path, table.column_names[0])
    elem = rtype.elementType if isinstance(rtype, T.ArrayType) else rtype
    keep = [i for i, c in enumerate(table.columns) if _compatible(c.type, elem)]
    if not keep:
        raise _no_values(model_path, elem)
    if isinstance(elem, T.StringType):
        import pandas as pd

        frame = pd.DataFrame({i: table.column(i).to_pandas() for i in keep})
        return _pandas_to_arrow(_strings(frame, rtype), rtype, atype)
    eatype = _arrow_type(elem)
    cols = [_cast(_array(table.column(i)), eatype, model_path, table.column_names[i]) for i in keep]
    if not isinstance(rtype, T.ArrayType):
        return cols[0]
    import numpy as np

    values = np.column_stack([c.to_numpy(zero_copy_only=False) for c in cols]).ravel()
    rows = pa.FixedSizeListArray.from_arrays(pa.array(values, type=eatype), len(cols))
    return rows.cast(atype)


def _is_list(t: Any) -> bool:
    import pyarrow as pa

    return pa.types.is_list(t) or pa.types.is_fixed_size_list(t) or pa.types.is_large_list(t)


def _compatible(t: Any, elem: DataType) -> bool:
    """mlflow's ``select_dtypes`` per requested type, on Arrow types."""
    import pyarrow as pa
    import pyspark.sql.types as T

    if isinstance(elem, T.StringType):
        return True
    if isinstance(elem, T.BooleanType):
        return bool(pa.types.is_boolean(t))
    if isinstance(elem, (T.FloatType, T.DoubleType)):
        return bool(pa.types.is_integer(t) or pa.types.is_floating(t))
    if isinstance(elem, T.IntegerType):
        return str(t) in _INT_TYPES
    if isinstance(elem, T.LongType):
        return str(t) in _LONG_TYPES
    return False


def _cast(arr: Any, atype: pa.DataType, model_path: str, column: Any) -> Any:
    """numpy ``astype`` semantics (unchecked), as mlflow converts."""
    if arr.type == atype:
        return arr
    try:
        return arr.cast(atype, safe=False)
    except Exception as e:  # noqa: BLE001 - pyarrow's ArrowInvalid / ArrowNotImplementedError
        raise exc.make(
            exc.PredictionError,
            f"{model_path}: the model's output column '{column}' ({arr.type}) cannot be returned "
            f"as {atype}: {e}",
            model_path=model_path,
            key=str(column),
        ) from e


def _no_values(model_path: str, elem: Any) -> exc.FastPyFuncError:
    return exc.make(
        exc.PredictionError,
        f"{model_path}: the model did not produce any values compatible with the requested type "
        f"'{elem}'. Consider requesting udf with StringType or ArrayType(StringType).",
        model_path=model_path,
        key="result_type",
        error_code="INVALID_PARAMETER_VALUE",
    )


def _strings(frame: Any, rtype: DataType) -> Any:
    import pyspark.sql.types as T

    frame = frame.map(str)
    if isinstance(rtype, T.ArrayType):
        import pandas as pd

        return pd.Series(frame.to_numpy().tolist())
    return frame[frame.columns[0]]


def _coerce_pandas(result: Any, rtype: DataType, model_path: str) -> Any:
    """mlflow's ``_predict_row_batch`` output handling (a Series, or a DataFrame for structs),
    plus one [N, k] column of arrays as an array result (mlflow #12539)."""
    import numpy as np
    import pandas as pd
    import pyspark.sql.types as T

    if isinstance(result, dict):
        result = {k: list(v) for k, v in result.items()}
    if isinstance(rtype, T.StructType):
        if isinstance(result, list) and result and hasattr(result[0], "model_dump"):
            result = [r.model_dump() for r in result]
        return pd.DataFrame(result)
    if not isinstance(result, pd.DataFrame):
        if isinstance(rtype, T.MapType):
            result = pd.DataFrame([result])
        else:
            result = pd.DataFrame([result]) if np.isscalar(result) else pd.DataFrame(result)
    elem = rtype.elementType if isinstance(rtype, T.ArrayType) else rtype
    if isinstance(rtype, T.ArrayType) and result.shape[1] == 1 and result.dtypes.iloc[0] == np.dtype(object):
        first = next((v for v in result.iloc[:, 0] if v is not None), None)
        if isinstance(first, (list, tuple, np.ndarray)):
            return result.iloc[:, 0].reset_index(drop=True)
    rules: dict[Any, Any] = {
        T.IntegerType: lambda: result.select_dtypes(
            [np.byte, np.ubyte, np.short, np.ushort, np.int32]
        ).astype(np.int32),
        T.LongType: lambda: result.select_dtypes([np.byte, np.ubyte, np.short, np.ushort, int]).astype(
            np.int64
        ),
        T.FloatType: lambda: result.select_dtypes(include=(np.number,)).astype(np.float32),
        T.DoubleType: lambda: result.select_dtypes(include=(np.number,)).astype(np.float64),
        T.BooleanType: lambda: result.select_dtypes([bool, np.bool_]).astype(bool),
    }
    selected = rules.get(type(elem))
    if selected is not None:
        result = selected()
    if len(result.columns) == 0:
        raise _no_values(model_path, elem)
    if isinstance(elem, T.StringType):
        return _strings(result, rtype)
    if isinstance(rtype, T.ArrayType):
        return pd.Series(result.to_numpy().tolist())
    return result[result.columns[0]]


def _pandas_to_arrow(values: Any, rtype: DataType, atype: pa.DataType) -> pa.Array:
    import pyarrow as pa
    import pyspark.sql.types as T

    if isinstance(rtype, T.StructType):
        arrays = [
            pa.array(
                _field_values(values[f.name], f.dataType), type=_arrow_type(f.dataType), from_pandas=True
            )
            for f in rtype.fields
        ]
        return pa.StructArray.from_arrays(arrays, fields=list(atype))
    return pa.array(values, type=atype, from_pandas=True)


def _field_values(series: Any, t: DataType) -> Any:
    """A struct field's values as mlflow's ``_convert_struct_values`` casts them."""
    import numpy as np
    import pyspark.sql.types as T

    np_types: dict[Any, Any] = {
        T.IntegerType: np.int32,
        T.LongType: np.int64,
        T.FloatType: np.float32,
        T.DoubleType: np.float64,
        T.BooleanType: np.bool_,
    }
    np_type = np_types.get(type(t))
    if np_type is not None and not series.isna().all():
        return series.astype(np_type)
    if isinstance(t, T.StringType):
        return series.map(lambda v: v if v is None else str(v))
    return series


# -- the UDF -----------------------------------------------------------------------------------


def _arrow_udf_fn(shipped: _Shipped, rtype: DataType, atype: pa.DataType) -> Any:
    def score(batches: Iterator[Any]) -> Iterator[Any]:
        with _environ(shipped.extra_env):
            model = _worker_model(shipped)
            for args in batches:
                args = args if isinstance(args, tuple) else (args,)
                if len(args[0]) == 0:
                    continue
                batch = _model_input(model._model_path, shipped, args)
                result = _score(model, shipped.params, batch)
                yield _to_arrow(result, rtype, atype, model._model_path)

    return score


def _pandas_udf_fn(shipped: _Shipped, rtype: DataType, atype: pa.DataType) -> Any:
    """Spark < 4.1 (no arrow_udf): the same scoring behind an iterator pandas_udf."""
    import pyspark.sql.types as T

    def score(batches: Iterator[Any]) -> Iterator[Any]:
        import pandas as pd
        import pyarrow as pa

        inner = _arrow_udf_fn(shipped, rtype, atype)

        def as_arrow(args: Any) -> tuple[Any, ...]:
            args = args if isinstance(args, tuple) else (args,)
            return tuple(
                pa.StructArray.from_arrays(
                    [pa.array(a[c], from_pandas=True) for c in a.columns], names=[str(c) for c in a.columns]
                )
                if isinstance(a, pd.DataFrame)
                else pa.array(a, from_pandas=True)
                for a in args
            )

        for out in inner(as_arrow(b) for b in batches):
            if isinstance(rtype, T.StructType):
                yield pa.Table.from_batches([pa.RecordBatch.from_struct_array(out)]).to_pandas()
            else:
                yield out.to_pandas()

    return score


def spark_udf(
    spark: SparkSession,
    model_uri: str | os.PathLike[str],
    result_type: Any = None,
    env_manager: str | None = None,
    params: dict[str, Any] | None = None,
    extra_env: dict[str, str] | None = None,
    prebuilt_env_uri: str | None = None,
    model_config: str | Path | dict[str, Any] | None = None,
    *,
    trust_code: bool | None = None,
) -> Any:
    """A Spark UDF that scores ``model_uri`` with fastpyfunc: drop-in for
    ``mlflow.pyfunc.spark_udf`` (same arguments, same results).

    Call it with columns (matched to the signature's inputs in order), with one struct of named
    columns, or with no arguments (the signature's input names). ``result_type`` is a Spark type
    or DDL string; by default it is inferred from the output schema as mlflow does, except that
    a 2-D tensor output is an ``array<T>`` per row. Only ``env_manager`` None/``"local"`` is
    supported: executors use their own Python environment. ``trust_code`` is
    ``load_model``'s: decided on the driver and passed to the executors.
    """
    _check_env_manager(env_manager, prebuilt_env_uri)
    prepared = _prepare(spark, model_uri, model_config, trust_code, params, extra_env)
    path, meta, shipped = prepared.path, prepared.meta, prepared.shipped
    rtype = _infer_result_type(meta, path) if result_type is None else _parse_result_type(result_type, path)
    atype = _arrow_type(rtype)
    import importlib

    F: Any = importlib.import_module("pyspark.sql.functions")  # its overloads cannot type a 1-or-n-column UDF
    if hasattr(F, "arrow_udf"):
        with warnings.catch_warnings():  # "prefer type hints": the function takes 1 or n columns
            warnings.simplefilter("ignore", UserWarning)
            udf = F.arrow_udf(_arrow_udf_fn(shipped, rtype, atype), rtype, F.ArrowUDFType.SCALAR_ITER)
    else:
        _logger.warning(
            "fastpyfunc.spark_udf: this Spark has no arrow_udf (Spark >= 4.1); scoring through a "
            "pandas_udf, which converts every batch to pandas"
        )
        udf = F.pandas_udf(_pandas_udf_fn(shipped, rtype, atype), rtype, F.PandasUDFType.SCALAR_ITER)
    schema = meta.get_input_schema()

    def udf_with_default_cols(*args: Any) -> Any:
        if not args:
            args = tuple(_default_columns(schema, path))
        elif shipped.input_names is not None and len(args) > 1 and len(args) < shipped.required:
            raise _missing_columns(path, shipped.input_names, len(args))
        return udf(*args)

    udf_with_default_cols.metadata = meta  # type: ignore[attr-defined]  # as mlflow's udf has
    udf_with_default_cols.returnType = rtype  # type: ignore[attr-defined]
    return udf_with_default_cols


def _default_columns(schema: Schema | None, model_path: str) -> list[str]:
    def fail(message: str, key: str) -> exc.FastPyFuncError:
        return exc.make(
            exc.SchemaEnforcementError, f"{model_path}: {message}", model_path=model_path, key=key
        )

    if schema is None or len(schema) == 0:
        raise fail(
            "attempting to apply udf on zero columns because no column names were specified as "
            "arguments or inferred from the model signature",
            "signature.inputs",
        )
    if schema.optional_input_names():
        raise fail(
            "cannot apply UDF without column names specified when model signature contains "
            f"optional columns {schema.optional_input_names()}",
            "signature.inputs",
        )
    if not schema.has_input_names():
        raise fail(
            f"cannot apply udf because no column names were specified; the udf expects "
            f"{len(schema)} columns and the model signature does not name them",
            "signature.inputs",
        )
    return [str(n) for n in schema.input_names()]


# -- whole-table scoring -----------------------------------------------------------------------


def predict(
    df: DataFrame,
    model_uri: str | os.PathLike[str],
    *,
    result_column: str = "prediction",
    result_type: Any = None,
    params: dict[str, Any] | None = None,
    model_config: str | Path | dict[str, Any] | None = None,
    extra_env: dict[str, str] | None = None,
    trust_code: bool | None = None,
) -> DataFrame:
    """``df`` with the model's predictions appended, scored with ``mapInArrow`` (no UDF).

    The model reads the columns its signature names (all of ``df``'s columns without names);
    a missing required column is reported here, before any job. One output becomes the column
    ``result_column``; several outputs become ``{result_column}_{name}`` columns. Types come
    from the output schema (or ``result_type``), as :func:`spark_udf` infers them.
    """
    import pyspark.sql.types as T

    spark = df.sparkSession
    prepared = _prepare(spark, model_uri, model_config, trust_code, params, extra_env)
    path, meta, shipped = prepared.path, prepared.meta, prepared.shipped
    rtype = _infer_result_type(meta, path) if result_type is None else _parse_result_type(result_type, path)
    schema = meta.get_input_schema()
    if schema is not None and schema.has_input_names():
        present = set(df.columns)
        missing = [str(n) for n in schema.required_input_names() if str(n) not in present]
        if missing:
            raise exc.make(
                exc.SchemaEnforcementError,
                f"{path}: the DataFrame has no column {missing[0]!r}, which the model's signature "
                f"requires (missing: {missing}; the DataFrame has {df.columns})",
                model_path=path,
                key=missing[0],
            )
        columns = [str(n) for n in schema.input_names() if str(n) in present]
    else:
        columns = list(df.columns)
    if isinstance(rtype, T.StructType):
        out_fields = [T.StructField(f"{result_column}_{f.name}", f.dataType) for f in rtype.fields]
    else:
        out_fields = [T.StructField(result_column, rtype)]
    taken = set(df.columns) & {f.name for f in out_fields}
    if taken:
        raise exc.make(
            exc.InvalidInputError,
            f"{path}: the DataFrame already has a column {sorted(taken)[0]!r}; choose another result_column",
            model_path=path,
            key=sorted(taken)[0],
        )
    out_schema = T.StructType(list(df.schema.fields) + out_fields)
    # positional names: the batch's columns are matched by name below
    named = _Shipped(
        shipped.model_path,
        shipped.archived,
        shipped.model_config,
        shipped.trust,
        None,
        0,
        shipped.params,
        shipped.extra_env,
        shipped.skops,
    )
    return df.mapInArrow(
        _map_fn(named, columns, rtype, _arrow_type(rtype), [f.name for f in out_fields]), out_schema
    )


def _map_fn(shipped: _Shipped, columns: list[str], rtype: DataType, atype: Any, out_names: list[str]) -> Any:
    import pyspark.sql.types as T

    def score(batches: Iterator[Any]) -> Iterator[Any]:
        import pyarrow as pa

        with _environ(shipped.extra_env):
            model = _worker_model(shipped)
            for batch in batches:
                if batch.num_rows == 0:
                    continue
                result = _score(model, shipped.params, batch.select(columns))
                out = _to_arrow(result, rtype, atype, model._model_path)
                if isinstance(rtype, T.StructType):
                    extra = [out.field(i) for i in range(out.type.num_fields)]
                else:
                    extra = [out]
                yield pa.RecordBatch.from_arrays(
                    list(batch.columns) + extra, names=list(batch.schema.names) + out_names
                )

    return score


def _worker_report() -> dict[str, Any]:
    """What this Python worker has loaded (for tests and debugging)."""
    return {
        "pid": os.getpid(),
        "models": len(_WORKER_MODELS),
        "extracted": len(_EXTRACTED),
        "mlflow": "mlflow" in sys.modules,
    }
