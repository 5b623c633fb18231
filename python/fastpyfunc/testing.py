"""Testing helpers for MLflow models: compare predictions, check parity with mlflow, validate.

Modelled on ``polars.testing``::

    from fastpyfunc.testing import assert_matches_mlflow, assert_predictions_equal, validate

    assert_predictions_equal(model.predict(df), expected)          # readable diff on failure
    assert_matches_mlflow("models:/churn/3", df)                   # same answers as mlflow.pyfunc
    report = validate("models:/churn/3", against_mlflow=True)      # every standard check
    assert report.ok, report

Tolerance: floating-point values are equal when ``|left - right| <= atol + rtol * |right|``
(numpy's ``isclose``) with ``rtol=1e-5`` and ``atol=1e-8`` by default, the defaults of
``numpy.isclose`` and ``polars.testing``. That absorbs the last-bits differences a different
thread count or kernel choice gives for float32 models (about 1e-7 relative) while any real
difference in a model's answer is far larger. NaN equals NaN in the same place. Integers, booleans,
strings, datetimes, column names, index and (with ``check_dtype``) dtypes must be identical.
Pass ``rtol=0, atol=0`` for exact comparison.
"""

from __future__ import annotations

import copy
import functools
import math
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from . import exceptions as exc
from ._dependencies import loaded
from ._dependencies import numpy as np

__all__ = [
    "CheckResult",
    "ValidationReport",
    "assert_matches_mlflow",
    "assert_predictions_equal",
    "assert_signature_enforced",
    "validate",
]

RTOL = 1e-5
ATOL = 1e-8
_MAX_SHOWN = 10


# -- assert_predictions_equal -------------------------------------------------------------------


def assert_predictions_equal(
    left: Any,
    right: Any,
    *,
    rtol: float = RTOL,
    atol: float = ATOL,
    check_dtype: bool = True,
) -> None:
    """Asserts that two model outputs are equal: same type, shape, columns, dtypes and values.

    Works for pandas DataFrame and Series, numpy arrays, dicts (of any of these), lists and
    tuples, pyarrow Tables/RecordBatches/Arrays and scalars, nested in any way. Floats are
    compared with ``rtol``/``atol`` (see the module docstring); everything else exactly.

    Raises:
        AssertionError: listing every difference found (path, what differs, and for values the
            first differing positions with both values side by side).
    """
    problems: list[str] = []
    _compare(left, right, "result", _Options(rtol, atol, check_dtype), problems)
    if problems:
        raise AssertionError("predictions differ (left != right):\n" + "\n".join(problems))


@dataclass(frozen=True)
class _Options:
    rtol: float
    atol: float
    check_dtype: bool


def _compare(left: Any, right: Any, path: str, opts: _Options, out: list[str]) -> None:
    pd = loaded("pandas")
    np = loaded("numpy")
    pa = loaded("pyarrow")
    if type(left) is not type(right) and not (
        _is_number(left) and _is_number(right) and not opts.check_dtype
    ):
        out.append(f"  {path}: type {_tname(left)} != {_tname(right)}")
        return
    if pd is not None and isinstance(right, pd.DataFrame):
        _compare_frames(left, right, path, opts, out)
    elif pd is not None and isinstance(right, pd.Series):
        if left.name != right.name:
            out.append(f"  {path}: name {left.name!r} != {right.name!r}")
        _compare_index(left.index, right.index, path, out)
        _compare_arrays(left.to_numpy(), right.to_numpy(), path, opts, out, left.dtype, right.dtype)
    elif np is not None and isinstance(right, np.ndarray):
        _compare_arrays(left, right, path, opts, out, left.dtype, right.dtype)
    elif pa is not None and isinstance(right, (pa.Table, pa.RecordBatch)):
        if left.schema.names != right.schema.names:
            out.append(f"  {path}: columns {left.schema.names} != {right.schema.names}")
            return
        for name in right.schema.names:
            lcol, rcol = left.column(name), right.column(name)
            if opts.check_dtype and lcol.type != rcol.type:
                out.append(f"  {path}[{name!r}]: dtype {lcol.type} != {rcol.type}")
            _compare(lcol.to_pylist(), rcol.to_pylist(), f"{path}[{name!r}]", opts, out)
    elif pa is not None and isinstance(right, (pa.Array, pa.ChunkedArray)):
        if opts.check_dtype and left.type != right.type:
            out.append(f"  {path}: dtype {left.type} != {right.type}")
        _compare(left.to_pylist(), right.to_pylist(), path, opts, out)
    elif isinstance(right, dict):
        if list(left) != list(right):
            out.append(f"  {path}: keys {list(left)} != {list(right)}")
        for k in right:
            if k in left:
                _compare(left[k], right[k], f"{path}[{k!r}]", opts, out)
    elif isinstance(right, (list, tuple)):
        if len(left) != len(right):
            out.append(f"  {path}: length {len(left)} != {len(right)}")
        for i, (a, b) in enumerate(zip(left, right, strict=False)):
            _compare(a, b, f"{path}[{i}]", opts, out)
    elif not _scalars_equal(left, right, opts):
        out.append(f"  {path}: {left!r} != {right!r}")


