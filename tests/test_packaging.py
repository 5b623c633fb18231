"""The wheel: build.rs builds the TorchScript engine when the build's Python has torch 2.13 and
stages it under target/, maturin packs it as wheel data; a wheel never carries an engine another
build made, and it installs into a fresh virtualenv without Rust."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np

from conftest import require

ROOT = Path(__file__).resolve().parents[1]
ENGINE = "libfastpyfunc_torch.so"
STAGED = ROOT / "target" / "wheel-data" / "platlib" / "fastpyfunc" / ENGINE
BUILT = ROOT / "target" / "torch-engine" / "release" / ENGINE


def _maturin_build(out: Path, torch: str | None) -> subprocess.CompletedProcess[str]:
    maturin = Path(sys.executable).with_name("maturin")
    env = {k: v for k, v in os.environ.items() if k != "FASTPYFUNC_TORCH"}
    if torch is not None:
        env["FASTPYFUNC_TORCH"] = torch
    return subprocess.run(
        [str(maturin), "build", "--release", "-q", "-i", sys.executable, "-o", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )


def _engines_in(wheel: Path) -> dict[str, str]:
    with zipfile.ZipFile(wheel) as z:
        return {n: hashlib.sha256(z.read(n)).hexdigest() for n in z.namelist() if n.endswith(ENGINE)}


def test_the_wheel_carries_only_the_engine_this_build_made(tmp_path):
    """torch in the build's Python: the engine is built without any setting and packed as wheel
    data; a stale copy in the package source is ignored; a build without the engine ships none."""
    require("torch")
    decoy = ROOT / "python" / "fastpyfunc" / ENGINE
    had_decoy = decoy.exists()
    if not had_decoy:
        decoy.write_bytes(b"not an engine")
    try:
        r = _maturin_build(tmp_path / "with", None)
        assert r.returncode == 0, r.stderr[-3000:]
        (wheel,) = (tmp_path / "with").glob("*.whl")
        engines = _engines_in(wheel)
        data_path = f"fastpyfunc-{wheel.name.split('-')[1]}.data/platlib/fastpyfunc/{ENGINE}"
        assert list(engines) == [data_path], engines  # never python/fastpyfunc's copy
        assert engines[data_path] == hashlib.sha256(BUILT.read_bytes()).hexdigest()
        assert "abi3" in wheel.name

        r = _maturin_build(tmp_path / "without", "off")
        assert r.returncode == 0, r.stderr[-3000:]
        (wheel,) = (tmp_path / "without").glob("*.whl")
        assert _engines_in(wheel) == {}, "an engine from an earlier build was packed"
        assert not STAGED.exists()
    finally:
        if not had_decoy:
            decoy.unlink()


def test_a_requested_engine_that_cannot_be_built_fails_the_build(tmp_path):
    r = _maturin_build(tmp_path, str(tmp_path / "no-torch-here"))
    assert r.returncode != 0
    assert "no-torch-here is not a torch install" in r.stderr, r.stderr[-3000:]
    assert not list(tmp_path.glob("*.whl"))


def test_the_wheel_installs_into_a_fresh_venv_and_predicts(tmp_path, onnx_model, iris):
    """No Rust, no mlflow: the wheel, numpy and onnxruntime, then load and predict ONNX."""
    import mlflow

    r = _maturin_build(tmp_path / "dist", "off")
    assert r.returncode == 0, r.stderr[-3000:]
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    uv = shutil.which("uv", path=str(Path(sys.executable).parent)) or "uv"
    venv = tmp_path / "venv"
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env["PATH"] = "/usr/bin:/bin"  # no cargo, no project venv
    subprocess.run([uv, "venv", "-q", "-p", sys.executable, str(venv)], check=True, env=env, timeout=120)
    py = venv / "bin" / "python"
    import onnxruntime

    subprocess.run(
        [
            uv,
            "pip",
            "install",
            "-q",
            "-p",
            str(py),
            str(wheel),
            f"onnxruntime=={onnxruntime.__version__}",
            f"numpy=={np.__version__}",
        ],
        check=True,
        env=env,
        timeout=300,
    )
    X, _ = iris
    x = X.iloc[:4].to_numpy(np.float32)
    code = (
        "import importlib.util, json, sys, numpy as np, fastpyfunc\n"
        "assert importlib.util.find_spec('mlflow') is None\n"
        f"m = fastpyfunc.load_model({str(onnx_model)!r})\n"
        "assert m.engine == 'onnx', m.engine\n"
        f"print(json.dumps(m.predict(np.array({x.tolist()!r}, dtype=np.float32))['variable'].tolist()))\n"
    )
    out = subprocess.run(
        [str(py), "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120
    )
    assert out.returncode == 0, out.stderr[-3000:]
    import json

    expected = mlflow.pyfunc.load_model(str(onnx_model)).predict(x)["variable"]
    np.testing.assert_array_equal(np.array(json.loads(out.stdout), dtype=np.float32), expected)


def test_a_missing_rust_toolchain_is_reported_not_downloaded(tmp_path):
    """The build backend (maturin's, wrapped) stops with what to install when cargo is absent."""
    code = "import fastpyfunc_build as b; b.get_requires_for_build_wheel()"
    env = {k: v for k, v in os.environ.items() if k != "MATURIN_NO_INSTALL_RUST"}
    env["PATH"] = str(tmp_path)  # nothing on it: no cargo
    r = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT / "build_backend", env=env, capture_output=True, text=True
    )
    assert r.returncode == 1
    assert "`cargo` is not on PATH" in r.stderr and "https://rustup.rs" in r.stderr, r.stderr
    assert "puccinialin" not in r.stdout + r.stderr
