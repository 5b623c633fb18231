//! `tf.convert_to_tensor(list)`, which mlflow's `_TF2ModuleWrapper` calls on a list: TensorFlow's
//! conversion of a nested Python sequence (`py_seq_tensor.cc`), rule for rule. The shape follows
//! the first element at each depth; the dtype is the first scalar's (a Python float or
//! `np.float32` is float32, `np.float64` float64, an int int32 unless one does not fit, then
//! int64, and a float among ints makes the whole float32); every value then converts to that
//! dtype, the first one that cannot ending the conversion with TensorFlow's message.
//!
//! The binding reads the Python objects into [`Leaf`]s (in the order TensorFlow visits them);
//! this module decides.

use std::fmt;

use crate::tensor::Data;

/// One value of the sequence, as TensorFlow's converters tell values apart.
#[derive(Debug, Clone, PartialEq)]
pub enum Leaf {
    /// Python `True`/`False`: a bool, and an int to the integer and float converters (`bool`
    /// is a subclass of `int`).
    Bool(bool),
    /// `numpy.bool_`: a bool only.
    NpBool(bool),
    /// A Python or NumPy integer: `exact` where it fits int64, `approx` (`PyLong_AsDouble`)
    /// where it fits a double.
    Int {
        exact: Option<i64>,
        approx: Option<f64>,
    },
    /// A float of a kind: the kind decides the inferred dtype, the value converts.
    Float { value: f64, kind: FloatKind },
    /// A `str`, or `bytes` that are UTF-8.
    Str(String),
    /// Anything no converter takes (None, a dict, a list where a scalar belongs): its `repr`
    /// and its type's, for TensorFlow's message when it is the first value.
    Other { repr: String, type_repr: String },
    /// A scalar where a sequence of the inferred shape belongs, or a sequence of another
    /// length: the conversion stops here.
    Ragged,
}

/// What a float infers (`InferShapeAndType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FloatKind {
    /// A Python float or `np.float32`: float32.
    Single,
    /// `np.float64`: float64.
    Double,
}

/// A sequence read for conversion: the shape inferred from its first elements, and its values
/// in row-major order, up to the first [`Leaf::Ragged`].
#[derive(Debug, Clone, PartialEq)]
pub struct Sequence {
    pub shape: Vec<usize>,
    pub leaves: Vec<Leaf>,
}

/// TensorFlow's refusals, worded as it words them (`ValueError` in Python).
#[derive(Debug, Clone, PartialEq)]
pub enum ConvertError {
    Rectangular,
    MixedTypes,
    OutOfRange,
    OutOfRangeDouble,
    Unsupported { repr: String, type_repr: String },
}

impl fmt::Display for ConvertError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConvertError::Rectangular => {
                f.write_str("Can't convert non-rectangular Python sequence to Tensor.")
            }
            ConvertError::MixedTypes => {
                f.write_str("Can't convert Python sequence with mixed types to Tensor.")
            }
            ConvertError::OutOfRange => {
                f.write_str("Can't convert Python sequence with out-of-range integer to Tensor.")
            }
            ConvertError::OutOfRangeDouble => f.write_str(
                "Can't convert Python sequence with a value out of range for a double-precision \
                 float.",
            ),
            ConvertError::Unsupported { repr, type_repr } => write!(
                f,
                "Attempt to convert a value ({repr}) with an unsupported type ({type_repr}) to a \
                 Tensor."
            ),
        }
    }
}

/// Why one converter pass stopped.
enum Stop {
    Error(ConvertError),
    /// The int32 pass met an int beyond int32: TensorFlow retries as int64.
    FoundInt64,
    /// An integer pass met a float: TensorFlow retries as float32.
    FoundFloat,
}

