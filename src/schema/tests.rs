use std::path::Path;

use proptest::prelude::*;
use serde_json::{json, Value};

use super::*;
use crate::mlmodel::RawSignature;

fn schema(v: Value) -> std::result::Result<Schema, String> {
    Schema::from_json(&v)
}

#[test]
fn colspecs_of_every_type() {
    let s = schema(json!([
        {"type": "double", "name": "a", "required": true},
        {"type": "string", "name": "b", "required": false},
        {"type": "array", "items": {"type": "long"}, "name": "c", "required": true},
        {"type": "object", "properties": {"z": {"type": "string", "required": true}, "y": {"type": "array", "items": {"type": "double"}, "required": false}}, "name": "d", "required": true},
        {"type": "map", "values": {"type": "binary"}, "name": "e", "required": true},
        {"type": "any", "name": "f", "required": true},
        {"type": "datetime", "name": "g"},
    ]))
    .unwrap();
    let Schema::Columns(cols) = &s else { panic!() };
    assert_eq!(cols[0].ty, ColType::Data(DataType::Double));
    assert!(!cols[1].required);
    assert!(cols[6].required, "required defaults to true");
    let ColType::Object(props) = &cols[3].ty else {
        panic!()
    };
    assert_eq!(props[0].name, "y", "properties are sorted by name");
    assert_eq!(cols[5].ty, ColType::Any);
}

#[test]
fn non_string_column_names_are_kept_as_mlflow_keeps_them() {
    // mlflow's infer_signature writes these for an unnamed DataFrame or list output.
    let v = json!([
        {"type": "long", "name": 0, "required": true},
        {"type": "double", "name": 1.5, "required": true},
        {"type": "string", "name": true, "required": false},
        {"type": "string", "name": "0", "required": true},
    ]);
    let s = schema(v.clone()).unwrap();
    let Schema::Columns(cols) = &s else { panic!() };
    let names: Vec<_> = cols.iter().map(|c| c.name.as_deref().unwrap()).collect();
    assert_eq!(
        names,
        ["0", "1.5", "True", "0"],
        "Python's repr for matching"
    );
    assert_eq!(cols[0].name_value, Some(json!(0)));
    assert_eq!(cols[3].name_value, None);
    assert_eq!(s.to_json(), v, "written back exactly as read");
    let dup =
        schema(json!([{"type": "long", "name": 0}, {"type": "long", "name": 0}])).unwrap_err();
    assert!(dup.contains("duplicate input name '0'"), "{dup}");
}

