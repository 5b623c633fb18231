//! fastpyfunc's TorchScript engine: a TorchScript archive loaded and run by libtorch through
//! `tch`, exported as the small C ABI in `abi.rs`. fastpyfunc opens this library at first use
//! (after libtorch from the user's `torch` wheel), so `import fastpyfunc` never needs torch.
//!
//! Every entry point catches panics and libtorch errors and reports them as a status code plus a
//! thread-local message: nothing unwinds into the caller.

// The function-pointer types are the core's side of the ABI.
#[allow(dead_code)]
#[path = "../../../src/engine/torchscript/abi.rs"]
mod abi;

use std::cell::RefCell;
use std::ffi::{c_char, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Once;

use abi::*;
use tch::{CModule, Device, IValue, Kind, Tensor};

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

fn set_error(msg: String) {
    let msg = CString::new(msg.replace('\0', " ")).unwrap_or_default();
    LAST_ERROR.with(|e| *e.borrow_mut() = msg);
}

/// Runs `f`, turning an `Err((code, message))` or a panic into a status code.
fn guarded(f: impl FnOnce() -> Result<(), (i32, String)>) -> i32 {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => OK,
        Ok(Err((code, msg))) => {
            set_error(msg);
            code
        }
        Err(panic) => {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "unknown panic".into());
            set_error(format!("the TorchScript engine failed: {msg}"));
            ERR_RUN
        }
    }
}

const KINDS: [Kind; 9] = [
    Kind::Bool,
    Kind::Uint8,
    Kind::Int8,
    Kind::Int16,
    Kind::Int,
    Kind::Int64,
    Kind::Half,
    Kind::Float,
    Kind::Double,
];

fn elem_code(kind: Kind) -> Option<i32> {
    KINDS.iter().position(|&k| k == kind).map(|i| i as i32)
}

struct Module {
    module: CModule,
    device: Device,
}

/// forward's result, flattened: a structure code and CPU tensors (dict keys alongside).
struct Outputs {
    kind: i32,
    keys: Vec<CString>,
    tensors: Vec<Tensor>,
    shapes: Vec<Vec<i64>>,
}

#[no_mangle]
pub extern "C" fn fpt_abi_version() -> u32 {
    ABI_VERSION
}

#[no_mangle]
pub extern "C" fn fpt_last_error() -> *const c_char {
    LAST_ERROR.with(|e| e.borrow().as_ptr())
}

fn parse_device(s: &str) -> Result<Device, String> {
    match s {
        "cpu" => Ok(Device::Cpu),
        "cuda" => Ok(Device::Cuda(0)),
        _ => s
            .strip_prefix("cuda:")
            .and_then(|i| i.parse().ok())
            .map(Device::Cuda)
            .ok_or_else(|| format!("unknown device '{s}' (expected cpu, cuda or cuda:N)")),
    }
}

/// # Safety
/// `path` and `device` are NUL-terminated strings; `out` is writable.
#[no_mangle]
pub unsafe extern "C" fn fpt_load(
    path: *const c_char,
    device: *const c_char,
    out: *mut *mut ModuleHandle,
) -> i32 {
    guarded(|| {
        let path = unsafe { CStr::from_ptr(path) }
            .to_string_lossy()
            .into_owned();
        let device = unsafe { CStr::from_ptr(device) }.to_string_lossy();
        let device = parse_device(&device).map_err(|e| (ERR_LOAD, e))?;
        if let Device::Cuda(i) = device {
            if i >= tch::Cuda::device_count() as usize {
                return Err((
                    ERR_LOAD,
                    format!("CUDA device {i} is not available to libtorch"),
                ));
            }
        }
        let mut module =
            CModule::load_on_device(&path, device).map_err(|e| (ERR_LOAD, e.to_string()))?;
        module.f_set_eval().map_err(|e| (ERR_LOAD, e.to_string()))?;
        let boxed = Box::new(Module { module, device });
        unsafe { *out = Box::into_raw(boxed) as *mut ModuleHandle };
        Ok(())
    })
}

/// # Safety
/// `m` came from `fpt_load` and is freed once.
#[no_mangle]
pub unsafe extern "C" fn fpt_free(m: *mut ModuleHandle) {
    if !m.is_null() {
        let _ = catch_unwind(|| drop(unsafe { Box::from_raw(m as *mut Module) }));
    }
}

