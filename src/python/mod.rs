//! The PyO3 binding: a private `fastpyfunc._native` module with a few load-time functions.
//! The public API lives in `python/fastpyfunc/`; this layer only converts and maps errors.

mod convert;
mod errors;
mod model;
mod onnx;

use pyo3::prelude::*;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(model::load_model_info, m)?)?;
    m.add_function(wrap_pyfunction!(model::read_yaml, m)?)?;
    m.add_function(wrap_pyfunction!(model::classify_uri, m)?)?;
    m.add_function(wrap_pyfunction!(onnx::load_onnx, m)?)?;
    m.add_class::<onnx::OnnxModel>()?;
    Ok(())
}
