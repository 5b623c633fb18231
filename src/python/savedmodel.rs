//! `fastpyfunc._native.SavedModel`: a TensorFlow SavedModel signature run through the C API.
//! `run([array, ...])` takes one array per signature input (in `inputs` order) and returns
//! `{output key: array}`, with the GIL released while TensorFlow runs.

use std::path::PathBuf;

use numpy::prelude::*;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use super::convert::{self, Held};
use super::errors::to_pyerr;
use crate::engine::savedmodel::SavedModelSession;
use crate::error::Error;
use crate::tensor::{Given, TensorRef, ValueKind};

#[pyclass(frozen, module = "fastpyfunc._native")]
pub(crate) struct SavedModel {
    session: SavedModelSession,
}

/// Loads the SavedModel at `dir` (`tags`, signature `signature_key`) with the TensorFlow
/// libraries in `library_dir`.
#[pyfunction]
pub(crate) fn load_savedmodel(
    py: Python<'_>,
    dir: &str,
    tags: Vec<String>,
    signature_key: &str,
    library_dir: &str,
) -> PyResult<SavedModel> {
    let dir = PathBuf::from(dir);
    let library_dir = PathBuf::from(library_dir);
    let key = signature_key.to_owned();
    py.detach(move || SavedModelSession::load(&dir, &tags, &key, &library_dir))
        .map(|session| SavedModel { session })
        .map_err(|e| to_pyerr(py, e))
}

#[pymethods]
impl SavedModel {
    /// `[(key, numpy dtype, dims)]` of the signature inputs, in the order `run` takes them.
    #[getter]
    fn inputs(&self) -> Vec<(String, String, Vec<i64>)> {
        describe(self.session.inputs())
    }

    /// `[(key, numpy dtype, dims)]` of the signature outputs.
    #[getter]
    fn outputs(&self) -> Vec<(String, String, Vec<i64>)> {
        describe(self.session.outputs())
    }

    fn run<'py>(
        &self,
        py: Python<'py>,
        arrays: &Bound<'py, PyList>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let path = self.session.path();
        let ports = self.session.inputs();
        let invalid = |key: &str, reason: String| {
            to_pyerr(
                py,
                Error::InvalidInput {
                    path: path.to_path_buf(),
                    key: Some(key.to_string()),
                    reason,
                },
            )
        };
        if arrays.len() != ports.len() {
            return Err(invalid(
                &ports
                    .iter()
                    .map(|p| p.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                format!(
                    "the signature takes {} inputs, got {}",
                    ports.len(),
                    arrays.len()
                ),
            ));
        }
        let mut held: Vec<Held<'py>> = Vec::with_capacity(ports.len());
        for (port, value) in ports.iter().zip(arrays.iter()) {
            let ValueKind::Tensor { elem, .. } = port.kind else {
                return Err(invalid(&port.name, "not a tensor input".into()));
            };
            let arr = value
                .cast::<numpy::PyUntypedArray>()
                .map_err(|_| invalid(&port.name, "expected a numpy array".into()))?
                .clone();
            if convert::given(&arr) != Some(Given::Elem(elem)) {
                return Err(invalid(
                    &port.name,
                    format!(
                        "cannot feed an array of dtype {} to the signature input '{}' of dtype {}",
                        arr.dtype(),
                        port.name,
                        elem.numpy_name()
                    ),
                ));
            }
            held.push(convert::lend(&arr, elem)?);
        }
        let tensors: Vec<TensorRef<'_>> = held.iter().map(|h| h.tensor()).collect();
        let session = &self.session;
        let outputs = py
            .detach(|| session.run(&tensors))
            .map_err(|e| to_pyerr(py, e))?;
        drop(tensors);
        let names = self.session.outputs().into_iter().map(|p| p.name.as_str());
        convert::outputs_dict(py, names, outputs)
    }

    fn __repr__(&self) -> String {
        format!("SavedModel({})", self.session.path().display())
    }
}

fn describe(ports: Vec<&crate::tensor::Port>) -> Vec<(String, String, Vec<i64>)> {
    ports
        .into_iter()
        .map(|p| match &p.kind {
            ValueKind::Tensor { elem, dims } => {
                (p.name.clone(), elem.numpy_name().to_string(), dims.clone())
            }
            ValueKind::Other(t) => (p.name.clone(), t.clone(), vec![]),
        })
        .collect()
}
