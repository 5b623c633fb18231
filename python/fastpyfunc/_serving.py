"""mlflow's scoring protocol without mlflow: reading request files and writing predictions.

Mirrors ``mlflow.pyfunc.scoring_server`` (``_predict``, ``_parse_json_data``,
``predictions_to_json``) and ``mlflow.utils.proto_json_utils`` (``dataframe_from_parsed_json``,
``parse_tf_serving_input``, ``NumpyEncoder``) so that ``fastpyfunc predict`` reads the same files
and writes the same bytes as ``mlflow models predict --env-manager local``, without importing
mlflow. Parquet and Arrow IPC input and CSV/Parquet output are additions.
"""

from __future__ import annotations

import base64
import datetime
import io
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

from . import _native
from . import exceptions as exc
from ._columns import NUMPY_DTYPES as _NUMPY
from ._dependencies import loaded
from ._dependencies import numpy as np
from ._dependencies import pandas as pd
from ._dependencies import pyarrow as pa

SUPPORTED_FORMATS = ("dataframe_records", "dataframe_split", "instances", "inputs")
_LLM_KEYS = ("messages", "prompt", "input")
_REQUIRED = (
    "The input must be a JSON dictionary with exactly one of the input fields "
    "'dataframe_split', 'dataframe_records', 'instances' or 'inputs'"
)
#: content type -> file name endings that imply it
CONTENT_TYPES = {
    "json": (".json",),
    "csv": (".csv",),
    "parquet": (".parquet", ".pq"),
    "arrow": (".arrow", ".feather", ".ipc", ".arrows"),
}


class Request:
    """A parsed request: the data handed to ``predict``, its params, and whether the reply is
    unwrapped (mlflow's unified LLM input: ``messages``/``prompt``/``input`` at top level)."""

    def __init__(self, data: Any, params: dict[str, Any] | None, unwrapped: bool) -> None:
        self.data = data
        self.params = params
        self.unwrapped = unwrapped


def _bad(source: str, message: str, model_path: str | None) -> exc.FastPyFuncError:
    return exc.make(exc.InvalidInputError, f"{source}: {message}", model_path=model_path, key=source)


def content_type_for(path: str, given: str | None) -> str:
    """The content type named by ``given``, else implied by the file name (JSON for stdin)."""
    if given:
        kind = given.split(";")[0].strip().lower()
        kind = {
            "application/json": "json",
            "text/csv": "csv",
            "application/vnd.apache.parquet": "parquet",
        }.get(kind, kind)
        if kind not in CONTENT_TYPES:
            raise _bad(path, f"unknown content type {given!r} (use one of {', '.join(CONTENT_TYPES)})", None)
        return kind
    lower = path.lower()
    for kind, endings in CONTENT_TYPES.items():
        if lower.endswith(endings):
            return kind
    return "json"


def read_request(path: str, content_type: str | None, metadata: Any, model_path: str | None) -> Request:
    """Reads ``path`` (``-`` for stdin) as ``mlflow models predict`` reads its input file."""
    kind = content_type_for(path, content_type)
    source = "<stdin>" if path == "-" else path
    raw = _read_bytes(path, source, model_path)
    schema = metadata.get_input_schema() if metadata is not None else None
    if kind == "json":
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise _bad(source, f"input is not valid UTF-8 ({e})", model_path) from e
        return parse_json_request(text, metadata, schema, source, model_path)
    try:
        if kind == "csv":
            # mlflow's _predict reads CSV without the schema's dtypes (enforcement casts later)
            return Request(pd.read_csv(io.BytesIO(raw)), None, False)
        if kind == "parquet":
            return Request(pd.read_parquet(io.BytesIO(raw)), None, False)
        buf = pa.BufferReader(raw)
        try:
            table = pa.ipc.open_file(buf).read_all()
        except pa.ArrowInvalid:
            table = pa.ipc.open_stream(pa.BufferReader(raw)).read_all()
        return Request(table.to_pandas(), None, False)
    except exc.FastPyFuncError:
        raise
    except ImportError as e:
        raise exc.make(
            exc.EngineUnavailableError,
            f"{source}: reading {kind} input needs {e.name or 'pyarrow'}: pip install pyarrow",
            model_path=model_path,
            key=source,
        ) from e
    except Exception as e:
        raise _bad(source, f"not a valid {kind} file: {_one_line(e)}", model_path) from e


