//! The one reader of `predict` inputs: NumPy arrays, dicts, pandas DataFrames (their column
//! arrays read in place) and Arrow data (pyarrow Tables and RecordBatches, polars, anything exporting the
//! Arrow PyCapsule interface, read through the C data interface without pandas). Columns become
//! [`frame::Column`]s, which the core's rules read whatever they came from.

use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::Schema;
use numpy::prelude::*;
use numpy::{PyArray1, PyArrayDescr, PyReadonlyArray1, PyUntypedArray};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyString};
use pyo3_arrow::{PyArray, PyChunkedArray, PyRecordBatch, PyTable};

use crate::frame::{arrow_column, arrow_dtype, pandas_meta, Chunk, Column};
use crate::schema::enforce::Plan;
use crate::tensor::{DataRef, ElemType};

/// What a `predict` input is, as far as the native path reads it.
pub(crate) enum Input<'py> {
    /// A NumPy array.
    Array(Bound<'py, PyUntypedArray>),
    /// Labelled columns: a pandas DataFrame or Arrow data.
    Table(Table<'py>),
    /// A dict (of named arrays, for multi-input models).
    Dict(Bound<'py, PyDict>),
    /// Anything else (a Series, list or scalar [`Input::read_coerced`] did not turn into a
    /// DataFrame, Spark, sparse matrices, Arrow arrays): the Python path.
    Other,
}

/// Which kind of object a table came from: results are returned in the same family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    Pandas,
    /// pyarrow, or any other Arrow PyCapsule producer (answered with a pyarrow Table).
    Arrow,
    Polars,
}

pub(crate) struct Table<'py> {
    pub origin: Origin,
    /// Column labels; None for a label that is not a str (never matches a schema name).
    pub labels: Vec<Option<String>>,
    pub rows: usize,
    /// The pandas DataFrame read, whose index pandas results keep; None for records (whose
    /// `pd.DataFrame` has the default RangeIndex) and Arrow.
    pub frame: Option<Bound<'py, PyAny>>,
    sources: Vec<Source<'py>>,
}

enum Source<'py> {
    Numpy(NumBorrow<'py>),
    Arrow(Vec<ArrayRef>),
    /// A dtype the native rules do not read (object, strings, extension dtypes, datetimes,
    /// nested Arrow types): mlflow's rules for it need pandas.
    Unsupported,
}

macro_rules! num_borrow {
    ($(($v:ident, $t:ty)),*) => {
        /// A 1-D NumPy column borrowed for reading.
        enum NumBorrow<'py> {
            $($v(PyReadonlyArray1<'py, $t>),)*
        }

        impl<'py> NumBorrow<'py> {
            fn new(arr: &Bound<'py, PyUntypedArray>, elem: ElemType) -> Option<Self> {
                match elem {
                    $(ElemType::$v => Some(NumBorrow::$v(
                        arr.cast::<PyArray1<$t>>().ok()?.try_readonly().ok()?,
                    )),)*
                    ElemType::String => None,
                }
            }

            /// The column's elements, in place (positive strides only).
            fn chunk(&self) -> Option<Chunk<'_>> {
                match self {
                    $(NumBorrow::$v(a) => {
                        let view = a.as_array();
                        let len = view.len();
                        let stride = if len <= 1 { 1 } else { usize::try_from(view.strides()[0]).ok()? };
                        if stride == 0 && len > 1 {
                            return None;
                        }
                        let span = if len == 0 { 0 } else { (len - 1) * stride + 1 };
                        // SAFETY: a NumPy array of `len` elements `stride` apart spans exactly
                        // `span` elements from its first; the borrow keeps it alive and unwritten
                        // by Rust for as long as `self`.
                        let data = unsafe { std::slice::from_raw_parts(view.as_ptr(), span) };
                        Some(Chunk { data: DataRef::$v(data), stride, len, nulls: None })
                    })*
                }
            }
        }
    };
}
crate::with_numeric_types!(num_borrow);

