//! NumPy <-> engine tensors. Inputs are borrowed where the array already fits (C-contiguous,
//! aligned, native byte order, the right dtype) and converted exactly once otherwise; outputs are
//! moved into new NumPy arrays without another copy.

use numpy::ndarray::{ArrayViewD, IxDyn};
use numpy::prelude::*;
use numpy::{PyArray1, PyArrayDyn, PyReadonlyArrayDyn, PyUntypedArray};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString};

use super::input::numeric_elem;
use crate::frame::{assemble, Column, Layout, Rounding};
use crate::tensor::{Data, DataRef, ElemType, EngineBuffer, Given, Map, MapKeys, TensorRef, Value};

/// What one array holds, for the flavor rules: `None` for dtypes no engine takes (datetime...).
pub(crate) fn given(arr: &Bound<'_, PyUntypedArray>) -> Option<Given> {
    let dt = arr.dtype();
    if let Some(elem) = numeric_elem(dt.kind(), dt.itemsize()) {
        return Some(Given::Elem(elem));
    }
    matches!(dt.kind(), b'U' | b'S' | b'O').then_some(Given::Text)
}

/// Whether the array's buffer can be lent as it is.
pub(crate) fn fits(arr: &Bound<'_, PyUntypedArray>) -> bool {
    arr.is_c_contiguous() && arr.is_aligned() && arr.dtype().is_native_byteorder() != Some(false)
}

/// `np.ascontiguousarray(arr, dtype=<elem, native byte order>)`: the one conversion.
pub(crate) fn convert<'py>(
    arr: &Bound<'py, PyUntypedArray>,
    elem: ElemType,
) -> PyResult<Bound<'py, PyUntypedArray>> {
    let py = arr.py();
    let np = py.import("numpy")?;
    let dtype = np.getattr("dtype")?.call1((elem.numpy_name(),))?;
    let out = np.call_method1("ascontiguousarray", (arr, dtype))?;
    Ok(out.cast_into::<PyUntypedArray>()?)
}

/// [`assemble`] with the GIL released, then numpy's warning where a value overflowed in the
/// cast (mlflow's `astype` or `to_numpy(dtype)` gives it there; under `-W error`, that error).
pub(crate) fn assemble_columns(
    py: Python<'_>,
    cols: &[&Column<'_>],
    elem: ElemType,
    rounding: Rounding,
    layout: Layout,
) -> PyResult<Data> {
    let assembly = py
        .detach(|| assemble(cols, elem, rounding, layout))
        .map_err(PyValueError::new_err)?;
    if assembly.overflowed {
        let category = py.get_type::<pyo3::exceptions::PyRuntimeWarning>();
        PyErr::warn(py, &category, c"overflow encountered in cast", 1)?;
    }
    Ok(assembly.data)
}

/// `arr` as an engine input of type `elem`: borrowed where it already fits, otherwise converted
/// once (contiguous, native byte order, `elem`) and the copy borrowed.
pub(crate) fn lend<'py>(arr: &Bound<'py, PyUntypedArray>, elem: ElemType) -> PyResult<Held<'py>> {
    let arr = if given(arr) == Some(Given::Elem(elem)) && fits(arr) {
        arr.clone()
    } else {
        convert(arr, elem)?
    };
    Ok(Held::Num(NumHeld::borrow(&arr, elem)?))
}

/// `{output name: value}`, in the engine's output order.
pub(crate) fn outputs_dict<'py, 'a>(
    py: Python<'py>,
    names: impl IntoIterator<Item = &'a str>,
    values: Vec<Value>,
) -> PyResult<Bound<'py, PyDict>> {
    let out = PyDict::new(py);
    for (name, value) in names.into_iter().zip(values) {
        out.set_item(name, value_to_py(py, value)?)?;
    }
    Ok(out)
}

/// A feed array held (and borrowed) for the length of one engine call.
pub(crate) enum Held<'py> {
    Num(NumHeld<'py>),
    Str {
        shape: Vec<usize>,
        data: Vec<String>,
    },
}

macro_rules! num_held {
    ($(($v:ident, $t:ty)),*) => {
        pub(crate) enum NumHeld<'py> {
            $($v(PyReadonlyArrayDyn<'py, $t>),)*
        }

        impl<'py> NumHeld<'py> {
            /// Borrows `arr` (already checked to fit) as its element type.
            pub(crate) fn borrow(arr: &Bound<'py, PyUntypedArray>, elem: ElemType) -> PyResult<Self> {
                match elem {
                    $(ElemType::$v => Ok(NumHeld::$v(arr.cast::<PyArrayDyn<$t>>()?.try_readonly()
                        .map_err(|e| PyTypeError::new_err(e.to_string()))?)),)*
                    ElemType::String => Err(PyTypeError::new_err("string arrays are not numeric")),
                }
            }

            fn tensor(&self) -> TensorRef<'_> {
                match self {
                    $(NumHeld::$v(a) => TensorRef {
                        shape: a.shape(),
                        // `fits` checked contiguity and alignment before borrowing.
                        data: DataRef::$v(a.as_slice().expect("checked C-contiguous")),
                    },)*
                }
            }
        }
    };
}
crate::with_numeric_types!(num_held);

