//! The one place core errors become Python exceptions: `fastpyfunc.exceptions._from_native`
//! picks the class for `Error::kind()` (and adds MlflowException as a base where mlflow is loaded).

use pyo3::prelude::*;

use crate::error::Error;

pub(crate) fn to_pyerr(py: Python<'_>, err: Error) -> PyErr {
    let path = err.model_path().map(|p| p.to_string_lossy().into_owned());
    let build = || -> PyResult<PyErr> {
        let exc = py
            .import("fastpyfunc.exceptions")?
            .getattr("_from_native")?
            .call1((err.kind(), err.to_string(), path.clone(), err.key()))?;
        Ok(PyErr::from_value(exc))
    };
    // If the exceptions module itself is broken, still surface the message.
    build().unwrap_or_else(|e| e)
}

/// `InvalidInputError` for the model at `path`, naming the input `key` (where there is one).
pub(crate) fn invalid_input(
    py: Python<'_>,
    path: &std::path::Path,
    key: Option<String>,
    reason: String,
) -> PyErr {
    to_pyerr(
        py,
        Error::InvalidInput {
            path: path.to_path_buf(),
            key,
            reason,
        },
    )
}
