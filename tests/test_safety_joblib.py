"""joblib files: arrays stored as raw bytes after each ``NumpyArrayWrapper`` are read by the
verifier as joblib reads them, so ordinary joblib files load without trust, and code hidden after
or inside a wrapper is still found."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
from pathlib import Path

import mlflow
import numpy as np
import pytest

import fastpyfunc
from fastpyfunc import _safety
from fastpyfunc.exceptions import ModelLoadError, UnsafeModelError

from conftest import PY, assert_same, require


class Reduce:
    def __init__(self, fn, *args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


def _dump(obj, **kwargs) -> bytes:
    joblib = require("joblib")
    buf = io.BytesIO()
    joblib.dump(obj, buf, **kwargs)
    return buf.getvalue()


def _joblib_load(data: bytes):
    import joblib

    return joblib.load(io.BytesIO(data))


def _arrays() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "f8": rng.normal(size=(7, 3)),
        "f4_fortran": np.asfortranarray(rng.normal(size=(5, 4)).astype(np.float32)),
        "i1": np.arange(-5, 5, dtype=np.int8),
        "u8": np.arange(10, dtype=np.uint64),
        "bool": np.array([True, False, True]),
        "c16": np.array([1 + 2j, 3 - 4j]),
        "big_endian": np.arange(6, dtype=">i4").reshape(2, 3),
        "unicode": np.array(["a", "bcd", "éé"]),
        "bytes": np.array([b"ab", b"c"]),
        "datetime": np.array(["2024-01-01", "2025-06-30"], dtype="datetime64[ns]"),
        "object_strings": np.array(["setosa", "versicolor", None], dtype=object),
        "empty": np.zeros((0, 3)),
        "scalar": np.array(3.5),
        "f2_3d": np.ones((2, 2, 2), dtype=np.float16),
        # sklearn's tree nodes are structured arrays; one with an object field is a nested pickle
        "structured": np.array([(1, 2.5), (3, 4.5)], dtype=[("a", "<i4"), ("b", "<f8")]),
        "structured_object": np.array([(1, "x")], dtype=[("a", "<i4"), ("o", "O")]),
        "subarray": np.zeros(2, dtype=[("v", "<f4", (3,))]),
    }


def _load_bytes(tmp_path: Path, data: bytes):
    path = tmp_path / "model.pkl"
    path.write_bytes(data)
    return _safety.load_verified(str(tmp_path), str(path), "pickle")


def test_arrays_read_as_joblib_reads_them(tmp_path):
    arrays = _arrays()
    data = _dump(arrays)
    report = _safety.verify(data)
    assert report.verdict == "safe", report
    assert len(report.joblib_arrays) == len(arrays)
    ours = _load_bytes(tmp_path, data)
    theirs = _joblib_load(data)
    assert ours.keys() == theirs.keys()
    for k in arrays:
        assert ours[k].dtype == theirs[k].dtype, k
        assert ours[k].shape == theirs[k].shape, k
        assert ours[k].flags.f_contiguous == theirs[k].flags.f_contiguous, k
        np.testing.assert_array_equal(ours[k], theirs[k], err_msg=k)


@pytest.fixture(scope="module")
def joblib_models(tmp_path_factory, iris):
    """{name: (joblib model dir, pickle model dir saved by mlflow, input)}."""
    require("joblib")
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = iris
    names = np.array(["setosa", "versicolor", "virginica"], dtype=object)[y]
    models = {
        "logreg_string_labels": LogisticRegression(max_iter=1000).fit(X, names),
        "forest": RandomForestClassifier(n_estimators=5, random_state=0).fit(X, y),
        "hgb": HistGradientBoostingClassifier(max_iter=10, random_state=0).fit(X, y),
        "pipeline": make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X, y),
    }
    out = {}
    for name, est in models.items():
        ref = tmp_path_factory.mktemp(f"jl-{name}") / "pickle"
        mlflow.sklearn.save_model(
            est, str(ref), serialization_format="pickle", pip_requirements=["scikit-learn"]
        )
        d = ref.parent / "joblib"
        shutil.copytree(ref, d)
        (d / "model.pkl").write_bytes(_dump(est))
        out[name] = (d, ref, X.head(20))
    return out


@pytest.mark.parametrize("name", ["logreg_string_labels", "forest", "hgb", "pipeline"])
def test_joblib_model_loads_without_trust_and_matches_mlflow(joblib_models, name):
    """mlflow's sklearn flavor unpickles with pickle.load, which cannot read joblib's arrays; the
    same estimator saved by mlflow (pickle format) is the reference."""
    d, ref, X = joblib_models[name]
    assert _safety.verify((d / "model.pkl").read_bytes()).joblib_arrays
    report = fastpyfunc.scan(str(d))
    assert report.safe, repr(report)
    expected = mlflow.pyfunc.load_model(str(ref)).predict(X.copy())
    assert_same(fastpyfunc.load_model(str(d)).predict(X.copy()), expected)
    assert_same(fastpyfunc.load_model(str(d), trust_code=True).predict(X.copy()), expected)


# -- attacks --------------------------------------------------------------------------------------


def _replace_in_frame(data: bytes, old: bytes, new: bytes) -> bytes:
    """Replaces ``old`` (inside the first pickle frame) and fixes that frame's length."""
    import pickletools

    at = data.index(old)
    frame = None
    try:
        for op, arg, pos in pickletools.genops(data):
            if pos > at:
                break
            if op.name == "FRAME":
                frame = (pos, arg)
    except ValueError:  # the raw array bytes after the first frame are not opcodes
        pass
    assert frame is not None
    pos, length = frame
    header = b"\x95" + (length + len(new) - len(old)).to_bytes(8, "little")
    out = data[:pos] + header + data[pos + 9 : at] + new + data[at + len(old) :]
    return out


