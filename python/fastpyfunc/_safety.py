"""Safe loading: nothing from a model directory runs unless the user trusts it.

Without trust, ``load_model`` refuses (``UnsafeModelError``, before any of it runs) whatever
carries code: pickles the Rust verifier does not accept, custom ``PythonModel`` pickles,
models-from-code, a ``code/`` directory, loader modules outside mlflow's built-in data flavors.
Pickles the verifier accepts are then unpickled by :class:`RestrictedUnpickler`, whose
``find_class`` resolves only the verifier's own allow-list, so the two cannot disagree.
Every file a model reads must resolve (symlinks included) inside the model directory.
"""

from __future__ import annotations

import _compat_pickle
import dataclasses
import functools
import importlib
import io
import os
import pickle
from typing import Any

from . import _native
from . import exceptions as exc

TRUST_ENV = "FASTPYFUNC_TRUST_CODE"
OPT_IN = f"pass trust_code=True to load_model or set {TRUST_ENV}=1 if you trust this model's source"

# mlflow's loader modules whose _load_pyfunc deserializes pickled objects the verifier cannot see.
PICKLING_LOADERS = frozenset(
    {
        "mlflow.pyfunc.model",
        "mlflow.pytorch",
        "mlflow.statsmodels",
        "mlflow.pmdarima",
        "mlflow.shap",
        "mlflow.h2o",
    }
)
# mlflow's loader modules checked to read only data from the model directory (with the checks of
# code_reasons and _keras_code): an allow-list, so a flavor nobody has read (or a new one) needs trust.
#   mlflow.onnx: the ONNX file (onnxruntime); mlflow.prophet: prophet's JSON (model_from_json);
#   mlflow.keras: a SavedModel, or a .keras archive loaded in Keras' safe mode;
#   mlflow.tensorflow: a SavedModel, or a Keras file without its cloudpickled custom objects and
#   with a keras_module.txt naming Keras itself; the boosting loaders: see BOOSTING_LOADERS.
DATA_LOADERS = frozenset({"mlflow.onnx", "mlflow.prophet", "mlflow.keras", "mlflow.tensorflow"})
# mlflow.tensorflow's Keras model files that make it run code: cloudpickles it loads, and the
# module keras_module.txt names (imported, then its ``.models.load_model`` called).
_KERAS_PICKLES = ("custom_objects.cloudpickle", "global_custom_objects.cloudpickle")
_KERAS_MODULE_FILE = "keras_module.txt"
# (the ``__name__`` of ``tensorflow.keras`` that mlflow writes, across TensorFlow releases)
_KERAS_MODULES = frozenset(
    {
        "keras",
        "tf_keras",
        "tensorflow.keras",
        "keras.api._v2.keras",
        "keras._tf_keras.keras",
        "tensorflow.python.keras",
        "tensorflow.python.keras.api._v2.keras",
    }
)
# mlflow's boosting flavors: their models are data (xgboost's UBJ/JSON, lightgbm's text,
# catboost's CBM/JSON/ONNX read by its C++ loader), or for lightgbm's scikit-learn API a pickle or
# skops file that fastpyfunc verifies and loads itself.
BOOSTING_LOADERS = {"mlflow.xgboost": "xgboost", "mlflow.lightgbm": "lightgbm", "mlflow.catboost": "catboost"}
#: BoostingFile formats that are data (no Python objects deserialized).
BOOSTING_DATA_FORMATS = frozenset(BOOSTING_LOADERS.values())
# mlflow.xgboost imports and instantiates the MLmodel's model_class: only these are loaded.
XGBOOST_CLASSES = frozenset(
    {
        "xgboost.core.Booster",
        "xgboost.sklearn.XGBClassifier",
        "xgboost.sklearn.XGBRegressor",
        "xgboost.sklearn.XGBRanker",
        "xgboost.sklearn.XGBRFClassifier",
        "xgboost.sklearn.XGBRFRegressor",
    }
)
LIGHTGBM_BOOSTER = "lightgbm.basic.Booster"
# mlflow.catboost instantiates the catboost class its MLmodel's model_type names (mlflow's own list).
CATBOOST_TYPES = frozenset({"CatBoost", "CatBoostClassifier", "CatBoostRegressor", "CatBoostRanker"})
# At most this many directory entries are checked for confinement (SavedModel variables/...).
_MAX_WALK = 100_000