def _tname(x: Any) -> str:
    t = type(x)
    return t.__name__ if t.__module__ == "builtins" else f"{t.__module__.split('.')[0]}.{t.__name__}"


def _is_number(x: Any) -> bool:
    np = loaded("numpy")
    return isinstance(x, (int, float)) or (np is not None and isinstance(x, np.number))


def _scalars_equal(a: Any, b: Any, opts: _Options) -> bool:
    if _is_number(a) and _is_number(b) and not isinstance(a, bool) and not isinstance(b, bool):
        fa, fb = float(a), float(b)
        if math.isnan(fa) or math.isnan(fb):
            return math.isnan(fa) and math.isnan(fb)
        if isinstance(a, int) and isinstance(b, int):
            return a == b
        return abs(fa - fb) <= opts.atol + opts.rtol * abs(fb)
    try:
        equal = a == b
        if isinstance(equal, bool):
            return equal or (a != a and b != b)  # NaN-like values equal themselves here
        return bool(equal.all()) if hasattr(equal, "all") else bool(equal)
    except Exception:
        return a is b


def _compare_index(left: Any, right: Any, path: str, out: list[str]) -> None:
    if not left.equals(right) or type(left) is not type(right):
        out.append(f"  {path}: index {_short(list(left))} != {_short(list(right))}")


def _short(items: list[Any], n: int = 8) -> str:
    return repr(items) if len(items) <= n else repr(items[:n])[:-1] + f", ... ({len(items)} in all)]"


def _compare_frames(left: Any, right: Any, path: str, opts: _Options, out: list[str]) -> None:
    lcols, rcols = list(left.columns), list(right.columns)
    if lcols != rcols:
        missing = [c for c in rcols if c not in lcols]
        extra = [c for c in lcols if c not in rcols]
        detail = (
            f" (missing on the left: {missing}; extra on the left: {extra})"
            if missing or extra
            else " (order)"
        )
        out.append(f"  {path}: columns {lcols} != {rcols}{detail}")
    if left.shape[0] != right.shape[0]:
        out.append(f"  {path}: {left.shape[0]} rows != {right.shape[0]} rows")
        return
    _compare_index(left.index, right.index, path, out)
    for col in rcols:
        if col in lcols:
            lc, rc = left[col], right[col]
            _compare_arrays(lc.to_numpy(), rc.to_numpy(), f"{path}[{col!r}]", opts, out, lc.dtype, rc.dtype)


def _compare_arrays(
    left: Any, right: Any, path: str, opts: _Options, out: list[str], ldtype: Any, rdtype: Any
) -> None:
    if opts.check_dtype and ldtype != rdtype:
        out.append(f"  {path}: dtype {ldtype} != {rdtype}")
    if left.shape != right.shape:
        out.append(f"  {path}: shape {left.shape} != {right.shape}")
        return
    if left.dtype.kind in "fc" or right.dtype.kind in "fc":
        if left.dtype.kind in "biufc" and right.dtype.kind in "biufc":
            same = np.isclose(left, right, rtol=opts.rtol, atol=opts.atol, equal_nan=True)
            _report_values(left, right, same, path, out)
            return
    if left.dtype.kind in "biuMmSU" and right.dtype.kind == left.dtype.kind:
        same = left == right
        if left.dtype.kind in "Mm":
            same = same | (np.isnat(left) & np.isnat(right))
        _report_values(left, right, np.asarray(same), path, out)
        return
    # object cells (strings, nested arrays, dicts...): one by one
    flat_l, flat_r = left.ravel(), right.ravel()
    same = np.ones(flat_r.shape, dtype=bool)
    nested: list[str] = []
    for i, (a, b) in enumerate(zip(flat_l, flat_r, strict=True)):
        cell: list[str] = []
        _compare(a, b, f"{path}{_pos(right.shape, i)}", opts, cell)
        if cell:
            same[i] = False
            nested.extend(cell)
    if nested:
        out.append(f"  {path}: {int((~same).sum())} of {same.size} values differ")
        out.extend("  " + line for line in nested[:_MAX_SHOWN])
        if len(nested) > _MAX_SHOWN:
            out.append(f"    ... and {len(nested) - _MAX_SHOWN} more")


