"""The ``fastpyfunc`` command line: ``info``, ``predict``, ``validate`` and ``scan``.

Exit codes (the same for every command):

====  ==========================================================================
0     success (``validate``: every check passed; ``scan``: nothing unsafe found)
1     ``validate`` found a failing check, or ``scan`` found something unsafe
2     usage error or bad input (unknown option, unreadable or malformed input
      file, input the model's signature refuses)
3     the model could not be resolved, loaded or run
4     the command is not available in this installation (``scan`` before safe
      loading exists)
====  ==========================================================================

Errors are one line on stderr (``error: ...``), never a traceback. Progress is shown on stderr
only when it is a terminal.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import click

from . import exceptions as exc
from ._dependencies import loaded
from ._native import __version__

OK, FAILED, BAD_INPUT, MODEL_ERROR, UNAVAILABLE = 0, 1, 2, 3, 4
_INPUT_ERRORS = (exc.InvalidInputError, exc.SchemaEnforcementError)


class _Exit(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _fail(code: int, message: str) -> NoReturn:
    raise _Exit(code, message)


def _one_line(text: str, limit: int = 2000) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _code_for(e: BaseException) -> int:
    return BAD_INPUT if isinstance(e, _INPUT_ERRORS) else MODEL_ERROR


@contextmanager
def _errors() -> Iterator[None]:
    """Every failure becomes one ``error:`` line and an exit code (see the module docstring)."""
    try:
        yield
    except _Exit as e:
        click.echo(f"error: {_one_line(e.message)}", err=True)
        sys.exit(e.code)
    except exc.FastPyFuncError as e:
        click.echo(f"error: {_one_line(str(e))}", err=True)
        sys.exit(_code_for(e))
    except KeyboardInterrupt:
        click.echo("error: interrupted", err=True)
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(OK)  # the reader went away (| head): not our error
    except Exception as e:  # a model's own code (or mlflow's) raising anything else
        mlflow_exc = loaded("mlflow.exceptions")
        base = getattr(mlflow_exc, "MlflowException", None)
        code = BAD_INPUT if base is not None and isinstance(e, base) and _is_bad_request(e) else MODEL_ERROR
        click.echo(f"error: {type(e).__name__}: {_one_line(str(e))}", err=True)
        sys.exit(code)


def _is_bad_request(e: Any) -> bool:
    return getattr(e, "error_code", "") in ("BAD_REQUEST", "INVALID_PARAMETER_VALUE")


class _Progress:
    """A status line with elapsed seconds on a terminal's stderr; nothing when piped."""

    def __init__(self, enabled: bool | None = None) -> None:
        self.enabled = sys.stderr.isatty() if enabled is None else enabled

    @contextmanager
    def step(self, message: str) -> Iterator[None]:
        if not self.enabled:
            yield
            return
        done = threading.Event()
        start = time.perf_counter()

        def tick() -> None:
            while not done.wait(0.2):
                sys.stderr.write(f"\r\033[K{message} {time.perf_counter() - start:.1f}s")
                sys.stderr.flush()

        sys.stderr.write(f"{message}...")
        sys.stderr.flush()
        thread = threading.Thread(target=tick, daemon=True)
        thread.start()
        try:
            yield
        finally:
            done.set()
            thread.join()
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()


def _quiet_warnings() -> None:
    """Warnings as one line each (no source line), so output stays readable."""

    def show(
        message: Any, category: Any, filename: str, lineno: int, file: Any = None, line: Any = None
    ) -> None:
        click.echo(f"warning: {_one_line(str(message), 500)}", err=True)

    warnings.showwarning = show


def _local_path(uri: str, progress: _Progress) -> str:
    from . import _native
    from ._uri import resolve

    kind, _ = _native.classify_uri(uri)
    if kind == "local":
        return resolve(uri, None)
    with progress.step(f"downloading {uri}"):
        return resolve(uri, None)


