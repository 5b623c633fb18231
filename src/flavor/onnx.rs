//! mlflow's `_OnnxModelWrapper` feed rules, plus what onnxruntime's Python API accepts, so a
//! feed is accepted, cast or rejected exactly where mlflow would accept, cast or reject it.

use crate::frame::common_type;
use crate::tensor::{ElemType, Given, Port, ValueKind};

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

/// What one model input gets from a DataFrame (or Arrow table): `columns` (indices into the
/// frame) assembled into a tensor of `elem`, 2-D `[N, k]` or, for one column, 1-D `[N]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortFeed {
    pub columns: Vec<usize>,
    pub elem: ElemType,
    pub two_d: bool,
}

/// mlflow's DataFrame feeds: a single model input takes the whole frame (`df.values`, whose dtype
/// is the columns' common type), several take one column each by name (`df[name].values`).
/// Err: what mlflow would refuse (a missing column, an object array, a dtype onnxruntime
/// rejects); the caller leaves those to the path that words the error.
pub fn frame_feeds(
    ports: &[Port],
    labels: &[Option<&str>],
    dtypes: &[ElemType],
) -> Result<Vec<PortFeed>, String> {
    let elem_for = |port: &Port, given: ElemType| match feed(&port.kind, Given::Elem(given)) {
        Feed::AsIs(e) | Feed::Cast(e) => Ok(e),
        Feed::Strings => Err("string input".to_string()),
        Feed::Reject(reason) => Err(reason),
    };
    if let [port] = ports {
        let common = common_type(dtypes).ok_or("the columns have no common numeric type")?;
        return Ok(vec![PortFeed {
            columns: (0..dtypes.len()).collect(),
            elem: elem_for(port, common)?,
            two_d: true,
        }]);
    }
    ports
        .iter()
        .map(|port| {
            let j = labels
                .iter()
                .position(|l| *l == Some(port.name.as_str()))
                .ok_or_else(|| format!("no column {}", port.name))?;
            Ok(PortFeed {
                columns: vec![j],
                elem: elem_for(port, dtypes[j])?,
                two_d: false,
            })
        })
        .collect()
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
    fn frame_feeds_follow_mlflow() {
        let port = |name: &str, elem| Port {
            name: name.into(),
            kind: t(elem),
        };
        // one input: the whole frame at the columns' common type, float64 cast to float32
        let one = frame_feeds(
            &[port("X", ElemType::F32)],
            &[Some("a"), Some("b")],
            &[ElemType::F64, ElemType::I32],
        )
        .unwrap();
        assert_eq!(
            one,
            vec![PortFeed {
                columns: vec![0, 1],
                elem: ElemType::F32,
                two_d: true
            }]
        );
        // several inputs: a column each, by name
        let two = frame_feeds(
            &[port("b", ElemType::I64), port("a", ElemType::F32)],
            &[Some("a"), Some("b")],
            &[ElemType::F64, ElemType::I64],
        )
        .unwrap();
        assert_eq!(two[0].columns, vec![1]);
        assert_eq!(two[1].elem, ElemType::F32);
        assert!(!two[1].two_d);
        assert!(frame_feeds(
            &[port("a", ElemType::F32), port("zz", ElemType::F32)],
            &[Some("a")],
            &[ElemType::F32],
        )
        .is_err());
        // int64 values into a float input: onnxruntime refuses
        assert!(frame_feeds(&[port("X", ElemType::F32)], &[None], &[ElemType::I64]).is_err());
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
