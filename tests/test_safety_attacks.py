"""Attack corpus, built at test time: every payload is refused before any of it runs.

Each case writes a model directory whose loading would create a marker file (checked live in a
subprocess for the pickle payloads), then asserts that ``fastpyfunc.load_model`` raises the
expected exception naming the file, and that the marker was never created.
"""

from __future__ import annotations

import copyreg
import functools
import io
import operator
import os
import pickle
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import mlflow
import pytest

import fastpyfunc
from fastpyfunc.exceptions import MalformedModelError, UnsafeModelError

from conftest import PY, require

# -- payload objects: each __reduce__ makes the unpickler do something -----------------------


class Reduce:
    """Pickles as ``fn(*args)``."""

    def __init__(self, fn: Any, *args: Any) -> None:
        self.fn, self.args = fn, args

    def __reduce__(self) -> Any:
        return self.fn, self.args

    def __call__(self, *args: Any) -> Any:  # pickle wants a callable where a call result goes
        raise AssertionError("never called")


def touch_cmd(marker: Path) -> str:
    return f"touch {marker}"


def open_src(marker: Path) -> str:
    return f"open({str(marker)!r}, 'w').close()"


def _import(name: str) -> Reduce:
    import importlib

    return Reduce(importlib.import_module, name)


def _stack_global_memo(marker: Path) -> bytes:
    """STACK_GLOBAL whose module and name come from the memo (hand-assembled)."""
    cmd = touch_cmd(marker).encode()
    return (
        b"\x80\x04\x8c\x02os\x94\x8c\x06system\x94h\x00h\x01\x93\x94"
        + b"\x8c"
        + bytes([len(cmd)])
        + cmd
        + b"\x85R."
    )


def _inst(marker: Path) -> bytes:
    return f"(S'{touch_cmd(marker)}'\nios\nsystem\n.".encode()


def _obj(marker: Path) -> bytes:
    return f"(cos\nsystem\nS'{touch_cmd(marker)}'\no.".encode()


def _build_on_class(marker: Path) -> bytes:
    """BUILD with a slot state on sklearn's Pipeline class itself: ``Pipeline.predict = set``
    (every name allow-listed; patching a class at load is what is refused)."""
    return (
        b"\x80\x04\x8c\x10sklearn.pipeline\x8c\x08Pipeline\x93N}\x8c\x07predict"
        b"\x8c\x08builtins\x8c\x03set\x93s\x86b."
    )


def _pickles(marker: Path) -> dict[str, bytes]:
    """{name: pickle bytes} of payloads that create ``marker`` when unpickled by plain pickle."""
    import subprocess as sp

    cmd = touch_cmd(marker)
    src = open_src(marker)
    out: dict[str, bytes] = {}
    for proto in range(6):
        out[f"os_system_p{proto}"] = pickle.dumps(Reduce(os.system, cmd), protocol=proto)
    out["exec"] = pickle.dumps(Reduce(exec, src), 4)
    out["eval"] = pickle.dumps(Reduce(eval, src), 4)
    out["subprocess_popen"] = pickle.dumps(Reduce(sp.Popen, ["touch", str(marker)]), 4)
    out["runpy"] = pickle.dumps(Reduce(__import__("runpy").run_module, "this_module_is_absent_xyz"), 4)
    out["importlib_getattr"] = pickle.dumps(_CallResult(Reduce(getattr, _import("os"), "system"), cmd), 4)
    out["nested_pickle_loads"] = pickle.dumps(Reduce(pickle.loads, pickle.dumps(Reduce(os.system, cmd))), 4)
    out["functools_partial"] = pickle.dumps(Reduce(functools.partial(os.system, cmd)), 4)
    out["operator_methodcaller"] = pickle.dumps(_MethodCaller(marker), 4)
    out["operator_attrgetter"] = pickle.dumps(_AttrGetter(marker), 4)
    out["pkgutil_resolve_name"] = pickle.dumps(_ResolveName(marker), 4)
    out["copyreg_reconstructor"] = pickle.dumps(
        Reduce(copyreg._reconstructor, sp.Popen, sp.Popen, ["touch", str(marker)]), 2
    )  # type: ignore[attr-defined]
    out["stack_global_memo"] = _stack_global_memo(marker)
    out["inst"] = _inst(marker)
    out["obj"] = _obj(marker)
    out["build_on_class"] = _build_on_class(marker)
    return out


class _MethodCaller:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> Any:
        # operator.methodcaller('system', cmd)(importlib.import_module('os'))
        return operator.methodcaller("system", touch_cmd(self.marker)), (_import("os"),)


class _AttrGetter:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> Any:
        # operator.attrgetter('system')(os) -> os.system, then called through a second REDUCE
        return _CallResult(
            Reduce(operator.attrgetter("system"), _import("os")), touch_cmd(self.marker)
        ).__reduce__()


