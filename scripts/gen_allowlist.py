"""Generates src/safety/allowlist.rs: the exact (module, name) pairs a model pickle may reference.

    python scripts/gen_allowlist.py           # rewrite the file
    python scripts/gen_allowlist.py --check   # exit 1 if the checked-in file differs

Sources, all from the installed libraries:
- every class scikit-learn defines (estimators, transformers, their Cython helpers such as
  ``Tree``, ``KDTree``, the loss classes), outside its tests, datasets, externals and experimental
  modules; scikit-learn functions only from the scoring/kernel modules estimators store;
- numpy's ufuncs and scalar types;
- every global that pickling a corpus of ordinary objects references: the fitted models of
  ``safety_corpus.py``, numpy arrays/dtypes/random states, scipy.sparse matrices and arrays,
  pandas frames, series, indexes, categoricals, timestamps; with pickle protocols 2-5 and
  cloudpickle;
- builtins containers and the callables pickle itself uses (``copyreg``, ``_codecs.encode``);
- when installed, xgboost's and lightgbm's model classes (``BOOSTING``) and every global their
  fitted models reference when pickled (their boosters pickle as model bytes, which are data).

Names only, never module prefixes. Anything that executes, imports, reads or writes files is
refused by ``DENIED`` / ``DENIED_MODULES`` below: the script fails if one slips in.
"""

from __future__ import annotations

import _compat_pickle
import importlib
import inspect
import io
import pickle
import pkgutil
import sys
import warnings
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
OUT = HERE.parent / "src" / "safety" / "allowlist.rs"

BUILTINS = [
    "bool", "bytearray", "bytes", "complex", "dict", "float", "frozenset", "int", "list", "object",
    "range", "set", "slice", "str", "tuple",
]  # fmt: skip
STDLIB = [
    ("copyreg", "_reconstructor"),
    ("copyreg", "__newobj__"),
    ("copyreg", "__newobj_ex__"),
    ("_codecs", "encode"),
    ("collections", "OrderedDict"),
    ("collections", "defaultdict"),
    ("collections", "Counter"),
    ("collections", "deque"),
    ("datetime", "date"),
    ("datetime", "datetime"),
    ("datetime", "time"),
    ("datetime", "timedelta"),
    ("datetime", "timezone"),
    ("decimal", "Decimal"),
]
# scikit-learn functions estimators legitimately store (score functions, metrics, kernels).
SKLEARN_FUNCTION_MODULES = (
    "sklearn.feature_selection._univariate_selection",
    "sklearn.feature_selection._mutual_info",
    "sklearn.metrics.pairwise",
    "sklearn.metrics._regression",
    "sklearn.metrics._classification",
    "sklearn.metrics._ranking",
)
SKIPPED_SKLEARN = (
    "tests", "_testing", "_mocking", "externals", "datasets", "conftest", "_build_utils",
    "__check_build", "_min_dependencies", "_distributor_init", "experimental", "_show_versions",
    "estimator_checks", "_test_common", "_config", "parallel",
)  # fmt: skip
# xgboost's and lightgbm's pickleable model classes (named exactly; their other modules start
# trackers, collectives, callbacks: never allowed by prefix).
BOOSTING = {
    "xgboost": [
        ("xgboost.core", "Booster"),
        ("xgboost.sklearn", "XGBModel"),
        ("xgboost.sklearn", "XGBClassifier"),
        ("xgboost.sklearn", "XGBRegressor"),
        ("xgboost.sklearn", "XGBRanker"),
        ("xgboost.sklearn", "XGBRFClassifier"),
        ("xgboost.sklearn", "XGBRFRegressor"),
    ],
    "lightgbm": [
        ("lightgbm.basic", "Booster"),
        ("lightgbm.sklearn", "LGBMModel"),
        ("lightgbm.sklearn", "LGBMClassifier"),
        ("lightgbm.sklearn", "LGBMRegressor"),
        ("lightgbm.sklearn", "LGBMRanker"),
    ],
}
# Never allowed, whatever the corpus says: these execute code, import, or touch files.
DENIED_MODULES = {
    "os", "posix", "nt", "subprocess", "sys", "importlib", "runpy", "pkgutil", "pickle", "_pickle",
    "marshal", "types", "functools", "operator", "shutil", "socket", "ctypes", "code", "codeop",
    "pty", "webbrowser", "io", "_io", "tempfile", "glob", "pathlib", "joblib", "cloudpickle", "dill",
    "torch", "numpy.lib.format", "numpy.lib._npyio_impl", "numpy.lib.npyio", "asyncio",
}  # fmt: skip
DENIED = (
    {
        ("builtins", n)
        for n in (
            "eval",
            "exec",
            "compile",
            "getattr",
            "setattr",
            "delattr",
            "__import__",
            "open",
            "input",
            "breakpoint",
            "globals",
            "locals",
            "vars",
            "type",
            "super",
            "print",
            "help",
            "memoryview",
            "exit",
            "quit",
            "__build_class__",
        )  # fmt: skip
    }
    | {("numpy", n) for n in ("load", "save", "fromfile", "memmap", "loadtxt", "genfromtxt", "frompyfunc")}
    | {("copyreg", "add_extension"), ("_codecs", "decode"), ("pkgutil", "resolve_name")}
)


