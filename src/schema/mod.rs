//! Model signatures: the typed form of `signature.inputs/outputs/params`, parsed from the JSON
//! strings MLflow stores in the MLmodel file, with MLflow's schema rules checked.

pub mod enforce;
mod params;
mod tensor;
mod types;

use std::path::Path;

use serde_json::Value;

pub use params::ParamSpec;
pub use tensor::{canonical_dtype, TensorSpec, TENSOR_DTYPES};
pub use types::{ColType, DataType, Property};

use crate::error::{Error, Result};
use crate::mlmodel::RawSignature;

/// One column of a column-based schema.
#[derive(Debug, Clone, PartialEq)]
pub struct ColSpec {
    /// The name as enforcement compares it with input labels: the string itself, or for a
    /// non-string name its Python `repr` (`0`, `1.5`, `True`).
    pub name: Option<String>,
    /// A name that is not a JSON string, exactly as written. mlflow's `infer_signature` writes
    /// `"name": 0` for the unnamed columns of a DataFrame or list, and mlflow's ColSpec keeps
    /// whatever value it is given; it goes back out unchanged in [`ColSpec::to_json`].
    pub name_value: Option<Value>,
    pub ty: ColType,
    pub required: bool,
}

impl ColSpec {
    pub fn to_json(&self) -> Value {
        let mut m = self.ty.to_json();
        if let Some(value) = &self.name_value {
            m.insert("name".into(), value.clone());
        } else if let Some(name) = &self.name {
            m.insert("name".into(), Value::String(name.clone()));
        }
        m.insert("required".into(), Value::Bool(self.required));
        Value::Object(m)
    }
}

/// A schema is all columns or all tensors.
#[derive(Debug, Clone, PartialEq)]
pub enum Schema {
    Columns(Vec<ColSpec>),
    Tensors(Vec<TensorSpec>),
}

impl Schema {
    pub fn len(&self) -> usize {
        match self {
            Schema::Columns(c) => c.len(),
            Schema::Tensors(t) => t.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn names(&self) -> Vec<Option<&str>> {
        match self {
            Schema::Columns(c) => c.iter().map(|c| c.name.as_deref()).collect(),
            Schema::Tensors(t) => t.iter().map(|t| t.name.as_deref()).collect(),
        }
    }

    pub fn to_json(&self) -> Value {
        match self {
            Schema::Columns(c) => Value::Array(c.iter().map(ColSpec::to_json).collect()),
            Schema::Tensors(t) => Value::Array(t.iter().map(TensorSpec::to_json).collect()),
        }
    }

    /// Parses the JSON list form and checks MLflow's `Schema.__init__` rules.
    pub fn from_json(v: &Value) -> std::result::Result<Self, String> {
        let items = v
            .as_array()
            .ok_or_else(|| format!("expected a JSON list of specs, found {v}"))?;
        if items.is_empty() {
            return Err("a schema must have at least one input".into());
        }
        let mut cols = Vec::new();
        let mut tensors = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let ctx = format!("spec #{i}");
            let is_tensor = item.get("type").and_then(Value::as_str) == Some("tensor");
            if is_tensor {
                tensors.push(TensorSpec::from_json(item, &ctx)?);
            } else {
                let ty = ColType::from_json(item, &ctx)?;
                let (name, name_value) = match item.get("name") {
                    None | Some(Value::Null) => (None, None),
                    Some(Value::String(s)) => (Some(s.clone()), None),
                    // mlflow's ColSpec takes any name (infer_signature writes 0, 1, ... for
                    // unnamed columns); enforcement then matches it against labels of equal value.
                    Some(other) => (Some(types::py_repr(other)), Some(other.clone())),
                };
                let required = types::optional_bool(item, "required", &ctx)?.unwrap_or(true);
                cols.push(ColSpec {
                    name,
                    name_value,
                    ty,
                    required,
                });
            }
        }
        let schema = match (cols.is_empty(), tensors.is_empty()) {
            (false, false) => {
                return Err("a schema cannot mix ColSpec and TensorSpec; choose one of them".into())
            }
            (false, true) => Schema::Columns(cols),
            _ => Schema::Tensors(tensors),
        };
        let names = schema.names();
        let named = names.iter().filter(|n| n.is_some()).count();
        if named != 0 && named != names.len() {
            return Err(format!(
                "a schema cannot mix named and unnamed inputs (names: {names:?})"
            ));
        }
        if let Schema::Tensors(t) = &schema {
            if t.len() > 1 && named == 0 {
                return Err("several TensorSpecs need names; name each TensorSpec".into());
            }
        }
        if let Schema::Columns(c) = &schema {
            if named == 0 && c.iter().any(|c| !c.required) {
                return Err(
                    "unnamed inputs cannot be optional; name all inputs or make them required"
                        .into(),
                );
            }
        }
        // A string name and a non-string one with the same text ("0" and 0) are different names.
        let keys: Vec<(bool, &str)> = match &schema {
            Schema::Columns(c) => c
                .iter()
                .filter_map(|c| Some((c.name_value.is_some(), c.name.as_deref()?)))
                .collect(),
            Schema::Tensors(_) => names.iter().flatten().map(|n| (false, *n)).collect(),
        };
        let mut seen = std::collections::HashSet::new();
        if let Some((_, dup)) = keys.iter().find(|k| !seen.insert(**k)) {
            return Err(format!("duplicate input name '{dup}'"));
        }
        Ok(schema)
    }
}

/// A model signature.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Signature {
    pub inputs: Option<Schema>,
    pub outputs: Option<Schema>,
    pub params: Option<Vec<ParamSpec>>,
}