def _load(uri: str, progress: _Progress) -> Any:
    from . import load_model

    path = _local_path(uri, progress)
    with progress.step("loading model"), _naming(path, exc.ModelLoadError, "loading the model"):
        return load_model(path)


@contextmanager
def _naming(path: str, cls: type[exc.FastPyFuncError], doing: str) -> Iterator[None]:
    """Errors that are not ours (a model's own code, a framework) become ``cls`` naming the model."""
    try:
        yield
    except exc.FastPyFuncError:
        raise
    except Exception as e:
        mlflow_exc = loaded("mlflow.exceptions")
        base = getattr(mlflow_exc, "MlflowException", None)
        if base is not None and isinstance(e, base) and _is_bad_request(e):
            cls = exc.InvalidInputError
        raise exc.make(
            cls, f"{path}: {doing} failed: {type(e).__name__}: {e}", model_path=path, key=type(e).__name__
        ) from e


def _params_option(value: str | None) -> dict[str, Any] | None:
    if value is None:
        return None
    text = value
    if not value.lstrip().startswith("{") and os.path.isfile(value):
        with open(value) as f:
            text = f.read()
    try:
        params = json.loads(text)
    except json.JSONDecodeError as e:
        _fail(BAD_INPUT, f"--params: not a JSON object or a file holding one ({e})")
    if not isinstance(params, dict):
        _fail(BAD_INPUT, f"--params: expected a JSON object, got {type(params).__name__}")
    return params


def _emit_json(payload: Any) -> None:
    click.echo(json.dumps(payload, indent=2, default=str))


CONTENT_TYPE_HELP = (
    "Input format: json (mlflow's dataframe_split / dataframe_records / instances / inputs), csv, "
    "parquet or arrow (Arrow IPC file or stream). Default: from the file extension, json for stdin."
)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(version=__version__, prog_name="fastpyfunc", message="%(prog)s %(version)s")
@click.option(
    "--trust-code",
    is_flag=True,
    help="Load models that carry code (custom PythonModels, pickles off the allow-list, code/); "
    "the same as FASTPYFUNC_TRUST_CODE=1.",
)
def main(trust_code: bool) -> None:
    """Inspect, run and validate MLflow models with fastpyfunc.

    MODEL_URI is a local model directory or any URI mlflow resolves (runs:/, models:/, s3://...,
    which need mlflow installed). Models that carry code load only with --trust-code (or
    FASTPYFUNC_TRUST_CODE=1).

    \b
    Exit codes:
      0  success
      1  validation failed (validate) or the model is unsafe (scan)
      2  usage error or bad input
      3  the model could not be resolved, loaded or run
      4  the command is not available in this installation
    """
    _quiet_warnings()
    if trust_code:  # read by load_model wherever the command loads a model
        os.environ["FASTPYFUNC_TRUST_CODE"] = "1"


# -- info ---------------------------------------------------------------------------------------


@main.command()
@click.argument("model_uri")
@click.option("--json", "as_json", is_flag=True, help="Print the information as JSON.")
def info(model_uri: str, as_json: bool) -> None:
    """Show what a model is: flavors, signature, route and engine, files, input example and
    the packages it needs. Reads the model's files only; nothing is loaded or run."""
    with _errors():
        data = _model_info(_local_path(model_uri, _Progress()), model_uri)
        if as_json:
            _emit_json(data)
        else:
            click.echo(_render_info(data))


