//! The enforcement plan: a signature's input schema compiled once at load into what each
//! `predict` checks, with mlflow's `_enforce_schema` decisions and messages.
//!
//! The rules here see only descriptions of the input (column names, dtypes, shapes, and value
//! facts the binding computes on request), never Python objects. Parts of a schema the native
//! rules do not cover yet are marked `Delegate` and run through mlflow's own function.

pub mod columns;
pub mod tensors;

use super::{ColType, Schema};

pub use columns::{ColAction, ColumnPlan, DtypeInfo, Matched, PlannedCol, NAN_INT_HINT};
pub use tensors::{TensorPlan, TensorShape};

/// What `predict` does with its input before the model sees it.
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    Columns(ColumnPlan),
    Tensors(TensorPlan),
    /// mlflow's `_enforce_schema` decides (the reason says which part is not native yet).
    Delegate(String),
}

impl Plan {
    pub fn compile(schema: &Schema) -> Plan {
        match schema {
            Schema::Tensors(specs) => Plan::Tensors(TensorPlan::new(specs.clone())),
            Schema::Columns(cols) => {
                let mut planned = Vec::with_capacity(cols.len());
                for c in cols {
                    let ColType::Data(ty) = c.ty else {
                        return Plan::Delegate(format!(
                            "column {} has a nested type (array/object/map/any)",
                            c.name.as_deref().unwrap_or("(unnamed)")
                        ));
                    };
                    planned.push(PlannedCol {
                        name: c.name.clone(),
                        ty,
                        required: c.required,
                    });
                }
                Plan::Columns(ColumnPlan::new(planned))
            }
        }
    }
}

#[cfg(test)]
mod tests;
