"""Ordinary scikit-learn models load without trust (no false refusals) and predict like mlflow;
models that legitimately carry code are refused without trust and equal to mlflow with it."""

from __future__ import annotations

import sys
from pathlib import Path

import mlflow
import pytest

import fastpyfunc
from fastpyfunc.exceptions import UnsafeModelError

from conftest import assert_same, require

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
import safety_corpus  # noqa: E402

FORMATS = ("pickle", "cloudpickle", "skops")
NAMES = [name for name, _, _, _ in safety_corpus.models()]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """{(name, format): (model_dir, input)} saved by real mlflow."""
    out = {}
    for name, est, X, fn in safety_corpus.fitted():
        for fmt in FORMATS:
            d = tmp_path_factory.mktemp(f"{name}-{fmt}") / "model"
            # skops: fastpyfunc without trust ignores the MLmodel's skops_trusted_types, so models
            # that list some are checked separately below.
            out[(name, fmt)] = (d, X.head(20), safety_corpus.save(est, str(d), fmt, fn))
    return out


def test_corpus_is_large_enough():
    assert len(NAMES) >= 40


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", NAMES)
def test_loads_without_trust_and_matches_mlflow(corpus, name, fmt):
    d, X, _ = corpus[(name, fmt)]
    theirs = mlflow.pyfunc.load_model(str(d))
    expected = theirs.predict(X.copy())
    ours = fastpyfunc.load_model(str(d))
    report = fastpyfunc.scan(str(d))
    assert report.safe, repr(report)
    assert_same(ours.predict(X.copy()), expected)
    assert_same(fastpyfunc.load_model(str(d), trust_code=True).predict(X.copy()), expected)


def test_skops_types_beyond_skops_defaults(corpus):
    """Many skops models list types skops does not trust by default (trees, Cython helpers) in
    their MLmodel; without trust fastpyfunc ignores that list and trusts only its allow-list."""
    listed = [k for k, v in corpus.items() if k[1] == "skops" and v[2]]
    assert listed, "the corpus exercises skops_trusted_types"


def test_scan_report_is_readable(corpus):
    d, _, _ = corpus[("column_transformer_forest", "pickle")]
    report = fastpyfunc.scan(str(d))
    text = repr(report)
    assert "verdict: safe" in text
    assert "sklearn.pipeline.Pipeline" in text and "at byte" in text
    (f,) = report.files
    assert f.verdict == "safe" and all(g.allowed for g in f.globals)


# -- legitimate models that carry code ----------------------------------------------------------


def _same_with_trust(d: Path, data, monkeypatch) -> None:
    with pytest.raises(UnsafeModelError):
        fastpyfunc.load_model(str(d))
    assert not fastpyfunc.scan(str(d)).safe
    expected = mlflow.pyfunc.load_model(str(d)).predict(data)
    assert_same(fastpyfunc.load_model(str(d), trust_code=True).predict(data), expected)
    monkeypatch.setenv("FASTPYFUNC_TRUST_CODE", "1")
    assert_same(fastpyfunc.load_model(str(d)).predict(data), expected)


def test_custom_python_model(custom_model, monkeypatch):
    import pandas as pd

    _same_with_trust(custom_model, pd.DataFrame({"a": [1.0, 2.0], "b": [3.0, 4.0]}), monkeypatch)


def test_model_from_code_with_code_paths(tmp_path, monkeypatch):
    import pandas as pd

    src = tmp_path / "model_code.py"
    src.write_text(
        "import mlflow\n"
        "class M(mlflow.pyfunc.PythonModel):\n"
        "    def predict(self, context, model_input, params=None):\n"
        "        return model_input * 2\n"
        "mlflow.models.set_model(M())\n"
    )
    helper = tmp_path / "fpf_legit_helper.py"
    helper.write_text("X = 1\n")
    d = tmp_path / "m"
    mlflow.pyfunc.save_model(
        str(d), python_model=str(src), code_paths=[str(helper)], pip_requirements=["mlflow"]
    )
    _same_with_trust(d, pd.DataFrame({"a": [1.0, 2.0]}), monkeypatch)


def test_sklearn_with_code_paths(tmp_path, monkeypatch):
    import numpy as np
    from sklearn.linear_model import LinearRegression

    helper = tmp_path / "fpf_legit_helper2.py"
    helper.write_text("X = 1\n")
    X = np.arange(10.0).reshape(5, 2)
    d = tmp_path / "m"
    mlflow.sklearn.save_model(
        LinearRegression().fit(X, X[:, 0]),
        str(d),
        code_paths=[str(helper)],
        pip_requirements=["scikit-learn"],
    )
    _same_with_trust(d, X, monkeypatch)


def test_eager_pytorch(tmp_path, monkeypatch):
    torch = require("torch")
    import numpy as np

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 2))
    d = tmp_path / "m"
    mlflow.pytorch.save_model(net, str(d), serialization_format="pickle", pip_requirements=["torch"])
    _same_with_trust(d, np.ones((2, 3), dtype=np.float32), monkeypatch)


def test_loader_module_in_code(tmp_path, monkeypatch):
    import pandas as pd

    d = tmp_path / "m"
    (d / "code").mkdir(parents=True)
    (d / "code" / "fpf_legit_loader.py").write_text(
        "class _M:\n    def predict(self, df, params=None):\n        return df + 1\n"
        "def _load_pyfunc(path):\n    return _M()\n"
    )
    (d / "MLmodel").write_text("flavors:\n  python_function: {loader_module: fpf_legit_loader, code: code}\n")
    _same_with_trust(d, pd.DataFrame({"a": [1.0]}), monkeypatch)