#[test]
fn tensorspecs() {
    let s = schema(
        json!([{"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 28, 28]}}]),
    )
    .unwrap();
    let Schema::Tensors(t) = &s else { panic!() };
    assert_eq!(t[0].dtype, "float32");
    assert_eq!(t[0].shape, vec![-1, 28, 28]);
    let e = schema(json!([{"type": "tensor", "tensor-spec": {"dtype": "<U5", "shape": [-1]}}]))
        .unwrap_err();
    assert!(e.contains("<U5"), "{e}");
    assert_eq!(canonical_dtype("<f4").as_deref(), Some("float32"));
    assert_eq!(
        canonical_dtype("datetime64[ns]").as_deref(),
        Some("datetime64[ns]")
    );
    assert_eq!(canonical_dtype("str").as_deref(), Some("str"));
    assert_eq!(canonical_dtype("S10"), None);
}

#[test]
fn mlflow_schema_rules() {
    let empty = schema(json!([])).unwrap_err();
    assert!(empty.contains("at least one"), "{empty}");
    let mixed_kinds = schema(json!([{"type": "double", "name": "a"}, {"type": "tensor", "name": "t", "tensor-spec": {"dtype": "int64", "shape": [-1]}}])).unwrap_err();
    assert!(
        mixed_kinds.contains("mix ColSpec and TensorSpec"),
        "{mixed_kinds}"
    );
    let mixed_names =
        schema(json!([{"type": "double", "name": "a"}, {"type": "double"}])).unwrap_err();
    assert!(mixed_names.contains("named and unnamed"), "{mixed_names}");
    let unnamed_tensors = schema(json!([
        {"type": "tensor", "tensor-spec": {"dtype": "int64", "shape": [-1]}},
        {"type": "tensor", "tensor-spec": {"dtype": "int64", "shape": [-1]}}
    ]))
    .unwrap_err();
    assert!(unnamed_tensors.contains("need names"), "{unnamed_tensors}");
    let unnamed_optional = schema(json!([{"type": "double", "required": false}])).unwrap_err();
    assert!(unnamed_optional.contains("optional"), "{unnamed_optional}");
    let unknown = schema(json!([{"type": "decimal", "name": "a"}])).unwrap_err();
    assert!(unknown.contains("decimal"), "{unknown}");
    let dup = schema(json!([{"type": "double", "name": "a"}, {"type": "long", "name": "a"}]))
        .unwrap_err();
    assert!(dup.contains("duplicate"), "{dup}");
}

#[test]
fn params() {
    let raw = RawSignature {
        inputs: Some(r#"[{"type": "double", "name": "a", "required": true}]"#.into()),
        outputs: None,
        params: Some(r#"[{"name": "k", "default": 1, "shape": null, "type": "long"}, {"name": "tags", "default": ["x"], "shape": [-1], "type": "string"}, {"name": "o", "default": {"a": 1}, "shape": null, "type": "object", "properties": {"a": {"type": "long", "required": true}}}]"#.into()),
    };
    let sig = Signature::parse(Path::new("/m/MLmodel"), &raw).unwrap();
    let p = sig.params.as_ref().unwrap();
    assert_eq!(p[0].ty, ColType::Data(DataType::Long));
    assert_eq!(p[1].shape, Some(vec![-1]));
    assert!(matches!(p[2].ty, ColType::Object(_)));
    let bad = RawSignature {
        params: Some(r#"[{"name": "b", "default": "", "type": "binary"}]"#.into()),
        ..Default::default()
    };
    let e = Signature::parse(Path::new("/m/MLmodel"), &bad).unwrap_err();
    assert!(e.to_string().contains("binary"), "{e}");
    let dup = RawSignature { params: Some(r#"[{"name": "b", "default": 1, "type": "long"}, {"name": "b", "default": 1, "type": "long"}]"#.into()), ..Default::default() };
    assert!(Signature::parse(Path::new("/m/MLmodel"), &dup).is_err());
}

fn data_type() -> impl Strategy<Value = DataType> {
    proptest::sample::select(DataType::ALL.to_vec())
}

fn col_type() -> impl Strategy<Value = ColType> {
    let leaf = prop_oneof![data_type().prop_map(ColType::Data), Just(ColType::Any),];
    leaf.prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            inner.clone().prop_map(|t| ColType::Array(Box::new(t))),
            inner.clone().prop_map(|t| ColType::Map(Box::new(t))),
            proptest::collection::btree_map("[a-z]{1,4}", (inner, any::<bool>()), 1..4).prop_map(
                |m| {
                    ColType::Object(
                        m.into_iter()
                            .map(|(name, (ty, required))| Property { name, ty, required })
                            .collect(),
                    )
                }
            ),
        ]
    })
}

proptest! {
    // Serializing a schema to MLflow's JSON and parsing it back gives the same schema.
    #[test]
    fn colspec_schema_roundtrips(cols in proptest::collection::btree_map("[a-z]{1,6}", (col_type(), any::<bool>()), 1..6)) {
        let s = Schema::Columns(cols.into_iter().map(|(n, (ty, required))| ColSpec { name: Some(n), name_value: None, ty, required }).collect());
        let back = Schema::from_json(&s.to_json()).unwrap();
        prop_assert_eq!(back, s);
    }

    #[test]
    fn tensor_schema_roundtrips(dtype in proptest::sample::select(TENSOR_DTYPES.to_vec()), shape in proptest::collection::vec(-1i64..64, 0..4)) {
        let s = Schema::Tensors(vec![TensorSpec { name: None, dtype: dtype.to_string(), shape }]);
        prop_assert_eq!(Schema::from_json(&s.to_json()).unwrap(), s);
    }

    // Arbitrary JSON never panics the schema parser.
    #[test]
    fn arbitrary_json_never_panics(text in "[\\[\\]{}:,\"a-z0-9 -]{0,120}") {
        if let Ok(v) = serde_json::from_str::<Value>(&text) {
            let _ = Schema::from_json(&v);
            let _ = ParamSpec::from_json(&v, "p");
        }
    }
}
