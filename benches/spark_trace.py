"""Where a Spark scoring job's time goes, per Python worker: the real UDFs of
mlflow.pyfunc.spark_udf and fastpyfunc.spark_udf (and the identity arrow_udf floor), each wrapped
so that the worker logs wall-clock timestamps: when the UDF is called (after the worker has
started and unpickled it), how long each input batch took to arrive (Spark's Arrow stream, plus
the conversion to pandas for mlflow's pandas_udf), how long the UDF took to produce each result
(model load on the first batch, then scoring), and what was already imported.

    PYTHONPATH=python .venv/bin/python benches/spark_trace.py --model sk600 --rows 100000

Same session settings as spark_bench.py (local[2], maxRecordsPerBatch=10000). Each method runs
its full scan (noop sink) --rounds times; round 0 of the first method starts from fresh workers.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from spark_bench import make_frame, save_models  # noqa: E402


def _identity_udf(batches: Iterator[Any]) -> Iterator[Any]:
    """spark_bench's identity arrow_udf, defined here so that it is pickled by value (the workers
    cannot import this directory)."""
    import numpy as np
    import pyarrow as pa

    for args in batches:
        first = args[0] if isinstance(args, tuple) else args
        yield pa.array(np.zeros(len(first)))


def traced(func: Callable[..., Any], tag: str, trace_dir: str) -> Callable[..., Any]:
    """``func`` (an iterator UDF) logging its timeline to ``trace_dir`` from the worker."""

    def run(batches: Iterator[Any]) -> Iterator[Any]:
        import json as _json
        import os as _os
        import sys as _sys
        import time as _time

        called = _time.time()
        with open("/proc/self/stat") as f:
            start_ticks = int(f.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/stat") as f:
            btime = next(int(line.split()[1]) for line in f if line.startswith("btime"))
        started = btime + start_ticks / _os.sysconf("SC_CLK_TCK")
        ev: dict[str, Any] = {
            "tag": tag,
            "pid": _os.getpid(),
            "proc_start": started,
            "call": called,
            "had": [m for m in ("pandas", "sklearn", "mlflow", "fastpyfunc.spark") if m in _sys.modules],
            "inputs": [],
            "outputs": [],
        }

        def timed_inputs() -> Iterator[Any]:
            while True:
                t = _time.time()
                try:
                    b = next(batches)
                except StopIteration:
                    return
                ev["inputs"].append((t, _time.time()))
                yield b

        out = func(timed_inputs())
        try:
            while True:
                t = _time.time()
                try:
                    r = next(out)
                except StopIteration:
                    break
                ev["outputs"].append((t, _time.time()))
                yield r
        finally:
            ev["end"] = _time.time()
            with open(f"{trace_dir}/{tag}-{_os.getpid()}-{_time.time_ns()}.json", "w") as f:
                _json.dump(ev, f)

    return run


def inner_udf(wrapper: Any) -> Any:
    """The UserDefinedFunction behind a spark_udf's ``udf_with_default_cols``."""
    for cell in wrapper.__closure__ or ():
        if hasattr(cell.cell_contents, "func") and hasattr(cell.cell_contents, "evalType"):
            return cell.cell_contents
    raise RuntimeError("no UDF in the closure")


def scorer(method: str, spark: Any, df: Any, spec: dict[str, Any], trace_dir: str, tag: str) -> Any:
    import mlflow
    from pyspark.sql import functions as F

    import fastpyfunc

    args = spec["cols"]
    if method == "mlflow.spark_udf":
        inner = inner_udf(
            mlflow.pyfunc.spark_udf(spark, spec["path"], result_type="double", env_manager="local")
        )
        udf = F.pandas_udf(traced(inner.func, tag, trace_dir), "double", F.PandasUDFType.SCALAR_ITER)
    elif method == "fastpyfunc.spark_udf":
        inner = inner_udf(fastpyfunc.spark_udf(spark, spec["path"], result_type="double"))
        udf = F.arrow_udf(traced(inner.func, tag, trace_dir), "double", F.ArrowUDFType.SCALAR_ITER)
    else:
        udf = F.arrow_udf(traced(_identity_udf, tag, trace_dir), "double", F.ArrowUDFType.SCALAR_ITER)
    return df.select(udf(*args).alias("p"))


def summarize(files: list[str], t0: float) -> dict[str, Any]:
    """Per worker: seconds from the job's start to the call, the first result (model load plus
    the first batch), then medians per later batch of input wait and UDF work."""
    rows = []
    for path in sorted(files):
        ev = json.loads(Path(path).read_text())
        ins, outs = ev["inputs"], ev["outputs"]
        in_wait = [b - a for a, b in ins]
        # the UDF's own work on batch i: its output interval minus the time it waited for input
        work = [(ob - oa) - (in_wait[i] if i < len(in_wait) else 0) for i, (oa, ob) in enumerate(outs)]
        rows.append(
            {
                "pid": ev["pid"],
                "had": ev["had"],
                "proc_age_at_call_s": round(ev["call"] - ev["proc_start"], 2),
                "call_after_job_start_s": round(ev["call"] - t0, 2),
                "batches": len(outs),
                "first_work_s": round(work[0], 3) if work else None,
                "later_work_median_s": round(statistics.median(work[1:]), 3) if len(work) > 1 else None,
                "input_wait_median_s": round(statistics.median(in_wait), 3) if in_wait else None,
                "work_total_s": round(sum(work), 2),
                "input_wait_total_s": round(sum(in_wait), 2),
                "consumer_total_s": round(
                    sum(outs[i + 1][0] - outs[i][1] for i in range(len(outs) - 1))
                    + (ev["end"] - outs[-1][1]),
                    2,
                )
                if outs
                else None,
                "end_after_job_start_s": round(ev["end"] - t0, 2),
            }
        )
    return {"workers": rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="sk600", choices=["onnx", "sk600", "skmixed", "torchscript"])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument(
        "--methods",
        nargs="+",
        default=["mlflow.spark_udf", "fastpyfunc.spark_udf", "identity arrow_udf"],
    )
    ap.add_argument(
        "--cold",
        action="store_true",
        help="spark.python.worker.reuse=false: every task starts a fresh Python worker",
    )
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    from pyspark.sql import SparkSession

    os.environ["PYSPARK_PYTHON"] = sys.executable
    spark = (
        SparkSession.builder.master("local[2]")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", "10000")
        .config("spark.driver.memory", "4g")
        .config("spark.python.worker.reuse", "false" if args.cold else "true")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    root = Path(tempfile.mkdtemp(prefix="fpf-spark-trace-"))
    spec = save_models(root, [args.model])[args.model]
    df = make_frame(spark, spec, args.rows)
    trace_dir = tempfile.mkdtemp(prefix="fpf-trace-")
    for r in range(args.rounds):
        for m in args.methods:
            tag = f"{m.replace(' ', '_')}-r{r}"
            t0 = time.time()
            scorer(m, spark, df, spec, trace_dir, tag).write.format("noop").mode("overwrite").save()
            wall = time.time() - t0
            summary = summarize(glob.glob(f"{trace_dir}/{tag}-*.json"), t0)
            print(
                json.dumps({"method": m, "round": r, "rows": args.rows, "wall_s": round(wall, 2), **summary})
            )
            sys.stdout.flush()
    spark.stop()


if __name__ == "__main__":
    main()
