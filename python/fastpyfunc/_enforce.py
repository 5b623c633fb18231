"""Signature enforcement before every predict, with mlflow's decisions.

The input schema is compiled at load into a native plan (``_native.EnforcePlan``, Rust):
column matching by name or position, every dtype conversion rule of mlflow's
``_enforce_mlflow_datatype`` and the tensor rank/shape/dtype checks are decided there. This module
turns the input into what the plan describes (a DataFrame for column schemas, arrays for tensor
schemas), asks the plan, and applies its answer. Decisions for a given set of columns and dtypes
are cached, so a repeated predict costs a lookup and hands the input on without a copy when
nothing changes.

Where a rule depends on values (object columns go through ``infer_objects()``, int64 columns
into double need all 0/1, nullable dtypes may hold NA), the plan names the pandas operation to
run and is asked again about its result, exactly in mlflow's order.

Nested column types (array/object/map/any) are checked cell by cell by the native
``NestedType`` (Rust; scalars through ``_columns.scalars``); DataFrames under a tensor signature
by ``_native.frame_to_tensors``; params by the native ``ParamPlan``. Only scipy sparse matrices
and Spark DataFrames still go to mlflow's own function (when mlflow is installed).
Without mlflow, those parts pass unchanged with a one-time RuntimeWarning.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterator
from typing import Any

from . import _native
from . import exceptions as exc
from ._columns import Failure as _Failure
from ._columns import apply
from ._columns import fail as _fail
from ._dependencies import loaded, pandas, require
from ._dependencies import numpy as np

_logger = logging.getLogger("fastpyfunc")
_warned_no_mlflow = False
_CACHE_LIMIT = 64


class Enforcer:
    """Per-model enforcement state, built once at load."""

    def __init__(
        self,
        model_path: str,
        metadata: Any,
        loader_module: str | None,
        input_plan: _native.EnforcePlan | None = None,
        param_plan: Callable[[], _native.ParamPlan | None] | None = None,
    ) -> None:
        self._model_path = model_path
        self._meta = metadata
        self._loader_module = loader_module
        self._mlflow_schema: Any = None
        self._input_schema = metadata.get_input_schema() if metadata.signature is not None else None
        self._params_schema = metadata.get_params_schema() if metadata.signature is not None else None
        self._type_hints = metadata.signature is not None and metadata._is_signature_from_type_hint()
        # compiled from the signature parsed at load (ModelInfo.input_plan), else from the schema
        self._plan = (
            (input_plan or _native.EnforcePlan(self._input_schema.to_dict()))
            if self._input_schema is not None and not self._type_hints
            else None
        )
        # read once: the plan's getters would otherwise cross into Rust on every predict
        self._kind = self._plan.kind if self._plan is not None else None
        self._named = self._plan.named if self._plan is not None else False
        columns = self._kind == "columns"
        self._col_types = list(self._plan.types) if columns else []  # type: ignore[union-attr]
        self._col_required = [c.required for c in self._input_schema] if columns else []  # type: ignore[union-attr]
        # Names that are not all str (mlflow's infer_signature writes ``"name": 0`` for unnamed
        # columns): the native plan compares str(name), so label "0" would pass for name 0;
        # those labels are matched in Python by equality, as mlflow's sets do (see _odd_names).
        names = [c.name for c in self._input_schema] if columns and self._named else []  # type: ignore[union-attr]
        self._odd: list[tuple[Any, bool]] | None = (
            list(zip(names, self._col_required, strict=True))
            if any(not isinstance(n, str) for n in names)
            else None
        )
        self._dict_is_row = columns and self._plan.dict_is_row  # type: ignore[union-attr]
        # Built at load, as mlflow validates the defaults when it reads the MLmodel: a default
        # that does not fit its spec is a malformed model, not a failure of every predict.
        # ``param_plan`` (ModelInfo.param_plan) builds it from the signature parsed at load.
        self._param_plan_source = param_plan
        self._param_plan: _native.ParamPlan | None = (
            self._build_param_plan() if self._params_schema is not None else None
        )
        # (labels, dtypes) -> decisions; see _columns.
        self._decisions: dict[Any, Any] = {}
        # schema index -> the nested column's compiled type (see _nested)
        self._nested_types: dict[int, _native.NestedType] = {}

    # -- entry point --------------------------------------------------------------------------

    def __call__(self, data: Any, params: dict[str, Any] | None) -> tuple[Any, dict[str, Any] | None]:
        if self._plan is not None:
            data = self._inputs(data)
        return data, self._params(params)

    def arrow_input(self, data: Any) -> Any:
        """Arrow input that the native reader handed on, as the pandas DataFrame ``to_pandas()``
        gives (what the flavor's pandas rules read, with or without a signature)."""
        try:
            frame = arrow_to_pandas(data)
        except _Failure as f:
            raise self._schema_error(data, str(f), "input") from None
        return data if frame is None else frame

    def _inputs(self, data: Any) -> Any:
        try:
            if self._kind == "columns":
                return self._columns(data)
            return self._tensors(data)
        except _Failure as f:
            # key: the column or input at fault where the failure names one, else the schema
            raise self._schema_error(data, str(f), f.key or "signature.inputs") from None

    def _schema_error(self, data: Any, inner: str, key: str | None = None) -> exc.FastPyFuncError:
        if os.environ.get("MLFLOW_DISABLE_SCHEMA_DETAILS", "").strip().lower() in ("true", "1"):
            message = "Failed to enforce model input schema. Please check your input data."
        else:
            message = f"Failed to enforce schema of data '{data}' with schema '{self._schema_repr()}'. Error: {inner}"
        return exc.make(
            exc.SchemaEnforcementError,
            f"{self._model_path}: {message}",
            model_path=self._model_path,
            key=key,
            error_code="INVALID_PARAMETER_VALUE",
            error_class="SCHEMA_ENFORCEMENT_FAILED",
        )

    def _schema_repr(self) -> str:
        return repr(self._input_schema)  # the same text as mlflow's Schema repr

    # -- mlflow's own function, for the inputs not native yet (sparse, Spark) ------------------------

    def _delegate(self, data: Any) -> Any:
        if self._mlflow_schema is None:
            try:
                self._mlflow_schema = self._input_schema.as_mlflow()  # type: ignore[union-attr]
            except ImportError:
                _warn_no_mlflow()
                return data
        from mlflow.models.utils import _enforce_schema

        try:
            return _enforce_schema(data, self._mlflow_schema, self._loader_module)
        except Exception as e:  # mlflow wraps whatever its enforcement raises
            raise _Failure(str(e)) from e

    def _params(self, params: dict[str, Any] | None) -> dict[str, Any] | None:
        if self._params_schema is None:
            # mlflow's _enforce_params_schema without a schema: params are dropped, with a warning.
            if params in (None, {}):
                return params
            info = (
                f"Ignoring provided params: {list(params.keys())}"
                if isinstance(params, dict)
                else "Ignoring invalid params (not a dictionary)."
            )
            _logger.warning(
                "`params` can only be specified at inference time if the model signature "
                f"defines a params schema. This model does not define a params schema. {info}"
            )
            return {}
        if self._param_plan is None:
            self._param_plan = self._build_param_plan()
        try:
            return self._param_plan(params)
        except _native.ParamError as e:
            raise self.param_error(e) from e

    def param_error(self, e: _native.ParamError) -> exc.FastPyFuncError:
        """A ParamError (mlflow's message, the param at fault) as the exception predict raises."""
        return exc.make(
            exc.SchemaEnforcementError,
            f"{self._model_path}: {e}",
            model_path=self._model_path,
            key=getattr(e, "key", None) or "signature.params",
            error_code="INVALID_PARAMETER_VALUE",
        )

    def _build_param_plan(self) -> _native.ParamPlan:
        try:
            plan = self._param_plan_source() if self._param_plan_source is not None else None
            if plan is None:  # no ModelInfo (Spark's driver): from the schema's canonical form
                plan = _native.ParamPlan(self._params_schema.to_dict())  # type: ignore[union-attr]
            return plan
        except _native.ParamError as e:
            key = f"signature.params.{e.key}" if e.key else "signature.params"
            raise exc.make(
                exc.MalformedModelError,
                f"{self._model_path}: malformed MLmodel at key '{key}': {e}",
                model_path=self._model_path,
                key=key,
            ) from e

    # -- column schemas ----------------------------------------------------------------------------

    def _columns(self, data: Any) -> Any:
        pd = pandas
        if _is_spark(data):
            return self._delegate(data)
        df = _to_frame(pd, data, self._dict_is_row)
        columns = df.columns
        labels = columns.tolist()
        if not columns.is_unique:
            return self._delegate(df)
        if self._odd is not None:
            df = self._odd_names(df, labels)
            columns = df.columns
            labels = columns.tolist()
        elif self._named and not all(type(x) is str for x in labels):
            return self._delegate(df)
        dtypes = df.dtypes.tolist()
        key = (tuple(labels), tuple(dtypes))
        decided = self._decisions.get(key)
        if decided is None:
            decided = self._decide(labels, dtypes)
            if len(self._decisions) >= _CACHE_LIMIT:
                self._decisions.clear()
            self._decisions[key] = decided
        steps, extras, unchanged = decided
        _warn_extras(extras)
        if unchanged:
            return df  # right columns, order and dtypes: handed on as is, no copy
        out = {}
        plan = self._plan
        for schema_index, index, label, action in steps:
            with _keyed(label):
                series = df.iloc[:, index]
                if isinstance(
                    action, _native.ColumnAction.Nested
                ):  # cells one by one, as mlflow's _enforce_type
                    rules, required = self._nested(schema_index), self._col_required[schema_index]
                    out[label] = pd.Series(
                        [rules(obj, required) for obj in series], index=series.index, name=label
                    )
                    continue

                def decide(
                    dtype: Any, inferred: bool, i: int = schema_index, name: str = str(label)
                ) -> _native.ColumnAction:
                    return plan.column_action(i, name, dtype, inferred)  # type: ignore[union-attr]

                out[label] = apply(series, action, decide)
        return pd.DataFrame(out, copy=False)

    def _nested(self, index: int) -> _native.NestedType:
        """The nested column's type, compiled on its first use."""
        rules = self._nested_types.get(index)
        if rules is None:
            rules = self._nested_types[index] = _native.NestedType(self._col_types[index])
        return rules

    def _odd_names(self, df: Any, labels: list[Any]) -> Any:
        """mlflow's check of a schema with non-str names: labels match names by Python equality
        (0, 0.0 and np.int64(0) are name 0; "0" is not), in its words. Returns the matched
        columns under the schema's own names and in its order, extras dropped (with mlflow's
        warning), so the str-based plan then sees exactly the schema's names."""
        assert self._odd is not None
        present = set(labels)
        missing = [n for n, required in self._odd if required and n not in present]
        names = {n for n, _ in self._odd}
        extras = [x for x in labels if x not in names]
        if missing:
            message = f"Model is missing inputs {missing}."
            if extras:
                message += f" Note that there were extra inputs: {extras}."
            _fail(message, str(missing[0]))
        _warn_extras(extras)
        index = {x: i for i, x in enumerate(labels)}
        taken = [(n, index[n]) for n, _ in self._odd if n in present]
        out = df.iloc[:, [i for _, i in taken]]
        out.columns = [n for n, _ in taken]
        return out

    def _missing(self, given: list[str]) -> str | None:
        """The first required schema input that ``given`` lacks (the key of a missing-input error)."""
        present = set(given)
        names = self._input_schema.required_input_names() if self._input_schema is not None else []
        return next((str(n) for n in names if str(n) not in present), None)

    def _decide(self, labels: list[Any], dtypes: list[Any]) -> tuple[list[tuple], list[Any], bool]:
        plan = self._plan
        assert plan is not None
        try:
            take, extras, identity = plan.match_columns([str(x) for x in labels])
        except ValueError as e:
            _fail(str(e), self._missing([str(x) for x in labels]))
        steps = []
        for schema_index, index in take:
            label = labels[index]
            action = plan.column_action(schema_index, str(label), dtypes[index], False)
            steps.append((schema_index, index, label, action))
        # No columns taken: mlflow builds an empty frame (no rows), not the input.
        keep = _native.ColumnAction.Keep
        unchanged = identity and bool(steps) and all(isinstance(s[3], keep) for s in steps)
        extra_set = set(extras)
        extra_labels = [x for x in labels if str(x) in extra_set]  # as found in the input
        return steps, extra_labels, unchanged

    # -- tensor schemas ----------------------------------------------------------------------------

    def _tensors(self, data: Any) -> Any:
        plan = self._plan
        assert plan is not None
        pd = loaded("pandas")
        np = loaded("numpy")
        # ndarray first: the common call never asks whether its input is Arrow
        if not (np is not None and type(data) is np.ndarray):
            # Arrow (pyarrow, polars, any Arrow PyCapsule producer): the DataFrame mlflow's
            # rules read, as for column schemas (never a pandas object)
            frame = arrow_to_pandas(data)
            if frame is not None:
                data, pd = frame, loaded("pandas")
        if pd is not None and isinstance(data, pd.Series):
            data = pd.DataFrame(data)
        frame = pd is not None and isinstance(data, pd.DataFrame)
        if plan.named:
            names = plan.names
            if np is not None and len(names) == 1 and isinstance(data, np.ndarray):
                data = {names[0]: data}
            if frame or isinstance(data, dict):
                given = list(data.columns) if frame else list(data)
                # a non-str key never matches a name (as in mlflow); it is shown by its repr
                keys = [k if isinstance(k, str) else f"{k!r}" for k in given]
                try:
                    _, extras, _ = plan.match_columns(keys)
                except ValueError as e:
                    _fail(str(e), self._missing(keys))
                extra_set = set(extras)
                _warn_extras([g for g, k in zip(given, keys, strict=True) if k in extra_set])
            if frame:  # mlflow's per-column reshaping, in the core
                return _native.frame_to_tensors(plan, data)
            if not isinstance(data, dict):
                _fail(
                    "This model contains a tensor-based model signature with input names, which"
                    " suggests a dictionary input mapping input name to tensor, or a pandas"
                    " DataFrame input containing columns mapping input name to flattened list value"
                    f" from tensor, but an input of type {type(data)} was found."
                )
            out = {}
            for i, name in enumerate(names):
                value = data[name]
                if np is None or not isinstance(value, np.ndarray):
                    _fail(
                        "This model contains a tensor-based model signature with input names,"
                        " which suggests a dictionary input mapping input name to a numpy"
                        f" array, but a dict with value type {type(value)} was found.",
                        name,
                    )
                with _keyed(name):
                    self._check_tensor(i, value)
                out[name] = value
            return out
        if frame:  # one column reshaped, or several as df.to_numpy(): the core's rules
            return _native.frame_to_tensors(plan, data)
        if np is not None and isinstance(data, np.ndarray):
            self._check_tensor(0, data)
            return data  # checked, never copied
        if type(data).__module__.startswith("scipy.sparse"):
            return self._delegate(data)
        _fail(
            "This model contains a tensor-based model signature with no input names,"
            " which suggests a numpy array input or a pandas dataframe input with"
            f" proper column values, but an input of type {type(data)} was found."
        )

    def _check_tensor(self, index: int, arr: Any) -> None:
        error = self._plan.check_tensor(index, list(arr.shape), *_dtype_facts(arr.dtype))  # type: ignore[union-attr]
        if error is not None:
            _fail(error)


#: dtype -> (name for the plan, native byte order, str): NumPy computes ``dtype.name`` in Python
#: (about 5 µs), which dominated a small tensor predict.
_DTYPE_FACTS: dict[Any, tuple[str, bool, str]] = {}


def _dtype_facts(dt: Any) -> tuple[str, bool, str]:
    facts = _DTYPE_FACTS.get(dt)
    if facts is None:
        name = "str" if dt.char == "U" else "bytes" if dt.char == "S" else dt.name
        facts = (name, dt.isnative, str(dt))
        if len(_DTYPE_FACTS) < 256:  # str/bytes widths and datetime units vary without bound
            _DTYPE_FACTS[dt] = facts
    return facts


@contextlib.contextmanager
def _keyed(label: Any) -> Iterator[None]:
    """Names ``label`` as the key of a failure raised inside that does not name one."""
    try:
        yield
    except _Failure as f:
        if f.key is None:
            f.key = str(label)
        raise


def _warn_extras(extras: list[Any]) -> None:
    if extras:
        _logger.warning(
            "Found extra inputs in the model input that are not defined in the model "
            f"signature: `{extras}`. These inputs will be ignored."
        )


def _is_spark(data: Any) -> bool:
    return type(data).__module__.startswith("pyspark.")


def _is_scalar(np: Any, x: Any) -> bool:
    return np.isscalar(x) or x is None


def _to_frame(pd: Any, data: Any, dict_is_row: bool) -> Any:
    """mlflow's coercion of pyfunc input to a DataFrame for column schemas. pyarrow Tables and
    RecordBatches, and anything exporting an Arrow C stream (polars, DuckDB relations...), are
    accepted too (mlflow rejects them)."""
    if type(data) is pd.DataFrame:
        return data
    if isinstance(data, pd.Series):
        return pd.DataFrame(data)
    if np.isscalar(data):
        return pd.DataFrame([data])
    if isinstance(data, dict):
        if dict_is_row or all(
            _is_scalar(np, v) or (isinstance(v, list) and all(isinstance(i, str) for i in v))
            for v in data.values()
        ):
            return pd.DataFrame([data])
        try:
            if all(
                isinstance(v, np.ndarray) and v.dtype.type == np.str_ and v.size == 1 and v.shape == ()
                for v in data.values()
            ):
                return pd.DataFrame([data])
            if any(isinstance(v, np.ndarray) and v.ndim > 1 for v in data.values()):
                return pd.DataFrame(
                    {
                        k: (v.tolist() if isinstance(v, np.ndarray) and v.ndim > 1 else v)
                        for k, v in data.items()
                    }
                )
            return pd.DataFrame(data)
        except Exception as e:
            _fail(
                "This model contains a column-based signature, which suggests a DataFrame"
                f" input. There was an error casting the input data to a DataFrame: {e}"
            )
    if isinstance(data, (list, np.ndarray)):
        return pd.DataFrame(data)
    if isinstance(data, pd.DataFrame):
        return data
    frame = arrow_to_pandas(data)
    if frame is None:
        _fail(f"Expected input to be DataFrame. Found: {type(data).__name__}")
    return frame


def native_frame(data: Any, dict_is_row: bool) -> Any:
    """For the one native call: the DataFrame mlflow's enforcement makes of a Series, list,
    scalar or dict under a column signature, so the native reader reads it as any DataFrame.
    None for other inputs and for any coercion that fails: the Python path then words mlflow's
    error."""
    pd = loaded("pandas")
    if not (
        isinstance(data, (list, dict, str, bytes))
        or np.isscalar(data)
        or (pd is not None and isinstance(data, pd.Series))
    ):
        return None
    try:
        return _to_frame(
            require("pandas", "A column signature's list, dict or scalar input"), data, dict_is_row
        )
    except (_Failure, ImportError):
        return None


def arrow_to_pandas(data: Any) -> Any:
    """Arrow input as the pandas DataFrame mlflow's rules read; None for anything else (pandas
    objects included: a pandas 3 Series exports an Arrow stream too).

    A pyarrow Table/RecordBatch, or another producer's stream or array of records (a polars
    DataFrame, DuckDB relations...), is what ``to_pandas()`` gives. An array (a pyarrow Array or
    ChunkedArray, a polars Series, another producer's array of non-record type) is one column,
    as ``pd.DataFrame(array.to_pandas())`` makes of it, mlflow's rule for a Series: named after a
    polars Series, else unnamed (pandas labels it ``0``). The native reader reads them alike."""
    module, name = type(data).__module__, type(data).__name__
    if module.startswith("pandas"):
        return None
    if module.startswith("pyarrow") and name in ("Table", "RecordBatch"):
        return data.to_pandas()
    array, stream = hasattr(data, "__arrow_c_array__"), hasattr(data, "__arrow_c_stream__")
    if not (array or stream):
        return None
    pa = require("pyarrow", f"Input of type {name} (read through the Arrow PyCapsule interface)")
    polars_series = module.startswith("polars") and name == "Series"
    if not (polars_series or (module.startswith("pyarrow") and name.endswith("Array"))):
        try:
            return (pa.record_batch(data) if array else pa.table(data)).to_pandas()
        except (TypeError, ValueError, pa.ArrowException):  # not records: an array
            pass
    series = (pa.array(data) if array else pa.chunked_array(data)).to_pandas()
    if polars_series:
        series.name = data.name
    return pandas.DataFrame(series)


def _warn_no_mlflow() -> None:
    global _warned_no_mlflow
    if not _warned_no_mlflow:
        _warned_no_mlflow = True
        _logger.warning(
            "fastpyfunc: mlflow is not installed, so scipy sparse and Spark inputs (enforced by "
            "mlflow's own function) reach the model without signature enforcement."
        )
