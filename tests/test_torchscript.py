"""The native TorchScript engine (libtorch through tch, its own shared library) against
mlflow.pyfunc and against the module called from Python torch."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import threading
import warnings
import zipfile

import mlflow
import numpy as np
import pandas as pd
import pytest

import fastpyfunc
from fastpyfunc.exceptions import InvalidInputError, ModelLoadError, SchemaEnforcementError

from conftest import assert_same, both, compare_predict, logged_warnings, require

#: The params schema each model is saved with (infer_signature's types: double, long, boolean,
#: string, and lists of long / double).
PARAMS = {
    "params": {
        "scale": 1.0,
        "n": 0,
        "flag": False,
        "name": "a, b",
        "ks": [1],
        "w": [0.5],
        "tags": ["t"],
        "bs": [False],
    },
    "tuple_gap": {"scale": 2.0},  # t, between x and scale, has a tuple default
    "int_arg": {"n": 0.5},  # a double for an int argument: Python torch refuses it
    "no_args": {"other": 1.0},  # forward has no such argument
}


def _modules(torch):
    class Linear(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(4, 3)

        def forward(self, x):
            return torch.relu(self.lin(x))

    class TwoInputsDict(torch.nn.Module):
        def forward(self, a: torch.Tensor, b: torch.Tensor) -> dict[str, torch.Tensor]:
            return {"sum": a + b, "prod": a * b}

    class TupleOut(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return x.sum(dim=1), x.to(torch.int64)

    class Params(torch.nn.Module):
        def forward(
            self,
            x: torch.Tensor,
            scale: float = 1.0,
            n: int = 0,
            flag: bool = False,
            name: str = "a, b",
            ks: list[int] | None = None,
            w: list[float] | None = None,
            tags: list[str] | None = None,
            bs: list[bool] | None = None,
        ) -> torch.Tensor:
            out = x * scale + n + float(flag) + 100.0 * len(name)
            if ks is not None:
                out = out + 1000.0 * float(sum(ks))
            if w is not None:
                out = out * sum(w)
            if tags is not None:
                out = out + 1e4 * float(len("".join(tags)))
            if bs is not None:
                for b in bs:
                    if b:
                        out = out + 1e5
            return out

    class TupleGap(torch.nn.Module):
        def forward(
            self, x: torch.Tensor, t: tuple[float, float] = (1.0, 2.0), scale: float = 1.0
        ) -> torch.Tensor:
            return x * scale + t[0]

    class Plain(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x + 1

    class IntArg(torch.nn.Module):
        def forward(self, x: torch.Tensor, n: int = 0) -> torch.Tensor:
            return x + n

    class InPlace(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x.add_(1.0)
            return x.sum(dim=1)

    class Slow(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            for _ in range(400):
                x = torch.tanh(x @ x)
            return x

    torch.manual_seed(0)
    example = torch.ones(2, 4)
    return {
        "scripted": torch.jit.script(Linear().eval()),
        "traced": torch.jit.trace(Linear().eval(), example),
        "two": torch.jit.script(TwoInputsDict()),
        "tuple": torch.jit.script(TupleOut()),
        "params": torch.jit.script(Params()),
        "tuple_gap": torch.jit.script(TupleGap()),
        "int_arg": torch.jit.script(IntArg()),
        "no_args": torch.jit.script(Plain()),
        "inplace": torch.jit.script(InPlace()),
        "slow": torch.jit.script(Slow()),
        "pickled": Linear().eval(),  # torch.save of an nn.Module: Python only
    }


@pytest.fixture(scope="module")
def ts_models(tmp_path_factory):
    torch = require("torch")
    root = tmp_path_factory.mktemp("torchscript")
    out = {}
    for name, module in _modules(torch).items():
        signature = None
        if name in PARAMS:  # params reach the model only where the signature declares them
            x = np.ones((2, 2), dtype=np.float32)
            signature = mlflow.models.infer_signature(x, x, params=PARAMS[name])
        mlflow.pytorch.save_model(
            module, str(root / name), serialization_format="pickle", signature=signature
        )
        out[name] = root / name
    return out


def _jit(path):
    """The module as a user would call it from Python torch: torch.jit.load + no_grad."""
    import torch

    module = torch.jit.load(str(path / "data" / "model.pth")).eval()

    def call(*arrays):
        with torch.no_grad():
            return module(*[torch.from_numpy(a) for a in arrays])

    return call


@pytest.mark.parametrize("name", ["scripted", "traced"])
def test_runs_natively_with_mlflows_answers(ts_models, name):
    ours = fastpyfunc.load_model(str(ts_models[name]))
    assert ours.engine == "torchscript"
    rng = np.random.default_rng(0)
    x = rng.random((5, 4), dtype=np.float32)
    compare_predict(ts_models[name], x)
    compare_predict(ts_models[name], x[:1])
    compare_predict(ts_models[name], x[:0])
    compare_predict(ts_models[name], np.asfortranarray(x))  # strided: viewed as torch.from_numpy does
    # A DataFrame is fed as float32 and answered as a DataFrame with the input's index.
    compare_predict(ts_models[name], pd.DataFrame(rng.random((3, 4)), index=[10, 20, 30]))
    # one block over a C-ordered array (copy=False): to_numpy is C-ordered there, not Fortran
    compare_predict(ts_models[name], pd.DataFrame(rng.random((5, 4)), copy=False))
    compare_predict(ts_models[name], pd.DataFrame(np.asfortranarray(rng.random((5, 4))), copy=False))


@pytest.fixture(scope="module")
def ts_columns(ts_models, tmp_path_factory):
    """The scripted Linear(4, 3) saved with a column signature over mixed dtypes."""
    import torch

    frame = _mixed_frame(4)
    module = torch.jit.load(str(ts_models["scripted"] / "data" / "model.pth"))
    out = module(torch.from_numpy(frame.to_numpy(np.float32))).detach().numpy()
    d = tmp_path_factory.mktemp("ts-columns") / "model"
    signature = mlflow.models.infer_signature(frame, out)
    mlflow.pytorch.save_model(module, str(d), serialization_format="pickle", signature=signature)
    return d


def _mixed_frame(n, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "a": rng.normal(size=n),
            "b": rng.integers(-5, 5, size=n),
            "c": rng.normal(size=n).astype(np.float32),
            "d": rng.integers(0, 3, size=n).astype(np.int32),
        }
    )


def test_tables_and_arrays_take_the_one_native_call(ts_models, ts_columns, tmp_path):
    """ndarrays, DataFrames (with and without a column signature), Arrow and polars are read,
    enforced, fed and answered in one native call; answers are mlflow's (Arrow: the Python path's
    DataFrame as Arrow)."""
    import pyarrow as pa

    pl = require("polars")
    frame = _mixed_frame(6, seed=1)
    frame.index = [5, 4, 3, 2, 1, 0]
    unsigned = (ts_models["scripted"], frame.astype(np.float64))
    for path, df in (unsigned, (ts_columns, frame), (ts_columns, frame[["d", "c", "b", "a"]])):
        ours, theirs = both(path)
        expected = theirs.predict(df.copy())
        direct = ours._native_predict(df, ours._native_plan)
        assert direct is not None
        assert_same(direct, expected)
        as_arrow = pa.Table.from_pandas(expected, preserve_index=False)
        table = pa.Table.from_pandas(df, preserve_index=False)
        got = ours._native_predict(table, ours._native_plan)
        assert isinstance(got, pa.Table) and got.equals(as_arrow), (got, as_arrow)
        got = ours._native_predict(pl.from_arrow(table), ours._native_plan)
        assert isinstance(got, pl.DataFrame) and got.to_arrow().equals(as_arrow)
        # the index stored as a column is to_pandas()'s index, never a feature (Python path)
        assert ours.predict(pa.table(df)).equals(as_arrow)
    # records, a dict of columns, one row dict and a Series: mlflow's DataFrame of them, read in
    # the same call (the columns' types are what Python's float and int become: double, long)
    import torch

    wide = frame.astype({"c": np.float64, "d": np.int64})
    module = torch.jit.load(str(ts_models["scripted"] / "data" / "model.pth"))
    d = tmp_path / "doubles-longs"
    signature = mlflow.models.infer_signature(wide)
    mlflow.pytorch.save_model(module, str(d), serialization_format="pickle", signature=signature)
    ours, theirs = both(d)
    records = wide.to_dict("records")
    for data in (records, wide.to_dict("list"), records[0]):
        direct = ours._native_predict(data, ours._native_plan)
        assert direct is not None, data
        assert_same(direct, theirs.predict(data))
    ours, theirs = both(ts_models["scripted"])
    x = np.random.default_rng(2).random((3, 4), dtype=np.float32)
    direct = ours._native_predict(x, ours._native_plan)
    assert direct is not None
    assert_same(direct, theirs.predict(x))
    # structured outputs of a table input: the Python path's tuple, in the same call
    ours, _ = both(ts_models["tuple"])
    df = pd.DataFrame({"p": [1.0, 2.0], "q": [3.0, 4.0]})
    got = ours._native_predict(df, ours._native_plan)
    expected = tuple(t.numpy() for t in _jit(ts_models["tuple"])(df.to_numpy(np.float32)))
    assert_same(got, expected)


def test_frames_under_a_tensor_signature_are_to_numpy_in_one_call(ts_models, tmp_path):
    """mlflow's enforcement turns a frame of scalar columns into ``df.to_numpy()`` for a tensor
    signature; the wrapper then answers as for an ndarray. Done natively, with the same bits."""
    import pyarrow as pa
    import torch

    module = torch.jit.load(str(ts_models["scripted"] / "data" / "model.pth"))
    x = np.random.default_rng(7).random((5, 4), dtype=np.float32)
    d = tmp_path / "model"
    signature = mlflow.models.infer_signature(x, module(torch.from_numpy(x)).detach().numpy())
    mlflow.pytorch.save_model(module, str(d), serialization_format="pickle", signature=signature)
    ours, theirs = both(d)
    df = pd.DataFrame(x, columns=list("abcd"), index=[4, 3, 2, 1, 0])
    expected = theirs.predict(df.copy())
    assert isinstance(expected, np.ndarray)
    for data in (df, pa.Table.from_pandas(df, preserve_index=False)):
        direct = ours._native_predict(data, ours._native_plan)
        assert direct is not None
        assert_same(direct, expected)
    # float64 beside float32 is a float64 array: mlflow refuses it, in the Python path's words
    mixed = df.astype({"a": np.float64})
    assert ours._native_predict(mixed, ours._native_plan) is None
    with pytest.raises(mlflow.exceptions.MlflowException, match="does not match expected dtype"):
        theirs.predict(mixed.copy())
    with pytest.raises(SchemaEnforcementError, match="does not match expected dtype"):
        ours.predict(mixed)


@pytest.mark.parametrize("shape", [(-1,), (-1, 1)])
def test_one_column_under_a_vector_signature_is_fed_in_one_call(ts_models, tmp_path, shape):
    """One column (a frame's, a Series', an Arrow array's) under a ``(-1,)`` or ``(-1, 1)`` spec
    of its own type: mlflow's ``np.array(series, dtype).reshape(shape)``, done natively."""
    import pyarrow as pa
    import torch
    from mlflow.models import ModelSignature
    from mlflow.types import Schema, TensorSpec

    module = torch.jit.load(str(ts_models["no_args"] / "data" / "model.pth"))  # x + 1
    d = tmp_path / "model"
    signature = ModelSignature(inputs=Schema([TensorSpec(np.dtype("float32"), shape)]))
    mlflow.pytorch.save_model(module, str(d), serialization_format="pickle", signature=signature)
    ours, theirs = both(d)
    values = np.float32([0.5, -1.25, 3.0])
    frame = pd.DataFrame({"v": values})
    for data, pandas_form in (
        (frame, frame),
        (frame["v"], frame["v"]),
        (pa.table(frame), frame),
        (pa.array(values), pd.Series(values)),
    ):
        expected = theirs.predict(pandas_form.copy())
        assert expected.shape == (3,) + shape[1:]
        direct = ours._native_predict(data, ours._native_plan)
        assert direct is not None, type(data)
        assert_same(direct, expected)


def test_frames_are_cast_to_float32_as_to_numpy_does(ts_columns):
    """``to_numpy(dtype=float32)`` rounds an int64 once (not through float64): 16777217 * 2**30 + 1
    lands on a different float32 than float64 would give it."""
    frame = _mixed_frame(2)
    frame["b"] = np.array([16777217 * 2**30 + 1, -(16777217 * 2**30 + 1)], dtype=np.int64)
    ours, theirs = both(ts_columns)
    assert ours._native_predict(frame, ours._native_plan) is not None
    assert_same(ours.predict(frame.copy()), theirs.predict(frame.copy()))


def test_overflow_in_the_float32_cast_warns_as_to_numpy_does(ts_columns):
    """``to_numpy(dtype=float32)`` warns "overflow encountered in cast" for a finite float64
    beyond float32's range; the native assembly warns alike."""
    import warnings

    frame = _mixed_frame(2)
    frame.loc[0, "a"] = 1e300
    ours, theirs = both(ts_columns)
    with pytest.warns(RuntimeWarning, match="overflow encountered in cast"):
        expected = theirs.predict(frame.copy())
    with pytest.warns(RuntimeWarning, match="overflow encountered in cast"):
        assert ours._native_predict(frame, ours._native_plan) is not None
    with pytest.warns(RuntimeWarning, match="overflow encountered in cast"):
        assert_same(ours.predict(frame.copy()), expected)
    frame.loc[0, "a"] = np.inf
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert_same(ours.predict(frame.copy()), theirs.predict(frame.copy()))


def test_arrow_predict_on_torchscript_imports_neither_pandas_nor_mlflow(ts_columns):
    code = f"""
import sys

class Hide:  # pandas and mlflow look uninstalled: importing either fails
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("pandas", "mlflow"):
            raise ModuleNotFoundError(name)

sys.meta_path.insert(0, Hide())
import pyarrow as pa
import fastpyfunc
m = fastpyfunc.load_model({str(ts_columns)!r})
t = pa.table({{"a": [1.0, 2.0], "b": [1, 2], "c": pa.array([0.5, 1.5], pa.float32()),
               "d": pa.array([1, 0], pa.int32())}})
out = m.predict(t)
assert isinstance(out, pa.Table) and out.column_names == ["0", "1", "2"], out
print("ok")
"""
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0 and res.stdout.strip() == "ok", res.stderr[-3000:]


def test_pickled_modules_and_pt2_stay_in_python(ts_models, torch_pt2_model):
    plan = fastpyfunc.load_model(str(ts_models["pickled"]), trust_code=True)
    assert plan.engine != "torchscript"
    x = np.ones((2, 4), dtype=np.float32)
    compare_predict(ts_models["pickled"], x, trust_code=True)
    assert fastpyfunc.load_model(str(torch_pt2_model), trust_code=True).engine != "torchscript"


def test_two_inputs_and_dict_output_beyond_mlflow(ts_models):
    """mlflow passes one tensor (so a 2-input module raises there); fastpyfunc feeds a list of
    arrays as forward's arguments and returns the dict as arrays. Compared with Python torch."""
    ours, theirs = both(ts_models["two"])
    a, b = np.arange(4, dtype=np.float32), np.full(4, 3, dtype=np.float32)
    with pytest.raises(Exception):  # noqa: B017, PT011 - mlflow cannot feed two inputs
        theirs.predict(a)
    got = ours.predict([a, b])
    expected = {k: v.numpy() for k, v in _jit(ts_models["two"])(a, b).items()}
    assert_same(dict(sorted(got.items())), dict(sorted(expected.items())))


def test_tuple_output(ts_models):
    ours, theirs = both(ts_models["tuple"])
    x = np.random.default_rng(1).random((3, 2)) * 10
    with pytest.raises(TypeError, match="single output tensor"):
        theirs.predict(x)
    got = ours.predict(x)
    expected = tuple(t.numpy() for t in _jit(ts_models["tuple"])(x))
    assert_same(got, expected)


def test_params_are_keyword_arguments(ts_models, caplog):
    """With a params schema, mlflow calls forward(x, **params) with the schema's defaults filled
    in. The engine binds them to forward's arguments itself: same answers, no Python torch."""
    ours, theirs = both(ts_models["params"])
    assert ours.engine == "torchscript"
    x = np.arange(4, dtype=np.float32).reshape(2, 2)
    calls = [
        None,
        {"scale": 2.5},
        {"n": 7, "flag": True},
        {"name": 'é"\\', "ks": [1, 2, 3], "w": [0.5, 0.25]},
        {"scale": 3, "ks": [], "w": [2]},  # an int for a float argument, an empty list
        {"tags": ["x", "yz", ""], "bs": [True, False, True]},  # str and bool lists
        {"flag": True, "n": 2, "scale": -1.5, "name": ""},  # any order
    ]
    with warnings.catch_warnings(), caplog.at_level(logging.WARNING):
        warnings.simplefilter("error")
        for params in calls:
            assert_same(ours.predict(x, params=params), theirs.predict(x, params=params))
    assert logged_warnings(caplog) == []  # no fallback to Python torch, no dropped params
    # A param the schema does not declare (here "device") is dropped before the model sees it.
    assert_same(ours.predict(x, params={"device": "cpu"}), theirs.predict(x, params={"device": "cpu"}))


def test_params_take_the_one_native_call(ts_models, caplog):
    """Input, signature, params and forward in one native call, for arrays, frames and Arrow:
    mlflow's answers, its warnings logged once (a Python path would enforce, and log, again), and
    a bad param raises mlflow's message keyed by the param."""
    import pyarrow as pa

    ours, theirs = both(ts_models["params"])
    x = np.arange(4, dtype=np.float32).reshape(2, 2)
    # separate contiguous columns (one 2-D block would be a Fortran view: the Python path's case)
    df = pd.DataFrame({"p": x[:, 0].copy(), "q": x[:, 1].copy()})
    for params in (None, {"scale": 2.5, "ks": [1, 2]}, {"n": 7, "flag": True, "name": "é"}):
        expected = theirs.predict(x.copy(), params=params)
        for data in (x, df, pa.table(df)):
            direct = ours._native_call(data, params)
            assert direct is not None, type(data)
            assert_same(direct, expected)

    caplog.clear()
    given = {"scale": 2.0, "bogus": 1}
    with caplog.at_level(logging.WARNING):
        got = ours.predict(df, params=given)
        expected = theirs.predict(df.copy(), params=given)
    assert_same(got, expected)
    ours_warned = logged_warnings(caplog)
    assert len(ours_warned) == 1 and "bogus" in ours_warned[0]
    assert ours_warned == logged_warnings(caplog, "mlflow.models.utils")

    with pytest.raises(SchemaEnforcementError, match="Failed to validate type and shape") as info:
        ours.predict(x, params={"n": "seven"})
    assert info.value.key == "n" and str(ts_models["params"]) in str(info.value)
    with pytest.raises(Exception, match="Failed to validate type and shape"):  # noqa: PT011
        theirs.predict(x, params={"n": "seven"})


def test_params_python_alone_converts_run_through_python_torch(ts_models, caplog):
    """A gap before the last param with a tuple default: only Python torch converts it, so that
    call runs there, with a warning naming why, and gives mlflow's answer."""
    ours, theirs = both(ts_models["tuple_gap"])
    x = np.ones((2, 2), dtype=np.float32)
    with caplog.at_level(logging.WARNING, logger="fastpyfunc"):
        got = ours.predict(x, params={"scale": 3.0})
    assert any("'t' has the default" in m for m in logged_warnings(caplog))
    assert_same(got, theirs.predict(x, params={"scale": 3.0}))
    np.testing.assert_array_equal(got, 4.0)


@pytest.mark.parametrize(
    ("name", "key", "message"),
    [
        ("int_arg", "n", "Expected a value of type 'int' for argument 'n' but instead found type 'float'"),
        ("no_args", "other", "forward\\(\\) has no argument named 'other'"),
    ],
)
def test_params_forward_refuses(ts_models, name, key, message):
    """mlflow raises torch's RuntimeError; fastpyfunc names the model and the param."""
    ours, theirs = both(ts_models[name])
    x = np.ones((2, 2), dtype=np.float32)
    with pytest.raises(Exception):  # noqa: B017, PT011 - torch's RuntimeError
        theirs.predict(x)
    with pytest.raises(InvalidInputError, match=message) as info:
        ours.predict(x)
    assert info.value.key == key
    assert str(ts_models[name]) in str(info.value)


def test_inputs_are_lent_without_a_copy(ts_models):
    """The engine sees the caller's own buffer: an in-place op in forward writes into it, as it
    does under mlflow (torch.from_numpy shares memory too); a converted array is left alone."""
    ours, theirs = both(ts_models["inplace"])
    for model in (ours, theirs):
        x = np.zeros((2, 3), dtype=np.float32)
        model.predict(x)
        np.testing.assert_array_equal(x, np.ones((2, 3)))
    x = np.asfortranarray(np.zeros((2, 3), dtype=np.float32))  # strided: viewed too
    ours.predict(x)
    np.testing.assert_array_equal(x, 1.0)
    x = np.zeros((2, 3), dtype=">f4")  # byte-swapped: converted once, the caller's left alone
    np.testing.assert_array_equal(ours.predict(x), [3.0, 3.0])
    np.testing.assert_array_equal(x, 0.0)


def test_bad_inputs(ts_models):
    root = ts_models["scripted"]
    ours, theirs = both(root)
    for bad in (
        [[1.0, 2.0, 3.0, 4.0]],
        {"x": np.ones(4)},
        "text",
        np.array([["a", "b", "c", "d"]], dtype=object),
    ):
        with pytest.raises((TypeError, mlflow.exceptions.MlflowException)) as their_err:
            theirs.predict(bad)
        with pytest.raises(InvalidInputError) as err:
            ours.predict(bad)
        assert str(root) in str(err.value)
        # where mlflow raises TypeError, ours is one too (code written for mlflow still catches it)
        assert isinstance(err.value, TypeError) == isinstance(their_err.value, TypeError), bad
    # Wrong dtype and shape reach libtorch in both; ours names the model.
    for bad in (np.ones((2, 4)), np.ones((2, 5), dtype=np.float32)):
        with pytest.raises(RuntimeError):
            theirs.predict(bad)
        with pytest.raises(fastpyfunc.exceptions.PredictionError) as err:
            ours.predict(bad)
        assert str(root) in str(err.value)


def test_corrupt_archive_is_a_clear_error(ts_models, tmp_path):
    d = tmp_path / "m"
    shutil.copytree(ts_models["scripted"], d)
    pth = d / "data" / "model.pth"
    with zipfile.ZipFile(pth) as z:
        entries = {n: z.read(n) for n in z.namelist()}
    with zipfile.ZipFile(pth, "w") as z:
        for n, data in entries.items():
            z.writestr(
                n,
                b"def forward(self, x):\n  return ??? garbage\n"
                if "/code/" in n and n.endswith(".py")
                else data,
            )
    with pytest.raises(ModelLoadError) as err:
        fastpyfunc.load_model(str(d))
    assert str(pth) in str(err.value)


def test_many_threads(ts_models):
    model = fastpyfunc.load_model(str(ts_models["scripted"]))
    expected = _jit(ts_models["scripted"])
    xs = [np.random.default_rng(i).random((i % 5 + 1, 4), dtype=np.float32) for i in range(8)]
    wants = [expected(x).numpy() for x in xs]
    errors = []

    def work(i):
        for _ in range(200):
            got = model.predict(xs[i])
            if not np.array_equal(got, wants[i]):
                errors.append(i)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_gil_is_released(ts_models):
    model = fastpyfunc.load_model(str(ts_models["slow"]))
    x = np.full((64, 64), 0.01, dtype=np.float32)
    done = threading.Event()
    ticks = 0

    def run():
        model.predict(x)
        done.set()

    t = threading.Thread(target=run)
    t.start()
    while not done.is_set():
        ticks += 1
    t.join()
    assert ticks > 1000, ticks


def test_predict_does_not_import_torch(ts_models):
    code = f"""
import sys, numpy as np, fastpyfunc
m = fastpyfunc.load_model({str(ts_models["scripted"])!r})
out = m.predict(np.ones((3, 4), dtype=np.float32))
assert out.shape == (3, 3), out
p = fastpyfunc.load_model({str(ts_models["params"])!r})  # params bound natively
out = p.predict(np.ones((1, 2), dtype=np.float32), params={{"n": 5, "ks": [2], "w": [1.0]}})
assert out.tolist() == [[12406.0, 12406.0]], out  # 1 + 5 + 100*4 + 1000*2 + 1e4*len("t")
print(sorted(k for k in ("torch", "mlflow", "pandas") if k in sys.modules))
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.strip().splitlines()[-1] == "[]"


def test_without_the_engine_python_torch_runs_it_with_a_warning(ts_models):
    code = f"""
import logging, numpy as np, fastpyfunc
class Keep(logging.Handler):
    def emit(self, record):
        w.append(record.getMessage())
w = []
logging.getLogger("fastpyfunc").addHandler(Keep(logging.WARNING))
m = fastpyfunc.load_model({str(ts_models["scripted"])!r})
print(m.predict(np.ones((2, 4), dtype=np.float32)).tolist())
print(w)
"""
    env = {**os.environ, "FASTPYFUNC_TORCH_ENGINE": "/nonexistent/libfastpyfunc_torch.so"}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    values, warned = r.stdout.strip().splitlines()[-2:]
    expected = _jit(ts_models["scripted"])(np.ones((2, 4), dtype=np.float32)).numpy().tolist()
    assert eval(values) == expected  # noqa: S307 - our own subprocess's list
    assert "Python torch.jit" in warned and "is missing" in warned
