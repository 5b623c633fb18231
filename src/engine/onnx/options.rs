//! The onnx flavor's settings (`providers`, `onnx_session_options`) read the way mlflow's
//! `_OnnxModelWrapper` reads them, checked before any session is built.

use serde_json::Value;

use crate::mlmodel::flavors::{OnnxFlavor, OnnxSessionOptions};

/// mlflow's default when the MLmodel names no providers.
pub const DEFAULT_PROVIDERS: [&str; 2] = ["CUDAExecutionProvider", "CPUExecutionProvider"];

/// One execution provider as the MLmodel asks for it: a name, or `[name, {options}]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderSpec {
    pub name: String,
    pub options: Vec<(String, String)>,
}

/// What the session builder is told, after validation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionSettings {
    pub providers: Vec<ProviderSpec>,
    pub inter_op_threads: Option<usize>,
    pub intra_op_threads: Option<usize>,
    /// `Some(true)` for `parallel`, `Some(false)` for `sequential`.
    pub parallel: Option<bool>,
    /// onnxruntime's `GraphOptimizationLevel` number: 0, 1, 2, 3 or 99.
    pub optimization_level: Option<i64>,
    pub config_entries: Vec<(String, String)>,
}

/// A setting that cannot be honoured; `key` is its dotted MLmodel key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingError {
    pub key: String,
    pub reason: String,
}

fn bad(key: &str, reason: impl Into<String>) -> SettingError {
    SettingError {
        key: format!("flavors.onnx.{key}"),
        reason: reason.into(),
    }
}

/// Reads the flavor's settings. Unknown `execution_mode` values are ignored as mlflow ignores
/// them; values onnxruntime would reject at session creation are errors here, with their key.
pub fn settings(flavor: Option<&OnnxFlavor>) -> Result<SessionSettings, SettingError> {
    let mut out = SessionSettings {
        providers: providers(flavor.and_then(|f| f.providers.as_ref()))?,
        ..Default::default()
    };
    let Some(opts) = flavor.and_then(|f| f.onnx_session_options.as_ref()) else {
        return Ok(out);
    };
    let OnnxSessionOptions {
        inter_op_num_threads,
        intra_op_num_threads,
        execution_mode,
        graph_optimization_level,
        extra_session_config,
        ..
    } = opts;
    let threads = |key: &str, n: Option<i64>| match n {
        // mlflow skips 0 (falsy): onnxruntime then picks the thread count itself.
        None | Some(0) => Ok(None),
        Some(n) if n > 0 => Ok(Some(n as usize)),
        Some(n) => Err(bad(
            &format!("onnx_session_options.{key}"),
            format!("thread count must be positive, got {n}"),
        )),
    };
    out.inter_op_threads = threads("inter_op_num_threads", *inter_op_num_threads)?;
    out.intra_op_threads = threads("intra_op_num_threads", *intra_op_num_threads)?;
    out.parallel = match execution_mode
        .as_deref()
        .map(str::to_ascii_uppercase)
        .as_deref()
    {
        Some("SEQUENTIAL") => Some(false),
        Some("PARALLEL") => Some(true),
        _ => None,
    };
    out.optimization_level = match *graph_optimization_level {
        None => None,
        Some(l @ (0 | 1 | 2 | 3 | 99)) => Some(l),
        Some(l) => {
            return Err(bad(
                "onnx_session_options.graph_optimization_level",
                format!("{l} is not a GraphOptimizationLevel (0, 1, 2, 3 or 99)"),
            ))
        }
    };
    if let Some(extra) = extra_session_config {
        for (k, v) in extra {
            let v = match v {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => (if *b { "1" } else { "0" }).to_string(),
                other => {
                    return Err(bad(
                        &format!("onnx_session_options.extra_session_config.{k}"),
                        format!("session config values must be strings, got {other}"),
                    ))
                }
            };
            out.config_entries.push((k.clone(), v));
        }
    }
    Ok(out)
}

/// mlflow's normalisation: a string becomes a one-element list, null or empty means the default
/// list, and `[name, options]` pairs keep their options.
fn providers(raw: Option<&Value>) -> Result<Vec<ProviderSpec>, SettingError> {
    let default = || {
        DEFAULT_PROVIDERS
            .iter()
            .map(|n| ProviderSpec {
                name: n.to_string(),
                options: vec![],
            })
            .collect()
    };
    let items = match raw {
        None | Some(Value::Null) => return Ok(default()),
        Some(Value::String(s)) => vec![Value::String(s.clone())],
        Some(Value::Array(a)) if a.is_empty() => return Ok(default()),
        Some(Value::Array(a)) => a.clone(),
        Some(other) => {
            return Err(bad(
                "providers",
                format!("expected a provider name or a list of them, got {other}"),
            ))
        }
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| provider(item).map_err(|r| bad(&format!("providers[{i}]"), r)))
        .collect()
}

