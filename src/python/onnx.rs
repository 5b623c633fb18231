//! `fastpyfunc._native.OnnxModel`: a loaded ONNX session. `run` takes `{input name: array}` and
//! returns `{output name: array}` like `InferenceSession.run`, with the GIL released while
//! onnxruntime runs. The container rules (DataFrame, ndarray, dict) live in `_onnx.py`.

use std::path::PathBuf;

use numpy::prelude::*;
use numpy::PyUntypedArray;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};

use super::convert::{self, Held};
use super::errors::to_pyerr;
use crate::engine::onnx::options;
use crate::engine::onnx::OnnxSession;
use crate::error::Error;
use crate::flavor::onnx::{feed, Feed};
use crate::mlmodel::flavors::OnnxFlavor;
use crate::tensor::{TensorRef, ValueKind};

#[pyclass(frozen, module = "fastpyfunc._native")]
pub(crate) struct OnnxModel {
    session: OnnxSession,
}

/// Loads `model_file` with the onnxruntime library at `library`. `flavor_json` is the MLmodel's
/// `onnx` flavor block (providers, session options). Returns `(model, warnings)`.
#[pyfunction]
#[pyo3(signature = (model_file, library, flavor_json, mlmodel_path))]
pub(crate) fn load_onnx(
    py: Python<'_>,
    model_file: &str,
    library: &str,
    flavor_json: &str,
    mlmodel_path: &str,
) -> PyResult<(OnnxModel, Vec<String>)> {
    let model_file = PathBuf::from(model_file);
    let library = PathBuf::from(library);
    let mlmodel_path = PathBuf::from(mlmodel_path);
    let flavor_json = flavor_json.to_owned();
    let loaded = py.detach(move || -> crate::Result<_> {
        let malformed = |key: String, reason: String| Error::MalformedMlModel {
            path: mlmodel_path.clone(),
            key: Some(key),
            reason,
        };
        let flavor: Option<OnnxFlavor> = serde_json::from_str(&flavor_json)
            .map_err(|e| malformed("flavors.onnx".into(), e.to_string()))?;
        let settings =
            options::settings(flavor.as_ref()).map_err(|e| malformed(e.key, e.reason))?;
        OnnxSession::load(&model_file, &library, &settings)
    });
    let loaded = loaded.map_err(|e| to_pyerr(py, e))?;
    Ok((
        OnnxModel {
            session: loaded.session,
        },
        loaded.warnings,
    ))
}

fn describe(ports: &[crate::tensor::Port]) -> Vec<(String, String, Option<Vec<i64>>)> {
    ports
        .iter()
        .map(|p| {
            let dims = match &p.kind {
                ValueKind::Tensor { dims, .. } => Some(dims.clone()),
                ValueKind::Other(_) => None,
            };
            (p.name.clone(), p.kind.type_name(), dims)
        })
        .collect()
}

#[pymethods]
impl OnnxModel {
    /// `[(name, type, dims)]` of the graph inputs (type as onnxruntime prints it, -1 for open dims).
    #[getter]
    fn inputs(&self) -> Vec<(String, String, Option<Vec<i64>>)> {
        describe(self.session.inputs())
    }

    /// `[(name, type, dims)]` of the graph outputs.
    #[getter]
    fn outputs(&self) -> Vec<(String, String, Option<Vec<i64>>)> {
        describe(self.session.outputs())
    }

    /// The execution providers the session runs with.
    #[getter]
    fn providers(&self) -> Vec<String> {
        self.session.providers().to_vec()
    }

    /// Addresses of the buffers onnxruntime read in the last `run` (tests prove zero-copy).
    fn _last_feed_addrs(&self) -> Vec<usize> {
        self.session.last_feed_addrs()
    }

    /// Runs every output on `feeds` (`{input name: array-like}`); returns `{output name: value}`.
    fn run<'py>(
        &self,
        py: Python<'py>,
        feeds: &Bound<'py, PyDict>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let path = self.session.path();
        let invalid = |key: Option<String>, reason: String| {
            to_pyerr(
                py,
                Error::InvalidInput {
                    path: path.to_path_buf(),
                    key,
                    reason,
                },
            )
        };
        let ports = self.session.inputs();
        for key in feeds.keys() {
            let key: String = key.str()?.extract()?;
            if !ports.iter().any(|p| p.name == key) {
                return Err(invalid(
                    Some(key.clone()),
                    format!("Invalid input name: {key}"),
                ));
            }
        }
        let missing: Vec<&str> = ports
            .iter()
            .filter(|p| !feeds.contains(&p.name).unwrap_or(false))
            .map(|p| p.name.as_str())
            .collect();
        if !missing.is_empty() {
            let given: Vec<String> = feeds.keys().iter().map(|k| k.to_string()).collect();
            return Err(invalid(
                Some(missing[0].to_string()),
                format!("Required inputs {missing:?} are missing from input feed {given:?}"),
            ));
        }
        let mut held: Vec<Held<'py>> = Vec::with_capacity(ports.len());
        for port in ports {
            let value = feeds.get_item(&port.name)?.expect("checked above");
            let arr =
                as_array(py, &value).map_err(|reason| invalid(Some(port.name.clone()), reason))?;
            let Some(given) = convert::given(&arr) else {
                return Err(invalid(
                    Some(port.name.clone()),
                    format!(
                        "arrays of dtype {} cannot be fed to {}",
                        arr.dtype(),
                        port.kind.type_name()
                    ),
                ));
            };
            let h = match feed(&port.kind, given) {
                Feed::Reject(reason) => return Err(invalid(Some(port.name.clone()), reason)),
                Feed::Strings => convert::strings(&arr)
                    .map_err(|e| invalid(Some(port.name.clone()), e.to_string()))?,
                // Borrowed where it fits; else the one conversion (contiguous, byte order, cast).
                Feed::AsIs(elem) | Feed::Cast(elem) => convert::lend(&arr, elem)?,
            };
            held.push(h);
        }
        let tensors: Vec<(&str, TensorRef<'_>)> = ports
            .iter()
            .zip(&held)
            .map(|(p, h)| (p.name.as_str(), h.tensor()))
            .collect();
        let session = &self.session;
        let outputs = py
            .detach(|| session.run(&tensors))
            .map_err(|e| to_pyerr(py, e))?;
        drop(tensors);
        let names = self.session.outputs().iter().map(|p| p.name.as_str());
        convert::outputs_dict(py, names, outputs)
    }

    fn __repr__(&self) -> String {
        format!("OnnxModel({})", self.session.path().display())
    }
}

/// ndarray as is; lists and tuples through `np.asarray`, as onnxruntime's Python API does.
fn as_array<'py>(
    py: Python<'py>,
    value: &Bound<'py, PyAny>,
) -> Result<Bound<'py, PyUntypedArray>, String> {
    if let Ok(a) = value.cast::<PyUntypedArray>() {
        return Ok(a.clone());
    }
    if value.is_instance_of::<PyList>() || value.is_instance_of::<PyTuple>() {
        let arr = py
            .import("numpy")
            .and_then(|np| np.call_method1("asarray", (value,)))
            .map_err(|e| e.to_string())?;
        return arr.cast_into::<PyUntypedArray>().map_err(|e| e.to_string());
    }
    Err(format!(
        "Unable to handle object of type {}",
        value
            .get_type()
            .name()
            .map(|n| n.to_string())
            .unwrap_or_else(|_| "?".into())
    ))
}
