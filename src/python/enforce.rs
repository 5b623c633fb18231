//! `fastpyfunc._native.EnforcePlan`: the compiled input schema. Python hands it labels, dtypes
//! and shapes and carries out the typed [`ColumnAction`] it decides; value facts (all 0/1, NaN in integer
//! data) are computed here on the arrays in place.

use numpy::prelude::*;
use numpy::{PyArrayDescr, PyReadonlyArrayDyn, PyUntypedArray};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};

use super::input::Table;
use super::model::{json_to_py, py_to_json};
use crate::frame::Column;
use crate::schema::enforce::{
    columns::column_action, frame_tensor, tensors, ColAction, DtypeInfo, FrameTensor, Plan,
    TensorPlan, TensorShape, NAN_INT_HINT,
};
use crate::schema::{ColType, DataType, Schema, TensorSpec};
use crate::tensor::ElemType;

/// `(take, extras, identity)` of [`EnforcePlan::match_columns`].
type MatchResult = (Vec<(usize, usize)>, Vec<String>, bool);

#[pyclass(frozen, module = "fastpyfunc._native")]
pub(crate) struct EnforcePlan {
    pub(crate) plan: Plan,
}

#[pymethods]
impl EnforcePlan {
    /// Compiles an input schema given in its canonical form (the list of column or tensor spec
    /// dicts of `Schema.to_dict()`). Models loaded from an MLmodel get theirs from
    /// `ModelInfo.input_plan()` instead, compiled from the signature parsed at load.
    #[new]
    fn new(inputs: &Bound<'_, PyAny>) -> PyResult<Self> {
        let v = py_to_json(inputs)?;
        let schema = Schema::from_json(&v).map_err(PyValueError::new_err)?;
        Ok(EnforcePlan {
            plan: Plan::compile(&schema),
        })
    }

    /// `"columns"` or `"tensors"`.
    #[getter]
    fn kind(&self) -> &'static str {
        match self.plan {
            Plan::Columns(_) => "columns",
            Plan::Tensors(_) => "tensors",
        }
    }

    /// Whether the schema names its inputs.
    #[getter]
    fn named(&self) -> bool {
        match &self.plan {
            Plan::Columns(c) => c.named,
            Plan::Tensors(t) => t.named,
        }
    }

    /// Whether a dict input is one row rather than columns (column signatures only).
    #[getter]
    fn dict_is_row(&self) -> bool {
        matches!(&self.plan, Plan::Columns(c) if c.dict_is_row())
    }

    /// Schema input names (None for unnamed inputs), in schema order.
    #[getter]
    fn names(&self) -> Vec<Option<String>> {
        match &self.plan {
            Plan::Columns(c) => c.cols.iter().map(|c| c.name.clone()).collect(),
            Plan::Tensors(t) => t.specs.iter().map(|s| s.name.clone()).collect(),
        }
    }

    /// `(name, dtype, shape)` of each TensorSpec (tensor plans only).
    #[getter]
    fn tensor_specs(&self) -> Vec<(Option<String>, String, Vec<i64>)> {
        match &self.plan {
            Plan::Tensors(t) => t
                .specs
                .iter()
                .map(|s| (s.name.clone(), s.dtype.clone(), s.shape.clone()))
                .collect(),
            _ => vec![],
        }
    }

    /// Each column's type: `"double"`, or the nested type's canonical dict (column plans only).
    #[getter]
    fn types<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyAny>>> {
        match &self.plan {
            Plan::Columns(c) => c
                .cols
                .iter()
                .map(|c| match &c.ty {
                    ColType::Data(t) => Ok(PyString::new(py, t.name()).into_any()),
                    nested => json_to_py(py, &serde_json::Value::Object(nested.to_json())),
                })
                .collect(),
            _ => Ok(vec![]),
        }
    }

    /// Matches input column labels (or, for named tensors, dict keys / DataFrame columns) to the
    /// schema: `(take, extras, identity)`, where `take` lists `(schema index, input index)` in
    /// schema order. Raises ValueError with mlflow's message.
    fn match_columns(&self, labels: Vec<String>) -> PyResult<MatchResult> {
        let refs: Vec<&str> = labels.iter().map(String::as_str).collect();
        let m = match &self.plan {
            Plan::Columns(c) => c.match_columns(&refs),
            Plan::Tensors(t) => t.match_inputs(&refs),
        }
        .map_err(PyValueError::new_err)?;
        let identity = m.is_identity(labels.len());
        Ok((m.take, m.extras, identity))
    }

    /// mlflow's decision for schema column `index` (labelled `label` in the input) fed a column
    /// of this numpy or pandas `dtype`; `inferred` once the column went through
    /// `infer_objects()` (see [`ColumnAction::InferObjects`]).
    fn column_action(
        &self,
        index: usize,
        label: &str,
        dtype: &Bound<'_, PyAny>,
        inferred: bool,
    ) -> PyResult<ColumnAction> {
        let Plan::Columns(c) = &self.plan else {
            return Err(PyTypeError::new_err("not a column plan"));
        };
        let col = c
            .cols
            .get(index)
            .ok_or_else(|| PyValueError::new_err("column index out of range"))?;
        let ColType::Data(ty) = col.ty else {
            return Ok(ColumnAction::Nested {}); // cells are checked one by one
        };
        decide(label, ty, dtype, inferred)
    }

    /// mlflow's tensor check for spec `index`: None when the array fits, else the message.
    fn check_tensor(
        &self,
        index: usize,
        shape: Vec<usize>,
        dtype_name: &str,
        native_order: bool,
        dtype_text: &str,
    ) -> PyResult<Option<String>> {
        let Plan::Tensors(t) = &self.plan else {
            return Err(PyTypeError::new_err("not a tensor plan"));
        };
        let spec: &TensorSpec = t
            .specs
            .get(index)
            .ok_or_else(|| PyValueError::new_err("tensor index out of range"))?;
        let input = TensorShape {
            shape: &shape,
            dtype_name,
            native_order,
            dtype_text,
        };
        Ok(tensors::check(spec, &input).err())
    }
}