def sklearn_names() -> set[tuple[str, str]]:
    import sklearn

    out: set[tuple[str, str]] = set()
    for info in pkgutil.walk_packages(sklearn.__path__, "sklearn."):
        parts = info.name.split(".")
        if any(p in SKIPPED_SKLEARN or p.startswith("test") for p in parts):
            continue
        try:
            mod = importlib.import_module(info.name)
        except ImportError:
            continue
        for attr, obj in vars(mod).items():
            if getattr(obj, "__module__", None) != info.name:
                continue
            if inspect.isclass(obj) and not issubclass(obj, BaseException):
                out.add((info.name, obj.__qualname__))
            elif (
                inspect.isfunction(obj) and info.name in SKLEARN_FUNCTION_MODULES and not attr.startswith("_")
            ):
                out.add((info.name, attr))
    return out


def numpy_names() -> set[tuple[str, str]]:
    import numpy as np

    out = {("numpy", n) for n, v in vars(np).items() if isinstance(v, np.ufunc)}
    for t in set(np.sctypeDict.values()):
        out.add((t.__module__, t.__qualname__))
    return out


class _Recorder(pickle.Unpickler):
    """Loads our own corpus pickles and records every global they reference."""

    seen: set[tuple[str, str]]

    def find_class(self, module: str, name: str) -> Any:
        # Protocol 2 pickles name Python 2 modules; record what Python 3 imports.
        if (module, name) in _compat_pickle.NAME_MAPPING:
            self.seen.add(_compat_pickle.NAME_MAPPING[(module, name)])
        else:
            self.seen.add((_compat_pickle.IMPORT_MAPPING.get(module, module), name))
        return super().find_class(module, name)


def installed(module: str) -> bool:
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


def boosting_names() -> set[tuple[str, str]]:
    """``BOOSTING``'s classes of the installed libraries (each must exist there)."""
    out: set[tuple[str, str]] = set()
    for lib, names in BOOSTING.items():
        if installed(lib):
            for m, n in names:
                getattr(importlib.import_module(m), n)  # fails loudly if a name disappears
                out.add((m, n))
    return out


def boosting_objects() -> list[Any]:
    """Fitted xgboost/lightgbm models (sklearn API and boosters) of the installed libraries."""
    sys.path.insert(0, str(HERE))
    import safety_corpus

    X, y, _ = safety_corpus.numeric_data()
    objs: list[Any] = []
    if installed("xgboost"):
        import xgboost as xgb

        objs += [
            xgb.XGBClassifier(n_estimators=3).fit(X, y),
            xgb.XGBRegressor(n_estimators=3).fit(X, y),
            xgb.XGBRFClassifier(n_estimators=3).fit(X, y),
            xgb.train({}, xgb.DMatrix(X, label=y), 2),
        ]
    if installed("lightgbm"):
        import lightgbm as lgb

        objs += [
            lgb.LGBMClassifier(n_estimators=3, verbose=-1).fit(X, y),
            lgb.LGBMRegressor(n_estimators=3, verbose=-1).fit(X, y),
            lgb.train({"verbose": -1}, lgb.Dataset(X, label=y), 2),
        ]
    return objs