/// # Safety
/// `m` is a live module; `args` points to `n` arguments whose buffers stay valid for the call;
/// `out` is writable.
#[no_mangle]
pub unsafe extern "C" fn fpt_forward(
    m: *const ModuleHandle,
    args: *const RawArg,
    n: usize,
    out: *mut *mut OutputsHandle,
) -> i32 {
    guarded(|| {
        let m = unsafe { &*(m as *const Module) };
        let raw = unsafe { slice(args, n) };
        let _no_grad = tch::no_grad_guard();
        let mut values = Vec::with_capacity(n);
        for (i, arg) in raw.iter().enumerate() {
            values.push(unsafe { to_ivalue(arg, i, m.device) }?);
        }
        let result = m
            .module
            .forward_is(&values)
            .map_err(|e| (ERR_RUN, e.to_string()))?;
        let outputs = flatten(result)?;
        unsafe { *out = Box::into_raw(Box::new(outputs)) as *mut OutputsHandle };
        Ok(())
    })
}

/// `len` items at `ptr`, which may be null or dangling when `len` is 0.
unsafe fn slice<'a, T>(ptr: *const T, len: usize) -> &'a [T] {
    if len == 0 || ptr.is_null() {
        &[]
    } else {
        unsafe { std::slice::from_raw_parts(ptr, len) }
    }
}

unsafe fn to_string(data: *const u8, len: usize, what: &str) -> Result<String, (i32, String)> {
    String::from_utf8(unsafe { slice(data, len) }.to_vec())
        .map_err(|_| (ERR_INPUT, format!("{what}: not UTF-8")))
}

/// Argument `i` as a TorchScript value. Tensors view the caller's buffer.
unsafe fn to_ivalue(arg: &RawArg, i: usize, device: Device) -> Result<IValue, (i32, String)> {
    let what = format!("argument {i}");
    Ok(match arg.kind {
        ARG_TENSOR => IValue::Tensor(unsafe { to_tensor(&arg.tensor, &what, device) }?),
        ARG_NONE => IValue::None,
        ARG_BOOL => IValue::Bool(arg.int != 0),
        ARG_INT => IValue::Int(arg.int),
        ARG_DOUBLE => IValue::Double(arg.double),
        ARG_STR => IValue::String(unsafe { to_string(arg.items as *const u8, arg.len, &what) }?),
        ARG_INT_LIST => {
            IValue::IntList(unsafe { slice(arg.items as *const i64, arg.len) }.to_vec())
        }
        ARG_DOUBLE_LIST => {
            IValue::DoubleList(unsafe { slice(arg.items as *const f64, arg.len) }.to_vec())
        }
        ARG_BOOL_LIST => IValue::BoolList(
            unsafe { slice(arg.items as *const u8, arg.len) }
                .iter()
                .map(|&b| b != 0)
                .collect(),
        ),
        ARG_STR_LIST => IValue::StringList(
            unsafe { slice(arg.items as *const RawStr, arg.len) }
                .iter()
                .map(|s| unsafe { to_string(s.data, s.len, &what) })
                .collect::<Result<_, _>>()?,
        ),
        kind => return Err((ERR_INPUT, format!("{what}: unknown kind {kind}"))),
    })
}

unsafe fn to_tensor(t: &RawTensor, what: &str, device: Device) -> Result<Tensor, (i32, String)> {
    let kind = *KINDS.get(t.elem as usize).ok_or_else(|| {
        (
            ERR_INPUT,
            format!("{what}: unknown element code {}", t.elem),
        )
    })?;
    let shape = unsafe { slice(t.shape, t.ndim) };
    let strides = unsafe { slice(t.strides, t.ndim) };
    // SAFETY: the caller lends a buffer of this shape, strides and kind for the call.
    // The tensor views it without a copy (on CPU), strided as torch.from_numpy would
    // view it, so kernels see the same layout as under mlflow; moving to a GPU copies.
    let view =
        unsafe { Tensor::f_from_blob(t.data as *const u8, shape, strides, kind, Device::Cpu) }
            .map_err(|e| (ERR_INPUT, format!("{what}: {e}")))?;
    if device == Device::Cpu {
        Ok(view)
    } else {
        view.f_to_device(device)
            .map_err(|e| (ERR_RUN, e.to_string()))
    }
}

/// A tensor as an owned, contiguous CPU copy (outputs may alias the caller's input, and the
/// caller copies them once more into NumPy: the copy here only happens when needed).
fn to_host(t: Tensor, what: &str) -> Result<(Tensor, Vec<i64>), (i32, String)> {
    let kind = t.kind();
    if elem_code(kind).is_none() {
        return Err((
            ERR_RUN,
            format!("{what} has dtype {kind:?}, which NumPy cannot hold"),
        ));
    }
    let t = if t.device() == Device::Cpu {
        t
    } else {
        t.f_to_device(Device::Cpu)
            .map_err(|e| (ERR_RUN, e.to_string()))?
    };
    let t = if t.is_contiguous() {
        t
    } else {
        t.f_contiguous().map_err(|e| (ERR_RUN, e.to_string()))?
    };
    let shape = t.size();
    Ok((t, shape))
}

