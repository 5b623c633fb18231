//! MLflow's data types: the scalar [`DataType`]s and the nested column types (Array, Object, Map,
//! Any) that ColSpecs, Object properties and ParamSpecs use.

use serde_json::{json, Map, Value};

/// `mlflow.types.DataType`: the scalar column types and their numpy dtype.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DataType {
    Boolean,
    Integer,
    Long,
    Float,
    Double,
    String,
    Binary,
    Datetime,
}

impl DataType {
    pub const ALL: [DataType; 8] = [
        DataType::Boolean,
        DataType::Integer,
        DataType::Long,
        DataType::Float,
        DataType::Double,
        DataType::String,
        DataType::Binary,
        DataType::Datetime,
    ];

    pub fn name(self) -> &'static str {
        match self {
            DataType::Boolean => "boolean",
            DataType::Integer => "integer",
            DataType::Long => "long",
            DataType::Float => "float",
            DataType::Double => "double",
            DataType::String => "string",
            DataType::Binary => "binary",
            DataType::Datetime => "datetime",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.name() == name)
    }

    /// The numpy dtype MLflow maps the type to (`DataType.to_numpy()`).
    pub fn numpy_dtype(self) -> &'static str {
        match self {
            DataType::Boolean => "bool",
            DataType::Integer => "int32",
            DataType::Long => "int64",
            DataType::Float => "float32",
            DataType::Double => "float64",
            DataType::String | DataType::Binary => "object",
            DataType::Datetime => "datetime64[ns]",
        }
    }
}

/// A named member of an Object type.
#[derive(Debug, Clone, PartialEq)]
pub struct Property {
    pub name: String,
    pub ty: ColType,
    pub required: bool,
}

/// The type of a column, Object property, Array item or Map value.
#[derive(Debug, Clone, PartialEq)]
pub enum ColType {
    Data(DataType),
    Array(Box<ColType>),
    /// Properties sorted by name, as MLflow keeps them.
    Object(Vec<Property>),
    Map(Box<ColType>),
    Any,
    SparkMlVector,
}

impl ColType {
    /// MLflow's JSON form (`to_dict`), without `name`/`required`.
    pub fn to_json(&self) -> Map<String, Value> {
        let v = match self {
            ColType::Data(t) => json!({"type": t.name()}),
            ColType::Array(items) => json!({"type": "array", "items": items.to_json()}),
            ColType::Object(props) => {
                let mut properties = Map::new();
                for p in props {
                    let mut d = p.ty.to_json();
                    d.insert("required".into(), Value::Bool(p.required));
                    properties.insert(p.name.clone(), Value::Object(d));
                }
                json!({"type": "object", "properties": properties})
            }
            ColType::Map(values) => json!({"type": "map", "values": values.to_json()}),
            ColType::Any => json!({"type": "any"}),
            ColType::SparkMlVector => json!({"type": "sparkml_vector"}),
        };
        match v {
            Value::Object(m) => m,
            _ => unreachable!("json! of an object literal"),
        }
    }

    /// Parses the JSON form. `ctx` names where the type sits, for error messages.
    pub fn from_json(v: &Value, ctx: &str) -> Result<Self, String> {
        let obj = v
            .as_object()
            .ok_or_else(|| format!("{ctx}: expected a JSON object, found {v}"))?;
        let ty = obj
            .get("type")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("{ctx}: missing key `type`"))?;
        match ty {
            "array" => {
                let items = obj
                    .get("items")
                    .ok_or_else(|| format!("{ctx}: Array is missing key `items`"))?;
                Ok(ColType::Array(Box::new(Self::from_json(
                    items,
                    &format!("{ctx}.items"),
                )?)))
            }
            "map" => {
                let values = obj
                    .get("values")
                    .ok_or_else(|| format!("{ctx}: Map is missing key `values`"))?;
                Ok(ColType::Map(Box::new(Self::from_json(
                    values,
                    &format!("{ctx}.values"),
                )?)))
            }
            "object" => {
                let props = obj
                    .get("properties")
                    .and_then(Value::as_object)
                    .ok_or_else(|| format!("{ctx}: Object is missing the `properties` mapping"))?;
                if props.is_empty() {
                    return Err(format!("{ctx}: Object must have at least one property"));
                }
                let mut out = Vec::with_capacity(props.len());
                for (name, p) in props {
                    let pctx = format!("{ctx}.{name}");
                    let ty = Self::from_json(p, &pctx)?;
                    let required = optional_bool(p, "required", &pctx)?.unwrap_or(true);
                    out.push(Property {
                        name: name.clone(),
                        ty,
                        required,
                    });
                }
                out.sort_by(|a, b| a.name.cmp(&b.name));
                Ok(ColType::Object(out))
            }
            "any" => Ok(ColType::Any),
            "sparkml_vector" => Ok(ColType::SparkMlVector),
            other => DataType::from_name(other).map(ColType::Data).ok_or_else(|| {
                format!(
                    "{ctx}: unsupported type '{other}', expected array, object, map, any or one of {:?}",
                    DataType::ALL.map(DataType::name)
                )
            }),
        }
    }
}

pub(crate) fn optional_bool(v: &Value, key: &str, ctx: &str) -> Result<Option<bool>, String> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(other) => Err(format!("{ctx}: `{key}` must be a boolean, found {other}")),
    }
}

/// Python's `repr` of a JSON scalar as `json.loads` gives it (`0`, `1.5`, `True`, `None`);
/// lists and objects as their JSON text.
pub(crate) fn py_repr(v: &Value) -> String {
    match v {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(n) => match n.as_f64() {
            Some(f) if !(n.is_i64() || n.is_u64()) => format!("{f:?}"),
            _ => n.to_string(),
        },
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
