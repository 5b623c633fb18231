//! The ONNX engine: one onnxruntime session per loaded model, fed borrowed buffers and returning
//! owned outputs. It knows nothing of MLflow or pandas; `crate::flavor::onnx` holds mlflow's rules.

pub mod external;
pub mod options;
pub mod runtime;

use std::borrow::Cow;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ort::ep::{self, ArbitrarilyConfigurableExecutionProvider, ExecutionProviderDispatch};
use ort::session::builder::{GraphOptimizationLevel, SessionBuilder};
use ort::session::{Session, SessionInputValue};

/// Options for one run; `terminate()` from another thread stops it between graph nodes.
pub use ort::session::RunOptions;
use ort::value::{DynMapValueType, DynValue, TensorElementType, ValueType};

use self::options::{ProviderSpec, SessionSettings};
use self::runtime::panic_text;
use crate::error::{Error, Result};
use crate::tensor::{
    Data, DataRef, ElemType, EngineBuffer, Map, MapKeys, Port, Tensor, TensorRef, Value, ValueKind,
};

const CPU: &str = "CPUExecutionProvider";

/// A loaded ONNX model.
pub struct OnnxSession {
    path: PathBuf,
    inputs: Vec<Port>,
    outputs: Vec<Port>,
    providers: Vec<String>,
    // ort's `Session::run` takes `&mut self` (its authors do not trust ORT's concurrent Run), so
    // calls on one model are serialized; the GIL is released around the whole call.
    state: Mutex<State>,
}

struct State {
    session: Session,
    /// Addresses of the buffers the last run handed to onnxruntime (tests prove zero-copy).
    last_feed_addrs: Vec<usize>,
}

/// A session plus the warnings its load produced (mlflow logs the same ones).
pub struct Loaded {
    pub session: OnnxSession,
    pub warnings: Vec<String>,
}

