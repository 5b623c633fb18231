"""The Rust verifier on real pickles made at test time, its allow-list, and the restricted
unpickler that shares the list: both layers accept the same ordinary objects and refuse payloads."""

from __future__ import annotations

import io
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fastpyfunc import _safety
from fastpyfunc.exceptions import UnsafeModelError

from conftest import PY, assert_same

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import gen_allowlist  # noqa: E402


def test_generated_allowlist_is_current():
    """Regenerating the allow-list from the installed libraries gives the checked-in file."""
    r = subprocess.run(
        [PY, str(ROOT / "scripts" / "gen_allowlist.py"), "--check"], capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr


def test_allowlist_is_exact_and_denies_executors():
    allowed = _safety.allowed()
    assert allowed == frozenset(_safety._native.safety_allowlist())
    for pair in gen_allowlist.DENIED:
        assert pair not in allowed, pair
    modules = {m for m, _ in allowed}
    assert not modules & gen_allowlist.DENIED_MODULES
    assert all(n and "*" not in n for _, n in allowed), "names only, never wildcards"


@pytest.fixture(scope="module")
def objects():
    return gen_allowlist.corpus_objects()


@pytest.mark.parametrize("proto", range(6))
def test_ordinary_objects_pass_both_layers(objects, proto):
    for obj in objects:
        try:
            blob = pickle.dumps(obj, protocol=proto)
        except (TypeError, pickle.PicklingError):
            continue  # some objects need protocol 2+
        report = _safety.verify(blob)
        assert report.verdict == "safe", (type(obj), report.findings)
        back = _safety.RestrictedUnpickler(io.BytesIO(blob), "m", "f").load()
        assert type(back) is type(obj)
        if isinstance(obj, np.ndarray) and obj.dtype != object:
            assert_same(back, obj)


def test_cloudpickle_of_ordinary_objects(objects):
    import cloudpickle

    for obj in objects:
        blob = cloudpickle.dumps(obj)
        assert _safety.verify(blob).verdict == "safe", type(obj)


class _Reduce:
    def __init__(self, fn, *args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


@pytest.mark.parametrize("proto", range(6))
def test_payloads_refused_by_both_layers(proto):
    for payload in (_Reduce(os.system, "true"), _Reduce(eval, "1"), _Reduce(getattr, 1, "real")):
        blob = pickle.dumps(payload, protocol=proto)
        report = _safety.verify(blob)
        assert report.verdict == "unsafe"
        (g,) = [g for g in report.globals if not g.allowed]
        assert blob[g.offset] in b"c\x93", "the offset points at the opcode naming the global"
        with pytest.raises(UnsafeModelError):
            _safety.RestrictedUnpickler(io.BytesIO(blob), "m", "f").load()


def test_compressed_and_truncated():
    import bz2
    import gzip
    import lzma

    blob = pickle.dumps(_Reduce(os.system, "true"), protocol=5)
    for comp, name in ((lzma.compress, "xz"), (gzip.compress, "gzip"), (bz2.compress, "bzip2")):
        report = _safety.verify(comp(blob))
        assert report.compression == name and report.verdict == "unsafe"
    for cut in range(1, len(blob) - 1, 7):
        assert _safety.verify(blob[:cut]).verdict in ("malformed", "unsafe")
