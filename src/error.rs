//! The one error type of the core. Every variant names the file (model path) and the key or
//! input it is about; the binding maps each variant once onto a `fastpyfunc.exceptions` class.

use std::path::PathBuf;

pub type Result<T> = std::result::Result<T, Error>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The model directory or its MLmodel file does not exist.
    #[error("{path}: model not found: {reason}")]
    ModelNotFound { path: PathBuf, reason: String },

    /// A file of the model exists but could not be read.
    #[error("{path}: cannot read file: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The MLmodel file is not valid YAML, breaks a resource limit, or a key has the wrong shape.
    /// `key` is the dotted path of the offending key when it is known.
    #[error("{path}: malformed MLmodel{}: {reason}", key_suffix(.key))]
    MalformedMlModel {
        path: PathBuf,
        key: Option<String>,
        reason: String,
    },

    /// `signature.inputs`, `signature.outputs` or `signature.params` breaks MLflow's schema rules.
    #[error("{path}: invalid signature.{section}: {reason}")]
    InvalidSignature {
        path: PathBuf,
        section: &'static str,
        reason: String,
    },

    /// The model has no flavor fastpyfunc (or mlflow) can load.
    #[error("{path}: {reason}")]
    UnsupportedFlavor { path: PathBuf, reason: String },

    /// The model URI cannot be resolved locally.
    #[error("model URI '{uri}': {reason}")]
    InvalidUri { uri: String, reason: String },

    /// A native engine's runtime library is missing, too old or failed to start.
    #[error("{path}: the {engine} engine is not available: {reason}")]
    EngineUnavailable {
        path: PathBuf,
        engine: &'static str,
        reason: String,
    },

    /// The model file exists but the engine cannot load it (corrupt, unsupported operator...).
    #[error("{path}: cannot load the model: {reason}")]
    ModelLoad { path: PathBuf, reason: String },

    /// The data given to `predict` does not fit the model: `key` names the input.
    #[error("{path}: invalid input{}: {reason}", key_suffix_input(.key))]
    InvalidInput {
        path: PathBuf,
        key: Option<String>,
        reason: String,
    },

    /// The engine failed while running the model on valid-looking input.
    #[error("{path}: prediction failed: {reason}")]
    Predict { path: PathBuf, reason: String },
}

fn key_suffix_input(key: &Option<String>) -> String {
    key.as_ref().map(|k| format!(" '{k}'")).unwrap_or_default()
}

fn key_suffix(key: &Option<String>) -> String {
    key.as_ref()
        .map(|k| format!(" at key '{k}'"))
        .unwrap_or_default()
}

impl Error {
    /// Stable name of the error kind: the binding maps it to the Python exception class of the
    /// same meaning, so the mapping lives in one table.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::ModelNotFound { .. } => "ModelNotFoundError",
            Error::Io { .. } => "ModelNotFoundError",
            Error::MalformedMlModel { .. } => "MalformedModelError",
            Error::InvalidSignature { .. } => "MalformedModelError",
            Error::UnsupportedFlavor { .. } => "UnsupportedFlavorError",
            Error::InvalidUri { .. } => "InvalidUriError",
            Error::EngineUnavailable { .. } => "EngineUnavailableError",
            Error::ModelLoad { .. } => "ModelLoadError",
            Error::InvalidInput { .. } => "InvalidInputError",
            Error::Predict { .. } => "PredictionError",
        }
    }

    /// The model path the error is about, if any.
    pub fn model_path(&self) -> Option<&std::path::Path> {
        match self {
            Error::ModelNotFound { path, .. }
            | Error::Io { path, .. }
            | Error::MalformedMlModel { path, .. }
            | Error::InvalidSignature { path, .. }
            | Error::UnsupportedFlavor { path, .. }
            | Error::EngineUnavailable { path, .. }
            | Error::ModelLoad { path, .. }
            | Error::InvalidInput { path, .. }
            | Error::Predict { path, .. } => Some(path),
            Error::InvalidUri { .. } => None,
        }
    }

    /// The offending key or input, if any.
    pub fn key(&self) -> Option<String> {
        match self {
            Error::MalformedMlModel { key, .. } | Error::InvalidInput { key, .. } => key.clone(),
            Error::InvalidSignature { section, .. } => Some(format!("signature.{section}")),
            _ => None,
        }
    }
}