def _read_bytes(path: str, source: str, model_path: str | None) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise _bad(source, f"cannot read input file: {e.strerror or e}", model_path) from e


def _one_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


def parse_json_request(
    text: str, metadata: Any, schema: Any, source: str = "<input>", model_path: str | None = None
) -> Request:
    """mlflow's ``_parse_json_data``: the scoring JSON layouts, cast to the input schema."""
    try:
        decoded = json.loads(text)
    except json.JSONDecodeError as e:
        raise _bad(source, f"input is not valid JSON ({e})", model_path) from e
    if isinstance(decoded, list):
        raise _bad(source, f"{_REQUIRED}. Received a list.", model_path)
    if not isinstance(decoded, dict):
        raise _bad(source, f"{_REQUIRED}. Received {type(decoded).__name__}.", model_path)
    if any(k in decoded for k in _LLM_KEYS):
        params_schema = metadata.get_params_schema() if metadata is not None else None
        names = {p.name for p in params_schema.params} if params_schema else set()
        data = {k: v for k, v in decoded.items() if k not in names}
        return Request(data, {k: v for k, v in decoded.items() if k in names}, True)
    params = decoded.get("params")
    keys = [k for k in decoded if k in SUPPORTED_FORMATS]
    from_type_hint = metadata is not None and metadata._is_signature_from_type_hint()
    if from_type_hint:
        if "inputs" not in keys:
            raise _bad(
                source,
                "the model's signature comes from type hints: the request must have an 'inputs' key; "
                f"found keys {list(decoded)}",
                model_path,
            )
        return Request(decoded["inputs"], params, False)
    if len(keys) != 1:
        raise _bad(source, f"{_REQUIRED}. Received input fields {list(decoded)}.", model_path)
    key = keys[0]
    try:
        if key in ("instances", "inputs"):
            data = (
                _parse_instances(decoded[key], schema) if key == "instances" else _cast(decoded[key], schema)
            )
        else:
            data = _dataframe(decoded[key], key[len("dataframe_") :], schema)
    except _Invalid as e:
        raise _bad(source, str(e), model_path) from None
    return Request(data, params, False)


class _Invalid(Exception):
    """mlflow's MlflowInvalidInputException: the request does not parse."""


def _dataframe(decoded: Any, orient: str, schema: Any) -> Any:
    if orient == "records":
        if not isinstance(decoded, list):
            kind = "dictionary" if isinstance(decoded, dict) else f"type {type(decoded).__name__}"
            raise _Invalid(f"Dataframe records format must be a list of records. Got {kind}.")
        try:
            pdf = pd.DataFrame(data=decoded)
        except Exception as e:
            raise _Invalid(f"dataframe_records is not a valid 'records' dataframe: {_one_line(e)}") from e
    else:
        if not isinstance(decoded, dict):
            kind = "list" if isinstance(decoded, list) else f"type {type(decoded).__name__}"
            raise _Invalid(f"Dataframe split format must be a dictionary. Got {kind}.")
        keys = set(decoded)
        if "data" not in keys or keys - {"columns", "data", "index"}:
            raise _Invalid(
                "Dataframe split format must have 'data' field and optionally 'columns' and 'index' "
                f"fields. Got {sorted(keys)}."
            )
        try:
            pdf = pd.DataFrame(
                index=decoded.get("index"), columns=decoded.get("columns"), data=decoded["data"]
            )
        except Exception as e:
            raise _Invalid(f"dataframe_split is not a valid 'split' dataframe: {_one_line(e)}") from e
    return _cast_frame(pdf, schema) if schema is not None else pdf


