//! mlflow's `_OnnxModelWrapper` feed rules, plus what onnxruntime's Python API accepts, so a
//! feed is accepted, cast or rejected exactly where mlflow would accept, cast or reject it.

use crate::tensor::{ElemType, Given, ValueKind};

/// How the binding must turn one feed into the tensor onnxruntime gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Feed {
    /// Pass the buffer as it is (made C-contiguous first if it is not); it holds this type.
    AsIs(ElemType),
    /// Convert to this element type first (mlflow's float64 -> float32 cast).
    Cast(ElemType),
    /// Convert every element to a string.
    Strings,
    /// onnxruntime would refuse it; the message is onnxruntime's.
    Reject(String),
}

/// The rule for a feed of `given` into an input declared as `declared`.
pub fn feed(declared: &ValueKind, given: Given) -> Feed {
    let ValueKind::Tensor { elem: want, .. } = declared else {
        return Feed::Reject(format!(
            "inputs of type {} cannot be fed from arrays",
            declared.type_name()
        ));
    };
    match (*want, given) {
        (ElemType::String, Given::Text) => Feed::Strings,
        (w, Given::Elem(g)) if w == g => Feed::AsIs(w),
        // mlflow casts float64 to float32 for `tensor(float)` inputs, and only for those.
        (ElemType::F32, Given::Elem(ElemType::F64)) => Feed::Cast(ElemType::F32),
        (w, g) => {
            let actual = match g {
                Given::Elem(e) => e.onnx_name(),
                Given::Text => ElemType::String.onnx_name(),
            };
            Feed::Reject(format!(
                "Unexpected input data type. Actual: ({actual}) , expected: ({})",
                w.onnx_name()
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(elem: ElemType) -> ValueKind {
        ValueKind::Tensor {
            elem,
            dims: vec![-1, 4],
        }
    }

    #[test]
    fn float64_is_cast_only_for_float_inputs() {
        assert_eq!(
            feed(&t(ElemType::F32), Given::Elem(ElemType::F64)),
            Feed::Cast(ElemType::F32)
        );
        assert!(matches!(
            feed(&t(ElemType::F16), Given::Elem(ElemType::F64)),
            Feed::Reject(_)
        ));
        assert!(matches!(
            feed(&t(ElemType::I64), Given::Elem(ElemType::F64)),
            Feed::Reject(_)
        ));
    }

    #[test]
    fn exact_types_pass_and_others_are_refused_like_onnxruntime() {
        assert_eq!(
            feed(&t(ElemType::I64), Given::Elem(ElemType::I64)),
            Feed::AsIs(ElemType::I64)
        );
        assert_eq!(
            feed(&t(ElemType::I64), Given::Elem(ElemType::I32)),
            Feed::Reject(
                "Unexpected input data type. Actual: (tensor(int32)) , expected: (tensor(int64))"
                    .into()
            )
        );
        assert!(matches!(
            feed(&t(ElemType::F32), Given::Text),
            Feed::Reject(_)
        ));
        assert_eq!(feed(&t(ElemType::String), Given::Text), Feed::Strings);
        assert!(matches!(
            feed(&t(ElemType::String), Given::Elem(ElemType::I64)),
            Feed::Reject(_)
        ));
        assert!(matches!(
            feed(&ValueKind::Other("seq(tensor(float))".into()), Given::Text),
            Feed::Reject(_)
        ));
    }
}
