//! `fastpyfunc._native.TorchScriptModel`: a TorchScript module run by the separately built engine
//! library. `run([array, ...])` passes the arrays as forward's positional arguments (lent without
//! a copy where they fit) with the GIL released, and returns `(structure, [(key, array), ...])`.

use std::path::PathBuf;

use numpy::prelude::*;
use numpy::PyUntypedArray;
use pyo3::prelude::*;
use pyo3::types::{PyList, PyTuple};

use super::convert::{self, Held};
use super::errors::to_pyerr;
use crate::engine::torchscript::{self, Structure, TorchScriptModule};
use crate::error::Error;
use crate::tensor::{Given, TensorRef, Value};

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

#[pymethods]
impl TorchScriptModel {
    #[getter]
    fn device(&self) -> &str {
        self.module.device()
    }

    fn run<'py>(
        &self,
        py: Python<'py>,
        arrays: &Bound<'py, PyList>,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let path = self.module.path();
        let mut held: Vec<Held<'py>> = Vec::with_capacity(arrays.len());
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
            held.push(convert::lend(&arr, elem)?);
        }
        let tensors: Vec<TensorRef<'_>> = held.iter().map(|h| h.tensor()).collect();
        let module = &self.module;
        let outputs = py
            .detach(|| module.forward(&tensors))
            .map_err(|e| to_pyerr(py, e))?;
        drop(tensors);
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
        PyTuple::new(
            py,
            [structure.into_pyobject(py)?.into_any(), items.into_any()],
        )
    }

    fn __repr__(&self) -> String {
        format!(
            "TorchScriptModel({}, device={})",
            self.module.path().display(),
            self.module.device()
        )
    }
}
