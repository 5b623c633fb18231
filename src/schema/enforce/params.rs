//! Params: mlflow's `_enforce_params_schema` and `ParamSpec.validate_type_and_shape` as pure
//! rules over a description of each value ([`Scalar`]) that the binding reads from Python.
//!
//! mlflow decides from Python facts about the value: its exact class (`type(value) in [...]`),
//! the numpy dtype of that class (`np.dtype('int64') == int` is True), `np.isscalar`, and for
//! shape `(-1,)` whether it is a list/ndarray of `ndim` 1. Where mlflow runs Python on the value
//! (`int(v)`, `np.datetime64(v).item()`, the Object rules) the rules here say what to run and
//! what its outcome means; the binding runs it.

use crate::schema::{ColType, DataType, ParamSpec};

/// The exact class of a value, where mlflow's type table names it (`DataType.to_python()`);
/// subclasses are `Other`, as `type(value) in [...]` compares classes by identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PyClass {
    Bool,
    Int,
    Float,
    Str,
    Other,
}

/// A non-None value given for a scalar DataType (or an item of a `(-1,)` list).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scalar {
    pub class: PyClass,
    /// `(kind, itemsize)` of `np.dtype(type(value))`, None if numpy refuses the class.
    pub dtype: Option<(u8, usize)>,
    /// `np.isscalar(value)`.
    pub is_scalar: bool,
}

/// What mlflow's `dtype.to_python()(value)` is for the param types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conv {
    Bool,
    Int,
    Float,
    Str,
}

/// mlflow's `_enforce_param_datatype` for one non-None value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// `to_python()(value)` would return the value itself (an exact builtin of that type).
    Keep,
    /// `to_python()(value)`. A ValueError it raises is [`Fault::FailedConvert`] when
    /// `value_error_is_fault` (an allowed widening), else it is reported as raised.
    Convert {
        to: Conv,
        value_error_is_fault: bool,
    },
    /// `np.datetime64(value).item()`; see [`datetime_outcome`].
    ParseDatetime,
    Fault(Fault),
}

/// Why one value was refused; [`Fault::message`] is mlflow's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    NotScalar,
    CannotConvert,
    FailedConvert,
    /// `np.datetime64(value).item()` gave an int (a sub-microsecond unit).
    NotDate,
    /// `_enforce_param_datatype` on an Object item that is a scalar: mlflow's `check_type`
    /// calls `Object.to_numpy()`, which does not exist.
    ObjectItem,
}

/// How the binding shows a value in messages: `str(value)` and `str(type(value))`.
pub struct Shown<'a> {
    pub text: &'a str,
    pub type_repr: &'a str,
}

impl Fault {
    /// `ty` is the spec's type as `str(dtype)` prints it ([`param_type_text`]).
    pub fn message(self, ty: &str, v: &Shown<'_>) -> String {
        let (value, class) = (v.text, v.type_repr);
        match self {
            Fault::NotScalar => format!("Value must be a scalar for type `{ty}`, got `{value}`"),
            Fault::CannotConvert => {
                format!("Can not safely convert `{class}` to `{ty}` for value `{value}`")
            }
            Fault::FailedConvert => {
                format!("Failed to convert value `{value}` from type `{class}` to `{ty}`")
            }
            Fault::NotDate => format!(
                "Failed to convert value to `{ty}`. It must be convertible to datetime.date/datetime, got `{value}`"
            ),
            Fault::ObjectItem => "'Object' object has no attribute 'to_numpy'".into(),
        }
    }
}

/// `DataType.x.to_python()` for the types params can have (binary is refused at parse).
fn to_python(t: DataType) -> Option<(PyClass, Conv)> {
    match t {
        DataType::Boolean => Some((PyClass::Bool, Conv::Bool)),
        DataType::Integer | DataType::Long => Some((PyClass::Int, Conv::Int)),
        DataType::Float | DataType::Double => Some((PyClass::Float, Conv::Float)),
        DataType::String => Some((PyClass::Str, Conv::Str)),
        DataType::Binary | DataType::Datetime => None,
    }
}

/// mlflow's `_ALLOWED_CONVERSIONS_FOR_PARAMS`: the types a param type widens from.
pub fn widens_from(t: DataType) -> &'static [DataType] {
    match t {
        DataType::Long => &[DataType::Integer],
        DataType::Float => &[DataType::Integer, DataType::Long],
        DataType::Double => &[DataType::Integer, DataType::Long, DataType::Float],
        _ => &[],
    }
}

