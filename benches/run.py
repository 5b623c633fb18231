"""fastpyfunc benchmarks, measured side by side in one run (medians of fresh processes).

    make bench            # or: .venv/bin/python benches/run.py [--runs N] [--quick] [--only SECTION]

Prints markdown tables:
  1. import time: `import fastpyfunc` vs `import mlflow.pyfunc`;
  2. load_model + first predict in a fresh process, fastpyfunc vs mlflow.pyfunc, for a
     scikit-learn (skops) model and an ONNX model;
  3. the predict path per input kind (benches/predict_path.py): pandas, Arrow and NumPy into an
     ONNX model with a column signature, vs mlflow.pyfunc and onnxruntime by hand, up to 1,000,000
     rows, and peak memory;
  3a. one column (a DataFrame's, a Series, a pyarrow Array) under a vector tensor signature
     (benches/one_column.py), vs mlflow.pyfunc and onnxruntime on the ndarray;
  3c. the one copy against the run (benches/copy_share.py): a 1,000,000-row Arrow Table into
     issue 12's model and into MLPs of growing width, vs `run` on the ready float32 array;
  3b. the ONNX engine (benches/onnx_engine.py): per-call latency from 1 to 1,000,000 rows, load
     time and peak memory, vs mlflow.pyfunc and onnxruntime's Python API;
  4. signature enforcement (benches/enforce_bench.py): alone vs mlflow's `_enforce_schema`, and a
     600-column LogisticRegression end to end vs the estimator's own predict;
  5. the SavedModel engine (benches/tf_engine.py): per-call latency vs mlflow.pyfunc and the
     signature called from Python TensorFlow, and fresh-process load + first predict;
  6. the TorchScript engine (benches/torch_engine.py): the same against the module called from
     Python torch (torch.jit.load + no_grad);
  7. safe loading (benches/safety_bench.py): the pickle verifier's time per MB, and scikit-learn
     load_model without trust (verified), with trust and mlflow.pyfunc.
`--only SECTION` (repeatable) runs just those sections, e.g. `--only safety --quick`.
Absolute times depend on the machine and its load; compare the columns of one run.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PY = sys.executable
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONWARNINGS": "ignore"}


def fresh(code: str) -> float:
    """Runs `code` in a new interpreter; it prints its own elapsed seconds as the last line."""
    out = subprocess.run([PY, "-c", code], capture_output=True, text=True, env=ENV)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    return float(out.stdout.strip().splitlines()[-1])


def timed(body: str) -> str:
    return "import time\n_t = time.perf_counter()\n" + body + "\nprint(time.perf_counter() - _t)\n"


def median_of(code: str, runs: int) -> float:
    fresh(code)  # warm the OS page cache and .pyc files
    return statistics.median(fresh(code) for _ in range(runs))


def make_models(root: Path) -> dict[str, tuple[Path, str]]:
    """Saves the benchmark models with mlflow; returns {name: (dir, input expression)}."""
    import mlflow
    import numpy as np
    from skl2onnx import to_onnx
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    X, y = load_iris(return_X_y=True, as_frame=True)
    clf = LogisticRegression(max_iter=1000).fit(X, y)
    mlflow.sklearn.save_model(clf, str(root / "sklearn"), input_example=X.head(2))
    onx = to_onnx(clf, X.to_numpy(np.float32)[:1], options={"zipmap": False}, target_opset=17)
    mlflow.onnx.save_model(onx, str(root / "onnx"))
    cols = list(X.columns)
    return {
        "sklearn (skops)": (
            root / "sklearn",
            f"__import__('pandas').DataFrame([[5.1, 3.5, 1.4, 0.2]], columns={cols!r})",
        ),
        "onnx": (root / "onnx", "{'X': __import__('numpy').array([[5.1, 3.5, 1.4, 0.2]], dtype='float32')}"),
    }


# section name -> module with run(quick) and print_tables(res); results go to bench-results/<json>
SECTIONS = {
    "predict_path": ("predict_path", "predict_path"),
    "one_column": ("one_column", "one_column"),
    "copy_share": ("copy_share", "copy_share"),
    "onnx": ("onnx_engine", "onnx"),
    "enforce": ("enforce_bench", "enforce"),
    "tensorflow": ("tf_engine", "tensorflow"),
    "torch": ("torch_engine", "torch"),
    "safety": ("safety_bench", "safety"),
}


def startup(runs: int, results: Path) -> None:
    rows = []
    base = median_of(timed("pass"), runs)
    fpf = median_of(timed("import fastpyfunc"), runs)
    mlf = median_of(timed("import mlflow.pyfunc"), runs)
    rows.append(("`import`", fpf, mlf, base))

    with tempfile.TemporaryDirectory() as tmp:
        models = make_models(Path(tmp))
        for name, (path, data) in models.items():
            ours = median_of(
                timed(f"import fastpyfunc\nm = fastpyfunc.load_model({str(path)!r})\nm.predict({data})"),
                runs,
            )
            theirs = median_of(
                timed(
                    f"import mlflow.pyfunc\nm = mlflow.pyfunc.load_model({str(path)!r})\nm.predict({data})"
                ),
                runs,
            )
            rows.append((f"import + load_model + first predict: {name}", ours, theirs, base))

    print(
        f"\nfresh processes, median of {runs} runs each (python {sys.version.split()[0]}, {os.cpu_count()} cores)\n"
    )
    print("| what | fastpyfunc | mlflow.pyfunc | mlflow / fastpyfunc |")
    print("|---|---:|---:|---:|")
    for what, ours, theirs, _ in rows:
        print(f"| {what} | {1000 * ours:.1f} ms | {1000 * theirs:.1f} ms | {theirs / ours:.1f}x |")
    (results / "startup.json").write_text(
        json.dumps({"runs": runs, "rows": rows, "time": time.time()}, indent=1)
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="fewer calls (a smoke run)")
    ap.add_argument(
        "--only",
        action="append",
        choices=["startup", *SECTIONS],
        help="run only this section (repeatable); default: all",
    )
    args = ap.parse_args()
    only = set(args.only or ["startup", *SECTIONS])

    results = Path("bench-results")
    results.mkdir(exist_ok=True)
    if "startup" in only:
        startup(args.runs, results)
    for section, (module, out) in SECTIONS.items():
        if section not in only:
            continue
        mod = importlib.import_module(module)
        res = mod.run(args.quick)
        mod.print_tables(res)
        (results / f"{out}.json").write_text(json.dumps(res, indent=1, default=str))


if __name__ == "__main__":
    main()