def _cast_frame(pdf: Any, schema: Any) -> Any:
    """mlflow's ``cast_df_types_according_to_schema``."""
    from ._columns import Failure

    tensor = schema.is_tensor_spec()
    actual = set(pdf.columns)
    types = schema.input_types()
    if schema.has_input_names():
        pairs = list(zip(schema.input_names(), types, strict=True))
    elif tensor and len(types) == 1:
        pairs = [(c, types[0]) for c in actual]
    else:
        n = min(len(types), len(pdf.columns))
        pairs = list(zip(pdf.columns[:n], types[:n], strict=True))
    required = set(schema.required_input_names())
    for name, t in pairs:
        if name not in actual:
            continue
        scalar = not tensor and isinstance(t, str)
        col_type: Any = np.dtype(t) if tensor else (np.dtype(_NUMPY[t]) if scalar and t in _NUMPY else None)
        if scalar and t in ("string", "binary"):
            col_type = object
        try:
            if scalar and t == "binary":
                pdf[name] = pdf[name].map(lambda x: base64.decodebytes(bytes(x, "utf8")))
            elif tensor and col_type == np.dtype(bytes):
                pdf[name] = pdf[name].map(lambda x: bytes(x, "utf8"))
            elif tensor and isinstance(pdf[name].iloc[0], list):
                pass  # multidimensional cells: enforcement converts them
            elif not tensor and not scalar:
                if t["type"] == "any":
                    continue
                rules, req = _native.NestedType(t), name in required
                pdf[name] = pdf[name].map(lambda x, rules=rules, req=req: rules(x, req))
            elif scalar and t == "datetime":
                parsed = pd.to_datetime(pdf[name])
                if pd.api.types.is_datetime64_any_dtype(parsed) and getattr(parsed.dt, "unit", "ns") != "ns":
                    parsed = parsed.dt.as_unit("ns")
                pdf[name] = parsed
            else:
                if col_type is object and isinstance(pdf[name].dtype, pd.StringDtype):
                    continue
                pdf[name] = pdf[name].astype(col_type)
        except Failure as e:
            raise _Invalid(
                f"Data is not compatible with model signature. Failed to convert column {name} to type "
                f"'{_type_name(t)}'. Error: '{e}'"
            ) from e
        except Exception as e:
            raise _Invalid(
                f"Data is not compatible with model signature. Failed to convert column {name} to type "
                f"'{col_type if col_type is not None else _type_name(t)}'. Error: '{_one_line(e)}'"
            ) from e
    return pdf


def _type_name(t: Any) -> str:
    from ._schema import _type_repr

    return t if isinstance(t, str) else _type_repr(t)


def _convert(data: Any, spec: Any) -> Any:
    """mlflow's ``convert_data_type`` for one named input or the single unnamed one."""
    from ._columns import Failure, enforce_type
    from ._schema import TensorSpec

    try:
        if spec is None:
            return np.array(data)
        if isinstance(spec, TensorSpec):
            return np.array(data, dtype=spec.type)
        t = spec.type
        if isinstance(t, str):
            dtype = _NUMPY[t]
            return (
                np.array(data, dtype) if isinstance(data, (list, np.ndarray)) else np.array([data], dtype)[0]
            )
        if t["type"] == "array":
            return np.array(enforce_type(data, t, spec.required))
        if t["type"] in ("object", "map"):
            return enforce_type(data, t, spec.required)
        return data
    except Failure as e:  # mlflow's MlflowInvalidInputException words both "Invalid input. ..."
        raise _Invalid(f"Invalid input. {e}") from e
    except Exception as e:
        raise _Invalid(f"Invalid input. {_one_line(e)}") from e


def _cast(data: Any, schema: Any) -> Any:
    """mlflow's ``_cast_schema_type`` (the ``inputs`` layout)."""
    types = schema.input_dict() if schema is not None and schema.has_input_names() else {}
    if schema is not None:
        if len(types) == 1 and isinstance(data, list) and not any(isinstance(x, dict) for x in data):
            data = {next(iter(types)): data}
        elif not schema.has_input_names() and not (isinstance(data, list) or np.isscalar(data)):
            raise _Invalid(
                "This model has an unnamed signature, which expects a single n-dimensional array or a "
                f"single value as input, but the input is of type {type(data).__name__}."
            )
    if isinstance(data, dict):
        return {col: _convert(v, types.get(col)) for col, v in data.items()}
    first = schema.inputs[0] if schema is not None else None
    if isinstance(data, list) and all(isinstance(x, dict) for x in data):
        return [{col: _convert(v, types.get(col)) for col, v in row.items()} for row in data]
    return _convert(data, first)


