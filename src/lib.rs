//! fastpyfunc: a drop-in, faster and safer `mlflow.pyfunc.load_model`.
//!
//! The core (everything except `python`) does not know about Python: it reads MLmodel files,
//! parses signatures and decides how a model is run. The `python` module is the thin PyO3
//! binding, compiled only with the `python` feature (maturin turns it on).

pub mod engine;
pub mod error;
pub mod flavor;
pub mod frame;
pub mod mlmodel;
pub mod plan;
pub mod safety;
pub mod schema;
pub mod tensor;
pub mod uri;

#[cfg(feature = "python")]
mod python;

pub use error::{Error, Result};
