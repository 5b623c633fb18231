"""Run mlflow's own model-export and schema-enforcement test files twice, on plain mlflow and
with ``fastpyfunc.install()`` active, and print which tests pass on plain mlflow but fail with it.

mlflow's test files are not part of this repository (they are mlflow's code and its sdist does not
ship them). Put a copy of mlflow's ``tests/`` package for the installed mlflow version in a
directory (default ``/work/mlflow-tests``, layout ``<dir>/tests/<area>/test_*.py`` with
``tests/conftest.py`` and ``tests/helper_functions.py``), see notes/README-mlflow-tests.md, then::

    PYTHONPATH=python python tools/mlflow_tests.py [--dir DIR] [--timeout 300] [FILE ...]

Both runs set ``FASTPYFUNC_TRUST_CODE=1``: mlflow's tests save custom PythonModels and loader
modules, which fastpyfunc refuses without trust (a documented, deliberate difference). Results
(JUnit XML and ``results.json``) go to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

TOOLS = Path(__file__).resolve().parent
DEFAULT_FILES = (
    "tests/pyfunc/test_model_export_with_class_and_artifacts.py",
    "tests/pyfunc/test_model_export_with_loader_module_and_data_path.py",
    "tests/pyfunc/test_pyfunc_schema_enforcement.py",
    "tests/onnx/test_onnx_model_export.py",
    "tests/sklearn/test_sklearn_model_export.py",
    "tests/pytorch/test_pytorch_model_export.py",
    "tests/tensorflow/test_tensorflow2_core_model_export.py",
)


def outcomes(junit: Path) -> dict[str, tuple[str, str]]:
    """test id -> (outcome, first line of the failure message) from a JUnit XML file."""
    result: dict[str, tuple[str, str]] = {}
    if not junit.exists():
        return result
    for case in ET.parse(junit).getroot().iter("testcase"):
        name = f"{case.get('classname', '')}::{case.get('name', '')}"
        outcome, message = "passed", ""
        for tag in ("failure", "error", "skipped"):
            node = case.find(tag)
            if node is not None:
                outcome = {"failure": "failed"}.get(tag, tag)
                message = (node.get("message") or "").strip().splitlines()[0:1]
                message = message[0][:300] if message else ""
                break
        result[name] = (outcome, message)
    return result


def run(tests_dir: Path, file: str, out: Path, install: bool, timeout: int, extra: list[str]) -> Path:
    tag = "install" if install else "plain"
    junit = out / f"{file.replace('/', '__')}.{tag}.xml"
    env = dict(os.environ, FASTPYFUNC_TRUST_CODE="1")
    # `mlflow models serve` execs uvicorn by name: the interpreter's bin dir must be on PATH, as
    # in an activated virtualenv
    env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), env.get("PATH", "")])
    path = [str(tests_dir)] + ([str(TOOLS)] if install else [])
    env["PYTHONPATH"] = os.pathsep.join(path + [p for p in [env.get("PYTHONPATH")] if p])
    cmd = [sys.executable, "-m", "pytest", file, "-q", "-p", "no:cacheprovider", "--junitxml", str(junit)]
    cmd += ["--timeout", str(timeout)] if timeout else []
    cmd += ["-p", "fastpyfunc_install_plugin"] if install else []
    cmd += extra
    log = junit.with_suffix(".log")
    with log.open("w") as fh:
        subprocess.run(cmd, cwd=tests_dir, env=env, stdout=fh, stderr=subprocess.STDOUT, check=False)
    return junit


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="*", default=list(DEFAULT_FILES))
    parser.add_argument(
        "--dir", type=Path, default=Path(os.environ.get("MLFLOW_TESTS_DIR", "/work/mlflow-tests"))
    )
    parser.add_argument("--out", type=Path, default=Path("target/mlflow-tests"))
    parser.add_argument("--timeout", type=int, default=300, help="per-test timeout (pytest-timeout), 0: none")
    parser.add_argument(
        "--pytest-args", default="", help="more pytest arguments for both runs, e.g. \"-k 'not serv'\""
    )
    parser.add_argument("--reuse-plain", action="store_true", help="keep existing plain-mlflow results")
    args = parser.parse_args(argv)
    args.out = args.out.resolve()
    args.out.mkdir(parents=True, exist_ok=True)
    report: dict[str, dict[str, object]] = {}
    rows = []
    for file in args.files:
        if not (args.dir / file).exists():
            print(f"missing: {args.dir / file}", file=sys.stderr)
            continue
        plain_xml = args.out / f"{file.replace('/', '__')}.plain.xml"
        if not (args.reuse_plain and plain_xml.exists()):
            plain_xml = run(args.dir, file, args.out, False, args.timeout, shlex.split(args.pytest_args))
        plain = outcomes(plain_xml)
        ours = outcomes(run(args.dir, file, args.out, True, args.timeout, shlex.split(args.pytest_args)))
        broken = {
            t: ours.get(t, ("missing", ""))[1]
            for t, (o, _) in plain.items()
            if o == "passed" and ours.get(t, ("missing",))[0] != "passed"
        }
        fixed = [
            t for t, (o, _) in ours.items() if o == "passed" and plain.get(t, ("missing",))[0] != "passed"
        ]
        n_plain = sum(o == "passed" for o, _ in plain.values())
        n_ours = sum(o == "passed" for o, _ in ours.values())
        rows.append((file, len(plain), n_plain, n_ours, broken))
        report[file] = {
            "tests": len(plain),
            "plain_passed": n_plain,
            "install_passed": n_ours,
            "plain_pass_install_fail": broken,
            "install_only_pass": fixed,
            "plain": {t: o for t, (o, _) in plain.items()},
            "install": {t: o for t, (o, _) in ours.items()},
        }
        print(
            f"{file}: {len(plain)} tests, plain {n_plain} passed, install {n_ours} passed, {len(broken)} plain-pass/install-fail",
            flush=True,
        )
    (args.out / "results.json").write_text(json.dumps(report, indent=1))
    print(
        "\n| file | tests | passed, plain mlflow | passed, install() | pass on plain, fail with install() |"
    )
    print("|---|---:|---:|---:|---|")
    for file, n, n_plain, n_ours, broken in rows:
        names = "<br>".join(f"`{t.split('::')[-1]}`" for t in broken) or "none"
        print(f"| `{file}` | {n} | {n_plain} | {n_ours} | {names} |")
    for file, *_, broken in rows:
        for test, message in broken.items():
            print(f"{file} {test.split('::')[-1]}: {message}")
    return 1 if any(broken for *_, broken in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