def trusted(trust_code: bool | None) -> bool:
    """The argument when given, else ``FASTPYFUNC_TRUST_CODE`` (``1``/``true``/``yes``)."""
    if trust_code is not None:
        return bool(trust_code)
    return os.environ.get(TRUST_ENV, "").strip().lower() in ("1", "true", "yes")


@functools.cache
def allowed() -> frozenset[tuple[str, str]]:
    """The verifier's allow-list (read from the native module: one list for both)."""
    return frozenset(_native.safety_allowlist())


def refuse(model_path: str, key: str, what: str) -> exc.FastPyFuncError:
    return exc.make(
        exc.UnsafeModelError,
        f"{model_path}: {what}. fastpyfunc does not run code from model files by default; {OPT_IN}.",
        model_path=model_path,
        key=key,
    )


# -- confinement ------------------------------------------------------------------------------


def _inside(model_path: str, real: str) -> bool:
    root = os.path.realpath(model_path)
    return real == root or real.startswith(root.rstrip(os.sep) + os.sep)


def confine(model_path: str, path: str, key: str) -> str:
    """``path`` resolved (symlinks included); refused unless it stays inside the model directory."""
    real = os.path.realpath(path)
    if not _inside(model_path, real):
        raise exc.make(
            exc.MalformedModelError,
            f"{model_path}: {os.path.relpath(path, model_path)} (key '{key}') resolves to {real}, "
            "outside the model directory; a model may only read its own files",
            model_path=model_path,
            key=key,
        )
    return real


def confine_tree(model_path: str, path: str, key: str) -> None:
    """:func:`confine` for a file or every entry under a directory (links are not followed)."""
    confine(model_path, path, key)
    if not os.path.isdir(path):
        return
    seen = 0
    for dirpath, dirnames, filenames in os.walk(path):
        for name in dirnames + filenames:
            seen += 1
            if seen > _MAX_WALK:
                return
            entry = os.path.join(dirpath, name)
            if os.path.islink(entry):
                confine(model_path, entry, key)


def confine_onnx_external(model_path: str, model_file: str) -> None:
    """Every external-data file the ONNX model's tensors name (``location``, which onnxruntime
    reads relative to the model file) must resolve, symlinks included, inside the model directory."""
    found = _native.onnx_external_data(model_file)
    if found is None:  # not readable as ONNX: onnxruntime's own error says so at load
        return
    rel = os.path.relpath(model_file, model_path)
    for tensor, location in found:
        real = os.path.realpath(os.path.join(os.path.dirname(model_file), location))
        if os.path.isabs(location) or not _inside(model_path, real):
            raise exc.make(
                exc.MalformedModelError,
                f"{model_path}: {rel}: tensor {tensor!r} reads its data from {location!r}, which resolves to "
                f"{real}, outside the model directory; a model may only read its own files",
                model_path=model_path,
                key=rel,
            )


