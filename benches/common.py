"""Helpers shared by the benchmark scripts: fresh-process runs, time formatting, the CLI."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

PY = sys.executable
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONWARNINGS": "ignore"}


def run_code(code: str, *args: str) -> str:
    """Runs `code` in a fresh interpreter with `args`; returns its last line of output."""
    r = subprocess.run([PY, "-c", code, *args], capture_output=True, text=True, env=ENV)
    if r.returncode != 0:
        raise RuntimeError(r.stderr[-2000:])
    lines = r.stdout.strip().splitlines()
    return lines[-1] if lines else ""


def fmt_seconds(s: float) -> str:
    if s < 1e-3:
        return f"{s * 1e6:,.1f} µs"
    if s < 1:
        return f"{s * 1e3:,.2f} ms"
    return f"{s:.2f} s"


def main(
    run: Callable[[bool], dict[str, Any]], print_tables: Callable[[dict[str, Any]], None], name: str
) -> None:
    """`script.py [--quick]`: runs, prints the tables, saves bench-results/<name>.json."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer calls (a smoke run)")
    args = ap.parse_args()
    res = run(args.quick)
    print_tables(res)
    out = Path("bench-results")
    out.mkdir(exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(res, indent=1, default=str))


_PRELUDE = """
import logging, sys, time
logging.disable(logging.WARNING)
import numpy as np
which, path = sys.argv[1], sys.argv[2]
if which == "fastpyfunc":
    import fastpyfunc
    predict = fastpyfunc.load_model(path{load_args}).predict
elif which == "mlflow.pyfunc":
    import mlflow.pyfunc
    predict = mlflow.pyfunc.load_model(path{load_args}).predict
else:
"""


def setup(raw: str, load_args: str = "") -> str:
    """A benchmark process's start: defines `predict(x)` for argv[1] "fastpyfunc" or
    "mlflow.pyfunc" (`load_model(path{load_args})`), else runs `raw`, the raw engine's own
    Python code, which defines `predict` itself. argv[2] is the model directory (`path`)."""
    return (
        _PRELUDE.replace("{load_args}", load_args)
        + textwrap.indent(textwrap.dedent(raw).strip("\n"), "    ")
        + "\n"
    )


#: Appended to a setup script that defines `predict(x)`: per-call medians of a (rows, 32) float32
#: input for each (rows, calls) of the plan in argv[3], printed as JSON.
_LATENCY_LOOP = """
import json, statistics
plan = json.loads(sys.argv[3])
rng = np.random.default_rng(1)
out = {}
for rows, calls in plan:
    x = rng.random((rows, 32), dtype=np.float32)
    for _ in range(20):
        predict(x)
    samples = []
    for _ in range(calls):
        t = time.perf_counter_ns()
        predict(x)
        samples.append(time.perf_counter_ns() - t)
    out[rows] = statistics.median(samples) / 1e9
print(json.dumps(out))
"""

#: Fresh interpreter: import + load (with `{load_args}`) + first predict of a (1, 32) input.
_FIRST = """
import time, sys
t = time.perf_counter()
import numpy as np
which, path = sys.argv[1], sys.argv[2]
if which == "fastpyfunc":
    import fastpyfunc
    m = fastpyfunc.load_model(path{load_args})
else:
    import mlflow.pyfunc
    m = mlflow.pyfunc.load_model(path{load_args})
m.predict(np.ones((1, 32), dtype=np.float32))
print(time.perf_counter() - t)
"""


def side_by_side(
    make: str, setup: str, names: list[str], batches: dict[int, int], quick: bool, load_args: str = ""
) -> dict[str, Any]:
    """Saves a model with `make`, then runs each implementation in `names` in its own process
    (`setup` defines its `predict`; per-call medians for each batch size; alternating, three
    rounds) and times a fresh import + load + first predict for the first two (fastpyfunc and
    mlflow.pyfunc, loaded with `load_args`)."""
    latency = setup + _LATENCY_LOOP
    first = _FIRST.replace("{load_args}", load_args)
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "model")
        run_code(make, path)
        plan = [(rows, max(10, calls // 10) if quick else calls) for rows, calls in batches.items()]
        samples: dict[int, dict[str, list[float]]] = {r: {n: [] for n in names} for r in batches}
        for _ in range(1 if quick else 3):
            for name in names:
                for rows, sec in json.loads(run_code(latency, name, path, json.dumps(plan))).items():
                    samples[int(rows)][name].append(sec)
        first = {
            name: statistics.median(float(run_code(first, name, path)) for _ in range(1 if quick else 3))
            for name in names[:2]
        }
    lat = {rows: {n: statistics.median(v) for n, v in by.items()} for rows, by in samples.items()}
    return {"latency": lat, "first": first}


def print_side_by_side(res: dict[str, Any], title: str, names: list[str]) -> None:
    """The table of `side_by_side`: the columns, then ratios to the raw engine (`names[2]`) and of
    mlflow to fastpyfunc."""
    raw = names[2]
    print(f"\n{title}, per-call median latency\n")
    print(f"| rows | {' | '.join(names)} | fastpyfunc / {raw} | mlflow / fastpyfunc |")
    print("|---:|---:|---:|---:|---:|---:|")
    for rows, t in res["latency"].items():
        cells = " | ".join(fmt_seconds(t[n]) for n in names)
        ours, theirs = t["fastpyfunc"], t["mlflow.pyfunc"]
        print(f"| {rows:,} | {cells} | {ours / t[raw]:.2f} | {theirs / ours:.1f}x |")
    f = res["first"]
    print(
        f"\n| import + load + first predict (fresh process) | {fmt_seconds(f['fastpyfunc'])} | "
        f"{fmt_seconds(f['mlflow.pyfunc'])} | |"
    )
