"""Hostile archives and malformed metadata (issue 13, step 5): each is refused at load with
``MalformedModelError`` naming the file, before libtorch (or a predict) sees it. Where loading
could crash the process, the load runs in a subprocess."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import zipfile
from pathlib import Path

import mlflow
import numpy as np
import pytest

import fastpyfunc
from fastpyfunc.exceptions import MalformedModelError

from conftest import PY, compare_predict, logged_warnings, require


@pytest.fixture(scope="module")
def scripted(tmp_path_factory):
    torch = require("torch")

    class Linear(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(4, 2)

        def forward(self, x):
            return self.fc(x)

    torch.manual_seed(0)
    root = tmp_path_factory.mktemp("hostile") / "scripted"
    mlflow.pytorch.save_model(torch.jit.script(Linear().eval()), str(root), serialization_format="pickle")
    return root


def _rewrite(src: Path, dst: Path, edit) -> Path:
    """A copy of the model whose archive has each entry replaced by ``edit(name, data)`` (None
    drops it); ``edit`` may also write extra entries to the zip it is given as ``extra``."""
    shutil.copytree(src, dst)
    archive = dst / "data" / "model.pth"
    with (
        zipfile.ZipFile(src / "data" / "model.pth") as zin,
        zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zout,
    ):
        for info in zin.infolist():
            data = edit(info.filename, zin.read(info), zout)
            if data is not None:
                zout.writestr(info, data)
    return dst


def _load_in_subprocess(model: Path, *extra: str) -> dict:
    """Loads in a fresh interpreter (a crash there is a failed test, not a dead test run) and
    reports the outcome, the time it took and the peak RSS of the load. The peak is VmHWM after
    resetting it (clear_refs 5): ru_maxrss would include the forking parent's RSS, which Linux
    carries across fork and exec (the whole suite's pytest process holds GiBs)."""
    code = f"""
import json, time, fastpyfunc
def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
open("/proc/self/clear_refs", "w").write("5")
t = time.perf_counter()
try:
    fastpyfunc.load_model({str(model)!r}{"".join(", " + e for e in extra)})
    out = {{"ok": True}}
except Exception as e:
    out = {{"ok": False, "cls": type(e).__name__, "msg": str(e), "key": getattr(e, "key", None)}}
out["seconds"] = time.perf_counter() - t
out["maxrss_mb"] = hwm()
print(json.dumps(out))
"""
    r = subprocess.run([PY, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, f"the load crashed the process (rc {r.returncode}): {r.stderr[-2000:]}"
    return json.loads(r.stdout.strip().splitlines()[-1])


def _assert_refused(out: dict, *words: str) -> None:
    assert not out["ok"], out
    assert out["cls"] == "MalformedModelError", out
    assert out["key"] == "data/model.pth", out
    for w in ("data/model.pth", *words):
        assert w in out["msg"], (w, out["msg"])


def test_legitimate_archive_passes_and_matches_mlflow(scripted):
    x = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    compare_predict(scripted, x)


def test_declared_bomb_refused_fast_and_small(scripted, tmp_path):
    """An entry that honestly inflates to 1 GiB (about 1 MiB in the zip): libtorch would allocate
    the declared size. Refused from the zip directory: well under a second and 1 GiB."""

    def edit(name, data, zout):
        if name.endswith("/version"):
            with zout.open(name.rsplit("/", 1)[0] + "/extra/bomb", "w", force_zip64=True) as f:
                chunk = bytes(1 << 20)
                for _ in range(1024):
                    f.write(chunk)
        return data

    model = _rewrite(scripted, tmp_path / "m", edit)
    assert (model / "data" / "model.pth").stat().st_size < 8 << 20
    out = _load_in_subprocess(model)
    _assert_refused(out, "extra/bomb", "declares")
    assert out["seconds"] < 1.0, out
    assert out["maxrss_mb"] < 1024, out


def test_lying_bomb_refused(scripted, tmp_path):
    """An entry that declares 100 bytes and inflates to 64 MiB: refused after 101 bytes."""
    model = tmp_path / "m"
    shutil.copytree(scripted, model)
    archive = model / "data" / "model.pth"
    with zipfile.ZipFile(archive, "a", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("scripted/extra/liar", bytes(64 << 20))
    raw = bytearray(archive.read_bytes())
    with zipfile.ZipFile(archive) as z:
        local = z.getinfo("scripted/extra/liar").header_offset + 22  # uncompressed size
    central = raw.rindex(b"PK\x01\x02") + 24  # the last central directory record is the liar's
    for i in (local, central):
        assert raw[i : i + 4] == (64 << 20).to_bytes(4, "little")
        raw[i : i + 4] = (100).to_bytes(4, "little")
    archive.write_bytes(bytes(raw))
    out = _load_in_subprocess(model)
    _assert_refused(out, "extra/liar", "inflates past")
    assert out["seconds"] < 1.0, out


@pytest.mark.parametrize(
    ("kind", "expr", "words"),
    [
        ("brackets", "[" * 10_000 + "1" + "]" * 10_000, "nest more than"),
        ("parens", "(" * 10_000 + "1" + ")" * 10_000, "nest more than"),
        ("unary", "-" * 50_000 + "1", "unary operators"),
        ("power", "**".join(["2"] * 10_000), "chained"),
    ],
)
def test_deeply_nested_code_refused_before_libtorch(scripted, tmp_path, kind, expr, words):
    """Printed code nested this deep kills the process in libtorch's parser (SIGSEGV, measured
    with torch 2.13); it is refused before libtorch reads it, with and without trust."""

    def edit(name, data, zout):
        if "/code/" in name and name.endswith(".py"):
            src = data.decode()
            head, sep, tail = src.rpartition("return ")
            assert sep, src
            indent = head[head.rfind("\n") + 1 :]
            return (head + f"_y = {expr}\n" + indent + sep + tail).encode()
        return data

    model = _rewrite(scripted, tmp_path / kind, edit)
    _assert_refused(_load_in_subprocess(model), "code/", words)
    _assert_refused(_load_in_subprocess(model, "trust_code=True"), "code/", words)


def test_modest_nesting_still_loads(scripted, tmp_path):
    """Nesting far above what torch prints but under the bound loads and predicts as mlflow."""

    def edit(name, data, zout):
        if "/code/" in name and name.endswith(".py"):
            src = data.decode()
            head, sep, tail = src.rpartition("return ")
            indent = head[head.rfind("\n") + 1 :]
            expr = "[" * 50 + "1" + "]" * 50
            return (head + f"_y = {expr}\n" + indent + sep + tail).encode()
        return data

    model = _rewrite(scripted, tmp_path / "modest", edit)
    x = np.ones((3, 4), dtype=np.float32)
    compare_predict(model, x)


# -- params defaults and python_version: malformed MLmodel values are refused at load -----------


@pytest.fixture(scope="module")
def params_model(tmp_path_factory, iris):
    from sklearn.linear_model import LogisticRegression

    X, y = iris
    clf = LogisticRegression(max_iter=1000).fit(X, y)
    root = tmp_path_factory.mktemp("params") / "model"
    signature = mlflow.models.infer_signature(X, clf.predict(X), params={"k": 1, "tags": ["a"]})
    mlflow.sklearn.save_model(clf, str(root), serialization_format="pickle", signature=signature)
    return root


def _edit_mlmodel(src: Path, dst: Path, edit) -> Path:
    import yaml

    shutil.copytree(src, dst)
    doc = yaml.safe_load((dst / "MLmodel").read_text())
    edit(doc)
    (dst / "MLmodel").write_text(yaml.safe_dump(doc))
    return dst


def _set_param(name: str, **fields):
    def edit(doc):
        params = json.loads(doc["signature"]["params"])
        next(p for p in params if p["name"] == name).update(fields)
        doc["signature"]["params"] = json.dumps(params)

    return edit


def test_params_model_loads_and_matches_mlflow(params_model, iris):
    X, _ = iris
    compare_predict(params_model, X.head(5), params={"k": 3})


@pytest.mark.parametrize(
    ("param", "fields"),
    [
        ("k", {"default": "abc"}),  # not a long
        ("k", {"default": [1, 2]}),  # not a scalar
        ("k", {"type": "boolean"}),  # 1 is not a boolean
        ("tags", {"default": "a"}),  # shape (-1,) needs a list
        ("tags", {"default": [1.5]}),  # list of the wrong type
    ],
)
def test_bad_params_default_refused_at_load(params_model, tmp_path, param, fields):
    from mlflow.exceptions import MlflowException

    model = _edit_mlmodel(params_model, tmp_path / "m", _set_param(param, **fields))
    with pytest.raises(MlflowException):  # mlflow refuses it when it reads the MLmodel
        mlflow.pyfunc.load_model(str(model))
    with pytest.raises(MalformedModelError) as e:
        fastpyfunc.load_model(str(model))
    assert e.value.key == f"signature.params.{param}"
    assert str(model) in str(e.value) and repr(param) in str(e.value)


def test_python_version_number_is_malformed_where_mlflow_fails(params_model, tmp_path, iris):
    """A YAML number (``python_version: 3.10``) breaks mlflow's version check (AttributeError);
    with suppress_warnings mlflow never looks at it, and neither does fastpyfunc."""

    def edit(doc):
        doc["flavors"]["python_function"]["python_version"] = 3.1

    model = _edit_mlmodel(params_model, tmp_path / "m", edit)
    with pytest.raises(AttributeError):
        mlflow.pyfunc.load_model(str(model))
    with pytest.raises(MalformedModelError) as e:
        fastpyfunc.load_model(str(model))
    assert e.value.key == "flavors.python_function.python_version"
    assert str(model) in str(e.value)
    X, _ = iris
    theirs = mlflow.pyfunc.load_model(str(model), suppress_warnings=True).predict(X.head(5))
    ours = fastpyfunc.load_model(str(model), suppress_warnings=True).predict(X.head(5))
    np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs))


@pytest.mark.parametrize("version", ["banana", "3", "x" * 10_000, "2.7.18"])
def test_odd_python_version_strings_only_warn(params_model, tmp_path, iris, version, caplog):
    """mlflow splits any string and at most warns: so does fastpyfunc (the warning is capped)."""

    def edit(doc):
        doc["flavors"]["python_function"]["python_version"] = version

    model = _edit_mlmodel(params_model, tmp_path / "m", edit)
    X, _ = iris
    theirs = mlflow.pyfunc.load_model(str(model)).predict(X.head(5))
    with caplog.at_level(logging.WARNING, logger="fastpyfunc"):
        ours = fastpyfunc.load_model(str(model)).predict(X.head(5))
    (warned,) = logged_warnings(caplog)
    assert "differs" in warned and len(warned) < 400
    np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs))
