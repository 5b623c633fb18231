//! `fastpyfunc._native.TorchScriptModel`: a TorchScript module run by the separately built engine
//! library. `run([array, ...], params)` passes the arrays as forward's positional arguments
//! (viewed without a copy, strides included, as `torch.from_numpy` does) and params as its
//! keyword arguments, with the GIL released, and returns `(structure, [(key, array), ...])`, or
//! a `NeedsPython` when params need Python torch to keep Python's answer.

use std::path::PathBuf;

use numpy::prelude::*;
use numpy::PyUntypedArray;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};

use super::convert;
use super::errors::to_pyerr;
use crate::engine::torchscript::{self, Binding, Feed, ParamValue, Structure, TorchScriptModule};
use crate::error::Error;
use crate::tensor::{Given, Value};

#[pyclass(frozen, module = "fastpyfunc._native")]
pub(crate) struct TorchScriptModel {
    module: TorchScriptModule,
}

/// Loads the TorchScript archive at `path` on `device`, opening `engine_lib` (and libtorch from
/// `torch_lib_dir`) on first use.
#[pyfunction]
pub(crate) fn load_torchscript(
    py: Python<'_>,
    path: &str,
    device: &str,
    engine_lib: &str,
    torch_lib_dir: &str,
) -> PyResult<TorchScriptModel> {
    let (path, engine_lib, torch_lib_dir) = (
        PathBuf::from(path),
        PathBuf::from(engine_lib),
        PathBuf::from(torch_lib_dir),
    );
    let device = device.to_owned();
    py.detach(move || TorchScriptModule::load(&path, &device, &engine_lib, &torch_lib_dir))
        .map(|module| TorchScriptModel { module })
        .map_err(|e| to_pyerr(py, e))
}

/// Checks a TorchScript archive before anything reads it (entry sizes, printed code nesting):
/// None when it passes, else `(entry, reason)`; the entry is empty when the whole file is at fault.
#[pyfunction]
pub(crate) fn check_torchscript_archive(py: Python<'_>, path: &str) -> Option<(String, String)> {
    let path = PathBuf::from(path);
    py.detach(move || torchscript::check_archive(&path))
        .err()
        .map(|e| (e.entry, e.reason))
}

/// Whether libtorch, opened through the engine library, sees a CUDA device.
#[pyfunction]
pub(crate) fn torch_cuda_available(
    py: Python<'_>,
    engine_lib: &str,
    torch_lib_dir: &str,
) -> PyResult<bool> {
    torchscript::cuda_available(&PathBuf::from(engine_lib), &PathBuf::from(torch_lib_dir))
        .map_err(|e| to_pyerr(py, e))
}

/// `TorchScriptModel.run`'s answer when only Python torch converts these params as Python does.
#[pyclass(frozen, module = "fastpyfunc._native")]
pub(crate) struct NeedsPython {
    /// Which param, and why.
    #[pyo3(get)]
    reason: String,
}

#[pymethods]
impl TorchScriptModel {
    #[getter]
    fn device(&self) -> &str {
        self.module.device()
    }

