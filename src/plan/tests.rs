use std::path::{Path, PathBuf};

use super::*;
use crate::mlmodel::yaml;

fn model(dir: &Path, mlmodel: &str) -> LoadedMlModel {
    std::fs::create_dir_all(dir).unwrap();
    let raw = yaml::parse(Path::new("MLmodel"), mlmodel).unwrap();
    LoadedMlModel::from_value(dir.to_path_buf(), &dir.join("MLmodel"), raw).unwrap()
}

fn tmp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("fpf-plan-{}-{name}", std::process::id()))
}

#[test]
fn sklearn_skops_route() {
    let dir = tmp("sk");
    let m = model(&dir, crate::mlmodel::tests::SKLEARN_MLMODEL);
    std::fs::write(dir.join("model.skops"), b"x").unwrap();
    let plan = LoadPlan::new(&m).unwrap();
    assert_eq!(
        plan.route,
        Route::Sklearn {
            model_file: dir.join("model.skops"),
            format: SklearnFormat::Skops,
            trusted_types: None
        }
    );
    assert_eq!(plan.data_path, dir);
    assert_eq!(plan.predict_fn, "predict");
    std::fs::remove_file(dir.join("model.skops")).unwrap();
    let e = LoadPlan::new(&m).unwrap_err();
    assert!(e.to_string().contains("model.skops"), "{e}");
}

#[test]
fn old_sklearn_data_file_defaults_to_pickle() {
    let dir = tmp("old");
    let m = model(
        &dir,
        "flavors:\n  python_function: {loader_module: mlflow.sklearn, data: model.pkl}\n",
    );
    std::fs::write(dir.join("model.pkl"), b"x").unwrap();
    let plan = LoadPlan::new(&m).unwrap();
    assert!(matches!(
        plan.route,
        Route::Sklearn {
            format: SklearnFormat::Pickle,
            ..
        }
    ));
}

#[test]
fn onnx_runs_natively_from_the_pyfunc_data_path() {
    let dir = tmp("onnx");
    let m = model(&dir, "flavors:\n  python_function: {loader_module: mlflow.onnx, data: model.onnx}\n  onnx: {data: other.onnx}\n");
    let plan = LoadPlan::new(&m).unwrap();
    assert_eq!(
        plan.route,
        Route::Native(Candidate {
            engine: EngineKind::Onnx,
            artifact: dir.join("model.onnx"),
        })
    );
}

#[test]
fn tensorflow_savedmodels_run_natively_and_old_keras_in_python() {
    let dir = tmp("tf");
    let native = Route::Native(Candidate {
        engine: EngineKind::SavedModel,
        artifact: dir.join("tfmodel"),
    });
    // tf2-module, tf1-estimator, and no model_type (mlflow reads that as tf1-estimator).
    for conf in [
        "{model_type: tf2-module, saved_model_dir: tfmodel}",
        "{model_type: tf1-estimator, saved_model_dir: tfmodel, meta_graph_tags: [serve], signature_def_key: predict}",
        "{saved_model_dir: tfmodel}",
    ] {
        let m = model(&dir, &format!("flavors:\n  python_function: {{loader_module: mlflow.tensorflow}}\n  tensorflow: {conf}\n"));
        assert_eq!(LoadPlan::new(&m).unwrap().route, native, "{conf}");
    }
    // No model_type with a keras flavor: an old Keras model, loaded by Python.
    let m = model(&dir, "flavors:\n  python_function: {loader_module: mlflow.tensorflow}\n  tensorflow: {saved_model_dir: tfmodel}\n  keras: {keras_version: 2.3.0}\n");
    assert_eq!(
        LoadPlan::new(&m).unwrap().route,
        Route::LoaderModule {
            module: "mlflow.tensorflow".into()
        }
    );
}

#[test]
fn onnx_data_outside_the_model_is_refused() {
    let m = model(
        &tmp("onnxesc"),
        "flavors:\n  python_function: {loader_module: mlflow.onnx, data: ../../x.onnx}\n",
    );
    let e = LoadPlan::new(&m).unwrap_err();
    assert!(e.to_string().contains("outside the model directory"), "{e}");
}

#[test]
fn no_pyfunc_flavor() {
    let m = model(
        &tmp("nopf"),
        "flavors:\n  sklearn: {pickled_model: model.pkl}\n",
    );
    let e = LoadPlan::new(&m).unwrap_err();
    assert!(e.to_string().contains("python_function"), "{e}");
    assert!(e.to_string().contains("sklearn"), "{e}");
}

#[test]
fn external_models_are_refused() {
    let m = model(&tmp("ext"), "flavors:\n  python_function: {loader_module: x}\nmetadata: {mlflow.model.isExternal: true}\n");
    assert!(LoadPlan::new(&m)
        .unwrap_err()
        .to_string()
        .contains("external"));
}

#[test]
fn paths_may_not_leave_the_model_directory() {
    for bad in ["../../etc", "/etc", "a/../../b"] {
        let m = model(
            &tmp("esc"),
            &format!("flavors:\n  python_function: {{loader_module: x, code: '{bad}'}}\n"),
        );
        let e = LoadPlan::new(&m).unwrap_err();
        assert!(
            e.to_string().contains("flavors.python_function.code"),
            "{e}"
        );
    }
    let m = model(
        &tmp("ok"),
        "flavors:\n  python_function: {loader_module: x, code: code, data: a/../b}\n",
    );
    assert!(LoadPlan::new(&m).is_ok());
}

#[test]
fn streamable_models_get_a_stream_fn() {
    let m = model(
        &tmp("stream"),
        "flavors:\n  python_function: {loader_module: mlflow.pyfunc.model, streamable: true}\n",
    );
    assert_eq!(
        LoadPlan::new(&m).unwrap().predict_stream_fn.as_deref(),
        Some("predict_stream")
    );
}

#[test]
fn saved_model_dir_outside_the_model_is_refused() {
    let m = model(&tmp("tfesc"), "flavors:\n  python_function: {loader_module: mlflow.tensorflow}\n  tensorflow: {model_type: tf2-module, saved_model_dir: ../../elsewhere}\n");
    let e = LoadPlan::new(&m).unwrap_err();
    assert!(
        e.to_string().contains("flavors.tensorflow.saved_model_dir"),
        "{e}"
    );
}