def corpus_objects() -> list[Any]:
    import numpy as np
    import pandas as pd
    import scipy.sparse as sp

    sys.path.insert(0, str(HERE))
    import safety_corpus

    objs: list[Any] = [m for _, m, _, _ in safety_corpus.fitted()]
    X, _, _ = safety_corpus.numeric_data()
    Xm, _ = safety_corpus.mixed_data()
    arr = np.arange(12.0).reshape(3, 4)
    objs += [
        arr, arr.T, arr.astype(np.float32), np.array(["a", "bc"]), np.array([1, "x", None], dtype=object),
        np.array([True]), np.int64(3), np.float32(1.5), np.dtype("f8"), np.dtype([("a", "i4"), ("b", "f8")]),
        np.datetime64("2024-01-01"), np.array(["2024-01-01"], dtype="datetime64[ns]"), np.timedelta64(1, "s"),
        np.random.RandomState(0), np.random.default_rng(0), np.random.Generator(np.random.MT19937(0)),
        np.ma.masked_array([1, 2], mask=[0, 1]), np.complex128(1j), np.float16(1),
        X, Xm, Xm["grade"], X["a"], X.index, pd.Index(["a", "b"]), pd.MultiIndex.from_tuples([(1, "a")]),
        pd.Categorical(["a", "b"]), pd.CategoricalDtype(["a", "b"]), pd.Timestamp("2024-01-01"),
        pd.Timedelta("1D"), pd.date_range("2024-01-01", periods=3), pd.Series([1.0, None], dtype="Float64"),
        pd.Series([1, None], dtype="Int64"), pd.Series(["a", None], dtype="string"), pd.Interval(0, 1),
    ]  # fmt: skip
    for fmt in ("csr", "csc", "coo", "bsr", "dia", "dok", "lil"):
        for make in (sp.random, sp.random_array):
            m = make(
                (4, 5) if make is sp.random_array else 4,
                *(() if make is sp.random_array else (5,)),
                density=0.5,
                format=fmt,
                random_state=0,
            )  # noqa: E501
            objs.append(m)
    return objs


def corpus_names() -> set[tuple[str, str]]:
    import cloudpickle

    seen: set[tuple[str, str]] = set()
    for obj in corpus_objects() + boosting_objects():
        blobs = [pickle.dumps(obj, protocol=p) for p in (2, 3, 4, 5)] + [cloudpickle.dumps(obj)]
        for blob in blobs:
            r = _Recorder(io.BytesIO(blob))
            r.seen = seen
            r.load()
    return seen


def generate() -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        names = sklearn_names() | numpy_names() | boosting_names() | corpus_names()
    names |= {("builtins", n) for n in BUILTINS} | set(STDLIB)
    # numpy 1.x pickles name numpy.core.*, numpy 2 numpy._core.*; both must load.
    for m, n in list(names):
        if m.startswith("numpy._core."):
            names.add(("numpy.core." + m[len("numpy._core.") :], n))
    bad = sorted(
        (m, n)
        for m, n in names
        if (m, n) in DENIED or any(m == d or m.startswith(d + ".") for d in DENIED_MODULES)
    )
    if bad:
        raise SystemExit(f"denied names reached the allow-list: {bad}")
    # The verifier applies _compat_pickle's mapping (protocols < 3); the Python side resolves only
    # listed names. Neither works if a listed name is itself a mapping source.
    clash = sorted(
        (m, n)
        for m, n in names
        if (m, n) in _compat_pickle.NAME_MAPPING or m in _compat_pickle.IMPORT_MAPPING
    )
    if clash:
        raise SystemExit(f"allow-listed names that _compat_pickle remaps: {clash}")
    return render(sorted(names))


def render(names: list[tuple[str, str]]) -> str:
    def q(s: str) -> str:
        return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'

    lines = [
        "// @generated by scripts/gen_allowlist.py from the installed libraries; do not edit.",
        "//! The exact (module, name) pairs a verified pickle may reference, sorted (binary search),",
        "//! and Python's `_compat_pickle` tables (protocols < 3 map Python 2 names).",
        "",
        "#[rustfmt::skip]",
        "pub static ALLOWED: &[(&str, &str)] = &[",
    ]
    lines += [f"    ({q(m)}, {q(n)})," for m, n in names]
    lines += ["];", "", "#[rustfmt::skip]", "pub static NAME_MAPPING: &[(&str, &str, &str, &str)] = &["]
    for (m, n), (m2, n2) in sorted(_compat_pickle.NAME_MAPPING.items()):
        lines.append(f"    ({q(m)}, {q(n)}, {q(m2)}, {q(n2)}),")
    lines += ["];", "", "#[rustfmt::skip]", "pub static IMPORT_MAPPING: &[(&str, &str)] = &["]
    for m, m2 in sorted(_compat_pickle.IMPORT_MAPPING.items()):
        lines.append(f"    ({q(m)}, {q(m2)}),")
    lines += ["];", ""]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    text = generate()
    if "--check" in argv:
        current = OUT.read_text() if OUT.exists() else ""
        if current != text:
            print(f"{OUT} is out of date: run python scripts/gen_allowlist.py", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text)
    print(f"wrote {OUT} ({text.count(chr(10))} lines)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
