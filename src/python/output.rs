//! Results for table inputs, in the input's family: a pandas DataFrame for pandas input (what
//! mlflow's flavor wrapper builds), a pyarrow Table for Arrow input, a polars DataFrame for
//! polars input. The Arrow result has the columns and values the pandas one has: a 1-D output (or
//! `[N, 1]`) is a primitive column, an `[N, d1, ...]` output a (nested) fixed-size list column
//! whose rows are the arrays pandas would hold as objects.

use std::sync::Arc;

use arrow_array::types::{
    Float16Type, Float32Type, Float64Type, Int16Type, Int32Type, Int64Type, Int8Type, UInt16Type,
    UInt32Type, UInt64Type, UInt8Type,
};
use arrow_array::PrimitiveArray;
use arrow_array::{
    ArrayRef, BooleanArray, FixedSizeListArray, Float16Array, Float32Array, Float64Array,
    Int16Array, Int32Array, Int64Array, Int8Array, RecordBatch, StringArray, StructArray,
    UInt16Array, UInt32Array, UInt64Array, UInt8Array,
};
use arrow_buffer::{alloc::Allocation, Buffer, ScalarBuffer};
use arrow_schema::{Field, Schema};
use numpy::prelude::*;
use numpy::PyUntypedArray;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyList};
use pyo3_arrow::ffi::to_array_pycapsules;
use pyo3_arrow::PyTable;
use std::panic::AssertUnwindSafe;
use std::ptr::NonNull;

use super::convert::{outputs_dict, value_to_py};
use super::input::{Origin, Table};
use crate::tensor::{Data, DataRef, EngineBuffer, Value};

/// The result of a table input: `names[i]` is the column of `values[i]`. `columns` caches the
/// pandas Index of the names (building one costs more than the rest of a small predict).
pub(crate) fn table_result<'py>(
    py: Python<'py>,
    origin: Origin,
    names: &[&str],
    values: Vec<Value>,
    columns: &PyOnceLock<Py<PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    if origin == Origin::Pandas {
        return pandas_frame(py, names, values, columns);
    }
    if values.iter().any(|v| matches!(v, Value::MapSequence(_))) {
        // Outputs Arrow has no column for here (sequences of maps): through pandas, as
        // pyarrow itself would convert them.
        let df = pandas_frame(py, names, values, columns)?;
        let kwargs = PyDict::new(py);
        kwargs.set_item("preserve_index", false)?;
        let table = py.import("pyarrow")?.getattr("Table")?.call_method(
            "from_pandas",
            (df,),
            Some(&kwargs),
        )?;
        return match origin {
            Origin::Polars => py.import("polars")?.call_method1("from_arrow", (table,)),
            _ => Ok(table),
        };
    }
    arrow_result(py, origin, arrow_batch(names, values)?)
}

/// A record batch as the input's family: a pyarrow Table, or a polars DataFrame.
fn arrow_result<'py>(
    py: Python<'py>,
    origin: Origin,
    batch: RecordBatch,
) -> PyResult<Bound<'py, PyAny>> {
    if origin == Origin::Polars {
        let schema = batch.schema();
        let table = Bound::new(py, PyTable::try_new(vec![batch], schema)?)?;
        return py.import("polars")?.getattr("DataFrame")?.call1((table,));
    }
    // One batch through the C data interface: a third of the C stream's cost (which exports and
    // imports the schema twice) and no `pyarrow.table()`, which would import pandas.
    static IMPORT_BATCH: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    static FROM_BATCHES: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let pyarrow = |class: &str, method: &str| {
        Ok::<_, PyErr>(
            py.import("pyarrow")?
                .getattr(class)?
                .getattr(method)?
                .unbind(),
        )
    };
    let import_batch =
        IMPORT_BATCH.get_or_try_init(py, || pyarrow("RecordBatch", "_import_from_c_capsule"))?;
    let from_batches = FROM_BATCHES.get_or_try_init(py, || pyarrow("Table", "from_batches"))?;
    let field = Arc::new(Field::new_struct(
        "",
        batch.schema().fields().clone(),
        false,
    ));
    let capsules = to_array_pycapsules(py, field, &StructArray::from(batch), None)?;
    let batch = import_batch.bind(py).call1(capsules)?;
    from_batches.bind(py).call1(([batch],))
}

