"""fastpyfunc.scan next to picklescan, modelscan and fickling on the same attack and legitimate models.

    make bench-scanners     # or: .venv/bin/python benches/scanner_compare.py [--quick] [--modelscan PATH]

The attack corpus is the one tests/test_safety_attacks.py builds (its payload builders are
imported from there): every pickle payload family in a scikit-learn model directory, a payload
hidden in a working Pipeline, joblib, classes and functions pickled by value (cloudpickle), a
.skops file whose MLmodel trusts `os.system`, a custom PythonModel pickle (plain and lzma/gzip/
bzip2-compressed), a `torch.save` payload, a loader module in `code/`, a non-builtin
loader_module, models-from-code, Keras models (mlflow.tensorflow) carrying cloudpickled custom
objects or a keras_module.txt naming a module other than Keras, and mlflow flavors whose loaders
unpickle their data file (dspy, langchain, paddle) with a payload there. The legitimate corpus is scripts/safety_corpus.py's
scikit-learn models saved by mlflow in pickle, cloudpickle and skops formats (--quick: the first
8 models).

fastpyfunc.scan gets the model directory. The other scanners get every file of the directory
except mlflow's metadata (MLmodel, *.yaml, *.txt, *.json) and Python sources: picklescan's
`scan_file_path`, fickling's `scan_file` (`scan_zip_archive` for zip files), and modelscan's CLI
once over the whole corpus (`-r json`; modelscan pins rich<15, so it lives in its own venv, see
the Makefile). A model counts as flagged when any of its files is reported unsafe; scanner
errors are counted separately and not as detections. Prints a Markdown table and writes
bench-results/scanners.json.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "scripts"), str(ROOT / "tests")]
METADATA_SUFFIXES = {".yaml", ".txt", ".json", ".py"}

Verdict = dict[str, Any]  # {"flagged": bool, "error": str | None}


def build_attacks(root: Path) -> list[Path]:
    """Writes one model directory per attack under root; none of the payloads is run here."""
    import mlflow
    import test_safety_attacks as A
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    marker = root / "marker-never-created"
    X, y = load_iris(return_X_y=True, as_frame=True)
    clf = LogisticRegression(max_iter=500).fit(X, y)
    base = {}
    for fmt in ("pickle", "cloudpickle"):
        base[fmt] = root / f"_base-{fmt}"
        mlflow.sklearn.save_model(
            clf, str(base[fmt]), serialization_format=fmt, pip_requirements=["scikit-learn"]
        )

    def model_file(name: str, fmt: str, data: bytes) -> None:
        A.with_model_file(base[fmt], root / name, data)

    for name, blob in A._pickles(marker).items():
        model_file(name, "pickle", blob)
    pipe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(X, y)
    pipe.steps[0][1].notes = A.Reduce(os.system, A.touch_cmd(marker))
    model_file("hidden_in_pipeline", "pickle", pickle.dumps(pipe))
    import joblib
    import numpy as np

    buf = io.BytesIO()
    joblib.dump({"w": np.arange(5.0), "p": A.Reduce(os.system, A.touch_cmd(marker))}, buf)
    model_file("joblib", "pickle", buf.getvalue())
    for name, blob in A._dynamic_class_payloads(marker).items():
        model_file(f"cloudpickle_{name}", "cloudpickle", blob)

    import skops.io

    evil = make_pipeline(FunctionTransformer(os.system), LogisticRegression())
    mlflow.sklearn.save_model(
        evil,
        str(root / "skops_self_trusted"),
        serialization_format="skops",
        skops_trusted_types=skops.io.get_untrusted_types(data=skops.io.dumps(evil)),
        pip_requirements=["skops"],
    )
    for compression in (None, "lzma", "gzip", "bzip2"):
        d = A._pyfunc_payload_model(root, marker, compression)
        d.rename(root / f"python_model_{compression or 'plain'}")

    import torch

    d = root / "torch_save"
    mlflow.pytorch.save_model(
        torch.nn.Linear(2, 1), str(d), serialization_format="pickle", pip_requirements=["torch"]
    )
    torch.save(A.Reduce(os.system, A.touch_cmd(marker)), str(next((d / "data").glob("*.pth"))))

    d = root / "loader_module_in_code"
    (d / "code").mkdir(parents=True)
    (d / "code" / "evil_loader.py").write_text(
        f"{A.open_src(marker)}\ndef _load_pyfunc(p):\n    return None\n"
    )
    (d / "MLmodel").write_text("flavors:\n  python_function: {loader_module: evil_loader, code: code}\n")
    d = root / "non_builtin_loader_module"
    d.mkdir()
    (d / "MLmodel").write_text("flavors:\n  python_function: {loader_module: json.tool}\n")
    src = root / "model_code.py"
    src.write_text("import mlflow\nmlflow.models.set_model(lambda model_input: model_input)\n")
    d = root / "models_from_code"
    mlflow.pyfunc.save_model(str(d), python_model=str(src), pip_requirements=["mlflow"])  # runs src
    src.unlink()
    saved = d / Path(mlflow.models.Model.load(str(d)).flavors["python_function"]["model_code_path"]).name
    saved.write_text(f"{A.open_src(marker)}\n" + saved.read_text())  # the payload goes in after saving

    import cloudpickle
    import tensorflow as tf

    inp = tf.keras.Input((3,))
    keras_base = root / "_base-keras"
    mlflow.tensorflow.save_model(
        tf.keras.Model(inp, tf.keras.layers.Dense(2)(inp)),
        str(keras_base),
        keras_model_kwargs={"save_format": "h5"},
        pip_requirements=["tensorflow"],
    )
    # mlflow.tensorflow cloudpickle-loads these before Keras reads the model
    for name in ("custom_objects", "global_custom_objects"):
        d = root / f"keras_{name}"
        shutil.copytree(keras_base, d)
        payload = {"Dense": A.Reduce(os.system, A.touch_cmd(marker))}
        (d / "data" / f"{name}.cloudpickle").write_bytes(cloudpickle.dumps(payload))
    # ... and imports the module this file names, then calls its models.load_model (antigravity
    # opens a web browser on import)
    d = root / "keras_module_txt"
    shutil.copytree(keras_base, d)
    (d / "data" / "keras_module.txt").write_text("antigravity")
    shutil.rmtree(keras_base)
    # mlflow flavors whose loaders unpickle their data file (dspy and langchain cloudpickle,
    # paddle pickles): the payload is the data file the MLmodel names
    for module in ("mlflow.dspy", "mlflow.langchain", "mlflow.paddle"):
        d = root / f"unchecked_loader_{module.split('.')[1]}"
        d.mkdir()
        (d / "model.pkl").write_bytes(cloudpickle.dumps(A.Reduce(os.system, A.touch_cmd(marker))))
        (d / "MLmodel").write_text(
            f"flavors:\n  python_function: {{loader_module: {module}, data: model.pkl}}\n"
        )

    for b in base.values():
        shutil.rmtree(b)
    assert not marker.exists(), "building the corpus ran a payload"
    return sorted(p for p in root.iterdir() if p.is_dir())


def build_legit(root: Path, limit: int | None) -> list[Path]:
    import safety_corpus

    out = []
    for name, est, _X, fn in safety_corpus.fitted()[:limit]:
        for fmt in ("pickle", "cloudpickle", "skops"):
            out.append(root / f"{name}-{fmt}")
            safety_corpus.save(est, str(out[-1]), fmt, fn)
    return out


def model_files(d: Path) -> list[Path]:
    return sorted(
        p for p in d.rglob("*") if p.is_file() and p.name != "MLmodel" and p.suffix not in METADATA_SUFFIXES
    )


def run_fastpyfunc(d: Path) -> Verdict:
    import fastpyfunc

    try:
        return {"flagged": not fastpyfunc.scan(str(d)).safe, "error": None}
    except Exception as e:  # a refusal to even scan (e.g. a malformed MLmodel) is a refusal
        return {"flagged": True, "error": f"{type(e).__name__}: {e}"[:300]}


def per_file(d: Path, check: Callable[[Path], bool]) -> Verdict:
    flagged, errors = False, []
    for f in model_files(d):
        try:
            flagged |= check(f)
        except Exception as e:
            errors.append(f"{f.name}: {type(e).__name__}: {e}"[:300])
    return {"flagged": flagged, "error": "; ".join(errors) or None}


def picklescan_check(f: Path) -> bool:
    from picklescan.scanner import scan_file_path

    res = scan_file_path(str(f))
    if res.scan_err and not res.issues_count:
        raise RuntimeError("picklescan could not parse the file")
    return res.issues_count > 0


def fickling_check(f: Path) -> bool:
    import fickling

    if zipfile.is_zipfile(f):
        return any(not r.is_safe for r in fickling.scan_zip_archive(str(f), graceful=True).values())
    return not fickling.scan_file(str(f), graceful=True).is_safe


def run_modelscan(exe: str, root: Path, dirs: list[Path]) -> dict[Path, Verdict]:
    """One modelscan run over the whole corpus; issues and errors are attributed to model directories."""
    report = root / "modelscan.json"
    subprocess.run(
        [exe, "-l", "CRITICAL", "-p", str(root), "-r", "json", "-o", str(report)], capture_output=True
    )
    res = json.loads(report.read_text())
    out: dict[Path, Verdict] = {d: {"flagged": False, "error": None} for d in dirs}

    def owner(source: str) -> Path | None:
        p = (root / source).resolve() if not os.path.isabs(source) else Path(source)
        return next((d for d in dirs if p.is_relative_to(d.resolve())), None)

    for issue in res.get("issues", []):
        d = owner(issue.get("source", ""))
        if d is not None:
            out[d]["flagged"] = True
    for err in res.get("errors", []):
        d = owner(str(err.get("source", "")))
        if d is not None:
            out[d]["error"] = str(err.get("description", err))[:300]
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="a legitimate subset (the first 8 models)")
    ap.add_argument("--modelscan", default=str(ROOT / ".venv-modelscan/bin/modelscan"), help="modelscan CLI")
    args = ap.parse_args()
    import mlflow
    import test_safety_attacks  # noqa: F401  (imports conftest, which sets warning filters)

    warnings.filterwarnings("ignore")
    logging.getLogger("mlflow").setLevel(logging.ERROR)
    logging.getLogger("picklescan").setLevel(logging.CRITICAL)  # its parse errors are counted, not logged

    mlflow.set_tracking_uri("sqlite:///" + tempfile.mkdtemp() + "/mlflow.db")

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "attack").mkdir()
        (root / "legit").mkdir()
        with warnings.catch_warnings():  # mlflow re-enables its own warnings while saving
            warnings.simplefilter("ignore")
            attacks = build_attacks(root / "attack")
            legit = build_legit(root / "legit", 8 if args.quick else None)
        corpus = {"attack": attacks, "legit": legit}
        every = attacks + legit

        scanners: dict[str, dict[Path, Verdict]] = {}
        timings: dict[str, float] = {}
        for name, fn in (
            ("fastpyfunc.scan", run_fastpyfunc),
            ("picklescan", lambda d: per_file(d, picklescan_check)),
            ("fickling", lambda d: per_file(d, fickling_check)),
        ):
            t = time.perf_counter()
            scanners[name] = {d: fn(d) for d in every}
            timings[name] = time.perf_counter() - t
        if shutil.which(args.modelscan) or Path(args.modelscan).is_file():
            t = time.perf_counter()
            scanners["modelscan"] = run_modelscan(args.modelscan, root, every)
            timings["modelscan"] = time.perf_counter() - t
        else:
            print(f"modelscan not found at {args.modelscan}: skipped (make bench-scanners installs it)")

        res: dict[str, Any] = {
            "attacks": [d.name for d in attacks],
            "legit": [d.name for d in legit],
            "scanners": {},
        }
        for name, verdicts in scanners.items():
            res["scanners"][name] = {
                "version": version(name),
                "seconds": timings[name],
                "caught": sum(verdicts[d]["flagged"] for d in attacks),
                "missed": [d.name for d in attacks if not verdicts[d]["flagged"]],
                "false_refusals": [d.name for d in legit if verdicts[d]["flagged"]],
                "errors": {
                    f"{kind}/{d.name}": verdicts[d]["error"]
                    for kind, ds in corpus.items()
                    for d in ds
                    if verdicts[d]["error"]
                },
            }
    print_table(res)
    out = ROOT / "bench-results"
    out.mkdir(exist_ok=True)
    (out / "scanners.json").write_text(json.dumps(res, indent=1))


def version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as v

    if name == "modelscan":
        return "(own venv)"
    try:
        return v(name.split(".")[0])
    except PackageNotFoundError:
        return "?"


def print_table(res: dict[str, Any]) -> None:
    n, m = len(res["attacks"]), len(res["legit"])
    print(f"\n{n} attack models, {m} legitimate scikit-learn models (pickle, cloudpickle, skops)\n")
    print("| scanner | attacks caught | legitimate models flagged | scanner errors | attacks missed |")
    print("|---|---:|---:|---:|---|")
    for name, r in res["scanners"].items():
        missed = ", ".join(r["missed"]) or "none"
        print(
            f"| {name} {r['version']} | {r['caught']} / {n} | {len(r['false_refusals'])} / {m} "
            f"| {len(r['errors'])} | {missed} |"
        )
    for name, r in res["scanners"].items():
        if r["false_refusals"]:
            print(f"\n{name} flags: {', '.join(r['false_refusals'])}")


if __name__ == "__main__":
    main()