def _model_info(path: str, uri: str) -> dict[str, Any]:
    from . import _native

    info = _native.load_model_info(path)
    mlmodel, plan = info.mlmodel, info.plan
    flavors = mlmodel.get("flavors") or {}
    route = plan.route
    engine = route.engine if isinstance(route, _native.NativeRoute) else "python"
    if isinstance(route, _native.NativeRoute):
        kind, why = "native", f"the {engine} engine runs this model natively"
    elif isinstance(route, _native.SklearnRoute):
        kind, why = "sklearn", "scikit-learn model, unpickled and run by scikit-learn in embedded Python"
    else:
        kind, why = "loader_module", f"loaded by mlflow's {route.module} in embedded Python"
    signature = info.signature or {}
    files: list[dict[str, Any]] = []
    for root, _, names in os.walk(path):
        for name in sorted(names):
            full = os.path.join(root, name)
            files.append({"path": os.path.relpath(full, path), "bytes": os.path.getsize(full)})
    files.sort(key=lambda f: f["path"])
    example = mlmodel.get("saved_input_example_info")
    return {
        "model_uri": uri,
        "model_path": path,
        "flavors": {name: _flavor_summary(conf) for name, conf in flavors.items()},
        "mlflow_version": mlmodel.get("mlflow_version"),
        "created": mlmodel.get("utc_time_created"),
        "run_id": mlmodel.get("run_id"),
        "model_id": mlmodel.get("model_id"),
        "signature": {
            "inputs": signature.get("inputs"),
            "outputs": signature.get("outputs"),
            "params": signature.get("params"),
        },
        "route": {"kind": kind, "engine": engine, "reason": why},
        "input_example": (
            {
                "type": example.get("type"),
                "file": example.get("artifact_path"),
                "params": bool(example.get("params")),
            }
            if example
            else None
        ),
        "files": files,
        "requirements": _requirements(path, engine),
    }


def _flavor_summary(conf: Any) -> dict[str, Any]:
    if not isinstance(conf, dict):
        return {}
    keys = (
        "loader_module",
        "python_version",
        "sklearn_version",
        "onnx_version",
        "pytorch_version",
        "keras_version",
    )
    return {k: conf[k] for k in keys if k in conf}


def _requirements(path: str, engine: str | None) -> list[dict[str, Any]]:
    """The model's requirements.txt, each with the version installed here (None: missing)."""
    import re
    from importlib import metadata

    reqs: list[dict[str, Any]] = []
    req_file = os.path.join(path, "requirements.txt")
    lines: list[str] = []
    if os.path.isfile(req_file):
        with open(req_file) as f:
            lines = [ln.strip() for ln in f if ln.strip() and not ln.lstrip().startswith(("#", "-"))]
    if engine == "onnx":
        lines.append("onnxruntime")
    for line in lines:
        match = re.match(r"[A-Za-z0-9_.\-]+", line)
        if not match:
            continue
        try:
            installed: str | None = metadata.version(match.group(0))
        except metadata.PackageNotFoundError:
            installed = None
        if not any(r["requirement"] == line for r in reqs):
            reqs.append({"requirement": line, "installed": installed})
    return reqs


