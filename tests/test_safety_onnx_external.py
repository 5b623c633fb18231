"""ONNX external data is confined: a tensor whose ``location`` leaves the model directory (``../``,
an absolute path, a symlink out) is refused with ``MalformedModelError`` before onnxruntime opens
the model (whatever the onnxruntime release checks itself); external data inside the directory
loads and predicts as mlflow."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import mlflow
import numpy as np
import pytest

import fastpyfunc
from fastpyfunc.exceptions import MalformedModelError

from conftest import assert_same, require


@pytest.fixture(scope="module")
def external_model(tmp_path_factory):
    """An ONNX model (X @ W + B) whose initializers mlflow saved as external data."""
    onnx = require("onnx")
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.normal(size=(4, 512)).astype(np.float32), "W")
    b = numpy_helper.from_array(rng.normal(size=(512,)).astype(np.float32), "B")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["X", "W"], ["XW"]), helper.make_node("Add", ["XW", "B"], ["Y"])],
        "affine",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, 4])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [None, 512])],
        initializer=[w, b],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    root = tmp_path_factory.mktemp("onnx-ext") / "model"
    mlflow.onnx.save_model(model, str(root), save_as_external_data=True)
    return root


def _external_files(model: Path) -> set[str]:
    import onnx

    proto = onnx.load(str(model / "model.onnx"), load_external_data=False)
    return {e.value for t in proto.graph.initializer for e in t.external_data if e.key == "location"}


def _relocate(src: Path, dst: Path, location: str) -> Path:
    """A copy of the model whose tensors all name ``location`` (the data file is moved there)."""
    import onnx

    shutil.copytree(src, dst)
    proto = onnx.load(str(dst / "model.onnx"), load_external_data=False)
    (old,) = _external_files(dst)
    target = Path(location) if os.path.isabs(location) else dst / location
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(dst / old), str(target))
    for t in proto.graph.initializer:
        for e in t.external_data:
            if e.key == "location":
                e.value = location
    onnx.save(proto, str(dst / "model.onnx"))
    return dst


X = np.random.default_rng(1).normal(size=(6, 4)).astype(np.float32)


def test_external_data_inside_the_directory_loads_and_matches_mlflow(external_model, tmp_path):
    assert _external_files(external_model), "mlflow saved the tensors as external data"
    expected = mlflow.pyfunc.load_model(str(external_model)).predict(X)
    assert_same(fastpyfunc.load_model(str(external_model)).predict(X), expected)
    # In a subdirectory of the model directory, too.
    nested = _relocate(external_model, tmp_path / "nested", "weights/all.bin")
    assert_same(fastpyfunc.load_model(str(nested)).predict(X), expected)


def _assert_refused(model: Path, location: str) -> None:
    with pytest.raises(MalformedModelError) as e:
        fastpyfunc.load_model(str(model))
    msg = str(e.value)
    assert e.value.key == "model.onnx"
    assert str(model) in msg and repr(location) in msg and "outside the model directory" in msg, msg


def test_parent_directory_location_refused(external_model, tmp_path):
    model = _relocate(external_model, tmp_path / "m", "../outside.bin")
    assert (tmp_path / "outside.bin").exists()
    # Recent onnxruntime refuses this one itself (a bare Fail error); older releases read it.
    _assert_refused(model, "../outside.bin")


def test_absolute_location_refused(external_model, tmp_path):
    outside = str(tmp_path / "elsewhere" / "data.bin")
    model = _relocate(external_model, tmp_path / "m", outside)
    _assert_refused(model, outside)


def test_symlink_out_refused(external_model, tmp_path):
    model = _relocate(external_model, tmp_path / "m", "data.bin")
    real = tmp_path / "real.bin"
    shutil.move(str(model / "data.bin"), str(real))
    (model / "data.bin").symlink_to(real)
    _assert_refused(model, "data.bin")


def test_scan_reports_the_escape(external_model, tmp_path):
    model = _relocate(external_model, tmp_path / "m", "../outside.bin")
    report = fastpyfunc.scan(str(model))
    assert not report.safe and any("outside.bin" in r for r in report.reasons), repr(report)
