"""The wheel: `FASTPYFUNC_TORCH` makes the build (build.rs) compile the TorchScript engine and
maturin pack it next to the package, which is what `pip install .` runs."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import zipfile
from pathlib import Path

from conftest import require

ROOT = Path(__file__).resolve().parents[1]
ENGINE = "fastpyfunc/libfastpyfunc_torch.so"


def _maturin_build(out: Path, torch: str) -> subprocess.CompletedProcess[str]:
    maturin = Path(sys.executable).with_name("maturin")
    env = {**os.environ, "FASTPYFUNC_TORCH": torch}
    return subprocess.run(
        [str(maturin), "build", "--release", "-q", "-o", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )


def test_the_wheel_carries_the_torch_engine(tmp_path):
    """With the checkout's engine library moved away, the build makes it again and packs it."""
    require("torch")
    torch_dir = importlib.util.find_spec("torch").submodule_search_locations[0]
    built = ROOT / "python" / ENGINE
    aside = tmp_path / "aside.so"
    if built.exists():
        built.rename(aside)
    try:
        r = _maturin_build(tmp_path, torch_dir)
        assert r.returncode == 0, r.stderr[-3000:]
        assert built.exists(), "the build did not leave the engine next to the package"
    finally:
        if not built.exists() and aside.exists():
            aside.rename(built)
    (wheel,) = tmp_path.glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert ENGINE in names
    assert "fastpyfunc/_native.abi3.so" in names


def test_a_requested_engine_that_cannot_be_built_fails_the_build(tmp_path):
    r = _maturin_build(tmp_path, str(tmp_path / "no-torch-here"))
    assert r.returncode != 0
    assert "no-torch-here is not a torch install" in r.stderr, r.stderr[-3000:]
    assert not list(tmp_path.glob("*.whl"))
