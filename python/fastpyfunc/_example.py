"""Reading the input example saved with a model (``saved_input_example_info``)."""

from __future__ import annotations

import json
import os
from typing import Any


def read_input_example(meta: Any, root: str) -> Any:
    """mlflow's ``Model.load_input_example``: mlflow's own reader where mlflow is installed (so
    the schema-driven conversions are identical), a plain reader otherwise."""
    info = meta.saved_input_example_info
    if not info:
        return None
    try:
        from mlflow.models.utils import _read_example
    except ImportError:
        return _read_plain(meta, info, root)
    return _read_example(meta.as_mlflow(), root)


def _read_plain(meta: Any, info: dict[str, Any], root: str) -> Any:
    with open(os.path.join(root, info["artifact_path"])) as f:
        example = json.load(f)
    if info.get("params"):
        example = example["inputs"]
    kind = info.get("type")
    schema = meta.get_input_schema()
    if kind == "json_object":
        return example
    if kind == "dataframe":
        import pandas as pd

        df = pd.DataFrame(index=example.get("index"), columns=example.get("columns"), data=example["data"])
        if schema is not None and schema.has_input_names() and not schema.is_tensor_spec():
            numpy = {
                "boolean": "bool",
                "integer": "int32",
                "long": "int64",
                "float": "float32",
                "double": "float64",
            }
            for spec in schema.inputs:
                if spec.name in df.columns and isinstance(spec.type, str) and spec.type in numpy:
                    df[spec.name] = df[spec.name].astype(numpy[spec.type])
        return df
    if kind == "ndarray":
        import numpy as np

        data = example.get("inputs", example) if isinstance(example, dict) else example
        if schema is not None and schema.is_tensor_spec():
            if isinstance(data, dict):
                types = {s.name: s.type for s in schema.inputs}
                return {k: np.array(v, dtype=types.get(k)) for k, v in data.items()}
            return np.array(data, dtype=schema.inputs[0].type)
        return np.array(data)
    if kind in ("sparse_matrix_csc", "sparse_matrix_csr"):
        from scipy.sparse import csc_matrix, csr_matrix

        cls = csc_matrix if kind == "sparse_matrix_csc" else csr_matrix
        return cls((example["data"], example["indices"], example["indptr"]), shape=tuple(example["shape"]))
    raise ValueError(f"unknown input example type {kind!r}")
