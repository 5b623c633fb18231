//! mlflow's `_enforce_tensor_schema` for a pandas DataFrame under a tensor signature
//! (`_reshape_and_cast_pandas_column_values` per column, or `df.to_numpy()` for several scalar
//! columns into the one unnamed input). The rules and messages are the core's
//! ([`crate::schema::enforce::tensors`]); this file reads the frame and runs the numpy calls
//! mlflow runs (`np.array`, `np.vstack`, `reshape`, `astype`), whose results and refusals depend
//! on the values.

use numpy::prelude::*;
use numpy::PyUntypedArray;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};

use super::enforce::EnforcePlan;
use crate::schema::enforce::tensors::{
    self, column_shape, scalar_column, several_columns, unstackable, FirstCell, TensorShape,
    EMPTY_FRAME, UNSUPPORTED_CELLS,
};
use crate::schema::enforce::Plan;
use crate::schema::TensorSpec;

/// `_columns.Failure(message, key)`: mlflow's message, `key` the input at fault.
fn failure(py: Python<'_>, message: &str, key: Option<&str>) -> PyErr {
    let made = py
        .import(intern!(py, "fastpyfunc._columns"))
        .and_then(|m| m.getattr(intern!(py, "Failure")))
        .and_then(|cls| cls.call1((message, key)));
    match made {
        Ok(e) => PyErr::from_value(e),
        Err(e) => e,
    }
}

/// The DataFrame `df` as the tensors a tensor signature gives the model: `{name: array}` for
/// named specs (the columns already matched to them), else the one array. Raises
/// `_columns.Failure` with mlflow's message.
#[pyfunction]
pub(crate) fn frame_to_tensors<'py>(
    plan: PyRef<'py, EnforcePlan>,
    df: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let py = df.py();
    let Plan::Tensors(t) = &plan.plan else {
        return Err(PyTypeError::new_err("not a tensor plan"));
    };
    if t.named {
        let out = PyDict::new(py);
        for spec in &t.specs {
            let name = spec.name.as_deref().unwrap_or_default();
            let column = df.get_item(name)?;
            let tensor = column_to_tensor(spec, &column).map_err(|e| keyed(py, e, name))?;
            out.set_item(name, tensor)?;
        }
        return Ok(out.into_any());
    }
    let [spec] = t.specs.as_slice() else {
        return Err(PyValueError::new_err(
            "an unnamed tensor signature has one spec",
        ));
    };
    if df.getattr(intern!(py, "empty"))?.is_truthy()? {
        return Err(failure(py, EMPTY_FRAME, None));
    }
    let columns = df.getattr(intern!(py, "columns"))?;
    let width = columns.len()?;
    if width == 1 {
        return column_to_tensor(spec, &df.get_item(columns.get_item(0)?)?);
    }
    several_columns(spec, width).map_err(|m| failure(py, &m, None))?;
    let arr = df.call_method0(intern!(py, "to_numpy"))?;
    check(spec, &arr)?;
    Ok(arr)
}

/// A failure inside a named input's conversion names that input, unless it names one already.
fn keyed(py: Python<'_>, e: PyErr, name: &str) -> PyErr {
    let value = e.value(py);
    if value.getattr(intern!(py, "key")).is_ok_and(|k| k.is_none()) {
        let _ = value.setattr(intern!(py, "key"), name);
    }
    e
}

/// mlflow's tensor check of a converted array against `spec`.
fn check(spec: &TensorSpec, arr: &Bound<'_, PyAny>) -> PyResult<()> {
    let py = arr.py();
    let arr = arr.cast::<PyUntypedArray>()?;
    let dtype = arr.dtype();
    let name = match dtype.char() {
        b'U' => "str".to_owned(),
        b'S' => "bytes".to_owned(),
        _ => dtype.getattr(intern!(py, "name"))?.extract()?,
    };
    let text = dtype.str()?.to_string();
    let input = TensorShape {
        shape: arr.shape(),
        dtype_name: &name,
        native_order: dtype.is_native_byteorder() != Some(false),
        dtype_text: &text,
    };
    tensors::check(spec, &input).map_err(|m| failure(py, &m, None))
}

/// `_reshape_and_cast_pandas_column_values(name, series, spec)`.
fn column_to_tensor<'py>(
    spec: &TensorSpec,
    series: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let py = series.py();
    let fail = |m: &str| failure(py, m, None);
    column_shape(spec).map_err(|m| fail(&m))?;
    let np = py.import(intern!(py, "numpy"))?;
    let dtype = np.call_method1(intern!(py, "dtype"), (spec.dtype.as_str(),))?;
    let shape = PyTuple::new(py, &spec.shape)?;
    // by label, as mlflow reads it
    let first = series
        .get_item(0)
        .map_err(|e| fail(&e.value(py).str().map(|s| s.to_string()).unwrap_or_default()))?;
    let cell = if np
        .call_method1(intern!(py, "isscalar"), (&first,))?
        .is_truthy()?
    {
        FirstCell::Scalar
    } else if first.is_instance_of::<PyList>()
        && np
            .call_method1(intern!(py, "isscalar"), (first.get_item(0)?,))?
            .is_truthy()?
    {
        FirstCell::ScalarList
    } else if first.is_instance_of::<PyUntypedArray>() {
        FirstCell::Array
    } else {
        FirstCell::Other
    };
    match cell {
        FirstCell::Scalar => {
            scalar_column(spec).map_err(|m| fail(&m))?;
            let kwargs = PyDict::new(py);
            kwargs.set_item(intern!(py, "dtype"), &dtype)?;
            let arr = np
                .call_method(intern!(py, "array"), (series,), Some(&kwargs))
                .and_then(|a| a.call_method1(intern!(py, "reshape"), (&shape,)))
                .map_err(|e| fail(&e.value(py).str().map(|s| s.to_string()).unwrap_or_default()))?;
            check(spec, &arr)?;
            Ok(arr)
        }
        FirstCell::ScalarList | FirstCell::Array => {
            let rows = series.call_method0(intern!(py, "tolist"))?;
            let stacked = np
                .call_method1(intern!(py, "vstack"), (rows,))
                .and_then(|a| a.call_method1(intern!(py, "reshape"), (&shape,)))
                .and_then(|a| match cell {
                    FirstCell::ScalarList => a.call_method1(intern!(py, "astype"), (&dtype,)),
                    _ => Ok(a),
                });
            let arr = match stacked {
                Ok(a) => a,
                Err(e) if e.is_instance_of::<PyValueError>(py) => {
                    return Err(fail(&unstackable(spec, cell)))
                }
                Err(e) => return Err(e),
            };
            if arr.len()? != series.len()? {
                return Err(fail(&unstackable(spec, cell)));
            }
            Ok(arr)
        }
        FirstCell::Other => Err(fail(UNSUPPORTED_CELLS)),
    }
}
