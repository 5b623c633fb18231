"""Models saved by real mlflow at test time, and helpers to compare fastpyfunc with mlflow."""

from __future__ import annotations

import logging
import os
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

os.environ.setdefault(
    "MLFLOW_TRACKING_URI",
    "sqlite:///" + str(Path(os.environ.get("TMPDIR", "/tmp")) / f"fpf-mlflow-{os.getpid()}.db"),
)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
warnings.filterwarnings("ignore", category=DeprecationWarning)
warnings.filterwarnings("ignore", category=FutureWarning)

import mlflow  # noqa: E402
import mlflow.utils.environment  # noqa: E402

import fastpyfunc  # noqa: E402

# mlflow infers a saved model's pip requirements by loading it in a subprocess that imports every
# framework installed here (15-30 s per save, most of the suite's time). Nothing here reads those
# requirements, so saves write the flavor's default requirements instead: the model directory is
# otherwise what mlflow writes. (Tests that read requirements pass them explicitly.)
mlflow.utils.environment._infer_requirements = lambda *args, **kwargs: []

HERE = Path(__file__).parent


def pytest_configure(config: Any) -> None:
    # Python TensorFlow imported before torch's compiler stack (torch._dynamo -> triton) makes that
    # import segfault (a clash between the two frameworks, mlflow alone shows it). Tests use both
    # in one process, so pin the order that works. fastpyfunc's own TF engine is not affected.
    try:
        import torch._dynamo  # noqa: F401
    except ImportError:
        pass


def require(module: str) -> Any:
    """Imports an engine/framework a test needs; fails loudly (never skips) when it is missing.

    CI installs every engine, so a missing one is a broken environment, not a reason to pass.
    """
    try:
        return __import__(module)
    except ImportError as e:  # pragma: no cover - environment problem
        pytest.fail(
            f"this test needs '{module}', which is not installed ({e}); run `make test`", pytrace=False
        )


def assert_same(ours: Any, theirs: Any, path: str = "result") -> None:
    """Same type, columns, dtypes, shapes and values."""
    assert type(ours) is type(theirs), f"{path}: {type(ours)} != {type(theirs)}"
    if isinstance(theirs, pd.DataFrame):
        try:
            pd.testing.assert_frame_equal(ours, theirs, check_exact=True)
        except (TypeError, ValueError):
            # object cells pandas cannot compare (dicts of arrays): the frame's shape and dtypes
            # by pandas, then each column's cells one by one
            pd.testing.assert_frame_equal(ours.iloc[:0], theirs.iloc[:0], check_exact=True)
            for c in theirs.columns:
                assert_same(ours[c].to_numpy(), theirs[c].to_numpy(), f"{path}[{c!r}]")
    elif isinstance(theirs, pd.Series):
        pd.testing.assert_series_equal(ours, theirs, check_exact=True)
    elif isinstance(theirs, np.ndarray):
        assert ours.dtype == theirs.dtype, f"{path}: dtype {ours.dtype} != {theirs.dtype}"
        assert ours.shape == theirs.shape, f"{path}: shape {ours.shape} != {theirs.shape}"
        if theirs.dtype == object:  # cells may be arrays themselves: compare them one by one
            for i, (a, b) in enumerate(zip(ours.ravel(), theirs.ravel(), strict=True)):
                if isinstance(b, (np.ndarray, dict, list)) or isinstance(a, (np.ndarray, dict, list)):
                    assert_same(a, b, f"{path}.flat[{i}]")
                else:
                    assert a is b or a == b or (a != a and b != b), f"{path}.flat[{i}]: {a!r} != {b!r}"
        else:
            np.testing.assert_array_equal(ours, theirs)
    elif isinstance(theirs, dict):
        assert list(ours) == list(theirs), f"{path}: keys {list(ours)} != {list(theirs)}"
        for k in theirs:
            assert_same(ours[k], theirs[k], f"{path}[{k!r}]")
    elif isinstance(theirs, (list, tuple)):
        assert len(ours) == len(theirs), f"{path}: length"
        for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
            assert_same(a, b, f"{path}[{i}]")
    else:
        assert ours == theirs, f"{path}: {ours!r} != {theirs!r}"


def both(model_dir: Path, trust_code: bool | None = None, **kwargs: Any) -> tuple[Any, Any]:
    """(fastpyfunc model, mlflow model) for the same directory; ``trust_code`` is fastpyfunc's
    opt-in for models that carry code (mlflow has none)."""
    ours = fastpyfunc.load_model(str(model_dir), trust_code=trust_code, **kwargs)
    return ours, mlflow.pyfunc.load_model(str(model_dir), **kwargs)


