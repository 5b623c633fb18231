"""os.fork() after a load (gunicorn --preload, multiprocessing's fork): per engine, the child's
first predict gives mlflow's answer, or raises the fork error where it would hang.

Each scenario runs in a fresh interpreter that forks; that parent waits for its child with a
deadline and kills it on a hang, and the test bounds the whole run too, so a hang fails the test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import mlflow
import numpy as np
import pytest

from conftest import assert_same, require

DEADLINE_S = 30

#: Runs in a fresh interpreter: load, maybe predict, fork; the child predicts (or, with
#: "reload", loads the model again first) and saves the result or describes its error.
SCENARIO = textwrap.dedent(
    """
    import json, os, signal, sys, time
    import numpy as np
    import fastpyfunc

    model_dir, data_file, out, predict_first, reload, deadline = sys.argv[1:7]
    x = np.load(data_file)
    model = fastpyfunc.load_model(model_dir)
    if predict_first == "1":
        model.predict(x)
    pid = os.fork()
    if pid == 0:
        status = 0
        try:
            m = fastpyfunc.load_model(model_dir) if reload == "1" else model
            result = m.predict(x)
            if not isinstance(result, dict):
                result = {"result": np.asarray(result)}
            np.savez(out + ".npz", **result)
            info = {"ok": True}
        except Exception as e:
            info = {"ok": False, "type": type(e).__name__, "message": str(e),
                    "key": getattr(e, "key", None)}
        with open(out + ".json", "w") as f:
            json.dump(info, f)
        os._exit(status)
    end = time.monotonic() + float(deadline)
    while time.monotonic() < end:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done:
            print("CHILD-DONE")
            break
        time.sleep(0.05)
    else:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        print("CHILD-HUNG")
    """
)


def _fork_run(tmp_path, model_dir, x, predict_first=False, reload=False):
    """The child's outcome: ("ok", result) or ("error", {type, message, key})."""
    data = tmp_path / "x.npy"
    np.save(data, x)
    out = tmp_path / "child"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    args = [str(model_dir), str(data), str(out), str(int(predict_first)), str(int(reload)), str(DEADLINE_S)]
    proc = subprocess.run(
        [sys.executable, "-c", SCENARIO, *args],
        capture_output=True,
        text=True,
        timeout=DEADLINE_S + 90,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "CHILD-DONE" in proc.stdout, f"the forked child hung on predict\n{proc.stderr[-3000:]}"
    info = json.loads((tmp_path / "child.json").read_text())
    if info["ok"]:
        with np.load(tmp_path / "child.npz", allow_pickle=False) as saved:
            return "ok", {k: saved[k] for k in saved.files}
    return "error", info


def _assert_fork_error(outcome, model_dir, cls):
    kind, info = outcome
    assert kind == "error", "the child ran where it was expected to refuse"
    assert info["type"] == cls
    assert info["key"] == "os.fork"
    assert str(model_dir) in info["message"]
    assert "after it starts" in info["message"] and "--preload" in info["message"]


def _mlflow_answer(model_dir, x):
    return {"result": np.asarray(mlflow.pyfunc.load_model(str(model_dir)).predict(x))}


@pytest.fixture(scope="module")
def onnx_models(tmp_path_factory, iris):
    require("onnxruntime")
    from skl2onnx import to_onnx
    from sklearn.linear_model import LinearRegression

    X, y = iris
    reg = LinearRegression().fit(X.to_numpy(np.float32), y.to_numpy(np.float32))
    onx = to_onnx(reg, X.to_numpy(np.float32)[:1], target_opset=17)
    root = tmp_path_factory.mktemp("fork-onnx")
    for mode in ("sequential", "parallel"):
        options = {"execution_mode": mode, "intra_op_num_threads": 2, "inter_op_num_threads": 2}
        mlflow.onnx.save_model(onx, str(root / mode), onnx_session_options=options)
    return root


@pytest.mark.parametrize("predict_first", [False, True])
def test_onnx_sequential_runs_in_the_child(onnx_models, iris, tmp_path, predict_first):
    x = iris[0].to_numpy(np.float32)
    kind, got = _fork_run(tmp_path, onnx_models / "sequential", x, predict_first=predict_first)
    assert kind == "ok", got
    assert_same(got, mlflow.pyfunc.load_model(str(onnx_models / "sequential")).predict(x))


def test_onnx_parallel_mode_refuses_in_the_child(onnx_models, iris, tmp_path):
    x = iris[0].to_numpy(np.float32)
    outcome = _fork_run(tmp_path, onnx_models / "parallel", x)
    _assert_fork_error(outcome, onnx_models / "parallel", "PredictionError")
    assert "parallel execution mode" in outcome[1]["message"]


@pytest.fixture(scope="module")
def savedmodel(tmp_path_factory):
    tf = require("tensorflow")

    class Linear(tf.Module):
        def __init__(self):
            self.w = tf.Variable(np.arange(8, dtype=np.float32).reshape(4, 2) / 8)

        @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32)])
        def __call__(self, x):
            return tf.matmul(x, self.w)

    d = tmp_path_factory.mktemp("fork-tf") / "model"
    mlflow.tensorflow.save_model(Linear(), str(d))
    return d


def test_savedmodel_refuses_in_the_child(savedmodel, tmp_path):
    x = np.random.default_rng(0).random((3, 4), dtype=np.float32)
    _assert_fork_error(_fork_run(tmp_path, savedmodel, x), savedmodel, "PredictionError")


def test_savedmodel_load_in_the_child_refuses(savedmodel, tmp_path):
    x = np.random.default_rng(0).random((3, 4), dtype=np.float32)
    outcome = _fork_run(tmp_path, savedmodel, x, reload=True)
    _assert_fork_error(outcome, savedmodel, "ModelLoadError")


@pytest.fixture(scope="module")
def torchscript(tmp_path_factory):
    torch = require("torch")

    class Linear(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(64, 8)

        def forward(self, x):
            return torch.relu(self.lin(x))

    torch.manual_seed(0)
    d = tmp_path_factory.mktemp("fork-ts") / "model"
    mlflow.pytorch.save_model(torch.jit.script(Linear().eval()), str(d), serialization_format="pickle")
    return d


def test_torchscript_runs_in_the_child_when_the_parent_did_not_predict(torchscript, tmp_path):
    x = np.random.default_rng(0).random((256, 64), dtype=np.float32)
    kind, got = _fork_run(tmp_path, torchscript, x)
    assert kind == "ok", got
    assert_same(got, _mlflow_answer(torchscript, x))


def test_torchscript_refuses_in_the_child_after_a_parent_predict(torchscript, tmp_path):
    x = np.random.default_rng(0).random((256, 64), dtype=np.float32)
    outcome = _fork_run(tmp_path, torchscript, x, predict_first=True)
    _assert_fork_error(outcome, torchscript, "PredictionError")
    assert "OpenMP" in outcome[1]["message"]


def test_python_route_runs_in_the_child(iris, tmp_path):
    from sklearn.linear_model import LogisticRegression

    X, y = iris
    x = X.to_numpy()
    model_dir = tmp_path / "sklearn"
    mlflow.sklearn.save_model(
        LogisticRegression(max_iter=1000).fit(x, y), str(model_dir), serialization_format="skops"
    )
    kind, got = _fork_run(tmp_path, model_dir, x, predict_first=True)
    assert kind == "ok", got
    assert_same(got, _mlflow_answer(model_dir, x))