impl<'py> Table<'py> {
    pub fn width(&self) -> usize {
        self.sources.len()
    }

    /// Column `i` read in place, or None where its dtype needs pandas.
    pub fn column(&self, i: usize) -> Option<Column<'_>> {
        match &self.sources[i] {
            Source::Numpy(b) => {
                let chunk = b.chunk()?;
                Some(Column {
                    dtype: chunk.data.elem_type(),
                    chunks: vec![chunk],
                })
            }
            Source::Arrow(arrays) => arrow_column(arrays),
            Source::Unsupported => None,
        }
    }

    /// Every column as [`Table::column`] reads it, in input order.
    pub fn columns(&self) -> Vec<Option<Column<'_>>> {
        (0..self.width()).map(|i| self.column(i)).collect()
    }

    /// Whether the frame has the row label 0, which mlflow reads a one-column frame's first cell
    /// at (`series[0]`): a table without an index (Arrow, records) is labelled as `to_pandas()`
    /// labels it, from 0; a pandas frame only where its index is a RangeIndex from 0 (any other
    /// index goes to the Python path, which looks the label up).
    pub fn has_label_zero(&self) -> PyResult<bool> {
        let Some(df) = &self.frame else {
            return Ok(self.rows > 0);
        };
        let py = df.py();
        let index = df.getattr(intern!(py, "index"))?;
        if index.get_type().name()?.to_str()? != "RangeIndex" {
            return Ok(false);
        }
        Ok(self.rows > 0 && index.getattr(intern!(py, "start"))?.extract::<i64>()? == 0)
    }

    /// The labels as the enforcement rules match them (None: not a str).
    pub fn label_strs(&self) -> Vec<Option<&str>> {
        self.labels.iter().map(|l| l.as_deref()).collect()
    }
}