def _plain(x: Any) -> Any:
    """numpy scalars shown as Python values (``2.0``, not ``np.float64(2.0)``)."""
    item = getattr(x, "item", None)
    return item() if callable(item) and getattr(x, "ndim", None) == 0 else x


def _pos(shape: tuple[int, ...], flat: int) -> str:
    return "[" + ", ".join(str(int(i)) for i in np.unravel_index(flat, shape)) + "]" if shape else ""


def _report_values(left: Any, right: Any, same: Any, path: str, out: list[str]) -> None:
    bad = np.argwhere(~np.asarray(same).reshape(right.shape)) if right.ndim else np.argwhere(~same.reshape(1))
    if not len(bad):
        return
    lines = [f"  {path}: {len(bad)} of {right.size} values differ"]
    for idx in bad[:_MAX_SHOWN]:
        key = tuple(int(i) for i in idx)
        a = left[key] if right.ndim else left.item()
        b = right[key] if right.ndim else right.item()
        diff = ""
        if left.dtype.kind in "biufc" and right.dtype.kind in "biufc" and left.dtype.kind != "b":
            diff = f"   (abs diff {abs(complex(a) - complex(b)):.3g})"
        where = "[" + ", ".join(map(str, key)) + "]"
        lines.append(f"      at {where}: left={_plain(a)!r} right={_plain(b)!r}{diff}")
    if len(bad) > _MAX_SHOWN:
        lines.append(f"      ... and {len(bad) - _MAX_SHOWN} more")
    out.extend(lines)


# -- model-level assertions ------------------------------------------------------------------


def _copy(data: Any) -> Any:
    """A copy each side predicts on, so neither sees the other's in-place edits."""
    if hasattr(data, "copy"):
        try:
            return data.copy()
        except TypeError:
            pass
    return copy.deepcopy(data)


def _load(model_uri: Any) -> Any:
    from . import PyFuncModel, load_model

    return model_uri if isinstance(model_uri, PyFuncModel) else load_model(model_uri)


def _model_dir(model: Any) -> str:
    return str(model._model_path)


def _mlflow_model(path: str) -> Any:
    try:
        import mlflow.pyfunc
    except ImportError as e:
        raise exc.make(
            exc.EngineUnavailableError,
            f"{path}: comparing with mlflow needs mlflow installed: pip install mlflow",
            model_path=path,
            key="mlflow",
        ) from e
    return mlflow.pyfunc.load_model(path)