impl Held<'_> {
    pub(crate) fn tensor(&self) -> TensorRef<'_> {
        match self {
            Held::Num(n) => n.tensor(),
            Held::Str { shape, data } => TensorRef {
                shape,
                data: DataRef::Str(data),
            },
        }
    }
}

/// Every element as a string, the way onnxruntime's Python API reads `<U`, `S` and object arrays:
/// `str()` of each object, bytes decoded as UTF-8.
pub(crate) fn strings<'py>(arr: &Bound<'py, PyUntypedArray>) -> PyResult<Held<'py>> {
    let shape = arr.shape().to_vec();
    let flat = arr.call_method0("ravel")?.call_method0("tolist")?;
    let list = flat.cast::<PyList>()?;
    let mut data = Vec::with_capacity(list.len());
    for item in list.iter() {
        let s = if let Ok(s) = item.cast::<PyString>() {
            s.to_str()?.to_owned()
        } else if let Ok(b) = item.cast::<PyBytes>() {
            String::from_utf8(b.as_bytes().to_vec())
                .map_err(|e| PyTypeError::new_err(format!("bytes element is not UTF-8: {e}")))?
        } else {
            item.str()?.to_str()?.to_owned()
        };
        data.push(s);
    }
    Ok(Held::Str { shape, data })
}

/// An engine output as the Python object onnxruntime's Python API would return.
pub(crate) fn value_to_py<'py>(py: Python<'py>, v: Value) -> PyResult<Bound<'py, PyAny>> {
    match v {
        Value::Tensor(t) => data_to_array(py, t.data, &t.shape),
        Value::Engine { shape, buffer } => engine_array(py, buffer, &shape),
        Value::MapSequence(maps) => {
            let list = PyList::empty(py);
            for m in maps {
                list.append(map_to_dict(py, m)?)?;
            }
            Ok(list.into_any())
        }
    }
}

/// Owns an engine's output memory for as long as NumPy arrays view it (their `base`).
#[pyclass(frozen, module = "fastpyfunc._native")]
pub(crate) struct EngineOutput {
    buffer: Box<dyn EngineBuffer>,
}

/// A NumPy array over the engine's own output memory: no copy.
fn engine_array<'py>(
    py: Python<'py>,
    buffer: Box<dyn EngineBuffer>,
    shape: &[usize],
) -> PyResult<Bound<'py, PyAny>> {
    let owner = Bound::new(py, EngineOutput { buffer })?;
    let dim = IxDyn(shape);
    macro_rules! view {
        ($(($v:ident, $t:ty)),*) => {
            match owner.get().buffer.view() {
                $(DataRef::$v(s) => {
                    let view = ArrayViewD::from_shape(dim, s)
                        .map_err(|e| PyValueError::new_err(e.to_string()))?;
                    // SAFETY: `owner` becomes the array's base object and owns the memory, which
                    // the engine neither moves nor frees while the value is alive.
                    unsafe { PyArrayDyn::borrow_from_array(&view, owner.clone().into_any()) }.into_any()
                })*
                DataRef::Str(_) => return Err(PyValueError::new_err("string outputs are owned")),
            }
        };
    }
    Ok(crate::with_numeric_types!(view))
}

fn data_to_array<'py>(py: Python<'py>, data: Data, shape: &[usize]) -> PyResult<Bound<'py, PyAny>> {
    macro_rules! arrays {
        ($(($v:ident, $t:ty)),*) => {
            match data {
                $(Data::$v(v) => PyArray1::from_vec(py, v).reshape(shape.to_vec())?.into_any(),)*
                // onnxruntime returns string tensors as object arrays of str.
                Data::Str(v) => {
                    let objs: Vec<Py<PyAny>> = v.into_iter().map(|s| PyString::new(py, &s).into_any().unbind()).collect();
                    PyArray1::from_vec(py, objs).reshape(shape.to_vec())?.into_any()
                }
            }
        };
    }
    Ok(crate::with_numeric_types!(arrays))
}

fn map_to_dict<'py>(py: Python<'py>, m: Map) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    let n = m.values.len();
    let values = data_to_array(py, m.values, &[n])?;
    let values = values.call_method0("tolist")?;
    let values = values.cast::<PyList>()?;
    match m.keys {
        MapKeys::I64(keys) => {
            for (k, v) in keys.into_iter().zip(values.iter()) {
                d.set_item(k, v)?;
            }
        }
        MapKeys::Str(keys) => {
            for (k, v) in keys.into_iter().zip(values.iter()) {
                d.set_item(k, v)?;
            }
        }
    }
    Ok(d)
}
