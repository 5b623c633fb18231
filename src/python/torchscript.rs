//! `fastpyfunc._native.TorchScriptModel`: a TorchScript module run by the separately built engine
//! library. `run([array, ...], params)` passes the arrays as forward's positional arguments
//! (viewed without a copy, strides included, as `torch.from_numpy` does) and params as its
//! keyword arguments, with the GIL released, and returns `(structure, [(key, array), ...])`, or
//! a `NeedsPython` when params need Python torch to keep Python's answer.
//! `predict(data, plan, params, param_plan)` is a whole predict in one call (mlflow's
//! `_PyTorchWrapper` rules, from `flavor::pytorch`).

use std::path::PathBuf;

use numpy::prelude::*;
use numpy::PyUntypedArray;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};

use super::convert;
use super::enforce::{array_passes, frame_values, EnforcePlan};
use super::errors::{invalid_input, to_pyerr};
use super::input::{numpy_elem, Input, Origin, Table};
use super::output::unlabelled_frame;
use super::params::{with_params, CallParams, ParamPlan};
use crate::engine::torchscript::{
    self, ArgValue, Binding, Feed, Outputs, ParamValue, Structure, TorchScriptModule,
};
use crate::flavor::pytorch::{frame_feed, refuses_params, takes_array, FrameFeed};
use crate::frame::{Column, Layout, Rounding};
use crate::schema::enforce::{table_columns, Plan, TensorPlan};
use crate::tensor::{ElemType, Given, Value};

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
        if let Some(params) = params {
            match self.bind(py, arrays.len(), params)? {
                Binding::Args(args) => extra = args,
                Binding::NeedsPython(reason) => {
                    return Ok(Bound::new(py, NeedsPython { reason })?.into_any())
                }
            }
        }
        let mut given = Vec::with_capacity(arrays.len());
        for (i, value) in arrays.iter().enumerate() {
            let arr = value.cast::<PyUntypedArray>().map_err(|_| {
                invalid_input(
                    py,
                    path,
                    Some(format!("input {i}")),
                    "expected a numpy array".into(),
                )
            })?;
            given.push(arr.clone());
        }
        let outputs = self.forward_arrays(py, given, &extra)?;
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

    /// One call for a whole predict: reads `data` (an ndarray, a pandas DataFrame, Arrow data),
    /// enforces `plan` (the signature's inputs; None without one), then `params` with
    /// `param_plan` (bound to forward's keyword arguments), applies mlflow's PyTorch wrapper
    /// rules (an ndarray as it is; a table's enforced columns as one float32 `[N, k]` tensor, one
    /// copy), runs forward with the GIL released and builds what the Python path returns: the
    /// output array (or the dict, tuple or list of them), and for a table
    /// `DataFrame(out, index=df.index)` (the same columns as Arrow for Arrow input). None where
    /// mlflow's rules need pandas or Python for this input or these params: the Python path
    /// takes it from there and words any error.
    #[pyo3(signature = (data, plan=None, params=None, param_plan=None))]
    fn predict<'py>(
        &self,
        py: Python<'py>,
        data: &Bound<'py, PyAny>,
        plan: Option<PyRef<'py, EnforcePlan>>,
        params: Option<Bound<'py, PyAny>>,
        param_plan: Option<PyRef<'py, ParamPlan>>,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        let plan = plan.as_deref().map(|p| &p.plan);
        with_params(
            py,
            param_plan.as_deref(),
            params.as_ref(),
            |params| match Input::read_coerced(data, plan)? {
                Input::Array(arr) => self.predict_array(py, arr, plan, params),
                Input::Table(table) => self.predict_table(py, &table, plan, params),
                Input::Dict(_) | Input::Other => Ok(None),
            },
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

impl TorchScriptModel {
    /// forward's binding of `params` (its keyword arguments) after `inputs` positional ones.
    fn bind(&self, py: Python<'_>, inputs: usize, params: &Bound<'_, PyDict>) -> PyResult<Binding> {
        if params.is_empty() {
            return Ok(Binding::Args(vec![]));
        }
        let mut values = Vec::with_capacity(params.len());
        for (key, value) in params.iter() {
            let key: String = key.extract().map_err(|_| {
                let reason = "params keys must be strings".into();
                invalid_input(py, self.module.path(), Some(key.to_string()), reason)
            })?;
            values.push((key, param_value(&value)));
        }
        self.module
            .bind(inputs, &values)
            .map_err(|e| to_pyerr(py, e))
    }

    /// The enforced params of a one-call predict bound to forward's arguments after its one
    /// input; None where the Python path takes the call (a param mlflow's wrapper refuses, or
    /// one only Python torch converts as Python does).
    fn call_args(
        &self,
        py: Python<'_>,
        params: &CallParams<'_, '_>,
    ) -> PyResult<Option<Vec<ArgValue>>> {
        let Some(enforced) = params.enforce(py)? else {
            return Ok(Some(vec![]));
        };
        let keys: Vec<String> = enforced
            .keys()
            .iter()
            .map(|k| k.str().map(|s| s.to_string()))
            .collect::<PyResult<_>>()?;
        if refuses_params(&keys) {
            return Ok(None);
        }
        Ok(match self.bind(py, 1, &enforced)? {
            Binding::Args(args) => Some(args),
            Binding::NeedsPython(_) => None,
        })
    }

    /// forward on `arrays` (its positional arguments) and `extra` (bound params), with the GIL
    /// released. Arrays are viewed without a copy, strides included, as `torch.from_numpy`
    /// does; anything it would not view is converted once.
    fn forward_arrays<'py>(
        &self,
        py: Python<'py>,
        arrays: Vec<Bound<'py, PyUntypedArray>>,
        extra: &[ArgValue],
    ) -> PyResult<Outputs> {
        let path = self.module.path();
        // Arrays held alive (converted ones included) while the engine views them.
        let mut held: Vec<Bound<'py, PyUntypedArray>> = Vec::with_capacity(arrays.len());
        let mut feeds: Vec<Feed<'_>> = Vec::with_capacity(arrays.len());
        for (i, arr) in arrays.into_iter().enumerate() {
            let Some(Given::Elem(elem)) = convert::given(&arr) else {
                let reason = format!(
                    "can't convert np.ndarray of type {} to a tensor; the supported types are: \
                     float64, float32, float16, int64, int32, int16, int8, uint8, and bool",
                    arr.dtype()
                );
                return Err(invalid_input(py, path, Some(format!("input {i}")), reason));
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
            .detach(|| module.forward(&feeds, extra))
            .map_err(|e| to_pyerr(py, e))?;
        drop(feeds);
        drop(held);
        Ok(outputs)
    }

    /// An ndarray: checked against a single unnamed TensorSpec, passed as forward's argument.
    fn predict_array<'py>(
        &self,
        py: Python<'py>,
        arr: Bound<'py, PyUntypedArray>,
        plan: Option<&Plan>,
        params: &CallParams<'_, 'py>,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        // object, string and datetime arrays: torch.from_numpy's TypeError, worded in Python
        if !numpy_elem(&arr.dtype()).is_some_and(takes_array) || !array_passes(plan, &arr) {
            return Ok(None);
        }
        let Some(extra) = self.call_args(py, params)? else {
            return Ok(None);
        };
        let outputs = self.forward_arrays(py, vec![arr], &extra)?;
        structured(py, outputs).map(Some)
    }

    /// A DataFrame or Arrow table: the column schema enforced on the columns in place, then
    /// `to_numpy(dtype=float32)` of the enforced frame as one `[N, k]` copy (in its Fortran order).
    fn predict_table<'py>(
        &self,
        py: Python<'py>,
        table: &Table<'py>,
        plan: Option<&Plan>,
        params: &CallParams<'_, 'py>,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        if let Some(Plan::Tensors(t)) = plan {
            return self.predict_frame_values(py, t, table, params);
        }
        let (cols, labels) = (table.columns(), table.label_strs());
        let Some(taken) = table_columns(plan, &labels, &cols) else {
            return Ok(None);
        };
        if table.rows == 0 {
            return Ok(None);
        }
        let Some(parts) = taken
            .iter()
            .map(|(i, _)| cols[*i].as_ref())
            .collect::<Option<Vec<&Column<'_>>>>()
        else {
            return Ok(None);
        };
        let given: Vec<ElemType> = parts.iter().map(|c| c.dtype).collect();
        let enforced: Vec<ElemType> = taken.iter().map(|(_, t)| *t).collect();
        if frame_feed(&given, &enforced) != FrameFeed::Direct {
            return Ok(None);
        }
        let Some(outputs) = self.forward_to_numpy(
            py,
            table,
            &parts,
            &[table.rows, parts.len()],
            ElemType::F32,
            Rounding::Direct,
            params,
        )?
        else {
            return Ok(None);
        };
        if outputs.structure != Structure::Tensor {
            return structured(py, outputs).map(Some);
        }
        let Some((_, tensor)) = outputs.items.into_iter().next() else {
            return Ok(None);
        };
        unlabelled_frame(py, table, Value::Tensor(tensor))
    }
}

