"""Models-from-code and `code/` directories: fastpyfunc puts `code/` on sys.path like mlflow."""

from __future__ import annotations

import sys

import pandas as pd

import fastpyfunc

from conftest import assert_same, both

MODEL_CODE = """
import mlflow
from mlflow.models import set_model

import fpf_helper_mod


class Doubler(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        return fpf_helper_mod.scale(model_input, context.model_config["factor"] if context else 2)


set_model(Doubler())
"""


def test_models_from_code_with_code_paths(tmp_path):
    import mlflow

    src = tmp_path / "src"
    src.mkdir()
    (src / "model_code.py").write_text(MODEL_CODE)
    helper = src / "fpf_helper_mod.py"
    helper.write_text("def scale(df, k):\n    return df * k\n")
    d = tmp_path / "model"
    sys.path.insert(0, str(src))
    try:
        mlflow.pyfunc.save_model(
            str(d),
            python_model=str(src / "model_code.py"),
            code_paths=[str(helper)],
            model_config={"factor": 3},
        )
    finally:
        sys.path.remove(str(src))
        sys.modules.pop("fpf_helper_mod", None)

    ours = fastpyfunc.load_model(str(d), trust_code=True)
    assert ours.loader_module == "mlflow.pyfunc.loaders.code_model"
    assert str(d / "code") in sys.path, "code/ is put on sys.path"
    _, theirs = both(d, trust_code=True)
    df = pd.DataFrame({"a": [1.0, 2.0]})
    assert_same(ours.predict(df), theirs.predict(df))
    assert ours.predict(df)["a"].tolist() == [3.0, 6.0]