def confine_plan(model_path: str, plan: _native.LoadPlan, pyfunc_conf: dict[str, Any]) -> None:
    """Every path the plan and the pyfunc flavor name stays inside the model directory."""
    confine(model_path, os.path.join(model_path, "MLmodel"), "MLmodel")
    route = plan.route
    if os.path.exists(plan.data_path):
        confine(model_path, plan.data_path, "flavors.python_function.data")
    if plan.code_path and os.path.exists(plan.code_path):
        confine_tree(model_path, plan.code_path, "flavors.python_function.code")
    if isinstance(route, _native.NativeRoute):
        confine_tree(model_path, route.artifact, f"{route.engine} model")
        if route.engine == "onnx" and os.path.isfile(route.artifact):
            confine_onnx_external(model_path, route.artifact)
    if isinstance(route, _native.SklearnRoute):
        confine(model_path, route.model_file, "flavors.python_function.model_path")
    rel = pyfunc_conf.get("python_model")
    if isinstance(rel, str) and rel:
        confine(model_path, os.path.join(model_path, rel), "flavors.python_function.python_model")
    rel = pyfunc_conf.get("model_code_path")
    if isinstance(rel, str) and rel:  # mlflow reads the file of that name in the model directory
        path = os.path.join(model_path, os.path.basename(rel))
        confine(model_path, path, "flavors.python_function.model_code_path")
    artifacts = pyfunc_conf.get("artifacts")
    if isinstance(artifacts, dict):
        for name, spec in artifacts.items():
            rel = spec.get("path") if isinstance(spec, dict) else None
            if isinstance(rel, str) and rel:
                confine_tree(
                    model_path, os.path.join(model_path, rel), f"flavors.python_function.artifacts.{name}"
                )


# -- what carries code --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class BoostingFile:
    """The model file of an xgboost, lightgbm or catboost flavor, as its MLmodel names it."""

    path: str
    model_class: str
    #: ``"xgboost"`` (UBJ/JSON, data), ``"lightgbm"`` (a booster's text, data), ``"catboost"``
    #: (data), or the pickle
    #: (``"pickle"``, ``"cloudpickle"``) or ``"skops"`` file of lightgbm's scikit-learn API.
    format: str
    trusted_types: list[str] | None


def boosting_file(model_path: str, module: str, data_path: str, flavors: dict[str, Any]) -> BoostingFile:
    """What mlflow's xgboost/lightgbm/catboost loader would read, resolved inside the model directory;
    ``UnsafeModelError`` when it would import a class outside the exact list, or read an MLmodel
    other than this one."""
    found = _boosting(model_path, module, data_path, flavors)
    if isinstance(found, tuple):
        key, reason = found
        raise refuse(model_path, key, f"loading it would run code ({key}): {reason}")
    return found


def _boosting(
    model_path: str, module: str, data_path: str, flavors: dict[str, Any]
) -> BoostingFile | tuple[str, str]:
    """:func:`boosting_file`, or ``(key, reason)`` when loading would run code."""
    flavor = BOOSTING_LOADERS[module]
    conf = flavors.get(flavor)
    key = f"flavors.{flavor}"
    if not isinstance(conf, dict) or not isinstance(conf.get("data"), str) or not conf["data"]:
        raise exc.make(
            exc.MalformedModelError,
            f"{model_path}: the MLmodel's {key} has no 'data' file, which {module} loads",
            model_path=model_path,
            key=f"{key}.data",
        )
    # mlflow reads the MLmodel next to python_function.data: it must be this one.
    model_dir = os.path.dirname(data_path) if os.path.isfile(data_path) else data_path
    if os.path.realpath(model_dir) != os.path.realpath(model_path):
        return (
            "flavors.python_function.data",
            f"{module} would read the MLmodel of {os.path.relpath(model_dir, model_path)}, not this one",
        )
    path = confine(model_path, os.path.join(model_path, conf["data"]), f"{key}.data")
    if flavor == "xgboost":
        model_class = str(conf.get("model_class", "xgboost.core.Booster"))
        if model_class not in XGBOOST_CLASSES:
            return (
                f"{key}.model_class",
                f"{module} would import and instantiate its model_class {model_class!r}, which is not "
                f"one of xgboost's model classes ({', '.join(sorted(XGBOOST_CLASSES))})",
            )
        return BoostingFile(path, model_class, "xgboost", None)
    if flavor == "catboost":
        model_type = str(conf.get("model_type"))
        if model_type not in CATBOOST_TYPES:
            return (
                f"{key}.model_type",
                f"{module} would instantiate its model_type {model_type!r}, which is not one of "
                f"catboost's model classes ({', '.join(sorted(CATBOOST_TYPES))})",
            )
        return BoostingFile(path, model_type, "catboost", None)
    model_class = str(conf.get("model_class", LIGHTGBM_BOOSTER))
    if model_class == LIGHTGBM_BOOSTER:
        return BoostingFile(path, model_class, "lightgbm", None)
    fmt = str(conf.get("serialization_format", "cloudpickle"))
    if fmt not in ("pickle", "cloudpickle", "skops"):
        raise exc.make(
            exc.MalformedModelError,
            f"{model_path}: {key}.serialization_format is {fmt!r}; expected pickle, cloudpickle or skops",
            model_path=model_path,
            key=f"{key}.serialization_format",
        )
    trusted_types = conf.get("skops_trusted_types")
    return BoostingFile(path, model_class, fmt, trusted_types if isinstance(trusted_types, list) else None)


