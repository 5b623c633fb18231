"""Signature objects with mlflow's method names, built from the schema the Rust core parsed.

Types are reported as mlflow's JSON names (``"double"``, ``{"type": "array", ...}``) and tensor
dtypes as numpy dtype names, so no numpy or mlflow import is needed. ``as_mlflow()`` converts to
mlflow's own classes when mlflow is installed; each object also compares equal to mlflow's equivalent.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any


def _same(ours: Any, other: object, cls: type) -> bool:
    """``ours == other`` for one of our classes, also against mlflow's class of the same name
    (compared in the JSON form both write), so a loaded model's signature equals the one mlflow
    builds. mlflow is never imported here: its objects are recognised by module and name."""
    if isinstance(other, cls):
        return bool(ours.to_dict() == other.to_dict())  # type: ignore[attr-defined]
    kind = type(other)
    if kind.__name__ != cls.__name__ or not kind.__module__.startswith("mlflow."):
        return False
    return bool(_json_form(ours.to_dict()) == _json_form(other.to_dict()))  # type: ignore[attr-defined]


def _json_form(value: Any) -> Any:
    """JSON strings (a signature's parts) parsed, tuples as lists: the form both sides share."""
    if isinstance(value, str) and value[:1] in ("[", "{"):
        return json.loads(value)
    if isinstance(value, dict):
        return {k: _json_form(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_form(v) for v in value]
    return value


class ColSpec:
    """One column: ``type`` is a DataType name or a nested type dict (array/object/map/any)."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self._spec = spec
        # Not always a str: mlflow's infer_signature names unnamed DataFrame columns 0, 1, ...
        # and mlflow keeps the value as written (so does its repr: ``0: long (required)``).
        self.name: Any = spec.get("name")
        self.required: bool = bool(spec.get("required", True))
        kind = spec["type"]
        self.type: str | dict[str, Any] = (
            kind
            if kind not in ("array", "object", "map", "any", "sparkml_vector")
            else {k: v for k, v in spec.items() if k not in ("name", "required")}
        )

    def to_dict(self) -> dict[str, Any]:
        return dict(self._spec)

    def __eq__(self, other: object) -> bool:
        return _same(self, other, ColSpec)

    def __repr__(self) -> str:  # mlflow's ColSpec repr, which enforcement errors quote
        req = "required" if self.required else "optional"
        kind = _type_repr(self.type)
        return f"{kind} ({req})" if self.name is None else f"{self.name!r}: {kind} ({req})"


def _type_repr(t: str | dict[str, Any]) -> str:
    """``repr()`` of mlflow's type objects: ``double``, ``Array(long)``, ``{a: long (required)}``..."""
    if isinstance(t, str):
        return t
    kind = t["type"]
    if kind == "array":
        return f"Array({_type_repr(t['items'])})"
    if kind == "object":
        props = sorted(t.get("properties", {}).items())
        inner = ", ".join(
            f"{n}: {_type_repr(p)} ({'required' if p.get('required', True) else 'optional'})"
            for n, p in props
        )
        return "{" + inner + "}"
    if kind == "map":
        values = t["values"]
        scalar = values.get("type") not in ("array", "object", "map", "any", "sparkml_vector")
        # mlflow formats the value type with str(): DataType members print as DataType.<name>
        return f"Map(str -> {'DataType.' + values['type'] if scalar else _type_repr(values)})"
    if kind == "any":
        return "Any"
    if kind == "sparkml_vector":
        return "SparkML vector"
    return kind if isinstance(kind, str) else repr(t)


class TensorSpec:
    """One tensor: ``type`` is the numpy dtype name, ``shape`` uses -1 for variable dimensions."""

    required = True

    def __init__(self, spec: dict[str, Any]) -> None:
        self._spec = spec
        self.name: str | None = spec.get("name")
        self.type: str = spec["tensor-spec"]["dtype"]
        self.shape: tuple[int, ...] = tuple(spec["tensor-spec"]["shape"])

    def to_dict(self) -> dict[str, Any]:
        return dict(self._spec)

    def __eq__(self, other: object) -> bool:
        return _same(self, other, TensorSpec)

    def __repr__(self) -> str:
        tensor = f"Tensor({self.type!r}, {self.shape!r})"
        return tensor if self.name is None else f"{self.name!r}: {tensor}"


class Schema:
    """Inputs or outputs of a signature: all ColSpec or all TensorSpec."""

    def __init__(self, specs: list[dict[str, Any]]) -> None:
        self.inputs: list[ColSpec | TensorSpec] = [
            TensorSpec(s) if s.get("type") == "tensor" else ColSpec(s) for s in specs
        ]

    def __len__(self) -> int:
        return len(self.inputs)

    def __iter__(self) -> Iterator[ColSpec | TensorSpec]:
        return iter(self.inputs)

    def is_tensor_spec(self) -> bool:
        return bool(self.inputs) and isinstance(self.inputs[0], TensorSpec)

    def has_input_names(self) -> bool:
        return bool(self.inputs) and self.inputs[0].name is not None

    # mlflow writes ``x.name or i``: a falsy name (0, "") gives the position, as there.
    def input_names(self) -> list[str | int]:
        return [s.name or i for i, s in enumerate(self.inputs)]

    def required_input_names(self) -> list[str | int]:
        return [s.name or i for i, s in enumerate(self.inputs) if s.required]

    def optional_input_names(self) -> list[str | int]:
        return [s.name or i for i, s in enumerate(self.inputs) if not s.required]

    def input_types(self) -> list[Any]:
        return [s.type for s in self.inputs]

    def input_dict(self) -> dict[Any, ColSpec | TensorSpec]:
        return {s.name: s for s in self.inputs if s.name is not None}

    def to_dict(self) -> list[dict[str, Any]]:
        return [s.to_dict() for s in self.inputs]

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    def as_mlflow(self) -> Any:
        """This schema as ``mlflow.types.Schema`` (needs mlflow)."""
        from mlflow.types import Schema as MlflowSchema

        return MlflowSchema.from_json(self.to_json())

    def __eq__(self, other: object) -> bool:
        return _same(self, other, Schema)

    def __repr__(self) -> str:
        return "[" + ", ".join(repr(s) for s in self.inputs) + "]"


class ParamSpec:
    def __init__(self, spec: dict[str, Any]) -> None:
        self._spec = spec
        self.name: str = spec["name"]
        self.type: str = spec["type"]
        self.default: Any = spec.get("default")
        self.shape: tuple[int, ...] | None = tuple(spec["shape"]) if spec.get("shape") is not None else None

    def to_dict(self) -> dict[str, Any]:
        return dict(self._spec)

    def __eq__(self, other: object) -> bool:
        return _same(self, other, ParamSpec)

    def __repr__(self) -> str:
        return f"{self.name!r}: {self.type!r} (default: {self.default!r}, shape: {self.shape!r})"


class ParamSchema:
    def __init__(self, specs: list[dict[str, Any]]) -> None:
        self.params: list[ParamSpec] = [ParamSpec(s) for s in specs]

    def __len__(self) -> int:
        return len(self.params)

    def __iter__(self) -> Iterator[ParamSpec]:
        return iter(self.params)

    def to_dict(self) -> list[dict[str, Any]]:
        return [p.to_dict() for p in self.params]

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    def as_mlflow(self) -> Any:
        from mlflow.types import ParamSchema as MlflowParamSchema

        return MlflowParamSchema.from_json(self.to_json())

    def __eq__(self, other: object) -> bool:
        return _same(self, other, ParamSchema)

    def __repr__(self) -> str:
        return "[" + ", ".join(repr(p) for p in self.params) + "]"


class ModelSignature:
    """``inputs``, ``outputs`` and ``params`` of a model, as mlflow's ModelSignature has them."""

    def __init__(self, parsed: dict[str, Any]) -> None:
        self.inputs = Schema(parsed["inputs"]) if parsed.get("inputs") is not None else None
        self.outputs = Schema(parsed["outputs"]) if parsed.get("outputs") is not None else None
        self.params = ParamSchema(parsed["params"]) if parsed.get("params") is not None else None

    def to_dict(self) -> dict[str, str | None]:
        """The MLmodel form: each part a JSON string."""
        return {
            "inputs": self.inputs.to_json() if self.inputs is not None else None,
            "outputs": self.outputs.to_json() if self.outputs is not None else None,
            "params": self.params.to_json() if self.params is not None else None,
        }

    def as_mlflow(self) -> Any:
        from mlflow.models.signature import ModelSignature as MlflowSignature

        return MlflowSignature.from_dict(self.to_dict())

    def __eq__(self, other: object) -> bool:
        return _same(self, other, ModelSignature)

    def __repr__(self) -> str:
        return f"inputs:\n  {self.inputs!r}\noutputs:\n  {self.outputs!r}\nparams:\n  {self.params!r}\n"
