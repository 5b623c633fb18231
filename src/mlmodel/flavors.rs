//! Typed blocks for the flavors fastpyfunc acts on; every other flavor is kept as raw data.
//! Unknown keys inside a known flavor are kept too (`extra`), so newer files still load.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::lenient_string;

/// The `flavors` mapping.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Flavors {
    pub python_function: Option<PyFuncFlavor>,
    pub onnx: Option<OnnxFlavor>,
    pub pytorch: Option<PyTorchFlavor>,
    pub tensorflow: Option<TensorFlowFlavor>,
    pub keras: Option<KerasFlavor>,
    pub sklearn: Option<SklearnFlavor>,
    /// Any other flavor (xgboost, transformers, ...), as written.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `python_function.env`: a map since MLflow 2.0, a plain conda.yaml path before.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum EnvSpec {
    Files {
        conda: Option<String>,
        virtualenv: Option<String>,
    },
    Path(String),
}

/// One entry of `python_function.artifacts` (custom PythonModel).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ArtifactEntry {
    pub path: String,
    pub uri: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PyFuncFlavor {
    pub loader_module: String,
    #[serde(default, deserialize_with = "lenient_string")]
    pub python_version: Option<String>,
    /// Path relative to the model root; absent means the root itself.
    pub data: Option<String>,
    /// Directory prepended to `sys.path`.
    pub code: Option<String>,
    pub env: Option<EnvSpec>,
    /// The saved model_config (MLflow's key is `config`).
    pub config: Option<Map<String, Value>>,
    pub model_code_path: Option<String>,
    pub predict_fn: Option<String>,
    pub streamable: Option<bool>,
    pub predict_stream_fn: Option<String>,
    /// sklearn (3.x): the serialized estimator, relative to the root.
    pub model_path: Option<String>,
    pub pickle_module_name: Option<String>,
    pub python_model: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub cloudpickle_version: Option<String>,
    pub artifacts: Option<Map<String, Value>>,
    pub python_model_compression: Option<String>,
    pub task: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct OnnxSessionOptions {
    pub inter_op_num_threads: Option<i64>,
    pub intra_op_num_threads: Option<i64>,
    pub execution_mode: Option<String>,
    pub graph_optimization_level: Option<i64>,
    pub extra_session_config: Option<Map<String, Value>>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OnnxFlavor {
    pub data: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub onnx_version: Option<String>,
    /// A provider name, or a list of names and `[name, options]` pairs.
    pub providers: Option<Value>,
    pub onnx_session_options: Option<OnnxSessionOptions>,
    pub code: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PyTorchFlavor {
    pub model_data: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub pytorch_version: Option<String>,
    pub code: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TensorFlowFlavor {
    /// `tf2-module`, `tf1-estimator` or `keras`.
    pub model_type: Option<String>,
    pub saved_model_dir: Option<String>,
    pub meta_graph_tags: Option<Vec<String>>,
    pub signature_def_key: Option<String>,
    pub data: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub keras_version: Option<String>,
    pub save_format: Option<String>,
    pub code: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KerasFlavor {
    pub data: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub keras_version: Option<String>,
    pub save_format: Option<String>,
    pub save_exported_model: Option<bool>,
    pub code: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SklearnFlavor {
    pub pickled_model: Option<String>,
    /// `skops` (3.x default), `pickle` or `cloudpickle`; absent on very old models (= pickle).
    pub serialization_format: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub sklearn_version: Option<String>,
    pub skops_trusted_types: Option<Vec<String>>,
    pub code: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Flavors {
    /// Names of all flavors present, known or not.
    pub fn names(&self) -> Vec<String> {
        let known = [
            ("python_function", self.python_function.is_some()),
            ("onnx", self.onnx.is_some()),
            ("pytorch", self.pytorch.is_some()),
            ("tensorflow", self.tensorflow.is_some()),
            ("keras", self.keras.is_some()),
            ("sklearn", self.sklearn.is_some()),
        ];
        known
            .iter()
            .filter(|(_, present)| *present)
            .map(|(n, _)| n.to_string())
            .chain(self.other.keys().cloned())
            .collect()
    }
}
