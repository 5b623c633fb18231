//! The load plan: from an MLmodel, decide how the model is run (native engine, the built-in
//! scikit-learn loader, or mlflow's `loader_module`), and resolve every path it needs, checking
//! that they stay inside the model directory.

use std::path::{Component, Path, PathBuf};

use serde_json::Value;

use crate::engine::{self, Candidate, EngineKind};
use crate::error::{Error, Result};
use crate::mlmodel::{LoadedMlModel, MLMODEL_FILE_NAME};

/// How scikit-learn models were serialized.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SklearnFormat {
    Skops,
    Pickle,
    CloudPickle,
}

impl SklearnFormat {
    fn parse(s: &str) -> Option<Self> {
        match s {
            "skops" => Some(Self::Skops),
            "pickle" => Some(Self::Pickle),
            "cloudpickle" => Some(Self::CloudPickle),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Skops => "skops",
            Self::Pickle => "pickle",
            Self::CloudPickle => "cloudpickle",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Route {
    /// Run by a native engine, no Python in the predict path.
    Native(Candidate),
    /// scikit-learn: loaded by fastpyfunc itself, without mlflow.
    Sklearn {
        model_file: PathBuf,
        format: SklearnFormat,
        trusted_types: Option<Vec<String>>,
    },
    /// Any other flavor: `importlib.import_module(module)._load_pyfunc(data_path[, config])`.
    LoaderModule { module: String },
}

#[derive(Debug, Clone, PartialEq)]
pub struct LoadPlan {
    pub loader_module: String,
    /// `<root>/<python_function.data>`, or the root when `data` is absent.
    pub data_path: PathBuf,
    /// `<root>/<python_function.code>`, prepended to `sys.path` before loading.
    pub code_path: Option<PathBuf>,
    pub predict_fn: String,
    pub predict_stream_fn: Option<String>,
    pub route: Route,
}

impl LoadPlan {
    pub fn new(m: &LoadedMlModel) -> Result<Self> {
        let file = m.root.join(MLMODEL_FILE_NAME);
        if m.model
            .metadata
            .as_ref()
            .and_then(|md| md.get("mlflow.model.isExternal"))
            == Some(&Value::Bool(true))
        {
            return Err(Error::UnsupportedFlavor {
                path: m.root.clone(),
                reason: "this model's artifacts are external and are not stored in the model \
                         directory (metadata 'mlflow.model.isExternal'); it cannot be loaded"
                    .into(),
            });
        }
        let Some(conf) = m.model.flavors.python_function.as_ref() else {
            return Err(Error::UnsupportedFlavor {
                path: m.root.clone(),
                reason: format!(
                    "model does not have the \"python_function\" flavor (flavors: {})",
                    m.model.flavors.names().join(", ")
                ),
            });
        };
        let inside = |key: &str, rel: &str| inside_root(&m.root, &file, key, rel);
        let data_path = match &conf.data {
            Some(d) => inside("flavors.python_function.data", d)?,
            None => m.root.clone(),
        };
        let code_path = conf
            .code
            .as_deref()
            .filter(|c| !c.is_empty())
            .map(|c| inside("flavors.python_function.code", c))
            .transpose()?;
        let streamable = conf.streamable.unwrap_or(false);
        let predict_stream_fn = streamable.then(|| {
            conf.predict_stream_fn
                .clone()
                .unwrap_or_else(|| "predict_stream".into())
        });

        let candidate = engine::candidate(m, &data_path);
        if let Some(c) = candidate
            .as_ref()
            .filter(|c| c.engine == EngineKind::SavedModel)
        {
            // The SavedModel directory comes from the tensorflow or keras flavor: it must stay
            // inside the model directory too.
            let key = if conf.loader_module == "mlflow.keras" {
                "flavors.keras.data"
            } else {
                "flavors.tensorflow.saved_model_dir"
            };
            let rel = c.artifact.strip_prefix(&m.root).unwrap_or(&c.artifact);
            inside(key, &rel.to_string_lossy())?;
        }
        // The engine's runtime library is the user's wheel, found at load: if it is missing
        // there, the load says what to install (and TorchScript falls back to Python torch).
        let route = candidate.map(Route::Native);
        let route = match route {
            Some(r) => r,
            None if conf.loader_module == "mlflow.sklearn" => {
                sklearn_route(m, &file, &data_path, conf.model_path.as_deref())?
            }
            None => Route::LoaderModule {
                module: conf.loader_module.clone(),
            },
        };
        Ok(LoadPlan {
            loader_module: conf.loader_module.clone(),
            data_path,
            code_path,
            predict_fn: conf.predict_fn.clone().unwrap_or_else(|| "predict".into()),
            predict_stream_fn,
            route,
        })
    }
}

/// mlflow.sklearn's `_load_pyfunc`: `data_path` is the serialized estimator when it is a file,
/// else `<data_path>/<model_path>`; the format comes from the sklearn flavor (pickle if absent).
fn sklearn_route(
    m: &LoadedMlModel,
    file: &Path,
    data_path: &Path,
    model_path: Option<&str>,
) -> Result<Route> {
    let model_file = if data_path.is_file() {
        data_path.to_path_buf()
    } else {
        let rel = model_path.ok_or_else(|| Error::MalformedMlModel {
            path: file.to_path_buf(),
            key: Some("flavors.python_function.model_path".into()),
            reason: "scikit-learn model names neither a `data` file nor a `model_path`".into(),
        })?;
        inside_root(
            &m.root,
            file,
            "flavors.python_function.model_path",
            &data_path.join(rel).to_string_lossy(),
        )?
    };
    if !model_file.is_file() {
        return Err(Error::ModelNotFound {
            path: m.root.clone(),
            reason: format!("serialized model file {} is missing", model_file.display()),
        });
    }
    let sk = m.model.flavors.sklearn.as_ref();
    let fmt_name = sk
        .and_then(|s| s.serialization_format.as_deref())
        .unwrap_or("pickle");
    let format = SklearnFormat::parse(fmt_name).ok_or_else(|| Error::MalformedMlModel {
        path: file.to_path_buf(),
        key: Some("flavors.sklearn.serialization_format".into()),
        reason: format!(
            "unrecognized serialization format '{fmt_name}'; expected one of skops, pickle, cloudpickle"
        ),
    })?;
    Ok(Route::Sklearn {
        model_file,
        format,
        trusted_types: sk.and_then(|s| s.skops_trusted_types.clone()),
    })
}

/// Joins `rel` to `root` and refuses results outside the model directory: a model file must not
/// point `code` (put on `sys.path`) or its data at arbitrary places on the machine.
fn inside_root(root: &Path, file: &Path, key: &str, rel: &str) -> Result<PathBuf> {
    let joined = root.join(rel);
    let mut depth: i64 = 0;
    let rel_part = joined.strip_prefix(root).unwrap_or(&joined);
    let mut escapes = Path::new(rel).is_absolute() && !joined.starts_with(root);
    for c in rel_part.components() {
        match c {
            Component::ParentDir => depth -= 1,
            Component::Normal(_) => depth += 1,
            Component::RootDir | Component::Prefix(_) => escapes = true,
            Component::CurDir => {}
        }
        if depth < 0 {
            escapes = true;
        }
    }
    if escapes {
        return Err(Error::MalformedMlModel {
            path: file.to_path_buf(),
            key: Some(key.into()),
            reason: format!("path '{rel}' points outside the model directory"),
        });
    }
    Ok(joined)
}

#[cfg(test)]
mod tests;