class _ResolveName:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> Any:
        import pkgutil

        return _CallResult(Reduce(pkgutil.resolve_name, "os:system"), touch_cmd(self.marker)).__reduce__()


class _CallResult:
    """Pickles as ``(fn(*fn_args))(arg)``: the callable is itself built at load time."""

    def __init__(self, made: Reduce, arg: Any) -> None:
        self.made, self.arg = made, arg

    def __reduce__(self) -> Any:
        return self.made, (self.arg,)


# -- model directories -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def base_models(tmp_path_factory, iris) -> dict[str, Path]:
    from sklearn.linear_model import LogisticRegression

    X, y = iris
    clf = LogisticRegression(max_iter=500).fit(X, y)
    out = {}
    for fmt in ("pickle", "cloudpickle", "skops"):
        d = tmp_path_factory.mktemp(f"base-{fmt}") / "model"
        mlflow.sklearn.save_model(clf, str(d), serialization_format=fmt, pip_requirements=["scikit-learn"])
        out[fmt] = d
    return out


def with_model_file(base: Path, dest: Path, data: bytes) -> Path:
    shutil.copytree(base, dest)
    model_file = next(p for p in dest.iterdir() if p.name.startswith("model."))
    model_file.write_bytes(data)
    return dest


def assert_refused(root: Path, marker: Path, cls: type = UnsafeModelError, names: str | None = None) -> Any:
    with pytest.raises(cls) as err:
        fastpyfunc.load_model(str(root))
    msg = str(err.value)
    assert str(root) in msg, msg
    assert err.value.key, "the exception names the offending file or key"
    if names:
        assert names in msg, msg
    if cls is UnsafeModelError:
        assert "trust_code=True" in msg and "FASTPYFUNC_TRUST_CODE" in msg, msg
    assert not marker.exists(), "the payload ran"
    return err.value


PICKLE_CASES = sorted(_pickles(Path("/x")))


def test_payloads_are_live(tmp_path):
    """Each pickle payload really runs code under plain pickle (so refusing it means something)."""
    ran = []
    for name, blob in _pickles(tmp_path / "live").items():
        marker = tmp_path / f"live-{name}"
        blob = _pickles(marker)[name]
        f = tmp_path / f"{name}.pkl"
        f.write_bytes(blob)
        subprocess.run(
            [
                PY,
                "-c",
                "import pickle, sys\ntry: pickle.loads(open(sys.argv[1], 'rb').read())\nexcept Exception: pass",
                str(f),
            ],
            check=True,
            capture_output=True,
        )
        ran.append((name, marker.exists()))
    # runpy imports a module that does not exist and build_on_class patches a class instead of
    # touching a file: their effect is shown by the verifier's findings below, not a marker.
    assert sorted(n for n, ok in ran if not ok) == ["build_on_class", "runpy"], ran


@pytest.mark.parametrize("case", PICKLE_CASES)
@pytest.mark.parametrize("fmt", ["pickle", "cloudpickle"])
def test_pickle_payloads_refused(base_models, tmp_path, case, fmt):
    marker = tmp_path / "marker"
    root = with_model_file(base_models[fmt], tmp_path / "m", _pickles(marker)[case])
    e = assert_refused(root, marker, names="model.pkl")
    assert "byte" in str(e), "the message gives the byte offset"


def test_offset_names_the_global(base_models, tmp_path):
    marker = tmp_path / "marker"
    blob = _pickles(marker)["os_system_p0"]
    root = with_model_file(base_models["pickle"], tmp_path / "m", blob)
    e = assert_refused(root, marker)
    assert "posix.system" in str(e) and "(byte 0)" in str(e), str(e)


