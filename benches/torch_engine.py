"""TorchScript: fastpyfunc's native engine (libtorch through tch) vs mlflow.pyfunc vs the module
called from Python (torch.jit.load + no_grad), side by side.

    .venv/bin/python benches/torch_engine.py [--quick]

The model: a traced MLP relu(x @ W1 + b1) @ W2 + b2 (32 -> 64 -> 8, float32), saved by
``mlflow.pytorch.save_model(serialization_format="pickle")`` (a TorchScript archive). Each
implementation runs in its own process, the processes alternating; per-call medians. Also the
fresh-process import + load + first predict time, and the same MLP scripted with a ``scale``
keyword argument, called with ``params={"scale": 2.0}`` (mlflow: ``module(x, scale=2.0)`` after
its params enforcement; fastpyfunc binds the param natively). And the traced MLP on a pandas
DataFrame of the same values (made once per input, outside the timing): mlflow's wrapper
feeds ``df.to_numpy(dtype=float32)`` and answers ``DataFrame(out, index=df.index)``, as
fastpyfunc does in one native call; Python torch is ``module(torch.from_numpy(df.to_numpy(...)))``.
"""

from __future__ import annotations

from typing import Any

from common import main, print_side_by_side, setup, side_by_side

NAMES = ["fastpyfunc", "mlflow.pyfunc", "torch.jit (Python)"]
BATCHES = {1: 3000, 64: 2000, 10_000: 100}

_MAKE = """
import sys, torch, mlflow
torch.manual_seed(0)
mlp = torch.nn.Sequential(torch.nn.Linear(32, 64), torch.nn.ReLU(), torch.nn.Linear(64, 8)).eval()
mlflow.pytorch.save_model(torch.jit.trace(mlp, torch.ones(1, 32)), sys.argv[1], serialization_format="pickle")
"""

_SETUP = setup(
    """
import torch
module = torch.jit.load(path + "/data/model.pth").eval()
def predict(x):
    with torch.no_grad():
        return module(torch.from_numpy(x)).numpy()
""",
    load_args=', model_config={"device": "cpu"}',
)


_MAKE_PARAMS = """
import pathlib, sys, tempfile, torch, mlflow, numpy as np
# torch.jit.script reads the class's source, so it lives in a file.
src = '''
import torch
class ScaledMLP(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.mlp = torch.nn.Sequential(torch.nn.Linear(32, 64), torch.nn.ReLU(), torch.nn.Linear(64, 8))
    def forward(self, x: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
        return self.mlp(x) * scale
'''
d = tempfile.mkdtemp()
pathlib.Path(d, "scaled_mlp.py").write_text(src)
sys.path.insert(0, d)
from scaled_mlp import ScaledMLP
torch.manual_seed(0)
x = np.ones((1, 32), dtype=np.float32)
signature = mlflow.models.infer_signature(x, np.ones((1, 8), dtype=np.float32), params={"scale": 1.0})
mlflow.pytorch.save_model(torch.jit.script(ScaledMLP().eval()), sys.argv[1], serialization_format="pickle",
                          signature=signature)
"""

# The same processes, with every call passing params={"scale": 2.0}.
_SETUP_PARAMS = (
    _SETUP.replace("module(torch.from_numpy(x))", "module(torch.from_numpy(x), scale=2.0)")
    + """
if which != "torch.jit (Python)":
    _predict = predict
    def predict(x):
        return _predict(x, params={"scale": 2.0})
"""
)


# The same processes, each input given as a DataFrame (built once per input array).
_SETUP_FRAME = (
    _SETUP.replace("module(torch.from_numpy(x))", "module(torch.from_numpy(x.to_numpy(dtype=np.float32)))")
    + """
import pandas as pd
_frames = {}
_on_frame = predict
def predict(x):
    df = _frames.get(id(x))
    if df is None:
        df = _frames[id(x)] = pd.DataFrame(x)
    return _on_frame(df)
"""
)


def run(quick: bool = False) -> dict[str, Any]:
    device = ', model_config={"device": "cpu"}'
    return {
        "plain": side_by_side(_MAKE, _SETUP, NAMES, BATCHES, quick, load_args=device),
        "frame": side_by_side(_MAKE, _SETUP_FRAME, NAMES, BATCHES, quick, load_args=device),
        "params": side_by_side(
            _MAKE_PARAMS, _SETUP_PARAMS, NAMES, {1: 3000, 64: 2000}, quick, load_args=device
        ),
    }


def print_tables(res: dict[str, Any]) -> None:
    print_side_by_side(res["plain"], "TorchScript (traced MLP 32->64->8)", NAMES)
    print_side_by_side(res["frame"], "TorchScript on a pandas DataFrame (traced MLP 32->64->8)", NAMES)
    print_side_by_side(
        res["params"], 'TorchScript with params={"scale": 2.0} (scripted MLP 32->64->8)', NAMES
    )


if __name__ == "__main__":
    main(run, print_tables, "torch")
