use std::path::{Path, PathBuf};

use super::*;

pub(crate) const SKLEARN_MLMODEL: &str = r#"
artifact_path: /tmp/mlruns/1/models/m-8ac424bf/artifacts
flavors:
  python_function:
    env:
      conda: conda.yaml
      virtualenv: python_env.yaml
    loader_module: mlflow.sklearn
    model_path: model.skops
    predict_fn: predict
    python_version: 3.11.7
  sklearn:
    code: null
    pickled_model: model.skops
    serialization_format: skops
    sklearn_version: 1.9.1
    skops_trusted_types: null
is_signature_from_type_hint: false
mlflow_version: 3.17.2
model_id: m-8ac424bf5d6d4581b955f2cc0db2c5d2
model_size_bytes: 11634
model_uuid: m-8ac424bf5d6d4581b955f2cc0db2c5d2
prompts: null
run_id: a2e9739157cb44ddade73dc3911c8715
saved_input_example_info:
  artifact_path: input_example.json
  pandas_orient: split
  serving_input_path: serving_input_example.json
  type: dataframe
signature:
  inputs: '[{"type": "double", "name": "sepal length (cm)", "required": true}, {"type": "double", "name": "b", "required": false}]'
  outputs: '[{"type": "long", "required": true}]'
  params: null
type_hint_from_example: false
utc_time_created: '2026-11-23 12:21:37.232784'
some_future_key: {nested: [1, 2]}
"#;

fn parse(text: &str) -> Result<LoadedMlModel> {
    let file = Path::new("/m/MLmodel");
    let raw = yaml::parse(file, text)?;
    LoadedMlModel::from_value(PathBuf::from("/m"), file, raw)
}

#[test]
fn reads_every_top_level_key() {
    let m = parse(SKLEARN_MLMODEL).unwrap();
    let pf = m.model.flavors.python_function.as_ref().unwrap();
    assert_eq!(pf.loader_module, "mlflow.sklearn");
    assert_eq!(pf.python_version.as_deref(), Some("3.11.7"));
    assert_eq!(pf.model_path.as_deref(), Some("model.skops"));
    assert!(matches!(pf.env, Some(EnvSpec::Files { .. })));
    let sk = m.model.flavors.sklearn.as_ref().unwrap();
    assert_eq!(sk.serialization_format.as_deref(), Some("skops"));
    assert_eq!(m.model.mlflow_version.as_deref(), Some("3.17.2"));
    assert_eq!(m.model.model_size_bytes, Some(11634));
    assert_eq!(
        m.model
            .saved_input_example_info
            .as_ref()
            .unwrap()
            .example_type,
        "dataframe"
    );
    assert_eq!(m.model.extra["some_future_key"]["nested"][1], 2);
    let sig = m.signature.unwrap();
    assert_eq!(sig.inputs.unwrap().len(), 2);
    assert!(sig.params.is_none());
}

#[test]
fn unknown_flavors_are_kept_raw() {
    let m = parse("flavors:\n  python_function: {loader_module: mlflow.xgboost}\n  xgboost: {data: model.xgb, model_class: xgboost.sklearn.XGBRegressor}\n").unwrap();
    assert_eq!(m.model.flavors.other["xgboost"]["data"], "model.xgb");
    assert_eq!(m.model.flavors.names(), vec!["python_function", "xgboost"]);
}

#[test]
fn legacy_env_string_and_numeric_versions() {
    let m = parse(
        "flavors:\n  python_function: {loader_module: m, env: conda.yaml, python_version: 3.8}\n",
    )
    .unwrap();
    let pf = m.model.flavors.python_function.unwrap();
    assert!(matches!(pf.env, Some(EnvSpec::Path(ref p)) if p == "conda.yaml"));
    assert_eq!(pf.python_version.as_deref(), Some("3.8"));
}

#[test]
fn wrong_shape_names_the_key() {
    let e = parse("flavors:\n  python_function: {loader_module: [a, b]}\n").unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("flavors.python_function.loader_module"),
        "{msg}"
    );
    assert!(msg.contains("/m/MLmodel"), "{msg}");
}

#[test]
fn top_level_must_be_a_mapping() {
    let e = parse("- a\n- b\n").unwrap_err();
    assert!(e.to_string().contains("mapping"), "{e}");
}

#[test]
fn bad_signature_json_names_the_section() {
    let e = parse("flavors: {}\nsignature: {inputs: '[{\"type\": ', outputs: null}\n").unwrap_err();
    assert!(e.to_string().contains("signature.inputs"), "{e}");
}

#[test]
fn missing_directory_and_file() {
    let e = LoadedMlModel::load(Path::new("/definitely/not/here")).unwrap_err();
    assert!(matches!(e, Error::ModelNotFound { .. }));
    let dir = std::env::temp_dir();
    let e = LoadedMlModel::load(&dir.join("fastpyfunc-no-such-model")).unwrap_err();
    assert!(e.to_string().contains("fastpyfunc-no-such-model"), "{e}");
}

#[test]
fn non_utf8_and_huge_files_fail_fast() {
    let dir = std::env::temp_dir().join(format!("fpf-mlmodel-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("MLmodel"), b"flavors: {\xff\xfe}\n").unwrap();
    let e = LoadedMlModel::load(&dir).unwrap_err();
    assert!(e.to_string().contains("UTF-8"), "{e}");
    let big = vec![b'#'; (yaml::MAX_YAML_BYTES + 10) as usize];
    std::fs::write(dir.join("MLmodel"), big).unwrap();
    let e = LoadedMlModel::load(&dir).unwrap_err();
    assert!(e.to_string().contains("limit"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        // The parser never panics, whatever bytes it is given.
        #[test]
        fn yaml_never_panics(text in "\\PC{0,200}") {
            let _ = parse(&text);
        }

        #[test]
        fn yaml_structured_noise_never_panics(text in "[\\[\\]{}:&*!|>\\-#' \"\na-z0-9]{0,300}") {
            let _ = parse(&text);
        }
    }
}