def compare_predict(model_dir: Path, data: Any, params: Any = None, trust_code: bool | None = None) -> Any:
    ours, theirs = both(model_dir, trust_code=trust_code)
    expected = theirs.predict(_copy(data), params=params)
    got = ours.predict(_copy(data), params=params)
    assert_same(got, expected)
    return got


def logged_warnings(caplog: Any, logger: str = "fastpyfunc") -> list[str]:
    """The WARNING messages ``logger`` logged (fastpyfunc's one warnings channel; mlflow's own
    loggers are ``mlflow.*``) while ``caplog`` was capturing."""
    return [r.getMessage() for r in caplog.records if r.name == logger and r.levelno == logging.WARNING]


def _copy(x: Any) -> Any:
    return x.copy() if hasattr(x, "copy") else x


# --------------------------------------------------------------------------------------------
# Models


@pytest.fixture(scope="session")
def iris():
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True, as_frame=True)
    return X, y


@pytest.fixture(scope="session")
def sklearn_models(tmp_path_factory, iris):
    """{(format, predict_fn): model_dir} for LogisticRegression saved in each format."""
    from sklearn.linear_model import LogisticRegression

    X, y = iris
    clf = LogisticRegression(max_iter=1000).fit(X, y)
    out = {}
    for fmt in ("skops", "pickle", "cloudpickle"):
        for fn in ("predict", "predict_proba"):
            d = tmp_path_factory.mktemp(f"sk-{fmt}-{fn}") / "model"
            mlflow.sklearn.save_model(
                clf,
                str(d),
                serialization_format=fmt,
                pyfunc_predict_fn=fn,
                input_example=X.head(3),
                skops_trusted_types=None,
            )
            out[(fmt, fn)] = d
    return out


class AddOffset(mlflow.pyfunc.PythonModel):
    """A custom model: reads an artifact, uses model_config and params."""

    def load_context(self, context):
        with open(context.artifacts["offset"]) as f:
            self.offset = float(f.read())
        self.scale = float(context.model_config.get("scale", 1.0))

    def predict(self, context, model_input, params=None):
        params = params or {}
        k = params.get("k", 1)
        out = (model_input["a"] + model_input.get("b", 0)) * self.scale * k + self.offset
        return out.to_frame("y") if params.get("as_frame") else out.to_numpy()


@pytest.fixture(scope="session")
def custom_model(tmp_path_factory):
    from mlflow.models import infer_signature
    from mlflow.types import ColSpec, Schema

    root = tmp_path_factory.mktemp("custom")
    (root / "offset.txt").write_text("0.5")
    d = root / "model"
    example = pd.DataFrame({"a": [1.0, 2.0], "b": [3.0, 4.0]})
    sig = infer_signature(example, np.array([1.0]), params={"k": 1, "as_frame": False})
    sig.inputs = Schema([ColSpec("double", "a"), ColSpec("double", "b", required=False)])
    mlflow.pyfunc.save_model(
        str(d),
        python_model=AddOffset(),
        artifacts={"offset": str(root / "offset.txt")},
        model_config={"scale": 2.0},
        signature=sig,
        input_example=example,
        code_paths=None,
    )
    return d


@pytest.fixture(scope="session")
def onnx_model(tmp_path_factory, iris):
    require("onnxruntime")
    from skl2onnx import to_onnx
    from sklearn.linear_model import LinearRegression

    X, y = iris
    reg = LinearRegression().fit(X.to_numpy(np.float32), y.to_numpy(np.float32))
    onx = to_onnx(reg, X.to_numpy(np.float32)[:1], target_opset=17)
    d = tmp_path_factory.mktemp("onnx") / "model"
    mlflow.onnx.save_model(onx, str(d), input_example=X.to_numpy(np.float32)[:2])
    return d


@pytest.fixture(scope="session")
def torch_pt2_model(tmp_path_factory):
    torch = require("torch")

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(4, 3)

        def forward(self, x):
            return torch.softmax(self.lin(x), dim=1)

    torch.manual_seed(0)
    net = Net().eval()
    d = tmp_path_factory.mktemp("pt2") / "model"
    example = np.random.default_rng(0).random((2, 4), dtype=np.float32)
    mlflow.pytorch.save_model(net, str(d), input_example=example)
    return d


@pytest.fixture(scope="session")
def keras_model(tmp_path_factory):
    require("tensorflow")
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(2)]
    )
    d = tmp_path_factory.mktemp("keras") / "model"
    example = np.random.default_rng(0).random((2, 4), dtype=np.float32)
    mlflow.tensorflow.save_model(model, str(d), input_example=example)
    return d


def write_mlmodel(root: Path, text: str | bytes) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    p = root / "MLmodel"
    p.write_bytes(text if isinstance(text, bytes) else text.encode())
    return root


PY = sys.executable
