"""Hostile and broken model directories fail fast with a fastpyfunc exception naming the file."""

from __future__ import annotations

import pytest

import fastpyfunc
from fastpyfunc.exceptions import (
    FastPyFuncError,
    MalformedModelError,
    ModelLoadError,
    ModelNotFoundError,
    UnsupportedFlavorError,
)

from conftest import write_mlmodel

PYFUNC = "flavors:\n  python_function: {loader_module: mlflow.sklearn, model_path: model.pkl}\n  sklearn: {serialization_format: pickle}\n"


def _alias_bomb() -> str:
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    prev = "a"
    for i in range(12):
        lines.append(f"l{i}: &l{i} [" + ", ".join([f"*{prev}"] * 10) + "]")
        prev = f"l{i}"
    return "\n".join(lines) + "\n"


HOSTILE = {
    "alias_bomb": _alias_bomb(),
    "deep_flow_nesting": "flavors: " + "[" * 20_000 + "]" * 20_000 + "\n",
    "deep_block_nesting": "".join(" " * i + "k:\n" for i in range(20_000)),
    "non_utf8": b"flavors: {python_function: {loader_module: \xff\xfe}}\n",
    "empty": "",
    "whitespace_only": "\n   \n",
    "not_a_mapping": "- a\n- b\n",
    "bad_yaml": "flavors: {python_function: [\n",
    "duplicate_keys": "flavors: {}\nflavors: {}\n",
    "wrong_type": "flavors:\n  python_function: {loader_module: [1, 2]}\n",
    "bad_signature_json": PYFUNC + "signature: {inputs: '[{\"type\": ', outputs: null}\n",
    "bad_signature_rule": PYFUNC
    + 'signature: {inputs: \'[{"type": "double", "name": "a"}, {"type": "double"}]\'}\n',
    "unknown_column_type": PYFUNC + 'signature: {inputs: \'[{"type": "decimal", "name": "a"}]\'}\n',
    "sized_tensor_dtype": PYFUNC
    + 'signature: {inputs: \'[{"type": "tensor", "tensor-spec": {"dtype": "<U5", "shape": [-1]}}]\'}\n',
    "code_outside_model": "flavors:\n  python_function: {loader_module: mlflow.pyfunc.model, code: ../../../../etc}\n",
    "yaml_python_tag": "flavors: !!python/object/apply:os.system ['echo pwned']\n",
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_mlmodel(tmp_path, case):
    root = write_mlmodel(tmp_path / case, HOSTILE[case])
    with pytest.raises(MalformedModelError) as err:
        fastpyfunc.load_model(str(root))
    msg = str(err.value)
    assert str(root) in msg, msg
    assert err.value.model_path and str(root) in err.value.model_path


def test_huge_mlmodel(tmp_path):
    root = tmp_path / "huge"
    root.mkdir()
    with open(root / "MLmodel", "wb") as f:
        f.write(b"flavors: {}\n")
        f.write(b"#" * (17 * 1024 * 1024))
    with pytest.raises(MalformedModelError, match="limit"):
        fastpyfunc.load_model(str(root))


def test_error_names_the_key(tmp_path):
    root = write_mlmodel(tmp_path / "m", HOSTILE["wrong_type"])
    with pytest.raises(MalformedModelError) as err:
        fastpyfunc.load_model(str(root))
    assert err.value.key == "flavors.python_function.loader_module"
    assert "flavors.python_function.loader_module" in str(err.value)


def test_missing_directory_and_mlmodel(tmp_path):
    with pytest.raises(ModelNotFoundError, match="no such directory"):
        fastpyfunc.load_model(str(tmp_path / "nope"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelNotFoundError, match="no MLmodel file") as err:
        fastpyfunc.load_model(str(tmp_path / "empty"))
    assert str(tmp_path / "empty") in str(err.value)


def test_missing_model_file(tmp_path):
    root = write_mlmodel(tmp_path / "m", PYFUNC)
    with pytest.raises(ModelNotFoundError, match="model.pkl"):
        fastpyfunc.load_model(str(root))


def test_no_pyfunc_flavor(tmp_path):
    root = write_mlmodel(tmp_path / "m", "flavors:\n  sklearn: {pickled_model: model.pkl}\n")
    with pytest.raises(UnsupportedFlavorError, match='"python_function" flavor'):
        fastpyfunc.load_model(str(root))


@pytest.mark.parametrize("fmt", ["pickle", "cloudpickle", "skops"])
def test_corrupt_model_file(sklearn_models, tmp_path, fmt):
    import shutil

    root = tmp_path / "m"
    shutil.copytree(sklearn_models[(fmt, "predict")], root)
    model_file = next(p for p in root.iterdir() if p.name.startswith("model."))
    model_file.write_bytes(b"\x80\x04garbage that is not a model")
    with pytest.raises(ModelLoadError) as err:
        fastpyfunc.load_model(str(root))
    assert str(root) in str(err.value) and model_file.name in str(err.value)


def test_corrupt_onnx_file(onnx_model, tmp_path):
    import shutil

    root = tmp_path / "m"
    shutil.copytree(onnx_model, root)
    (root / "model.onnx").write_bytes(b"not a protobuf")
    with pytest.raises(FastPyFuncError) as err:
        fastpyfunc.load_model(str(root))
    assert str(root) in str(err.value)
