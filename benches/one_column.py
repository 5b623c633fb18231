"""One column under a vector tensor signature: fastpyfunc vs mlflow.pyfunc vs onnxruntime.

    PYTHONPATH=python .venv/bin/python benches/one_column.py [--calls N]

The model: the `onnx` flavor, an identity on a float64 `[N]` input, saved with a `(-1,)` float64
TensorSpec. Inputs: a one-column DataFrame, a Series and a pyarrow Array (1 and 10,000 rows); the
raw baseline is `InferenceSession.run` on the column's ndarray. Per-call medians of 7 rounds, the
three side by side in one process (mlflow rejects Arrow arrays).
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any


def _median_call(fn: Any, data: Any, calls: int) -> float | None:
    try:
        fn(data)
    except Exception:  # noqa: BLE001 - a refusal is reported as such
        return None
    for _ in range(min(calls, 50)):
        fn(data)
    rounds = []
    for _ in range(7):
        t = time.perf_counter()
        for _ in range(calls):
            fn(data)
        rounds.append((time.perf_counter() - t) / calls)
    return statistics.median(rounds)


def run(quick: bool = False, calls: int = 300) -> dict[str, Any]:
    """The table's rows: (input, rows, fastpyfunc, mlflow, onnxruntime), seconds or None."""
    calls = 30 if quick else calls
    logging.disable(logging.WARNING)
    warnings.filterwarnings("ignore")
    import mlflow
    import numpy as np
    import onnxruntime as ort
    import pandas as pd
    import pyarrow as pa
    from mlflow.models import ModelSignature
    from mlflow.types import Schema, TensorSpec
    from onnx import TensorProto, helper

    import fastpyfunc

    g = helper.make_graph(
        [helper.make_node("Identity", ["X"], ["Y"])],
        "g",
        [helper.make_tensor_value_info("X", TensorProto.DOUBLE, [None])],
        [helper.make_tensor_value_info("Y", TensorProto.DOUBLE, [None])],
    )
    onx = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    path = str(Path(tempfile.mkdtemp()) / "vector")
    signature = ModelSignature(inputs=Schema([TensorSpec(np.dtype("float64"), (-1,))]))
    mlflow.onnx.save_model(onx, path, signature=signature, onnx_execution_providers=["CPUExecutionProvider"])
    ours, theirs = fastpyfunc.load_model(path), mlflow.pyfunc.load_model(path)
    session = ort.InferenceSession(path + "/model.onnx", providers=["CPUExecutionProvider"])

    rows_out = []
    for rows in (1, 10_000):
        values = np.random.default_rng(0).random(rows)
        raw = _median_call(lambda x: session.run(None, {"X": x}), values, calls)
        for kind, data in (
            ("one-column DataFrame", pd.DataFrame({"x": values})),
            ("Series", pd.Series(values)),
            ("pyarrow Array", pa.array(values)),
        ):
            mine = _median_call(ours.predict, data, calls)
            rows_out.append((kind, rows, mine, _median_call(theirs.predict, data, calls), raw))
    return {"rows": rows_out}


def print_tables(res: dict[str, Any]) -> None:
    def fmt(s: float | None) -> str:
        return "rejected" if s is None else f"{s * 1e6:.1f} µs"

    print(
        "| input | rows | fastpyfunc | mlflow.pyfunc | onnxruntime on the ndarray | fastpyfunc / onnxruntime |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for kind, rows, mine, mlflows, raw in res["rows"]:
        ratio = f"{mine / raw:.2f}" if mine is not None and raw else "-"
        print(f"| {kind} | {rows:,} | {fmt(mine)} | {fmt(mlflows)} | {fmt(raw)} | {ratio} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    print_tables(run(calls=parser.parse_args().calls))


if __name__ == "__main__":
    main()
