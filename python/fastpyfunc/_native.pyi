"""Private native module (Rust): load-time helpers (typed results) and the engines.

Checked against the built module by ``mypy.stubtest`` in ``make lint``.
"""

from typing import Any, final

from typing_extensions import disjoint_base

__version__: str
__all__ = [
    "__version__",
    "load_model_info",
    "ModelInfo",
    "LoadPlan",
    "NativeRoute",
    "SklearnRoute",
    "LoaderModuleRoute",
    "read_yaml",
    "classify_uri",
    "load_onnx",
    "OnnxModel",
    "load_savedmodel",
    "SavedModel",
    "load_torchscript",
    "torch_cuda_available",
    "check_torchscript_archive",
    "TorchScriptModel",
    "NeedsPython",
    "EnforcePlan",
    "ParamPlan",
    "ParamError",
    "NestedType",
    "nan_int_hint",
    "scalar_action",
    "frame_to_tensors",
    "ColumnAction",
    "all_zero_or_one",
    "nan_and_integers",
    "verify_pickle",
    "PickleReport",
    "PickleGlobal",
    "PickleCode",
    "PickleFinding",
    "onnx_external_data",
    "safety_allowlist",
]

@final
class NativeRoute:
    """Run by a native engine."""

    @property
    def engine(self) -> str:
        """``"onnx"``, ``"torchscript"`` or ``"savedmodel"``."""
    @property
    def artifact(self) -> str:
        """The file or directory the engine loads."""

@final
class SklearnRoute:
    """scikit-learn, loaded by fastpyfunc itself."""

    @property
    def model_file(self) -> str: ...
    @property
    def format(self) -> str:
        """``"pickle"``, ``"cloudpickle"`` or ``"skops"``."""
    @property
    def trusted_types(self) -> list[str] | None: ...

@final
class LoaderModuleRoute:
    """Any other flavor, loaded by ``module._load_pyfunc``."""

    @property
    def module(self) -> str: ...

@final
class LoadPlan:
    """How a model is loaded."""

    @property
    def loader_module(self) -> str: ...
    @property
    def data_path(self) -> str: ...
    @property
    def code_path(self) -> str | None: ...
    @property
    def predict_fn(self) -> str: ...
    @property
    def predict_stream_fn(self) -> str | None: ...
    @property
    def route(self) -> NativeRoute | SklearnRoute | LoaderModuleRoute: ...

@final
class ModelInfo:
    """An MLmodel read and planned once."""

    @property
    def root(self) -> str: ...
    @property
    def mlmodel(self) -> dict[str, Any]:
        """The MLmodel mapping as plain Python values."""
    @property
    def signature(self) -> dict[str, Any] | None:
        """``{inputs, outputs, params}`` in canonical form, or None."""
    @property
    def plan(self) -> LoadPlan: ...
    def input_plan(self) -> EnforcePlan | None:
        """The input schema's enforcement plan, compiled from the signature parsed at load."""
    def param_plan(self) -> ParamPlan | None:
        """The params plan, built from the signature parsed at load; a default that does not fit
        its spec raises ParamError."""

def load_model_info(model_dir: str) -> ModelInfo:
    """Reads ``<model_dir>/MLmodel``, parses its signature and plans the load."""

def read_yaml(path: str) -> Any:
    """A YAML file, read under MLmodel's resource limits, as plain Python values."""

def classify_uri(model_uri: str) -> tuple[str, str]:
    """``("local", path)`` or ``("remote", scheme)``."""

_Port = tuple[str, str, list[int] | None]