/// Whether an ndarray passes `plan` as mlflow's enforcement passes it, unchanged: without a
/// signature, or under one unnamed TensorSpec it satisfies. (Named specs, column signatures and
/// failures are the Python path's: it converts, or words the error.)
pub(crate) fn array_passes(plan: Option<&Plan>, arr: &Bound<'_, PyUntypedArray>) -> bool {
    match plan {
        None => true,
        Some(Plan::Tensors(t)) if !t.named && t.specs.len() == 1 => spec_passes(&t.specs[0], arr),
        Some(_) => false,
    }
}

/// Whether `arr` satisfies `spec` as it is (mlflow's `_enforce_tensor_spec` returns it unchanged).
fn spec_passes(spec: &TensorSpec, arr: &Bound<'_, PyUntypedArray>) -> bool {
    let Some(elem) = super::input::numpy_elem(&arr.dtype()) else {
        return false;
    };
    let input = TensorShape {
        shape: arr.shape(),
        dtype_name: elem.numpy_name(),
        native_order: true,
        dtype_text: elem.numpy_name(),
    };
    tensors::check(spec, &input).is_ok()
}

/// Named arrays, in the order the model's wrapper is handed them.
pub(crate) type NamedArrays<'py> = Vec<(String, Bound<'py, PyUntypedArray>)>;

/// A dict of ndarrays as mlflow's enforcement hands it to the flavor: without a signature as it
/// is; under named TensorSpecs, one entry per spec (mlflow's `_enforce_tensor_schema` builds a new
/// dict of exactly those), each array one its spec passes unchanged. None where the Python path
/// converts, warns (keys the signature lacks) or words an error (a missing key, a value that is
/// not an ndarray, a key that is not a str, an array its spec refuses).
pub(crate) fn dict_arrays<'py>(
    plan: Option<&Plan>,
    dict: &Bound<'py, PyDict>,
) -> PyResult<Option<NamedArrays<'py>>> {
    let mut given = Vec::with_capacity(dict.len());
    for (key, value) in dict.iter() {
        let (Ok(key), Ok(arr)) = (key.cast::<PyString>(), value.cast_into::<PyUntypedArray>())
        else {
            return Ok(None);
        };
        given.push((key.to_str()?.to_owned(), arr));
    }
    let t = match plan {
        None => return Ok(Some(given)),
        Some(Plan::Tensors(t)) if t.named && t.specs.len() == given.len() => t,
        Some(_) => return Ok(None),
    };
    let mut ordered = Vec::with_capacity(given.len());
    for spec in &t.specs {
        let Some(name) = spec.name.as_deref() else {
            return Ok(None);
        };
        match given.iter().find(|(k, _)| k == name) {
            Some((k, arr)) if spec_passes(spec, arr) => ordered.push((k.clone(), arr.clone())),
            _ => return Ok(None),
        }
    }
    Ok(Some(ordered))
}

