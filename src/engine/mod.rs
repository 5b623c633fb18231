//! Native engines: which graph runtime can run a model without Python, and whether that runtime
//! is present in this build and on this machine.
//!
//! Engines are loaded at first use from the user's installed wheels (libonnxruntime, the TF C
//! API, a separately built libtorch engine library), so `import fastpyfunc` never needs them.
//! [`crate::plan`] routes every [`candidate`] to its engine; a runtime library missing at load is
//! an error that says what to install, so adding an engine changes this file and nothing upstream.

pub mod onnx;
pub mod savedmodel;
pub mod torchscript;

use std::path::{Path, PathBuf};

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

/// The native engine that could run this model, judged from the MLmodel alone. `data_path` is
/// the checked `python_function.data` path (what mlflow's loader is given).
/// For pytorch models this reads the zip directory of `model.pth` (nothing is unpickled).
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
        // mlflow.pytorch loads `<data>/model.pth` (else `<data>/model.pt2`), or `data` itself when
        // it is a file. Only a TorchScript archive is native; the zip directory says which it is.
        "mlflow.pytorch" => {
            let file = if data_path.is_dir() {
                data_path.join("model.pth")
            } else {
                data_path.to_path_buf()
            };
            match torchscript::archive_kind(&file) {
                Ok(torchscript::Archive::TorchScript) => Some(Candidate {
                    engine: EngineKind::TorchScript,
                    artifact: file,
                }),
                _ => None,
            }
        }
        "mlflow.tensorflow" => {
            let tf = flavors.tensorflow.as_ref()?;
            // mlflow's `_infer_model_type`: no model_type means tf1-estimator unless the model
            // also has a keras flavor (old Keras models, which hold no SavedModel graph).
            let model_type = match tf.model_type.as_deref() {
                Some(t) => t,
                None if flavors.keras.is_some() => "keras",
                None => "tf1-estimator",
            };
            match model_type {
                "tf2-module" | "tf1-estimator" => Some(Candidate {
                    engine: EngineKind::SavedModel,
                    artifact: m.root.join(tf.saved_model_dir.as_deref()?),
                }),
                _ => None,
            }
        }
        _ => None,
    }
}

/// Opens an engine's runtime library privately (`RTLD_LOCAL`: its symbols stay out of the global
/// namespace, so libraries loaded later, Python extensions included, do not bind to them).
/// Callers keep the result for the life of the process: these runtimes crash when unloaded.
pub(crate) fn open_private(path: &Path) -> Result<libloading::Library, String> {
    #[cfg(unix)]
    {
        use libloading::os::unix::{Library, RTLD_LOCAL, RTLD_NOW};
        // SAFETY: loading runs the library's static initialisers, as importing its Python
        // package does.
        unsafe { Library::open(Some(path), RTLD_NOW | RTLD_LOCAL) }
            .map(libloading::Library::from)
            .map_err(|e| format!("cannot load {}: {e}", path.display()))
    }
    #[cfg(not(unix))]
    {
        // SAFETY: as above.
        unsafe { libloading::Library::new(path) }
            .map_err(|e| format!("cannot load {}: {e}", path.display()))
    }
}