impl<'py> Input<'py> {
    pub fn read(data: &Bound<'py, PyAny>) -> PyResult<Input<'py>> {
        if let Ok(arr) = data.cast::<PyUntypedArray>() {
            return Ok(Input::Array(arr.clone()));
        }
        if let Ok(dict) = data.cast::<PyDict>() {
            return Ok(Input::Dict(dict.clone()));
        }
        let module = data.get_type().module()?;
        let module = module.to_str()?;
        if module.starts_with("pandas") {
            let name = data.get_type().name()?;
            if name.to_str()? == "DataFrame" {
                if let Some(t) = read_pandas(data)? {
                    return Ok(Input::Table(t));
                }
            }
            return Ok(Input::Other);
        }
        let origin = if module.starts_with("polars") {
            Origin::Polars
        } else {
            Origin::Arrow
        };
        let py = data.py();
        let type_name = data.get_type().name()?;
        let type_name = type_name.to_str()?;
        // An array (a pyarrow Array or ChunkedArray, a polars Series) is one column, whatever
        // its type: a struct array's fields are not columns (`to_pandas()` gives one Series).
        if (module == "pyarrow.lib" && type_name.ends_with("Array"))
            || (origin == Origin::Polars && type_name == "Series")
        {
            return arrow_array(origin, data);
        }
        // A RecordBatch exports itself as a stream at several times the cost of one array;
        // everything else keeps the stream first (a failed `hasattr` on a polars DataFrame or
        // a pyarrow Table costs an AttributeError).
        let batch = module == "pyarrow.lib" && type_name == "RecordBatch";
        if !batch && data.hasattr(intern!(py, "__arrow_c_stream__"))? {
            // Another producer's stream of arrays that are not records: one column.
            let Ok(table) = data.extract::<PyTable>() else {
                return arrow_array(origin, data);
            };
            let (batches, schema) = table.into_inner();
            return Ok(arrow_table(origin, &schema, &batches));
        }
        if data.hasattr(intern!(py, "__arrow_c_array__"))? {
            let Ok(batch) = data.extract::<PyRecordBatch>() else {
                return arrow_array(origin, data);
            };
            let batch = batch.into_inner();
            return Ok(arrow_table(
                origin,
                &batch.schema(),
                std::slice::from_ref(&batch),
            ));
        }
        Ok(Input::Other)
    }
}

impl<'py> Input<'py> {
    /// [`Input::read`] after mlflow's coercion of the inputs its enforcement of a column
    /// signature turns into a DataFrame first: a Series, list, scalar or dict (`pd.DataFrame` of
    /// it, or of `[it]` for one row). The coercion is `_enforce.native_frame`, the pandas call
    /// mlflow's rule names; pandas results keep the frame's index ([`Table::frame`]).
    pub fn read_coerced(data: &Bound<'py, PyAny>, plan: Option<&Plan>) -> PyResult<Input<'py>> {
        static NATIVE_FRAME: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
        let input = Input::read(data)?;
        let dict_is_row = match (plan, &input) {
            (Some(Plan::Columns(c)), Input::Other | Input::Dict(_)) => c.dict_is_row(),
            // mlflow's enforcement makes any Series a DataFrame first (`pd.DataFrame(series)`)
            (Some(Plan::Tensors(_)), Input::Other) if is_series(data)? => {
                let frame = data
                    .py()
                    .import(intern!(data.py(), "pandas"))?
                    .getattr(intern!(data.py(), "DataFrame"))?
                    .call1((data,))?;
                return Input::read(&frame);
            }
            _ => return Ok(input),
        };
        if let Some(table) = records_table(data)? {
            return Ok(Input::Table(table));
        }
        let py = data.py();
        let coerce = NATIVE_FRAME.import(py, "fastpyfunc._enforce", "native_frame")?;
        let frame = coerce.call1((data, dict_is_row))?;
        if frame.is_none() {
            return Ok(input);
        }
        Input::read(&frame)
    }
}

/// A pandas Series (or a subclass defined in pandas: anything else is not worth importing
/// pandas for).
fn is_series(data: &Bound<'_, PyAny>) -> PyResult<bool> {
    let py = data.py();
    if !data.get_type().module()?.to_str()?.starts_with("pandas") {
        return Ok(false);
    }
    let pandas = py.import(intern!(py, "pandas"))?;
    data.is_instance(&pandas.getattr(intern!(py, "Series"))?)
}

/// A list of row dicts (what JSON APIs hand over) read as `pd.DataFrame(records)` reads it, in
/// the case whose answer is certain: every record an exact dict with the same str keys, every
/// value an exact Python `float` or `int`. A column of ints is int64, one with a float is
/// float64 (its ints converted, all within 2**53 so exactly). None for anything else: pandas
/// builds the frame. Its index would be the default RangeIndex, as results built from it have.
fn records_table<'py>(data: &Bound<'py, PyAny>) -> PyResult<Option<Table<'py>>> {
    use arrow_array::{Float64Array, Int64Array};
    use pyo3::types::{PyFloat, PyInt, PyList};

