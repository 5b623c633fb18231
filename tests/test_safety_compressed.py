"""Compressed pickles: the verifier decompresses once, and the stream it verified is the one that
is unpickled (xz, gzip, bzip2, zlib: mlflow's ``python_model`` compression and joblib's)."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import pickle
import shutil
import zlib
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

import fastpyfunc
from fastpyfunc import _safety
from fastpyfunc.exceptions import UnsafeModelError

from conftest import AddOffset, assert_same, require

COMPRESSORS = {
    "xz": lzma.compress,
    "lzma": lambda b: lzma.compress(b, format=lzma.FORMAT_ALONE),  # joblib's compress="lzma"
    "gzip": gzip.compress,
    "bzip2": bz2.compress,
    "zlib": zlib.compress,
}


class Reduce:
    def __init__(self, fn, *args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


@pytest.mark.parametrize("name", sorted(COMPRESSORS))
def test_load_verified_unpickles_the_decompressed_stream(tmp_path, name):
    obj = {"w": np.arange(12.0).reshape(3, 4), "labels": ["a", "b"], "n": 3}
    blob = pickle.dumps(obj, protocol=5)
    packed = COMPRESSORS[name](blob)
    report = _safety.verify(packed)
    assert (report.compression, report.verdict) == (name, "safe")
    assert report.plain == blob, "the verifier hands back exactly the stream it verified"
    assert _safety.verify(blob).plain is None, "nothing is copied for an uncompressed file"
    path = tmp_path / "model.pkl"
    path.write_bytes(packed)
    assert_same(_safety.load_verified(str(tmp_path), str(path), "pickle"), obj)


@pytest.fixture(scope="module")
def sklearn_refs(tmp_path_factory, iris):
    """{format: model dir saved by mlflow} for a fitted pipeline."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = iris
    est = make_pipeline(StandardScaler(), RandomForestClassifier(n_estimators=5, random_state=0)).fit(X, y)
    out = {}
    for fmt in ("pickle", "cloudpickle"):
        d = tmp_path_factory.mktemp(f"cmp-{fmt}") / "model"
        mlflow.sklearn.save_model(
            est,
            str(d),
            serialization_format=fmt,
            pyfunc_predict_fn="predict_proba",
            pip_requirements=["scikit-learn"],
        )
        out[fmt] = d
    return out


def _compressed_copy(ref: Path, dest: Path, data: bytes) -> Path:
    shutil.copytree(ref, dest)
    (dest / "model.pkl").write_bytes(data)
    return dest


@pytest.mark.parametrize("fmt", ["pickle", "cloudpickle"])
@pytest.mark.parametrize("name", sorted(COMPRESSORS))
def test_compressed_sklearn_model_loads_without_trust(sklearn_refs, iris, tmp_path, fmt, name):
    """mlflow's sklearn flavor never compresses (its pickle.load cannot read such a file), so the
    reference is the same model saved by mlflow, uncompressed."""
    ref = sklearn_refs[fmt]
    d = _compressed_copy(ref, tmp_path / "m", COMPRESSORS[name]((ref / "model.pkl").read_bytes()))
    report = fastpyfunc.scan(str(d))
    assert report.safe and report.files[0].format == f"{fmt}+{name}", repr(report)
    X = iris[0].head(20)
    expected = mlflow.pyfunc.load_model(str(ref)).predict(X.copy())
    assert_same(fastpyfunc.load_model(str(d)).predict(X.copy()), expected)
    assert_same(fastpyfunc.load_model(str(d), trust_code=True).predict(X.copy()), expected)


@pytest.mark.parametrize("compress", [3, ("gzip", 3), ("bz2", 3), ("xz", 3), ("lzma", 3)])
def test_compressed_joblib_model_loads_without_trust(sklearn_refs, iris, tmp_path, compress):
    """joblib.dump(compress=...) wraps its whole stream, arrays included."""
    joblib = require("joblib")
    ref = sklearn_refs["pickle"]
    with open(ref / "model.pkl", "rb") as f:
        est = pickle.load(f)
    buf = io.BytesIO()
    joblib.dump(est, buf, compress=compress)
    d = _compressed_copy(ref, tmp_path / "m", buf.getvalue())
    report = _safety.verify(buf.getvalue())
    assert report.verdict == "safe" and report.compression and report.joblib_arrays
    X = iris[0].head(20)
    expected = mlflow.pyfunc.load_model(str(ref)).predict(X.copy())
    assert_same(fastpyfunc.load_model(str(d)).predict(X.copy()), expected)
    assert_same(fastpyfunc.load_model(str(d), trust_code=True).predict(X.copy()), expected)


@pytest.mark.parametrize("name", sorted(COMPRESSORS))
def test_compressed_attack_refused_before_it_runs(sklearn_refs, tmp_path, name):
    marker = tmp_path / "marker"
    blob = pickle.dumps(Reduce(os.system, f"touch {marker}"), protocol=4)
    d = _compressed_copy(sklearn_refs["pickle"], tmp_path / "m", COMPRESSORS[name](blob))
    with pytest.raises(UnsafeModelError) as e:
        fastpyfunc.load_model(str(d))
    assert "model.pkl" in str(e.value) and "posix.system" in str(e.value), str(e.value)
    assert e.value.key == "model.pkl"
    assert not marker.exists()


@pytest.mark.parametrize("compression", ["lzma", "bzip2", "gzip"])
def test_mlflow_compressed_python_model(tmp_path, monkeypatch, compression):
    """mlflow compresses custom PythonModel pickles (MLFLOW_LOG_MODEL_COMPRESSION): refused
    without trust (a cloudpickle of code), its code objects reported by scan; with trust, mlflow's
    answers."""
    root = tmp_path / "src"
    root.mkdir()
    (root / "offset.txt").write_text("0.5")
    d = tmp_path / "model"
    monkeypatch.setenv("MLFLOW_LOG_MODEL_COMPRESSION", compression)
    mlflow.pyfunc.save_model(
        str(d),
        python_model=AddOffset(),
        artifacts={"offset": str(root / "offset.txt")},
        model_config={"scale": 2.0},
        pip_requirements=["mlflow"],
    )
    monkeypatch.delenv("MLFLOW_LOG_MODEL_COMPRESSION")
    rel = mlflow.models.Model.load(str(d)).flavors["python_function"]["python_model"]
    assert rel != "python_model.pkl", rel
    with pytest.raises(UnsafeModelError) as e:
        fastpyfunc.load_model(str(d))
    assert rel in str(e.value)
    report = fastpyfunc.scan(str(d))
    (f,) = [f for f in report.files if f.path == rel]
    assert "+" in f.format and f.verdict == "unsafe", repr(report)
    data = pd.DataFrame({"a": [1.0, 2.0], "b": [3.0, 4.0]})
    expected = mlflow.pyfunc.load_model(str(d)).predict(data.copy())
    assert_same(fastpyfunc.load_model(str(d), trust_code=True).predict(data.copy()), expected)
