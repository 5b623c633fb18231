//! The SavedModel engine: a TensorFlow session over a SavedModel directory through the C API,
//! running one SignatureDef. It knows nothing of MLflow; `_tensorflow.py` holds mlflow's rules.

mod ffi;
mod proto;

use std::ffi::{CStr, CString};
use std::path::{Path, PathBuf};

use prost::Message;

use self::ffi::{Api, Output};
use crate::error::{Error, Result};
use crate::tensor::{Data, DataRef, ElemType, Port, Tensor, TensorRef, Value, ValueKind};

/// TensorFlow's `DataType` numbers for the element types the engine feeds and returns.
fn tf_type(e: ElemType) -> Option<i32> {
    Some(match e {
        ElemType::F32 => 1,
        ElemType::F64 => 2,
        ElemType::I32 => 3,
        ElemType::U8 => 4,
        ElemType::I16 => 5,
        ElemType::I8 => 6,
        ElemType::I64 => 9,
        ElemType::Bool => 10,
        ElemType::U16 => 17,
        ElemType::F16 => 19,
        ElemType::U32 => 22,
        ElemType::U64 => 23,
        ElemType::String => return None,
    })
}

fn elem_of(tf: i32) -> Option<ElemType> {
    [
        ElemType::F32,
        ElemType::F64,
        ElemType::I32,
        ElemType::U8,
        ElemType::I16,
        ElemType::I8,
        ElemType::I64,
        ElemType::Bool,
        ElemType::U16,
        ElemType::F16,
        ElemType::U32,
        ElemType::U64,
    ]
    .into_iter()
    .find(|e| tf_type(*e) == Some(tf))
}

/// One signature input or output: its key, the graph tensor it names and its declared type.
struct Io {
    port: Port,
    output: Output,
    elem: ElemType,
    /// The signature's shape, `-1` for a free dimension; `None` when the rank is unknown.
    shape: Option<Vec<i64>>,
}

/// A SavedModel signature, ready to run.
pub struct SavedModelSession {
    api: &'static Api,
    path: PathBuf,
    graph: *mut ffi::Graph,
    session: *mut ffi::Session,
    inputs: Vec<Io>,
    outputs: Vec<Io>,
}

// SAFETY: TF_Session supports concurrent TF_SessionRun calls; the graph is only read after load.
unsafe impl Send for SavedModelSession {}
unsafe impl Sync for SavedModelSession {}

/// Owns a TF_Status and turns a failed call into a message.
struct Status<'a> {
    api: &'a Api,
    ptr: *mut ffi::Status,
}

impl<'a> Status<'a> {
    fn new(api: &'a Api) -> Self {
        // SAFETY: TF_NewStatus has no preconditions.
        Status {
            api,
            ptr: unsafe { (api.new_status)() },
        }
    }

    fn check(&self) -> std::result::Result<(), String> {
        // SAFETY: `ptr` is a live status.
        unsafe {
            if (self.api.get_code)(self.ptr) == 0 {
                return Ok(());
            }
            let msg = (self.api.message)(self.ptr);
            Err(if msg.is_null() {
                "TensorFlow error".into()
            } else {
                CStr::from_ptr(msg).to_string_lossy().into_owned()
            })
        }
    }
}

impl Drop for Status<'_> {
    fn drop(&mut self) {
        // SAFETY: created by TF_NewStatus, deleted once.
        unsafe { (self.api.delete_status)(self.ptr) }
    }
}

/// Deletes the TF_Tensors it holds when dropped.
struct Tensors<'a> {
    api: &'a Api,
    items: Vec<*mut ffi::Tensor>,
}

impl Drop for Tensors<'_> {
    fn drop(&mut self) {
        for t in &self.items {
            if !t.is_null() {
                // SAFETY: each pointer came from TF_NewTensor or TF_SessionRun and is deleted once.
                unsafe { (self.api.delete_tensor)(*t) }
            }
        }
    }
}

unsafe extern "C" fn no_dealloc(_: *mut std::ffi::c_void, _: usize, _: *mut std::ffi::c_void) {}

