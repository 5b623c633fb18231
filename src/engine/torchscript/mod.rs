//! The TorchScript engine, seen from the core: recognising TorchScript archives, opening the
//! engine library (`engines/torchscript`, which links libtorch) at first use, and running a
//! module through its C ABI ([`abi`]). It knows nothing of MLflow; `_torch.py` holds mlflow's
//! pytorch wrapper rules.

pub mod abi;
mod archive;
pub mod signature;

pub use archive::{
    archive_kind, archive_kind_of, check_archive, check_archive_of, check_code, Archive,
    ArchiveError,
};
pub use signature::{ArgValue, Binding, ForwardSignature, ParamValue};

use std::ffi::{CStr, CString};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use crate::error::{Error, Result};
use crate::tensor::{Data, ElemType, Tensor};

const ENGINE: &str = "torchscript";

macro_rules! api {
    ($($field:ident: $sym:literal => $ty:ty;)*) => {
        /// The engine library's functions.
        struct Api {
            $($field: $ty,)*
        }

        impl Api {
            fn resolve(lib: &libloading::Library) -> std::result::Result<Self, String> {
                // SAFETY: the types are the ABI's, checked by the version below.
                unsafe {
                    Ok(Api {
                        $($field: *lib.get::<$ty>($sym).map_err(|e| e.to_string())?,)*
                    })
                }
            }
        }
    };
}

api! {
    abi_version: b"fpt_abi_version\0" => abi::AbiVersionFn;
    last_error: b"fpt_last_error\0" => abi::LastErrorFn;
    load: b"fpt_load\0" => abi::LoadFn;
    free: b"fpt_free\0" => abi::FreeFn;
    forward: b"fpt_forward\0" => abi::ForwardFn;
    outputs_kind: b"fpt_outputs_kind\0" => abi::OutputsKindFn;
    outputs_len: b"fpt_outputs_len\0" => abi::OutputsLenFn;
    outputs_key: b"fpt_outputs_key\0" => abi::OutputsKeyFn;
    outputs_tensor: b"fpt_outputs_tensor\0" => abi::OutputsTensorFn;
    outputs_free: b"fpt_outputs_free\0" => abi::OutputsFreeFn;
    cuda_available: b"fpt_cuda_available\0" => abi::CudaAvailableFn;
    set_threads: b"fpt_set_threads\0" => abi::SetThreadsFn;
}

static API: Mutex<Option<&'static Api>> = Mutex::new(None);

/// Opens libtorch from `torch_lib_dir` (the `torch/lib` of the user's wheel) and then the engine
/// library, once per process; never unloaded. A failure is not cached: installing torch and
/// trying again works.
fn api(engine_lib: &Path, torch_lib_dir: &Path) -> std::result::Result<&'static Api, String> {
    let mut slot = API.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(api) = *slot {
        return Ok(api);
    }
    let open = crate::engine::open_private;
    // The engine library's own rpath only finds torch when both sit in one site-packages; loaded
    // first by full path, libtorch satisfies the engine's dependencies by soname wherever it is.
    let mut libs = vec![];
    for name in ["libc10.so", "libtorch_cpu.so", "libtorch.so"] {
        libs.push(open(&torch_lib_dir.join(name))?);
    }
    // CUDA kernels register themselves when libtorch_cuda loads; a CPU-only torch has none.
    let cuda = torch_lib_dir.join("libtorch_cuda.so");
    if cuda.exists() {
        if let Ok(lib) = open(&cuda) {
            libs.push(lib);
        }
    }
    let engine = open(engine_lib)?;
    let api = Api::resolve(&engine).map_err(|e| format!("{}: {e}", engine_lib.display()))?;
    // SAFETY: a function without arguments.
    let version = unsafe { (api.abi_version)() };
    if version != abi::ABI_VERSION {
        return Err(format!(
            "{} speaks engine ABI {version}, this fastpyfunc {}; rebuild it with this fastpyfunc",
            engine_lib.display(),
            abi::ABI_VERSION
        ));
    }
    let threads = |var: &str| {
        std::env::var(var)
            .ok()
            .and_then(|v| v.trim().parse::<i32>().ok())
            .unwrap_or(0)
    };
    // SAFETY: plain integers; the engine sets them at most once per process.
    unsafe {
        (api.set_threads)(
            threads("FASTPYFUNC_TORCH_NUM_THREADS"),
            threads("FASTPYFUNC_TORCH_NUM_INTEROP_THREADS"),
        )
    };
    let api: &'static Api = Box::leak(Box::new(api));
    for lib in libs {
        std::mem::forget(lib); // libtorch must outlive every module, and process exit
    }
    std::mem::forget(engine);
    *slot = Some(api);
    Ok(api)
}