def _table(rows: list[list[str]], header: list[str]) -> list[str]:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    out = ["  " + "  ".join(str(h).ljust(w) for h, w in zip(header, widths, strict=True)).rstrip()]
    out += ["  " + "  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return out


def _spec_rows(specs: list[dict[str, Any]] | None) -> list[list[str]]:
    rows: list[list[str]] = []
    for i, s in enumerate(specs or []):
        name = str(s["name"]) if s.get("name") is not None else f"[{i}]"
        if s.get("type") == "tensor":
            t = s["tensor-spec"]
            rows.append([name, f"tensor {t['dtype']}", str(tuple(t["shape"])), "required"])
        else:
            kind = s.get("type")
            detail = {k: v for k, v in s.items() if k not in ("name", "type", "required")}
            rows.append([name, f"{kind} {json.dumps(detail)}" if detail else str(kind), "", _req(s)])
    return rows


def _req(s: dict[str, Any]) -> str:
    return "required" if s.get("required", True) else "optional"


def _size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def _render_info(d: dict[str, Any]) -> str:
    lines = [f"model: {d['model_uri']}"]
    if d["model_path"] != d["model_uri"]:
        lines.append(f"path: {d['model_path']}")
    for key in ("mlflow_version", "created", "run_id", "model_id"):
        if d.get(key):
            lines.append(f"{key.replace('_', ' ')}: {d[key]}")
    lines.append("flavors:")
    for name, conf in d["flavors"].items():
        extra = ", ".join(f"{k}={v}" for k, v in conf.items())
        lines.append(f"  {name}" + (f" ({extra})" if extra else ""))
    r = d["route"]
    lines.append(f"engine: {r['engine']} ({r['reason']})")
    sig = d["signature"]
    if not any(sig.values()):
        lines.append("signature: none (inputs are not checked before predict)")
    for part in ("inputs", "outputs"):
        if sig.get(part) is not None:
            lines.append(f"signature {part}:")
            lines += _table(_spec_rows(sig[part]), ["name", "type", "shape", ""])
    if sig.get("params"):
        lines.append("signature params:")
        rows = [
            [p["name"], p["type"], json.dumps(p.get("default")), str(p.get("shape") or "")]
            for p in sig["params"]
        ]
        lines += _table(rows, ["name", "type", "default", "shape"])
    ex = d["input_example"]
    lines.append(
        "input example: "
        + (f"{ex['file']} ({ex['type']}{', with params' if ex['params'] else ''})" if ex else "none")
    )
    total = sum(f["bytes"] for f in d["files"])
    lines.append(f"files ({len(d['files'])}, {_size(total)}):")
    lines += _table([[f["path"], _size(f["bytes"])] for f in d["files"]], ["file", "size"])
    if d["requirements"]:
        lines.append("needs installed:")
        rows = [[r["requirement"], r["installed"] or "MISSING"] for r in d["requirements"]]
        lines += _table(rows, ["requirement", "installed here"])
    return "\n".join(lines)


# -- predict ------------------------------------------------------------------------------------


@main.command()
@click.argument("model_uri")
@click.option("-i", "--input", "input_path", required=True, help="Input file, or - for stdin.")
@click.option(
    "-o",
    "--output",
    "output_path",
    default="-",
    show_default=True,
    help='Output file, or - for stdout. JSON ({"predictions": ...}, as mlflow writes it) unless '
    "the name ends in .csv or .parquet.",
)
@click.option("-t", "--content-type", default=None, help=CONTENT_TYPE_HELP)
@click.option(
    "--params",
    default=None,
    help="Inference params as a JSON object (or a file holding one); overrides the request's own params.",
)
def predict(
    model_uri: str, input_path: str, output_path: str, content_type: str | None, params: str | None
) -> None:
    """Predict INPUT with the model, as `mlflow models predict --env-manager local` does.

    Reads the same request files (JSON in mlflow's scoring layouts, CSV) plus Parquet and Arrow
    IPC, and writes the same JSON bytes mlflow writes.
    """
    from . import _serving

    with _errors():
        given_params = _params_option(params)
        progress = _Progress()
        path = _local_path(model_uri, progress)
        # The request is read (and checked) before the model loads: a bad file fails fast.
        request = _serving.read_request(input_path, content_type, _metadata_only(path), path)
        model = _load(path, progress)
        call_params = given_params if given_params is not None else request.params
        with _serving.serving_environment(), progress.step("predicting"):
            with _naming(path, exc.PredictionError, "predict"):
                result = model.predict(request.data, params=call_params)
        _write(result, output_path, request.unwrapped)


def _write(result: Any, path: str, unwrapped: bool) -> None:
    from . import _serving

    kind = _serving.output_kind(path)
    if kind == "json":
        if path == "-":
            _serving.write_json(result, sys.stdout, unwrapped)
            sys.stdout.flush()
        else:
            with open(path, "w") as f:
                _serving.write_json(result, f, unwrapped)
        return
    try:
        frame = _serving.to_frame(result)
    except TypeError as e:
        _fail(BAD_INPUT, f"{path}: cannot write {kind}: {e}; write JSON instead")
    if kind == "csv":
        frame.to_csv(path if path != "-" else sys.stdout, index=False)
    else:
        frame.to_parquet(path, index=False)


# -- validate -----------------------------------------------------------------------------------


@main.command()
@click.argument("model_uri")
@click.option(
    "--against-mlflow", is_flag=True, help="Also compare answers with mlflow.pyfunc (needs mlflow)."
)
@click.option(
    "-i", "--input", "input_path", default=None, help="An input file to predict besides the example."
)
@click.option("-t", "--content-type", default=None, help=CONTENT_TYPE_HELP)
@click.option("--params", default=None, help="Params (JSON object) for the --input prediction.")
@click.option("--rtol", type=float, default=None, help="Relative tolerance for float answers (default 1e-5).")
@click.option("--atol", type=float, default=None, help="Absolute tolerance for float answers (default 1e-8).")
@click.option("--allow-no-signature", is_flag=True, help="Do not fail a model that has no signature.")
@click.option("--no-scan", is_flag=True, help="Skip the safety scan.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def validate(
    model_uri: str,
    against_mlflow: bool,
    input_path: str | None,
    content_type: str | None,
    params: str | None,
    rtol: float | None,
    atol: float | None,
    allow_no_signature: bool,
    no_scan: bool,
    as_json: bool,
) -> None:
    """Check a model: it loads, its MLmodel and signature are sane, its input example (and
    --input) predict and fit the output schema, and with --against-mlflow its answers equal
    mlflow.pyfunc's. Prints a report; exits 1 when any check fails."""
    from . import testing

    with _errors():
        given_params = _params_option(params)
        progress = _Progress()
        path = _local_path(model_uri, progress)
        data = None
        request_params = None
        if input_path is not None:
            from . import _serving

            meta = _metadata_only(path)
            request = _serving.read_request(input_path, content_type, meta, path)
            data, request_params = request.data, request.params
        tolerances = {
            "rtol": rtol if rtol is not None else testing.RTOL,
            "atol": atol if atol is not None else testing.ATOL,
        }
        with progress.step("validating"):
            report = testing.validate(
                path,
                against_mlflow=against_mlflow,
                input=data,
                params=given_params if given_params is not None else request_params,
                require_signature=not allow_no_signature,
                scan=not no_scan,
                **tolerances,
            )
        report.model_uri = model_uri
        if as_json:
            _emit_json(report.to_dict())
        else:
            click.echo(str(report))
        sys.exit(OK if report.ok else FAILED)


def _metadata_only(path: str) -> Any:
    from . import _native
    from ._metadata import Model

    info = _native.load_model_info(path)
    return Model(info.root, info.mlmodel, info.signature)


# -- scan ---------------------------------------------------------------------------------------


@main.command()
@click.argument("model_uri")
@click.option("--json", "as_json", is_flag=True, help="Print the scan result as JSON.")
def scan(model_uri: str, as_json: bool) -> None:
    """Report what loading the model would run (formats, pickled globals, code) and whether it is
    safe, without loading it. Exits 1 when the model is unsafe, 4 where this installation has no
    scanner yet."""
    import fastpyfunc

    with _errors():
        scanner: Callable[[str], Any] | None = getattr(fastpyfunc, "scan", None)
        if scanner is None:
            _fail(
                UNAVAILABLE,
                "scan is not available in this version of fastpyfunc (safe loading is not built yet)",
            )
        from .testing import scan_verdict

        path = _local_path(model_uri, _Progress())
        try:
            result = scanner(path)
        except exc.UnsafeModelError as e:
            click.echo(f"unsafe: {_one_line(str(e))}")
            sys.exit(FAILED)
        verdict = scan_verdict(result)
        if as_json:
            to_dict = getattr(result, "to_dict", None)
            _emit_json({"safe": verdict, "result": to_dict() if callable(to_dict) else str(result)})
        else:
            click.echo(str(result) if not isinstance(result, str) else result)
        sys.exit(FAILED if verdict is False else OK)


def run() -> None:
    """Entry point of the ``fastpyfunc`` console script and ``python -m fastpyfunc``."""
    main(prog_name="fastpyfunc")
