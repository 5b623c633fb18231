"""TorchScript: fastpyfunc's native engine (libtorch through tch) vs mlflow.pyfunc vs the module
called from Python (torch.jit.load + no_grad), side by side.

    .venv/bin/python benches/torch_engine.py [--quick]

The model: a traced MLP relu(x @ W1 + b1) @ W2 + b2 (32 -> 64 -> 8, float32), saved by
``mlflow.pytorch.save_model(serialization_format="pickle")`` (a TorchScript archive). Each
implementation runs in its own process, the processes alternating; per-call medians. Also the
fresh-process import + load + first predict time.
"""

from __future__ import annotations

from typing import Any

from common import main, print_side_by_side, side_by_side

NAMES = ["fastpyfunc", "mlflow.pyfunc", "torch.jit (Python)"]
BATCHES = {1: 3000, 64: 2000, 10_000: 100}

_MAKE = """
import sys, torch, mlflow
torch.manual_seed(0)
mlp = torch.nn.Sequential(torch.nn.Linear(32, 64), torch.nn.ReLU(), torch.nn.Linear(64, 8)).eval()
mlflow.pytorch.save_model(torch.jit.trace(mlp, torch.ones(1, 32)), sys.argv[1], serialization_format="pickle")
"""

_SETUP = """
import logging, sys, time
logging.disable(logging.WARNING)
import numpy as np
which, path = sys.argv[1], sys.argv[2]
if which == "fastpyfunc":
    import fastpyfunc
    predict = fastpyfunc.load_model(path, model_config={"device": "cpu"}).predict
elif which == "mlflow.pyfunc":
    import mlflow.pyfunc
    predict = mlflow.pyfunc.load_model(path, model_config={"device": "cpu"}).predict
else:
    import torch
    module = torch.jit.load(path + "/data/model.pth").eval()
    def predict(x):
        with torch.no_grad():
            return module(torch.from_numpy(x)).numpy()
"""


def run(quick: bool = False) -> dict[str, Any]:
    return side_by_side(_MAKE, _SETUP, NAMES, BATCHES, quick, load_args=', model_config={"device": "cpu"}')


def print_tables(res: dict[str, Any]) -> None:
    print_side_by_side(res, "TorchScript (traced MLP 32->64->8)", NAMES)


if __name__ == "__main__":
    main(run, print_tables, "torch")