fn last_error(api: &Api) -> String {
    // SAFETY: a NUL-terminated thread-local string, read on the thread that failed.
    let msg = unsafe { (api.last_error)() };
    if msg.is_null() {
        return "libtorch error".into();
    }
    unsafe { CStr::from_ptr(msg) }
        .to_string_lossy()
        .into_owned()
}

fn elem_code(e: ElemType) -> Option<i32> {
    abi::ELEMS
        .iter()
        .position(|&n| n == e.numpy_name())
        .map(|i| i as i32)
}

fn elem_of(code: i32) -> Option<ElemType> {
    let name = abi::ELEMS.get(usize::try_from(code).ok()?)?;
    ElemType::from_numpy_name(name)
}

/// Whether libtorch (loaded through the engine) sees a CUDA device.
pub fn cuda_available(engine_lib: &Path, torch_lib_dir: &Path) -> Result<bool> {
    let api = api(engine_lib, torch_lib_dir).map_err(|reason| Error::EngineUnavailable {
        path: engine_lib.to_path_buf(),
        engine: ENGINE,
        reason,
    })?;
    // SAFETY: no arguments.
    Ok(unsafe { (api.cuda_available)() } == 1)
}

/// One input of forward: a strided view of memory the caller keeps alive for `'a`.
pub struct Feed<'a> {
    pub elem: ElemType,
    pub shape: Vec<i64>,
    /// In elements, one per dimension, non-negative.
    pub strides: Vec<i64>,
    pub data: *const std::ffi::c_void,
    pub owner: std::marker::PhantomData<&'a ()>,
}

// SAFETY: the memory is only touched during forward (read, or written by in-place ops as under
// torch.from_numpy), while the caller holds it.
unsafe impl Send for Feed<'_> {}
unsafe impl Sync for Feed<'_> {}

/// How forward's result was structured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Structure {
    Tensor,
    Tuple,
    List,
    Dict,
}

/// forward's result: its structure and its tensors (dict keys alongside), copied to the host.
#[derive(Debug)]
pub struct Outputs {
    pub structure: Structure,
    pub items: Vec<(Option<String>, Tensor)>,
}

/// A TorchScript module loaded on a device.
pub struct TorchScriptModule {
    api: &'static Api,
    handle: *mut abi::ModuleHandle,
    path: PathBuf,
    device: String,
    /// forward's signature, read from the archive when params first need it.
    signature: OnceLock<std::result::Result<ForwardSignature, String>>,
}

// SAFETY: a `torch::jit::Module` may run forward from several threads at once (tch's CModule is
// Send + Sync); the handle is only freed on drop.
unsafe impl Send for TorchScriptModule {}
unsafe impl Sync for TorchScriptModule {}