    enum Col {
        Ints(Vec<i64>),
        Floats(Vec<f64>),
    }
    const EXACT: i64 = 1 << 53;
    let Ok(list) = data.cast_exact::<PyList>() else {
        return Ok(None);
    };
    let rows = list.len();
    let Some(first) = list.iter().next() else {
        return Ok(None);
    };
    let Ok(first) = first.cast_exact::<PyDict>().cloned() else {
        return Ok(None);
    };
    let mut keys = Vec::with_capacity(first.len());
    for k in first.keys() {
        let Ok(k) = k.cast_exact::<PyString>().cloned() else {
            return Ok(None);
        };
        keys.push(k);
    }
    let mut cols: Vec<Col> = keys
        .iter()
        .map(|_| Col::Ints(Vec::with_capacity(rows)))
        .collect();
    for record in list.iter() {
        let Ok(record) = record.cast_exact::<PyDict>() else {
            return Ok(None);
        };
        if record.len() != keys.len() {
            return Ok(None);
        }
        for (key, col) in keys.iter().zip(cols.iter_mut()) {
            let Some(v) = record.get_item(key)? else {
                return Ok(None);
            };
            if let Ok(f) = v.cast_exact::<PyFloat>() {
                let f = f.value();
                match col {
                    Col::Floats(xs) => xs.push(f),
                    Col::Ints(xs) => {
                        if xs.iter().any(|i| !(-EXACT..=EXACT).contains(i)) {
                            return Ok(None);
                        }
                        let mut fs: Vec<f64> = xs.iter().map(|&i| i as f64).collect();
                        fs.reserve(rows - fs.len());
                        fs.push(f);
                        *col = Col::Floats(fs);
                    }
                }
            } else if v.cast_exact::<PyInt>().is_ok() {
                let Ok(i) = v.extract::<i64>() else {
                    return Ok(None);
                };
                match col {
                    Col::Ints(xs) => xs.push(i),
                    Col::Floats(xs) if (-EXACT..=EXACT).contains(&i) => xs.push(i as f64),
                    Col::Floats(_) => return Ok(None),
                }
            } else {
                return Ok(None);
            }
        }
    }
    let mut labels = Vec::with_capacity(keys.len());
    for k in &keys {
        labels.push(Some(k.to_str()?.to_owned()));
    }
    let sources = cols
        .into_iter()
        .map(|c| {
            let array: ArrayRef = match c {
                Col::Ints(xs) => Arc::new(Int64Array::from(xs)),
                Col::Floats(xs) => Arc::new(Float64Array::from(xs)),
            };
            Source::Arrow(vec![array])
        })
        .collect();
    Ok(Some(Table {
        origin: Origin::Pandas,
        labels,
        rows,
        frame: None,
        sources,
    }))
}

/// A DataFrame's columns: labels from `columns`, dtypes and arrays from its block manager
/// (`get_dtypes()` and `column_arrays` are what pandas' own JSON writer reads). Only NumPy
/// dtypes are read natively; extension dtypes stay with pandas. None for duplicated labels.
fn read_pandas<'py>(df: &Bound<'py, PyAny>) -> PyResult<Option<Table<'py>>> {
    let py = df.py();
    let mgr = df.getattr(intern!(py, "_mgr"))?;
    let mut labels = Vec::new();
    for label in df.getattr(intern!(py, "columns"))?.try_iter()? {
        let label = label?;
        labels.push(match label.cast::<PyString>() {
            Ok(s) => Some(s.to_str()?.to_owned()),
            Err(_) => None,
        });
    }
    let mut seen = std::collections::HashSet::new();
    if !labels.iter().flatten().all(|l| seen.insert(l.as_str())) {
        return Ok(None);
    }
    let dtypes = mgr.call_method0(intern!(py, "get_dtypes"))?;
    let arrays = mgr.getattr(intern!(py, "column_arrays"))?;
    let mut sources = Vec::with_capacity(labels.len());
    for (dtype, arr) in dtypes.try_iter()?.zip(arrays.try_iter()?) {
        let (dtype, arr) = (dtype?, arr?);
        // Extension dtypes (nullable Int64, str, categorical) are not np.dtype instances.
        let elem = dtype
            .cast::<PyArrayDescr>()
            .ok()
            .and_then(|d| numpy_elem(d));
        let source = match (elem, arr.cast::<PyUntypedArray>()) {
            (Some(elem), Ok(a)) if a.ndim() == 1 => {
                NumBorrow::new(a, elem).map_or(Source::Unsupported, Source::Numpy)
            }
            _ => Source::Unsupported,
        };
        sources.push(source);
    }
    if sources.len() != labels.len() {
        return Ok(None);
    }
    let rows = df.len()?;
    Ok(Some(Table {
        origin: Origin::Pandas,
        labels,
        rows,
        frame: Some(df.clone()),
        sources,
    }))
}

