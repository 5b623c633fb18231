//! Load-time functions: read an MLmodel and plan how to run it; classify URIs; read YAML.
//! The MLmodel is parsed once, here: Python receives typed objects (the plan and its route) and
//! plain Python values (the MLmodel mapping, the signature's canonical form), never JSON text,
//! and the input schema's enforcement plan is compiled from the signature parsed here.

use std::path::Path;

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use serde_json::Value;

use super::enforce::EnforcePlan;
use super::errors::to_pyerr;
use super::params::ParamPlan;
use crate::mlmodel::{yaml, LoadedMlModel};
use crate::plan::{self, LoadPlan};
use crate::schema::enforce::Plan;
use crate::schema::Signature;
use crate::uri::{self, ModelUri};

/// What `load_model_info` read: the MLmodel, its signature and the load plan.
#[pyclass(frozen, module = "fastpyfunc._native")]
pub(crate) struct ModelInfo {
    root: String,
    raw: Value,
    signature: Option<Signature>,
    plan: Py<PlanInfo>,
}

#[pymethods]
impl ModelInfo {
    /// The model directory.
    #[getter]
    fn root(&self) -> &str {
        &self.root
    }

    /// The MLmodel file's mapping, as plain Python values.
    #[getter]
    fn mlmodel<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        json_to_py(py, &self.raw)
    }

    /// The signature's canonical form, `{inputs, outputs, params}` (each a list or None), or None.
    #[getter]
    fn signature<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        self.signature
            .as_ref()
            .map(|s| json_to_py(py, &s.to_json()))
            .transpose()
    }

    #[getter]
    fn plan(&self, py: Python<'_>) -> Py<PlanInfo> {
        self.plan.clone_ref(py)
    }

    /// The enforcement plan of the signature's input schema (None without one), compiled from
    /// the signature parsed at load.
    fn input_plan(&self) -> Option<EnforcePlan> {
        let inputs = self.signature.as_ref()?.inputs.as_ref()?;
        Some(EnforcePlan {
            plan: Plan::compile(inputs),
        })
    }

    /// The params plan of the signature (None without params), built from the signature parsed
    /// at load; a default that does not fit its spec raises ParamError.
    fn param_plan(&self, py: Python<'_>) -> PyResult<Option<ParamPlan>> {
        self.signature
            .as_ref()
            .and_then(|s| s.params.as_deref())
            .map(|specs| ParamPlan::build(py, specs))
            .transpose()
    }
}

/// How a model is loaded: [`crate::plan::LoadPlan`] for Python.
#[pyclass(frozen, module = "fastpyfunc._native", name = "LoadPlan")]
pub(crate) struct PlanInfo {
    #[pyo3(get)]
    loader_module: String,
    /// `<root>/<python_function.data>`, or the root.
    #[pyo3(get)]
    data_path: String,
    #[pyo3(get)]
    code_path: Option<String>,
    #[pyo3(get)]
    predict_fn: String,
    #[pyo3(get)]
    predict_stream_fn: Option<String>,
    /// A `NativeRoute`, `SklearnRoute` or `LoaderModuleRoute`.
    #[pyo3(get)]
    route: Py<PyAny>,
}

#[pymethods]
impl PlanInfo {
    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "LoadPlan(loader_module={:?}, data_path={:?}, code_path={:?}, predict_fn={:?}, route={})",
            self.loader_module,
            self.data_path,
            self.code_path,
            self.predict_fn,
            self.route.bind(py).repr()?
        ))
    }
}

#[pymethods]
impl NativeRoute {
    fn __repr__(&self) -> String {
        format!(
            "NativeRoute(engine={:?}, artifact={:?})",
            self.engine, self.artifact
        )
    }
}

#[pymethods]
impl SklearnRoute {
    fn __repr__(&self) -> String {
        format!(
            "SklearnRoute(model_file={:?}, format={:?})",
            self.model_file, self.format
        )
    }
}

#[pymethods]
impl LoaderModuleRoute {
    fn __repr__(&self) -> String {
        format!("LoaderModuleRoute(module={:?})", self.module)
    }
}

/// Run by a native engine (`engine` is "onnx", "torchscript" or "savedmodel").
#[pyclass(frozen, module = "fastpyfunc._native")]
pub(crate) struct NativeRoute {
    #[pyo3(get)]
    engine: &'static str,
    /// The file or directory the engine loads.
    #[pyo3(get)]
    artifact: String,
}

/// scikit-learn, loaded by fastpyfunc itself (`format`: "pickle", "cloudpickle" or "skops").
#[pyclass(frozen, module = "fastpyfunc._native")]
pub(crate) struct SklearnRoute {
    #[pyo3(get)]
    model_file: String,
    #[pyo3(get)]
    format: &'static str,
    /// skops' trusted types as the MLmodel lists them.
    #[pyo3(get)]
    trusted_types: Option<Vec<String>>,
}

/// Any other flavor: `importlib.import_module(module)._load_pyfunc(data_path[, config])`.
#[pyclass(frozen, module = "fastpyfunc._native")]
pub(crate) struct LoaderModuleRoute {
    #[pyo3(get)]
    module: String,
}

