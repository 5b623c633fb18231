//! MLflow's flavor wrappers, rule by rule: how pyfunc input becomes engine feeds, independent of
//! both the engine's API and the Python binding.

pub mod onnx;
pub mod pytorch;
pub mod tensorflow;
pub mod tensorflow_lists;