def _parse_instances(data: Any, schema: Any) -> Any:
    """mlflow's ``parse_instances_data``: rows of named tensors become one array per name."""
    if isinstance(data, list) and data and isinstance(data[0], dict):
        types = schema.input_dict() if schema is not None and schema.has_input_names() else {}
        columns: dict[str, list[Any]] = {}
        for row in data:
            if not isinstance(row, dict):
                raise _Invalid(f"every instance must be an object when the first one is; got {row!r}")
            for col, v in row.items():
                columns.setdefault(col, []).append(_convert(v, types.get(col)))
        data = {col: np.array(v) for col, v in columns.items()}
    else:
        data = _cast(data, schema)
    if isinstance(data, dict):
        sized = {k: v for k, v in data.items() if isinstance(v, (list, np.ndarray))}
        if schema is not None and schema.has_input_names():
            arrays = {
                n
                for n, s in schema.input_dict().items()
                if isinstance(s.type, dict) and s.type["type"] == "array"
            }
            check = [c for c in schema.required_input_names() if c in sized and c not in arrays]
        else:
            check = list(sized)
        if check and any(len(sized[c]) != len(sized[check[0]]) for c in check[1:]):
            raise _Invalid("The length of values for each input/column name are not the same")
    return data


# -- output ----------------------------------------------------------------------------------


def _jsonable(data: Any) -> Any:
    """mlflow's ``_get_jsonable_obj`` (records orientation)."""
    pd = loaded("pandas")
    np = loaded("numpy")
    if np is not None and isinstance(data, np.ndarray):
        return data.tolist()
    if pd is not None and isinstance(data, pd.DataFrame):
        return data.to_dict(orient="records")
    if pd is not None and isinstance(data, pd.Series):
        return pd.DataFrame(data).to_dict(orient="records")
    return data


class _Encoder(json.JSONEncoder):
    """mlflow's ``NumpyEncoder``."""

    def _convert(self, o: Any) -> tuple[Any, bool]:
        np = loaded("numpy")
        pd = loaded("pandas")
        if np is not None and isinstance(o, np.ndarray):
            if o.dtype == object:
                return [self._convert(x)[0] for x in o.tolist()], True
            if o.dtype == np.bytes_:
                return np.vectorize(_b64)(o), True
            return o.tolist(), True
        if np is not None and isinstance(o, np.generic):
            return o.item(), True
        if isinstance(o, (bytes, bytearray)):
            return _b64(o), True
        if np is not None and isinstance(o, np.datetime64):
            return np.datetime_as_string(o), True
        if isinstance(o, (datetime.date, datetime.datetime, datetime.time)) or (
            pd is not None and isinstance(o, pd.Timestamp)
        ):
            return o.isoformat(), True
        pydantic = loaded("pydantic")
        if pydantic is not None and isinstance(o, pydantic.BaseModel):
            return o.model_dump(), True
        return o, False

    def default(self, o: Any) -> Any:
        value, converted = self._convert(o)
        return value if converted else super().default(o)


def _b64(x: bytes | bytearray) -> str:
    return base64.encodebytes(bytes(x)).decode("ascii")


def write_json(raw: Any, out: IO[str], unwrapped: bool = False) -> None:
    """mlflow's ``predictions_to_json`` (or the unwrapped LLM reply): same bytes."""
    payload = _jsonable(raw) if unwrapped else {"predictions": _jsonable(raw)}
    json.dump(payload, out, cls=_Encoder)


def output_kind(path: str) -> str:
    lower = path.lower()
    if lower.endswith(".csv"):
        return "csv"
    if lower.endswith((".parquet", ".pq")):
        return "parquet"
    return "json"


def to_frame(raw: Any) -> Any:
    """Predictions as a DataFrame (for CSV/Parquet output): columns named as strings."""
    if isinstance(raw, pd.DataFrame):
        frame = raw
    elif isinstance(raw, pd.Series):
        frame = raw.to_frame(raw.name if raw.name is not None else "predictions")
    elif isinstance(raw, np.ndarray) and raw.ndim <= 2:
        frame = pd.DataFrame(raw.reshape(len(raw), -1) if raw.ndim else raw.reshape(1, 1))
        if raw.ndim <= 1:
            frame.columns = ["predictions"]
    elif isinstance(raw, dict):
        frame = pd.DataFrame(
            {k: list(v) if isinstance(v, np.ndarray) and v.ndim > 1 else v for k, v in raw.items()}
        )
    elif isinstance(raw, list):
        frame = pd.DataFrame({"predictions": raw})
    else:
        raise TypeError(f"predictions of type {type(raw).__name__} do not form a table")
    frame = frame.copy(deep=False)
    frame.columns = [str(c) for c in frame.columns]
    return frame


@contextmanager
def serving_environment() -> Iterator[None]:
    """mlflow's ``_simulate_serving_environment``: models may read this variable."""
    name = "_MLFLOW_IS_IN_SERVING_ENVIRONMENT"
    old = os.environ.get(name)
    os.environ[name] = "true"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = old