/// An ndarray under one named TensorSpec: mlflow's enforcement makes it `{name: array}`.
pub(crate) fn named_array<'py>(
    plan: Option<&Plan>,
    arr: &Bound<'py, PyUntypedArray>,
) -> Option<NamedArrays<'py>> {
    match plan {
        Some(Plan::Tensors(t)) if t.named => match t.specs.as_slice() {
            [spec] if spec_passes(spec, arr) => Some(vec![(spec.name.clone()?, arr.clone())]),
            _ => None,
        },
        _ => None,
    }
}

/// A table under one unnamed TensorSpec, as mlflow's enforcement reads it before the flavor sees
/// an ndarray: its columns, and the tensor they make (see [`frame_tensor`]). None where the
/// Python path's rules apply.
pub(crate) fn frame_values<'t>(
    plan: &TensorPlan,
    table: &'t Table<'_>,
) -> PyResult<Option<(Vec<Column<'t>>, FrameTensor)>> {
    let Some(cols) = (0..table.width())
        .map(|i| table.column(i))
        .collect::<Option<Vec<Column<'t>>>>()
    else {
        return Ok(None);
    };
    let dtypes: Vec<ElemType> = cols.iter().map(|c| c.dtype).collect();
    // one column is read at `series[0]`, by label
    let zero = cols.len() == 1 && table.has_label_zero()?;
    Ok(frame_tensor(plan, &dtypes, table.rows, zero).map(|t| (cols, t)))
}

/// What happens to one input column, as mlflow's `_enforce_mlflow_datatype` decides it from the
/// column's dtype: the binding's form of the core's [`ColAction`]. Python matches on the variant
/// (`case ColumnAction.Cast(to=to)`) and carries it out with pandas.
#[pyclass(frozen, module = "fastpyfunc._native")]
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ColumnAction {
    /// Handed on unchanged.
    Keep {},
    /// `astype(to)`, a safe upcast.
    Cast { to: String },
    /// `astype("datetime64[ns]")`; a TypeError (tz-aware values) is mlflow's datetime error.
    CastDatetime {},
    /// An object column into datetime; a ValueError becomes `message`.
    CastObjectDatetime { message: String },
    /// An object column into double with `pd.to_numeric`; a ValueError becomes `message`.
    ToNumeric { message: String },
    /// `infer_objects()`, then ask again with `inferred=True`.
    InferObjects {},
    /// int64 into float/double: `astype(to)` when every value is 0 or 1, else `message`.
    CastIfZeroOne { to: String, message: String },
    /// Refused with `message`; with `nan_int_hint`, mlflow's missing-values hint is appended
    /// when the float64 values are integers and NaN.
    Reject { message: String, nan_int_hint: bool },
    /// A nested type (array/object/map/any): the cells are checked one by one.
    Nested {},
}

#[pymethods]
impl ColumnAction {
    fn __repr__(&self) -> String {
        format!("ColumnAction.{self:?}")
    }
}

impl From<ColAction> for ColumnAction {
    fn from(a: ColAction) -> Self {
        match a {
            ColAction::Keep => ColumnAction::Keep {},
            ColAction::Cast(to) => ColumnAction::Cast { to: to.into() },
            ColAction::CastDatetime => ColumnAction::CastDatetime {},
            ColAction::CastObjectDatetime { message } => {
                ColumnAction::CastObjectDatetime { message }
            }
            ColAction::ToNumeric { message } => ColumnAction::ToNumeric { message },
            ColAction::InferObjects => ColumnAction::InferObjects {},
            ColAction::CastIfZeroOne { to, message } => ColumnAction::CastIfZeroOne {
                to: to.into(),
                message,
            },
            ColAction::Reject {
                message,
                nan_int_hint,
            } => ColumnAction::Reject {
                message,
                nan_int_hint,
            },
        }
    }
}

