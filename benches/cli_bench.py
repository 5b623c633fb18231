"""`fastpyfunc predict` vs `mlflow models predict --env-manager local`: wall time of the command.

    .venv/bin/python benches/cli_bench.py [--quick] [--runs N]

For an ONNX model (iris LinearRegression via skl2onnx) and a scikit-learn model
(LogisticRegression, pickle), both saved by mlflow, each command runs as a fresh process on the
same request file (1,000 rows of mlflow's JSON); the table shows the median wall time of N runs
(default 5) and checks that both commands wrote the same bytes. Absolute times depend on the
machine and its load; compare the columns of one run.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from common import ENV, PY, fmt_seconds, main

ROWS = 1000


def save_models(root: Path) -> dict[str, tuple[Path, Path]]:
    """{name: (model dir, request file)}."""
    import mlflow
    import numpy as np
    from skl2onnx import to_onnx
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LinearRegression, LogisticRegression

    X, y = load_iris(return_X_y=True, as_frame=True)
    rows = X.sample(ROWS, replace=True, random_state=0).reset_index(drop=True)
    x32 = X.to_numpy(np.float32)
    onx = to_onnx(LinearRegression().fit(x32, y.to_numpy(np.float32)), x32[:1], target_opset=17)
    mlflow.onnx.save_model(onx, str(root / "onnx"), input_example=x32[:2], pip_requirements=["onnxruntime"])
    (root / "onnx.json").write_text(json.dumps({"inputs": rows.to_numpy(np.float32).tolist()}))
    mlflow.sklearn.save_model(
        LogisticRegression(max_iter=1000).fit(X, y),
        str(root / "sklearn"),
        serialization_format="pickle",
        input_example=X.head(3),
        pip_requirements=["scikit-learn"],
    )
    split = json.loads(rows.to_json(orient="split", index=False))
    (root / "sklearn.json").write_text(json.dumps({"dataframe_split": split}))
    return {name: (root / name, root / f"{name}.json") for name in ("onnx", "sklearn")}


def command(tool: str, model: Path, request: Path, out: Path) -> list[str]:
    if tool == "fastpyfunc":
        return [PY, "-m", "fastpyfunc", "predict", str(model), "-i", str(request), "-o", str(out)]
    return [PY, "-m", "mlflow", "models", "predict", "-m", str(model), "-i", str(request), "-o", str(out)] + [
        "--env-manager",
        "local",
    ]


def timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, env=ENV)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr.decode()[-2000:])
    return elapsed


def run(quick: bool, runs: int = 5) -> dict[str, Any]:
    runs = 1 if quick else runs
    results: dict[str, Any] = {"runs": runs, "rows": ROWS, "models": {}}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name, (model, request) in save_models(root).items():
            times: dict[str, list[float]] = {"fastpyfunc": [], "mlflow": []}
            outputs = {}
            for i in range(runs):
                for tool in times:  # interleaved, so load drifts hit both alike
                    out = root / f"{name}-{tool}-{i}.json"
                    times[tool].append(timed(command(tool, model, request, out)))
                    outputs[tool] = out.read_bytes()
            results["models"][name] = {
                "times": times,
                "median": {tool: statistics.median(t) for tool, t in times.items()},
                "same_bytes": outputs["fastpyfunc"] == outputs["mlflow"],
            }
    return results


def print_tables(res: dict[str, Any]) -> None:
    print(
        f"\n`predict` from the shell, {res['rows']:,} rows of JSON, median of {res['runs']} fresh processes\n"
    )
    print(
        "| model | `fastpyfunc predict` | `mlflow models predict --env-manager local` | speed-up | same bytes |"
    )
    print("|---|---:|---:|---:|:---:|")
    for name, r in res["models"].items():
        ours, theirs = r["median"]["fastpyfunc"], r["median"]["mlflow"]
        same = "yes" if r["same_bytes"] else "NO"
        print(f"| {name} | {fmt_seconds(ours)} | {fmt_seconds(theirs)} | {theirs / ours:.1f}x | {same} |")


if __name__ == "__main__":
    main(run, print_tables, "cli")