impl Signature {
    /// Parses the three JSON strings of an MLmodel's `signature`. `file` is for messages.
    pub fn parse(file: &Path, raw: &RawSignature) -> Result<Self> {
        let err = |section: &'static str, reason: String| Error::InvalidSignature {
            path: file.to_path_buf(),
            section,
            reason,
        };
        let json = |section: &'static str, s: &Option<String>| -> Result<Option<Value>> {
            match s.as_deref().map(str::trim) {
                None | Some("") | Some("null") => Ok(None),
                Some(text) => serde_json::from_str(text)
                    .map(Some)
                    .map_err(|e| err(section, format!("not valid JSON: {e}"))),
            }
        };
        let schema = |section: &'static str, s: &Option<String>| -> Result<Option<Schema>> {
            json(section, s)?
                .map(|v| Schema::from_json(&v).map_err(|r| err(section, r)))
                .transpose()
        };
        let inputs = schema("inputs", &raw.inputs)?;
        let outputs = schema("outputs", &raw.outputs)?;
        let params = match json("params", &raw.params)? {
            None => None,
            Some(Value::Array(items)) => {
                let specs = items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| ParamSpec::from_json(v, &format!("param #{i}")))
                    .collect::<std::result::Result<Vec<_>, _>>()
                    .map_err(|r| err("params", r))?;
                let mut seen = std::collections::HashSet::new();
                if let Some(dup) = specs.iter().find(|p| !seen.insert(p.name.as_str())) {
                    return Err(err("params", format!("duplicate parameter '{}'", dup.name)));
                }
                Some(specs)
            }
            Some(other) => {
                return Err(err(
                    "params",
                    format!("expected a JSON list, found {other}"),
                ))
            }
        };
        Ok(Signature {
            inputs,
            outputs,
            params,
        })
    }

    /// The canonical JSON form handed to Python: `{inputs, outputs, params}`, each a list or null.
    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "inputs": self.inputs.as_ref().map(Schema::to_json),
            "outputs": self.outputs.as_ref().map(Schema::to_json),
            "params": self.params.as_ref().map(|p| Value::Array(p.iter().map(ParamSpec::to_json).collect())),
        })
    }
}

#[cfg(test)]
mod tests;