impl OnnxSession {
    /// Loads `model_file` with onnxruntime from `library`, honouring the flavor's settings the way
    /// mlflow does: providers missing from this onnxruntime build are dropped with a warning, and
    /// if the requested providers fail to start the session is retried on CPU, with a warning.
    pub fn load(model_file: &Path, library: &Path, settings: &SessionSettings) -> Result<Loaded> {
        if !model_file.is_file() {
            return Err(Error::ModelNotFound {
                path: model_file.to_path_buf(),
                reason: "the ONNX model file is missing".into(),
            });
        }
        let env = runtime::environment(library).map_err(|reason| Error::EngineUnavailable {
            path: model_file.to_path_buf(),
            engine: "onnx",
            reason,
        })?;
        let load_err = |reason: String| Error::ModelLoad {
            path: model_file.to_path_buf(),
            reason,
        };
        guard(
            || {
                let mut warnings = Vec::new();
                let available = runtime::available_providers();
                let declared: Vec<&str> =
                    settings.providers.iter().map(|p| p.name.as_str()).collect();
                let (usable, missing): (Vec<&ProviderSpec>, Vec<&ProviderSpec>) = settings
                    .providers
                    .iter()
                    .partition(|p| available.contains(&p.name) && registrable(&p.name));
                let mut requested: Vec<String> = usable.iter().map(|p| p.name.clone()).collect();
                if requested.is_empty() {
                    requested.push(CPU.into());
                }
                if !missing.is_empty() {
                    let missing: Vec<&str> = missing.iter().map(|p| p.name.as_str()).collect();
                    warnings.push(format!(
                    "ONNX model declares execution providers {} but {} are unavailable in this \
                     onnxruntime build; serving with {}. GPU acceleration will not be used if a \
                     GPU provider is missing.",
                    py_list(&declared),
                    py_list(&missing),
                    py_list(&requested)
                ));
                }
                let build = |providers: &[&ProviderSpec]| -> std::result::Result<Session, String> {
                    configure(
                        Session::builder(&env).map_err(|e| e.to_string())?,
                        settings,
                        providers,
                    )?
                    .commit_from_file(model_file)
                    .map_err(|e| e.to_string())
                };
                let (session, providers) = match build(&usable) {
                    Ok(s) => (s, requested),
                    Err(e) if !usable.iter().all(|p| p.name == CPU) => {
                        warnings.push(format!(
                        "ONNX model requested execution providers {} but onnxruntime failed to \
                         initialize them ({e}); falling back to CPU. GPU acceleration will not be \
                         used.",
                        py_list(&requested)
                    ));
                        (build(&[]).map_err(load_err)?, vec![CPU.to_string()])
                    }
                    Err(e) => return Err(load_err(e)),
                };
                let inputs = session
                    .inputs()
                    .iter()
                    .map(|o| port(o.name(), o.dtype()))
                    .collect();
                let outputs = session
                    .outputs()
                    .iter()
                    .map(|o| port(o.name(), o.dtype()))
                    .collect();
                Ok(Loaded {
                    session: OnnxSession {
                        path: model_file.to_path_buf(),
                        inputs,
                        outputs,
                        providers,
                        state: Mutex::new(State {
                            session,
                            last_feed_addrs: Vec::new(),
                        }),
                    },
                    warnings,
                })
            },
            load_err,
        )
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn inputs(&self) -> &[Port] {
        &self.inputs
    }

    pub fn outputs(&self) -> &[Port] {
        &self.outputs
    }

    /// The execution providers the session was built with, in priority order.
    pub fn providers(&self) -> &[String] {
        &self.providers
    }

    /// Addresses of the input buffers onnxruntime read in the last run.
    pub fn last_feed_addrs(&self) -> Vec<usize> {
        self.lock().last_feed_addrs.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the session half-updated: recover it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs every output of the graph on `feeds` (input name, tensor). Numeric inputs are passed to
    /// onnxruntime as the caller's buffers; numeric outputs stay in onnxruntime's memory.
    pub fn run(&self, feeds: &[(&str, TensorRef<'_>)]) -> Result<Vec<Value>> {
        self.run_with(feeds, None)
    }

    /// `run`, with `options` (a run another thread can terminate) where given.
    pub fn run_with(
        &self,
        feeds: &[(&str, TensorRef<'_>)],
        options: Option<&RunOptions>,
    ) -> Result<Vec<Value>> {
        let predict_err = |reason: String| Error::Predict {
            path: self.path.clone(),
            reason,
        };
        guard(
            || {
                let mut values: Vec<(Cow<'_, str>, SessionInputValue<'_>)> =
                    Vec::with_capacity(feeds.len());
                for (name, t) in feeds {
                    let v = input_value(t).map_err(|reason| Error::InvalidInput {
                        path: self.path.clone(),
                        key: Some(name.to_string()),
                        reason,
                    })?;
                    values.push((Cow::Borrowed(*name), v));
                }
                let mut state = self.lock();
                state.last_feed_addrs.clear();
                state
                    .last_feed_addrs
                    .extend(feeds.iter().map(|(_, t)| t.data.addr()));
                let outputs = match options {
                    Some(o) => state.session.run_with_options(values, o),
                    None => state.session.run(values),
                };
                let outputs = outputs.map_err(|e| {
                    // onnxruntime's own shape/rank/name checks: the input is wrong, not the model.
                    if e.code() == ort::ErrorCode::InvalidArgument {
                        Error::InvalidInput {
                            path: self.path.clone(),
                            key: None,
                            reason: e.message().to_string(),
                        }
                    } else {
                        predict_err(e.to_string())
                    }
                })?;
                outputs
                    .into_iter()
                    .map(|(name, v)| {
                        output_value(v).map_err(|e| predict_err(format!("output '{name}': {e}")))
                    })
                    .collect()
            },
            predict_err,
        )
    }
}

/// Runs `f`, turning a panic inside ort into `on_panic(message)` instead of unwinding into Python.
fn guard<T>(f: impl FnOnce() -> Result<T>, on_panic: impl FnOnce(String) -> Error) -> Result<T> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|p| {
        Err(on_panic(format!(
            "ONNX Runtime binding panicked: {}",
            panic_text(&p)
        )))
    })
}

/// `['a', 'b']`: lists in warnings read as mlflow's (Python) warnings do.
fn py_list<S: AsRef<str>>(items: &[S]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| format!("'{}'", s.as_ref())).collect();
    format!("[{}]", quoted.join(", "))
}

/// Providers fastpyfunc knows how to register (besides CPU, which is always there).
fn registrable(name: &str) -> bool {
    matches!(
        name,
        CPU | "CUDAExecutionProvider" | "TensorrtExecutionProvider"
    )
}

fn configure(
    b: SessionBuilder,
    s: &SessionSettings,
    providers: &[&ProviderSpec],
) -> std::result::Result<SessionBuilder, String> {
    let e = |e: ort::Error<SessionBuilder>| e.to_string();
    let mut b = b;
    if let Some(n) = s.intra_op_threads {
        b = b.with_intra_threads(n).map_err(e)?;
    }
    if let Some(n) = s.inter_op_threads {
        b = b.with_inter_threads(n).map_err(e)?;
    }
    if let Some(p) = s.parallel {
        b = b.with_parallel_execution(p).map_err(e)?;
    }
    if let Some(level) = s.optimization_level {
        let level = match level {
            0 => GraphOptimizationLevel::Disable,
            1 => GraphOptimizationLevel::Level1,
            2 => GraphOptimizationLevel::Level2,
            3 => GraphOptimizationLevel::Level3,
            _ => GraphOptimizationLevel::All,
        };
        b = b.with_optimization_level(level).map_err(e)?;
    }
    for (k, v) in &s.config_entries {
        b = b.with_config_entry(k, v).map_err(e)?;
    }
    let eps: Vec<ExecutionProviderDispatch> = providers
        .iter()
        .filter_map(|p| {
            let dispatch = match p.name.as_str() {
                "CUDAExecutionProvider" => p
                    .options
                    .iter()
                    .fold(ep::CUDA::default(), |ep, (k, v)| {
                        ep.with_arbitrary_config(k, v)
                    })
                    .build(),
                "TensorrtExecutionProvider" => p
                    .options
                    .iter()
                    .fold(ep::TensorRT::default(), |ep, (k, v)| {
                        ep.with_arbitrary_config(k, v)
                    })
                    .build(),
                _ => return None,
            };
            Some(dispatch.error_on_failure())
        })
        .collect();
    if !eps.is_empty() {
        b = b.with_execution_providers(eps).map_err(e)?;
    }
    Ok(b)
}

fn elem_type(t: TensorElementType) -> Option<ElemType> {
    Some(match t {
        TensorElementType::Bool => ElemType::Bool,
        TensorElementType::Int8 => ElemType::I8,
        TensorElementType::Int16 => ElemType::I16,
        TensorElementType::Int32 => ElemType::I32,
        TensorElementType::Int64 => ElemType::I64,
        TensorElementType::Uint8 => ElemType::U8,
        TensorElementType::Uint16 => ElemType::U16,
        TensorElementType::Uint32 => ElemType::U32,
        TensorElementType::Uint64 => ElemType::U64,
        TensorElementType::Float16 => ElemType::F16,
        TensorElementType::Float32 => ElemType::F32,
        TensorElementType::Float64 => ElemType::F64,
        TensorElementType::String => ElemType::String,
        _ => return None,
    })
}

/// onnxruntime's Python spelling of an element type inside `seq(...)`/`map(...)` names.
fn elem_name(t: TensorElementType) -> String {
    match elem_type(t) {
        Some(e) => e.onnx_name().to_string(),
        None => format!("tensor({})", format!("{t:?}").to_ascii_lowercase()),
    }
}

fn type_name(t: &ValueType) -> String {
    match t {
        ValueType::Tensor { ty, .. } => elem_name(*ty),
        ValueType::Sequence(inner) => format!("seq({})", type_name(inner)),
        ValueType::Map { key, value } => {
            let key = elem_name(*key);
            let key = key.trim_start_matches("tensor(").trim_end_matches(')');
            format!("map({key},{})", elem_name(*value))
        }
        ValueType::Optional(inner) => format!("optional({})", type_name(inner)),
    }
}

fn port(name: &str, t: &ValueType) -> Port {
    let kind = match t {
        ValueType::Tensor { ty, shape, .. } => match elem_type(*ty) {
            Some(elem) => ValueKind::Tensor {
                elem,
                dims: shape.iter().copied().collect(),
            },
            None => ValueKind::Other(type_name(t)),
        },
        other => ValueKind::Other(type_name(other)),
    };
    Port {
        name: name.to_string(),
        kind,
    }
}

fn input_value<'a>(t: &TensorRef<'a>) -> std::result::Result<SessionInputValue<'a>, String> {
    let shape = t.shape.to_vec();
    macro_rules! borrow {
        ($(($v:ident, $ty:ty)),*) => {
            match t.data {
                $(DataRef::$v(s) => ort::value::TensorRef::from_array_view((shape, s))
                    .map(SessionInputValue::from)
                    .map_err(|e| e.to_string()),)*
                DataRef::Str(s) => ort::value::Tensor::from_string_array((shape, s))
                    .map(SessionInputValue::from)
                    .map_err(|e| e.to_string()),
            }
        };
    }
    crate::with_numeric_types!(borrow)
}

/// An onnxruntime output tensor kept alive so NumPy can view it in place.
#[derive(Debug)]
struct OrtBuffer {
    value: DynValue,
    elem: ElemType,
}

impl EngineBuffer for OrtBuffer {
    fn view(&self) -> DataRef<'_> {
        macro_rules! view {
            ($(($var:ident, $rt:ty)),*) => {
                match self.elem {
                    $(ElemType::$var => DataRef::$var(
                        self.value.try_extract_tensor::<$rt>().map(|(_, d)| d).unwrap_or(&[]),
                    ),)*
                    ElemType::String => DataRef::Str(&[]),
                }
            };
        }
        crate::with_numeric_types!(view)
    }
}

