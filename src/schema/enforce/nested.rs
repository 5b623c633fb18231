//! mlflow's `_enforce_type` for one value of a nested type (an Array, Object or Map cell of a
//! column, or an Object param): which rule applies, when an empty or missing value passes as it
//! is, and the messages. The binding walks the value and runs the pandas conversion mlflow runs
//! on scalars; the set reprs in two messages are Python's (their order is its hashing), so the
//! binding renders them.

use super::params::type_repr;
use crate::schema::{ColType, Property};

/// Whether an empty or missing value (None, an empty list or array, `{}`) passes as it is:
/// `not required or <inner type> == Any`, as `_enforce_array` and `_enforce_map` test it.
pub fn empty_passes(required: bool, inner: &ColType) -> bool {
    !required || matches!(inner, ColType::Any)
}

/// The name mlflow's key message shows for a property's type (`props[k]['type']` in its dict
/// form): the DataType's name or the kind of nested type.
pub fn kind_name(ty: &ColType) -> &'static str {
    match ty {
        ColType::Data(t) => t.name(),
        ColType::Array(_) => "array",
        ColType::Object(_) => "object",
        ColType::Map(_) => "map",
        ColType::Any => "any",
        ColType::SparkMlVector => "sparkml_vector",
    }
}

/// The property named `name` (Object properties are kept sorted by name).
pub fn property<'a>(props: &'a [Property], name: &str) -> Option<&'a Property> {
    props
        .binary_search_by(|p| p.name.as_str().cmp(name))
        .ok()
        .map(|i| &props[i])
}

/// A scalar type given a value `np.isscalar` refuses.
pub fn expected_scalar(type_name: &str) -> String {
    format!("Expected data to be scalar, got {type_name}")
}

/// A scalar the column rules refused (mlflow replaces their message with this one).
pub fn datatype_failed(value_text: &str, ty: &ColType) -> String {
    format!(
        "Failed to enforce schema of data `{value_text}` with dtype `{}`",
        kind_name(ty)
    )
}

pub fn expected_list(type_name: &str) -> String {
    format!("Expected data to be list or numpy array, got {type_name}")
}

pub fn expected_dict(value_text: &str, ty: &ColType, type_name: &str) -> String {
    format!(
        "Failed to enforce schema of '{value_text}' with type '{}'. Expected data to be \
         dictionary, got {type_name}",
        type_repr(ty)
    )
}

/// Given the repr of the set of missing required properties.
pub fn missing_properties(set_repr: &str) -> String {
    format!("Missing required properties: {set_repr}")
}

/// Given the repr of the set of keys the Object does not define.
pub fn invalid_properties(set_repr: &str) -> String {
    format!("Invalid properties not defined in the schema found: {set_repr}")
}

/// A property whose value failed (mlflow replaces the inner message with this one).
pub fn key_failed(key_text: &str, ty: &ColType, type_name: &str) -> String {
    format!(
        "Failed to enforce schema for key `{key_text}`. Expected type {}, received type {type_name}",
        kind_name(ty)
    )
}

pub fn expected_map(type_name: &str) -> String {
    format!("Expected data to be a dict, got {type_name}")
}

pub const MAP_KEYS_NOT_STR: &str = "Expected all keys in the map type data are string type.";

/// A type no value can have (a Spark ML vector inside a nested type).
pub fn invalid_type(ty: &ColType) -> String {
    format!("Invalid data type: {}", type_repr(ty))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::DataType;

    fn props() -> Vec<Property> {
        ["a", "b", "c"]
            .into_iter()
            .map(|n| Property {
                name: n.into(),
                ty: ColType::Data(DataType::Long),
                required: true,
            })
            .collect()
    }

    #[test]
    fn empty_values_pass_when_optional_or_of_any() {
        let long = ColType::Data(DataType::Long);
        assert!(empty_passes(false, &long));
        assert!(empty_passes(true, &ColType::Any));
        assert!(!empty_passes(true, &long));
    }

    #[test]
    fn properties_are_found_by_name() {
        let p = props();
        assert_eq!(property(&p, "b").map(|p| p.name.as_str()), Some("b"));
        assert!(property(&p, "d").is_none());
    }

    #[test]
    fn messages_name_the_kind_and_the_type() {
        let arr = ColType::Array(Box::new(ColType::Data(DataType::Long)));
        assert_eq!(
            key_failed("k", &arr, "str"),
            "Failed to enforce schema for key `k`. Expected type array, received type str"
        );
        assert_eq!(
            expected_dict("5", &ColType::Object(props()), "int"),
            "Failed to enforce schema of '5' with type '{a: long (required), b: long (required), \
             c: long (required)}'. Expected data to be dictionary, got int"
        );
        assert_eq!(
            datatype_failed("b'x'", &ColType::Data(DataType::Long)),
            "Failed to enforce schema of data `b'x'` with dtype `long`"
        );
        assert_eq!(
            invalid_type(&ColType::SparkMlVector),
            "Invalid data type: SparkML vector"
        );
    }
}