@final
class OnnxModel:
    """A loaded ONNX Runtime session."""

    @property
    def inputs(self) -> list[_Port]:
        """``[(name, onnx type, dims)]`` of the graph inputs (-1 for open dimensions)."""
    @property
    def outputs(self) -> list[_Port]:
        """``[(name, onnx type, dims)]`` of the graph outputs."""
    @property
    def providers(self) -> list[str]:
        """Execution providers the session runs with."""
    def run(self, feeds: dict[str, Any]) -> dict[str, Any]:
        """``{output name: value}`` for ``{input name: array-like}``; the GIL is released."""
    def predict(
        self,
        data: Any,
        plan: EnforcePlan | None = None,
        params: Any = None,
        param_plan: ParamPlan | None = None,
    ) -> Any | None:
        """The whole predict in one call: reads ``data`` (ndarray, pandas DataFrame, Arrow),
        enforces ``plan``, then ``params`` with ``param_plan`` (raising ``ParamError``; mlflow's
        wrapper ignores them), runs the session with the GIL released and returns what mlflow
        returns (Arrow in, Arrow out). None where mlflow's rules need pandas for this input, or
        for params given to a model without a params schema."""
    def _last_feed_addrs(self) -> list[int]: ...

def load_onnx(
    model_file: str, library: str, flavor: dict[str, Any] | None, mlmodel_path: str
) -> tuple[OnnxModel, list[str]]:
    """Loads an ONNX model with the onnxruntime library at ``library``; returns the model and the
    warnings its load produced."""

@final
class EnforcePlan:
    """A signature's input schema compiled into mlflow's enforcement decisions."""

    def __new__(cls, inputs: list[dict[str, Any]]) -> EnforcePlan:
        """Compiles an input schema's canonical form (``Schema.to_dict()``)."""
    @property
    def kind(self) -> str:
        """``"columns"`` or ``"tensors"``."""
    @property
    def named(self) -> bool: ...
    @property
    def dict_is_row(self) -> bool:
        """Whether a dict input is one row rather than columns (column signatures only)."""
    @property
    def names(self) -> list[str | None]: ...
    @property
    def types(self) -> list[str | dict[str, Any]]:
        """Each column's type: a DataType name, or a nested type's canonical dict."""
    @property
    def tensor_specs(self) -> list[tuple[str | None, str, list[int]]]: ...
    def match_columns(self, labels: list[str]) -> tuple[list[tuple[int, int]], list[str], bool]:
        """``(take, extras, identity)``; raises ValueError with mlflow's message."""
    def column_action(self, index: int, label: str, dtype: Any, inferred: bool) -> ColumnAction:
        """mlflow's decision for schema column ``index`` fed a column of this numpy/pandas dtype."""
    def check_tensor(
        self, index: int, shape: list[int], dtype_name: str, native_order: bool, dtype_text: str
    ) -> str | None:
        """None when the array fits spec ``index``, else mlflow's message."""

class ParamError(Exception):
    """A param (or a default) failed validation: the message is mlflow's."""

    key: str | None
    """The param at fault (the first in schema order), or ``"params"``."""

@final
class ParamPlan:
    """A params schema with mlflow's ``_enforce_params_schema``; defaults validated at creation."""

    def __new__(cls, specs: list[dict[str, Any]]) -> ParamPlan:
        """Builds the plan from the params schema's canonical form (``ParamSchema.to_dict()``)."""
    def __call__(self, params: Any) -> dict[str, Any]:
        """The params the model gets; raises ParamError with mlflow's message."""

@final
class NestedType:
    """A nested type (Array, Object, Map, Any) compiled once: mlflow's ``_enforce_type``."""

    def __new__(cls, ty: str | dict[str, Any]) -> NestedType:
        """From mlflow's dict form of the type, or a DataType's name."""
    def __call__(self, data: Any, required: bool = True) -> Any:
        """The value the model gets; raises ``_columns.Failure`` with mlflow's message, or
        ``_columns.PandasFailure`` with what pandas or numpy raised."""

def frame_to_tensors(plan: EnforcePlan, df: Any) -> Any:
    """mlflow's ``_enforce_tensor_schema`` for a pandas DataFrame: ``{name: array}`` for named
    specs (columns already matched), else the one array; raises ``_columns.Failure``."""

def nan_int_hint() -> str: ...
def scalar_action(type_name: str, dtype: Any, inferred: bool) -> ColumnAction:
    """``EnforcePlan.column_action`` for a DataType named ``type_name`` (nested cells)."""

