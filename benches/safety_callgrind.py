"""The verifier's share of an untrusted load, counted in instructions (valgrind's callgrind), so a
shared machine's noise drops out of the ratio.

    PYTHONPATH=python .venv/bin/python benches/safety_callgrind.py [--calls 20]

For each scikit-learn model (saved by mlflow, pickle format) a fresh interpreter loads it twice
(warm-up), then `--calls` more times, under `valgrind --tool=callgrind`; a second run stops after
the warm-up. The difference between the two, divided by `--calls`, is one warm untrusted
`fastpyfunc.load_model` (whole process: the interpreter, the unpickling, the verifier) and its
`verify_pickle` part (inclusive, from callgrind_annotate). OpenBLAS runs one thread, so no
spinning worker thread is counted. Not part of `make bench` (each model takes about a minute under
valgrind).
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

CHILD = """
import sys, fastpyfunc
path, n = sys.argv[1], int(sys.argv[2])
for _ in range(2 + n):
    fastpyfunc.load_model(path)
"""


def counts(model: str, calls: int, tmp: str) -> tuple[int, int]:
    """(instructions of the whole process, of verify_pickle) after `calls` loads past the warm-up."""
    out = os.path.join(tmp, f"callgrind.{calls}.out")
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            f"--callgrind-out-file={out}",
            sys.executable,
            "-c",
            CHILD,
            model,
            str(calls),
        ],
        check=True,
        capture_output=True,
        env=env,
    )
    text = subprocess.run(
        ["callgrind_annotate", "--inclusive=yes", "--threshold=100", out],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    found: dict[str, int] = {}
    for line in text.splitlines():
        m = re.match(r"\s*([\d,]+) \([^)]*\)\s+(.*)$", line)
        if not m:
            continue
        for key in ("PROGRAM TOTALS", "__pyfunction_verify_pickle"):
            if key in m.group(2) and key not in found:
                found[key] = int(m.group(1).replace(",", ""))
    return found["PROGRAM TOTALS"], found["__pyfunction_verify_pickle"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=20)
    ap.add_argument("--only", help="one model of the table (e.g. HistGradientBoosting)")
    args = ap.parse_args()
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed (apt-get install valgrind)")
    import mlflow
    import safety_corpus
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    warnings.filterwarnings("ignore")
    logging.getLogger("mlflow").setLevel(logging.ERROR)
    X, y, _ = safety_corpus.numeric_data()
    models = {
        "LogisticRegression": LogisticRegression(max_iter=500).fit(X, y),
        "RandomForest(100)": RandomForestClassifier(100, random_state=0).fit(X, y),
        "HistGradientBoosting": HistGradientBoostingClassifier(max_iter=50).fit(X, y),
    }
    print("| model | untrusted load | verify_pickle | verify / load |")
    print("|---|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for name, est in models.items():
            if args.only and name != args.only:
                continue
            d = os.path.join(tmp, name)
            mlflow.sklearn.save_model(
                est, d, serialization_format="pickle", pip_requirements=["scikit-learn"]
            )
            base_total, base_verify = counts(d, 0, tmp)
            total, verify = counts(d, args.calls, tmp)
            load = (total - base_total) / args.calls
            ver = (verify - base_verify) / args.calls
            print(f"| {name} | {load / 1e6:.2f} M | {ver / 1e6:.3f} M | {ver / load:.1%} |", flush=True)


if __name__ == "__main__":
    main()