def code_reasons(
    model_path: str, plan: _native.LoadPlan, pyfunc_conf: dict[str, Any], flavors: dict[str, Any]
) -> list[tuple[str, str]]:
    """(key, reason) for every part of the model that would run code from the model directory,
    judged from the MLmodel alone (pickled files are verified where they are read)."""
    reasons: list[tuple[str, str]] = []
    code_path = plan.code_path
    if code_path and os.path.exists(code_path):
        reasons.append(
            (
                "flavors.python_function.code",
                f"it has a code directory ({os.path.relpath(code_path, model_path)}/) that would be put on sys.path",
            )
        )
    if pyfunc_conf.get("model_code_path"):
        reasons.append(
            (
                "flavors.python_function.model_code_path",
                f"it is a model from code: {os.path.basename(str(pyfunc_conf['model_code_path']))} would be executed",
            )
        )
    route = plan.route
    if isinstance(route, _native.LoaderModuleRoute):
        module = route.module
        if module == "mlflow.pyfunc.model" and pyfunc_conf.get("python_model"):
            reasons.append(
                (
                    "flavors.python_function.python_model",
                    f"its custom PythonModel {pyfunc_conf['python_model']} is a cloudpickle of Python code",
                )
            )
        elif not module.startswith("mlflow.") or module.startswith("mlflow.pyfunc."):
            reasons.append(
                (
                    "flavors.python_function.loader_module",
                    f"its loader_module {module!r} is not one of mlflow's built-in data flavors; importing it runs code",
                )
            )
        elif module in BOOSTING_LOADERS:
            found = _boosting(model_path, module, plan.data_path, flavors)
            if isinstance(found, tuple):
                reasons.append(found)
        elif module in PICKLING_LOADERS:
            reasons.append(
                (
                    "flavors.python_function.loader_module",
                    f"{module} deserializes pickled Python objects (for example eager PyTorch modules) "
                    "that fastpyfunc cannot verify",
                )
            )
        elif module not in DATA_LOADERS:
            reasons.append(
                (
                    "flavors.python_function.loader_module",
                    f"{module} is not one of the mlflow loaders fastpyfunc has checked to read only "
                    f"data ({', '.join(sorted(DATA_LOADERS | BOOSTING_LOADERS.keys()))}); it may "
                    "unpickle files or import names from the model directory",
                )
            )
        elif module == "mlflow.tensorflow":
            reasons += _keras_code(model_path, plan.data_path)
    return reasons


def _keras_code(model_path: str, data_path: str) -> list[tuple[str, str]]:
    """What in an mlflow.tensorflow Keras model's data directory would run code when loaded."""
    reasons = []
    for name in _KERAS_PICKLES:
        if os.path.lexists(os.path.join(data_path, name)):
            rel = os.path.relpath(os.path.join(data_path, name), model_path)
            reasons.append(
                (
                    "flavors.python_function.data",
                    f"its Keras custom objects {rel} are a cloudpickle of Python code, which "
                    "mlflow.tensorflow loads",
                )
            )
    spec = os.path.join(data_path, _KERAS_MODULE_FILE)
    if os.path.lexists(spec):
        try:
            with open(confine(model_path, spec, "flavors.python_function.data"), "rb") as f:
                named = f.read(256).decode("utf-8", "replace")
        except OSError as e:
            named = f"<unreadable: {e.strerror}>"
        if named not in _KERAS_MODULES:
            rel = os.path.relpath(spec, model_path)
            reasons.append(
                (
                    "flavors.python_function.data",
                    f"{rel} names the module {named[:80]!r}, which mlflow.tensorflow would import and "
                    "whose models.load_model it would call; it is not one of Keras' own names",
                )
            )
    return reasons


