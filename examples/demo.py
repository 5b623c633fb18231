"""fastpyfunc next to mlflow.pyfunc on the example models (make demo).

1. The ONNX model (native engine): each library imported, loaded and first-predicted in a fresh
   process, then the per-call time of predict in that process; both answers printed.
2. The scikit-learn model, which runs in embedded Python (no native engine runs scikit-learn):
   fastpyfunc says so (engine, route_reason) and gives mlflow's answer.

Regenerate the models with examples/make_example_model.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
ONNX_MODEL = HERE / "iris_onnx"
SKLEARN_MODEL = HERE / "iris_model"
CALLS = 2000

# Runs in a fresh interpreter: times (ms) of import, load_model and the first predict, then the
# median per-call time (µs) of predict on the model's input example, and the answer.
_PROBE = """
import json, statistics, sys, time
t0 = time.perf_counter()
if sys.argv[1] == "fastpyfunc":
    import fastpyfunc as lib
else:
    import mlflow.pyfunc as lib
t1 = time.perf_counter()
model = lib.load_model(sys.argv[2])
t2 = time.perf_counter()
data = model.input_example
out = model.predict(data)
t3 = time.perf_counter()
times = []
for _ in range(int(sys.argv[3])):
    s = time.perf_counter()
    model.predict(data)
    times.append(time.perf_counter() - s)
print(json.dumps({
    "import": 1e3 * (t1 - t0), "load": 1e3 * (t2 - t1), "first": 1e3 * (t3 - t2),
    "call_us": 1e6 * statistics.median(times),
    "engine": getattr(model, "engine", "python (mlflow)"),
    "answer": {k: v.tolist() for k, v in out.items()},
}))
"""


def probe(library: str) -> dict:
    r = subprocess.run(
        [sys.executable, "-c", _PROBE, library, str(ONNX_MODEL), str(CALLS)],
        capture_output=True,
        text=True,
        check=False,
    )
    if r.returncode != 0:
        sys.exit(f"{library} failed:\n{r.stderr}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def onnx_side_by_side() -> None:
    print(f"== {ONNX_MODEL.name}: ONNX, each library in a fresh process ==")
    ours, theirs = probe("fastpyfunc"), probe("mlflow")
    rows = [
        ("import", "import", "ms"),
        ("load_model", "load", "ms"),
        ("first predict", "first", "ms"),
        (f"predict, median of {CALLS}", "call_us", "µs"),
    ]
    print(f"{'':28}{'fastpyfunc':>12}{'mlflow.pyfunc':>15}{'mlflow / fastpyfunc':>22}")
    for label, key, unit in rows:
        a, b = ours[key], theirs[key]
        print(f"{label + ' (' + unit + ')':28}{a:12.1f}{b:15.1f}{b / a:21.1f}x")
    total_a = ours["import"] + ours["load"] + ours["first"]
    total_b = theirs["import"] + theirs["load"] + theirs["first"]
    print(f"{'import+load+first (ms)':28}{total_a:12.1f}{total_b:15.1f}{total_b / total_a:21.1f}x")
    print(f"engine: fastpyfunc runs it on {ours['engine']!r}")
    print("fastpyfunc answer:   ", ours["answer"])
    print("mlflow.pyfunc answer:", theirs["answer"])
    print("same answer:", ours["answer"] == theirs["answer"])


def python_route() -> None:
    import fastpyfunc

    print(f"\n== {SKLEARN_MODEL.name}: scikit-learn, on the Python route ==")
    model = fastpyfunc.load_model(str(SKLEARN_MODEL))
    print(model)
    print("engine:", model.engine)
    print("route_reason:", model.route_reason)
    data = model.input_example
    ours = model.predict(data)
    import mlflow.pyfunc

    theirs = mlflow.pyfunc.load_model(str(SKLEARN_MODEL)).predict(data)
    print("input:")
    print(data)
    print("fastpyfunc:   ", ours.tolist())
    print("mlflow.pyfunc:", theirs.tolist())


def main() -> None:
    onnx_side_by_side()
    python_route()


if __name__ == "__main__":
    main()