/// The decision for a column of DataType `ty` whose numpy or pandas dtype is `dtype`.
fn decide(
    label: &str,
    ty: DataType,
    dtype: &Bound<'_, PyAny>,
    inferred: bool,
) -> PyResult<ColumnAction> {
    let kind: String = dtype.getattr(intern!(dtype.py(), "kind"))?.extract()?;
    // pandas extension dtypes may lack `itemsize` or give None
    let itemsize: usize = match dtype.getattr_opt(intern!(dtype.py(), "itemsize"))? {
        Some(v) if !v.is_none() => v.extract().unwrap_or(0),
        _ => 0,
    };
    let text = dtype.str()?.to_string();
    let ty_obj = dtype.get_type();
    let string_dtype = ty_obj.name()?.to_str()? == "StringDtype"
        && ty_obj.module()?.to_str()?.starts_with("pandas");
    let info = DtypeInfo {
        kind: kind.bytes().next().unwrap_or(b'V'),
        itemsize,
        text: &text,
        numpy: dtype.is_instance_of::<PyArrayDescr>(),
        string_dtype,
        inferred,
    };
    Ok(column_action(label, &info, ty).into())
}

/// [`EnforcePlan::column_action`] for a DataType given by name: the cells of nested types
/// (array items, object properties, map values) are decided with the same rules.
#[pyfunction]
pub(crate) fn scalar_action(
    type_name: &str,
    dtype: &Bound<'_, PyAny>,
    inferred: bool,
) -> PyResult<ColumnAction> {
    let ty = DataType::from_name(type_name)
        .ok_or_else(|| PyValueError::new_err(format!("unknown DataType {type_name:?}")))?;
    decide("", ty, dtype, inferred)
}

/// mlflow's hint for float columns fed to integer columns.
#[pyfunction]
pub(crate) fn nan_int_hint() -> &'static str {
    NAN_INT_HINT
}

/// Every value is 0 or 1 (int64 data; mlflow lets such a column become float/double).
#[pyfunction]
pub(crate) fn all_zero_or_one(
    py: Python<'_>,
    values: &Bound<'_, PyUntypedArray>,
) -> PyResult<bool> {
    let arr: PyReadonlyArrayDyn<'_, i64> = values
        .cast::<numpy::PyArrayDyn<i64>>()?
        .try_readonly()
        .map_err(|e| PyTypeError::new_err(e.to_string()))?;
    let view = arr.as_array();
    Ok(py.detach(|| view.iter().all(|&v| v == 0 || v == 1)))
}

/// The float64 data holds a NaN and is otherwise all integers (mlflow's missing-values hint);
/// OverflowError where mlflow's check meets an infinity first.
#[pyfunction]
pub(crate) fn nan_and_integers(
    py: Python<'_>,
    values: &Bound<'_, PyUntypedArray>,
) -> PyResult<bool> {
    let arr: PyReadonlyArrayDyn<'_, f64> = values
        .cast::<numpy::PyArrayDyn<f64>>()?
        .try_readonly()
        .map_err(|e| PyTypeError::new_err(e.to_string()))?;
    let view = arr.as_array();
    // mlflow's `values.hasnans and all(pd.isnull(x) or int(x) == x ...)`, in its order: an
    // infinity reached before any fraction is int()'s OverflowError, which mlflow reports.
    let verdict = py.detach(|| {
        if !view.iter().any(|v| v.is_nan()) {
            return Some(false);
        }
        for &v in view.iter() {
            if v.is_infinite() {
                return None;
            }
            if !v.is_nan() && v.fract() != 0.0 {
                return Some(false);
            }
        }
        Some(true)
    });
    verdict.ok_or_else(|| {
        pyo3::exceptions::PyOverflowError::new_err("cannot convert float infinity to integer")
    })
}