impl SavedModelSession {
    /// Loads `dir` with `tags` and prepares the signature `signature_key`, with the TensorFlow
    /// libraries found in `library_dir`.
    pub fn load(
        dir: &Path,
        tags: &[String],
        signature_key: &str,
        library_dir: &Path,
    ) -> Result<SavedModelSession> {
        if !dir.join("saved_model.pb").is_file() && !dir.join("saved_model.pbtxt").is_file() {
            return Err(Error::ModelNotFound {
                path: dir.to_path_buf(),
                reason: "the SavedModel directory has no saved_model.pb".into(),
            });
        }
        let api = ffi::api(library_dir).map_err(|reason| Error::EngineUnavailable {
            path: dir.to_path_buf(),
            engine: "savedmodel",
            reason: format!(
                "{reason}. fastpyfunc runs SavedModels with the TensorFlow C API inside the installed \
                 `tensorflow` (or `tensorflow-cpu`) package: pip install tensorflow-cpu"
            ),
        })?;
        let load_err = |reason: String| Error::ModelLoad {
            path: dir.to_path_buf(),
            reason,
        };
        let cdir =
            CString::new(dir.to_string_lossy().as_bytes()).map_err(|e| load_err(e.to_string()))?;
        let ctags: Vec<CString> = tags
            .iter()
            .map(|t| CString::new(t.as_bytes()))
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| load_err(e.to_string()))?;
        let tag_ptrs: Vec<*const std::ffi::c_char> = ctags.iter().map(|t| t.as_ptr()).collect();
        let status = Status::new(api);
        // SAFETY: every pointer passed is live for the call; outputs are checked before use.
        let (graph, session, meta) = unsafe {
            let opts = (api.new_session_options)();
            let graph = (api.new_graph)();
            let meta = (api.new_buffer)();
            let session = (api.load_session_from_saved_model)(
                opts,
                std::ptr::null(),
                cdir.as_ptr(),
                tag_ptrs.as_ptr(),
                tag_ptrs.len() as i32,
                graph,
                meta,
                status.ptr,
            );
            (api.delete_session_options)(opts);
            let bytes = if (*meta).data.is_null() {
                Vec::new()
            } else {
                std::slice::from_raw_parts((*meta).data as *const u8, (*meta).length).to_vec()
            };
            (api.delete_buffer)(meta);
            if let Err(e) = status.check() {
                (api.delete_graph)(graph);
                return Err(load_err(e));
            }
            (graph, session, bytes)
        };
        let mut this = SavedModelSession {
            api,
            path: dir.to_path_buf(),
            graph,
            session,
            inputs: vec![],
            outputs: vec![],
        };
        let sig = read_signature(&meta, signature_key).map_err(|e| match e {
            SignatureError::Malformed(reason) => load_err(reason),
            SignatureError::Unsupported(reason) => Error::EngineUnavailable {
                path: dir.to_path_buf(),
                engine: "savedmodel",
                reason,
            },
        })?;
        this.inputs = this.ios(sig.inputs)?;
        this.outputs = this.ios(sig.outputs)?;
        Ok(this)
    }

    /// Finds each signature tensor's operation in the loaded graph.
    fn ios(&self, tensors: Vec<SignatureTensor>) -> Result<Vec<Io>> {
        tensors
            .into_iter()
            .map(|t| {
                let unsupported = |why: String| Error::EngineUnavailable {
                    path: self.path.clone(),
                    engine: "savedmodel",
                    reason: why,
                };
                let cop = CString::new(t.op.as_str()).map_err(|e| unsupported(e.to_string()))?;
                // SAFETY: the graph is live; the name is NUL-terminated.
                let oper = unsafe { (self.api.graph_operation_by_name)(self.graph, cop.as_ptr()) };
                if oper.is_null() {
                    return Err(unsupported(format!(
                        "signature tensor '{}' names '{}:{}', which is not in the graph",
                        t.key, t.op, t.index
                    )));
                }
                Ok(Io {
                    port: Port {
                        name: t.key,
                        kind: ValueKind::Tensor {
                            elem: t.elem,
                            dims: t.shape.clone().unwrap_or_default(),
                        },
                    },
                    output: Output {
                        oper,
                        index: t.index,
                    },
                    elem: t.elem,
                    shape: t.shape,
                })
            })
            .collect()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn inputs(&self) -> Vec<&Port> {
        self.inputs.iter().map(|io| &io.port).collect()
    }

    pub fn outputs(&self) -> Vec<&Port> {
        self.outputs.iter().map(|io| &io.port).collect()
    }

    /// Runs the signature on `feeds` (one per input, in `inputs()` order). Inputs are handed to
    /// TensorFlow without a copy where TF accepts the buffer (64-byte aligned); outputs are copied
    /// once into owned tensors before the inputs are released.
    pub fn run(&self, feeds: &[TensorRef<'_>]) -> Result<Vec<Value>> {
        let api = self.api;
        let invalid = |key: &str, reason: String| Error::InvalidInput {
            path: self.path.clone(),
            key: Some(key.to_string()),
            reason,
        };
        if feeds.len() != self.inputs.len() {
            return Err(Error::InvalidInput {
                path: self.path.clone(),
                key: None,
                reason: format!("expected {} inputs, got {}", self.inputs.len(), feeds.len()),
            });
        }
        let mut ins = Tensors { api, items: vec![] };
        for (io, t) in self.inputs.iter().zip(feeds) {
            let elem = t.data.elem_type();
            let dtype = tf_type(elem).ok_or_else(|| {
                invalid(&io.port.name, "string tensors are not native yet".into())
            })?;
            if elem != io.elem {
                return Err(invalid(
                    &io.port.name,
                    format!(
                        "cannot feed {} to the signature input '{}' of dtype {}",
                        elem.numpy_name(),
                        io.port.name,
                        io.elem.numpy_name()
                    ),
                ));
            }
            let dims: Vec<i64> = t.shape.iter().map(|&d| d as i64).collect();
            if let Some(want) = &io.shape {
                // The graph's placeholder would refuse it too, but with its op name, not ours.
                let fits = want.len() == dims.len()
                    && want.iter().zip(&dims).all(|(&w, &d)| w < 0 || w == d);
                if !fits {
                    return Err(invalid(
                        &io.port.name,
                        format!(
                            "cannot feed shape {:?} to the signature input '{}' of shape {}",
                            t.shape,
                            io.port.name,
                            shape_text(want)
                        ),
                    ));
                }
            }
            let (ptr, len) = raw_parts(&t.data);
            // SAFETY: the buffer outlives the tensor (deleted below, after outputs are copied);
            // TF copies it itself when it is not suitably aligned.
            let tensor = unsafe {
                (api.new_tensor)(
                    dtype,
                    dims.as_ptr(),
                    dims.len() as i32,
                    ptr as *mut std::ffi::c_void,
                    len,
                    no_dealloc,
                    std::ptr::null_mut(),
                )
            };
            if tensor.is_null() {
                return Err(invalid(
                    &io.port.name,
                    "TensorFlow refused the input buffer".into(),
                ));
            }
            ins.items.push(tensor);
        }
        let in_ops: Vec<Output> = self.inputs.iter().map(|io| io.output).collect();
        let out_ops: Vec<Output> = self.outputs.iter().map(|io| io.output).collect();
        let mut outs = Tensors {
            api,
            items: vec![std::ptr::null_mut(); out_ops.len()],
        };
        let status = Status::new(api);
        // SAFETY: arrays have the lengths passed; the session and graph are live.
        unsafe {
            (api.session_run)(
                self.session,
                std::ptr::null(),
                in_ops.as_ptr(),
                ins.items.as_ptr(),
                in_ops.len() as i32,
                out_ops.as_ptr(),
                outs.items.as_mut_ptr(),
                out_ops.len() as i32,
                std::ptr::null(),
                0,
                std::ptr::null_mut(),
                status.ptr,
            );
        }
        status.check().map_err(|reason| {
            // TF reports wrong shapes and dtypes as INVALID_ARGUMENT (3) too, but the message is
            // what tells the user; keep it as the error text.
            Error::Predict {
                path: self.path.clone(),
                reason,
            }
        })?;
        outs.items
            .iter()
            .zip(&self.outputs)
            .map(|(&t, io)| self.copy_out(t, io))
            .collect()
    }

    fn copy_out(&self, t: *mut ffi::Tensor, io: &Io) -> Result<Value> {
        let api = self.api;
        // SAFETY: `t` is a live output tensor of the run.
        let (elem, shape, bytes) = unsafe {
            let elem = elem_of((api.tensor_type)(t)).ok_or_else(|| Error::Predict {
                path: self.path.clone(),
                reason: format!(
                    "output '{}' has a dtype the engine cannot read",
                    io.port.name
                ),
            })?;
            let shape: Vec<usize> = (0..(api.num_dims)(t))
                .map(|i| (api.dim)(t, i).max(0) as usize)
                .collect();
            let size = (api.tensor_byte_size)(t);
            let data = (api.tensor_data)(t) as *const u8;
            let bytes = if size == 0 || data.is_null() {
                &[][..]
            } else {
                std::slice::from_raw_parts(data, size)
            };
            (elem, shape, bytes)
        };
        macro_rules! copy {
            ($(($v:ident, $t:ty)),*) => {
                match elem {
                    $(ElemType::$v => {
                        let n = bytes.len() / std::mem::size_of::<$t>();
                        let mut v: Vec<$t> = Vec::with_capacity(n);
                        // SAFETY: `bytes` holds `n` values of this element type (TF's layout is
                        // row-major native); copied bytewise, so its alignment does not matter.
                        unsafe {
                            std::ptr::copy_nonoverlapping(bytes.as_ptr(), v.as_mut_ptr() as *mut u8, n * std::mem::size_of::<$t>());
                            v.set_len(n);
                        }
                        Data::$v(v)
                    })*
                    ElemType::String => unreachable!("elem_of never returns String"),
                }
            };
        }
        let data = crate::with_numeric_types!(copy);
        Ok(Value::Tensor(Tensor { shape, data }))
    }
}

/// A signature shape as TensorFlow prints it: `(None, 4)`.
/// One tensor of a SavedModel signature, as its MetaGraphDef describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureTensor {
    /// The signature's key for it (the input or output name).
    pub key: String,
    /// The graph operation and output index (`serving_default_x:0`).
    pub op: String,
    pub index: i32,
    pub elem: ElemType,
    /// `-1` for a free dimension; None when the rank is unknown.
    pub shape: Option<Vec<i64>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    pub inputs: Vec<SignatureTensor>,
    pub outputs: Vec<SignatureTensor>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureError {
    /// The bytes are not a MetaGraphDef.
    Malformed(String),
    /// A signature this engine does not run (absent, or non-numeric tensors).
    Unsupported(String),
}

/// Reads signature `key` from the serialized MetaGraphDef TensorFlow hands back at load (the
/// only part of a SavedModel fastpyfunc parses itself).
pub fn read_signature(
    meta_graph: &[u8],
    key: &str,
) -> std::result::Result<Signature, SignatureError> {
    let meta = proto::MetaGraphDef::decode(meta_graph)
        .map_err(|e| SignatureError::Malformed(format!("cannot read the MetaGraphDef: {e}")))?;
    let sig = meta.signature_def.get(key).ok_or_else(|| {
        SignatureError::Unsupported(format!(
            "the SavedModel has no signature '{key}' (signatures: {:?})",
            meta.signature_def.keys().collect::<Vec<_>>()
        ))
    })?;
    let tensors = |infos: &std::collections::BTreeMap<String, proto::TensorInfo>| {
        infos
            .iter()
            .map(|(key, info)| {
                let elem = elem_of(info.dtype).ok_or_else(|| {
                    SignatureError::Unsupported(format!(
                        "signature tensor '{key}' has TensorFlow dtype {} (strings and other \
                         non-numeric tensors are not native yet)",
                        info.dtype
                    ))
                })?;
                let (op, index) = info
                    .name
                    .rsplit_once(':')
                    .map(|(op, i)| (op, i.parse::<i32>().unwrap_or(0)))
                    .unwrap_or((info.name.as_str(), 0));
                let shape = match &info.tensor_shape {
                    Some(s) if !s.unknown_rank => Some(s.dim.iter().map(|d| d.size).collect()),
                    _ => None,
                };
                Ok(SignatureTensor {
                    key: key.clone(),
                    op: op.to_string(),
                    index,
                    elem,
                    shape,
                })
            })
            .collect::<std::result::Result<Vec<_>, _>>()
    };
    Ok(Signature {
        inputs: tensors(&sig.inputs)?,
        outputs: tensors(&sig.outputs)?,
    })
}

fn shape_text(dims: &[i64]) -> String {
    let parts: Vec<String> = dims
        .iter()
        .map(|&d| if d < 0 { "None".into() } else { d.to_string() })
        .collect();
    match parts.len() {
        1 => format!("({},)", parts[0]),
        _ => format!("({})", parts.join(", ")),
    }
}

fn raw_parts(d: &DataRef<'_>) -> (*const u8, usize) {
    macro_rules! parts {
        ($(($v:ident, $t:ty)),*) => {
            match d {
                $(DataRef::$v(s) => (s.as_ptr() as *const u8, std::mem::size_of_val(*s)),)*
                DataRef::Str(_) => (std::ptr::null(), 0),
            }
        };
    }
    crate::with_numeric_types!(parts)
}

impl Drop for SavedModelSession {
    fn drop(&mut self) {
        let status = Status::new(self.api);
        // SAFETY: the session and graph were created at load and are released once.
        unsafe {
            (self.api.close_session)(self.session, status.ptr);
            (self.api.delete_session)(self.session, status.ptr);
            (self.api.delete_graph)(self.graph);
        }
    }
}