def check_code(
    model_path: str, plan: _native.LoadPlan, pyfunc_conf: dict[str, Any], flavors: dict[str, Any], trust: bool
) -> None:
    """Without trust, refuses the first part of the model that would run code."""
    if trust:
        return
    for key, reason in code_reasons(model_path, plan, pyfunc_conf, flavors):
        raise refuse(model_path, key, f"loading it would run code ({key}): {reason}")


# -- pickles ----------------------------------------------------------------------------------


def verify(data: bytes) -> _native.PickleReport:
    """The Rust verifier's report on pickle bytes (decompressed first when compressed)."""
    return _native.verify_pickle(data)


def describe_findings(findings: list[_native.PickleFinding], limit: int = 3) -> str:
    parts = [f"{f.message} (byte {f.offset})" for f in findings[:limit]]
    more = len(findings) - limit
    if more > 0:
        parts.append(f"and {more} more")
    return "; ".join(parts)


def load_verified(model_path: str, path: str, fmt: str) -> Any:
    """Reads a pickle once, verifies those bytes, then unpickles them with the allow-list. A
    compressed file is decompressed once, by the verifier, and the stream it verified is the one
    unpickled."""
    key = os.path.relpath(path, model_path)
    with open(path, "rb") as f:
        data = f.read()
    report = verify(data)
    verdict = report.verdict
    if verdict == "unsafe":
        raise refuse(
            model_path, key, f"{key} ({fmt}) would run code when loaded: {describe_findings(report.findings)}"
        )
    if verdict == "malformed":
        m = report.malformed
        assert m is not None
        raise exc.make(
            exc.ModelLoadError,
            f"{model_path}: loading {key} ({fmt}) failed: not a readable pickle: {m.message} (byte {m.offset})",
            model_path=model_path,
            key=key,
        )
    plain = report.plain
    if plain is not None:
        data = plain
    arrays = report.joblib_arrays
    if arrays:
        return JoblibUnpickler(io.BytesIO(data), model_path, key, arrays).load()
    return RestrictedUnpickler(io.BytesIO(data), model_path, key).load()


def find_allowed(model_path: str, key: str, module: str, name: str) -> Any:
    """``find_class`` with the allow-list: Python 2 names mapped as ``_compat_pickle`` does, and
    only the mapped, allow-listed name imported."""
    if (module, name) in _compat_pickle.NAME_MAPPING:
        module, name = _compat_pickle.NAME_MAPPING[(module, name)]
    elif module in _compat_pickle.IMPORT_MAPPING:
        module = _compat_pickle.IMPORT_MAPPING[module]
    pair = (module, name)
    obj = _RESOLVED.get(pair)
    if obj is not None:
        return obj
    if pair not in allowed():
        raise refuse(model_path, key, f"{key} references {module}.{name}, not on the allow-list")
    obj = importlib.import_module(module)
    for part in name.split("."):
        obj = getattr(obj, part)
    _RESOLVED[pair] = obj
    return obj


# Allow-listed globals already imported (only allow-listed pairs are ever stored).
_RESOLVED: dict[tuple[str, str], Any] = {}


