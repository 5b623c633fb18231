"""Finding each engine's runtime library in the user's installed wheels, without importing them.

``importlib.util.find_spec`` locates a top-level package without running it (importing
onnxruntime costs 30-300 ms; the native engine does not need its Python module at all).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import re
import sys
from pathlib import Path

from . import _native
from . import exceptions as exc

#: Oldest onnxruntime the native engine runs on (its C API level).
ONNXRUNTIME_MIN = (1, 31)
_ORT_HINT = f"{exc.install_hint('fastpyfunc[onnx]')} (onnxruntime>=1.31), or set ORT_DYLIB_PATH"
#: TensorFlow is the user's choice (tensorflow, tensorflow-cpu, ...), so no extra installs it.
_TF_HINT = f"{exc.install_hint('tensorflow>=2.16')} (or tensorflow-cpu)"
#: The torch release the TorchScript engine library is built against (tch 0.26).
TORCH_ENGINE_VERSION = "2.13."
_TORCH_HINT = exc.install_hint("torch>=2.13,<2.14")


def _unavailable(model_path: str, message: str, key: str) -> exc.FastPyFuncError:
    return exc.make(exc.EngineUnavailableError, f"{model_path}: {message}", model_path=model_path, key=key)


def _version_tuple(text: str) -> tuple[int, ...]:
    parts = []
    for p in text.split(".")[:2]:
        digits = "".join(ch for ch in p if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


def onnxruntime_library(model_path: str) -> str:
    """Path of ``libonnxruntime`` to load: ``ORT_DYLIB_PATH``, else the installed wheel's copy."""
    override = os.environ.get("ORT_DYLIB_PATH")
    if override:
        if not os.path.isfile(override):
            raise _unavailable(model_path, f"ORT_DYLIB_PATH={override!r} is not a file", "ORT_DYLIB_PATH")
        return override
    spec = importlib.util.find_spec("onnxruntime")
    if spec is None or not spec.submodule_search_locations:
        raise _unavailable(
            model_path,
            f"running ONNX models needs ONNX Runtime, which is not installed: {_ORT_HINT}",
            "onnxruntime",
        )
    version = None
    for dist in ("onnxruntime", "onnxruntime-gpu", "onnxruntime-openvino", "onnxruntime-directml"):
        try:
            version = importlib.metadata.version(dist)
            break
        except importlib.metadata.PackageNotFoundError:
            continue
    if version is not None and _version_tuple(version) < ONNXRUNTIME_MIN:
        raise _unavailable(
            model_path,
            f"onnxruntime {version} is installed but the native ONNX engine needs onnxruntime>="
            f"{'.'.join(map(str, ONNXRUNTIME_MIN))}: {_ORT_HINT}",
            "onnxruntime",
        )
    capi = Path(spec.submodule_search_locations[0]) / "capi"
    if sys.platform == "win32":
        patterns = ["onnxruntime.dll"]
    elif sys.platform == "darwin":
        patterns = ["libonnxruntime.*.dylib", "libonnxruntime.dylib"]
    else:
        patterns = ["libonnxruntime.so.*", "libonnxruntime.so"]
    for pattern in patterns:
        found = sorted(capi.glob(pattern))
        if found:
            return str(found[-1])
    raise _unavailable(
        model_path,
        f"the onnxruntime package at {capi.parent} has no ONNX Runtime library in capi/: {_ORT_HINT}",
        "onnxruntime",
    )


def tensorflow_library_dir(model_path: str) -> str:
    """The installed ``tensorflow`` package's directory, which holds the C API libraries."""
    spec = importlib.util.find_spec("tensorflow")
    hint = _TF_HINT
    if spec is None or not spec.submodule_search_locations:
        raise _unavailable(
            model_path, f"running SavedModels needs TensorFlow, which is not installed: {hint}", "tensorflow"
        )
    root = Path(spec.submodule_search_locations[0])
    if not (root / "libtensorflow_cc.so.2").is_file():
        raise _unavailable(
            model_path,
            f"the tensorflow package at {root} has no libtensorflow_cc.so.2 (the C API): {hint}",
            "tensorflow",
        )
    return str(root)


def torchscript_engine(model_path: str) -> tuple[str, str]:
    """(the engine library, the ``torch/lib`` folder of the installed torch wheel).

    The engine (``libfastpyfunc_torch.so``, built by any build that sees torch 2.13; see build.rs)
    sits next to this file; ``FASTPYFUNC_TORCH_ENGINE`` overrides the path.
    torch is found without being imported, and its version is read from ``torch/version.py``.
    """
    engine = os.environ.get("FASTPYFUNC_TORCH_ENGINE") or str(
        Path(__file__).parent / "libfastpyfunc_torch.so"
    )
    if not Path(engine).is_file():
        raise _unavailable(
            model_path,
            f"the native TorchScript engine is not part of this install ({engine} is missing); it is "
            "built when fastpyfunc is built where torch 2.13 is installed: "
            f"{exc.install_hint('torch>=2.13,<2.14', 'maturin>=1.8,<2')}, then "
            "pip install --no-build-isolation fastpyfunc (from a checkout: `make build`)",
            "FASTPYFUNC_TORCH_ENGINE",
        )
    spec = importlib.util.find_spec("torch")
    if spec is None or not spec.submodule_search_locations:
        raise _unavailable(
            model_path,
            f"running TorchScript needs torch 2.13, which is not installed: {_TORCH_HINT}",
            "torch",
        )
    root = Path(spec.submodule_search_locations[0])
    match = re.search(r"__version__\s*=\s*['\"]([^'\"]+)", _read(root / "version.py"))
    version = match.group(1) if match else "unknown"
    if not version.startswith(TORCH_ENGINE_VERSION):
        raise _unavailable(
            model_path,
            f"the native TorchScript engine is built for torch {TORCH_ENGINE_VERSION}x, but torch {version} is "
            f"installed at {root}: {_TORCH_HINT}",
            "torch",
        )
    return engine, str(root / "lib")


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


#: Set on a planned-native model's implementation when Python runs it instead (the why).
_FALLBACK_REASON = "_fastpyfunc_route_reason"


def mark_python_fallback(impl: object, why: BaseException, runner: str) -> object:
    """Records on ``impl`` that Python (``runner``) runs a model planned for a native engine, and why."""
    text = str(why)
    prefix = f"{getattr(why, 'model_path', None)}: "
    if text.startswith(prefix):  # the model path is said elsewhere (repr, log line)
        text = text[len(prefix) :]
    setattr(impl, _FALLBACK_REASON, f"{text} ({runner} runs it)")
    return impl


def describe_route(plan: _native.LoadPlan, impl: object) -> tuple[str, str | None]:
    """(what runs the model, why it is not a native engine: None when it is one)."""
    route = plan.route
    if isinstance(route, _native.NativeRoute):
        why = getattr(impl, _FALLBACK_REASON, None)
        if why is None:
            return route.engine, None
        return "python", f"the native {route.engine} engine cannot run it: {why}"
    if isinstance(route, _native.SklearnRoute):
        return (
            "python",
            "no native engine runs scikit-learn models; fastpyfunc's own loader runs it in Python",
        )
    return (
        "python",
        f"no native engine runs {plan.loader_module} models of this kind; "
        f"mlflow's loader {route.module} runs it in Python",
    )