impl TorchScriptModel {
    /// A table under a tensor signature: mlflow's enforcement hands the wrapper `df.to_numpy()`
    /// (Fortran order, its columns' common type), which it passes as it is; answered as for an
    /// ndarray.
    fn predict_frame_values<'py>(
        &self,
        py: Python<'py>,
        plan: &TensorPlan,
        table: &Table<'py>,
        params: &CallParams<'_, 'py>,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        let Some((cols, frame)) = frame_values(plan, table)? else {
            return Ok(None);
        };
        let parts: Vec<&Column<'_>> = cols.iter().collect();
        let shape = frame.shape(table.rows, parts.len());
        let elem = frame.elem;
        match self.forward_to_numpy(
            py,
            table,
            &parts,
            &shape,
            elem,
            Rounding::ThroughF64,
            params,
        )? {
            Some(outputs) => structured(py, outputs).map(Some),
            None => Ok(None),
        }
    }

    /// forward on `parts` laid out as pandas' `to_numpy` lays a frame out (Fortran order: the
    /// same kernels, the same bits), in `elem`; one copy. None for a pandas frame that is one
    /// Fortran-ordered block (its columns are strided views): `to_numpy` is C-ordered there,
    /// and the Python path keeps that layout.
    #[allow(clippy::too_many_arguments)]
    fn forward_to_numpy<'py>(
        &self,
        py: Python<'py>,
        table: &Table<'py>,
        parts: &[&Column<'_>],
        shape: &[usize],
        elem: ElemType,
        rounding: Rounding,
        params: &CallParams<'_, 'py>,
    ) -> PyResult<Option<Outputs>> {
        if table.origin == Origin::Pandas
            && parts
                .iter()
                .any(|c| c.chunks.iter().any(|ch| ch.stride != 1))
        {
            return Ok(None);
        }
        let Some(extra) = self.call_args(py, params)? else {
            return Ok(None);
        };
        let rows = table.rows as i64;
        let data = convert::assemble_columns(py, parts, elem, rounding, Layout::ColumnMajor)?;
        let feeds = [Feed {
            elem,
            shape: shape.iter().map(|&d| d as i64).collect(),
            // `[N]`, or `[N, k]` in Fortran order
            strides: if shape.len() == 1 {
                vec![1]
            } else {
                vec![1, rows]
            },
            data: data.as_data_ref().addr() as *const std::ffi::c_void,
            owner: std::marker::PhantomData,
        }];
        let module = &self.module;
        let outputs = py
            .detach(|| module.forward(&feeds, &extra))
            .map_err(|e| to_pyerr(py, e))?;
        drop(feeds);
        drop(data);
        Ok(Some(outputs))
    }
}

/// forward's result as the Python path returns it for an ndarray: the array, or a dict, tuple or
/// list of arrays.
fn structured<'py>(py: Python<'py>, outputs: Outputs) -> PyResult<Bound<'py, PyAny>> {
    let mut items = outputs.items.into_iter();
    match outputs.structure {
        Structure::Tensor => match items.next() {
            Some((_, t)) => convert::value_to_py(py, Value::Tensor(t)),
            None => Ok(py.None().into_bound(py)),
        },
        Structure::Dict => {
            let d = PyDict::new(py);
            for (key, t) in items {
                d.set_item(key, convert::value_to_py(py, Value::Tensor(t))?)?;
            }
            Ok(d.into_any())
        }
        Structure::Tuple | Structure::List => {
            let values = items
                .map(|(_, t)| convert::value_to_py(py, Value::Tensor(t)))
                .collect::<PyResult<Vec<_>>>()?;
            if outputs.structure == Structure::Tuple {
                Ok(PyTuple::new(py, values)?.into_any())
            } else {
                Ok(PyList::new(py, values)?.into_any())
            }
        }
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
