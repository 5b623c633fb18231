"""Spark scoring: mlflow.pyfunc.spark_udf vs fastpyfunc.spark_udf vs fastpyfunc.spark.predict,
next to a hand-written mapInArrow + onnxruntime and Spark's own floors, which do everything but
the model: "identity arrow_udf" (for spark_udf: an iterator arrow_udf over the same arguments,
same batches, one double column returned) and "identity mapInArrow" (for spark.predict: each
batch handed back with one double column appended).

    .venv/bin/python benches/spark_bench.py [--rows 1000000 5000000] [--rounds 3] [--models ...]

One Spark session (local[2], maxRecordsPerBatch=10000, UI off), each model's DataFrame cached
and counted first. Each measurement scores the whole DataFrame into Spark's `noop` sink; methods
alternate within a round and the tables show medians over the rounds. "first result": from
creating the UDF (or calling predict) to the first row of `.limit(1).collect()`; the first round
is cold (the Python workers have not loaded anything), later rounds reuse the warm workers.
Models (saved by mlflow): onnx (5 double columns -> one [-1, 5] float input, the issue's model),
sk600 (600 double columns, LinearRegression, skops; fewer rows: --wide-rows), skmixed
(LogisticRegression over int/float/double columns, skops), torchscript (Linear(5, 1) over a
struct of 5 float columns).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

MODELS = ["onnx", "sk600", "skmixed", "torchscript"]
METHODS = [
    "mlflow.spark_udf",
    "fastpyfunc.spark_udf",
    "fastpyfunc.spark.predict",
    "mapInArrow+ort",
    "identity arrow_udf",
    "identity mapInArrow",
]


def save_models(root: Path, names: list[str]) -> dict[str, dict[str, Any]]:
    """The models in `names`, saved by mlflow under `root`."""
    import mlflow
    import numpy as np
    import pandas as pd
    from mlflow.models import infer_signature

    out: dict[str, dict[str, Any]] = {}
    # onnx: the model (ReduceSum over one [-1, 5] float input, 5 double columns), as
    # the predict-path benchmark saves it
    cols = [f"f{i}" for i in range(5)]
    if "onnx" in names:
        from predict_path import make_models

        out["onnx"] = {
            "path": make_models(root)["columns"],
            "cols": cols,
            "types": ["double"] * 5,
            "struct": False,
        }
    if not {"sk600", "skmixed", "torchscript"} & set(names):
        return out
    from sklearn.linear_model import LinearRegression, LogisticRegression

    rng = np.random.default_rng(0)
    wide = [f"c{i}" for i in range(600)]
    Xw = pd.DataFrame(rng.random((200, 600)), columns=wide)
    reg = LinearRegression().fit(Xw, Xw.sum(axis=1))
    mlflow.sklearn.save_model(
        reg,
        str(root / "sk600"),
        serialization_format="skops",
        signature=infer_signature(Xw, reg.predict(Xw)),
        skops_trusted_types=None,
    )
    out["sk600"] = {"path": str(root / "sk600"), "cols": wide, "types": ["double"] * 600, "struct": False}

    mixed = {"a": "long", "b": "int", "c": "float", "d": "double", "e": "double"}
    Xm = pd.DataFrame(
        {
            "a": rng.integers(0, 10, 300),
            "b": rng.integers(0, 5, 300).astype(np.int32),
            "c": rng.random(300).astype(np.float32),
            "d": rng.random(300),
            "e": rng.random(300),
        }
    )
    clf = LogisticRegression(max_iter=500).fit(Xm, (Xm["a"] + Xm["d"] > 5).astype(np.int64))
    mlflow.sklearn.save_model(
        clf,
        str(root / "skmixed"),
        serialization_format="skops",
        signature=infer_signature(Xm, clf.predict(Xm)),
        skops_trusted_types=None,
    )
    out["skmixed"] = {
        "path": str(root / "skmixed"),
        "cols": list(mixed),
        "types": list(mixed.values()),
        "struct": False,
    }

    import torch

    lin = torch.jit.script(torch.nn.Linear(5, 1).eval())
    x = rng.random((4, 5), dtype=np.float32)
    with torch.no_grad():
        y = lin(torch.from_numpy(x)).numpy()
    mlflow.pytorch.save_model(
        lin, str(root / "torchscript"), serialization_format="pickle", signature=infer_signature(x, y)
    )
    out["torchscript"] = {
        "path": str(root / "torchscript"),
        "cols": cols,
        "types": ["float"] * 5,
        "struct": True,
    }
    return out


def make_frame(spark: Any, spec: dict[str, Any], rows: int) -> Any:
    from pyspark.sql import functions as F

    exprs = []
    for i, (c, t) in enumerate(zip(spec["cols"], spec["types"], strict=True)):
        r = F.rand(seed=i)
        exprs.append((r * 10).cast(t).alias(c) if t in ("int", "long") else r.cast(t).alias(c))
    df = spark.range(rows, numPartitions=2).select(*exprs).cache()
    df.count()
    return df


def _ort_map(path: str) -> Callable[..., Any]:
    """A hand-written mapInArrow: onnxruntime session cached per worker, columns stacked."""

    def score(batches):
        import sys

        import numpy as np
        import pyarrow as pa

        cache = sys.modules.setdefault("_bench_ort_cache", type(sys)("_bench_ort_cache"))
        sess = getattr(cache, "sess", None)
        if sess is None:
            import onnxruntime

            sess = onnxruntime.InferenceSession(f"{path}/model.onnx", providers=["CPUExecutionProvider"])
            cache.sess = sess
        for b in batches:
            x = np.column_stack([c.to_numpy() for c in b.columns]).astype(np.float32)
            (y,) = sess.run(None, {"X": x})
            yield pa.RecordBatch.from_arrays([pa.array(y.astype(np.float64))], names=["p"])

    return score


def _identity_udf(batches):
    """Spark's floor for spark_udf: an iterator arrow_udf over the same arguments (the same
    columns read, the same batches) returning one double column, with no model."""
    import numpy as np
    import pyarrow as pa

    for args in batches:
        first = args[0] if isinstance(args, tuple) else args
        yield pa.array(np.zeros(len(first)))


def _identity_map(batches):
    """Spark's floor for spark.predict: a mapInArrow appending one double column to each batch."""
    import numpy as np
    import pyarrow as pa

    for b in batches:
        yield pa.RecordBatch.from_arrays(
            [*b.columns, pa.array(np.zeros(b.num_rows))], names=[*b.schema.names, "p"]
        )


