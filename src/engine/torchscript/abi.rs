//! The C ABI between fastpyfunc and its TorchScript engine library (`libfastpyfunc_torch.so`,
//! crate `engines/torchscript`). The engine links libtorch, so it is a separate shared library
//! that the core opens at first use; only `repr(C)` data and integer codes cross this line. This
//! file is compiled into both sides (the engine includes it by path), so they cannot drift.

use std::ffi::{c_char, c_void};

/// Bumped on any change below; the core refuses an engine library of another version.
pub const ABI_VERSION: u32 = 3;

/// Status codes of the engine's functions. On anything but `OK`, `fpt_last_error` holds the text.
pub const OK: i32 = 0;
/// The model file could not be loaded (corrupt archive, unknown ops, wrong torch version).
pub const ERR_LOAD: i32 = 1;
/// The inputs do not fit (dtype the engine cannot hold, forward's argument check).
pub const ERR_INPUT: i32 = 2;
/// forward raised, or its output cannot be handed back.
pub const ERR_RUN: i32 = 3;

/// Element codes: the order of [`ELEMS`].
pub const ELEMS: [&str; 9] = [
    "bool", "uint8", "int8", "int16", "int32", "int64", "float16", "float32", "float64",
];

/// Output structure codes (`fpt_outputs_kind`).
pub const OUT_TENSOR: i32 = 0;
pub const OUT_TUPLE: i32 = 1;
pub const OUT_LIST: i32 = 2;
pub const OUT_DICT: i32 = 3;

/// A CPU tensor: an input lent by the caller (strided, as NumPy lays it out), or an output held
/// by the engine until `fpt_outputs_free` (C-contiguous; `strides` is null).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct RawTensor {
    pub elem: i32,
    pub ndim: usize,
    pub shape: *const i64,
    /// Strides in elements (not bytes), non-negative; null means C-contiguous.
    pub strides: *const i64,
    pub data: *const c_void,
}

/// Argument kinds (`RawArg::kind`): forward's positional arguments are tensors (the inputs)
/// followed by the values params were bound to.
pub const ARG_TENSOR: i32 = 0;
pub const ARG_NONE: i32 = 1;
/// `int` is 0 or 1.
pub const ARG_BOOL: i32 = 2;
pub const ARG_INT: i32 = 3;
pub const ARG_DOUBLE: i32 = 4;
/// `items` points to `len` UTF-8 bytes.
pub const ARG_STR: i32 = 5;
/// `items` points to `len` i64s.
pub const ARG_INT_LIST: i32 = 6;
/// `items` points to `len` f64s.
pub const ARG_DOUBLE_LIST: i32 = 7;
/// `items` points to `len` bytes, each 0 or 1.
pub const ARG_BOOL_LIST: i32 = 8;
/// `items` points to `len` [`RawStr`]s.
pub const ARG_STR_LIST: i32 = 9;

/// One positional argument of forward; the fields its `kind` does not name are unused.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct RawArg {
    pub kind: i32,
    pub tensor: RawTensor,
    pub int: i64,
    pub double: f64,
    pub items: *const c_void,
    pub len: usize,
}

/// A UTF-8 string lent for the call.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct RawStr {
    pub data: *const u8,
    pub len: usize,
}

/// Opaque engine objects.
#[repr(C)]
pub struct ModuleHandle {
    _private: [u8; 0],
}
#[repr(C)]
pub struct OutputsHandle {
    _private: [u8; 0],
}

pub type AbiVersionFn = unsafe extern "C" fn() -> u32;
pub type LastErrorFn = unsafe extern "C" fn() -> *const c_char;
/// `(path, device "cpu" | "cuda" | "cuda:N", out)`.
pub type LoadFn = unsafe extern "C" fn(*const c_char, *const c_char, *mut *mut ModuleHandle) -> i32;
pub type FreeFn = unsafe extern "C" fn(*mut ModuleHandle);
/// `(module, args, n_args, out)`: forward under no_grad, outputs moved to the CPU.
pub type ForwardFn =
    unsafe extern "C" fn(*const ModuleHandle, *const RawArg, usize, *mut *mut OutputsHandle) -> i32;
pub type OutputsKindFn = unsafe extern "C" fn(*const OutputsHandle) -> i32;
pub type OutputsLenFn = unsafe extern "C" fn(*const OutputsHandle) -> usize;
/// The key of dict entry `i` (NUL-terminated, UTF-8), or null for other kinds.
pub type OutputsKeyFn = unsafe extern "C" fn(*const OutputsHandle, usize) -> *const c_char;
pub type OutputsTensorFn = unsafe extern "C" fn(*const OutputsHandle, usize) -> RawTensor;
pub type OutputsFreeFn = unsafe extern "C" fn(*mut OutputsHandle);
/// Whether libtorch sees a CUDA device (1) or not (0).
pub type CudaAvailableFn = unsafe extern "C" fn() -> i32;
/// `(intra-op threads, inter-op threads)`, each ignored when < 1; only the first call per
/// process sets anything (libtorch refuses a second inter-op setting).
pub type SetThreadsFn = unsafe extern "C" fn(i32, i32) -> i32;
