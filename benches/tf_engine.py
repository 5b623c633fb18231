"""TensorFlow SavedModel: fastpyfunc's native engine (TF C API) vs mlflow.pyfunc vs the loaded
signature called from Python TensorFlow, side by side.

    .venv/bin/python benches/tf_engine.py [--quick]

The model: a tf.Module computing relu(x @ W1 + b1) @ W2 + b2 (32 -> 64 -> 8, float32), saved by
``mlflow.tensorflow.save_model`` (tf2-module). Each implementation runs in its own process (TF
thread pools would otherwise interfere), the processes alternating; per-call medians. Also the
fresh-process import + load + first predict time.
"""

from __future__ import annotations

from typing import Any

from common import main, print_side_by_side, setup, side_by_side

NAMES = ["fastpyfunc", "mlflow.pyfunc", "tf signature (Python)"]
BATCHES = {1: 3000, 64: 2000, 10_000: 100}

_MAKE = """
import sys, numpy as np, tensorflow as tf, mlflow
class MLP(tf.Module):
    def __init__(self):
        rng = np.random.default_rng(0)
        self.w1 = tf.Variable(rng.random((32, 64), dtype=np.float32)); self.b1 = tf.Variable(np.zeros(64, np.float32))
        self.w2 = tf.Variable(rng.random((64, 8), dtype=np.float32)); self.b2 = tf.Variable(np.zeros(8, np.float32))
    @tf.function(input_signature=[tf.TensorSpec([None, 32], tf.float32)])
    def __call__(self, x):
        return tf.matmul(tf.nn.relu(tf.matmul(x, self.w1) + self.b1), self.w2) + self.b2
mlflow.tensorflow.save_model(MLP(), sys.argv[1])
"""

_SETUP = setup(
    """
import tensorflow as tf
fn = tf.saved_model.load(path + "/tf2model").signatures["serving_default"]
predict = lambda x: fn(tf.constant(x))["output_0"].numpy()
"""
)


def run(quick: bool = False) -> dict[str, Any]:
    return side_by_side(_MAKE, _SETUP, NAMES, BATCHES, quick)


def print_tables(res: dict[str, Any]) -> None:
    print_side_by_side(res, "TensorFlow SavedModel (tf2-module MLP 32->64->8)", NAMES)


if __name__ == "__main__":
    main(run, print_tables, "tensorflow")
