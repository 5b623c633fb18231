"""Helpers shared by the benchmark scripts: fresh-process runs, time formatting, the CLI."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

PY = sys.executable
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONWARNINGS": "ignore"}


def run_code(code: str, *args: str) -> str:
    """Runs `code` in a fresh interpreter with `args`; returns its last line of output."""
    r = subprocess.run([PY, "-c", code, *args], capture_output=True, text=True, env=ENV)
    if r.returncode != 0:
        raise RuntimeError(r.stderr[-2000:])
    lines = r.stdout.strip().splitlines()
    return lines[-1] if lines else ""


def fmt_seconds(s: float) -> str:
    if s < 1e-3:
        return f"{s * 1e6:,.1f} µs"
    if s < 1:
        return f"{s * 1e3:,.2f} ms"
    return f"{s:.2f} s"


def main(
    run: Callable[[bool], dict[str, Any]], print_tables: Callable[[dict[str, Any]], None], name: str
) -> None:
    """`script.py [--quick]`: runs, prints the tables, saves bench-results/<name>.json."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer calls (a smoke run)")
    args = ap.parse_args()
    res = run(args.quick)
    print_tables(res)
    out = Path("bench-results")
    out.mkdir(exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(res, indent=1, default=str))