/// The values of the tensor `tf.convert_to_tensor` makes of `seq` (of `seq.shape`), in its
/// element type.
pub fn convert_to_tensor(seq: &Sequence) -> Result<Data, ConvertError> {
    if seq.shape.contains(&0) {
        // nothing to infer from: an empty float32 tensor of the inferred shape
        return Ok(Data::F32(Vec::new()));
    }
    let leaves = &seq.leaves;
    let first = leaves.first().ok_or(ConvertError::Rectangular)?;
    let done = |r: Result<Data, Stop>| match r {
        Ok(data) => Ok(data),
        Err(Stop::Error(e)) => Err(e),
        // only the integer passes stop for these, and they are retried below
        Err(Stop::FoundInt64 | Stop::FoundFloat) => Err(ConvertError::MixedTypes),
    };
    match first {
        Leaf::Float {
            kind: FloatKind::Double,
            ..
        } => done(floats(leaves, |x| x, false).map(Data::F64)),
        Leaf::Float { .. } => done(floats(leaves, |x| x as f32, true).map(Data::F32)),
        Leaf::Bool(_) | Leaf::NpBool(_) => done(pass(leaves, bool_of).map(Data::Bool)),
        Leaf::Str(_) => done(pass(leaves, str_of).map(Data::Str)),
        Leaf::Int { .. } => {
            let r = match pass(leaves, int32_of) {
                Err(Stop::FoundInt64) => pass(leaves, int_of).map(Data::I64),
                r => r.map(Data::I32),
            };
            match r {
                Err(Stop::FoundFloat) => done(floats(leaves, |x| x as f32, true).map(Data::F32)),
                r => done(r),
            }
        }
        Leaf::Other { repr, type_repr } => Err(ConvertError::Unsupported {
            repr: repr.clone(),
            type_repr: type_repr.clone(),
        }),
        Leaf::Ragged => Err(ConvertError::Rectangular),
    }
}

/// One converter pass over every value, stopping at the first that does not convert; the
/// values end at a [`Leaf::Ragged`] (TensorFlow's walk stops there too).
fn pass<T>(leaves: &[Leaf], one: impl Fn(&Leaf) -> Result<T, Stop>) -> Result<Vec<T>, Stop> {
    leaves.iter().map(one).collect()
}

fn int_of(leaf: &Leaf) -> Result<i64, Stop> {
    match leaf {
        Leaf::Bool(b) => Ok(*b as i64),
        Leaf::Int { exact: Some(i), .. } => Ok(*i),
        Leaf::Int { exact: None, .. } => Err(Stop::Error(ConvertError::OutOfRange)),
        Leaf::Float { .. } => Err(Stop::FoundFloat),
        Leaf::Ragged => Err(Stop::Error(ConvertError::Rectangular)),
        Leaf::NpBool(_) | Leaf::Str(_) | Leaf::Other { .. } => {
            Err(Stop::Error(ConvertError::MixedTypes))
        }
    }
}

fn int32_of(leaf: &Leaf) -> Result<i32, Stop> {
    int_of(leaf).and_then(|i| i32::try_from(i).map_err(|_| Stop::FoundInt64))
}

/// `ConvertOneFloat`: floats cast (a finite one made infinite is out of range where the type
/// is narrower than double), ints through `PyLong_AsDouble` (not checked: TensorFlow does not).
fn floats<T>(leaves: &[Leaf], cast: impl Fn(f64) -> T, narrow: bool) -> Result<Vec<T>, Stop>
where
    T: Copy + Into<f64>,
{
    pass(leaves, |leaf| match leaf {
        Leaf::Float { value, .. } => {
            let y = cast(*value);
            if narrow && y.into().is_infinite() && value.is_finite() {
                return Err(Stop::Error(ConvertError::OutOfRangeDouble));
            }
            Ok(y)
        }
        Leaf::Bool(b) => Ok(cast(*b as u8 as f64)),
        Leaf::Int {
            approx: Some(d), ..
        } => Ok(cast(*d)),
        Leaf::Int { approx: None, .. } => Err(Stop::Error(ConvertError::OutOfRangeDouble)),
        Leaf::Ragged => Err(Stop::Error(ConvertError::Rectangular)),
        Leaf::NpBool(_) | Leaf::Str(_) | Leaf::Other { .. } => {
            Err(Stop::Error(ConvertError::MixedTypes))
        }
    })
}

fn bool_of(leaf: &Leaf) -> Result<bool, Stop> {
    match leaf {
        Leaf::Bool(b) | Leaf::NpBool(b) => Ok(*b),
        Leaf::Ragged => Err(Stop::Error(ConvertError::Rectangular)),
        _ => Err(Stop::Error(ConvertError::MixedTypes)),
    }
}

