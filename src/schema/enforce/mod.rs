//! The enforcement plan: a signature's input schema compiled once at load into what each
//! `predict` checks, with mlflow's `_enforce_schema` decisions and messages.
//!
//! The rules here see only descriptions of the input (column names, dtypes, shapes, and value
//! facts the binding computes on request), never Python objects.

pub mod columns;
pub mod nested;
pub mod params;
pub mod tensors;

use super::Schema;

pub use columns::{ColAction, ColumnPlan, DtypeInfo, Enforced, Matched, PlannedCol, NAN_INT_HINT};
pub use tensors::{frame_tensor, FrameTensor, TensorPlan, TensorShape};

/// What `predict` does with its input before the model sees it.
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    Columns(ColumnPlan),
    Tensors(TensorPlan),
}

/// The columns a table hands on under `plan`, as `(input index, dtype after enforcement)` in
/// the order the model sees them: every column as it is without a signature, the enforced ones
/// under a column signature. None where mlflow's rules need pandas for this table (a column read
/// as unsupported, a value-dependent rule, a tensor signature's reshaping).
pub fn table_columns(
    plan: Option<&Plan>,
    labels: &[Option<&str>],
    cols: &[Option<crate::frame::Column<'_>>],
) -> Option<Vec<(usize, crate::tensor::ElemType)>> {
    match plan {
        Some(Plan::Columns(c)) => match c.enforce(labels, cols) {
            Enforced::Columns(taken) => Some(taken),
            Enforced::Pandas(_) => None,
        },
        Some(Plan::Tensors(_)) => None,
        None => cols
            .iter()
            .enumerate()
            .map(|(i, c)| c.as_ref().map(|c| (i, c.dtype)))
            .collect(),
    }
}

impl Plan {
    pub fn compile(schema: &Schema) -> Plan {
        match schema {
            Schema::Tensors(specs) => Plan::Tensors(TensorPlan::new(specs.clone())),
            Schema::Columns(cols) => Plan::Columns(ColumnPlan::new(
                cols.iter()
                    .map(|c| PlannedCol {
                        name: c.name.clone(),
                        ty: c.ty.clone(),
                        required: c.required,
                    })
                    .collect(),
            )),
        }
    }
}

#[cfg(test)]
mod tests;