def assert_matches_mlflow(
    model_uri: Any,
    data: Any,
    params: dict[str, Any] | None = None,
    *,
    rtol: float = RTOL,
    atol: float = ATOL,
    check_dtype: bool = True,
    mlflow_model: Any = None,
) -> Any:
    """Asserts that fastpyfunc and ``mlflow.pyfunc`` give the same answer for ``data``.

    ``model_uri`` is a URI/path or an already loaded :class:`fastpyfunc.PyFuncModel`;
    ``mlflow_model`` an already loaded mlflow model (loaded from the same directory when omitted).
    Each side predicts on its own copy of ``data``. When mlflow refuses the input, fastpyfunc
    must refuse it too (and vice versa). Returns fastpyfunc's prediction.

    Raises:
        AssertionError: the answers differ (with a diff, see :func:`assert_predictions_equal`).
        fastpyfunc.exceptions.EngineUnavailableError: mlflow is not installed.
    """
    ours_model = _load(model_uri)
    theirs_model = mlflow_model if mlflow_model is not None else _mlflow_model(_model_dir(ours_model))
    theirs, theirs_err = _attempt(lambda: theirs_model.predict(_copy(data), params=params))
    ours, ours_err = _attempt(lambda: ours_model.predict(_copy(data), params=params))
    where = _model_dir(ours_model)
    if theirs_err is not None and ours_err is None:
        raise AssertionError(
            f"{where}: mlflow refused the input ({type(theirs_err).__name__}: {_first_line(theirs_err)}) "
            "but fastpyfunc predicted"
        )
    if ours_err is not None and theirs_err is None:
        raise AssertionError(
            f"{where}: fastpyfunc raised {type(ours_err).__name__}: {_first_line(ours_err)} "
            "but mlflow predicted"
        ) from ours_err
    if ours_err is not None:
        return None  # both refused
    try:
        assert_predictions_equal(ours, theirs, rtol=rtol, atol=atol, check_dtype=check_dtype)
    except AssertionError as e:
        raise AssertionError(f"{where}: fastpyfunc (left) and mlflow (right) disagree\n{e}") from None
    return ours


def _attempt(fn: Callable[[], Any]) -> tuple[Any, BaseException | None]:
    try:
        return fn(), None
    except Exception as e:
        return None, e


def _first_line(e: BaseException) -> str:
    lines = str(e).strip().splitlines()
    return lines[0] if lines else ""


def assert_signature_enforced(model_uri: Any, bad_input: Any, params: dict[str, Any] | None = None) -> Any:
    """Asserts that the model has a signature and that ``predict`` refuses ``bad_input``.

    Returns the :class:`fastpyfunc.exceptions.SchemaEnforcementError` (or ``InvalidInputError``)
    raised, so a test can check its message.

    Raises:
        AssertionError: the model has no signature, or ``predict`` accepted ``bad_input``, or it
            failed with an error other than a signature refusal.
    """
    model = _load(model_uri)
    where = _model_dir(model)
    if _meta(model).signature is None:
        raise AssertionError(f"{where}: the model has no signature, so no input is checked before predict")
    try:
        result = model.predict(bad_input, params=params)
    except (exc.SchemaEnforcementError, exc.InvalidInputError) as e:
        return e
    except Exception as e:
        raise AssertionError(
            f"{where}: predict failed with {type(e).__name__} ({_first_line(e)}), not with a signature refusal"
        ) from e
    raise AssertionError(
        f"{where}: the signature did not refuse the input; predict returned {_tname(result)} {_preview(result)}"
    )


def _preview(x: Any, n: int = 120) -> str:
    text = " ".join(repr(x).split())
    return text if len(text) <= n else text[: n - 3] + "..."


# -- validate ------------------------------------------------------------------------------------


@dataclass
class CheckResult:
    """One check of a :class:`ValidationReport`.

    Attributes:
        name: what was checked (``load``, ``signature``, ``input_example``, ...).
        status: ``"pass"``, ``"fail"`` or ``"skip"`` (not applicable or not possible, with why).
        message: what was found, or why it failed.
        seconds: wall time the check took.
    """

    name: str
    status: str
    message: str = ""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status != "fail"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "message": self.message, "seconds": self.seconds}


@dataclass
class ValidationReport:
    """What :func:`validate` found: one :class:`CheckResult` per check, in the order run.

    ``ok`` is true when no check failed (skipped checks do not fail a model). ``str(report)``
    is a readable table; ``to_dict()`` is JSON-ready.
    """

    model_uri: str
    model_path: str | None = None
    engine: str | None = None
    checks: list[CheckResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def failures(self) -> list[CheckResult]:
        return [c for c in self.checks if c.status == "fail"]

    def __getitem__(self, name: str) -> CheckResult:
        for c in self.checks:
            if c.name == name:
                return c
        raise KeyError(name)

    def __iter__(self) -> Iterator[CheckResult]:
        return iter(self.checks)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_uri": self.model_uri,
            "model_path": self.model_path,
            "engine": self.engine,
            "ok": self.ok,
            "checks": [c.to_dict() for c in self.checks],
        }

    def __str__(self) -> str:
        width = max([len(c.name) for c in self.checks] + [5])
        where = f" ({self.model_path})" if self.model_path and self.model_path != self.model_uri else ""
        lines = [f"validation of {self.model_uri}{where}"]
        for c in self.checks:
            mark = {"pass": "PASS", "fail": "FAIL", "skip": "SKIP"}[c.status]
            msg_lines = c.message.splitlines() or [""]
            lines.append(f"  {mark}  {c.name.ljust(width)}  {c.seconds * 1000:8.1f} ms  {msg_lines[0]}")
            lines.extend(f"  {'':4}  {'':{width}}  {'':11}  {line}" for line in msg_lines[1:])
        failed = len(self.failures)
        lines.append("result: " + ("OK" if failed == 0 else f"FAILED ({failed} check{'s' * (failed != 1)})"))
        return "\n".join(lines)

    def __repr__(self) -> str:
        counts = {s: sum(c.status == s for c in self.checks) for s in ("pass", "fail", "skip")}
        return (
            f"ValidationReport(model_uri={self.model_uri!r}, ok={self.ok}, passed={counts['pass']}, "
            f"failed={counts['fail']}, skipped={counts['skip']})"
        )