/// A plain numeric NumPy dtype in native byte order.
pub(crate) fn numpy_elem(d: &Bound<'_, PyArrayDescr>) -> Option<ElemType> {
    if d.is_native_byteorder() == Some(false) {
        return None;
    }
    numeric_elem(d.kind(), d.itemsize())
}

/// The element type of NumPy's `(dtype.kind, dtype.itemsize)`, for numeric and bool dtypes.
pub(crate) fn numeric_elem(kind: u8, itemsize: usize) -> Option<ElemType> {
    Some(match (kind, itemsize) {
        (b'b', _) => ElemType::Bool,
        (b'i', 1) => ElemType::I8,
        (b'i', 2) => ElemType::I16,
        (b'i', 4) => ElemType::I32,
        (b'i', 8) => ElemType::I64,
        (b'u', 1) => ElemType::U8,
        (b'u', 2) => ElemType::U16,
        (b'u', 4) => ElemType::U32,
        (b'u', 8) => ElemType::U64,
        (b'f', 2) => ElemType::F16,
        (b'f', 4) => ElemType::F32,
        (b'f', 8) => ElemType::F64,
        _ => return None,
    })
}

/// An Arrow array (through `__arrow_c_array__`, or its chunks through `__arrow_c_stream__`) as
/// the one-column table `pd.DataFrame(array.to_pandas())` is: mlflow's rule for a Series. The
/// column is a polars Series' name; any other array is unnamed (pandas labels it `0`, which
/// matches no schema name). Other for anything that exports neither.
fn arrow_array<'py>(origin: Origin, data: &Bound<'py, PyAny>) -> PyResult<Input<'py>> {
    let py = data.py();
    let (chunks, field) = if data.hasattr(intern!(py, "__arrow_c_array__"))? {
        match data.extract::<PyArray>() {
            Ok(a) => {
                let (array, field) = a.into_inner();
                (vec![array], field)
            }
            Err(_) => return Ok(Input::Other),
        }
    } else if data.hasattr(intern!(py, "__arrow_c_stream__"))? {
        match data.extract::<PyChunkedArray>() {
            Ok(c) => c.into_inner(),
            Err(_) => return Ok(Input::Other),
        }
    } else {
        return Ok(Input::Other);
    };
    let label = (origin == Origin::Polars).then(|| field.name().clone());
    // An extension type's pandas conversion is the extension's own: pandas reads it.
    let plain = !field.metadata().contains_key("ARROW:extension:name");
    let rows = chunks.iter().map(|c| c.len()).sum();
    let source = if plain && !chunks.is_empty() && arrow_dtype(&chunks).is_some() {
        Source::Arrow(chunks)
    } else {
        Source::Unsupported
    };
    Ok(Input::Table(Table {
        origin,
        labels: vec![label],
        rows,
        frame: None,
        sources: vec![source],
    }))
}

fn arrow_table<'py>(origin: Origin, schema: &Schema, batches: &[RecordBatch]) -> Input<'py> {
    let meta = pandas_meta(schema);
    if meta.stored_index {
        // to_pandas() makes those columns the index: the Python path reads it as pandas does
        return Input::Other;
    }
    let rows = batches.iter().map(|b| b.num_rows()).sum();
    let labels = schema
        .fields()
        .iter()
        .map(|f| Some(f.name().clone()))
        .collect();
    let sources = (0..schema.fields().len())
        .map(|i| {
            let arrays: Vec<ArrayRef> = batches.iter().map(|b| Arc::clone(b.column(i))).collect();
            if !meta.extension.contains(schema.field(i).name()) && arrow_dtype(&arrays).is_some() {
                Source::Arrow(arrays)
            } else {
                Source::Unsupported
            }
        })
        .collect();
    Input::Table(Table {
        origin,
        labels,
        rows,
        frame: None,
        sources,
    })
}
