"""The ``fastpyfunc`` command line, run as a subprocess on models saved by mlflow at test time.

``predict`` must write the bytes ``mlflow models predict --env-manager local`` writes. The real
mlflow command is slow (it imports all of mlflow), so it runs once per model; the other request
layouts are compared with ``mlflow.pyfunc.scoring_server._predict``, the function that command
runs in ``--env-manager local`` mode.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tomllib
from validation_models import ALL_PASSING, child_env, run_cli

import fastpyfunc

from conftest import assert_same

ROOT = Path(__file__).parent.parent
pytest_plugins = ["validation_models"]  # the models these tests share


@pytest.fixture(autouse=True)
def _trusted_models(monkeypatch):
    """These models are the user's own custom PythonModels, which carry code: the user trusts them
    (safe loading refuses them otherwise; test_cli checks that refusal and --trust-code)."""
    monkeypatch.setenv("FASTPYFUNC_TRUST_CODE", "1")


def mlflow_cli_predict(model: Path, request: Path, out: Path, content_type: str = "json") -> bytes:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "mlflow",
            "models",
            "predict",
            "-m",
            str(model),
            "-i",
            str(request),
            "-o",
            str(out),
        ]
        + ["-t", content_type, "--env-manager", "local"],
        capture_output=True,
        env=child_env(),
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    return out.read_bytes()


def mlflow_inprocess_predict(model: Path, request: Path, out: Path, content_type: str = "json") -> bytes:
    from mlflow.pyfunc import scoring_server

    scoring_server._predict(str(model), str(request), str(out), content_type)
    return out.read_bytes()


def ours(model: Path, request: Path, *extra: str) -> bytes:
    proc = run_cli("predict", model, "-i", request, *extra)
    assert proc.returncode == 0, proc.stderr.decode()
    assert b"Traceback" not in proc.stderr
    return proc.stdout


def split_request(df: pd.DataFrame, **extra) -> str:
    return json.dumps({"dataframe_split": json.loads(df.to_json(orient="split", index=False)), **extra})


@pytest.fixture(scope="module")
def requests_dir(tmp_path_factory, iris):
    """Request files for the three models, in every JSON layout and CSV."""
    X, _ = iris
    d = tmp_path_factory.mktemp("requests")
    sk = X.iloc[[0, 50, 100, 120]]
    (d / "sk_split.json").write_text(split_request(sk))
    (d / "sk_records.json").write_text(json.dumps({"dataframe_records": sk.to_dict(orient="records")}))
    (d / "sk_instances.json").write_text(json.dumps({"instances": sk.to_dict(orient="records")}))
    (d / "sk_inputs.json").write_text(json.dumps({"inputs": sk.to_dict(orient="list")}))
    sk.to_csv(d / "sk.csv", index=False)
    sk.to_parquet(d / "sk.parquet", index=False)
    import pyarrow as pa

    table = pa.Table.from_pandas(sk, preserve_index=False)
    with pa.ipc.new_file(str(d / "sk.arrow"), table.schema) as w:
        w.write_table(table)
    x = X.to_numpy(np.float32)[:5]
    (d / "onnx_inputs.json").write_text(json.dumps({"inputs": x.tolist()}))
    (d / "onnx_named.json").write_text(json.dumps({"inputs": {"X": x.tolist()}}))
    (d / "onnx_instances.json").write_text(json.dumps({"instances": x.tolist()}))
    custom = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [0.5, 0.25, 0.0]})
    (d / "custom_split.json").write_text(split_request(custom, params={"k": 3, "as_frame": True}))
    (d / "custom_records.json").write_text(
        json.dumps({"dataframe_records": custom.to_dict(orient="records")})
    )
    custom.to_csv(d / "custom.csv", index=False)
    return d


@pytest.mark.parametrize(
    "which,request_file",
    [("sklearn", "sk_split.json"), ("onnx", "onnx_inputs.json"), ("custom", "custom_split.json")],
)
def test_predict_bytes_equal_mlflow_cli(
    which, request_file, sk_model, onnx_model, custom_model, requests_dir, tmp_path
):
    model = {
        "sklearn": sk_model,
        "onnx": onnx_model,
        "custom": custom_model,
    }[which]
    req = requests_dir / request_file
    expected = mlflow_cli_predict(model, req, tmp_path / "mlflow.json")
    assert ours(model, req) == expected
    out = tmp_path / "ours.json"
    assert run_cli("predict", model, "-i", req, "-o", out).returncode == 0
    assert out.read_bytes() == expected
    assert expected.startswith(b'{"predictions": ')


@pytest.mark.parametrize(
    "which,request_file,content_type",
    [
        ("sklearn", "sk_records.json", "json"),
        ("sklearn", "sk_instances.json", "json"),
        ("sklearn", "sk_inputs.json", "json"),
        ("sklearn", "sk.csv", "csv"),
        ("onnx", "onnx_named.json", "json"),
        ("onnx", "onnx_instances.json", "json"),
        ("custom", "custom_records.json", "json"),
        ("custom", "custom.csv", "csv"),
    ],
)
def test_predict_layouts_bytes_equal_mlflow(
    which, request_file, content_type, sk_model, onnx_model, custom_model, requests_dir, tmp_path
):
    model = {"sklearn": sk_model, "onnx": onnx_model, "custom": custom_model}[which]
    req = requests_dir / request_file
    expected = mlflow_inprocess_predict(model, req, tmp_path / "mlflow.json", content_type)
    assert ours(model, req) == expected  # the content type comes from the extension


@pytest.mark.parametrize("name", ["sk.parquet", "sk.arrow"])
def test_predict_parquet_and_arrow_inputs(name, sk_model, requests_dir, tmp_path):
    """Beyond mlflow's CLI: the same rows as Parquet/Arrow answer as the CSV request does."""
    model = sk_model
    expected = mlflow_inprocess_predict(model, requests_dir / "sk.csv", tmp_path / "m.json", "csv")
    assert ours(model, requests_dir / name) == expected


