"""Safe loading: verification time per MB of pickle, and sklearn load time with and without it.

    python benches/safety_bench.py [--repeat N]

Side by side, medians of N runs (after one warm-up):
- the Rust verifier alone on pickles of growing size (MB/s and ms per MB);
- for several scikit-learn models saved by mlflow (pickle format): fastpyfunc.load_model without
  trust (verify + restricted unpickling), with trust (plain pickle.load, no verification), and
  mlflow.pyfunc.load_model; the verification's share of the untrusted load.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

warnings.filterwarnings("ignore")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))


def median_s(fn: Any, repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()

    import pickle

    import mlflow
    import safety_corpus
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    import fastpyfunc
    from fastpyfunc import _safety

    X, y, _ = safety_corpus.numeric_data()
    print("verifier alone (Rust, no Python objects built)")
    print(f"{'pickle':<28}{'size MB':>10}{'verify ms':>12}{'ms per MB':>12}")
    for n in (10, 50, 200):
        forest = RandomForestClassifier(n, random_state=0).fit(X, y)
        blob = pickle.dumps(forest, protocol=5)
        mb = len(blob) / 1e6
        t = median_s(lambda b=blob: _safety.verify(b), args.repeat)
        print(f"{f'RandomForest({n})':<28}{mb:>10.2f}{t * 1e3:>12.2f}{t * 1e3 / mb:>12.2f}")

    print()
    print("load_model, pickle format (median ms)")
    print(f"{'model':<28}{'untrusted':>11}{'trusted':>10}{'mlflow':>10}{'verify':>10}{'share':>8}")
    models = {
        "LogisticRegression": LogisticRegression(max_iter=500).fit(X, y),
        "RandomForest(100)": RandomForestClassifier(100, random_state=0).fit(X, y),
        "HistGradientBoosting": HistGradientBoostingClassifier(max_iter=50).fit(X, y),
    }
    with tempfile.TemporaryDirectory() as tmp:
        for name, est in models.items():
            d = os.path.join(tmp, name)
            mlflow.sklearn.save_model(
                est, d, serialization_format="pickle", pip_requirements=["scikit-learn"]
            )
            data = Path(d, "model.pkl").read_bytes()
            untrusted = median_s(lambda d=d: fastpyfunc.load_model(d), args.repeat)
            trusted = median_s(lambda d=d: fastpyfunc.load_model(d, trust_code=True), args.repeat)
            theirs = median_s(lambda d=d: mlflow.pyfunc.load_model(d), args.repeat)
            verify = median_s(lambda data=data: _safety.verify(data), args.repeat)
            print(
                f"{name:<28}{untrusted * 1e3:>11.2f}{trusted * 1e3:>10.2f}{theirs * 1e3:>10.2f}"
                f"{verify * 1e3:>10.2f}{verify / untrusted:>8.1%}"
            )


if __name__ == "__main__":
    main()