class RestrictedUnpickler(pickle.Unpickler):
    """Resolves only allow-listed globals; everything else raises ``UnsafeModelError``.

    Python 2 names (protocols < 3) are mapped as ``_compat_pickle`` does, and only the mapped,
    allow-listed name is imported.
    """

    def __init__(self, file: Any, model_path: str, key: str) -> None:
        super().__init__(file)
        self._model_path = model_path
        self._key = key

    def find_class(self, module: str, name: str) -> Any:
        return find_allowed(self._model_path, self._key, module, name)

    def persistent_load(self, pid: Any) -> Any:
        raise refuse(self._model_path, self._key, f"{self._key} uses persistent ids")


JOBLIB_WRAPPER = ("joblib.numpy_pickle", "NumpyArrayWrapper")


class _ArrayWrapper:
    """Stands in for joblib's ``NumpyArrayWrapper``: its state says how the array bytes that
    follow it in the file are laid out (joblib itself is never imported)."""

    def read(self, unpickler: JoblibUnpickler) -> Any:
        """joblib's ``read_array`` (without memory mapping), checking the state it trusts."""
        import numpy as np

        state = self.__dict__
        shape, dtype, order = state.get("shape"), state.get("dtype"), state.get("order", "C")
        if (
            state.get("subclass") is not np.ndarray
            or not isinstance(dtype, np.dtype)
            or not isinstance(shape, tuple)
            or not all(type(n) is int and n >= 0 for n in shape)
            or order not in ("C", "F")
        ):
            raise unpickler.malformed(f"a joblib array wrapper with an unexpected state: {state!r:.200}")
        count = 1
        for n in shape:
            count *= n
        if dtype.hasobject:
            # A nested plain pickle stream (verified with the outer one, as a plain pickle: no
            # wrappers in it), read with the allow-list and left exactly at its end.
            unpickler.expect(True, 0)
            return JoblibUnpickler(
                unpickler.file, unpickler.model_path, unpickler.key, [], nested=True
            ).load()
        if state.get("numpy_array_alignment_bytes") is not None:
            padding = unpickler.file.read(1)
            unpickler.file.read(int.from_bytes(padding, "little"))
        unpickler.expect(False, count * dtype.itemsize)
        data = unpickler.file.read(count * dtype.itemsize)
        if len(data) != count * dtype.itemsize:
            raise unpickler.malformed("a joblib array is truncated")
        array = np.frombuffer(data, dtype=dtype, count=count).copy()
        array = array.reshape(shape[::-1]).transpose() if order == "F" else array.reshape(shape)
        if not dtype.isnative:  # joblib.load's ensure_native_byte_order
            array = array.byteswap().view(dtype.newbyteorder("="))
        return array


class JoblibUnpickler(pickle._Unpickler):  # type: ignore[name-defined,misc]
    """:class:`RestrictedUnpickler` for joblib files, whose arrays are stored as raw bytes right
    after each ``NumpyArrayWrapper`` (the verifier reads them the same way). Pure Python, as
    joblib's own unpickler: only used for files that hold such arrays."""

    dispatch = pickle._Unpickler.dispatch.copy()  # type: ignore[attr-defined]

    def __init__(
        self,
        file: Any,
        model_path: str,
        key: str,
        arrays: list[tuple[int, bool, int]],
        nested: bool = False,
    ) -> None:
        super().__init__(file)
        self.file, self.model_path, self.key, self.nested = file, model_path, key, nested
        self._arrays = iter(arrays)

    def expect(self, obj: bool, nbytes: int) -> None:
        """The next array must be where, and as large as, the verifier read it: if the two ever
        read the layout differently, loading stops instead of trusting either."""
        seen = (self.file.tell(), obj, nbytes)
        if next(self._arrays, None) != seen:
            raise self.malformed(f"a joblib array is not where the verifier read it ({seen})")

    def malformed(self, what: str) -> exc.FastPyFuncError:
        return exc.make(
            exc.ModelLoadError,
            f"{self.model_path}: loading {self.key} failed: {what}",
            model_path=self.model_path,
            key=self.key,
        )

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == JOBLIB_WRAPPER and not self.nested:
            return _ArrayWrapper
        return find_allowed(self.model_path, self.key, module, name)

    def persistent_load(self, pid: Any) -> Any:
        raise refuse(self.model_path, self.key, f"{self.key} uses persistent ids")

    def load_build(self) -> None:
        super().load_build()  # type: ignore[misc]
        stack: list[Any] = self.stack  # type: ignore[attr-defined]
        if isinstance(stack[-1], _ArrayWrapper):
            stack[-1] = stack[-1].read(self)

    dispatch[pickle.BUILD[0]] = load_build  # type: ignore[assignment]