def test_predict_stdin_stdout(custom_model, requests_dir, tmp_path):
    req = requests_dir / "custom_split.json"
    expected = mlflow_inprocess_predict(custom_model, req, tmp_path / "m.json")
    proc = run_cli("predict", custom_model, "-i", "-", stdin=req.read_bytes())
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stdout == expected
    assert b"loading model" not in proc.stderr  # no progress output when not on a terminal


def test_code_bearing_models_need_trust_code(custom_model, requests_dir, monkeypatch):
    monkeypatch.delenv("FASTPYFUNC_TRUST_CODE")
    request = requests_dir / "custom_records.json"
    refused = run_cli("predict", custom_model, "-i", request)
    assert_clean_error(refused, 3, "would run code", "trust")
    trusted = run_cli("--trust-code", "predict", custom_model, "-i", request)
    assert trusted.returncode == 0, trusted.stderr.decode()
    assert "predictions" in json.loads(trusted.stdout)


def test_predict_params_option_overrides(custom_model, requests_dir, tmp_path):
    import mlflow

    df = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [0.5, 0.25, 0.0]})
    got = json.loads(ours(custom_model, requests_dir / "custom_records.json", "--params", '{"k": 5}'))
    expected = mlflow.pyfunc.load_model(str(custom_model)).predict(df, params={"k": 5})
    assert got == {"predictions": expected.tolist()}


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_predict_table_outputs(suffix, sk_model, iris, requests_dir, tmp_path):
    import mlflow

    X, _ = iris
    model = sk_model
    out = tmp_path / f"out.{suffix}"
    proc = run_cli("predict", model, "-i", requests_dir / "sk_split.json", "-o", out)
    assert proc.returncode == 0, proc.stderr.decode()
    got = pd.read_csv(out) if suffix == "csv" else pd.read_parquet(out)
    expected = mlflow.pyfunc.load_model(str(model)).predict(X.iloc[[0, 50, 100, 120]])
    assert list(got.columns) == ["0", "1", "2"]
    np.testing.assert_allclose(got.to_numpy(), expected, rtol=1e-12)