fn output_value(v: DynValue) -> std::result::Result<Value, String> {
    match v.dtype() {
        ValueType::Tensor { ty, shape, .. } => {
            let ty = *ty;
            let shape = dims(shape);
            let elem =
                elem_type(ty).ok_or_else(|| format!("element type {ty:?} is not supported"))?;
            if elem == ElemType::String {
                let (_, data) = v.try_extract_strings().map_err(|e| e.to_string())?;
                return Ok(Value::Tensor(Tensor {
                    shape,
                    data: Data::Str(data),
                }));
            }
            let buffer = OrtBuffer { value: v, elem };
            // Check the type once here, so `view` cannot come back empty for a non-empty tensor.
            let n: usize = shape.iter().product();
            if buffer.view().len() != n {
                return Err(format!(
                    "cannot read the {ty:?} tensor onnxruntime returned"
                ));
            }
            Ok(Value::Engine {
                shape,
                buffer: Box::new(buffer),
            })
        }
        ValueType::Sequence(inner) if matches!(**inner, ValueType::Map { .. }) => {
            let maps = v
                .try_extract_sequence::<DynMapValueType>()
                .map_err(|e| e.to_string())?;
            maps.iter()
                .map(map_value)
                .collect::<std::result::Result<_, _>>()
                .map(Value::MapSequence)
        }
        other => Err(format!("{} outputs are not supported", type_name(other))),
    }
}