/// `DataType.check_type(t, value)`: `type(value) in [to_numpy(), to_pandas(), to_python()]`,
/// where a numpy dtype equals a class whose `np.dtype(class)` it equals. to_pandas is to_numpy
/// except for string (the `object` class, which no scalar value has). Only the scalar,
/// non-datetime types reach this for params.
fn check_type(t: DataType, v: &Scalar) -> bool {
    to_python(t).is_some_and(|(class, _)| class == v.class) || v.dtype == Some(t.numpy_kind())
}

/// The value fits the type unchanged: the common call, decided from the class alone.
pub fn passes_as_is(t: DataType, class: PyClass) -> bool {
    to_python(t).is_some_and(|(c, _)| c == class)
}

/// `_enforce_param_datatype(value, t)` for a non-None value.
pub fn decide(t: DataType, v: &Scalar) -> Decision {
    if t == DataType::Datetime {
        return Decision::ParseDatetime;
    }
    // np.isscalar comes first in mlflow (a datetime.date is not a scalar)
    if !v.is_scalar {
        return Decision::Fault(Fault::NotScalar);
    }
    let Some((class, to)) = to_python(t) else {
        // binary: refused when the signature is parsed
        return Decision::Fault(Fault::CannotConvert);
    };
    if check_type(t, v) {
        return if class == v.class {
            Decision::Keep
        } else {
            Decision::Convert {
                to,
                value_error_is_fault: false,
            }
        };
    }
    if widens_from(t).iter().any(|&from| check_type(from, v)) {
        return Decision::Convert {
            to,
            value_error_is_fault: true,
        };
    }
    Decision::Fault(Fault::CannotConvert)
}

/// `_enforce_param_datatype(item, Object)`: items of an Object param of shape `(-1,)`.
pub fn decide_object_item(is_scalar: bool) -> Fault {
    if is_scalar {
        Fault::ObjectItem
    } else {
        Fault::NotScalar
    }
}

/// What `np.datetime64(value).item()` gave, for a datetime param.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatetimeParse {
    /// A `datetime.date`/`datetime`, or None (NaT): the param's value.
    Value,
    /// An int (units finer than microseconds).
    Int,
    /// numpy raised ValueError (any other exception is reported as raised).
    ValueError,
}

/// None when the parse result is the param's value, else the fault.
pub fn datetime_outcome(p: DatetimeParse) -> Option<Fault> {
    match p {
        DatetimeParse::Value => None,
        DatetimeParse::Int => Some(Fault::NotDate),
        DatetimeParse::ValueError => Some(Fault::FailedConvert),
    }
}

/// mlflow's check before a `(-1,)` param is validated: a list or ndarray with
/// `np.array(value).ndim == 1`. Err is the message, given `type(value).__name__`.
pub fn check_list_shape(
    spec_repr: &str,
    list_or_ndarray: bool,
    ndim: usize,
    type_name: &str,
) -> Result<(), String> {
    if list_or_ndarray && ndim == 1 {
        return Ok(());
    }
    Err(format!(
        "Value must be a 1D array with shape (-1,) for param {spec_repr}, received {type_name} with ndim {ndim}"
    ))
}

/// The message of any failure inside mlflow's validation (`except Exception as e`).
pub fn validation_message(spec_repr: &str, error: &str) -> String {
    format!("Failed to validate type and shape for {spec_repr}, error: {error}")
}

/// `str(dtype)` of the spec's type, as mlflow's messages print it: `DataType.long`, or the
/// Object's repr.
pub fn param_type_text(ty: &ColType) -> String {
    match ty {
        ColType::Data(t) => t.enum_text(),
        other => type_repr(other),
    }
}

/// `repr(ParamSpec)`: `'name': long (default: 1) (shape: (-1,))`. The binding supplies
/// `repr(name)` and `str(default)` (Python renderings).
pub fn spec_repr(spec: &ParamSpec, name_repr: &str, default_text: &str) -> String {
    let shape = if spec.shape.is_some() {
        " (shape: (-1,))"
    } else {
        ""
    };
    format!(
        "{name_repr}: {} (default: {default_text}){shape}",
        type_repr(&spec.ty)
    )
}

