"""Safe loading: verification time per MB of pickle, and sklearn load time with and without it.

    .venv/bin/python benches/safety_bench.py [--quick]

Side by side, medians of 7 runs (3 with --quick) after one warm-up:
- the Rust verifier alone on pickles of growing size (MB/s and ms per MB);
- for several scikit-learn models saved by mlflow (pickle format): fastpyfunc.load_model without
  trust (verify + restricted unpickling), with trust (plain pickle.load, no verification), and
  mlflow.pyfunc.load_model; the verification's share of the untrusted load (target: under 5%).
"""

from __future__ import annotations

import logging
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

from common import fmt_seconds, main

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))


def median_s(fn: Any, repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def run(quick: bool = False) -> dict[str, Any]:
    import pickle

    import mlflow
    import safety_corpus
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    import fastpyfunc
    from fastpyfunc import _safety

    warnings.filterwarnings("ignore")
    logging.getLogger("mlflow").setLevel(logging.ERROR)  # the pickle-format warning on each save
    repeat = 3 if quick else 7
    X, y, _ = safety_corpus.numeric_data()
    verifier = []
    for n in (10, 50) if quick else (10, 50, 200):
        blob = pickle.dumps(RandomForestClassifier(n, random_state=0).fit(X, y), protocol=5)
        t = median_s(lambda b=blob: _safety.verify(b), repeat)
        verifier.append({"pickle": f"RandomForest({n})", "bytes": len(blob), "verify_s": t})

    models = {
        "LogisticRegression": LogisticRegression(max_iter=500).fit(X, y),
        "RandomForest(100)": RandomForestClassifier(100, random_state=0).fit(X, y),
        "HistGradientBoosting": HistGradientBoostingClassifier(max_iter=50).fit(X, y),
    }
    loads = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, est in models.items():
            d = os.path.join(tmp, name)
            mlflow.sklearn.save_model(
                est, d, serialization_format="pickle", pip_requirements=["scikit-learn"]
            )
            data = Path(d, "model.pkl").read_bytes()
            loads.append(
                {
                    "model": name,
                    "bytes": len(data),
                    "untrusted_s": median_s(lambda d=d: fastpyfunc.load_model(d), repeat),
                    "trusted_s": median_s(lambda d=d: fastpyfunc.load_model(d, trust_code=True), repeat),
                    "mlflow_s": median_s(lambda d=d: mlflow.pyfunc.load_model(d), repeat),
                    "verify_s": median_s(lambda data=data: _safety.verify(data), repeat),
                }
            )
    return {"repeat": repeat, "verifier": verifier, "load": loads}


def print_tables(res: dict[str, Any]) -> None:
    print(
        f"\nSafe loading: the pickle verifier alone (Rust, no Python objects built), median of {res['repeat']}\n"
    )
    print("| pickle | size | verify | per MB |")
    print("|---|---:|---:|---:|")
    for r in res["verifier"]:
        mb = r["bytes"] / 1e6
        print(
            f"| {r['pickle']} | {mb:.2f} MB | {fmt_seconds(r['verify_s'])} | {fmt_seconds(r['verify_s'] / mb)} |"
        )
    print(
        "\nload_model, scikit-learn pickle format: without trust (verified) vs with trust vs mlflow.pyfunc\n"
    )
    print("| model | untrusted | trusted | mlflow.pyfunc | verify | verify / untrusted load |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in res["load"]:
        print(
            f"| {r['model']} | {fmt_seconds(r['untrusted_s'])} | {fmt_seconds(r['trusted_s'])} "
            f"| {fmt_seconds(r['mlflow_s'])} | {fmt_seconds(r['verify_s'])} "
            f"| {r['verify_s'] / r['untrusted_s']:.1%} |"
        )


if __name__ == "__main__":
    main(run, print_tables, "safety")
