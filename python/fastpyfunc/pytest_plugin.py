"""pytest plugin: validate MLflow models with no test code, and fixtures to test them with.

Registered through the ``pytest11`` entry point ``fastpyfunc``, so it is active wherever
fastpyfunc is installed. It adds:

- ``--fastpyfunc-model URI`` (repeatable): generates the standard checks for each model as tests
  (``scan``, ``load``, ``mlmodel``, ``signature``, ``input_example``, ``parity``), so
  ``pytest --fastpyfunc-model models:/churn/3`` validates a model. ``--fastpyfunc-rtol`` and
  ``--fastpyfunc-atol`` set the parity tolerance (see :mod:`fastpyfunc.testing`);
  ``--fastpyfunc-allow-no-signature`` accepts models without a signature.
- the ``pyfunc_model`` fixture: a factory ``pyfunc_model(uri, **load_kwargs)`` returning a
  :class:`fastpyfunc.PyFuncModel`, loaded once per session for each URI and arguments.
- the ``mlflow_parity`` marker: a test that compares with mlflow is skipped where mlflow is not
  installed, and the run ends with a warning banner saying how many comparisons did not run.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

import pytest

_MODELS_KEY = pytest.StashKey[dict[str, Any]]()
_MLFLOW_KEY = pytest.StashKey[dict[str, Any]]()
_SKIPPED_KEY = pytest.StashKey[list[str]]()
_NO_MLFLOW = "mlflow is not installed: parity with mlflow.pyfunc was NOT checked"
CHECKS = ("scan", "load", "mlmodel", "signature", "input_example", "parity")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("fastpyfunc", "fastpyfunc model validation")
    group.addoption(
        "--fastpyfunc-model",
        action="append",
        default=[],
        metavar="URI",
        help="Validate this MLflow model (path or URI): generates the standard checks as tests. Repeatable.",
    )
    group.addoption(
        "--fastpyfunc-rtol", type=float, default=None, help="Relative tolerance of parity (1e-5)."
    )
    group.addoption(
        "--fastpyfunc-atol", type=float, default=None, help="Absolute tolerance of parity (1e-8)."
    )
    group.addoption(
        "--fastpyfunc-allow-no-signature",
        action="store_true",
        help="Do not fail models that were saved without a signature.",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "mlflow_parity: the test compares with mlflow; skipped, with a warning banner, where mlflow is not installed",
    )
    config.stash[_MODELS_KEY] = {}
    config.stash[_MLFLOW_KEY] = {}
    config.stash[_SKIPPED_KEY] = []


def _mlflow_installed() -> bool:
    try:
        import mlflow.pyfunc  # noqa: F401
    except ImportError:
        return False
    return True


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("mlflow_parity") is not None and not _mlflow_installed():
        item.config.stash[_SKIPPED_KEY].append(item.nodeid)
        pytest.skip(f"{_NO_MLFLOW.upper()}: pip install mlflow to run {item.name}")


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    skipped = config.stash.get(_SKIPPED_KEY, [])
    if skipped:
        terminalreporter.write_sep(
            "!", f"{len(skipped)} mlflow parity check(s) NOT run", yellow=True, bold=True
        )
        terminalreporter.write_line(f"{_NO_MLFLOW}. Skipped:", yellow=True)
        for nodeid in skipped:
            terminalreporter.write_line(f"  {nodeid}", yellow=True)


# -- fixtures ---------------------------------------------------------------------------------


def _cache_key(uri: Any, kwargs: dict[str, Any]) -> str:
    return json.dumps([os.fspath(uri), kwargs], sort_keys=True, default=repr)


def _load_cached(config: pytest.Config, uri: Any, **kwargs: Any) -> Any:
    cache = config.stash[_MODELS_KEY]
    key = _cache_key(uri, kwargs)
    if key not in cache:
        from . import load_model

        try:
            cache[key] = load_model(uri, **kwargs)
        except Exception as e:
            cache[key] = e
    value = cache[key]
    if isinstance(value, Exception):
        raise value
    return value


@pytest.fixture(scope="session")
def pyfunc_model(pytestconfig: pytest.Config) -> Callable[..., Any]:
    """Factory: ``pyfunc_model(uri, **load_model_kwargs)`` returns the loaded
    :class:`fastpyfunc.PyFuncModel`, loading each URI (with the same arguments) once per session.

    Example::

        def test_churn_model(pyfunc_model):
            model = pyfunc_model("models:/churn/3")
            assert model.predict(df).shape == (len(df),)
    """

    def load(uri: Any, **kwargs: Any) -> Any:
        return _load_cached(pytestconfig, uri, **kwargs)

    return load


# -- generated validation tests ---------------------------------------------------------------


class ValidationFailure(Exception):
    """A generated check failed; its message is the whole report (no traceback is shown)."""


@pytest.hookimpl(tryfirst=True)  # before -k/-m deselection, which then applies to these too
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    for uri in config.getoption("fastpyfunc_model") or []:
        name = f"fastpyfunc[{uri}]"
        collector = ModelChecks.from_parent(session, name=name, nodeid=name, uri=uri)
        items.extend(collector.collect())


class ModelChecks(pytest.Collector):
    """The standard checks of one model (``--fastpyfunc-model``)."""

    def __init__(self, *, uri: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.uri = uri

    def collect(self) -> list[pytest.Item]:
        items: list[pytest.Item] = []
        for check in CHECKS:
            item = ModelCheck.from_parent(self, name=check, check=check)
            if check == "parity":
                item.add_marker(pytest.mark.mlflow_parity)
            items.append(item)
        return items


class ModelCheck(pytest.Item):
    """One standard check of a model, run through :mod:`fastpyfunc.testing`'s checks."""

    def __init__(self, *, check: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.check = check

    @property
    def uri(self) -> str:
        return self.parent.uri  # type: ignore[union-attr]

    def runtest(self) -> None:
        try:
            status, message = self._run()
        except AssertionError as e:  # testing's assertions: their message is the report
            raise ValidationFailure(str(e)) from None
        if status == "skip":
            pytest.skip(message)
        if status == "fail":
            raise ValidationFailure(message)

    def _run(self) -> tuple[str, str]:
        from . import testing

        if self.check == "scan":
            return _scan(self.uri)
        model = self._model()
        if self.check == "load":
            reason = getattr(model, "route_reason", None)
            return "pass", f"engine: {model.engine}" + (f" ({reason})" if reason else "")
        if self.check == "mlmodel":
            return testing._mlmodel_check(model)
        if self.check == "signature":
            return testing._signature_check(model, not self.config.getoption("fastpyfunc_allow_no_signature"))
        example = model.input_example
        if example is None:
            return "skip", "the model has no saved input example: nothing to predict"
        params = model._model_meta.load_input_example_params(model._model_path)
        if self.check == "input_example":
            return testing._predict_check(model, example, params)
        theirs = self._mlflow_model(model._model_path)
        rtol = self.config.getoption("fastpyfunc_rtol")
        atol = self.config.getoption("fastpyfunc_atol")
        return testing._parity_check(
            model,
            theirs,
            example,
            params,
            testing.RTOL if rtol is None else rtol,
            testing.ATOL if atol is None else atol,
        )

    def _model(self) -> Any:
        try:
            return _load_cached(self.config, self.uri)
        except Exception as e:
            if self.check == "load":
                raise ValidationFailure(f"the model did not load: {type(e).__name__}: {e}") from e
            pytest.skip(f"the model did not load (see {self.parent.nodeid if self.parent else ''}::load)")

    def _mlflow_model(self, path: str) -> Any:
        cache = self.config.stash[_MLFLOW_KEY]
        if path not in cache:
            import mlflow.pyfunc

            cache[path] = mlflow.pyfunc.load_model(path)
        return cache[path]

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str | Any:
        if isinstance(excinfo.value, ValidationFailure):
            return f"{self.check} check failed for {self.uri}:\n{excinfo.value}"
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[str, int | None, str]:
        return self.uri, None, f"fastpyfunc {self.check} check of {self.uri}"


def _scan(uri: str) -> tuple[str, str]:
    import fastpyfunc

    from . import testing

    scanner = getattr(fastpyfunc, "scan", None)
    if scanner is None:
        return "skip", "fastpyfunc.scan is not available in this version: the model was NOT scanned"
    return testing._scan_check(scanner, uri)
