//! ParamSpec: a named inference parameter with a type, a default and an optional shape.

use serde_json::{Map, Value};

use super::types::{ColType, DataType};

#[derive(Debug, Clone, PartialEq)]
pub struct ParamSpec {
    pub name: String,
    /// A scalar DataType (never binary) or an Object.
    pub ty: ColType,
    pub default: Value,
    /// `None` for a scalar, `Some([-1])` for a 1-D list.
    pub shape: Option<Vec<i64>>,
}

impl ParamSpec {
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("name".into(), Value::String(self.name.clone()));
        m.insert("default".into(), self.default.clone());
        m.insert(
            "shape".into(),
            self.shape
                .as_ref()
                .map_or(Value::Null, |s| Value::from(s.clone())),
        );
        let ty = self.ty.to_json();
        for (k, v) in ty {
            m.insert(k, v);
        }
        Value::Object(m)
    }

    pub fn from_json(v: &Value, ctx: &str) -> Result<Self, String> {
        let obj = v
            .as_object()
            .ok_or_else(|| format!("{ctx}: expected a JSON object, found {v}"))?;
        let name = match obj.get("name") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => return Err(format!("{ctx}: ParamSpec is missing `name`")),
        };
        let ctx = format!("{ctx} ('{name}')");
        // Older files wrote `dtype` instead of `type`.
        let ty_name = obj
            .get("type")
            .or_else(|| obj.get("dtype"))
            .and_then(Value::as_str)
            .ok_or_else(|| format!("{ctx}: ParamSpec is missing `type`"))?;
        if !obj.contains_key("default") {
            return Err(format!("{ctx}: ParamSpec is missing `default`"));
        }
        let ty = if ty_name == "object" {
            ColType::from_json(v, &ctx)?
        } else {
            match DataType::from_name(ty_name) {
                Some(DataType::Binary) => {
                    return Err(format!(
                        "{ctx}: binary type is not supported for parameters"
                    ))
                }
                Some(t) => ColType::Data(t),
                None => return Err(format!("{ctx}: unsupported parameter type '{ty_name}'")),
            }
        };
        let shape = match obj.get("shape") {
            None | Some(Value::Null) => None,
            Some(Value::Array(dims)) if dims.len() == 1 && dims[0].as_i64() == Some(-1) => {
                Some(vec![-1])
            }
            Some(other) => {
                return Err(format!(
                    "{ctx}: shape must be null (scalar) or [-1] (1-D list), found {other}"
                ))
            }
        };
        Ok(ParamSpec {
            name,
            ty,
            default: obj["default"].clone(),
            shape,
        })
    }
}
