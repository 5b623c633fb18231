"""Reading the input example saved with a model (``saved_input_example_info``).

mlflow's ``Model.load_input_example`` (``mlflow.models.utils._read_example``), without importing
mlflow for the examples most models have: DataFrames of scalar columns, arrays, JSON objects and
sparse matrices are read here with mlflow's exact steps (importing mlflow would cost seconds). An
example whose conversion needs mlflow's nested-type rules (Array/Object/Map columns, binary and
datetime columns) is read by mlflow's own function where mlflow is installed.
"""

from __future__ import annotations

import json
import os
from typing import Any

from ._dependencies import numpy as np
from ._dependencies import pandas as pd

_KINDS = ("dataframe", "ndarray", "sparse_matrix_csc", "sparse_matrix_csr", "json_object")
#: ``DataType.to_numpy()`` / ``to_pandas()`` of the scalar types read here.
_NUMPY = {
    "boolean": "bool",
    "integer": "int32",
    "long": "int64",
    "float": "float32",
    "double": "float64",
    "string": "object",
}


def read_input_example(meta: Any, root: str) -> Any:
    """The example as mlflow's ``_read_example`` returns it (None when there is none)."""
    info = meta.saved_input_example_info
    if not info:
        return None
    kind = info.get("type")
    if kind not in _KINDS:
        raise ValueError(f"This version of mlflow can not load example of type {kind}")
    schema = meta.get_input_schema()
    if kind in ("dataframe", "ndarray") and not _plain_types(schema):
        try:
            from mlflow.models.utils import _read_example
        except ImportError:
            pass  # the plain reader's conversion is the best there is without mlflow
        else:
            return _read_example(meta.as_mlflow(), root)
    with open(os.path.join(root, info["artifact_path"])) as f:
        example = json.load(f)
    if info.get("params"):
        example = example["inputs"]
    if kind == "json_object":
        return example
    if kind == "dataframe":
        return _dataframe(example, schema)
    if kind == "ndarray":
        return _ndarray(example, schema)
    from scipy.sparse import csc_matrix, csr_matrix

    cls = csc_matrix if kind == "sparse_matrix_csc" else csr_matrix
    return cls((example["data"], example["indices"], example["indptr"]), shape=tuple(example["shape"]))


def _plain_types(schema: Any) -> bool:
    """Whether every type of ``schema`` converts with a plain numpy/pandas cast."""
    if schema is None:
        return True
    if schema.is_tensor_spec():
        return all(t not in ("bytes", "object") for t in schema.input_types())
    return all(isinstance(t, str) and t in _NUMPY for t in schema.input_types())


def _dtype(schema: Any, t: Any) -> Any:
    return np.dtype(t if schema.is_tensor_spec() else _NUMPY[t])


def _dataframe(example: Any, schema: Any) -> Any:
    """``dataframe_from_parsed_json(example, "split", schema)`` for plain types."""
    if not isinstance(example, dict) or "data" not in example:
        raise ValueError("Dataframe split format must be a dictionary with a 'data' field")
    pdf = pd.DataFrame(index=example.get("index"), columns=example.get("columns"), data=example["data"])
    if schema is None:
        return pdf
    # cast_df_types_according_to_schema, step by step
    actual = set(pdf.columns)
    types = schema.input_types()
    if schema.has_input_names():
        pairs = list(zip(schema.input_names(), types, strict=True))
    elif schema.is_tensor_spec() and len(types) == 1:
        pairs = [(c, types[0]) for c in actual]
    else:
        n = min(len(types), len(pdf.columns))
        pairs = list(zip(pdf.columns[:n], types[:n], strict=True))
    for name, t in pairs:
        if name not in actual:
            continue
        dtype = _dtype(schema, t)
        column = pdf[name]
        if schema.is_tensor_spec() and isinstance(column.iloc[0], list):
            continue  # multidimensional cells: left to enforcement, as mlflow does
        if dtype.kind in ("O", "U") and isinstance(column.dtype, pd.StringDtype):
            continue  # pandas 3 strings stay StringDtype, as in mlflow
        pdf[name] = column.astype(dtype)
    return pdf


def _ndarray(example: Any, schema: Any) -> Any:
    """``parse_inputs_data(example, schema)`` (mlflow's ``_cast_schema_type``) for plain types."""
    if schema is None:
        return (
            {k: np.array(v) for k, v in example.items()} if isinstance(example, dict) else np.array(example)
        )
    named = schema.has_input_names()
    specs = schema.input_dict() if named else {}
    if len(specs) == 1 and isinstance(example, list) and not any(isinstance(x, dict) for x in example):
        example = {next(iter(specs)): example}
    elif not named and not (isinstance(example, list) or np.isscalar(example)):
        raise ValueError("an un-named model signature expects a single n-dimensional array or value")

    def convert(data: Any, spec: Any) -> Any:
        if spec is None:
            return np.array(data)
        dtype = _dtype(schema, spec.type)
        if schema.is_tensor_spec() or isinstance(data, (list, np.ndarray)):
            return np.array(data, dtype)
        return np.array([data], dtype)[0]

    if isinstance(example, dict):
        return {k: convert(v, specs.get(k)) for k, v in example.items()}
    if isinstance(example, list) and all(isinstance(x, dict) for x in example):
        return [{k: convert(v, specs.get(k)) for k, v in row.items()} for row in example]
    return convert(example, schema.inputs[0])