/// mlflow's `DataFrame({name: np.asarray(out).reshape(-1)})`; a single numeric column is built
/// from a 2-D view (no copy, no per-column dict), anything else by `_onnx._frame`.
fn pandas_frame<'py>(
    py: Python<'py>,
    names: &[&str],
    values: Vec<Value>,
    columns: &PyOnceLock<Py<PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let pd = py.import(intern!(py, "pandas"))?;
    if let [Value::Tensor(_) | Value::Engine { .. }] = values.as_slice() {
        let Some(value) = values.into_iter().next() else {
            unreachable!("one value")
        };
        let arr = value_to_py(py, value)?;
        let a = arr.cast::<PyUntypedArray>()?;
        let flat = a.ndim() <= 1 || a.len() == a.shape()[0];
        if flat && a.dtype().kind() != b'O' {
            let cols = columns.get_or_try_init(py, || {
                let list = PyList::new(py, names)?;
                Ok::<_, PyErr>(pd.getattr("Index")?.call1((list,))?.unbind())
            })?;
            let view = arr.call_method1(intern!(py, "reshape"), ((-1, 1),))?;
            let kwargs = PyDict::new(py);
            kwargs.set_item(intern!(py, "columns"), cols.bind(py))?;
            kwargs.set_item(intern!(py, "copy"), false)?;
            return pd
                .getattr(intern!(py, "DataFrame"))?
                .call((view,), Some(&kwargs));
        }
        let d = PyDict::new(py);
        d.set_item(names[0], arr)?;
        return py
            .import("fastpyfunc._onnx")?
            .getattr("_frame")?
            .call1((pd, d));
    }
    let d = outputs_dict(py, names.iter().copied(), values)?;
    py.import("fastpyfunc._onnx")?
        .getattr("_frame")?
        .call1((pd, d))
}

/// The outputs (tensors) as one record batch.
fn arrow_batch(names: &[&str], values: Vec<Value>) -> PyResult<RecordBatch> {
    let mut fields = Vec::with_capacity(values.len());
    let mut columns = Vec::with_capacity(values.len());
    for (name, value) in names.iter().zip(values) {
        let (shape, mut column) = match value {
            Value::Tensor(t) => (t.shape, owned_array(t.data)),
            Value::Engine { shape, buffer } => (shape, lent_array(buffer)),
            Value::MapSequence(_) => {
                return Err(pyo3::exceptions::PyValueError::new_err(
                    "sequences of maps have no Arrow column",
                ))
            }
        };
        // pandas' rule: reshape(-1) unless the rows hold more than one value each
        let size: usize = shape.iter().product();
        if shape.len() >= 2 && size != shape[0] {
            for &d in shape[1..].iter().rev() {
                let field = Arc::new(Field::new_list_field(column.data_type().clone(), true));
                let size = i32::try_from(d).map_err(|_| {
                    pyo3::exceptions::PyValueError::new_err("output dimension too large")
                })?;
                column = Arc::new(
                    FixedSizeListArray::try_new(field, size, column, None)
                        .map_err(|e| pyo3::exceptions::PyValueError::new_err(e.to_string()))?,
                );
            }
        }
        fields.push(Field::new(*name, column.data_type().clone(), true));
        columns.push(column);
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
        .map_err(|e| pyo3::exceptions::PyValueError::new_err(e.to_string()))
}

/// Owned elements as one Arrow array: the vector becomes the Arrow buffer (no copy); booleans
/// (bit-packed in Arrow) and strings are converted.
fn owned_array(data: Data) -> ArrayRef {
    macro_rules! arrays {
        ($(($v:ident, $t:ty, $a:ty)),*) => {
            match data {
                Data::Bool(v) => Arc::new(BooleanArray::from(v)),
                $(Data::$v(v) => Arc::new(PrimitiveArray::<$a>::new(ScalarBuffer::from(v), None)),)*
                Data::Str(v) => Arc::new(StringArray::from(v)),
            }
        };
    }
    arrow_types!(arrays)
}

/// An engine's output memory lent to Arrow: the Arrow buffer owns the engine's value and frees
/// it with the last array over it (no copy). Booleans, strings and memory not aligned for its
/// type are copied.
fn lent_array(buffer: Box<dyn EngineBuffer>) -> ArrayRef {
    macro_rules! arrays {
        ($(($v:ident, $t:ty, $a:ty)),*) => {
            match buffer.view() {
                $(DataRef::$v(s) if s.as_ptr().align_offset(std::mem::align_of::<$t>()) == 0 => {
                    let (ptr, len) = (NonNull::from(s).cast::<u8>(), std::mem::size_of_val(s));
                    let owner: Arc<dyn Allocation> = Arc::new(Lent {
                        _engine: AssertUnwindSafe(buffer),
                    });
                    // SAFETY: `ptr..ptr + len` are the elements `view` returned, which stay valid
                    // and unmoved for as long as the engine value lives (`EngineBuffer`); the
                    // Arrow buffer holds `owner`, which owns it. The pointer is a slice's (non-null)
                    // and aligned for the type (checked above).
                    let bytes = unsafe {
                        Buffer::from_custom_allocation(ptr, len, owner)
                    };
                    Arc::new(PrimitiveArray::<$a>::new(ScalarBuffer::from(bytes), None))
                })*
                other => copied_array(other),
            }
        };
    }
    arrow_types!(arrays)
}

/// Keeps an engine's output alive under an Arrow buffer (dropped with the buffer).
struct Lent {
    _engine: AssertUnwindSafe<Box<dyn EngineBuffer>>,
}

/// The elements as one Arrow array, copied.
fn copied_array(data: DataRef<'_>) -> ArrayRef {
    match data {
        DataRef::Bool(s) => Arc::new(BooleanArray::from(s.to_vec())),
        DataRef::I8(s) => Arc::new(Int8Array::from(s.to_vec())),
        DataRef::I16(s) => Arc::new(Int16Array::from(s.to_vec())),
        DataRef::I32(s) => Arc::new(Int32Array::from(s.to_vec())),
        DataRef::I64(s) => Arc::new(Int64Array::from(s.to_vec())),
        DataRef::U8(s) => Arc::new(UInt8Array::from(s.to_vec())),
        DataRef::U16(s) => Arc::new(UInt16Array::from(s.to_vec())),
        DataRef::U32(s) => Arc::new(UInt32Array::from(s.to_vec())),
        DataRef::U64(s) => Arc::new(UInt64Array::from(s.to_vec())),
        DataRef::F16(s) => Arc::new(Float16Array::from(s.to_vec())),
        DataRef::F32(s) => Arc::new(Float32Array::from(s.to_vec())),
        DataRef::F64(s) => Arc::new(Float64Array::from(s.to_vec())),
        DataRef::Str(s) => Arc::new(StringArray::from(s.to_vec())),
    }
}

/// The numeric element types with their Arrow types (booleans are bit-packed in Arrow: not one).
macro_rules! arrow_types {
    ($m:ident) => {
        $m! {
            (I8, i8, Int8Type),
            (I16, i16, Int16Type),
            (I32, i32, Int32Type),
            (I64, i64, Int64Type),
            (U8, u8, UInt8Type),
            (U16, u16, UInt16Type),
            (U32, u32, UInt32Type),
            (U64, u64, UInt64Type),
            (F16, half::f16, Float16Type),
            (F32, f32, Float32Type),
            (F64, f64, Float64Type)
        }
    };
}
use arrow_types;

/// mlflow's `DataFrame(out, index=df.index)` for a table input whose model returns one unlabelled
/// array (the PyTorch wrapper): columns `0..m` of a `[N]` or `[N, m]` output. For Arrow input,
/// the same columns as Arrow (named `"0"`, `"1"`, ... as `Table.from_pandas` names them). None
/// for an output pandas would not take as a frame (more than two dimensions: the Python path
/// words that error) or one without columns.
pub(crate) fn unlabelled_frame<'py>(
    py: Python<'py>,
    table: &Table<'py>,
    out: Value,
) -> PyResult<Option<Bound<'py, PyAny>>> {
    let origin = table.origin;
    let shape = match &out {
        Value::Tensor(t) => t.shape.as_slice(),
        Value::Engine { shape, .. } => shape.as_slice(),
        Value::MapSequence(_) => return Ok(None),
    };
    let (rows, width) = match shape {
        [n] => (*n, 1),
        // (no columns: pandas still holds the rows, an Arrow batch cannot; the Python path does)
        [n, m] if *m > 0 => (*n, *m),
        _ => return Ok(None),
    };
    if origin == Origin::Pandas {
        let pd = py.import(intern!(py, "pandas"))?;
        let arr = value_to_py(py, out)?;
        let kwargs = PyDict::new(py);
        if let Some(frame) = &table.frame {
            kwargs.set_item(intern!(py, "index"), frame.getattr(intern!(py, "index"))?)?;
        }
        return pd
            .getattr(intern!(py, "DataFrame"))?
            .call((arr,), Some(&kwargs))
            .map(Some);
    }
    let data = match &out {
        Value::Tensor(t) => t.data.as_data_ref(),
        Value::Engine { buffer, .. } => buffer.view(),
        Value::MapSequence(_) => return Ok(None),
    };
    let Some(columns) = split_columns(data, rows, width) else {
        return Ok(None);
    };
    let fields: Vec<Field> = columns
        .iter()
        .enumerate()
        .map(|(j, c)| Field::new(j.to_string(), c.data_type().clone(), true))
        .collect();
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
        .map_err(|e| pyo3::exceptions::PyValueError::new_err(e.to_string()))?;
    arrow_result(py, origin, batch).map(Some)
}