@functools.cache
def _allowed_dotted() -> frozenset[str]:
    return frozenset(f"{m}.{n}" for m, n in allowed())


def skops_untrusted(path: str) -> tuple[list[str], list[str]]:
    """(types skops does not trust by default, those of them not on fastpyfunc's allow-list)."""
    import skops.io

    untrusted = skops.io.get_untrusted_types(file=path)
    return untrusted, [t for t in untrusted if t not in _allowed_dotted()]


def load_skops(model_path: str, path: str, trusted_types: list[str] | None, trust: bool) -> Any:
    """skops: with trust, mlflow's behaviour (the MLmodel's trusted types). Without, the model's
    own ``skops_trusted_types`` are ignored: skops' defaults plus the types on fastpyfunc's
    allow-list are trusted, and any other type is refused."""
    import skops.io

    if trust:
        return skops.io.load(path, trusted=trusted_types)
    untrusted, refused = skops_untrusted(path)
    if refused:
        key = os.path.relpath(path, model_path)
        raise refuse(
            model_path,
            key,
            f"{key} (skops) holds types that are neither trusted by skops nor on the allow-list: "
            + ", ".join(refused)
            + (
                " (the MLmodel's skops_trusted_types are not honoured without trust)" if trusted_types else ""
            ),
        )
    return skops.io.load(path, trusted=untrusted)


# -- scan -------------------------------------------------------------------------------------


@dataclasses.dataclass
class FileReport:
    """One serialized file of the model and what the verifier found in it."""

    path: str
    format: str
    verdict: str
    globals: list[_native.PickleGlobal]
    code_objects: list[_native.PickleCode]
    findings: list[_native.PickleFinding]


@dataclasses.dataclass
class ScanReport:
    """What a model contains and whether it loads without trust. Nothing is loaded to build it."""

    model_path: str
    loader_module: str
    formats: list[str]
    files: list[FileReport]
    code_files: list[str]
    reasons: list[str]

    @property
    def safe(self) -> bool:
        """True when ``load_model`` loads it without ``trust_code``."""
        return not self.reasons

    @property
    def verdict(self) -> str:
        return "safe" if self.safe else "needs trust"

    def __repr__(self) -> str:
        lines = [
            f"fastpyfunc scan of {self.model_path}",
            f"  verdict: {self.verdict}",
            f"  loader_module: {self.loader_module}",
            f"  formats: {', '.join(self.formats) or '-'}",
        ]
        for r in self.reasons:
            lines.append(f"  reason: {r}")
        for f in self.files:
            lines.append(f"  file {f.path} ({f.format}): {f.verdict}")
            for g in f.globals:
                flag = "" if g.allowed else "   <- not allow-listed"
                lines.append(f"    global {g.module}.{g.name} at byte {g.offset}{flag}")
            for c in f.code_objects:
                lines.append(f"    {c.kind} {c.name or '?'} at byte {c.offset}: {c.origin}")
        for name in self.code_files:
            lines.append(f"  code file {name}")
        return "\n".join(lines)


def _scan_pickle(model_path: str, path: str, fmt: str) -> FileReport:
    with open(path, "rb") as f:
        report = verify(f.read())
    if report.compression:
        fmt = f"{fmt}+{report.compression}"
    malformed = report.malformed
    return FileReport(
        os.path.relpath(path, model_path),
        fmt,
        report.verdict,
        report.globals,
        report.code_objects,
        report.findings + ([malformed] if malformed else []),
    )