def test_payload_hidden_in_working_pipeline(base_models, tmp_path, iris):
    """A pipeline that still predicts, with a payload in an attribute of one step."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = iris
    marker = tmp_path / "marker"
    pipe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(X, y)
    pipe.steps[0][1].notes = Reduce(os.system, touch_cmd(marker))
    data = pickle.dumps(pipe)
    root = with_model_file(base_models["pickle"], tmp_path / "m", data)
    assert_refused(root, marker, names="system")


def test_joblib_payload(base_models, tmp_path):
    import joblib
    import numpy as np

    marker = tmp_path / "marker"
    buf = io.BytesIO()
    joblib.dump({"w": np.arange(5.0), "p": Reduce(os.system, touch_cmd(marker))}, buf)
    root = with_model_file(base_models["pickle"], tmp_path / "m", buf.getvalue())
    assert_refused(root, marker)


def _dynamic_class_payloads(marker: Path) -> dict[str, bytes]:
    """Classes pickled by value (cloudpickle) whose __setstate__/__hash__/__eq__ run at load."""
    import cloudpickle

    src = open_src(marker)
    ns: dict[str, Any] = {}
    exec(
        textwrap.dedent(
            f"""
            class SetState:
                def __setstate__(self, state):
                    {src}
            class Hash:
                def __hash__(self):
                    {src}
                    return 1
            class Eq:
                def __hash__(self):
                    return 1
                def __eq__(self, other):
                    {src}
                    return True
            class ReduceByValue:
                def __reduce__(self):
                    return (eval, ({src!r},))
            """
        ),
        ns,
    )
    set_state = ns["SetState"]()
    set_state.x = 1
    out = {
        "setstate": cloudpickle.dumps(set_state),
        "hash": cloudpickle.dumps({ns["Hash"](): 1}),
        "eq": cloudpickle.dumps({ns["Eq"](), ns["Eq"]()}),
        "reduce": cloudpickle.dumps(ns["ReduceByValue"]()),
        "lambda": cloudpickle.dumps(lambda x: x),
    }
    marker.unlink(missing_ok=True)  # building the dict and set ran __hash__/__eq__ here
    return out


@pytest.mark.parametrize("case", ["setstate", "hash", "eq", "reduce", "lambda"])
def test_dynamic_classes_refused(base_models, tmp_path, case):
    marker = tmp_path / "marker"
    root = with_model_file(base_models["cloudpickle"], tmp_path / "m", _dynamic_class_payloads(marker)[case])
    e = assert_refused(root, marker)
    report = fastpyfunc.scan(str(root))
    assert not report.safe
    kinds = {c.kind for f in report.files for c in f.code_objects}
    assert kinds & {"class", "function", "code object", "code"}, (kinds, str(e))


def test_extension_registry(base_models, tmp_path):
    """EXT codes resolve through the process-global copyreg registry: always refused."""
    marker = tmp_path / "marker"
    copyreg.add_extension("posix", "system", 0x5A5A)
    try:
        blob = (
            b"\x80\x02\x83\x5a\x5a"
            + b"\x8c"
            + bytes([len(touch_cmd(marker))])
            + touch_cmd(marker).encode()
            + b"\x85R."
        )
        root = with_model_file(base_models["pickle"], tmp_path / "m", blob)
        assert_refused(root, marker, names="EXT2")
    finally:
        copyreg.remove_extension("posix", "system", 0x5A5A)


def test_skops_self_trusted_types(base_models, tmp_path, iris):
    """A .skops file whose MLmodel trusts os.system: the model cannot widen what is trusted."""
    import skops.io
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    X, _ = iris
    marker = tmp_path / "marker"
    from sklearn.linear_model import LogisticRegression

    pipe = make_pipeline(FunctionTransformer(os.system), LogisticRegression())  # unfitted: has predict
    d = tmp_path / "m"
    trusted = None
    blob = skops.io.dumps(pipe)
    trusted = skops.io.get_untrusted_types(data=blob)
    mlflow.sklearn.save_model(
        pipe, str(d), serialization_format="skops", skops_trusted_types=trusted, pip_requirements=["skops"]
    )
    e = assert_refused(d, marker, names="model.skops")
    assert "system" in str(e)
    # with trust, mlflow's behaviour (the MLmodel's list is honoured)
    assert fastpyfunc.load_model(str(d), trust_code=True) is not None


def _pyfunc_payload_model(tmp_path: Path, marker: Path, compression: str | None) -> Path:
    class Evil(mlflow.pyfunc.PythonModel):
        def predict(self, context, model_input, params=None):
            return model_input

    evil = Evil()
    evil.payload = Reduce(os.system, touch_cmd(marker))  # runs when python_model is unpickled
    d = tmp_path / f"pyfunc-{compression}"
    env = {"MLFLOW_LOG_MODEL_COMPRESSION": compression} if compression else {}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        mlflow.pyfunc.save_model(str(d), python_model=evil, pip_requirements=["mlflow"])
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
    marker.unlink(missing_ok=True)  # mlflow loads the model back while saving it
    return d


@pytest.mark.parametrize("compression", [None, "lzma", "gzip", "bzip2"])
def test_python_model_refused(tmp_path, compression):
    marker = tmp_path / "marker"
    d = _pyfunc_payload_model(tmp_path, marker, compression)
    e = assert_refused(d, marker, names="python_model")
    assert e.key == "flavors.python_function.python_model"
    report = fastpyfunc.scan(str(d))
    (f,) = report.files
    assert f.verdict == "unsafe"
    if compression:
        assert "+" in f.format, f.format
    names = {c.name for c in f.code_objects}
    assert "predict" in names or "Evil" in names, f.code_objects


def test_torch_save_payload(tmp_path):
    torch = require("torch")
    marker = tmp_path / "marker"
    net = torch.nn.Linear(2, 1)
    d = tmp_path / "m"
    mlflow.pytorch.save_model(net, str(d), serialization_format="pickle", pip_requirements=["torch"])
    data = next((d / "data").glob("*.pth"))
    torch.save(Reduce(os.system, touch_cmd(marker)), str(data))
    assert_refused(d, marker, names="mlflow.pytorch")


def test_loader_module_in_code_dir(tmp_path):
    marker = tmp_path / "marker"
    d = tmp_path / "m"
    (d / "code").mkdir(parents=True)
    (d / "code" / "evil_loader.py").write_text(f"{open_src(marker)}\ndef _load_pyfunc(p):\n    return None\n")
    (d / "MLmodel").write_text("flavors:\n  python_function: {loader_module: evil_loader, code: code}\n")
    assert_refused(d, marker, names="code")
    assert str(d / "code") not in sys.path


def test_non_builtin_loader_module(tmp_path):
    marker = tmp_path / "marker"
    d = tmp_path / "m"
    d.mkdir()
    (d / "MLmodel").write_text("flavors:\n  python_function: {loader_module: json.tool}\n")
    assert_refused(d, marker, names="json.tool")


def test_models_from_code(tmp_path):
    marker = tmp_path / "marker"
    src = tmp_path / "model_code.py"
    src.write_text(
        "import mlflow\n"
        "class M(mlflow.pyfunc.PythonModel):\n"
        "    def predict(self, context, model_input, params=None):\n"
        "        return model_input\n"
        "mlflow.models.set_model(M())\n"
    )
    d = tmp_path / "m"
    mlflow.pyfunc.save_model(str(d), python_model=str(src), pip_requirements=["mlflow"])
    # the saved code now writes the marker when executed
    saved = d / os.path.basename(
        mlflow.models.Model.load(str(d)).flavors["python_function"]["model_code_path"]
    )
    saved.write_text(f"{open_src(marker)}\n" + saved.read_text())
    assert_refused(d, marker, names="model_code_path")


# -- confinement -------------------------------------------------------------------------------


def test_symlinked_model_file(base_models, tmp_path):
    marker = tmp_path / "marker"
    outside = tmp_path / "outside.pkl"
    shutil.copy(next(base_models["pickle"].glob("model.pkl")), outside)
    root = tmp_path / "m"
    shutil.copytree(base_models["pickle"], root)
    (root / "model.pkl").unlink()
    (root / "model.pkl").symlink_to(outside)
    e = assert_refused(root, marker, cls=MalformedModelError, names="outside the model directory")
    assert "model.pkl" in str(e)


def test_symlinked_code_dir(tmp_path):
    marker = tmp_path / "marker"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "evil_loader.py").write_text(open_src(marker))
    d = tmp_path / "m"
    d.mkdir()
    (d / "code").symlink_to(elsewhere)
    (d / "MLmodel").write_text("flavors:\n  python_function: {loader_module: evil_loader, code: code}\n")
    assert_refused(d, marker, cls=MalformedModelError, names="flavors.python_function.code")
    with pytest.raises(MalformedModelError):  # trust does not lift confinement
        fastpyfunc.load_model(str(d), trust_code=True)
    assert not marker.exists()


def test_symlinked_mlmodel(base_models, tmp_path):
    marker = tmp_path / "marker"
    outside = tmp_path / "MLmodel.outside"
    shutil.copy(base_models["pickle"] / "MLmodel", outside)
    root = tmp_path / "m"
    shutil.copytree(base_models["pickle"], root)
    (root / "MLmodel").unlink()
    (root / "MLmodel").symlink_to(outside)
    assert_refused(root, marker, cls=MalformedModelError, names="MLmodel")


def test_python_model_path_outside(tmp_path):
    marker = tmp_path / "marker"
    d = _pyfunc_payload_model(tmp_path, marker, None)
    text = (d / "MLmodel").read_text().replace("python_model: python_model.pkl", "python_model: ../x.pkl")
    (d / "MLmodel").write_text(text)
    shutil.copy(d / "python_model.pkl", tmp_path / "x.pkl")
    with pytest.raises(MalformedModelError, match="outside the model directory") as err:
        fastpyfunc.load_model(str(d), trust_code=True)
    assert err.value.key == "flavors.python_function.python_model"


def test_untrusted_allow_pickle_false_still_refuses(base_models, monkeypatch):
    monkeypatch.setenv("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "false")
    with pytest.raises(UnsafeModelError, match="MLFLOW_ALLOW_PICKLE_DESERIALIZATION"):
        fastpyfunc.load_model(str(base_models["pickle"]), trust_code=True)
