"""The native predict path per input kind: fastpyfunc vs mlflow.pyfunc vs onnxruntime by hand.

    .venv/bin/python benches/predict_path.py [--quick]

The issue-12 model: the `onnx` flavor, a column signature of 5 named doubles over one [-1, 5]
float input (Y = the row sum). Inputs: a pandas DataFrame, a pyarrow Table, a list of row dicts
(what a JSON API hands over; by hand: the rows' values into a float32 array), and for the tensor
signature ([-1, 5] float32, same graph) an ndarray. The raw baselines are onnxruntime's own
Python API: `InferenceSession.run` on a ready float32 ndarray, and the hand-written Arrow path
(`np.column_stack` of the table's columns, cast to float32, run). Per-call medians, each
implementation in its own process, processes alternating (median of the rounds). Peak memory:
growth of peak RSS (VmHWM, reset just before) during one predict on 1,000,000 rows already held.
"""

from __future__ import annotations

import json
import statistics
import tempfile
from pathlib import Path
from typing import Any

from common import fmt_seconds, main, run_code

NAMES = ["fastpyfunc", "mlflow.pyfunc", "onnxruntime by hand"]
CASES = [  # (input kind, rows, calls)
    ("pandas", 1, 3000),
    ("arrow", 1, 3000),
    ("ndarray-tensor", 1, 3000),
    ("records", 1, 1000),
    ("pandas", 10_000, 300),
    ("arrow", 10_000, 300),
    ("ndarray-tensor", 10_000, 300),
    ("pandas", 1_000_000, 10),
    ("arrow", 1_000_000, 10),
    ("ndarray-tensor", 1_000_000, 10),
]


def make_models(root: Path) -> dict[str, str]:
    import mlflow
    import numpy as np
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema, TensorSpec
    from onnx import TensorProto, helper

    g = helper.make_graph(
        [helper.make_node("ReduceSum", ["X", "axes"], ["Y"], keepdims=0)],
        "g",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, 5])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [None])],
        initializer=[helper.make_tensor("axes", TensorProto.INT64, [1], [1])],
    )
    onx = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    cols = Schema([ColSpec("double", f"f{i}") for i in range(5)])
    tens = Schema([TensorSpec(np.dtype("float32"), (-1, 5))])
    out = {}
    for name, schema in (("columns", cols), ("tensor", tens)):
        mlflow.onnx.save_model(
            onx,
            str(root / name),
            signature=ModelSignature(inputs=schema),
            onnx_execution_providers=["CPUExecutionProvider"],
        )
        out[name] = str(root / name)
    return out


_CODE = """
import json, logging, statistics, sys, time
logging.disable(logging.WARNING)
import numpy as np, pandas as pd, pyarrow as pa
which, cols_path, tens_path, plan = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
names = [f"f{i}" for i in range(5)]
if which == "fastpyfunc":
    import fastpyfunc
    cm, tm = fastpyfunc.load_model(cols_path), fastpyfunc.load_model(tens_path)
    fns = {"pandas": cm.predict, "arrow": cm.predict, "ndarray-tensor": tm.predict, "records": cm.predict}
elif which == "mlflow.pyfunc":
    import mlflow.pyfunc
    cm, tm = mlflow.pyfunc.load_model(cols_path), mlflow.pyfunc.load_model(tens_path)
    fns = {"pandas": cm.predict, "ndarray-tensor": tm.predict, "records": cm.predict}  # mlflow rejects Arrow
else:
    import onnxruntime
    s = onnxruntime.InferenceSession(cols_path + "/model.onnx", providers=["CPUExecutionProvider"])
    run = lambda x: s.run(None, {"X": x})
    fns = {
        "pandas": lambda df: run(df.to_numpy(np.float32)),
        "arrow": lambda t: run(np.column_stack([t.column(n).to_numpy() for n in names]).astype(np.float32)),
        "ndarray-tensor": run,
        "records": lambda recs: run(np.array([[r[n] for n in names] for r in recs], dtype=np.float32)),
    }
rng = np.random.default_rng(0)
def data(kind, rows):
    x = rng.random((rows, 5))
    if kind == "ndarray-tensor":
        return x.astype(np.float32)
    df = pd.DataFrame(x, columns=names)
    if kind == "records":
        return df.to_dict("records")
    return pa.Table.from_pandas(df, preserve_index=False) if kind == "arrow" else df
clock = time.perf_counter_ns
out = {}
for kind, rows, calls in plan:
    if kind not in fns:
        continue
    x, f = data(kind, rows), fns[kind]
    f(x)
    samples = []
    for _ in range(calls):
        t = clock()
        f(x)
        samples.append(clock() - t)
    out[f"{kind}:{rows}"] = statistics.median(samples) / 1e9
print(json.dumps(out))
"""

