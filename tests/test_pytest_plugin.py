"""The pytest plugin, run with pytester on models saved by mlflow at test time."""

from __future__ import annotations

import importlib.metadata

import pytest
from validation_models import CHILD_PYTHONPATH

pytest_plugins = ["pytester", "validation_models"]


@pytest.fixture(autouse=True)
def _trusted_models(monkeypatch):
    """These models are the user's own custom PythonModels, which carry code: the user trusts them
    (safe loading refuses them otherwise; test_cli checks that refusal and --trust-code)."""
    monkeypatch.setenv("FASTPYFUNC_TRUST_CODE", "1")


# Once fastpyfunc is installed the entry point loads the plugin; loading it again by name would clash.
_REGISTERED = any(
    ep.value == "fastpyfunc.pytest_plugin" for ep in importlib.metadata.entry_points(group="pytest11")
)
PLUGIN = [] if _REGISTERED else ["-p", "fastpyfunc.pytest_plugin"]


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest(*PLUGIN, "-p", "no:cacheprovider", "-rs", *args)


def scan_outcome() -> dict[str, int]:
    import fastpyfunc

    return {"skipped": 1} if getattr(fastpyfunc, "scan", None) is None else {"passed": 1}


def test_passing_model(pytester, sk_model):
    result = run(pytester, "--fastpyfunc-model", str(sk_model), "-v")
    scan = scan_outcome()
    result.assert_outcomes(passed=5 + scan.get("passed", 0), skipped=scan.get("skipped", 0))
    for check in ("load", "mlmodel", "signature", "input_example", "parity"):
        result.stdout.fnmatch_lines([f"*fastpyfunc?{sk_model}?::{check} PASSED*"])


def test_model_differing_from_mlflow(pytester, divergent_model):
    result = run(pytester, "--fastpyfunc-model", str(divergent_model))
    scan = scan_outcome()
    result.assert_outcomes(passed=4 + scan.get("passed", 0), failed=1, skipped=scan.get("skipped", 0))
    result.stdout.fnmatch_lines(
        [
            f"*parity check failed for {divergent_model}:*",
            "*fastpyfunc (left) and mlflow (right) disagree*",
            "*at ?0?: left=2.0 right=1.0*",
        ]
    )
    assert "Traceback" not in result.stdout.str()


def test_model_without_signature(pytester, unsigned_model):
    result = run(pytester, "--fastpyfunc-model", str(unsigned_model))
    scan = scan_outcome()
    # input_example and parity are skipped (nothing to predict), the signature check fails
    result.assert_outcomes(passed=2 + scan.get("passed", 0), failed=1, skipped=2 + scan.get("skipped", 0))
    result.stdout.fnmatch_lines(
        ["signature check failed for *", "*no input signature*", "*no saved input example*"]
    )
    allowed = run(pytester, "--fastpyfunc-model", str(unsigned_model), "--fastpyfunc-allow-no-signature")
    allowed.assert_outcomes(passed=3 + scan.get("passed", 0), skipped=2 + scan.get("skipped", 0))


def test_several_models_and_deselection(pytester, sk_model, unsigned_model):
    result = run(
        pytester, "--fastpyfunc-model", str(sk_model), "--fastpyfunc-model", str(unsigned_model), "-k", "load"
    )
    result.assert_outcomes(passed=2)


def test_model_that_does_not_load(pytester, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "MLmodel").write_text("flavors: {}\n")
    result = run(pytester, "--fastpyfunc-model", str(broken))
    scan = scan_outcome()
    # where the scanner exists, a model it cannot read fails its scan as well as its load
    result.assert_outcomes(failed=1 + scan.get("passed", 0), skipped=4 + scan.get("skipped", 0))
    result.stdout.fnmatch_lines(
        ["load check failed for *", "the model did not load: *", "*did not load (see *::load)"]
    )


def test_pyfunc_model_fixture_loads_once(pytester, sk_model, iris):
    pytester.makepyfile(
        test_a=f"""
        import pandas as pd
        from fastpyfunc.testing import assert_matches_mlflow

        URI = {str(sk_model)!r}
        seen = []

        def test_first(pyfunc_model):
            model = pyfunc_model(URI)
            seen.append(model)
            df = pd.DataFrame([[5.1, 3.5, 1.4, 0.2]], columns=model.metadata.get_input_schema().input_names())
            assert_matches_mlflow(model, df)

        def test_second(pyfunc_model):
            assert pyfunc_model(URI) is seen[0]
            assert pyfunc_model(URI, suppress_warnings=True) is not seen[0]
        """
    )
    run(pytester).assert_outcomes(passed=2)


def test_parity_skipped_loudly_without_mlflow(pytester, onnx_signed_model, monkeypatch):
    """mlflow made unimportable in a fresh pytest process: parity is skipped and a banner says so."""
    monkeypatch.setenv("PYTHONPATH", CHILD_PYTHONPATH)
    pytester.makeconftest("import sys\nsys.modules['mlflow'] = None  # import mlflow fails from here on\n")
    pytester.makepyfile(
        test_user="""
        import pytest

        @pytest.mark.mlflow_parity
        def test_my_parity():
            import mlflow
        """
    )
    result = pytester.runpytest_subprocess(
        *PLUGIN, "-p", "no:cacheprovider", "-rs", "--fastpyfunc-model", str(onnx_signed_model)
    )
    scan = scan_outcome()
    result.assert_outcomes(passed=4 + scan.get("passed", 0), skipped=2 + scan.get("skipped", 0))
    result.stdout.fnmatch_lines(
        [
            "*2 mlflow parity check(s) NOT run*",
            "*test_user.py::test_my_parity*",
            f"  fastpyfunc[[]{onnx_signed_model}]::parity",
            "*MLFLOW IS NOT INSTALLED: PARITY WITH MLFLOW.PYFUNC WAS NOT CHECKED*",
        ]
    )
