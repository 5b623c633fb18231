//! Tensor-based schemas: mlflow's `_enforce_tensor_spec` (rank, fixed dimensions, exact dtype,
//! and the two ragged-array escape hatches).

use super::columns::{match_named, Matched};
use crate::frame::common_type;
use crate::schema::TensorSpec;
use crate::tensor::ElemType;

#[derive(Debug, Clone, PartialEq)]
pub struct TensorPlan {
    pub specs: Vec<TensorSpec>,
    pub named: bool,
}

/// What the binding reports about an input array.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TensorShape<'a> {
    pub shape: &'a [usize],
    /// numpy's `dtype.name` after mlflow's `clean_tensor_type` (`<U5` -> `str`, `S3` -> `bytes`).
    pub dtype_name: &'a str,
    /// The dtype is in native byte order (numpy compares `>f8` and `<f8` as different).
    pub native_order: bool,
    /// `str(dtype)` of the input, for messages.
    pub dtype_text: &'a str,
}

impl TensorPlan {
    pub fn new(specs: Vec<TensorSpec>) -> Self {
        let named = specs.first().is_some_and(|s| s.name.is_some());
        TensorPlan { specs, named }
    }

    /// Matches the keys of a dict or the columns of a DataFrame to named specs (all required).
    pub fn match_inputs(&self, labels: &[&str]) -> Result<Matched, String> {
        let names: Vec<(&str, bool)> = self
            .specs
            .iter()
            .filter_map(|s| Some((s.name.as_deref()?, true)))
            .collect();
        match_named(&names, labels)
    }
}

/// `str(np.dtype(name))` for a canonical TensorSpec dtype.
fn dtype_text(name: &str) -> &str {
    match name {
        "str" => "<U0",
        "bytes" => "|S0",
        other => other,
    }
}

fn py_tuple(items: impl IntoIterator<Item = String>) -> String {
    let items: Vec<String> = items.into_iter().collect();
    match items.len() {
        1 => format!("({},)", items[0]),
        _ => format!("({})", items.join(", ")),
    }
}

/// Checks one array against its spec; the error is mlflow's message.
pub fn check(spec: &TensorSpec, input: &TensorShape<'_>) -> Result<(), String> {
    let expected = &spec.shape;
    let object = input.dtype_name == "object";
    if expected.len() == 1 && expected[0] == -1 && spec.dtype == "object" {
        return Ok(()); // ragged: anything goes
    }
    if expected.len() > 1 && expected[1..].contains(&-1) && input.shape.len() == 1 && object {
        return Ok(()); // ragged: a 1-D object array of rows
    }
    let shape_err = || {
        format!(
            "Shape of input {} does not match expected shape {}.",
            py_tuple(input.shape.iter().map(|d| d.to_string())),
            py_tuple(expected.iter().map(|d| d.to_string()))
        )
    };
    if expected.len() != input.shape.len() {
        return Err(shape_err());
    }
    if expected
        .iter()
        .zip(input.shape)
        .any(|(&e, &a)| e != -1 && e != a as i64)
    {
        return Err(shape_err());
    }
    if input.dtype_name != spec.dtype || !input.native_order {
        return Err(format!(
            "dtype of input {} does not match expected dtype {}",
            input.dtype_text,
            dtype_text(&spec.dtype)
        ));
    }
    Ok(())
}

/// The tensor mlflow's `_enforce_tensor_schema` makes of a DataFrame of plain scalar columns
/// for the one unnamed input, before the flavor sees an ndarray.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameTensor {
    /// Its element type: the columns' common type, as `df.to_numpy()` has it.
    pub elem: ElemType,
    /// `[N]` (one column into a `(-1,)` spec) rather than `[N, k]`.
    pub vector: bool,
}

impl FrameTensor {
    /// The tensor's shape for `rows` rows of `width` columns.
    pub fn shape(&self, rows: usize, width: usize) -> Vec<usize> {
        if self.vector {
            vec![rows]
        } else {
            vec![rows, width]
        }
    }
}

/// The tensor of the one unnamed input that mlflow's `_enforce_tensor_schema` makes of a
/// DataFrame of plain scalar columns (read natively, as `dtypes`):
/// - several columns: `df.to_numpy()` (their common type) under a `(-1, k)` spec;
/// - one column: `np.array(series, dtype=spec.type).reshape(shape)` under a `(-1,)` or `(-1, 1)`
///   spec, once `series[0]` (by label: `first_label_zero` says the frame has that label) is a
///   scalar, which every cell of a plain column is; only where the column already has the
///   spec's type (any other cast is numpy's unsafe one).
///
/// None where the Python path's rules apply: named or several specs, a shape or dtype mlflow
/// refuses (it words the error), an empty frame, a frame without the label 0.
pub fn frame_tensor(
    plan: &TensorPlan,
    dtypes: &[ElemType],
    rows: usize,
    first_label_zero: bool,
) -> Option<FrameTensor> {
    let [spec] = plan.specs.as_slice() else {
        return None;
    };
    if plan.named || rows == 0 {
        return None;
    }
    let elem = ElemType::from_numpy_name(&spec.dtype)?;
    match (dtypes, spec.shape.as_slice()) {
        ([only], shape @ ([-1] | [-1, 1])) => {
            (first_label_zero && *only == elem).then_some(FrameTensor {
                elem,
                vector: shape.len() == 1,
            })
        }
        ([_], _) | ([], _) => None,
        (_, [-1, k]) => (usize::try_from(*k).ok() == Some(dtypes.len())
            && common_type(dtypes) == Some(elem))
        .then_some(FrameTensor {
            elem,
            vector: false,
        }),
        _ => None,
    }
}

