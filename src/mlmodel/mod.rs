//! The MLmodel file: YAML -> typed [`MlModel`], keeping every key MLflow (or a newer MLflow)
//! writes, with the signature's JSON strings parsed into a typed [`Signature`].

pub mod flavors;
pub mod yaml;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

pub use flavors::*;

use crate::error::{Error, Result};
use crate::schema::Signature;

pub const MLMODEL_FILE_NAME: &str = "MLmodel";

/// `signature` as written: three JSON strings (or null).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RawSignature {
    pub inputs: Option<String>,
    pub outputs: Option<String>,
    pub params: Option<String>,
}

/// `saved_input_example_info`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InputExampleInfo {
    pub artifact_path: String,
    #[serde(rename = "type")]
    pub example_type: String,
    pub pandas_orient: Option<String>,
    pub serving_input_path: Option<String>,
    /// MLflow writes the string "true" when the example carried params.
    pub params: Option<Value>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Every top-level key MLflow 3.x writes; anything else lands in `extra`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MlModel {
    #[serde(default)]
    pub flavors: Flavors,
    #[serde(default, deserialize_with = "lenient_string")]
    pub utc_time_created: Option<String>,
    pub model_uuid: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub mlflow_version: Option<String>,
    pub model_id: Option<String>,
    pub prompts: Option<Vec<String>>,
    pub run_id: Option<String>,
    pub artifact_path: Option<String>,
    pub signature: Option<RawSignature>,
    pub is_signature_from_type_hint: Option<bool>,
    pub type_hint_from_example: Option<bool>,
    pub saved_input_example_info: Option<InputExampleInfo>,
    pub metadata: Option<Map<String, Value>>,
    pub model_size_bytes: Option<u64>,
    pub resources: Option<Value>,
    pub auth_policy: Option<Value>,
    pub env_vars: Option<Vec<String>>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub databricks_runtime: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// An MLmodel read from a model directory: the typed view, the raw tree (for `to_dict`) and
/// the parsed signature.
#[derive(Debug, Clone)]
pub struct LoadedMlModel {
    pub root: PathBuf,
    pub model: MlModel,
    pub raw: Value,
    pub signature: Option<Signature>,
}

impl LoadedMlModel {
    /// Reads `<root>/MLmodel`. `root` may also be the MLmodel file itself.
    pub fn load(root: &Path) -> Result<Self> {
        let (root, file) = if root.is_file()
            && root.file_name().and_then(|n| n.to_str()) == Some(MLMODEL_FILE_NAME)
        {
            let parent = root.parent().unwrap_or(Path::new(".")).to_path_buf();
            (parent, root.to_path_buf())
        } else {
            (root.to_path_buf(), root.join(MLMODEL_FILE_NAME))
        };
        if !root.exists() {
            return Err(Error::ModelNotFound {
                path: root,
                reason: "no such directory".into(),
            });
        }
        if !file.is_file() {
            return Err(Error::ModelNotFound {
                path: root,
                reason: format!("no {MLMODEL_FILE_NAME} file in the model directory"),
            });
        }
        let raw = yaml::load(&file)?;
        Self::from_value(root, &file, raw)
    }

    /// Builds the typed view from an already parsed tree. `file` is used in error messages.
    pub fn from_value(root: PathBuf, file: &Path, raw: Value) -> Result<Self> {
        if !raw.is_object() {
            return Err(Error::MalformedMlModel {
                path: file.to_path_buf(),
                key: None,
                reason: format!("expected a mapping at the top level, found {}", kind(&raw)),
            });
        }
        let model: MlModel =
            serde_path_to_error::deserialize(raw.clone()).map_err(|e| Error::MalformedMlModel {
                path: file.to_path_buf(),
                key: Some(e.path().to_string()),
                reason: e.inner().to_string(),
            })?;
        let signature = match &model.signature {
            Some(raw_sig) => Some(Signature::parse(file, raw_sig)?),
            None => None,
        };
        Ok(Self {
            root,
            model,
            raw,
            signature,
        })
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// Version-like strings: YAML reads `3.11` or `2` as numbers; keep them as text.
pub(crate) fn lenient_string<'de, D>(d: D) -> std::result::Result<Option<String>, D::Error>
where
    D: Deserializer<'de>,
{
    Ok(match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(Value::Bool(b)) => Some(b.to_string()),
        Some(other) => {
            return Err(serde::de::Error::custom(format!(
                "expected a string, found {}",
                kind(&other)
            )))
        }
    })
}

#[cfg(test)]
pub(crate) mod tests;
