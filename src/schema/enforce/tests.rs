use super::columns::{column_action, py_list, py_str};
use super::tensors::check;
use super::*;
use crate::schema::{ColType, DataType, TensorSpec};

fn np(kind: u8, itemsize: usize, text: &str) -> DtypeInfo<'_> {
    DtypeInfo {
        kind,
        itemsize,
        text,
        numpy: true,
        string_dtype: false,
        inferred: false,
    }
}

#[test]
fn safe_upcasts_and_exact_types() {
    use ColAction::*;
    let f64_ = np(b'f', 8, "float64");
    assert_eq!(column_action("a", &f64_, DataType::Double), Keep);
    assert_eq!(
        column_action("a", &np(b'i', 4, "int32"), DataType::Long),
        Cast("int64")
    );
    assert_eq!(
        column_action("a", &np(b'u', 2, "uint16"), DataType::Integer),
        Cast("int32")
    );
    assert_eq!(
        column_action("a", &np(b'i', 4, "int32"), DataType::Double),
        Cast("float64")
    );
    assert_eq!(
        column_action("a", &np(b'f', 2, "float16"), DataType::Float),
        Cast("float32")
    );
    assert!(matches!(
        column_action("a", &np(b'i', 8, "int64"), DataType::Double),
        CastIfZeroOne { to: "float64", .. }
    ));
}

#[test]
fn unsafe_conversions_are_refused_with_mlflow_text() {
    let ColAction::Reject {
        message,
        nan_int_hint,
    } = column_action("x", &np(b'f', 8, "float64"), DataType::Long)
    else {
        panic!()
    };
    assert_eq!(
        message,
        "Incompatible input types for column x. Can not safely convert float64 to int64."
    );
    assert!(nan_int_hint);
    for (d, t) in [
        (np(b'i', 8, "int64"), DataType::Integer),
        (np(b'u', 4, "uint32"), DataType::Integer),
        (np(b'u', 8, "uint64"), DataType::Long),
        (np(b'b', 1, "bool"), DataType::Long),
        (np(b'i', 8, "int64"), DataType::Boolean),
        (np(b'f', 8, "float64"), DataType::Float),
        (np(b'i', 2, "int16"), DataType::Float),
    ] {
        assert!(
            matches!(column_action("c", &d, t), ColAction::Reject { .. }),
            "{d:?} {t:?}"
        );
    }
    let ColAction::Reject { message, .. } =
        column_action("c", &np(b'i', 8, "int64"), DataType::String)
    else {
        panic!()
    };
    assert!(message.ends_with("to <U0."), "{message}");
}

#[test]
fn strings_objects_and_datetimes() {
    let obj = np(b'O', 8, "object");
    assert_eq!(column_action("s", &obj, DataType::String), ColAction::Keep);
    assert_eq!(column_action("s", &obj, DataType::Binary), ColAction::Keep);
    assert_eq!(
        column_action("s", &obj, DataType::Double),
        ColAction::InferObjects
    );
    let inferred = DtypeInfo {
        inferred: true,
        ..obj
    };
    assert!(matches!(
        column_action("s", &inferred, DataType::Double),
        ColAction::ToNumeric { .. }
    ));
    assert!(matches!(
        column_action("s", &inferred, DataType::Datetime),
        ColAction::CastObjectDatetime { .. }
    ));
    assert_eq!(
        column_action("s", &inferred, DataType::Boolean),
        ColAction::Keep
    );
    let sdt = DtypeInfo {
        kind: b'O',
        itemsize: 8,
        text: "str",
        numpy: false,
        string_dtype: true,
        inferred: false,
    };
    assert_eq!(column_action("s", &sdt, DataType::String), ColAction::Keep);
    assert_eq!(column_action("s", &sdt, DataType::Binary), ColAction::Keep);
    assert!(matches!(
        column_action("s", &sdt, DataType::Double),
        ColAction::Reject { .. }
    ));
    assert_eq!(
        column_action("b", &np(b'S', 3, "|S3"), DataType::Binary),
        ColAction::Keep
    );
    assert_eq!(
        column_action("d", &np(b'M', 8, "datetime64[s]"), DataType::Datetime),
        ColAction::CastDatetime
    );
    assert_eq!(
        column_action("d", &np(b'M', 8, "datetime64[ns]"), DataType::Datetime),
        ColAction::Keep
    );
    let nullable = DtypeInfo {
        kind: b'i',
        itemsize: 8,
        text: "Int64",
        numpy: false,
        string_dtype: false,
        inferred: false,
    };
    assert_eq!(
        column_action("n", &nullable, DataType::Long),
        ColAction::Cast("int64")
    );
}

fn plan(cols: &[(&str, bool)]) -> ColumnPlan {
    ColumnPlan::new(
        cols.iter()
            .map(|(n, r)| PlannedCol {
                name: Some(n.to_string()),
                ty: ColType::Data(DataType::Double),
                required: *r,
            })
            .collect(),
    )
}