    #[pyo3(signature = (arrays, params=None))]
    fn run<'py>(
        &self,
        py: Python<'py>,
        arrays: &Bound<'py, PyList>,
        params: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let path = self.module.path();
        let mut extra = vec![];
        if let Some(params) = params.filter(|p| !p.is_empty()) {
            let mut values = Vec::with_capacity(params.len());
            for (key, value) in params.iter() {
                let key: String = key.extract().map_err(|_| {
                    to_pyerr(
                        py,
                        Error::InvalidInput {
                            path: path.to_path_buf(),
                            key: Some(key.to_string()),
                            reason: "params keys must be strings".into(),
                        },
                    )
                })?;
                values.push((key, param_value(&value)));
            }
            match self
                .module
                .bind(arrays.len(), &values)
                .map_err(|e| to_pyerr(py, e))?
            {
                Binding::Args(args) => extra = args,
                Binding::NeedsPython(reason) => {
                    return Ok(Bound::new(py, NeedsPython { reason })?.into_any())
                }
            }
        }
        // Arrays held alive (converted ones included) while the engine views them.
        let mut held: Vec<Bound<'py, PyUntypedArray>> = Vec::with_capacity(arrays.len());
        let mut feeds: Vec<Feed<'_>> = Vec::with_capacity(arrays.len());
        for (i, value) in arrays.iter().enumerate() {
            let invalid = |reason: String| {
                to_pyerr(
                    py,
                    Error::InvalidInput {
                        path: path.to_path_buf(),
                        key: Some(format!("input {i}")),
                        reason,
                    },
                )
            };
            let arr = value
                .cast::<PyUntypedArray>()
                .map_err(|_| invalid("expected a numpy array".into()))?
                .clone();
            let Some(Given::Elem(elem)) = convert::given(&arr) else {
                return Err(invalid(format!(
                    "can't convert np.ndarray of type {} to a tensor; the supported types are: \
                     float64, float32, float16, int64, int32, int16, int8, uint8, and bool",
                    arr.dtype()
                )));
            };
            let size = arr.dtype().itemsize() as isize;
            // torch.from_numpy views any aligned, native-order array with non-negative strides;
            // so does the engine (same layout, so the same kernels and bits as under mlflow).
            // Anything else is converted once.
            let viewable = arr.is_aligned()
                && arr.dtype().is_native_byteorder() != Some(false)
                && arr.strides().iter().all(|&s| s >= 0 && s % size == 0);
            let arr = if viewable {
                arr
            } else {
                convert::convert(&arr, elem)?
            };
            feeds.push(Feed {
                elem,
                shape: arr.shape().iter().map(|&d| d as i64).collect(),
                strides: arr.strides().iter().map(|&s| (s / size) as i64).collect(),
                // SAFETY: a live array's data pointer; `held` keeps the array alive.
                data: unsafe { (*arr.as_array_ptr()).fields.data } as *const std::ffi::c_void,
                owner: std::marker::PhantomData,
            });
            held.push(arr);
        }
        let module = &self.module;
        let outputs = py
            .detach(|| module.forward(&feeds, &extra))
            .map_err(|e| to_pyerr(py, e))?;
        drop(feeds);
        drop(held);
        let structure = match outputs.structure {
            Structure::Tensor => "tensor",
            Structure::Tuple => "tuple",
            Structure::List => "list",
            Structure::Dict => "dict",
        };
        let items = PyList::empty(py);
        for (key, tensor) in outputs.items {
            let array = convert::value_to_py(py, Value::Tensor(tensor))?;
            items.append((key, array))?;
        }
        Ok(PyTuple::new(
            py,
            [structure.into_pyobject(py)?.into_any(), items.into_any()],
        )?
        .into_any())
    }

    fn __repr__(&self) -> String {
        format!(
            "TorchScriptModel({}, device={})",
            self.module.path().display(),
            self.module.device()
        )
    }
}

/// A param value in the terms forward's binding knows; anything else is `Other` (its type name).
fn param_value(value: &Bound<'_, PyAny>) -> ParamValue {
    if value.is_none() {
        ParamValue::None
    } else if let Ok(b) = value.cast::<PyBool>() {
        ParamValue::Bool(b.is_true())
    } else if let Ok(i) = value.cast::<PyInt>() {
        i.extract()
            .map_or_else(|_| ParamValue::Other("int".into()), ParamValue::Int)
    } else if let Ok(f) = value.cast::<PyFloat>() {
        ParamValue::Float(f.value())
    } else if let Ok(s) = value.cast::<PyString>() {
        s.to_str().map_or_else(
            |_| ParamValue::Other("str".into()),
            |s| ParamValue::Str(s.to_owned()),
        )
    } else if let Ok(l) = value.cast::<PyList>() {
        ParamValue::List(l.iter().map(|v| param_value(&v)).collect())
    } else if let Ok(t) = value.cast::<PyTuple>() {
        ParamValue::List(t.iter().map(|v| param_value(&v)).collect())
    } else {
        ParamValue::Other(
            value
                .get_type()
                .name()
                .map_or_else(|_| "object".into(), |n| n.to_string()),
        )
    }
}
