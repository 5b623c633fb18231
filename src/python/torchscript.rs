//! `fastpyfunc._native.TorchScriptModel`: a TorchScript module run by the separately built engine
//! library. `run([array, ...])` passes the arrays as forward's positional arguments (viewed
//! without a copy, strides included, as `torch.from_numpy` does) with the GIL released, and returns `(structure, [(key, array), ...])`.

use std::path::PathBuf;

use numpy::prelude::*;
use numpy::PyUntypedArray;
use pyo3::prelude::*;
use pyo3::types::{PyList, PyTuple};

use super::convert;
use super::errors::to_pyerr;
use crate::engine::torchscript::{self, Feed, Structure, TorchScriptModule};
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
            .detach(|| module.forward(&feeds))
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