class _Runner:
    def __init__(self, report: ValidationReport) -> None:
        self.report = report

    def run(self, name: str, fn: Callable[[], tuple[str, str]]) -> CheckResult:
        start = time.perf_counter()
        try:
            status, message = fn()
        except AssertionError as e:
            status, message = "fail", str(e)
        except Exception as e:
            status, message = "fail", f"{type(e).__name__}: {str(e).strip()}"
        result = CheckResult(name, status, message, time.perf_counter() - start)
        self.report.checks.append(result)
        return result

    def skip(self, name: str, why: str) -> None:
        self.report.checks.append(CheckResult(name, "skip", why))


def validate(
    model_uri: Any,
    *,
    against_mlflow: bool = False,
    input: Any = None,
    params: dict[str, Any] | None = None,
    require_signature: bool = True,
    scan: bool = True,
    rtol: float = RTOL,
    atol: float = ATOL,
) -> ValidationReport:
    """Runs the standard checks on a model and returns a :class:`ValidationReport`.

    Checks, in order (a check that cannot run is reported as ``skip`` with the reason):

    - ``scan``: ``fastpyfunc.scan`` finds nothing unsafe (skipped where that function is not
      available in this version, or with ``scan=False``);
    - ``load``: the model loads (later checks are skipped when it does not);
    - ``mlmodel``: the MLmodel has a ``python_function`` flavor with a loader, and the files it
      names exist;
    - ``signature``: the model has a signature with inputs (fails without one unless
      ``require_signature=False``), inputs all named or all unnamed, outputs declared;
    - ``input_example`` / ``input``: the saved input example (with its saved params) and the
      given ``input`` predict, and the result fits the output schema;
    - ``parity:input_example`` / ``parity:input`` (``against_mlflow=True``): ``mlflow.pyfunc``
      gives the same answer within ``rtol``/``atol`` (see the module docstring).

    Never raises for a bad model: every problem is a failed check.
    """
    uri = os.fspath(model_uri) if isinstance(model_uri, (str, os.PathLike)) else str(model_uri)
    report = ValidationReport(model_uri=uri)
    runner = _Runner(report)
    scanner = getattr(sys.modules.get("fastpyfunc"), "scan", None)
    if not scan:
        runner.skip("scan", "disabled")
    elif scanner is None:
        runner.skip("scan", "fastpyfunc.scan is not available in this version")
    else:
        runner.run("scan", lambda: _scan_check(scanner, model_uri))
    holder: dict[str, Any] = {}

    def load() -> tuple[str, str]:
        model = _load(model_uri)
        holder["model"] = model
        report.model_path = _model_dir(model)
        report.engine = model.engine
        reason = getattr(model, "route_reason", None)
        return "pass", f"engine: {model.engine}" + (f" ({reason})" if reason else "")

    if runner.run("load", load).status != "pass":
        for name in ("mlmodel", "signature", "input_example"):
            runner.skip(name, "the model did not load")
        return report
    model = holder["model"]
    runner.run("mlmodel", lambda: _mlmodel_check(model))
    runner.run("signature", lambda: _signature_check(model, require_signature))
    cases: list[tuple[str, Any, dict[str, Any] | None]] = []
    example = model.input_example
    if example is None:
        runner.skip("input_example", "the model has no saved input example")
    else:
        example_params = _meta(model).load_input_example_params(_model_dir(model))
        cases.append(("input_example", example, example_params))
    if input is not None:
        cases.append(("input", input, params))
    mlflow_model: Any = None
    for name, data, case_params in cases:
        runner.run(name, functools.partial(_predict_check, model, data, case_params))
    if against_mlflow and cases:

        def load_mlflow() -> tuple[str, str]:
            nonlocal mlflow_model
            mlflow_model = _mlflow_model(_model_dir(model))
            return "pass", "mlflow.pyfunc.load_model succeeded"

        if runner.run("mlflow_load", load_mlflow).status == "pass":
            for name, data, case_params in cases:
                check = functools.partial(_parity_check, model, mlflow_model, data, case_params, rtol, atol)
                runner.run(f"parity:{name}", check)
    elif against_mlflow:
        runner.skip("parity", "no input example and no input given: nothing to compare")
    return report