@disjoint_base
class ColumnAction:
    """What happens to one input column (mlflow's ``_enforce_mlflow_datatype``)."""

    def __repr__(self) -> str: ...

    @final
    class Keep(ColumnAction):
        __match_args__ = ()
        def __new__(cls) -> ColumnAction.Keep: ...

    @final
    class Cast(ColumnAction):
        __match_args__ = ("to",)
        def __new__(cls, to: str) -> ColumnAction.Cast: ...
        @property
        def to(self) -> str: ...

    @final
    class CastDatetime(ColumnAction):
        __match_args__ = ()
        def __new__(cls) -> ColumnAction.CastDatetime: ...

    @final
    class CastObjectDatetime(ColumnAction):
        __match_args__ = ("message",)
        def __new__(cls, message: str) -> ColumnAction.CastObjectDatetime: ...
        @property
        def message(self) -> str: ...

    @final
    class ToNumeric(ColumnAction):
        __match_args__ = ("message",)
        def __new__(cls, message: str) -> ColumnAction.ToNumeric: ...
        @property
        def message(self) -> str: ...

    @final
    class InferObjects(ColumnAction):
        __match_args__ = ()
        def __new__(cls) -> ColumnAction.InferObjects: ...

    @final
    class CastIfZeroOne(ColumnAction):
        __match_args__ = ("to", "message")
        def __new__(cls, to: str, message: str) -> ColumnAction.CastIfZeroOne: ...
        @property
        def to(self) -> str: ...
        @property
        def message(self) -> str: ...

    @final
    class Reject(ColumnAction):
        __match_args__ = ("message", "nan_int_hint")
        def __new__(cls, message: str, nan_int_hint: bool) -> ColumnAction.Reject: ...
        @property
        def message(self) -> str: ...
        @property
        def nan_int_hint(self) -> bool: ...

    @final
    class Nested(ColumnAction):
        __match_args__ = ()
        def __new__(cls) -> ColumnAction.Nested: ...

def all_zero_or_one(values: Any) -> bool: ...
def nan_and_integers(values: Any) -> bool: ...

@final
class SavedModel:
    """A TensorFlow SavedModel signature, run through the C API."""

    @property
    def inputs(self) -> list[tuple[str, str, list[int]]]:
        """``[(key, numpy dtype, dims)]`` of the signature inputs, in ``run`` order."""
    @property
    def outputs(self) -> list[tuple[str, str, list[int]]]: ...
    def run(self, arrays: list[Any]) -> dict[str, Any]:
        """``{output key: array}`` for one array per input; the GIL is released."""
    def predict_module(
        self,
        data: Any,
        plan: EnforcePlan | None = None,
        params: Any = None,
        param_plan: ParamPlan | None = None,
    ) -> Any | None:
        """A ``tf2-module`` predict in one call: the output array (or ``{key: array}``) for an
        ndarray, ``params`` enforced with ``param_plan`` and then ignored as mlflow ignores them;
        None where mlflow's rules need Python for this input."""
    def predict_keras(
        self,
        data: Any,
        plan: EnforcePlan | None = None,
        params: Any = None,
        param_plan: ParamPlan | None = None,
    ) -> Any | None:
        """mlflow.keras' exported-model predict in one call: the output array for an ndarray or
        a frame under a tensor signature, ``params`` enforced and ignored; None where mlflow's
        rules need Python for this input."""
    def predict_signature(
        self,
        data: Any,
        plan: EnforcePlan | None = None,
        params: Any = None,
        param_plan: ParamPlan | None = None,
    ) -> Any | None:
        """mlflow's ``_TF2Wrapper`` (a ``tf1-estimator`` signature) in one call for a pandas
        DataFrame whose columns are the signature's inputs: ``pd.DataFrame.from_dict`` of the
        outputs; ``params`` enforced and ignored; None for anything else."""

def load_savedmodel(dir: str, tags: list[str], signature_key: str, library_dir: str) -> SavedModel:
    """Loads a SavedModel with the TensorFlow libraries in ``library_dir``."""

@final
class NeedsPython:
    """``TorchScriptModel.run``'s answer when only Python torch converts these params as Python does."""

    @property
    def reason(self) -> str: ...