#[test]
fn columns_match_by_name() {
    let p = plan(&[("a", true), ("b", false), ("c", true)]);
    let m = p.match_columns(&["c", "x", "a"]).unwrap();
    assert_eq!(m.take, [(0, 2), (2, 0)]);
    assert_eq!(m.extras, ["x"]);
    assert!(!m.is_identity(3));
    let e = p.match_columns(&["b", "z"]).unwrap_err();
    assert_eq!(
        e,
        "Model is missing inputs ['a', 'c']. Note that there were extra inputs: ['z']."
    );
    assert!(p.match_columns(&["a", "b", "c"]).unwrap().is_identity(3));
}

#[test]
fn unnamed_columns_count_only() {
    let p = ColumnPlan::new(vec![
        PlannedCol {
            name: None,
            ty: ColType::Data(DataType::Long),
            required: true
        };
        2
    ]);
    assert_eq!(
        p.match_columns(&["0", "1", "2"]).unwrap().take,
        [(0, 0), (1, 1)]
    );
    assert!(p
        .match_columns(&["0"])
        .unwrap_err()
        .contains("declares 2 inputs  but the provided value only has 1"));
}

#[test]
fn python_reprs() {
    assert_eq!(py_list(&["a", "it's"]), "['a', \"it's\"]");
    assert_eq!(py_str("a\nb"), "'a\\nb'");
}

#[test]
fn tensors_check_rank_dims_and_exact_dtype() {
    let spec = TensorSpec {
        name: None,
        dtype: "float32".into(),
        shape: vec![-1, 4],
    };
    let t = |shape: &'static [usize], name: &'static str| TensorShape {
        shape,
        dtype_name: name,
        native_order: true,
        dtype_text: name,
    };
    assert!(check(&spec, &t(&[3, 4], "float32")).is_ok());
    assert_eq!(
        check(&spec, &t(&[2, 5], "float32")).unwrap_err(),
        "Shape of input (2, 5) does not match expected shape (-1, 4)."
    );
    assert_eq!(
        check(&spec, &t(&[4], "float32")).unwrap_err(),
        "Shape of input (4,) does not match expected shape (-1, 4)."
    );
    assert_eq!(
        check(&spec, &t(&[3, 4], "float64")).unwrap_err(),
        "dtype of input float64 does not match expected dtype float32"
    );
    let ragged = TensorSpec {
        name: None,
        dtype: "object".into(),
        shape: vec![-1],
    };
    assert!(check(&ragged, &t(&[3, 7], "int64")).is_ok());
}

#[test]
fn frames_become_a_tensor_of_their_common_type_only_where_mlflow_accepts_it() {
    use crate::tensor::ElemType::*;
    let plan = |dtype: &str, shape: Vec<i64>| TensorPlan {
        specs: vec![TensorSpec {
            name: None,
            dtype: dtype.into(),
            shape,
        }],
        named: false,
    };
    let f32_4 = plan("float32", vec![-1, 4]);
    let matrix = |elem| {
        Some(FrameTensor {
            elem,
            vector: false,
        })
    };
    assert_eq!(frame_tensor(&f32_4, &[F32; 4], 3, true), matrix(F32));
    // float64 beside float32 is a float64 array, which a float32 spec refuses
    assert_eq!(frame_tensor(&f32_4, &[F32, F32, F32, F64], 3, true), None);
    assert_eq!(
        frame_tensor(&plan("float64", vec![-1, 2]), &[I64, F32], 3, false),
        matrix(F64)
    );
    // the shape must be (-1, number of columns); an empty frame is Python's
    assert_eq!(frame_tensor(&f32_4, &[F32; 3], 3, true), None);
    assert_eq!(frame_tensor(&f32_4, &[F32; 4], 0, true), None);
    assert_eq!(
        frame_tensor(&plan("float32", vec![-1, 2, 2]), &[F32; 4], 3, true),
        None
    );
    // one column: (-1,) or (-1, 1), in the spec's own type, with a label 0 for `series[0]`
    assert_eq!(
        frame_tensor(&plan("float32", vec![-1, 1]), &[F32], 3, true),
        matrix(F32)
    );
    assert_eq!(
        frame_tensor(&plan("float64", vec![-1]), &[F64], 3, true),
        Some(FrameTensor {
            elem: F64,
            vector: true
        })
    );
    assert_eq!(
        frame_tensor(&plan("float64", vec![-1]), &[F64], 3, false),
        None
    );
    assert_eq!(
        frame_tensor(&plan("float64", vec![-1]), &[F32], 3, true),
        None
    );
    assert_eq!(
        frame_tensor(&plan("float64", vec![-1, 2]), &[F64], 3, true),
        None
    );
    assert_eq!(frame_tensor(&plan("float64", vec![-1]), &[], 3, true), None);
}
