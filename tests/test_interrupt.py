"""Ctrl-C during a long native ONNX predict: KeyboardInterrupt arrives promptly and the model
stays usable (run in a subprocess, which gets the SIGINT)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import mlflow
import numpy as np
import pytest

from conftest import assert_same, require

#: Seconds within which KeyboardInterrupt must arrive (the uninterrupted predict takes far longer).
BOUND_S = 5.0
WIDTH = 256

SCRIPT = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    import fastpyfunc

    model = fastpyfunc.load_model(sys.argv[1])
    assert model.engine == "onnx", model.engine
    width = int(sys.argv[3])
    big = np.ones((4096, width), dtype=np.float32)
    print("PREDICTING", flush=True)
    try:
        model.predict(big)
        print("FINISHED", flush=True)
    except KeyboardInterrupt:
        print("INTERRUPTED", time.monotonic(), flush=True)
    small = np.full((2, width), 0.5, dtype=np.float32)
    np.save(sys.argv[2], model.predict(small)["y"])
    print("AFTER", flush=True)
    """
)


@pytest.fixture(scope="module")
def long_onnx(tmp_path_factory):
    """2000 MatMul+Tanh nodes over one 256x256 weight: about 40 s on 4096 rows before this change."""
    require("onnxruntime")
    from onnx import TensorProto, helper

    w = np.random.default_rng(0).standard_normal((WIDTH, WIDTH)).astype(np.float32) / 16
    nodes, prev = [], "x"
    for i in range(2000):
        nodes.append(helper.make_node("MatMul", [prev, "W"], [f"m{i}"]))
        nodes.append(helper.make_node("Tanh", [f"m{i}"], [f"t{i}"]))
        prev = f"t{i}"
    nodes.append(helper.make_node("Identity", [prev], ["y"]))
    graph = helper.make_graph(
        nodes,
        "loop",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, WIDTH])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, WIDTH])],
        [helper.make_tensor("W", TensorProto.FLOAT, [WIDTH, WIDTH], w.ravel().tolist())],
    )
    onx = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    d = tmp_path_factory.mktemp("long-onnx") / "model"
    mlflow.onnx.save_model(onx, str(d), onnx_execution_providers=["CPUExecutionProvider"])
    return d


def test_ctrl_c_interrupts_a_long_onnx_predict(long_onnx, tmp_path):
    out = tmp_path / "after.npy"
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(long_onnx), str(out), str(WIDTH)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.strip() == "PREDICTING", line + proc.stderr.read()
        time.sleep(1.0)  # well inside the predict
        sent = time.monotonic()
        os.kill(proc.pid, signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, stderr[-3000:]
    lines = stdout.split()
    assert "FINISHED" not in lines, "the predict ended before the SIGINT: make the model slower"
    assert lines[0] == "INTERRUPTED", stdout + stderr[-3000:]
    assert float(lines[1]) - sent < BOUND_S
    assert lines[-1] == "AFTER"
    small = np.full((2, WIDTH), 0.5, dtype=np.float32)
    assert_same(np.load(out), mlflow.pyfunc.load_model(str(long_onnx)).predict(small)["y"])