fn text(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

fn plan_info(py: Python<'_>, plan: LoadPlan) -> PyResult<PlanInfo> {
    let route = match plan.route {
        plan::Route::Native(c) => Py::new(
            py,
            NativeRoute {
                engine: c.engine.name(),
                artifact: text(&c.artifact),
            },
        )?
        .into_any(),
        plan::Route::Sklearn {
            model_file,
            format,
            trusted_types,
        } => Py::new(
            py,
            SklearnRoute {
                model_file: text(&model_file),
                format: format.name(),
                trusted_types,
            },
        )?
        .into_any(),
        plan::Route::LoaderModule { module } => {
            Py::new(py, LoaderModuleRoute { module })?.into_any()
        }
    };
    Ok(PlanInfo {
        loader_module: plan.loader_module,
        data_path: text(&plan.data_path),
        code_path: plan.code_path.as_deref().map(text),
        predict_fn: plan.predict_fn,
        predict_stream_fn: plan.predict_stream_fn,
        route,
    })
}

/// Reads `<model_dir>/MLmodel`, parses the signature and plans the load.
#[pyfunction]
pub(crate) fn load_model_info(py: Python<'_>, model_dir: &str) -> PyResult<ModelInfo> {
    let dir = Path::new(model_dir).to_path_buf();
    let (m, plan) = py
        .detach(move || -> crate::Result<_> {
            let m = LoadedMlModel::load(&dir)?;
            let plan = LoadPlan::new(&m)?;
            Ok((m, plan))
        })
        .map_err(|e| to_pyerr(py, e))?;
    Ok(ModelInfo {
        root: text(&m.root),
        raw: m.raw,
        signature: m.signature,
        plan: Py::new(py, plan_info(py, plan)?)?,
    })
}

/// Reads a YAML file (a `model_config` file) under the same limits as MLmodel, as plain Python
/// values.
#[pyfunction]
pub(crate) fn read_yaml<'py>(py: Python<'py>, path: &str) -> PyResult<Bound<'py, PyAny>> {
    let path = Path::new(path).to_path_buf();
    let v = py
        .detach(move || yaml::load(&path))
        .map_err(|e| to_pyerr(py, e))?;
    json_to_py(py, &v)
}

/// `("local", path)` or `("remote", scheme)`.
#[pyfunction]
pub(crate) fn classify_uri(py: Python<'_>, model_uri: &str) -> PyResult<(String, String)> {
    match uri::classify(model_uri).map_err(|e| to_pyerr(py, e))? {
        ModelUri::Local(p) => Ok(("local".into(), p.to_string_lossy().into_owned())),
        ModelUri::Remote { scheme } => Ok(("remote".into(), scheme)),
    }
}

/// A parsed document as the Python values `json.loads` would give (ints stay ints).
pub(crate) fn json_to_py<'py>(py: Python<'py>, v: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match v {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => b.into_pyobject(py)?.to_owned().into_any(),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => i.into_pyobject(py)?.into_any(),
            (None, Some(u)) => u.into_pyobject(py)?.into_any(),
            _ => n.as_f64().unwrap_or(f64::NAN).into_pyobject(py)?.into_any(),
        },
        Value::String(s) => s.into_pyobject(py)?.into_any(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(json_to_py(py, item)?)?;
            }
            list.into_any()
        }
        Value::Object(map) => {
            let dict = PyDict::new(py);
            for (k, item) in map {
                dict.set_item(k, json_to_py(py, item)?)?;
            }
            dict.into_any()
        }
    })
}

/// Plain Python values (what `json.loads` gives) as a parsed document.
pub(crate) fn py_to_json(v: &Bound<'_, PyAny>) -> PyResult<serde_json::Value> {
    if v.is_none() {
        return Ok(Value::Null);
    }
    if let Ok(b) = v.cast::<PyBool>() {
        return Ok(Value::Bool(b.is_true()));
    }
    if v.is_instance_of::<PyInt>() {
        return Ok(match v.extract::<i64>() {
            Ok(i) => i.into(),
            Err(_) => v.extract::<u64>()?.into(),
        });
    }
    if v.is_instance_of::<PyFloat>() {
        return Ok(serde_json::Number::from_f64(v.extract()?).map_or(Value::Null, Value::Number));
    }
    if let Ok(s) = v.cast::<PyString>() {
        return Ok(Value::String(s.to_str()?.to_owned()));
    }
    if let Ok(d) = v.cast::<PyDict>() {
        let mut map = serde_json::Map::with_capacity(d.len());
        for (k, item) in d.iter() {
            map.insert(k.str()?.to_str()?.to_owned(), py_to_json(&item)?);
        }
        return Ok(Value::Object(map));
    }
    if v.is_instance_of::<PyList>() || v.is_instance_of::<PyTuple>() {
        return v.try_iter()?.map(|item| py_to_json(&item?)).collect();
    }
    Err(PyTypeError::new_err(format!(
        "expected plain values (str, int, float, bool, None, list, dict), not {}",
        v.get_type().name()?
    )))
}
