//! TensorSpec: a numpy dtype name and a shape with -1 for variable dimensions.

use serde_json::{json, Value};

/// The numpy dtype names a TensorSpec may carry (what `np.dtype(x).name` writes).
/// Sized flexible types (`<U5`, `S10`) are rejected, as MLflow rejects them.
pub const TENSOR_DTYPES: &[&str] = &[
    "bool",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "float16",
    "float32",
    "float64",
    "longdouble",
    "float128",
    "complex64",
    "complex128",
    "clongdouble",
    "complex256",
    "object",
    "str",
    "bytes",
    "datetime64",
    "timedelta64",
];

#[derive(Debug, Clone, PartialEq)]
pub struct TensorSpec {
    pub name: Option<String>,
    /// Canonical numpy dtype name.
    pub dtype: String,
    pub shape: Vec<i64>,
}

impl TensorSpec {
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "type": "tensor",
            "tensor-spec": {"dtype": self.dtype, "shape": self.shape},
        });
        if let Some(name) = &self.name {
            v["name"] = Value::String(name.clone());
        }
        v
    }

    pub fn from_json(v: &Value, ctx: &str) -> Result<Self, String> {
        let spec = v
            .get("tensor-spec")
            .and_then(Value::as_object)
            .ok_or_else(|| format!("{ctx}: TensorSpec is missing the `tensor-spec` mapping"))?;
        let dtype = spec
            .get("dtype")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("{ctx}: TensorSpec is missing `dtype`"))?;
        let dtype = canonical_dtype(dtype).ok_or_else(|| {
            format!("{ctx}: unsupported tensor dtype '{dtype}' (MLflow accepts numpy dtype names without size information, e.g. float32, int64, str, object)")
        })?;
        let shape = spec
            .get("shape")
            .and_then(Value::as_array)
            .ok_or_else(|| format!("{ctx}: TensorSpec is missing the `shape` list"))?
            .iter()
            .map(|d| {
                d.as_i64().filter(|&d| d >= -1).ok_or_else(|| {
                    format!("{ctx}: shape entries must be integers >= -1, found {d}")
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let name = match v.get("name") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(other) => return Err(format!("{ctx}: `name` must be a string, found {other}")),
        };
        Ok(TensorSpec { name, dtype, shape })
    }
}

/// Maps a dtype string to numpy's canonical name; `None` if MLflow would not accept it.
pub fn canonical_dtype(s: &str) -> Option<String> {
    let base = s.trim_start_matches(['<', '>', '=', '|']);
    let alias = match base {
        "float" | "double" | "f8" | "d" => "float64",
        "single" | "f4" | "f" => "float32",
        "half" | "f2" | "e" => "float16",
        "int" | "long" | "i8" | "l" | "q" | "int_" => "int64",
        "i4" | "intc" | "i" => "int32",
        "i2" | "short" | "h" => "int16",
        "i1" | "byte" | "b" => "int8",
        "u8" | "uint" | "ulonglong" | "Q" | "L" => "uint64",
        "u4" | "uintc" | "I" => "uint32",
        "u2" | "ushort" | "H" => "uint16",
        "u1" | "ubyte" | "B" => "uint8",
        "bool_" | "?" | "b1" => "bool",
        "O" | "object_" => "object",
        "U" | "str_" | "unicode" => "str",
        "S" | "bytes_" => "bytes",
        "M8" | "M" => "datetime64",
        "m8" | "m" => "timedelta64",
        other => other,
    };
    if TENSOR_DTYPES.contains(&alias) {
        return Some(alias.to_string());
    }
    // datetime64[ns], timedelta64[s], ...
    for prefix in ["datetime64[", "timedelta64[", "M8[", "m8["] {
        if let Some(unit) = alias.strip_prefix(prefix).and_then(|u| u.strip_suffix(']')) {
            const UNITS: &[&str] = &[
                "Y", "M", "W", "D", "h", "m", "s", "ms", "us", "ns", "ps", "fs", "as",
            ];
            if UNITS.contains(&unit) {
                let kind = if prefix.starts_with('d') || prefix.starts_with('M') {
                    "datetime64"
                } else {
                    "timedelta64"
                };
                return Some(format!("{kind}[{unit}]"));
            }
        }
    }
    None
}
