"""``python -m fastpyfunc``: the ``fastpyfunc`` command line (see :mod:`fastpyfunc.cli`)."""

from .cli import run

if __name__ == "__main__":
    run()