/// A row-major `[rows, width]` buffer as `width` Arrow columns (one strided copy each).
fn split_columns(data: DataRef<'_>, rows: usize, width: usize) -> Option<Vec<ArrayRef>> {
    macro_rules! split {
        ($s:expr, $array:ident) => {
            (0..width)
                .map(|j| {
                    let column: Vec<_> = (0..rows).map(|i| $s[i * width + j]).collect();
                    Arc::new($array::from(column)) as ArrayRef
                })
                .collect()
        };
    }
    Some(match data {
        DataRef::Bool(s) => split!(s, BooleanArray),
        DataRef::I8(s) => split!(s, Int8Array),
        DataRef::I16(s) => split!(s, Int16Array),
        DataRef::I32(s) => split!(s, Int32Array),
        DataRef::I64(s) => split!(s, Int64Array),
        DataRef::U8(s) => split!(s, UInt8Array),
        DataRef::U16(s) => split!(s, UInt16Array),
        DataRef::U32(s) => split!(s, UInt32Array),
        DataRef::U64(s) => split!(s, UInt64Array),
        DataRef::F16(s) => split!(s, Float16Array),
        DataRef::F32(s) => split!(s, Float32Array),
        DataRef::F64(s) => split!(s, Float64Array),
        DataRef::Str(_) => return None,
    })
}
