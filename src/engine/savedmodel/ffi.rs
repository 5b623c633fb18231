//! The few TensorFlow C API functions the engine calls, resolved once from the `tensorflow`
//! wheel's libraries (`libtensorflow_framework.so.2`, then `libtensorflow_cc.so.2`), never
//! unloaded (TF crashes when unloaded at exit). They are loaded `RTLD_LOCAL`: with
//! `RTLD_GLOBAL`, TensorFlow's exported symbols break libraries loaded later (importing
//! `torch._dynamo`/triton afterwards segfaults).

use std::ffi::{c_char, c_int, c_void};
use std::path::Path;
use std::sync::Mutex;

pub type Status = c_void;
pub type Graph = c_void;
pub type Session = c_void;
pub type SessionOptions = c_void;
pub type Tensor = c_void;
pub type Operation = c_void;

#[repr(C)]
pub struct Buffer {
    pub data: *const c_void,
    pub length: usize,
    pub data_deallocator: Option<unsafe extern "C" fn(*mut c_void, usize)>,
}

#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Output {
    pub oper: *mut Operation,
    pub index: c_int,
}

pub type Deallocator = unsafe extern "C" fn(*mut c_void, usize, *mut c_void);

macro_rules! api {
    ($($field:ident: $sym:literal => fn($($arg:ty),*) $(-> $ret:ty)?;)*) => {
        /// Function pointers into the loaded TensorFlow libraries.
        pub struct Api {
            $(pub $field: unsafe extern "C" fn($($arg),*) $(-> $ret)?,)*
        }

        impl Api {
            fn resolve(lib: &libloading::Library) -> Result<Self, String> {
                // SAFETY: each symbol is declared with the signature of TensorFlow's C API header.
                unsafe {
                    Ok(Api {
                        $($field: *lib
                            .get::<unsafe extern "C" fn($($arg),*) $(-> $ret)?>($sym)
                            .map_err(|e| format!("{}: {e}", String::from_utf8_lossy(&$sym[..$sym.len() - 1])))?,)*
                    })
                }
            }
        }
    };
}

api! {
    new_status: b"TF_NewStatus\0" => fn() -> *mut Status;
    delete_status: b"TF_DeleteStatus\0" => fn(*mut Status);
    get_code: b"TF_GetCode\0" => fn(*const Status) -> c_int;
    message: b"TF_Message\0" => fn(*const Status) -> *const c_char;
    new_buffer: b"TF_NewBuffer\0" => fn() -> *mut Buffer;
    delete_buffer: b"TF_DeleteBuffer\0" => fn(*mut Buffer);
    new_tensor: b"TF_NewTensor\0" => fn(c_int, *const i64, c_int, *mut c_void, usize, Deallocator, *mut c_void) -> *mut Tensor;
    delete_tensor: b"TF_DeleteTensor\0" => fn(*mut Tensor);
    tensor_data: b"TF_TensorData\0" => fn(*const Tensor) -> *mut c_void;
    tensor_byte_size: b"TF_TensorByteSize\0" => fn(*const Tensor) -> usize;
    num_dims: b"TF_NumDims\0" => fn(*const Tensor) -> c_int;
    dim: b"TF_Dim\0" => fn(*const Tensor, c_int) -> i64;
    tensor_type: b"TF_TensorType\0" => fn(*const Tensor) -> c_int;
    new_graph: b"TF_NewGraph\0" => fn() -> *mut Graph;
    delete_graph: b"TF_DeleteGraph\0" => fn(*mut Graph);
    new_session_options: b"TF_NewSessionOptions\0" => fn() -> *mut SessionOptions;
    delete_session_options: b"TF_DeleteSessionOptions\0" => fn(*mut SessionOptions);
    load_session_from_saved_model: b"TF_LoadSessionFromSavedModel\0" => fn(*const SessionOptions, *const Buffer, *const c_char, *const *const c_char, c_int, *mut Graph, *mut Buffer, *mut Status) -> *mut Session;
    close_session: b"TF_CloseSession\0" => fn(*mut Session, *mut Status);
    delete_session: b"TF_DeleteSession\0" => fn(*mut Session, *mut Status);
    graph_operation_by_name: b"TF_GraphOperationByName\0" => fn(*mut Graph, *const c_char) -> *mut Operation;
    session_run: b"TF_SessionRun\0" => fn(*mut Session, *const Buffer, *const Output, *const *mut Tensor, c_int, *const Output, *mut *mut Tensor, c_int, *const *const Operation, c_int, *mut Buffer, *mut Status);
}

static API: Mutex<Option<&'static Api>> = Mutex::new(None);

/// The C API, loading the libraries from `dir` (the installed `tensorflow` package) on first use.
/// A failed load is not cached; once loaded, a different `dir` is ignored.
pub fn api(dir: &Path) -> Result<&'static Api, String> {
    let mut slot = API.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(api) = *slot {
        return Ok(api);
    }
    let open = |name: &str| crate::engine::open_private(&dir.join(name));
    let framework = open("libtensorflow_framework.so.2")?;
    let cc = open("libtensorflow_cc.so.2")?;
    let api: &'static Api = Box::leak(Box::new(Api::resolve(&cc)?));
    // Never unloaded: TensorFlow segfaults when its libraries are closed at exit.
    std::mem::forget(framework);
    std::mem::forget(cc);
    *slot = Some(api);
    Ok(api)
}
