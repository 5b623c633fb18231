//! Safe loading: the pickle verifier and its allow-list, for `fastpyfunc._safety`. The report
//! crosses the seam as typed objects, built on access from the Rust report.

use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::safety::{self, Report};

/// What the verifier found in one pickle (see `fastpyfunc._native.pyi`).
#[pyclass(frozen, module = "fastpyfunc._native")]
pub(crate) struct PickleReport {
    report: Report,
    /// The decompressed stream that was verified (None when the file was not compressed).
    plain: Option<Py<PyBytes>>,
}

/// One global the pickle references (first occurrence, `count` occurrences in all).
#[pyclass(frozen, module = "fastpyfunc._native")]
pub(crate) struct PickleGlobal {
    #[pyo3(get)]
    module: String,
    #[pyo3(get)]
    name: String,
    #[pyo3(get)]
    offset: usize,
    #[pyo3(get)]
    count: usize,
    #[pyo3(get)]
    allowed: bool,
}

/// Code the pickle would build at load time.
#[pyclass(frozen, module = "fastpyfunc._native")]
pub(crate) struct PickleCode {
    /// "code", "function" or "class".
    #[pyo3(get)]
    kind: &'static str,
    #[pyo3(get)]
    name: Option<String>,
    #[pyo3(get)]
    origin: String,
    #[pyo3(get)]
    offset: usize,
}

/// Why a pickle is refused (or cannot be read), and where.
#[pyclass(frozen, module = "fastpyfunc._native")]
pub(crate) struct PickleFinding {
    #[pyo3(get)]
    offset: usize,
    #[pyo3(get)]
    message: String,
}

fn finding(f: &safety::Finding) -> PickleFinding {
    PickleFinding {
        offset: f.offset,
        message: f.message.clone(),
    }
}

#[pymethods]
impl PickleReport {
    /// "safe", "unsafe" or "malformed".
    #[getter]
    fn verdict(&self) -> &'static str {
        self.report.verdict().name()
    }

    #[getter]
    fn protocol(&self) -> u8 {
        self.report.protocol
    }

    /// "xz", "gzip", "bzip2" or "zlib" when the file was compressed.
    #[getter]
    fn compression(&self) -> Option<&'static str> {
        self.report.compression.map(|c| c.name())
    }

    /// The decompressed pickle that was verified; None when the file was not compressed.
    #[getter]
    fn plain(&self, py: Python<'_>) -> Option<Py<PyBytes>> {
        self.plain.as_ref().map(|b| b.clone_ref(py))
    }

    #[getter]
    fn globals(&self) -> Vec<PickleGlobal> {
        let g = &self.report.globals;
        g.iter()
            .map(|g| PickleGlobal {
                module: g.module.clone(),
                name: g.name.clone(),
                offset: g.offset,
                count: g.count,
                allowed: g.allowed,
            })
            .collect()
    }

    #[getter]
    fn code_objects(&self) -> Vec<PickleCode> {
        let c = &self.report.code_objects;
        c.iter()
            .map(|c| PickleCode {
                kind: c.kind,
                name: c.name.clone(),
                origin: c.origin.clone(),
                offset: c.offset,
            })
            .collect()
    }

    #[getter]
    fn findings(&self) -> Vec<PickleFinding> {
        self.report.findings.iter().map(finding).collect()
    }

    #[getter]
    fn malformed(&self) -> Option<PickleFinding> {
        self.report.malformed.as_ref().map(finding)
    }

    /// Offset just past STOP.
    #[getter]
    fn end(&self) -> usize {
        self.report.end
    }

    /// `(offset, object, bytes)` of every joblib array, in file order.
    #[getter]
    fn joblib_arrays(&self) -> Vec<(usize, bool, usize)> {
        let a = &self.report.joblib_arrays;
        a.iter().map(|a| (a.offset, a.object, a.bytes)).collect()
    }

    fn __repr__(&self) -> String {
        let r = &self.report;
        format!(
            "PickleReport(verdict={:?}, protocol={}, compression={:?}, globals={}, code_objects={}, findings={})",
            r.verdict().name(),
            r.protocol,
            r.compression.map(|c| c.name()),
            r.globals.len(),
            r.code_objects.len(),
            r.findings.len()
        )
    }
}

#[pymethods]
impl PickleGlobal {
    fn __repr__(&self) -> String {
        format!(
            "PickleGlobal({}.{} at byte {}, allowed={})",
            self.module, self.name, self.offset, self.allowed
        )
    }
}

#[pymethods]
impl PickleCode {
    fn __repr__(&self) -> String {
        format!(
            "PickleCode({} {:?} at byte {}: {})",
            self.kind, self.name, self.offset, self.origin
        )
    }
}

#[pymethods]
impl PickleFinding {
    /// A finding made elsewhere (skops types), reported alongside the verifier's.
    #[new]
    fn new(offset: usize, message: String) -> Self {
        PickleFinding { offset, message }
    }

    fn __repr__(&self) -> String {
        format!("PickleFinding({} at byte {})", self.message, self.offset)
    }
}

/// Verifies pickle bytes (compressed or not) without running them.
#[pyfunction]
pub(crate) fn verify_pickle(py: Python<'_>, data: &[u8]) -> PickleReport {
    // bytes are immutable: the slice stays valid while the GIL is released.
    let (report, plain) = py.detach(|| safety::verify_data_plain(data));
    PickleReport {
        report,
        plain: plain.map(|p| PyBytes::new(py, &p).unbind()),
    }
}

/// The exact `(module, name)` pairs a verified pickle may reference (the verifier's own list).
#[pyfunction]
pub(crate) fn safety_allowlist() -> Vec<(&'static str, &'static str)> {
    safety::allowlist::ALLOWED.to_vec()
}