def assert_clean_error(proc: subprocess.CompletedProcess[bytes], code: int, *needles: str) -> str:
    err = proc.stderr.decode()
    assert proc.returncode == code, (proc.returncode, err)
    assert "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, err
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize(
    "name,content,needle",
    [
        ("bad.json", b"{not json", "not valid JSON"),
        ("list.json", b"[1, 2]", "Received a list"),
        ("keys.json", b'{"data": [[1, 2]]}', "exactly one of the input fields"),
        ("two.json", b'{"inputs": [1], "instances": [1]}', "exactly one of the input fields"),
        ("split.json", b'{"dataframe_split": [1]}', "split format must be a dictionary"),
        ("records.json", b'{"dataframe_records": {"a": 1}}', "must be a list of records"),
        ("cast.json", b'{"dataframe_records": [{"sepal length (cm)": "x"}]}', "Failed to convert column"),
        ("latin1.json", '{"inputs": ["\xe9"]}'.encode("latin-1"), "not valid UTF-8"),
        ("bad.parquet", b"PAR1 this is not parquet", "not a valid parquet file"),
        ("bad.arrow", b"ARROW1 nope", "not a valid arrow file"),
    ],
)
def test_predict_bad_input_files(name, content, needle, sk_model, tmp_path):
    path = tmp_path / name
    path.write_bytes(content)
    line = assert_clean_error(run_cli("predict", sk_model, "-i", path), 2, needle)
    assert str(path) in line


def test_predict_input_the_signature_refuses(onnx_model, tmp_path):
    path = tmp_path / "three.csv"
    path.write_text("a,b,c\n1,2,3\n")
    assert_clean_error(run_cli("predict", onnx_model, "-i", path), 2, str(onnx_model), "invalid input")


def test_predict_missing_input_file_and_model(sk_model, tmp_path):
    model = sk_model
    assert_clean_error(run_cli("predict", model, "-i", tmp_path / "nope.json"), 2, "nope.json", "cannot read")
    assert_clean_error(run_cli("predict", tmp_path / "nomodel", "-i", "-", stdin=b"{}"), 3, "nomodel")
    assert_clean_error(run_cli("predict", model, "-i", "-", "--params", "[1]", stdin=b"{}"), 2, "--params")
    assert_clean_error(run_cli("predict", model, "-i", "x", "-t", "xml"), 2, "unknown content type")
    proc = run_cli("predict", model)  # -i is required: click's usage error
    assert proc.returncode == 2 and b"Traceback" not in proc.stderr and b"--input" in proc.stderr


def test_predict_model_raising_is_one_line(divergent_model, tmp_path):
    req = tmp_path / "r.json"
    req.write_text(json.dumps({"dataframe_records": [{"b": 1.0}]}))  # column 'a' missing: signature refuses
    assert_clean_error(run_cli("predict", divergent_model, "-i", req), 2, "a")


def test_info(onnx_signed_model, sk_model):
    proc = run_cli("info", onnx_signed_model)
    assert proc.returncode == 0, proc.stderr.decode()
    text = proc.stdout.decode()
    assert "engine: onnx" in text
    assert "tensor float32" in text and "(-1, 4)" in text
    assert "model.onnx" in text and "input example: input_example.json" in text
    data = json.loads(run_cli("info", sk_model, "--json").stdout)
    model_dir = sk_model
    assert data["route"]["engine"] == "python"
    assert set(data["flavors"]) == {"python_function", "sklearn"}
    sizes = {f["path"]: f["bytes"] for f in data["files"]}
    assert sizes["MLmodel"] == (model_dir / "MLmodel").stat().st_size
    assert sizes["model.pkl"] == (model_dir / "model.pkl").stat().st_size
    assert [s["name"] for s in data["signature"]["inputs"]] == [
        "sepal length (cm)",
        "sepal width (cm)",
        "petal length (cm)",
        "petal width (cm)",
    ]
    assert any(r["requirement"].startswith("scikit-learn") and r["installed"] for r in data["requirements"])
    assert data["input_example"]["type"] == "dataframe"


def test_validate_passes_against_mlflow(sk_model, requests_dir):
    model = sk_model
    proc = run_cli("validate", model, "--against-mlflow", "-i", requests_dir / "sk_records.json")
    text = proc.stdout.decode()
    assert proc.returncode == 0, text + proc.stderr.decode()
    for check in ALL_PASSING:
        assert any(line.split()[:2] == ["PASS", check] for line in text.splitlines()), (check, text)
    assert "result: OK" in text
    report = json.loads(run_cli("validate", model, "--json").stdout)
    assert report["ok"] is True
    assert [c["name"] for c in report["checks"]][:5] == [
        "scan",
        "load",
        "mlmodel",
        "signature",
        "input_example",
    ]