impl TorchScriptModule {
    /// Loads the TorchScript archive `path` on `device` (`cpu`, `cuda`, `cuda:N`).
    pub fn load(
        path: &Path,
        device: &str,
        engine_lib: &Path,
        torch_lib_dir: &Path,
    ) -> Result<Self> {
        let api = api(engine_lib, torch_lib_dir).map_err(|reason| Error::EngineUnavailable {
            path: path.to_path_buf(),
            engine: ENGINE,
            reason,
        })?;
        let load_err = |reason: String| Error::ModelLoad {
            path: path.to_path_buf(),
            reason,
        };
        let cpath =
            CString::new(path.to_string_lossy().as_bytes()).map_err(|e| load_err(e.to_string()))?;
        let cdev = CString::new(device).map_err(|e| load_err(e.to_string()))?;
        let mut handle = std::ptr::null_mut();
        // SAFETY: NUL-terminated strings and a writable out pointer.
        let status = unsafe { (api.load)(cpath.as_ptr(), cdev.as_ptr(), &mut handle) };
        if status != abi::OK {
            return Err(load_err(format!(
                "libtorch cannot load it as TorchScript: {}",
                last_error(api)
            )));
        }
        Ok(TorchScriptModule {
            api,
            handle,
            path: path.to_path_buf(),
            device: device.to_string(),
            signature: OnceLock::new(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn device(&self) -> &str {
        &self.device
    }

    /// Binds `params` to forward's arguments after `n_inputs` inputs (see [`signature`]).
    pub fn bind(&self, n_inputs: usize, params: &[(String, ParamValue)]) -> Result<Binding> {
        let signature = self
            .signature
            .get_or_init(|| ForwardSignature::read(&self.path));
        let signature = match signature {
            Ok(s) => s,
            Err(e) => {
                return Ok(Binding::NeedsPython(format!(
                    "forward's signature could not be read from the archive ({e})"
                )))
            }
        };
        signature
            .bind(n_inputs, params)
            .map_err(|e| Error::InvalidInput {
                path: self.path.clone(),
                key: Some(e.key),
                reason: e.reason,
            })
    }

    /// Runs forward on `feeds` (positional, viewed without a copy on the CPU) followed by
    /// `extra` (what [`Self::bind`] made of params) under no_grad, and copies the outputs out
    /// once.
    pub fn forward(&self, feeds: &[Feed<'_>], extra: &[ArgValue]) -> Result<Outputs> {
        let api = self.api;
        let mut raw = Vec::with_capacity(feeds.len() + extra.len());
        for (i, t) in feeds.iter().enumerate() {
            let code = elem_code(t.elem).ok_or_else(|| Error::InvalidInput {
                path: self.path.clone(),
                key: Some(format!("input {i}")),
                reason: format!(
                    "dtype {} has no libtorch equivalent in the native engine",
                    t.elem.numpy_name()
                ),
            })?;
            raw.push(abi::RawArg {
                kind: abi::ARG_TENSOR,
                tensor: abi::RawTensor {
                    elem: code,
                    ndim: t.shape.len(),
                    shape: t.shape.as_ptr(),
                    strides: t.strides.as_ptr(),
                    data: t.data,
                },
                ..NO_ARG
            });
        }
        // Buffers the raw arguments point into, alive until the call returns.
        let mut bools: Vec<Vec<u8>> = vec![];
        let mut strs: Vec<Vec<abi::RawStr>> = vec![];
        for value in extra {
            raw.push(raw_arg(value, &mut bools, &mut strs));
        }
        let mut out = std::ptr::null_mut();
        // SAFETY: `raw` and the buffers it points to outlive the call; `out` is writable.
        let status = unsafe { (api.forward)(self.handle, raw.as_ptr(), raw.len(), &mut out) };
        drop((bools, strs));
        if status != abi::OK {
            let reason = last_error(api);
            return Err(if status == abi::ERR_INPUT {
                Error::InvalidInput {
                    path: self.path.clone(),
                    key: None,
                    reason,
                }
            } else {
                Error::Predict {
                    path: self.path.clone(),
                    reason,
                }
            });
        }
        let guard = OutputsGuard { api, ptr: out };
        guard.copy_out(&self.path)
    }
}

const NO_ARG: abi::RawArg = abi::RawArg {
    kind: abi::ARG_NONE,
    tensor: abi::RawTensor {
        elem: -1,
        ndim: 0,
        shape: std::ptr::null(),
        strides: std::ptr::null(),
        data: std::ptr::null(),
    },
    int: 0,
    double: 0.0,
    items: std::ptr::null(),
    len: 0,
};

/// `value` as a raw argument pointing into `value` itself, or into `bools` / `strs` (whose inner
/// buffers do not move when the outer vectors grow).
fn raw_arg(
    value: &ArgValue,
    bools: &mut Vec<Vec<u8>>,
    strs: &mut Vec<Vec<abi::RawStr>>,
) -> abi::RawArg {
    let items = |kind, ptr: *const u8, len| abi::RawArg {
        kind,
        items: ptr as *const std::ffi::c_void,
        len,
        ..NO_ARG
    };
    match value {
        ArgValue::None => NO_ARG,
        ArgValue::Bool(b) => abi::RawArg {
            kind: abi::ARG_BOOL,
            int: i64::from(*b),
            ..NO_ARG
        },
        ArgValue::Int(i) => abi::RawArg {
            kind: abi::ARG_INT,
            int: *i,
            ..NO_ARG
        },
        ArgValue::Double(d) => abi::RawArg {
            kind: abi::ARG_DOUBLE,
            double: *d,
            ..NO_ARG
        },
        ArgValue::Str(s) => items(abi::ARG_STR, s.as_ptr(), s.len()),
        ArgValue::IntList(v) => items(abi::ARG_INT_LIST, v.as_ptr() as *const u8, v.len()),
        ArgValue::DoubleList(v) => items(abi::ARG_DOUBLE_LIST, v.as_ptr() as *const u8, v.len()),
        ArgValue::BoolList(v) => {
            bools.push(v.iter().map(|&b| u8::from(b)).collect());
            let v = bools.last().map_or(&[][..], |v| v.as_slice());
            items(abi::ARG_BOOL_LIST, v.as_ptr(), v.len())
        }
        ArgValue::StrList(v) => {
            strs.push(
                v.iter()
                    .map(|s| abi::RawStr {
                        data: s.as_ptr(),
                        len: s.len(),
                    })
                    .collect(),
            );
            let v = strs.last().map_or(&[][..], |v| v.as_slice());
            items(abi::ARG_STR_LIST, v.as_ptr() as *const u8, v.len())
        }
    }
}

impl Drop for TorchScriptModule {
    fn drop(&mut self) {
        // SAFETY: created by fpt_load, freed once.
        unsafe { (self.api.free)(self.handle) }
    }
}

/// Frees the engine's outputs when dropped.
struct OutputsGuard {
    api: &'static Api,
    ptr: *mut abi::OutputsHandle,
}

impl OutputsGuard {
    fn copy_out(&self, path: &Path) -> Result<Outputs> {
        let api = self.api;
        // SAFETY: `ptr` is live until drop; indices stay below its length.
        unsafe {
            let structure = match (api.outputs_kind)(self.ptr) {
                abi::OUT_TUPLE => Structure::Tuple,
                abi::OUT_LIST => Structure::List,
                abi::OUT_DICT => Structure::Dict,
                _ => Structure::Tensor,
            };
            let n = (api.outputs_len)(self.ptr);
            let mut items = Vec::with_capacity(n);
            for i in 0..n {
                let key = (api.outputs_key)(self.ptr, i);
                let key =
                    (!key.is_null()).then(|| CStr::from_ptr(key).to_string_lossy().into_owned());
                let raw = (api.outputs_tensor)(self.ptr, i);
                let elem = elem_of(raw.elem).ok_or_else(|| Error::Predict {
                    path: path.to_path_buf(),
                    reason: format!(
                        "output {i} has an element code {} the core does not know",
                        raw.elem
                    ),
                })?;
                let shape: Vec<usize> = if raw.ndim == 0 {
                    vec![]
                } else {
                    std::slice::from_raw_parts(raw.shape, raw.ndim)
                        .iter()
                        .map(|&d| d.max(0) as usize)
                        .collect()
                };
                let n_elems: usize = shape.iter().product();
                let data = copy_elems(elem, raw.data as *const u8, n_elems);
                items.push((key, Tensor { shape, data }));
            }
            Ok(Outputs { structure, items })
        }
    }
}

impl Drop for OutputsGuard {
    fn drop(&mut self) {
        // SAFETY: created by fpt_forward, freed once.
        unsafe { (self.api.outputs_free)(self.ptr) }
    }
}

/// Copies `n` values of `elem` from `src` (engine memory) into an owned buffer.
///
/// # Safety
/// `src` holds `n` contiguous values of `elem` (it may be dangling when `n` is 0).
unsafe fn copy_elems(elem: ElemType, src: *const u8, n: usize) -> Data {
    macro_rules! copy {
        ($(($v:ident, $t:ty)),*) => {
            match elem {
                $(ElemType::$v => {
                    let mut v: Vec<$t> = Vec::with_capacity(n);
                    if n > 0 {
                        // Bytewise, so the source's alignment does not matter.
                        std::ptr::copy_nonoverlapping(src, v.as_mut_ptr() as *mut u8, n * std::mem::size_of::<$t>());
                        v.set_len(n);
                    }
                    Data::$v(v)
                })*
                ElemType::String => Data::Str(vec![]),
            }
        };
    }
    crate::with_numeric_types!(copy)
}
