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

/// The element type of the one unnamed input's tensor that mlflow's `_enforce_tensor_schema`
/// makes of a DataFrame of several plain scalar columns (read natively, as `dtypes`): their
/// common type, as `df.to_numpy()` has it, shaped `[N, k]`. None where the Python path's rules
/// apply: named or several specs, one column (`series[0]` is read by label there), a shape or
/// dtype mlflow refuses (it words the error), an empty frame.
pub fn frame_tensor(plan: &TensorPlan, dtypes: &[ElemType], rows: usize) -> Option<ElemType> {
    let [spec] = plan.specs.as_slice() else {
        return None;
    };
    if plan.named || rows == 0 || dtypes.len() < 2 {
        return None;
    }
    let elem = ElemType::from_numpy_name(&spec.dtype)?;
    let [-1, k] = spec.shape.as_slice() else {
        return None;
    };
    (usize::try_from(*k).ok() == Some(dtypes.len()) && common_type(dtypes) == Some(elem))
        .then_some(elem)
}