fn provider(item: &Value) -> Result<ProviderSpec, String> {
    match item {
        Value::String(name) => Ok(ProviderSpec {
            name: name.clone(),
            options: vec![],
        }),
        Value::Array(pair) if pair.len() == 2 => {
            let name = pair[0]
                .as_str()
                .ok_or_else(|| format!("provider name must be a string, got {}", pair[0]))?;
            let opts = match &pair[1] {
                Value::Object(m) => m
                    .iter()
                    .map(|(k, v)| {
                        let v = match v {
                            Value::String(s) => s.clone(),
                            other => other.to_string(),
                        };
                        (k.clone(), v)
                    })
                    .collect(),
                Value::Null => vec![],
                other => return Err(format!("provider options must be a mapping, got {other}")),
            };
            Ok(ProviderSpec {
                name: name.to_string(),
                options: opts,
            })
        }
        other => Err(format!(
            "expected a provider name or [name, options], got {other}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn flavor(v: Value) -> OnnxFlavor {
        serde_json::from_value(v).unwrap()
    }

    fn names(s: &SessionSettings) -> Vec<&str> {
        s.providers.iter().map(|p| p.name.as_str()).collect()
    }

    #[test]
    fn providers_default_and_normalise_like_mlflow() {
        let s = settings(None).unwrap();
        assert_eq!(names(&s), DEFAULT_PROVIDERS);
        let s = settings(Some(&flavor(json!({"providers": null})))).unwrap();
        assert_eq!(names(&s), DEFAULT_PROVIDERS);
        let s = settings(Some(&flavor(json!({"providers": []})))).unwrap();
        assert_eq!(names(&s), DEFAULT_PROVIDERS);
        let s = settings(Some(&flavor(json!({"providers": "CPUExecutionProvider"})))).unwrap();
        assert_eq!(names(&s), ["CPUExecutionProvider"]);
        let s = settings(Some(&flavor(json!({"providers": [
            ["CUDAExecutionProvider", {"device_id": 1}], "CPUExecutionProvider"
        ]}))))
        .unwrap();
        assert_eq!(names(&s), ["CUDAExecutionProvider", "CPUExecutionProvider"]);
        assert_eq!(s.providers[0].options, [("device_id".into(), "1".into())]);
    }

    #[test]
    fn bad_provider_entries_name_their_key() {
        let e = settings(Some(&flavor(json!({"providers": [1]})))).unwrap_err();
        assert_eq!(e.key, "flavors.onnx.providers[0]");
        let e = settings(Some(&flavor(json!({"providers": {"a": 1}})))).unwrap_err();
        assert_eq!(e.key, "flavors.onnx.providers");
    }

    #[test]
    fn session_options_follow_mlflow() {
        let s = settings(Some(&flavor(json!({"onnx_session_options": {
            "inter_op_num_threads": 0, "intra_op_num_threads": 2, "execution_mode": "parallel",
            "graph_optimization_level": 99, "extra_session_config": {"session.use_env_allocators": "1", "n": 3}
        }}))))
        .unwrap();
        assert_eq!(s.inter_op_threads, None);
        assert_eq!(s.intra_op_threads, Some(2));
        assert_eq!(s.parallel, Some(true));
        assert_eq!(s.optimization_level, Some(99));
        assert_eq!(
            s.config_entries,
            [
                ("session.use_env_allocators".into(), "1".into()),
                ("n".into(), "3".into())
            ]
        );
        let s = settings(Some(&flavor(
            json!({"onnx_session_options": {"execution_mode": "whatever"}}),
        )))
        .unwrap();
        assert_eq!(s.parallel, None);
    }

    #[test]
    fn impossible_session_options_are_errors() {
        let e = settings(Some(&flavor(
            json!({"onnx_session_options": {"graph_optimization_level": 7}}),
        )))
        .unwrap_err();
        assert_eq!(
            e.key,
            "flavors.onnx.onnx_session_options.graph_optimization_level"
        );
        let e = settings(Some(&flavor(
            json!({"onnx_session_options": {"intra_op_num_threads": -1}}),
        )))
        .unwrap_err();
        assert!(e.key.ends_with("intra_op_num_threads"));
    }
}
