"""``PyFuncModel.metadata``: the MLmodel file as an object with mlflow ``Model``'s attributes."""

from __future__ import annotations

import copy
import json
import os
from typing import Any

from ._schema import ModelSignature, ParamSchema, Schema


class Model:
    """The parsed MLmodel of a loaded model (mlflow's ``mlflow.models.Model`` interface).

    Unknown top-level keys are kept as attributes, as mlflow keeps them.
    """

    def __init__(self, root: str, raw: dict[str, Any], signature: dict[str, Any] | None) -> None:
        self._root = root
        self._raw = raw
        attr = lambda key: copy.deepcopy(raw.get(key))  # noqa: E731
        self.artifact_path: str | None = attr("artifact_path")
        self.run_id: str | None = attr("run_id")
        self.utc_time_created: str | None = attr("utc_time_created")
        self.flavors: dict[str, Any] = attr("flavors") or {}
        self.saved_input_example_info: dict[str, Any] | None = attr("saved_input_example_info")
        self.model_uuid: str | None = attr("model_uuid")
        self.mlflow_version: str | None = attr("mlflow_version")
        self.metadata: dict[str, Any] | None = attr("metadata")
        self.prompts: list[str] | None = attr("prompts")
        self.model_size_bytes: int | None = attr("model_size_bytes")
        self.resources: dict[str, Any] | None = attr("resources")
        self.env_vars: list[str] | None = attr("env_vars")
        self.auth_policy: dict[str, Any] | None = attr("auth_policy")
        self.model_id: str | None = attr("model_id")
        self.signature: ModelSignature | None = ModelSignature(signature) if signature else None
        # Keys a newer MLflow writes stay reachable as attributes, as mlflow keeps them; keys that
        # already have an attribute above (or name internal state) are not overwritten.
        for key, value in raw.items():
            if key.isidentifier() and key not in self.__dict__:
                setattr(self, key, copy.deepcopy(value))

    def get_input_schema(self) -> Schema | None:
        return self.signature.inputs if self.signature is not None else None

    def get_output_schema(self) -> Schema | None:
        return self.signature.outputs if self.signature is not None else None

    def get_params_schema(self) -> ParamSchema | None:
        return self.signature.params if self.signature is not None else None

    def _is_signature_from_type_hint(self) -> bool:
        return bool(self._raw.get("is_signature_from_type_hint", False))

    def _is_type_hint_from_example(self) -> bool:
        return bool(self._raw.get("type_hint_from_example", False))

    def load_input_example(self, path: str | None = None) -> Any:
        """The saved input example (DataFrame, ndarray, dict, ...), or None if there is none."""
        from ._example import read_input_example

        return read_input_example(self, path or self._root)

    def load_input_example_params(self, path: str | None = None) -> Any:
        """The params saved with the input example, or None."""
        info = self.saved_input_example_info or {}
        if not info.get("params"):
            return None
        with open(os.path.join(path or self._root, info["artifact_path"])) as f:
            return json.load(f).get("params")

    def get_serving_input(self, path: str | None = None) -> str | None:
        info = self.saved_input_example_info or {}
        name = info.get("serving_input_path")
        if not name:
            return None
        with open(os.path.join(path or self._root, name)) as f:
            return f.read()

    def to_dict(self) -> dict[str, Any]:
        """The MLmodel content as a dict (what ``yaml.safe_load`` of the file gives)."""
        return copy.deepcopy(self._raw)

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    def to_yaml(self) -> str:
        import yaml

        return yaml.safe_dump(self.to_dict(), default_flow_style=False)

    def get_model_info(self) -> Any:
        """mlflow's ``ModelInfo`` for this model (needs mlflow, as the class is mlflow's)."""
        from ._dependencies import require

        require("mlflow", "Model.get_model_info", model_path=self._root)
        return self.as_mlflow().get_model_info()

    def as_mlflow(self) -> Any:
        """This metadata as ``mlflow.models.Model`` (needs mlflow)."""
        from mlflow.models import Model as MlflowModel

        return MlflowModel.from_dict(self.to_dict())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Model) and self._raw == other._raw

    def __repr__(self) -> str:
        return f"<fastpyfunc Model {self._root!r} flavors={list(self.flavors)}>"