def _scan_check(scanner: Callable[[Any], Any], model_uri: Any) -> tuple[str, str]:
    try:
        result = scanner(model_uri)
    except exc.UnsafeModelError as e:
        return "fail", str(e)
    verdict = scan_verdict(result)
    summary = str(result).strip()
    if verdict is False:
        from ._safety import trusted

        if trusted(None):  # the user opted in to code-bearing models (FASTPYFUNC_TRUST_CODE)
            return "pass", "carries code, loaded because FASTPYFUNC_TRUST_CODE is set: " + " ".join(
                summary.split()
            )
    if verdict is False:
        return "fail", summary
    return "pass", summary.splitlines()[0] if summary else "nothing unsafe found"


def scan_verdict(result: Any) -> bool | None:
    """True when a ``fastpyfunc.scan`` result says the model is safe, False when unsafe, None if
    the result does not say (its shape is read leniently: ``ok``/``safe`` attributes or a
    ``verdict`` naming safe/unsafe)."""
    for attr in ("ok", "safe", "is_safe"):
        value = getattr(result, attr, None)
        if isinstance(value, bool):
            return value
    verdict = getattr(result, "verdict", None)
    if verdict is not None:
        text = str(getattr(verdict, "name", verdict)).lower()
        if text in ("safe", "ok", "pass", "allowed", "trusted"):
            return True
        if text in ("unsafe", "fail", "refused", "denied", "blocked", "dangerous"):
            return False
    return None


def _meta(model: Any) -> Any:
    """fastpyfunc's own metadata (``model.metadata`` is mlflow's Model once mlflow is imported)."""
    return getattr(model, "_model_meta", None) or model.metadata


def _mlmodel_check(model: Any) -> tuple[str, str]:
    meta = _meta(model)
    root = _model_dir(model)
    pf = meta.flavors.get("python_function") or {}
    problems = []
    if not pf.get("loader_module") and "python_model" not in pf:
        problems.append("flavors.python_function names no loader_module")
    for key in ("data", "model_path", "python_model"):
        rel = pf.get(key)
        if isinstance(rel, str) and not os.path.exists(os.path.join(root, rel)):
            problems.append(f"flavors.python_function.{key} names '{rel}', which does not exist")
    info = meta.saved_input_example_info or {}
    example = info.get("artifact_path")
    if example and not os.path.exists(os.path.join(root, example)):
        problems.append(f"saved_input_example_info.artifact_path names '{example}', which does not exist")
    if problems:
        return "fail", "; ".join(problems)
    flavors = ", ".join(meta.flavors)
    saved_by = f", saved by mlflow {meta.mlflow_version}" if meta.mlflow_version else ""
    return "pass", f"flavors: {flavors}{saved_by}"


def _signature_check(model: Any, require: bool) -> tuple[str, str]:
    sig = _meta(model).signature
    if sig is None or sig.inputs is None:
        message = "the model has no input signature: inputs are not checked before predict"
        return ("fail" if require else "pass"), message
    names = [s.name for s in sig.inputs]
    if any(n is None for n in names) and any(n is not None for n in names):
        return "fail", f"inputs mix named and unnamed entries: {sig.inputs!r}"
    parts = [f"inputs {sig.inputs!r}"]
    parts.append(f"outputs {sig.outputs!r}" if sig.outputs is not None else "no output schema")
    if sig.params is not None:
        parts.append(f"params {sig.params!r}")
    return "pass", "; ".join(parts)