fn flatten(v: IValue) -> Result<Outputs, (i32, String)> {
    let mut out = Outputs {
        kind: OUT_TENSOR,
        keys: vec![],
        tensors: vec![],
        shapes: vec![],
    };
    let push = |t: Tensor, what: String, out: &mut Outputs| -> Result<(), (i32, String)> {
        let (t, shape) = to_host(t, &what)?;
        out.tensors.push(t);
        out.shapes.push(shape);
        Ok(())
    };
    let not_tensor = |what: String| {
        (ERR_RUN, format!("{what} is not a tensor; the engine returns a tensor, or a tuple, list or str-keyed dict of tensors"))
    };
    out.kind = match &v {
        IValue::Tuple(_) => OUT_TUPLE,
        IValue::GenericList(_) | IValue::TensorList(_) => OUT_LIST,
        IValue::GenericDict(_) => OUT_DICT,
        _ => OUT_TENSOR,
    };
    match v {
        IValue::Tensor(t) => push(t, "the output".into(), &mut out)?,
        IValue::Tuple(items) | IValue::GenericList(items) => {
            for (i, item) in items.into_iter().enumerate() {
                match item {
                    IValue::Tensor(t) => push(t, format!("output {i}"), &mut out)?,
                    _ => return Err(not_tensor(format!("output {i}"))),
                }
            }
        }
        IValue::TensorList(items) => {
            for (i, t) in items.into_iter().enumerate() {
                push(t, format!("output {i}"), &mut out)?;
            }
        }
        IValue::GenericDict(items) => {
            for (k, item) in items {
                let IValue::String(key) = k else {
                    return Err((
                        ERR_RUN,
                        "the output dict has a key that is not a string".into(),
                    ));
                };
                match item {
                    IValue::Tensor(t) => push(t, format!("output '{key}'"), &mut out)?,
                    _ => return Err(not_tensor(format!("output '{key}'"))),
                }
                out.keys
                    .push(CString::new(key).map_err(|e| (ERR_RUN, e.to_string()))?);
            }
        }
        other => return Err(not_tensor(format!("the output ({})", kind_name(&other)))),
    }
    Ok(out)
}

fn kind_name(v: &IValue) -> &'static str {
    match v {
        IValue::None => "None",
        IValue::Double(_) => "float",
        IValue::Int(_) => "int",
        IValue::Bool(_) => "bool",
        IValue::String(_) => "str",
        _ => "a value",
    }
}

/// # Safety
/// `o` came from `fpt_forward`.
#[no_mangle]
pub unsafe extern "C" fn fpt_outputs_kind(o: *const OutputsHandle) -> i32 {
    unsafe { &*(o as *const Outputs) }.kind
}

/// # Safety
/// `o` came from `fpt_forward`.
#[no_mangle]
pub unsafe extern "C" fn fpt_outputs_len(o: *const OutputsHandle) -> usize {
    unsafe { &*(o as *const Outputs) }.tensors.len()
}

/// # Safety
/// `o` came from `fpt_forward`; `i` < its length.
#[no_mangle]
pub unsafe extern "C" fn fpt_outputs_key(o: *const OutputsHandle, i: usize) -> *const c_char {
    let o = unsafe { &*(o as *const Outputs) };
    o.keys.get(i).map_or(std::ptr::null(), |k| k.as_ptr())
}

/// # Safety
/// `o` came from `fpt_forward`; `i` < its length. The view lives until `fpt_outputs_free`.
#[no_mangle]
pub unsafe extern "C" fn fpt_outputs_tensor(o: *const OutputsHandle, i: usize) -> RawTensor {
    let o = unsafe { &*(o as *const Outputs) };
    let t = &o.tensors[i];
    RawTensor {
        elem: elem_code(t.kind()).unwrap_or(-1),
        ndim: o.shapes[i].len(),
        shape: o.shapes[i].as_ptr(),
        strides: std::ptr::null(),
        data: t.data_ptr(),
    }
}

/// # Safety
/// `o` came from `fpt_forward` and is freed once.
#[no_mangle]
pub unsafe extern "C" fn fpt_outputs_free(o: *mut OutputsHandle) {
    if !o.is_null() {
        let _ = catch_unwind(|| drop(unsafe { Box::from_raw(o as *mut Outputs) }));
    }
}

#[no_mangle]
pub extern "C" fn fpt_cuda_available() -> i32 {
    catch_unwind(tch::Cuda::is_available).unwrap_or(false) as i32
}

static THREADS: Once = Once::new();

#[no_mangle]
pub extern "C" fn fpt_set_threads(intra: i32, interop: i32) -> i32 {
    let mut status = OK;
    THREADS.call_once(|| {
        status = guarded(|| {
            if intra > 0 {
                tch::set_num_threads(intra);
            }
            if interop > 0 {
                // libtorch refuses this once its inter-op pool has started (Python torch may have
                // started it): that is an error message, not a crash.
                tch::set_num_interop_threads(interop);
            }
            Ok(())
        });
    });
    status
}