def scorer(method: str, spark: Any, df: Any, spec: dict[str, Any], result_type: str) -> Any:
    """The scored DataFrame (one prediction column) for `method`; built inside the timing."""
    import mlflow
    from pyspark.sql import functions as F

    import fastpyfunc

    args = [F.struct(*spec["cols"])] if spec["struct"] else spec["cols"]
    if method == "mlflow.spark_udf":
        udf = mlflow.pyfunc.spark_udf(spark, spec["path"], result_type=result_type, env_manager="local")
        return df.select(udf(*args).alias("p"))
    if method == "fastpyfunc.spark_udf":
        return df.select(fastpyfunc.spark_udf(spark, spec["path"], result_type=result_type)(*args).alias("p"))
    if method == "fastpyfunc.spark.predict":
        return fastpyfunc.spark.predict(df, spec["path"], result_type=result_type, result_column="p").select(
            "p"
        )
    if method == "mapInArrow+ort":
        return df.mapInArrow(_ort_map(spec["path"]), "p double")
    if method == "identity arrow_udf":
        udf = F.arrow_udf(_identity_udf, "double", F.ArrowUDFType.SCALAR_ITER)
        return df.select(udf(*args).alias("p"))
    from pyspark.sql.types import DoubleType, StructField, StructType

    schema = StructType([*df.schema.fields, StructField("p", DoubleType())])
    return df.mapInArrow(_identity_map, schema).select("p")


def run(args: argparse.Namespace) -> dict[str, Any]:
    from pyspark.sql import SparkSession

    os.environ["PYSPARK_PYTHON"] = sys.executable
    spark = (
        SparkSession.builder.master("local[2]")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", "10000")
        .config("spark.driver.memory", args.driver_memory)
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    root = Path(tempfile.mkdtemp(prefix="fpf-spark-bench-"))
    specs = save_models(root, args.models)
    results: dict[str, Any] = {}
    for model in args.models:
        spec = specs[model]
        methods = [m for m in args.methods if m != "mapInArrow+ort" or model == "onnx"]
        rt = "long" if model == "skmixed" else "double"
        for rows in args.wide_rows if model == "sk600" else args.rows:
            df = make_frame(spark, spec, rows)
            per: dict[str, dict[str, list[float]]] = {m: {"full": [], "first": []} for m in methods}
            for r in range(args.rounds):
                for m in methods if r % 2 == 0 else list(reversed(methods)):
                    t0 = time.perf_counter()
                    scorer(m, spark, df, spec, rt).limit(1).collect()
                    per[m]["first"].append(time.perf_counter() - t0)
                    t0 = time.perf_counter()
                    scorer(m, spark, df, spec, rt).write.format("noop").mode("overwrite").save()
                    per[m]["full"].append(time.perf_counter() - t0)
                    print(f"  {model} {rows:,} {m} round {r}: {per[m]['full'][-1]:.2f} s", file=sys.stderr)
            df.unpersist()
            results[f"{model}/{rows}"] = {
                m: {
                    "rows_per_s": rows / statistics.median(v["full"]),
                    "first_s": statistics.median(v["first"]),
                    "first_cold_s": v["first"][0],
                    "full_s": v["full"],
                }
                for m, v in per.items()
            }
            print_table(f"{model}/{rows}", results[f"{model}/{rows}"])
    spark.stop()
    return results


def print_table(key: str, res: dict[str, Any]) -> None:
    model, rows = key.split("/")
    base = res.get("mlflow.spark_udf", {}).get("rows_per_s")
    print(f"\n{model}, {int(rows):,} rows")
    print("| method | rows/s | vs mlflow | first result (median) | first result (cold) |")
    print("|---|---:|---:|---:|---:|")
    for m, v in res.items():
        rel = f"{v['rows_per_s'] / base:.2f}" if base else "-"
        print(
            f"| {m} | {v['rows_per_s'] / 1e6:.2f} M | {rel} | {v['first_s']:.2f} s | {v['first_cold_s']:.2f} s |"
        )
    sys.stdout.flush()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 5_000_000])
    ap.add_argument("--wide-rows", type=int, nargs="+", default=[100_000], help="rows for sk600")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--models", nargs="+", default=MODELS, choices=MODELS)
    ap.add_argument("--methods", nargs="+", default=METHODS, choices=METHODS)
    ap.add_argument("--driver-memory", default="4g")
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)
    res = run(args)
    out = Path("bench-results")
    out.mkdir(exist_ok=True)
    (out / "spark.json").write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