_MEMORY = """
import sys, logging
logging.disable(logging.WARNING)
import numpy as np, pandas as pd, pyarrow as pa
which, kind, path = sys.argv[1], sys.argv[2], sys.argv[3]
def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
names = [f"f{i}" for i in range(5)]
df = pd.DataFrame(np.random.default_rng(0).random((1_000_000, 5)), columns=names)
x = pa.Table.from_pandas(df, preserve_index=False) if kind == "arrow" else df
if which == "fastpyfunc":
    import fastpyfunc
    f = fastpyfunc.load_model(path).predict
elif which == "mlflow.pyfunc":
    import mlflow.pyfunc
    f = mlflow.pyfunc.load_model(path).predict
else:
    import onnxruntime
    s = onnxruntime.InferenceSession(path + "/model.onnx", providers=["CPUExecutionProvider"])
    f = (lambda t: s.run(None, {"X": np.column_stack([t.column(n).to_numpy() for n in names]).astype(np.float32)})) \\
        if kind == "arrow" else (lambda d: s.run(None, {"X": d.to_numpy(np.float32)}))
f(x.slice(0, 10) if kind == "arrow" else x.head(10))
open("/proc/self/clear_refs", "w").write("5")
before = status("VmRSS")
f(x)
print(status("VmHWM") - before)
"""


def run(quick: bool = False) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        paths = make_models(Path(tmp))
        plan = [(k, r, max(3, c // 10) if quick else c) for k, r, c in CASES]
        samples: dict[str, dict[str, list[float]]] = {}
        for _ in range(1 if quick else 3):
            for name in NAMES:
                res = json.loads(run_code(_CODE, name, paths["columns"], paths["tensor"], json.dumps(plan)))
                for case, sec in res.items():
                    samples.setdefault(case, {}).setdefault(name, []).append(sec)
        latency = {c: {n: statistics.median(v) for n, v in by.items()} for c, by in samples.items()}
        memory = {
            kind: {
                name: int(run_code(_MEMORY, name, kind, paths["columns"]))
                for name in NAMES
                if not (kind == "arrow" and name == "mlflow.pyfunc")  # mlflow rejects Arrow
            }
            for kind in ("pandas", "arrow")
        }
    return {"latency": latency, "memory": memory}


def print_tables(res: dict[str, Any]) -> None:
    print("\nONNX, 5 double columns -> one [-1,5] float input: per-call median latency\n")
    print("| input | rows | fastpyfunc | mlflow.pyfunc | onnxruntime by hand | fastpyfunc / by hand |")
    print("|---|---:|---:|---:|---:|---:|")
    for case, t in res["latency"].items():
        kind, rows = case.split(":")
        ours, raw = t["fastpyfunc"], t["onnxruntime by hand"]
        theirs = fmt_seconds(t["mlflow.pyfunc"]) if "mlflow.pyfunc" in t else "rejected"
        print(
            f"| {kind} | {int(rows):,} | {fmt_seconds(ours)} | {theirs} | {fmt_seconds(raw)} | {ours / raw:.2f} |"
        )
    lat = res["latency"]
    if "arrow:1000000" in lat and "ndarray-tensor:1000000" in lat:
        arrow, nd = lat["arrow:1000000"]["fastpyfunc"], lat["ndarray-tensor:1000000"]["onnxruntime by hand"]
        print(
            f"\nArrow Table, 1,000,000 rows, fastpyfunc / InferenceSession.run on the ready [N,5] float32 "
            f"ndarray: {arrow / nd:.2f}x (target <= 1.1x)"
        )
    print(
        "\nPeak RSS growth during one predict on 1,000,000 rows x 5 doubles (input held; [N,5] float32 = 19.1 MiB)\n"
    )
    print("| input | " + " | ".join(NAMES) + " |")
    print("|---|" + "---:|" * len(NAMES))
    for kind, by in res["memory"].items():
        cells = (f"{by[n] / 2**20:.1f} MiB" if n in by else "rejected" for n in NAMES)
        print(f"| {kind} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main(run, print_tables, "predict_path")