def _scan_model_file(
    model_path: str, path: str, fmt: str, files: list[FileReport], reasons: list[str]
) -> None:
    """Adds a skops or pickle model file's report (and why it needs trust, if it does)."""
    if fmt == "skops":
        _, refused = skops_untrusted(path)
        rel = os.path.relpath(path, model_path)
        findings = [_native.PickleFinding(0, f"type {t} is not trusted") for t in refused]
        files.append(FileReport(rel, "skops", "unsafe" if refused else "safe", [], [], findings))
        if refused:
            reasons.append(f"{rel} (skops) holds types that are not trusted: {', '.join(refused)}")
        return
    fr = _scan_pickle(model_path, path, fmt)
    files.append(fr)
    if fr.verdict != "safe":
        reasons.append(f"{fr.path} ({fr.format}) is {fr.verdict}: {describe_findings(fr.findings)}")


def _code_files(model_path: str, top: str) -> list[str]:
    out = []
    for dirpath, _, filenames in os.walk(top):
        out += [os.path.relpath(os.path.join(dirpath, n), model_path) for n in sorted(filenames)]
        if len(out) > 1000:
            break
    return out


def scan(model_uri: str | os.PathLike[str]) -> ScanReport:
    """Reports what a model contains (formats, every global and code object in its pickles, code
    files) and whether ``load_model`` would load it without ``trust_code``. Runs nothing."""
    from ._uri import resolve

    model_path = resolve(model_uri, None)
    info = _native.load_model_info(model_path)
    plan = info.plan
    pyfunc_conf = info.mlmodel["flavors"]["python_function"]
    reasons: list[str] = []
    try:
        confine_plan(model_path, plan, pyfunc_conf)
    except exc.FastPyFuncError as e:
        reasons.append(str(e))
    flavors = info.mlmodel["flavors"]
    try:
        reasons += [reason for _, reason in code_reasons(model_path, plan, pyfunc_conf, flavors)]
    except exc.FastPyFuncError as e:  # a boosting flavor's file outside the directory, or absent
        reasons.append(str(e))
    route = plan.route
    formats: list[str] = []
    files: list[FileReport] = []
    if isinstance(route, _native.NativeRoute):
        formats.append(route.engine)
    elif isinstance(route, _native.SklearnRoute):
        formats.append(f"sklearn/{route.format}")
        _scan_model_file(model_path, route.model_file, route.format, files, reasons)
    elif route.module in BOOSTING_LOADERS:
        flavor = BOOSTING_LOADERS[route.module]
        try:
            found: BoostingFile | tuple[str, str] = _boosting(
                model_path, route.module, plan.data_path, flavors
            )
        except exc.FastPyFuncError:  # already a reason
            found = ("", "")
        formats.append(f"{flavor}/{found.format}" if isinstance(found, BoostingFile) else route.module)
        if isinstance(found, BoostingFile) and found.format not in BOOSTING_DATA_FORMATS:
            _scan_model_file(model_path, found.path, found.format, files, reasons)
    else:
        formats.append(route.module)
        if route.module == "mlflow.tensorflow":  # Keras custom objects: their globals and code
            for name in _KERAS_PICKLES:
                path = os.path.join(plan.data_path, name)
                if os.path.isfile(path) and _inside(model_path, os.path.realpath(path)):
                    files.append(_scan_pickle(model_path, path, "cloudpickle"))
    if isinstance(pyfunc_conf.get("python_model"), str):
        path = os.path.join(model_path, pyfunc_conf["python_model"])
        if os.path.isfile(path):
            files.append(_scan_pickle(model_path, path, "cloudpickle"))
    code_files: list[str] = []
    if plan.code_path and os.path.isdir(plan.code_path):
        code_files += _code_files(model_path, plan.code_path)
    if isinstance(pyfunc_conf.get("model_code_path"), str):
        code_files.append(os.path.basename(pyfunc_conf["model_code_path"]))
    return ScanReport(model_path, plan.loader_module, formats, files, code_files, reasons)
