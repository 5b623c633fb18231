//! The ONNX Runtime library: loaded once per process from the path the caller found (the
//! `onnxruntime` wheel, or `ORT_DYLIB_PATH`), with one `ort` Environment shared by every session.

use std::ffi::CStr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::Mutex;

use ort::environment::Environment;

/// The onnxruntime release the `api-31` build needs at least.
pub const MIN_VERSION: &str = "1.31";

static RUNTIME: Mutex<Option<Environment>> = Mutex::new(None);

/// The process-wide environment, loading `library` on first use. A failed load is not cached,
/// so a later call with a fixed path can succeed; once loaded, the library stays for the life of
/// the process (ort cannot unload it) and a different `library` argument is ignored.
pub fn environment(library: &Path) -> Result<Environment, String> {
    let mut slot = RUNTIME.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(env) = slot.as_ref() {
        return Ok(env.clone());
    }
    // ort panics (rather than erroring) on a few library problems; keep them out of Python.
    let built = catch_unwind(AssertUnwindSafe(|| -> Result<Environment, String> {
        ort::init_from(library)
            .map_err(|e| load_error(library, &e.to_string()))?
            .with_name("fastpyfunc")
            .with_telemetry(false)
            .build()
            .map_err(|e| load_error(library, &e.to_string()))
    }))
    .unwrap_or_else(|p| Err(load_error(library, &panic_text(&p))))?;
    *slot = Some(built.clone());
    Ok(built)
}

/// Names of the execution providers compiled into the loaded library
/// (onnxruntime's `get_available_providers()`).
pub fn available_providers() -> Vec<String> {
    let api = ort::api();
    let mut list: *mut *mut std::ffi::c_char = std::ptr::null_mut();
    let mut n: std::ffi::c_int = 0;
    // SAFETY: the C API fills `list` with `n` NUL-terminated strings that we copy, then release.
    unsafe {
        let status = (api.GetAvailableProviders)(&mut list, &mut n);
        if !status.0.is_null() {
            (api.ReleaseStatus)(status.0);
            return vec!["CPUExecutionProvider".into()];
        }
        let names = (0..n.max(0) as usize)
            .map(|i| CStr::from_ptr(*list.add(i)).to_string_lossy().into_owned())
            .collect();
        let status = (api.ReleaseAvailableProviders)(list, n);
        if !status.0.is_null() {
            (api.ReleaseStatus)(status.0);
        }
        names
    }
}

fn load_error(library: &Path, detail: &str) -> String {
    format!(
        "cannot load ONNX Runtime from {}: {detail}. fastpyfunc needs onnxruntime>={MIN_VERSION}: \
         pip install 'onnxruntime>={MIN_VERSION}' (or set ORT_DYLIB_PATH to a libonnxruntime of that \
         version or newer)",
        library.display()
    )
}

pub(crate) fn panic_text(p: &Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "internal error in the ONNX Runtime binding".into())
}
