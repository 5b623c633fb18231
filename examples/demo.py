"""End-to-end demo: load the shipped MLflow model with fastpyfunc and predict its input example.

make demo
"""

from __future__ import annotations

import time
from pathlib import Path

import fastpyfunc

MODEL = Path(__file__).parent / "iris_model"


def main() -> None:
    t0 = time.perf_counter()
    model = fastpyfunc.load_model(str(MODEL))
    t1 = time.perf_counter()
    print(model)
    print(f"loaded in {1000 * (t1 - t0):.0f} ms; runs on: {model.engine}")
    print("signature inputs:", model.metadata.get_input_schema())
    data = model.input_example
    print("input:")
    print(data)
    print("output (class ids):", model.predict(data))


if __name__ == "__main__":
    main()