fn str_of(leaf: &Leaf) -> Result<String, Stop> {
    match leaf {
        Leaf::Str(s) => Ok(s.clone()),
        Leaf::Ragged => Err(Stop::Error(ConvertError::Rectangular)),
        _ => Err(Stop::Error(ConvertError::MixedTypes)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::ElemType;

    fn int(i: i64) -> Leaf {
        Leaf::Int {
            exact: Some(i),
            approx: Some(i as f64),
        }
    }

    fn float(value: f64) -> Leaf {
        Leaf::Float {
            value,
            kind: FloatKind::Single,
        }
    }

    fn convert(leaves: Vec<Leaf>) -> Result<(ElemType, Data), ConvertError> {
        let shape = vec![leaves.len()];
        convert_to_tensor(&Sequence { shape, leaves }).map(|d| (d.elem_type(), d))
    }

    // Expected values are TensorFlow 2's own (`tf.convert_to_tensor` of the same Python lists);
    // the Python tests compare against TensorFlow directly.
    #[test]
    fn integers_are_int32_unless_one_does_not_fit() {
        assert_eq!(
            convert(vec![int(1), Leaf::Bool(true)]),
            Ok((ElemType::I32, Data::I32(vec![1, 1])))
        );
        assert_eq!(
            convert(vec![int(1 << 31), int(1)]),
            Ok((ElemType::I64, Data::I64(vec![1 << 31, 1])))
        );
        assert_eq!(
            convert(vec![int(-(1 << 31))]).unwrap().0,
            ElemType::I32,
            "i32::MIN fits"
        );
        let huge = Leaf::Int {
            exact: None,
            approx: Some(2f64.powi(64)),
        };
        assert_eq!(
            convert(vec![int(1), huge.clone()]),
            Err(ConvertError::OutOfRange)
        );
        // a float first makes the pass float32, where the huge int is a double
        assert_eq!(
            convert(vec![int(1), float(1.5), huge]),
            Ok((ElemType::F32, Data::F32(vec![1.0, 1.5, 2f32.powi(64)])))
        );
    }

    #[test]
    fn floats_follow_the_first_value() {
        let double = Leaf::Float {
            value: 1.5,
            kind: FloatKind::Double,
        };
        assert_eq!(
            convert(vec![double.clone(), float(2.0), int(1)]),
            Ok((ElemType::F64, Data::F64(vec![1.5, 2.0, 1.0])))
        );
        assert_eq!(convert(vec![float(2.0), double]).unwrap().0, ElemType::F32);
        assert_eq!(
            convert(vec![float(1e300)]),
            Err(ConvertError::OutOfRangeDouble)
        );
        let (_, Data::F32(v)) = convert(vec![float(f64::INFINITY), float(f64::NAN)]).unwrap()
        else {
            panic!("float32")
        };
        assert!(v[0].is_infinite() && v[1].is_nan());
        // bool then float: the bool converter refuses the float
        assert_eq!(
            convert(vec![Leaf::Bool(true), float(1.5)]),
            Err(ConvertError::MixedTypes)
        );
        // float then bool: True is an int, so 1.0; numpy's bool is not
        assert_eq!(
            convert(vec![float(1.5), Leaf::Bool(true)]),
            Ok((ElemType::F32, Data::F32(vec![1.5, 1.0])))
        );
        assert_eq!(
            convert(vec![float(1.5), Leaf::NpBool(true)]),
            Err(ConvertError::MixedTypes)
        );
    }

    #[test]
    fn shapes_and_refusals() {
        let empty = Sequence {
            shape: vec![2, 0],
            leaves: vec![],
        };
        assert_eq!(convert_to_tensor(&empty), Ok(Data::F32(vec![])));
        assert_eq!(
            convert(vec![int(1), Leaf::Ragged]),
            Err(ConvertError::Rectangular)
        );
        // the first failure wins: a string before the ragged row
        assert_eq!(
            convert(vec![int(1), Leaf::Str("a".into()), Leaf::Ragged]),
            Err(ConvertError::MixedTypes)
        );
        let none = Leaf::Other {
            repr: "None".into(),
            type_repr: "<class 'NoneType'>".into(),
        };
        assert_eq!(
            convert(vec![none.clone()]).unwrap_err().to_string(),
            "Attempt to convert a value (None) with an unsupported type (<class 'NoneType'>) to \
             a Tensor."
        );
        assert_eq!(convert(vec![int(1), none]), Err(ConvertError::MixedTypes));
        assert_eq!(
            convert(vec![Leaf::Str("a".into()), Leaf::Str("b".into())]),
            Ok((ElemType::String, Data::Str(vec!["a".into(), "b".into()])))
        );
    }
}
