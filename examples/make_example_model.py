"""Regenerates examples/iris_model: a scikit-learn classifier saved by mlflow (skops format).

.venv/bin/python examples/make_example_model.py
"""

from __future__ import annotations

import shutil
from pathlib import Path

import mlflow
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

OUT = Path(__file__).parent / "iris_model"


def main() -> None:
    X, y = load_iris(return_X_y=True, as_frame=True)
    clf = LogisticRegression(max_iter=1000).fit(X, y)
    shutil.rmtree(OUT, ignore_errors=True)
    mlflow.sklearn.save_model(clf, str(OUT), input_example=X.iloc[[0, 50, 100]])
    print(f"saved {OUT}")


if __name__ == "__main__":
    main()
