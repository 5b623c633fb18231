"""pytest plugin for ``tools/mlflow_tests.py``: ``fastpyfunc.install()`` for the whole session.

Loaded with ``-p fastpyfunc_install_plugin`` (``tools/`` on ``sys.path``), so mlflow's own test
files run with ``mlflow.pyfunc.load_model`` switched to fastpyfunc, as a user script that calls
``install()`` first would. Subprocesses (``mlflow models serve``) are not affected.
"""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    import fastpyfunc

    fastpyfunc.install()
    # a test that uninstalls/reinstalls would otherwise leave the session on mlflow's function
    config.add_cleanup(fastpyfunc.uninstall)


def pytest_report_header(config: pytest.Config) -> str:
    import fastpyfunc

    return f"fastpyfunc.install() active ({fastpyfunc.__file__})"
