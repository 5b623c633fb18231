//! The PyO3 binding: a private `fastpyfunc._native` module with a few load-time functions.
//! The public API lives in `python/fastpyfunc/`; this layer only converts and maps errors.

mod convert;
mod enforce;
mod errors;
mod frame_tensors;
mod input;
mod model;
mod nested;
mod onnx;
mod output;
mod params;
mod safety;
mod savedmodel;
mod sequence;
mod torchscript;

use pyo3::prelude::*;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(model::load_model_info, m)?)?;
    m.add_class::<model::ModelInfo>()?;
    m.add_class::<model::PlanInfo>()?;
    m.add_class::<model::NativeRoute>()?;
    m.add_class::<model::SklearnRoute>()?;
    m.add_class::<model::LoaderModuleRoute>()?;
    m.add_function(wrap_pyfunction!(model::read_yaml, m)?)?;
    m.add_function(wrap_pyfunction!(model::classify_uri, m)?)?;
    m.add_function(wrap_pyfunction!(onnx::load_onnx, m)?)?;
    m.add_class::<onnx::OnnxModel>()?;
    m.add_function(wrap_pyfunction!(savedmodel::load_savedmodel, m)?)?;
    m.add_class::<savedmodel::SavedModel>()?;
    m.add_function(wrap_pyfunction!(torchscript::load_torchscript, m)?)?;
    m.add_function(wrap_pyfunction!(torchscript::torch_cuda_available, m)?)?;
    m.add_function(wrap_pyfunction!(torchscript::check_torchscript_archive, m)?)?;
    m.add_class::<torchscript::TorchScriptModel>()?;
    m.add_class::<torchscript::NeedsPython>()?;
    m.add_class::<enforce::EnforcePlan>()?;
    m.add_class::<enforce::ColumnAction>()?;
    params::register(m)?;
    m.add_class::<nested::NestedType>()?;
    m.add_function(wrap_pyfunction!(enforce::nan_int_hint, m)?)?;
    m.add_function(wrap_pyfunction!(enforce::scalar_action, m)?)?;
    m.add_function(wrap_pyfunction!(frame_tensors::frame_to_tensors, m)?)?;
    m.add_function(wrap_pyfunction!(enforce::all_zero_or_one, m)?)?;
    m.add_function(wrap_pyfunction!(enforce::nan_and_integers, m)?)?;
    m.add_function(wrap_pyfunction!(safety::verify_pickle, m)?)?;
    m.add_class::<safety::PickleReport>()?;
    m.add_class::<safety::PickleGlobal>()?;
    m.add_class::<safety::PickleCode>()?;
    m.add_class::<safety::PickleFinding>()?;
    m.add_function(wrap_pyfunction!(onnx::onnx_external_data, m)?)?;
    m.add_function(wrap_pyfunction!(safety::safety_allowlist, m)?)?;
    Ok(())
}
