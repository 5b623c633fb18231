"""ONNX: fastpyfunc's native engine vs mlflow.pyfunc vs onnxruntime's own Python API, side by side.

    .venv/bin/python benches/onnx_engine.py [--quick]

The model: scikit-learn LinearRegression on 20 float32 features, converted with skl2onnx and saved
by mlflow without a signature (signature enforcement is measured separately). Every
implementation uses onnxruntime's default session settings. Latency: per-call median over many
calls, each implementation in its own process, the processes alternating three times (median of
the three). Peak memory: each implementation in a fresh process; the growth of peak RSS (VmHWM,
reset just before) during one predict on 1,000,000 x 20 float32 rows already in memory.
"""

from __future__ import annotations

import json
import logging
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from common import fmt_seconds, main, run_code, setup

FEATURES = 20
NAMES = ["fastpyfunc", "mlflow.pyfunc", "onnxruntime (Python)"]
# batch rows -> calls per process
BATCHES = {1: 5000, 100: 3000, 10_000: 300, 1_000_000: 20}


def make_model(root: Path) -> Path:
    import mlflow
    import numpy as np
    from skl2onnx import to_onnx
    from sklearn.linear_model import LinearRegression

    rng = np.random.default_rng(0)
    X = rng.random((1000, FEATURES), dtype=np.float32)
    y = X @ rng.random(FEATURES, dtype=np.float32)
    onx = to_onnx(LinearRegression().fit(X, y), X[:1], target_opset=17)
    path = root / "onnx-linear"
    mlflow.onnx.save_model(onx, str(path), onnx_execution_providers=["CPUExecutionProvider"])
    return path


_SETUP = setup(
    """
import onnxruntime
s = onnxruntime.InferenceSession(path + "/model.onnx", providers=["CPUExecutionProvider"])
predict = lambda x: s.run(None, {"X": x})
"""
)

_LATENCY_CODE = (
    _SETUP
    + """
import json, statistics, time
plan = json.loads(sys.argv[3])
rng = np.random.default_rng(1)
clock = time.perf_counter_ns
out = {}
for rows, calls in plan:
    x = rng.random((rows, FEATURES), dtype=np.float32)
    predict(x)
    samples = []
    for _ in range(calls):
        t = clock()
        predict(x)
        samples.append(clock() - t)
    out[rows] = statistics.median(samples) / 1e9
print(json.dumps(out))
""".replace("FEATURES", str(FEATURES))
)


def latency(path: Path, reps: int, quick: bool) -> dict[int, dict[str, float]]:
    """Per-call median seconds for each implementation and batch size. Each implementation runs
    in its own process (onnxruntime thread pools of one would otherwise spin on the cores the next
    one is measured on), the processes alternating `reps` times; the result is the median."""
    plan = [(rows, max(1, calls // 10) if quick else calls) for rows, calls in BATCHES.items()]
    samples: dict[int, dict[str, list[float]]] = {rows: {n: [] for n in NAMES} for rows in BATCHES}
    for _ in range(reps):
        for name in NAMES:
            res = json.loads(run_code(_LATENCY_CODE, name, str(path), json.dumps(plan)))
            for rows, sec in res.items():
                samples[int(rows)][name].append(sec)
    return {rows: {n: statistics.median(v) for n, v in by.items()} for rows, by in samples.items()}


def load_times(path: Path, runs: int) -> dict[str, float]:
    import mlflow.pyfunc
    import onnxruntime

    import fastpyfunc

    loaders = {
        "fastpyfunc": lambda: fastpyfunc.load_model(str(path)),
        "mlflow.pyfunc": lambda: mlflow.pyfunc.load_model(str(path)),
        "onnxruntime (Python)": lambda: onnxruntime.InferenceSession(
            str(path / "model.onnx"), providers=["CPUExecutionProvider"]
        ),
    }
    samples: dict[str, list[float]] = {k: [] for k in loaders}
    for _ in range(runs):
        for name, load in loaders.items():
            t = time.perf_counter()
            load()
            samples[name].append(time.perf_counter() - t)
    return {k: statistics.median(v) for k, v in samples.items()}


_MEMORY_CODE = (
    _SETUP
    + """
def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
x = np.random.default_rng(0).random((ROWS, FEATURES), dtype=np.float32)
predict(x[:1000])
open("/proc/self/clear_refs", "w").write("5")  # reset the peak (VmHWM) to the current RSS
before = status("VmRSS")
out = predict(x)
grew = status("VmHWM") - before
arr = out["variable"] if isinstance(out, dict) else out[0]
print(grew, x.nbytes, np.asarray(arr).nbytes)
"""
)


def peak_memory(path: Path, rows: int) -> dict[str, tuple[int, int, int]]:
    """Peak RSS growth (bytes) during one predict, with the input and output sizes."""
    out = {}
    code = _MEMORY_CODE.replace("ROWS", str(rows)).replace("FEATURES", str(FEATURES))
    for which in NAMES:
        grew, nin, nout = map(int, run_code(code, which, str(path)).split())
        out[which] = (grew, nin, nout)
    return out


def run(quick: bool = False) -> dict[str, Any]:
    logging.disable(logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        path = make_model(Path(tmp))
        lat = latency(path, 1 if quick else 3, quick)
        loads = load_times(path, 5 if quick else 15)
        mem = peak_memory(path, 1_000_000)
    return {"latency": lat, "load": loads, "memory": mem}


def print_tables(res: dict[str, Any]) -> None:
    names = NAMES
    print("\nONNX (LinearRegression, 20 float32 features, no signature): per-call median latency\n")
    print(
        "| rows | fastpyfunc | mlflow.pyfunc | onnxruntime (Python) | fastpyfunc / onnxruntime | mlflow / fastpyfunc |"
    )
    print("|---:|---:|---:|---:|---:|---:|")
    for rows, t in res["latency"].items():
        cells = " | ".join(fmt_seconds(t[n]) for n in names)
        raw, ours, theirs = t["onnxruntime (Python)"], t["fastpyfunc"], t["mlflow.pyfunc"]
        print(f"| {rows:,} | {cells} | {ours / raw:.2f} | {theirs / ours:.1f}x |")
    loads = res["load"]
    print("\n| load (warm, median) | " + " | ".join(fmt_seconds(loads[n]) for n in names) + " |")
    print("\nPeak RSS growth during one predict on 1,000,000 x 20 float32 rows (input already held)\n")
    print("| | fastpyfunc | mlflow.pyfunc | onnxruntime (Python) |")
    print("|---|---:|---:|---:|")
    mem = res["memory"]
    print("| peak growth | " + " | ".join(f"{mem[n][0] / 2**20:.1f} MiB" for n in names) + " |")
    _, nin, nout = mem["fastpyfunc"]
    print(
        f"\ninput {nin / 2**20:.1f} MiB, output {nout / 2**20:.1f} MiB; "
        f"target: growth <= output + 10% of input = {(nout + nin / 10) / 2**20:.1f} MiB"
    )


if __name__ == "__main__":
    main(run, print_tables, "onnx")
