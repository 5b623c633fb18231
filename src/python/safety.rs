//! Safe loading: the pickle verifier and its allow-list, for `fastpyfunc._safety`.

use pyo3::prelude::*;

use crate::safety;

/// Verifies pickle bytes (compressed or not) without running them; returns the report as JSON.
#[pyfunction]
pub(crate) fn verify_pickle(py: Python<'_>, data: &[u8]) -> String {
    // bytes are immutable: the slice stays valid while the GIL is released.
    py.detach(|| safety::verify_data(data).to_json().to_string())
}

/// The exact `(module, name)` pairs a verified pickle may reference (the verifier's own list).
#[pyfunction]
pub(crate) fn safety_allowlist() -> Vec<(&'static str, &'static str)> {
    safety::allowlist::ALLOWED.to_vec()
}