fn map_value(m: &ort::value::DynMap) -> std::result::Result<Map, String> {
    let ValueType::Map { key, value } = m.dtype() else {
        return Err("expected a map".into());
    };
    macro_rules! kv {
        ($k:ty, $keys:ident) => {
            match value {
                TensorElementType::Float32 => {
                    let (k, v): (Vec<$k>, Vec<f32>) = m
                        .try_extract_key_values::<$k, f32>()
                        .map_err(|e| e.to_string())?
                        .into_iter()
                        .unzip();
                    (MapKeys::$keys(k), Data::F32(v))
                }
                TensorElementType::Float64 => {
                    let (k, v): (Vec<$k>, Vec<f64>) = m
                        .try_extract_key_values::<$k, f64>()
                        .map_err(|e| e.to_string())?
                        .into_iter()
                        .unzip();
                    (MapKeys::$keys(k), Data::F64(v))
                }
                TensorElementType::Int64 => {
                    let (k, v): (Vec<$k>, Vec<i64>) = m
                        .try_extract_key_values::<$k, i64>()
                        .map_err(|e| e.to_string())?
                        .into_iter()
                        .unzip();
                    (MapKeys::$keys(k), Data::I64(v))
                }
                other => return Err(format!("map values of type {other:?} are not supported")),
            }
        };
    }
    let (keys, values) = match key {
        TensorElementType::Int64 => kv!(i64, I64),
        TensorElementType::String => kv!(String, Str),
        other => return Err(format!("map keys of type {other:?} are not supported")),
    };
    Ok(Map { keys, values })
}

fn dims(shape: &ort::value::Shape) -> Vec<usize> {
    shape.iter().map(|&d| d.max(0) as usize).collect()
}
