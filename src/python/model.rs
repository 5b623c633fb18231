//! Load-time functions: read an MLmodel and plan how to run it; classify URIs; read YAML.
//! Results cross into Python as JSON text (parsed once by `json.loads`): load time only.

use std::path::Path;

use pyo3::prelude::*;
use serde_json::json;

use super::errors::to_pyerr;
use crate::mlmodel::{yaml, LoadedMlModel};
use crate::plan::LoadPlan;
use crate::uri::{self, ModelUri};

/// Reads `<model_dir>/MLmodel`, parses the signature and plans the load.
/// Returns JSON: `{root, mlmodel, signature, plan}`.
#[pyfunction]
pub(crate) fn load_model_info(py: Python<'_>, model_dir: &str) -> PyResult<String> {
    let dir = Path::new(model_dir).to_path_buf();
    let result = py.detach(move || -> crate::Result<String> {
        let m = LoadedMlModel::load(&dir)?;
        let plan = LoadPlan::new(&m)?;
        Ok(json!({
            "root": m.root,
            "mlmodel": m.raw,
            "signature": m.signature.as_ref().map(|s| s.to_json()),
            "plan": plan.to_json(),
        })
        .to_string())
    });
    result.map_err(|e| to_pyerr(py, e))
}

/// Reads a YAML file (a `model_config` file) under the same limits as MLmodel; returns JSON.
#[pyfunction]
pub(crate) fn read_yaml(py: Python<'_>, path: &str) -> PyResult<String> {
    let path = Path::new(path).to_path_buf();
    py.detach(move || yaml::load(&path).map(|v| v.to_string()))
        .map_err(|e| to_pyerr(py, e))
}

/// `("local", path)` or `("remote", scheme)`.
#[pyfunction]
pub(crate) fn classify_uri(py: Python<'_>, model_uri: &str) -> PyResult<(String, String)> {
    match uri::classify(model_uri).map_err(|e| to_pyerr(py, e))? {
        ModelUri::Local(p) => Ok(("local".into(), p.to_string_lossy().into_owned())),
        ModelUri::Remote { scheme } => Ok(("remote".into(), scheme)),
    }
}