def _touch(marker: Path) -> Reduce:
    return Reduce(os.system, f"touch {marker}")


def _model_with(base: Path, dest: Path, data: bytes) -> Path:
    shutil.copytree(base, dest)
    (dest / "model.pkl").write_bytes(data)
    return dest


def _refused(model: Path, marker: Path, cls=UnsafeModelError, match: str = "system") -> None:
    with pytest.raises(cls, match=match) as e:
        fastpyfunc.load_model(str(model))
    assert str(model) in str(e.value) and e.value.key == "model.pkl"
    assert not marker.exists()


def _live_under_joblib(data: bytes, marker: Path) -> bool:
    """Whether joblib.load itself runs the payload (in a subprocess)."""
    blob = marker.with_suffix(".blob")
    blob.write_bytes(data)
    code = f"import joblib\ntry:\n    joblib.load({str(blob)!r})\nexcept Exception:\n    pass"
    subprocess.run([PY, "-c", code], timeout=120, check=False, capture_output=True)
    ran = marker.exists()
    if ran:
        marker.unlink()
    return ran


def test_code_after_wrappers_is_found(joblib_models, tmp_path):
    d, _, _ = joblib_models["forest"]
    marker = tmp_path / "marker"
    data = _dump({"w": np.arange(1000.0), "p": _touch(marker)})
    assert _live_under_joblib(data, marker)
    _refused(_model_with(d, tmp_path / "m", data), marker)


def test_code_inside_an_object_array_is_found(joblib_models, tmp_path):
    """Object arrays are a nested pickle right after their wrapper."""
    d, _, _ = joblib_models["forest"]
    marker = tmp_path / "marker"
    data = _dump({"classes": np.array([_touch(marker), "b"], dtype=object)})
    assert _live_under_joblib(data, marker)
    report = _safety.verify(data)
    assert report.verdict == "unsafe"
    assert any(g.name == "system" and not g.allowed for g in report.globals)
    _refused(_model_with(d, tmp_path / "m", data), marker)


def test_code_hidden_as_array_bytes_behind_a_lying_shape(joblib_models, tmp_path):
    """The array's bytes are a pickle program; the wrapper's shape is rewritten to 0, so joblib
    reads no array bytes and runs them as opcodes. The verifier reads the shape as joblib does
    and so sees the opcodes too."""
    d, _, _ = joblib_models["forest"]
    marker = tmp_path / "marker"
    program = b"0cposix\nsystem\n(S'touch " + str(marker).encode() + b"'\ntR."
    data = _dump(np.frombuffer(program, dtype=np.uint8))
    shape = b"\x8c\x05shape\x94K" + bytes([len(program)])
    assert data.count(shape) == 1
    hostile = data.replace(shape, b"\x8c\x05shape\x94K\x00")
    assert _live_under_joblib(hostile, marker)
    report = _safety.verify(hostile)
    assert report.verdict == "unsafe", report
    _refused(_model_with(d, tmp_path / "m", hostile), marker)


def test_wrapper_state_that_cannot_be_read_statically_is_refused(joblib_models, tmp_path):
    """A shape computed at load time (here by an allow-listed call) cannot be checked."""
    d, _, _ = joblib_models["forest"]
    data = _dump(np.arange(4.0))
    shape = b"\x8c\x05shape\x94K\x04\x85"
    assert data.count(shape) == 1
    # shape = builtins.tuple([4]) instead of the literal (4,)
    computed = b"\x8c\x05shape\x94\x8c\x08builtins\x8c\x05tuple\x93]K\x04a\x85R"
    hostile = _replace_in_frame(data, shape, computed)
    assert _joblib_load(hostile).tolist() == [0.0, 1.0, 2.0, 3.0]
    assert _safety.verify(hostile).verdict == "malformed"
    marker = tmp_path / "never"
    _refused(_model_with(d, tmp_path / "m", hostile), marker, ModelLoadError, "shape")
