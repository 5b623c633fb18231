"""fastpyfunc.spark_udf and fastpyfunc.spark.predict on local PySpark, against mlflow.pyfunc.spark_udf
on the same DataFrames (collected and compared)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import pytest

import fastpyfunc

from conftest import require

FEATURES = [f"f{i}" for i in range(5)]
# PySpark 4.3 warns on every pandas conversion that it does not fully support pandas 3
pytestmark = pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning")


@pytest.fixture(scope="session")
def spark():
    require("pyspark")
    if not _java_present():
        pytest.fail("these tests need Java (17) for PySpark; `make test` installs it", pytrace=False)
    from pyspark.sql import SparkSession

    os.environ["PYSPARK_PYTHON"] = sys.executable  # workers run this interpreter (and its packages)
    # the custom PythonModel's class lives in conftest: the workers must import it, as mlflow's do
    here = str(Path(__file__).parent)
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (here, os.environ.get("PYTHONPATH")) if p)
    session = (
        SparkSession.builder.master("local[2]")
        .appName("fastpyfunc-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", "16")  # several batches per task
        # Spark 4's default; Spark 3.5 would otherwise read float32 pandas columns as double
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.driver.memory", "1g")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def _java_present() -> bool:
    import shutil

    return shutil.which("java") is not None or bool(os.environ.get("JAVA_HOME"))


def _frame(n: int = 40, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({c: rng.normal(size=n) for c in FEATURES})


def _collect(df: Any) -> list[Any]:
    return [tuple(_plain(v) for v in row) for row in df.collect()]


def _plain(v: Any) -> Any:
    if hasattr(v, "asDict"):
        return {k: _plain(x) for k, x in v.asDict().items()}
    if isinstance(v, list):
        return [_plain(x) for x in v]
    return v


def _assert_close(ours: Any, theirs: Any, path: str = "rows") -> None:
    """Same structure and types; floats equal up to float32 rounding (the Python and native engines
    may differ in the last bit)."""
    if isinstance(theirs, float):
        assert isinstance(ours, float), f"{path}: {ours!r} is not a float like {theirs!r}"
        assert math.isclose(ours, theirs, rel_tol=1e-6, abs_tol=1e-7) or (
            ours != ours and theirs != theirs
        ), f"{path}: {ours!r} != {theirs!r}"
    elif isinstance(theirs, (list, tuple)):
        assert isinstance(ours, (list, tuple)) and len(ours) == len(theirs), f"{path}: {ours!r} != {theirs!r}"
        for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
            _assert_close(a, b, f"{path}[{i}]")
    elif isinstance(theirs, dict):
        assert isinstance(ours, dict) and list(ours) == list(theirs), f"{path}: {ours!r} != {theirs!r}"
        for k in theirs:
            _assert_close(ours[k], theirs[k], f"{path}.{k}")
    else:
        assert type(ours) is type(theirs) and ours == theirs, f"{path}: {ours!r} != {theirs!r}"


def compare_udfs(
    spark: Any, sdf: Any, model_dir: Path, cases: list[dict[str, Any]], trust_code: bool | None = None
) -> list[Any]:
    """fastpyfunc.spark_udf and mlflow.pyfunc.spark_udf(env_manager="local") on the same
    DataFrame for each case (``args``, ``result_type``, ``params``): same Spark type, same rows.
    One job per case, both UDFs side by side (the same few Python workers serve every job; more
    UDFs in one job would each start their own). Returns our column per case, by row."""
    ours_rows = []
    for case in cases:
        kwargs = {k: v for k, v in case.items() if k != "args"}
        ours = fastpyfunc.spark_udf(spark, str(model_dir), trust_code=trust_code, **kwargs)
        theirs = mlflow.pyfunc.spark_udf(spark, str(model_dir), env_manager="local", **kwargs)
        scored = sdf.select(ours(*case["args"]).alias("ours"), theirs(*case["args"]).alias("theirs"))
        assert scored.schema["ours"].dataType == scored.schema["theirs"].dataType, case
        rows = _collect(scored)
        _assert_close([r[0] for r in rows], [r[1] for r in rows], f"case {case}")
        ours_rows.append([r[0] for r in rows])
    return [tuple(col[i] for col in ours_rows) for i in range(len(ours_rows[0]))]


# -- models ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def onnx_cols(tmp_path_factory):
    """5 double columns fed to one [-1, 5] double input (column signature)."""
    require("onnxruntime")
    from mlflow.models import infer_signature
    from skl2onnx import to_onnx
    from sklearn.linear_model import LinearRegression

    X = _frame(200, seed=1)
    y = X.to_numpy() @ np.arange(1, 6) + 0.5
    onx = to_onnx(LinearRegression().fit(X.to_numpy(), y), X.to_numpy()[:1], target_opset=17)
    d = tmp_path_factory.mktemp("onnx-cols") / "model"
    mlflow.onnx.save_model(onx, str(d), signature=infer_signature(X, pd.DataFrame({"variable": y})))
    return d


@pytest.fixture(scope="module")
def onnx_tensor(tmp_path_factory, iris):
    """iris: one [-1, 4] float input, one [-1, 1] float output (tensor signature)."""
    require("onnxruntime")
    from mlflow.models import infer_signature
    from skl2onnx import to_onnx
    from sklearn.linear_model import LinearRegression

    X, y = iris
    x = X.to_numpy(np.float32)
    onx = to_onnx(LinearRegression().fit(x, y.to_numpy(np.float32)), x[:1], target_opset=17)
    d = tmp_path_factory.mktemp("onnx-tensor") / "model"
    out = (x @ np.ones(4, np.float32)).reshape(-1, 1)
    mlflow.onnx.save_model(onx, str(d), signature=infer_signature(x, out))
    return d


def _iris_frame(spark: Any, iris: Any) -> Any:
    X, _ = iris
    return spark.createDataFrame(
        X.astype(np.float32).rename(columns=lambda c: c.split(" (")[0].replace(" ", "_"))
    )


@pytest.fixture(scope="module")
def sk_mixed(tmp_path_factory):
    """scikit-learn (skops) on mixed dtypes: an int column, a float32 column, a double column."""
    from mlflow.models import infer_signature
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(3)
    X = pd.DataFrame(
        {
            "a": rng.integers(0, 10, 300).astype(np.int64),
            "b": rng.normal(size=300).astype(np.float32),
            "c": rng.normal(size=300),
        }
    )
    y = (X["a"] + X["b"] > 5).astype(np.int64)
    clf = LogisticRegression(max_iter=500).fit(X, y)
    out = {}
    for fn in ("predict", "predict_proba"):
        d = tmp_path_factory.mktemp(f"sk-mixed-{fn}") / "model"
        pred = getattr(clf, fn)(X)
        mlflow.sklearn.save_model(
            clf,
            str(d),
            serialization_format="skops",
            pyfunc_predict_fn=fn,
            signature=infer_signature(X, pred),
            skops_trusted_types=None,
        )
        out[fn] = d
    return X, out


@pytest.fixture(scope="module")
def torchscript(tmp_path_factory):
    torch = require("torch")
    from mlflow.models import infer_signature

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(5, 2)

        def forward(self, x):
            return torch.tanh(self.lin(x))

    torch.manual_seed(0)
    net = torch.jit.script(Net().eval())
    x = np.random.default_rng(4).random((8, 5), dtype=np.float32)
    d = tmp_path_factory.mktemp("ts") / "model"
    with torch.no_grad():
        y = net(torch.from_numpy(x)).numpy()
    mlflow.pytorch.save_model(net, str(d), serialization_format="pickle", signature=infer_signature(x, y))
    return d


@pytest.fixture(scope="module")
def savedmodel(tmp_path_factory):
    require("tensorflow")
    import keras
    from mlflow.models import infer_signature

    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((5,)), keras.layers.Dense(3, activation="relu"), keras.layers.Dense(2)]
    )
    x = np.random.default_rng(5).random((6, 5), dtype=np.float32)
    d = tmp_path_factory.mktemp("tf") / "model"
    mlflow.keras.save_model(
        model, str(d), signature=infer_signature(x, model.predict(x, verbose=0)), save_exported_model=True
    )
    return d


def _float32_frame(spark: Any, n: int = 40) -> Any:
    from pyspark.sql import functions as F

    sdf = spark.createDataFrame(_frame(n, seed=6))
    return sdf.select(*[F.col(c).cast("float").alias(c) for c in FEATURES])


# -- results equal to mlflow's -----------------------------------------------------------------


def test_onnx_column_signature(spark, onnx_cols):
    assert fastpyfunc.load_model(str(onnx_cols)).engine == "onnx"
    sdf = spark.createDataFrame(_frame())
    from pyspark.sql import functions as F

    cases = [{"args": FEATURES, "result_type": rt} for rt in ("double", "array<double>", "string")]
    cases.append({"args": [F.struct(*FEATURES)], "result_type": "double"})
    cases.append({"args": [], "result_type": "float"})  # no arguments: the signature's columns
    compare_udfs(spark, sdf, onnx_cols, cases)


def test_onnx_tensor_signature(spark, onnx_model, iris):
    from pyspark.sql import functions as F

    sdf = _iris_frame(spark, iris)
    args = [F.struct(*sdf.columns)]
    compare_udfs(
        spark, sdf, onnx_model, [{"args": args, "result_type": rt} for rt in ("double", "array<float>")]
    )


def test_onnx_2d_output_is_an_array_column_where_mlflow_fails(spark, onnx_tensor, iris):
    """The output spec is [-1, 1]: mlflow infers array<array<float>> and fails (#12539); we return
    one array<float> per row, equal to mlflow.pyfunc's own predictions."""
    from pyspark.sql import functions as F

    X, _ = iris
    sdf = _iris_frame(spark, iris)
    udf = fastpyfunc.spark_udf(spark, str(onnx_tensor))
    assert udf.returnType.simpleString() == "array<float>"
    rows = _collect(sdf.select(udf(F.struct(*sdf.columns))))
    expected = mlflow.pyfunc.load_model(str(onnx_tensor)).predict(X.to_numpy(np.float32))["variable"]
    _assert_close([r[0] for r in rows], [[float(v) for v in row] for row in expected])
    theirs = mlflow.pyfunc.spark_udf(spark, str(onnx_tensor), env_manager="local")
    with pytest.raises(Exception):  # noqa: B017 - whatever mlflow raises: it cannot return these
        sdf.select(theirs(F.struct(*sdf.columns))).collect()


def test_sklearn(spark, sk_mixed):
    X, models = sk_mixed
    sdf = spark.createDataFrame(X.iloc[:50])
    cols = ["a", "b", "c"]
    compare_udfs(
        spark, sdf, models["predict"], [{"args": cols}, {"args": cols, "result_type": "double"}]
    )  # long
    compare_udfs(spark, sdf, models["predict_proba"], [{"args": cols, "result_type": "array<double>"}])


def test_torchscript(spark, torchscript):
    from pyspark.sql import functions as F

    assert fastpyfunc.load_model(str(torchscript)).engine == "torchscript"
    sdf = _float32_frame(spark)
    args = [F.struct(*FEATURES)]
    compare_udfs(
        spark, sdf, torchscript, [{"args": args, "result_type": rt} for rt in ("array<float>", "double")]
    )


def test_savedmodel(spark, savedmodel):
    from pyspark.sql import functions as F

    assert fastpyfunc.load_model(str(savedmodel)).engine == "savedmodel"
    sdf = _float32_frame(spark)
    args = [F.struct(*FEATURES)]
    compare_udfs(
        spark, sdf, savedmodel, [{"args": args, "result_type": rt} for rt in ("array<float>", "double")]
    )


def test_custom_python_model_with_params_and_struct_results(spark, custom_model):
    sdf = spark.createDataFrame(pd.DataFrame({"a": np.arange(30.0), "b": np.linspace(0, 1, 30)}))
    with pytest.raises(fastpyfunc.exceptions.UnsafeModelError, match=str(custom_model)):
        fastpyfunc.spark_udf(spark, str(custom_model))  # refused on the driver, before any job
    cols = ["a", "b"]
    cases = [
        {"args": cols},
        {"args": cols, "params": {"k": 3}},
        {"args": cols, "result_type": "struct<y: double>", "params": {"as_frame": True, "k": 2}},
        {"args": cols, "result_type": "array<double>"},
    ]
    rows = compare_udfs(spark, sdf, custom_model, cases, trust_code=True)
    assert rows[1][1] != rows[1][0] and isinstance(rows[0][2], dict)  # params and the struct took effect


def test_params_are_validated_on_the_driver(spark, custom_model, caplog):
    """A param of the wrong type fails at spark_udf() time, before any job, naming the param (as
    mlflow's spark_udf validates); an unknown param is dropped with mlflow's warning."""
    bad = {"k": "three"}
    with pytest.raises(Exception, match="k") as theirs:
        mlflow.pyfunc.spark_udf(spark, str(custom_model), env_manager="local", params=bad)
    with pytest.raises(fastpyfunc.exceptions.SchemaEnforcementError) as ours:
        fastpyfunc.spark_udf(spark, str(custom_model), params=bad, trust_code=True)
    assert ours.value.key == "k" and str(custom_model) in str(ours.value)
    assert "three" in str(ours.value) and "three" in str(theirs.value)
    caplog.clear()
    with caplog.at_level("WARNING", logger="fastpyfunc"):
        fastpyfunc.spark_udf(spark, str(custom_model), params={"nope": 1}, trust_code=True)
    assert "nope" in caplog.text


def test_struct_result_from_a_native_engine(spark, onnx_cols):
    sdf = spark.createDataFrame(_frame())
    rows = compare_udfs(
        spark, sdf, onnx_cols, [{"args": FEATURES, "result_type": "struct<variable: double>"}]
    )
    assert isinstance(rows[0][0], dict)


# -- errors ------------------------------------------------------------------------------------


def test_too_few_columns_fail_on_the_driver(spark, onnx_cols):
    udf = fastpyfunc.spark_udf(spark, str(onnx_cols), result_type="double")
    with pytest.raises(fastpyfunc.exceptions.SchemaEnforcementError, match="missing required columns") as e:
        udf("f0", "f1")
    assert e.value.model_path == str(onnx_cols) and e.value.key == "f2"


def test_a_struct_with_wrong_fields_fails_with_our_message(spark, onnx_cols):
    from pyspark.sql import functions as F

    sdf = spark.createDataFrame(_frame(8)).withColumnRenamed("f4", "g4")
    udf = fastpyfunc.spark_udf(spark, str(onnx_cols), result_type="double")
    with pytest.raises(Exception) as e:
        sdf.select(udf(F.struct(*sdf.columns))).collect()
    text = str(e.value)
    assert "fastpyfunc.exceptions.SchemaEnforcementError" in text and str(onnx_cols) in text and "f4" in text


def test_predict_missing_column_fails_on_the_driver(spark, onnx_cols):
    sdf = spark.createDataFrame(_frame(8)).drop("f3")
    with pytest.raises(fastpyfunc.exceptions.SchemaEnforcementError, match="'f3'"):
        fastpyfunc.spark.predict(sdf, str(onnx_cols))


def test_env_managers_other_than_local_are_refused(spark, onnx_cols):
    for manager in ("virtualenv", "conda", "uv"):
        with pytest.raises(fastpyfunc.exceptions.FastPyFuncError, match="env_manager='local'") as e:
            fastpyfunc.spark_udf(spark, str(onnx_cols), env_manager=manager)
        assert e.value.key == "env_manager"
    fastpyfunc.spark_udf(spark, str(onnx_cols), env_manager="local")


# -- whole-table scoring -----------------------------------------------------------------------


def test_predict_appends_the_udfs_results(spark, onnx_cols, sk_mixed):
    sdf = spark.createDataFrame(_frame().assign(id=np.arange(40)))
    out = fastpyfunc.spark.predict(sdf, str(onnx_cols), result_type="double")
    assert out.columns == [*sdf.columns, "prediction"]
    theirs = mlflow.pyfunc.spark_udf(spark, str(onnx_cols), result_type="double", env_manager="local")
    _assert_close(_collect(out), _collect(sdf.withColumn("prediction", theirs(*FEATURES))))

    X, models = sk_mixed
    sdf = spark.createDataFrame(X.iloc[:30])
    out = fastpyfunc.spark.predict(sdf, str(models["predict"]), result_column="label")
    theirs = mlflow.pyfunc.spark_udf(spark, str(models["predict"]), env_manager="local")
    _assert_close(_collect(out), _collect(sdf.withColumn("label", theirs("a", "b", "c"))))


# -- install() and the executors ---------------------------------------------------------------


def test_install_patches_mlflow_spark_udf():
    with fastpyfunc.installed():
        assert mlflow.pyfunc.spark_udf is fastpyfunc.spark_udf
    assert mlflow.pyfunc.spark_udf is not fastpyfunc.spark_udf


_NO_MLFLOW = """
import json, os, sys
sys.modules["mlflow"] = None  # the driver does not need it either
import pandas as pd
from pyspark.sql import SparkSession, functions as F
import fastpyfunc, fastpyfunc.spark

spark = (SparkSession.builder.master("local[2]").config("spark.ui.enabled", "false")
         .config("spark.python.worker.reuse", "true").getOrCreate())
spark.sparkContext.setLogLevel("ERROR")
sdf = spark.createDataFrame(pd.DataFrame(json.loads(sys.argv[2]))).repartition(2)
udf = fastpyfunc.spark_udf(spark, sys.argv[1], result_type="double")
for _ in range(3):  # several jobs: the workers load the model once and keep it
    scored = sdf.select(udf().alias("p")).collect()

def probe(it):
    import os, sys
    report = sys.modules["fastpyfunc.spark"]._worker_report() if "fastpyfunc.spark" in sys.modules else {
        "pid": os.getpid(), "models": 0, "extracted": 0, "mlflow": "mlflow" in sys.modules}
    yield pd.DataFrame([report])

reports = sdf.mapInPandas(probe, "pid long, models long, extracted long, mlflow boolean").collect()
print(json.dumps({"rows": len(scored), "reports": [r.asDict() for r in reports]}))
spark.stop()
"""


def test_executors_do_not_import_mlflow(spark, onnx_cols):
    frame = _frame(64)
    out = subprocess.run(
        [sys.executable, "-c", _NO_MLFLOW, str(onnx_cols), frame.to_json(orient="columns")],
        capture_output=True,
        text=True,
        env={**os.environ, "PYSPARK_PYTHON": sys.executable},
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["rows"] == 64
    reports = got["reports"]
    assert any(r["models"] == 1 for r in reports), reports  # a worker that scored, reused
    assert all(r["models"] <= 1 for r in reports), reports  # loaded once per worker, not per batch/job
    assert not any(r["mlflow"] for r in reports), reports


_CLUSTER = """
import json, os, shutil, sys
import pandas as pd
from pyspark.sql import SparkSession
import fastpyfunc, fastpyfunc.spark

# a real cluster manager with its own executor JVM and workers (Spark's local-cluster mode)
spark = (SparkSession.builder.master("local-cluster[1,1,1024]").config("spark.ui.enabled", "false")
         .config("spark.python.worker.reuse", "true").getOrCreate())
spark.sparkContext.setLogLevel("ERROR")
model, frame = sys.argv[1], pd.DataFrame(json.loads(sys.argv[2]))
sdf = spark.createDataFrame(frame).repartition(2)
udf = fastpyfunc.spark_udf(spark, model, result_type="double")
moved = model + "-moved"
os.rename(model, moved)  # the executors can only score from what the driver shipped
try:
    scored = [r.p for r in sdf.select(udf().alias("p")).collect()]
finally:
    os.rename(moved, model)

def probe(it):
    import os, sys
    report = sys.modules["fastpyfunc.spark"]._worker_report() if "fastpyfunc.spark" in sys.modules else {
        "pid": os.getpid(), "models": 0, "extracted": 0, "mlflow": "mlflow" in sys.modules}
    yield pd.DataFrame([report])

reports = sdf.mapInPandas(probe, "pid long, models long, extracted long, mlflow boolean").collect()
print(json.dumps({"scored": scored, "reports": [r.asDict() for r in reports]}))
spark.stop()
"""


def test_a_cluster_gets_the_model_shipped_once(spark, onnx_cols, tmp_path):
    """Off a local master the driver zips the model into ``SparkContext.addFile`` and each worker
    scores from its extracted copy: the directory is renamed away before the job runs, and the
    results are mlflow.pyfunc's on the same rows."""
    import shutil

    model = tmp_path / "model"
    shutil.copytree(onnx_cols, model)
    frame = _frame(64, seed=3)
    out = subprocess.run(
        [sys.executable, "-c", _CLUSTER, str(model), frame.to_json(orient="columns")],
        capture_output=True,
        text=True,
        env={**os.environ, "PYSPARK_PYTHON": sys.executable},
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    theirs = mlflow.pyfunc.load_model(str(model)).predict(frame)
    # repartition(2) reorders rows: compare as multisets
    np.testing.assert_allclose(sorted(got["scored"]), sorted(np.asarray(theirs).ravel()), rtol=1e-6)
    reports = got["reports"]
    assert any(r["models"] == 1 and r["extracted"] == 1 for r in reports), reports
    assert all(r["extracted"] <= 1 for r in reports), reports  # unzipped once per worker


def test_import_fastpyfunc_does_not_import_pyspark():
    code = "import sys, fastpyfunc; print('pyspark' in sys.modules, 'fastpyfunc.spark' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


@pytest.mark.parametrize(
    "columns",
    [
        {"a": [1.0, 2.5], "b": [3.0, -4.0], "c": [0.0, 1e300]},  # one block path
        {"a": np.array([1, 2], np.int32), "b": np.array([3, 4], np.int32)},
        {"a": np.array([1, 2], np.float32), "b": np.array([3, 4], np.float32)},
        {"a": [1.0, None], "b": [3.0, 4.0]},  # nulls: to_pandas
        {"a": [1, 2], "b": [3.0, 4.0]},  # mixed types: to_pandas
        {"a": [1.0, 2.0]},
        {"a": [True, False], "b": [False, False]},
    ],
)
def test_pandas_input_is_pyarrows_to_pandas(columns):
    """Python-route models get the DataFrame ``to_pandas()`` gives, also from the one-block path."""
    import pyarrow as pa

    from fastpyfunc.spark import _to_pandas

    batch = pa.RecordBatch.from_pydict(columns)
    ours, theirs = _to_pandas(batch), batch.to_pandas()
    pd.testing.assert_frame_equal(ours, theirs, check_exact=True)
    assert ours.columns.dtype == theirs.columns.dtype
    ours.iloc[0, 0] = ours.iloc[1, 0]  # writable, as to_pandas's frames are
    dup = pa.RecordBatch.from_arrays([pa.array([1.0]), pa.array([2.0])], names=["a", "a"])
    pd.testing.assert_frame_equal(_to_pandas(dup), dup.to_pandas())


def test_executor_skops_import_skips_torch_and_pytest_with_the_same_trusted_types():
    """A cold worker imports skops.io without torch and pytest (unused by its trusted-type
    list), and gets the same list as a plain import; nothing is left refusing imports."""
    require("skops")
    listing = "from skops.io import _trusted_types as t; print(sorted(t.SKLEARN_ESTIMATOR_TYPE_NAMES))"
    ours = (
        "import sys; from fastpyfunc.spark import _import_skops; _import_skops(); "
        "print('torch' in sys.modules, 'pytest' in sys.modules, "
        "any(type(f).__name__ == '_Refuse' for f in sys.meta_path)); " + listing
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    got = subprocess.run([sys.executable, "-c", ours], capture_output=True, text=True, check=True, env=env)
    plain = subprocess.run(
        [sys.executable, "-c", listing], capture_output=True, text=True, check=True, env=env
    )
    flags, names = got.stdout.split("\n", 1)
    assert flags.split() == ["False", "False", "False"]
    assert names.strip() == plain.stdout.strip()
    assert "LinearRegression" in names
