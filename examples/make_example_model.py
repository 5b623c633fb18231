"""Regenerates the example models (both saved by mlflow, both small):

- examples/iris_onnx: a scikit-learn LogisticRegression converted to ONNX (skl2onnx), which
  fastpyfunc runs on its native ONNX engine;
- examples/iris_model: the same classifier saved by mlflow.sklearn (skops format), which runs in
  embedded Python (no native engine runs scikit-learn).

.venv/bin/python examples/make_example_model.py
"""

from __future__ import annotations

import shutil
from pathlib import Path

import mlflow
import numpy as np
from skl2onnx import to_onnx
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

HERE = Path(__file__).parent


def main() -> None:
    X, y = load_iris(return_X_y=True, as_frame=True)
    clf = LogisticRegression(max_iter=1000).fit(X, y)

    out = HERE / "iris_model"
    shutil.rmtree(out, ignore_errors=True)
    mlflow.sklearn.save_model(clf, str(out), input_example=X.iloc[[0, 50, 100]])
    print(f"saved {out}")

    features = X.to_numpy(np.float32)
    # zipmap off: probabilities as one (n, 3) tensor instead of a list of dicts
    onx = to_onnx(clf, features[:1], options={"zipmap": False}, target_opset=17)
    out = HERE / "iris_onnx"
    shutil.rmtree(out, ignore_errors=True)
    mlflow.onnx.save_model(onx, str(out), input_example=features[[0, 50, 100]])
    print(f"saved {out}")


if __name__ == "__main__":
    main()