/// `repr()` of mlflow's type objects: `long`, `Array(long)`, `{a: long (required)}`,
/// `Map(str -> DataType.long)` (mlflow formats a Map's scalar value type with `str()`).
pub fn type_repr(ty: &ColType) -> String {
    match ty {
        ColType::Data(t) => t.name().into(),
        ColType::Array(items) => format!("Array({})", type_repr(items)),
        ColType::Object(props) => {
            let inner: Vec<String> = props
                .iter()
                .map(|p| {
                    let req = if p.required { "required" } else { "optional" };
                    format!("{}: {} ({req})", p.name, type_repr(&p.ty))
                })
                .collect();
            format!("{{{}}}", inner.join(", "))
        }
        ColType::Map(values) => match values.as_ref() {
            ColType::Data(t) => format!("Map(str -> {})", t.enum_text()),
            other => format!("Map(str -> {})", type_repr(other)),
        },
        ColType::Any => "Any".into(),
        ColType::SparkMlVector => "SparkML vector".into(),
    }
}

/// `"Parameters must be a dictionary. ..."`, given `type(params).__name__`.
pub fn not_a_dict_message(type_name: &str) -> String {
    format!("Parameters must be a dictionary. Got type '{type_name}'.")
}

/// mlflow's warning for non-str keys (converted with `str()`).
pub const NON_STR_KEYS_WARNING: &str = "Keys in parameters should be of type `str`, but received non-string keys.Converting all keys to string...";

/// mlflow's warning for unknown keys, given the Python reprs of `list(ignored)` and of the set of
/// supported names (set order is Python's, so the binding renders both).
pub fn unknown_keys_warning(ignored_repr: &str, allowed_repr: &str) -> String {
    format!(
        "Unrecognized params {ignored_repr} are ignored for inference. Supported params are: \
         {allowed_repr}. To enable them, please add corresponding schema in ModelSignature."
    )
}