def test_validate_fails_on_divergence(divergent_model):
    proc = run_cli("validate", divergent_model, "--against-mlflow")
    text = proc.stdout.decode()
    assert proc.returncode == 1, text
    assert "FAIL  parity:input_example" in text
    assert "left=2.0 right=1.0" in text  # fastpyfunc's answer, then mlflow's
    assert run_cli("validate", divergent_model).returncode == 0  # without mlflow nothing differs


def test_validate_no_signature(unsigned_model):
    proc = run_cli("validate", unsigned_model)
    assert proc.returncode == 1
    assert "FAIL  signature" in proc.stdout.decode() and "no input signature" in proc.stdout.decode()
    assert run_cli("validate", unsigned_model, "--allow-no-signature").returncode == 0


def test_validate_bad_model_and_input(tmp_path, sk_model):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "MLmodel").write_text("flavors: [unclosed\n")
    proc = run_cli("validate", broken)
    assert proc.returncode == 1 and b"Traceback" not in proc.stderr + proc.stdout
    assert "FAIL  load" in proc.stdout.decode()
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    assert_clean_error(run_cli("validate", sk_model, "-i", bad), 2, "bad.json")


def test_scan(sk_model):
    proc = run_cli("scan", sk_model)
    if getattr(fastpyfunc, "scan", None) is None:
        assert_clean_error(proc, 4, "scan is not available")
    else:
        assert proc.returncode in (0, 1), proc.stderr.decode()
        assert b"Traceback" not in proc.stderr


@pytest.mark.parametrize("command", [[], ["info"], ["predict"], ["validate"], ["scan"]])
def test_help(command):
    proc = run_cli(*command, "--help")
    assert proc.returncode == 0
    assert b"Usage: fastpyfunc" in proc.stdout


def test_console_script_declared():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["scripts"]["fastpyfunc"] == "fastpyfunc.cli:run"
    assert project["entry-points"]["pytest11"]["fastpyfunc"] == "fastpyfunc.pytest_plugin"
    assert any(d.startswith("click") for d in project["dependencies"])


def test_import_stays_cheap():
    code = "import sys, fastpyfunc; print(sorted(m for m in ('click', 'pandas', 'numpy', 'mlflow') if m in sys.modules))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, env=child_env(), text=True)
    assert proc.stdout.strip() == "[]", proc.stderr


def test_outputs_match_mlflow_pyfunc_values(custom_model, requests_dir, tmp_path):
    """The JSON payload decodes to what mlflow.pyfunc returns (as a sanity check of the layout)."""
    import mlflow

    df = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [0.5, 0.25, 0.0]})
    expected = mlflow.pyfunc.load_model(str(custom_model)).predict(df, params={"k": 3, "as_frame": True})
    got = json.loads(ours(custom_model, requests_dir / "custom_split.json"))["predictions"]
    assert_same(pd.DataFrame(got), expected)


def test_progress_only_on_a_terminal(onnx_model, requests_dir):
    """stderr on a terminal shows the steps; the JSON on stdout is the same either way."""
    import os

    master, slave = os.openpty()
    try:
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "fastpyfunc",
                "predict",
                str(onnx_model),
                "-i",
                str(requests_dir / "onnx_inputs.json"),
            ],
            stdout=subprocess.PIPE,
            stderr=slave,
            env=child_env(),
            timeout=300,
        )
        os.close(slave)
        chunks = []
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(master)
    assert proc.returncode == 0
    assert b"loading model" in b"".join(chunks)
    assert proc.stdout == ours(onnx_model, requests_dir / "onnx_inputs.json")


def test_model_raising_is_one_line_naming_the_model(raising_model, tmp_path):
    req = tmp_path / "r.json"
    req.write_text(json.dumps({"dataframe_records": [{"a": 1.0}]}))
    line = assert_clean_error(
        run_cli("predict", raising_model, "-i", req), 3, str(raising_model), "ValueError"
    )
    assert "the model's own bug" in line
