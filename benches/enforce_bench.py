"""Signature enforcement: fastpyfunc's native plan vs mlflow's ``_enforce_schema``, side by side.

    .venv/bin/python benches/enforce_bench.py [--quick]

1. Enforcement alone: a DataFrame of N double columns (all matching the schema) x R rows.
2. End to end: scikit-learn LogisticRegression saved by mlflow (skops) with a 600-column signature,
   predicting 100 rows: fastpyfunc, mlflow.pyfunc, and the estimator's own ``predict`` on the
   same DataFrame. Per-call medians; the implementations interleaved in rounds.
"""

from __future__ import annotations

import json
import logging
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from common import fmt_seconds, main


def _median_per_call(fns: dict[str, Any], rounds: int, calls: int) -> dict[str, float]:
    samples: dict[str, list[float]] = {k: [] for k in fns}
    for fn in fns.values():
        fn()
    clock = time.perf_counter_ns
    for _ in range(rounds):
        for name, fn in fns.items():
            s = samples[name]
            for _ in range(calls):
                t = clock()
                fn()
                s.append(clock() - t)
    return {k: statistics.median(v) / 1e9 for k, v in samples.items()}


def _frame(ncols: int, nrows: int) -> Any:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    return pd.DataFrame(rng.random((nrows, ncols)), columns=[f"f{i}" for i in range(ncols)])


def enforcement_alone(quick: bool) -> list[dict[str, Any]]:
    from mlflow.models.utils import _enforce_schema
    from mlflow.types import Schema as MlflowSchema

    from fastpyfunc._enforce import Enforcer
    from fastpyfunc._schema import Schema

    class Meta:
        signature = True

        def __init__(self, specs: list[dict[str, Any]]) -> None:
            self._schema = Schema(specs)

        def get_input_schema(self) -> Any:
            return self._schema

        def get_params_schema(self) -> None:
            return None

        def _is_signature_from_type_hint(self) -> bool:
            return False

    rows = []
    for ncols in (10, 100, 600):
        specs = [{"name": f"f{i}", "type": "double", "required": True} for i in range(ncols)]
        ours = Enforcer("bench", Meta(specs), None)
        theirs = MlflowSchema.from_json(json.dumps(specs))
        for nrows in (1, 100):
            df = _frame(ncols, nrows)
            calls = 20 if ncols == 600 else 100
            t = _median_per_call(
                {
                    "fastpyfunc": lambda e=ours, d=df: e(d, None),
                    "mlflow": lambda d=df, s=theirs: _enforce_schema(d, s),
                },
                rounds=3 if quick else 10,
                calls=max(2, calls // 5) if quick else calls,
            )
            rows.append({"columns": ncols, "rows": nrows, **t})
    return rows


def end_to_end(quick: bool) -> dict[str, float]:
    import mlflow
    from mlflow.models import infer_signature
    from sklearn.linear_model import LogisticRegression

    import fastpyfunc

    df = _frame(600, 100)
    y = (df["f0"] > 0.5).astype(int)
    clf = LogisticRegression(max_iter=300).fit(df, y)
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "logreg600")
        mlflow.sklearn.save_model(clf, path, signature=infer_signature(df, clf.predict(df)))
        ours = fastpyfunc.load_model(path)
        theirs = mlflow.pyfunc.load_model(path)
        raw = ours._model_impl.sklearn_model
        return _median_per_call(
            {
                "fastpyfunc": lambda: ours.predict(df),
                "mlflow.pyfunc": lambda: theirs.predict(df),
                "estimator.predict": lambda: raw.predict(df),
            },
            rounds=3 if quick else 10,
            calls=10 if quick else 40,
        )


def run(quick: bool = False) -> dict[str, Any]:
    logging.disable(logging.WARNING)
    return {"alone": enforcement_alone(quick), "end_to_end": end_to_end(quick)}


def print_tables(res: dict[str, Any]) -> None:
    print("\nSignature enforcement alone (double columns, all matching), per-call median\n")
    print("| columns x rows | fastpyfunc | mlflow `_enforce_schema` | mlflow / fastpyfunc |")
    print("|---|---:|---:|---:|")
    for r in res["alone"]:
        print(
            f"| {r['columns']} x {r['rows']} | {fmt_seconds(r['fastpyfunc'])} | {fmt_seconds(r['mlflow'])} | "
            f"{r['mlflow'] / r['fastpyfunc']:.0f}x |"
        )
    e = res["end_to_end"]
    raw = e["estimator.predict"]
    print("\nLogisticRegression (skops) with a 600-column signature, predict on 100 rows, per-call median\n")
    print("| | per call | / estimator.predict |")
    print("|---|---:|---:|")
    for name in ("estimator.predict", "fastpyfunc", "mlflow.pyfunc"):
        print(f"| {name} | {fmt_seconds(e[name])} | {e[name] / raw:.2f}x |")


if __name__ == "__main__":
    main(run, print_tables, "enforce")
