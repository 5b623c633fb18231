//! The enforcement plan: a signature's input schema compiled once at load into what each
//! `predict` checks, with mlflow's `_enforce_schema` decisions and messages.
//!
//! The rules here see only descriptions of the input (column names, dtypes, shapes, and value
//! facts the binding computes on request), never Python objects.

pub mod columns;
pub mod params;
pub mod tensors;

use super::Schema;

pub use columns::{ColAction, ColumnPlan, DtypeInfo, Enforced, Matched, PlannedCol, NAN_INT_HINT};
pub use tensors::{TensorPlan, TensorShape};

/// What `predict` does with its input before the model sees it.
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    Columns(ColumnPlan),
    Tensors(TensorPlan),
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
