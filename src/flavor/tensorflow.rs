//! mlflow.tensorflow's `_TF2Wrapper` rules (a SavedModel called through its serving signature,
//! as `tf1-estimator` models are): a DataFrame is fed column by column, each as
//! `np.array(series.to_list())`, by the signature's input names; each output becomes a column,
//! raveled where it holds one value per row, else `tolist()`'s nested lists.

use crate::tensor::ElemType;

/// The element type of `np.array(series.to_list())` for a plain numeric column of `elem`: the
/// values become Python scalars, so floats widen to float64 and integers to int64. None where
/// numpy decides from the values (uint64, which may not fit int64) or for non-numeric columns.
pub fn column_feed(elem: ElemType) -> Option<ElemType> {
    use ElemType::*;
    match elem {
        F16 | F32 | F64 => Some(F64),
        I8 | I16 | I32 | I64 | U8 | U16 | U32 => Some(I64),
        Bool => Some(Bool),
        U64 | String => None,
    }
}

/// The signature inputs fed from a DataFrame's `columns`: for each input (in `inputs` order),
/// the index of its column. None unless the columns are exactly the inputs (mlflow's wrapper
/// passes every column as a keyword argument; a missing or unknown one is TensorFlow's error,
/// worded by the Python path).
pub fn feeds(inputs: &[&str], columns: &[Option<&str>]) -> Option<Vec<usize>> {
    if inputs.len() != columns.len() {
        return None;
    }
    let mut taken = vec![false; columns.len()];
    inputs
        .iter()
        .map(|name| {
            let i = columns.iter().position(|c| *c == Some(*name))?;
            (!std::mem::replace(&mut taken[i], true)).then_some(i)
        })
        .collect()
}

/// What an output becomes in the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputColumn {
    /// `ravel()`: a 2-D or higher output with one value per row (or no rows).
    Flat,
    /// `tolist()`: Python scalars for a 1-D output, nested lists otherwise.
    Lists,
}

pub fn output_column(shape: &[usize]) -> OutputColumn {
    if shape.len() >= 2 && (shape[0] == 0 || shape[1] == 1) {
        OutputColumn::Flat
    } else {
        OutputColumn::Lists
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ElemType::*;

    #[test]
    fn columns_widen_as_python_scalars_do() {
        assert_eq!(column_feed(F32), Some(F64));
        assert_eq!(column_feed(U32), Some(I64));
        assert_eq!(column_feed(Bool), Some(Bool));
        assert_eq!(column_feed(U64), None);
        assert_eq!(column_feed(String), None);
    }

    #[test]
    fn the_columns_must_be_the_inputs() {
        assert_eq!(
            feeds(&["a", "b"], &[Some("b"), Some("a")]),
            Some(vec![1, 0])
        );
        assert_eq!(feeds(&["a", "b"], &[Some("a")]), None);
        assert_eq!(feeds(&["a"], &[Some("a"), Some("c")]), None);
        assert_eq!(feeds(&["a", "b"], &[Some("a"), None]), None);
    }

    #[test]
    fn outputs_with_one_value_per_row_are_raveled() {
        assert_eq!(output_column(&[4, 1]), OutputColumn::Flat);
        assert_eq!(output_column(&[0, 3]), OutputColumn::Flat);
        assert_eq!(output_column(&[4]), OutputColumn::Lists);
        assert_eq!(output_column(&[4, 2]), OutputColumn::Lists);
    }
}