/// `"Invalid parameters found: {set!r}"`, given the repr of the set of `(name, message)`.
pub fn invalid_params_message(set_repr: &str) -> String {
    format!("Invalid parameters found: {set_repr}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::Property;

    fn scalar(class: PyClass, dtype: (u8, usize)) -> Scalar {
        Scalar {
            class,
            dtype: Some(dtype),
            is_scalar: true,
        }
    }
    const INT: Scalar = Scalar {
        class: PyClass::Int,
        dtype: Some((b'i', 8)),
        is_scalar: true,
    };
    const FLOAT: Scalar = Scalar {
        class: PyClass::Float,
        dtype: Some((b'f', 8)),
        is_scalar: true,
    };
    const BOOL: Scalar = Scalar {
        class: PyClass::Bool,
        dtype: Some((b'b', 1)),
        is_scalar: true,
    };

    fn convert(to: Conv, fault: bool) -> Decision {
        Decision::Convert {
            to,
            value_error_is_fault: fault,
        }
    }

    #[test]
    fn exact_builtins_pass_as_is() {
        assert_eq!(decide(DataType::Long, &INT), Decision::Keep);
        assert_eq!(decide(DataType::Integer, &INT), Decision::Keep);
        assert_eq!(decide(DataType::Double, &FLOAT), Decision::Keep);
        assert_eq!(decide(DataType::Float, &FLOAT), Decision::Keep);
        assert_eq!(decide(DataType::Boolean, &BOOL), Decision::Keep);
        assert!(passes_as_is(DataType::Float, PyClass::Float));
        assert!(!passes_as_is(DataType::Float, PyClass::Int));
        assert!(!passes_as_is(DataType::Datetime, PyClass::Other));
    }

    #[test]
    fn widening_table() {
        // int -> long/float/double, long -> float/double, float -> double
        assert_eq!(decide(DataType::Double, &INT), convert(Conv::Float, true));
        assert_eq!(decide(DataType::Float, &INT), convert(Conv::Float, true));
        let i32_ = scalar(PyClass::Other, (b'i', 4));
        let i64_ = scalar(PyClass::Other, (b'i', 8));
        let f32_ = scalar(PyClass::Other, (b'f', 4));
        let f64_ = scalar(PyClass::Other, (b'f', 8));
        assert_eq!(decide(DataType::Long, &i32_), convert(Conv::Int, true));
        assert_eq!(decide(DataType::Long, &i64_), convert(Conv::Int, false));
        assert_eq!(decide(DataType::Float, &i64_), convert(Conv::Float, true));
        assert_eq!(decide(DataType::Double, &f32_), convert(Conv::Float, true));
        assert_eq!(decide(DataType::Double, &f64_), convert(Conv::Float, false));
        assert_eq!(decide(DataType::Float, &f32_), convert(Conv::Float, false));
        // no narrowing, no bool <-> number
        for (t, v) in [
            (DataType::Integer, i64_),
            (DataType::Integer, FLOAT),
            (DataType::Float, f64_),
            (DataType::Long, FLOAT),
            (DataType::Boolean, INT),
            (DataType::Integer, BOOL),
            (DataType::Double, BOOL),
            (DataType::String, INT),
            (DataType::Double, scalar(PyClass::Other, (b'f', 2))),
        ] {
            assert_eq!(
                decide(t, &v),
                Decision::Fault(Fault::CannotConvert),
                "{t:?} {v:?}"
            );
        }
        // np.str_ is a string (dtype('<U') == np.dtype(str)); bytes is not
        let np_str = scalar(PyClass::Other, (b'U', 0));
        assert_eq!(decide(DataType::String, &np_str), convert(Conv::Str, false));
        let bytes = scalar(PyClass::Other, (b'S', 0));
        assert_eq!(
            decide(DataType::String, &bytes),
            Decision::Fault(Fault::CannotConvert)
        );
        let np_bool = scalar(PyClass::Other, (b'b', 1));
        assert_eq!(
            decide(DataType::Boolean, &np_bool),
            convert(Conv::Bool, false)
        );
    }

    #[test]
    fn non_scalars_and_datetimes() {
        let list = Scalar {
            class: PyClass::Other,
            dtype: Some((b'O', 8)),
            is_scalar: false,
        };
        assert_eq!(
            decide(DataType::Long, &list),
            Decision::Fault(Fault::NotScalar)
        );
        assert_eq!(decide(DataType::Datetime, &list), Decision::ParseDatetime);
        assert_eq!(datetime_outcome(DatetimeParse::Value), None);
        assert_eq!(datetime_outcome(DatetimeParse::Int), Some(Fault::NotDate));
        assert_eq!(
            datetime_outcome(DatetimeParse::ValueError),
            Some(Fault::FailedConvert)
        );
        assert_eq!(decide_object_item(true), Fault::ObjectItem);
    }

    #[test]
    fn messages_are_mlflows() {
        let v = Shown {
            text: "1.5",
            type_repr: "<class 'float'>",
        };
        let ty = param_type_text(&ColType::Data(DataType::Long));
        assert_eq!(
            Fault::CannotConvert.message(&ty, &v),
            "Can not safely convert `<class 'float'>` to `DataType.long` for value `1.5`"
        );
        assert_eq!(
            Fault::NotScalar.message(&ty, &v),
            "Value must be a scalar for type `DataType.long`, got `1.5`"
        );
        assert_eq!(
            Fault::FailedConvert.message("DataType.datetime", &v),
            "Failed to convert value `1.5` from type `<class 'float'>` to `DataType.datetime`"
        );
        let spec = ParamSpec {
            name: "k".into(),
            ty: ColType::Data(DataType::Long),
            default: serde_json::json!([1]),
            shape: Some(vec![-1]),
        };
        let r = spec_repr(&spec, "'k'", "[1]");
        assert_eq!(r, "'k': long (default: [1]) (shape: (-1,))");
        assert_eq!(
            check_list_shape(&r, false, 0, "int"),
            Err("Value must be a 1D array with shape (-1,) for param 'k': long (default: [1]) (shape: (-1,)), received int with ndim 0".into())
        );
        assert_eq!(check_list_shape(&r, true, 1, "list"), Ok(()));
    }

    #[test]
    fn object_repr_is_mlflows() {
        let obj = ColType::Object(vec![
            Property {
                name: "a".into(),
                ty: ColType::Data(DataType::Long),
                required: true,
            },
            Property {
                name: "b".into(),
                ty: ColType::Array(Box::new(ColType::Data(DataType::String))),
                required: false,
            },
            Property {
                name: "c".into(),
                ty: ColType::Map(Box::new(ColType::Data(DataType::Long))),
                required: true,
            },
        ]);
        assert_eq!(
            type_repr(&obj),
            "{a: long (required), b: Array(string) (optional), c: Map(str -> DataType.long) (required)}"
        );
        assert_eq!(param_type_text(&obj), type_repr(&obj));
    }
}
