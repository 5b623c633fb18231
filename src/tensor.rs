//! Engine-neutral tensors: the element types MLflow models exchange, borrowed views for inputs
//! (no copy: the binding lends the caller's buffer) and owned tensors for outputs.

/// Calls `$m!((Variant, rust_type), ...)` with every numeric element type, so each per-type enum
/// and `match` (here, in the engines and in the binding) is generated from this one list.
#[macro_export]
#[doc(hidden)]
macro_rules! with_numeric_types {
    ($m:ident) => {
        $m! {
            (Bool, bool),
            (I8, i8),
            (I16, i16),
            (I32, i32),
            (I64, i64),
            (U8, u8),
            (U16, u16),
            (U32, u32),
            (U64, u64),
            (F16, half::f16),
            (F32, f32),
            (F64, f64)
        }
    };
}

/// Element type of a tensor. Names follow NumPy (`float32`, ...), as MLflow's TensorSpec does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ElemType {
    Bool,
    I8,
    I16,
    I32,
    I64,
    U8,
    U16,
    U32,
    U64,
    F16,
    F32,
    F64,
    String,
}

impl ElemType {
    /// The NumPy dtype name.
    pub fn numpy_name(self) -> &'static str {
        match self {
            ElemType::Bool => "bool",
            ElemType::I8 => "int8",
            ElemType::I16 => "int16",
            ElemType::I32 => "int32",
            ElemType::I64 => "int64",
            ElemType::U8 => "uint8",
            ElemType::U16 => "uint16",
            ElemType::U32 => "uint32",
            ElemType::U64 => "uint64",
            ElemType::F16 => "float16",
            ElemType::F32 => "float32",
            ElemType::F64 => "float64",
            ElemType::String => "str",
        }
    }

    /// The numeric element type NumPy calls `name` (`float32`).
    pub fn from_numpy_name(name: &str) -> Option<ElemType> {
        macro_rules! find {
            ($(($v:ident, $t:ty)),*) => {
                [$(ElemType::$v),*].into_iter().find(|e| e.numpy_name() == name)
            };
        }
        crate::with_numeric_types!(find)
    }

    /// The ONNX type name as onnxruntime's Python API prints it (`tensor(float)`).
    pub fn onnx_name(self) -> &'static str {
        match self {
            ElemType::Bool => "tensor(bool)",
            ElemType::I8 => "tensor(int8)",
            ElemType::I16 => "tensor(int16)",
            ElemType::I32 => "tensor(int32)",
            ElemType::I64 => "tensor(int64)",
            ElemType::U8 => "tensor(uint8)",
            ElemType::U16 => "tensor(uint16)",
            ElemType::U32 => "tensor(uint32)",
            ElemType::U64 => "tensor(uint64)",
            ElemType::F16 => "tensor(float16)",
            ElemType::F32 => "tensor(float)",
            ElemType::F64 => "tensor(double)",
            ElemType::String => "tensor(string)",
        }
    }
}

macro_rules! data_enums {
    ($(($v:ident, $t:ty)),*) => {
        /// Borrowed, C-contiguous element data of one input.
        #[derive(Debug, Clone, Copy)]
        pub enum DataRef<'a> {
            $($v(&'a [$t]),)*
            Str(&'a [String]),
        }

        /// Owned element data of one output (handed to NumPy without another copy).
        #[derive(Debug, Clone, PartialEq)]
        pub enum Data {
            $($v(Vec<$t>),)*
            Str(Vec<String>),
        }

        impl DataRef<'_> {
            pub fn elem_type(&self) -> ElemType {
                match self { $(DataRef::$v(_) => ElemType::$v,)* DataRef::Str(_) => ElemType::String }
            }
            pub fn len(&self) -> usize {
                match self { $(DataRef::$v(s) => s.len(),)* DataRef::Str(s) => s.len() }
            }
            /// Address of the first element: lets tests prove an input was not copied.
            pub fn addr(&self) -> usize {
                match self { $(DataRef::$v(s) => s.as_ptr() as usize,)* DataRef::Str(s) => s.as_ptr() as usize }
            }
        }

        impl Data {
            /// The elements, borrowed.
            pub fn as_data_ref(&self) -> DataRef<'_> {
                match self { $(Data::$v(v) => DataRef::$v(v),)* Data::Str(v) => DataRef::Str(v) }
            }
            pub fn elem_type(&self) -> ElemType {
                match self { $(Data::$v(_) => ElemType::$v,)* Data::Str(_) => ElemType::String }
            }
            pub fn len(&self) -> usize {
                match self { $(Data::$v(s) => s.len(),)* Data::Str(s) => s.len() }
            }
        }
    };
}

