"""What the one copy costs against the engine's run: 1,000,000 Arrow rows, models of growing work.

    PYTHONPATH=python .venv/bin/python benches/copy_share.py [--rows N] [--calls N]

Issue 12 asks that a 1,000,000-row Arrow Table (5 float64 columns under a column signature, one
`[-1, 5]` float32 input) predict in at most 1.1x `InferenceSession.run` on the ready float32
`[N, 5]` array, and that the 5 columns cost exactly one copy. That copy (float64 -> float32, 40 MB
read and 20 MB written) is a fixed cost per row, so the ratio depends on how much the model
does with each row: for the issue's model (one ReduceSum) the run is shorter than the copy. This
measures the same input into that model and into MLPs (5 -> h -> 1, ReLU) of growing width h,
fastpyfunc's `predict` on the Table against `run` on the ready array, side by side in one
process, per-call medians of alternating rounds.
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


def _graph(hidden: int | None) -> Any:
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    x = helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, 5])
    if hidden is None:  # issue 12's model: Y = the row sum
        nodes = [helper.make_node("ReduceSum", ["X", "axes"], ["Y"], keepdims=0)]
        inits = [helper.make_tensor("axes", TensorProto.INT64, [1], [1])]
        y = helper.make_tensor_value_info("Y", TensorProto.FLOAT, [None])
    else:
        rng = np.random.default_rng(0)
        w1 = numpy_helper.from_array(rng.normal(size=(5, hidden)).astype(np.float32), "W1")
        w2 = numpy_helper.from_array(rng.normal(size=(hidden, 1)).astype(np.float32), "W2")
        nodes = [
            helper.make_node("MatMul", ["X", "W1"], ["H"]),
            helper.make_node("Relu", ["H"], ["R"]),
            helper.make_node("MatMul", ["R", "W2"], ["Y"]),
        ]
        inits = [w1, w2]
        y = helper.make_tensor_value_info("Y", TensorProto.FLOAT, [None, 1])
    g = helper.make_graph(nodes, "g", [x], [y], initializer=inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def run(quick: bool = False, rows: int = 1_000_000, calls: int = 15) -> dict[str, Any]:
    """Per model: (name, fastpyfunc seconds, onnxruntime seconds on the ready array)."""
    calls = 3 if quick else calls
    logging.disable(logging.WARNING)
    warnings.filterwarnings("ignore")
    import mlflow
    import numpy as np
    import onnxruntime as ort
    import pandas as pd
    import pyarrow as pa
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    import fastpyfunc

    names = [f"f{i}" for i in range(5)]
    x = np.random.default_rng(0).random((rows, 5))
    table = pa.Table.from_pandas(pd.DataFrame(x, columns=names), preserve_index=False)
    ready = x.astype(np.float32)
    signature = ModelSignature(inputs=Schema([ColSpec("double", n) for n in names]))
    out = []
    root = Path(tempfile.mkdtemp())
    for label, hidden in (("ReduceSum (issue 12's model)", None), ("MLP h=16", 16), ("MLP h=64", 64)):
        path = str(root / (label.split()[0] + str(hidden)))
        mlflow.onnx.save_model(
            _graph(hidden), path, signature=signature, onnx_execution_providers=["CPUExecutionProvider"]
        )
        ours = fastpyfunc.load_model(path)
        session = ort.InferenceSession(path + "/model.onnx", providers=["CPUExecutionProvider"])
        mine: list[float] = []
        raw: list[float] = []
        fns = (
            (mine, lambda m=ours: m.predict(table)),
            (raw, lambda s=session: s.run(None, {"X": ready})),
        )
        for _, fn in fns:
            fn()
        for _ in range(calls):  # alternating, so both see the same machine
            for samples, fn in fns:
                t = time.perf_counter()
                fn()
                samples.append(time.perf_counter() - t)
        out.append((label, statistics.median(mine), statistics.median(raw)))
    return {"rows": rows, "models": out}


def print_tables(res: dict[str, Any]) -> None:
    print(f"\nArrow Table of {res['rows']:,} rows x 5 doubles, column signature, one [-1, 5] float input\n")
    print("| model | fastpyfunc on the Table | run on the ready float32 array | ratio | difference |")
    print("|---|---:|---:|---:|---:|")
    for label, mine, raw in res["models"]:
        print(
            f"| {label} | {mine * 1e3:.2f} ms | {raw * 1e3:.2f} ms | {mine / raw:.2f} | "
            f"{(mine - raw) * 1e3:.2f} ms |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--calls", type=int, default=15)
    args = parser.parse_args()
    print_tables(run(rows=args.rows, calls=args.calls))


if __name__ == "__main__":
    main()