/// Which of mlflow's `_reshape_and_cast_pandas_column_values` cases a DataFrame column's first
/// value (`series[0]`, by label) selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirstCell {
    /// `np.isscalar`: the column is the tensor, shaped `(-1,)` or `(-1, 1)`.
    Scalar,
    /// A list of scalars: the rows stacked (`np.vstack`), reshaped and cast.
    ScalarList,
    /// An ndarray: the rows stacked and reshaped.
    Array,
    Other,
}

fn input_text(name: Option<&str>) -> String {
    match name {
        Some(n) if !n.is_empty() => format!("input {n}"),
        _ => "the unnamed input".into(),
    }
}

fn shape_text(shape: &[i64]) -> String {
    py_tuple(shape.iter().map(|d| d.to_string()))
}

/// A DataFrame column fed to `spec` needs a variable first dimension and fixed others.
pub fn column_shape(spec: &TensorSpec) -> Result<(), String> {
    let s = &spec.shape;
    if s.first() == Some(&-1) && !s[1..].contains(&-1) {
        return Ok(());
    }
    Err(format!(
        "For pandas dataframe input, the first dimension of shape must be a variable dimension \
         and other dimensions must be fixed, but in model signature the shape of {} is {}.",
        input_text(spec.name.as_deref()),
        shape_text(s)
    ))
}

/// A column of scalars is the tensor itself: `(-1,)` or `(-1, 1)` only. (`name` prints as
/// Python's f-string prints None for the unnamed input.)
pub fn scalar_column(spec: &TensorSpec) -> Result<(), String> {
    if matches!(spec.shape.as_slice(), [-1] | [-1, 1]) {
        return Ok(());
    }
    Err(format!(
        "The input pandas dataframe column '{}' contains scalar values, which requires the shape \
         to be (-1,) or (-1, 1), but got tensor spec shape of {}.",
        spec.name.as_deref().unwrap_or("None"),
        shape_text(&spec.shape)
    ))
}

/// Rows of lists or arrays that do not stack into the spec's shape.
pub fn unstackable(spec: &TensorSpec, cell: FirstCell) -> String {
    let name = spec.name.as_deref().unwrap_or("None");
    let shape = shape_text(&spec.shape);
    match cell {
        FirstCell::Array => format!(
            "The value in the Input DataFrame column '{name}' could not be converted to the \
             expected shape of: '{shape}'. Ensure that each of the input numpy array elements \
             are of uniform length and can be reshaped to above expected shape."
        ),
        _ => format!(
            "The value in the Input DataFrame column '{name}' could not be converted to the \
             expected shape of: '{shape}'. Ensure that each of the input list elements are of \
             uniform length and that the data can be coerced to the tensor type '{}'",
            dtype_text(&spec.dtype)
        ),
    }
}

pub const UNSUPPORTED_CELLS: &str = "Because the model signature requires tensor spec input, \
    the input pandas dataframe values should be either scalar value, python list containing \
    scalar values or numpy array containing scalar values, other types are not supported.";

pub const EMPTY_FRAME: &str = "Input DataFrame is empty.";

/// Several scalar columns into the one unnamed input: its shape must be `(-1, columns)`.
pub fn several_columns(spec: &TensorSpec, columns: usize) -> Result<(), String> {
    if spec.shape.as_slice() == [-1, columns as i64] {
        return Ok(());
    }
    Err(format!(
        "This model contains a model signature with an unnamed input. Since the input data is a \
         pandas DataFrame containing multiple columns, the input shape must be of the structure \
         (-1, number_of_dataframe_columns). Instead, the input DataFrame passed had {columns} \
         columns and an input shape of {} with all values within the DataFrame of scalar type. \
         Please adjust the passed in DataFrame to match the expected structure",
        shape_text(&spec.shape)
    ))
}

#[cfg(test)]
mod frame_tests {
    use super::*;

    fn spec(name: Option<&str>, dtype: &str, shape: &[i64]) -> TensorSpec {
        TensorSpec {
            name: name.map(Into::into),
            dtype: dtype.into(),
            shape: shape.to_vec(),
        }
    }

    #[test]
    fn frame_columns_need_a_variable_first_dimension_and_fixed_others() {
        assert!(column_shape(&spec(None, "float32", &[-1, 3])).is_ok());
        let err = column_shape(&spec(Some("x"), "float32", &[-1, -1])).unwrap_err();
        assert!(err.ends_with("the shape of input x is (-1, -1)."), "{err}");
        let err = column_shape(&spec(None, "float32", &[4])).unwrap_err();
        assert!(
            err.ends_with("the shape of the unnamed input is (4,)."),
            "{err}"
        );
    }

    #[test]
    fn scalar_columns_are_one_dimensional_or_one_wide() {
        assert!(scalar_column(&spec(None, "int64", &[-1])).is_ok());
        assert!(scalar_column(&spec(None, "int64", &[-1, 1])).is_ok());
        let err = scalar_column(&spec(None, "int64", &[-1, 2])).unwrap_err();
        assert!(
            err.starts_with("The input pandas dataframe column 'None' contains"),
            "{err}"
        );
        assert!(several_columns(&spec(None, "float64", &[-1, 3]), 3).is_ok());
        assert!(several_columns(&spec(None, "float64", &[-1, 3]), 2).is_err());
        assert!(
            unstackable(&spec(Some("a"), "str", &[-1, 2]), FirstCell::ScalarList)
                .ends_with("coerced to the tensor type '<U0'")
        );
    }
}