with_numeric_types!(data_enums);

impl DataRef<'_> {
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Data {
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A borrowed input tensor: row-major shape plus the caller's buffer.
#[derive(Debug, Clone, Copy)]
pub struct TensorRef<'a> {
    pub shape: &'a [usize],
    pub data: DataRef<'a>,
}

/// An owned output tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    pub shape: Vec<usize>,
    pub data: Data,
}

/// Keys of a map output (ONNX maps have integer or string keys).
#[derive(Debug, Clone, PartialEq)]
pub enum MapKeys {
    I64(Vec<i64>),
    Str(Vec<String>),
}

/// One map of a sequence-of-maps output (scikit-learn classifiers converted with ZipMap).
#[derive(Debug, Clone, PartialEq)]
pub struct Map {
    pub keys: MapKeys,
    pub values: Data,
}

/// Output memory an engine owns (an onnxruntime value). The binding lends it to NumPy without a
/// copy and keeps this object alive as the array's base, so the memory outlives every view.
pub trait EngineBuffer: Send + Sync + std::fmt::Debug {
    /// The elements; valid (and unmoved) as long as `self` lives.
    fn view(&self) -> DataRef<'_>;
}

/// One model output.
#[derive(Debug)]
pub enum Value {
    /// Owned elements (strings, or small results).
    Tensor(Tensor),
    /// Elements left where the engine wrote them.
    Engine {
        shape: Vec<usize>,
        buffer: Box<dyn EngineBuffer>,
    },
    /// `seq(map(k, v))`: onnxruntime's Python API returns a list of dicts.
    MapSequence(Vec<Map>),
}

/// The declared type of a model input or output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ValueKind {
    /// A tensor; `dims` uses -1 for dimensions the model leaves open.
    Tensor { elem: ElemType, dims: Vec<i64> },
    /// Anything else (sequences, maps, optional): described by its ONNX type string.
    Other(String),
}

impl ValueKind {
    /// onnxruntime's Python type string: `tensor(float)`, `seq(map(int64,tensor(float)))`, ...
    pub fn type_name(&self) -> String {
        match self {
            ValueKind::Tensor { elem, .. } => elem.onnx_name().to_string(),
            ValueKind::Other(s) => s.clone(),
        }
    }
}

/// What an input array holds, as the binding sees its NumPy dtype.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Given {
    /// A numeric or bool dtype.
    Elem(ElemType),
    /// `<U`, `S` or object arrays: text for engines that take strings.
    Text,
}

/// A named model input or output with its declared type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Port {
    pub name: String,
    pub kind: ValueKind,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_reports_type_and_length() {
        let v = vec![1.0f32, 2.0];
        let d = DataRef::F32(&v);
        assert_eq!(d.elem_type(), ElemType::F32);
        assert_eq!(d.len(), 2);
        assert_eq!(d.addr(), v.as_ptr() as usize);
        assert_eq!(Data::Str(vec![]).elem_type(), ElemType::String);
        assert!(Data::I64(vec![]).is_empty());
    }

    #[test]
    fn names_match_numpy_and_onnxruntime() {
        assert_eq!(ElemType::F32.numpy_name(), "float32");
        assert_eq!(ElemType::F32.onnx_name(), "tensor(float)");
        assert_eq!(ElemType::F64.onnx_name(), "tensor(double)");
        assert_eq!(ElemType::String.onnx_name(), "tensor(string)");
    }
}