@final
class TorchScriptModel:
    """A TorchScript module, run by the separately built TorchScript engine library."""

    @property
    def device(self) -> str: ...
    def run(
        self, arrays: list[Any], params: dict[str, Any] | None = None
    ) -> tuple[str, list[tuple[str | None, Any]]] | NeedsPython:
        """forward(*arrays, **params) under no_grad: ``("tensor" | "tuple" | "list" | "dict", [(key, array)])``,
        or ``NeedsPython`` when only Python torch converts these params as Python does."""
    def predict(
        self,
        data: Any,
        plan: EnforcePlan | None = None,
        params: Any = None,
        param_plan: ParamPlan | None = None,
    ) -> Any | None:
        """A whole predict in one call (mlflow's PyTorch wrapper rules): ``params`` enforced
        with ``param_plan`` and passed as forward's keyword arguments; the output array (or dict,
        tuple, list of them), ``DataFrame(out, index=df.index)`` for a DataFrame (Arrow for Arrow
        input); None where mlflow's rules need Python for this input or these params."""

def load_torchscript(path: str, device: str, engine_lib: str, torch_lib_dir: str) -> TorchScriptModel:
    """Loads a TorchScript archive on ``device``, opening the engine (and libtorch) on first use."""

def check_torchscript_archive(path: str) -> tuple[str, str] | None:
    """Checks a TorchScript archive's entry sizes and printed code nesting before anything reads
    it: None when it passes, else ``(entry, reason)`` (entry empty when the whole file is at fault)."""

def torch_cuda_available(engine_lib: str, torch_lib_dir: str) -> bool:
    """Whether libtorch, opened through the engine library, sees a CUDA device."""

def onnx_external_data(model_file: str) -> list[tuple[str, str]] | None:
    """``(tensor, location)`` for every external-data file the ONNX model names; None when the
    file is not readable as ONNX."""

@final
class PickleGlobal:
    """One global a pickle references (its first occurrence; ``count`` in all)."""

    @property
    def module(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def offset(self) -> int:
        """Byte offset of the first opcode naming it (into the decompressed stream)."""
    @property
    def count(self) -> int: ...
    @property
    def allowed(self) -> bool: ...

@final
class PickleCode:
    """Code a pickle would build at load time."""

    @property
    def kind(self) -> str:
        """``"code"``, ``"function"`` or ``"class"``."""
    @property
    def name(self) -> str | None: ...
    @property
    def origin(self) -> str:
        """Its file name (code objects) or the global that builds it."""
    @property
    def offset(self) -> int: ...

@final
class PickleFinding:
    """Why a pickle is refused or cannot be read, and where."""

    def __new__(cls, offset: int, message: str) -> PickleFinding: ...
    @property
    def offset(self) -> int: ...
    @property
    def message(self) -> str: ...

@final
class PickleReport:
    """What the verifier found in one pickle stream."""

    @property
    def verdict(self) -> str:
        """``"safe"``, ``"unsafe"`` or ``"malformed"``."""
    @property
    def protocol(self) -> int: ...
    @property
    def compression(self) -> str | None:
        """``"xz"``, ``"gzip"``, ``"bzip2"`` or ``"zlib"`` when the file was compressed."""
    @property
    def plain(self) -> bytes | None:
        """The decompressed stream that was verified; None when the file was not compressed."""
    @property
    def globals(self) -> list[PickleGlobal]: ...
    @property
    def code_objects(self) -> list[PickleCode]: ...
    @property
    def findings(self) -> list[PickleFinding]: ...
    @property
    def malformed(self) -> PickleFinding | None: ...
    @property
    def end(self) -> int:
        """Offset just past STOP."""
    @property
    def joblib_arrays(self) -> list[tuple[int, bool, int]]:
        """``(offset, object, bytes)`` of every joblib array, in file order."""

def verify_pickle(data: bytes) -> PickleReport:
    """Verifies pickle bytes (xz/gzip/bzip2/zlib-compressed or not) without running them."""

def safety_allowlist() -> list[tuple[str, str]]:
    """The exact (module, name) pairs a verified pickle may reference."""
