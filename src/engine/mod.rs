//! Native engines: which graph runtime can run a model without Python, and whether that runtime
//! is present in this build and on this machine.
//!
//! Engines are loaded at first use from the user's installed wheels (libonnxruntime, the TF C
//! API, a separately built libtorch engine library), so `import fastpyfunc` never needs them.
//! [`crate::plan`] asks [`availability`] for each candidate and falls back to embedded Python
//! when the engine is not there, so adding an engine changes this file and nothing upstream.

pub mod onnx;
pub mod savedmodel;

use std::path::PathBuf;

use crate::mlmodel::LoadedMlModel;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineKind {
    /// ONNX Runtime through the `ort` crate.
    Onnx,
    /// libtorch through the `tch` crate, for TorchScript archives.
    TorchScript,
    /// The TensorFlow C API, for SavedModel directories.
    SavedModel,
}

impl EngineKind {
    pub fn name(self) -> &'static str {
        match self {
            EngineKind::Onnx => "onnx",
            EngineKind::TorchScript => "torchscript",
            EngineKind::SavedModel => "savedmodel",
        }
    }
}

/// A model a native engine could run: the engine and the artifact it would load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub engine: EngineKind,
    pub artifact: PathBuf,
}

/// Whether an engine can be used in this process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Availability {
    Ready,
    /// Not usable; the reason says what is missing.
    Missing(String),
}

/// The native engine that could run this model, judged from the MLmodel alone. `data_path` is
/// the checked `python_function.data` path (what mlflow's loader is given).
/// TorchScript needs a look inside `model.pth` and is decided by its engine when it lands.
pub fn candidate(m: &LoadedMlModel, data_path: &std::path::Path) -> Option<Candidate> {
    let flavors = &m.model.flavors;
    let loader = flavors.python_function.as_ref()?.loader_module.as_str();
    match loader {
        // mlflow.onnx._load_pyfunc loads the file `python_function.data` names.
        "mlflow.onnx" => Some(Candidate {
            engine: EngineKind::Onnx,
            artifact: data_path.to_path_buf(),
        }),
        // mlflow.keras with save_exported_model: a SavedModel under `<data>/model`.
        "mlflow.keras" => {
            let keras = flavors.keras.as_ref()?;
            if keras.save_exported_model != Some(true) {
                return None; // `.keras` files hold no graph: Python
            }
            let data = m.root.join(keras.data.as_deref().unwrap_or("data"));
            let dir = if data.is_dir() {
                data.join("model")
            } else {
                data
            };
            Some(Candidate {
                engine: EngineKind::SavedModel,
                artifact: dir,
            })
        }
        "mlflow.tensorflow" => {
            let tf = flavors.tensorflow.as_ref()?;
            // tf1-estimator signatures and Keras exports are not native yet.
            match tf.model_type.as_deref() {
                Some("tf2-module") => Some(Candidate {
                    engine: EngineKind::SavedModel,
                    artifact: m.root.join(tf.saved_model_dir.as_deref()?),
                }),
                _ => None,
            }
        }
        _ => None,
    }
}

/// Whether `engine` is compiled into this build. Whether its runtime library loads is only known
/// at load time (it is found in the user's installed wheel), and a failure there is an error that
/// says what to install.
pub fn availability(engine: EngineKind) -> Availability {
    match engine {
        EngineKind::Onnx | EngineKind::SavedModel => Availability::Ready,
        EngineKind::TorchScript => Availability::Missing(format!(
            "the native {} engine is not part of this fastpyfunc build yet",
            engine.name()
        )),
    }
}
