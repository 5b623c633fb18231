"""fastpyfunc's PEP 517 build backend: maturin's, with two differences for people installing
from source.

- Without ``cargo`` on PATH, maturin silently downloads a Rust toolchain (about 900 MB) into a
  temporary directory. Here the build stops and says what to install instead (set
  ``MATURIN_NO_INSTALL_RUST=0`` to get maturin's download back).
- It says what it is about to build (pip shows it with ``-v``).
"""

from __future__ import annotations

import os
import shutil
import sys
from typing import Any

os.environ.setdefault("MATURIN_NO_INSTALL_RUST", "1")
if os.environ["MATURIN_NO_INSTALL_RUST"] == "0":
    del os.environ["MATURIN_NO_INSTALL_RUST"]

from maturin import *  # noqa: E402, F403  (every PEP 517 hook maturin defines)
from maturin import build_wheel as _build_wheel  # noqa: E402


def _require_cargo() -> None:
    if "MATURIN_NO_INSTALL_RUST" in os.environ and not shutil.which("cargo"):
        sys.stderr.write(
            "\nfastpyfunc: building from source compiles its Rust core, and `cargo` is not on PATH.\n"
            "Install Rust (https://rustup.rs, or your system's package manager: rustc and cargo >= 1.85),\n"
            "or install a prebuilt fastpyfunc wheel. MATURIN_NO_INSTALL_RUST=0 lets maturin download\n"
            "a temporary toolchain instead.\n\n"
        )
        raise SystemExit(1)


def _data_dir() -> None:
    # maturin checks [tool.maturin] data exists before build.rs (which stages the engine) runs.
    os.makedirs(os.path.join("target", "wheel-data"), exist_ok=True)


_data_dir()  # for every hook maturin defines (metadata, editable, sdist), not only those below


def get_requires_for_build_wheel(config_settings: Any = None) -> list[str]:  # noqa: F811
    _require_cargo()
    _data_dir()
    return []


def build_wheel(wheel_directory: str, config_settings: Any = None, metadata_directory: Any = None) -> str:  # noqa: F811
    _require_cargo()
    sys.stderr.write(
        "fastpyfunc: compiling the Rust core (release; 1-3 minutes), and the native TorchScript engine\n"
        "when this Python has torch 2.13 (pass --no-build-isolation to let the build see it)\n"
    )
    _data_dir()
    return _build_wheel(wheel_directory, config_settings, metadata_directory)