def _predict_check(model: Any, data: Any, params: dict[str, Any] | None) -> tuple[str, str]:
    result = model.predict(_copy(data), params=params)
    sig = _meta(model).signature
    outputs = sig.outputs if sig is not None else None
    problem = output_schema_problem(result, outputs)
    if problem:
        return "fail", f"predicted {_describe(result)}, which does not fit the output schema: {problem}"
    return "pass", f"predicted {_describe(result)}" + ("" if outputs is not None else " (no output schema)")


def _describe(x: Any) -> str:
    shape = getattr(x, "shape", None)
    dtype = getattr(x, "dtype", None)
    parts = [_tname(x)]
    if shape is not None:
        parts.append(f"shape {tuple(shape)}")
    if dtype is not None:
        parts.append(f"dtype {dtype}")
    elif isinstance(x, dict):
        parts.append(f"keys {list(x)}")
    elif isinstance(x, list):
        parts.append(f"length {len(x)}")
    return " ".join(parts)


_COLSPEC_KINDS = {
    "boolean": "b",
    "integer": "i",
    "long": "i",
    "float": "f",
    "double": "f",
    "string": "OUT",
    "binary": "OS",
    "datetime": "M",
}


def output_schema_problem(result: Any, outputs: Any) -> str | None:
    """Why ``result`` does not fit the output ``Schema`` (None when it fits or nothing says).

    Checked: tensor dtypes and shapes (-1 matches any size), named output columns present, and
    scalar column types of the same kind (int/float/bool/str/datetime)."""
    if outputs is None or not len(outputs):
        return None
    pd = loaded("pandas")
    np = loaded("numpy")
    if outputs.is_tensor_spec():
        if np is not None and isinstance(result, np.ndarray) and len(outputs) == 1:
            return _tensor_problem(result, outputs.inputs[0])
        if isinstance(result, dict):
            for spec in outputs.inputs:
                if spec.name is not None and spec.name in result and np is not None:
                    problem = _tensor_problem(np.asarray(result[spec.name]), spec)
                    if problem:
                        return f"{spec.name!r}: {problem}"
        return None
    named = outputs.has_input_names()
    if pd is not None and isinstance(result, pd.DataFrame) and named:
        missing = [n for n in outputs.required_input_names() if n not in result.columns]
        if missing:
            return f"columns {missing} missing (got {list(result.columns)})"
        for spec in outputs.inputs:
            if spec.name in result.columns and isinstance(spec.type, str):
                problem = _kind_problem(result[spec.name].dtype, spec.type)
                if problem:
                    return f"column {spec.name!r}: {problem}"
        return None
    if not named and len(outputs) == 1 and isinstance(outputs.inputs[0].type, str):
        dtype = getattr(result, "dtype", None)
        arrays = tuple(t for t in (getattr(np, "ndarray", None), getattr(pd, "Series", None)) if t)
        if dtype is not None and isinstance(result, arrays):
            return _kind_problem(dtype, outputs.inputs[0].type)
    return None


def _tensor_problem(arr: Any, spec: Any) -> str | None:
    if arr.dtype != np.dtype(spec.type):
        return f"dtype {arr.dtype} != {spec.type}"
    if len(arr.shape) != len(spec.shape) or any(
        want != -1 and want != got for want, got in zip(spec.shape, arr.shape, strict=True)
    ):
        return f"shape {tuple(arr.shape)} does not match {tuple(spec.shape)}"
    return None


def _kind_problem(dtype: Any, type_name: str) -> str | None:
    kinds = _COLSPEC_KINDS.get(type_name)
    kind = getattr(dtype, "kind", "O")
    if kinds is None or kind in kinds or (kinds == "i" and kind == "u"):
        return None
    return f"dtype {dtype} is not {type_name}"


def _parity_check(
    model: Any, mlflow_model: Any, data: Any, params: dict[str, Any] | None, rtol: float, atol: float
) -> tuple[str, str]:
    assert_matches_mlflow(model, data, params, rtol=rtol, atol=atol, mlflow_model=mlflow_model)
    return "pass", f"same answer as mlflow.pyfunc (rtol={rtol:g}, atol={atol:g})"
