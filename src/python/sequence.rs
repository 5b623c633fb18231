//! A Python list read as TensorFlow's `convert_to_tensor` reads it (`py_seq_tensor.cc`): the
//! shape from the first element at each depth, then every value in row-major order as a
//! [`Leaf`], ready for `flavor::tensorflow_lists`, which decides. The list is left to the Python
//! path (None) where TensorFlow would read something in a way not modelled here: NumPy arrays,
//! strings, dicts or other iterables where a row belongs, complex numbers, `np.float16` and
//! `np.longdouble`, bytes that are not UTF-8, a first value with `__getitem__` (a sequence
//! type TensorFlow would descend into).

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{
    PyBool, PyBytes, PyComplex, PyDict, PyFloat, PyInt, PyList, PySequence, PyString, PyTuple,
    PyType,
};

use crate::flavor::tensorflow_lists::{FloatKind, Leaf, Sequence};

/// The NumPy scalar types TensorFlow tells apart.
struct NumpyTypes {
    float64: Py<PyType>,
    float32: Py<PyType>,
    bool_: Py<PyType>,
    integer: Py<PyType>,
    generic: Py<PyType>,
}

fn numpy_types(py: Python<'_>) -> PyResult<&NumpyTypes> {
    static TYPES: PyOnceLock<NumpyTypes> = PyOnceLock::new();
    TYPES.get_or_try_init(py, || {
        let np = py.import("numpy")?;
        let get = |name: &str| -> PyResult<Py<PyType>> {
            Ok(np.getattr(name)?.cast_into::<PyType>()?.unbind())
        };
        Ok(NumpyTypes {
            float64: get("float64")?,
            float32: get("float32")?,
            bool_: get("bool_")?,
            integer: get("integer")?,
            generic: get("generic")?,
        })
    })
}

/// `list` as TensorFlow's conversion reads it, or None for the Python path.
pub(crate) fn read_sequence(list: &Bound<'_, PyList>) -> PyResult<Option<Sequence>> {
    let mut shape = Vec::new();
    let mut obj = list.clone().into_any();
    // InferShapeAndType: down the first elements while they are sequences
    loop {
        let len = if let Ok(l) = obj.cast::<PyList>() {
            l.len()
        } else if let Ok(t) = obj.cast::<PyTuple>() {
            t.len()
        } else {
            break;
        };
        shape.push(len);
        if shape.len() > MAX_DEPTH {
            return Ok(None); // walked recursively below: numpy's error on the Python path
        }
        if len == 0 {
            return Ok(Some(Sequence {
                shape,
                leaves: Vec::new(),
            }));
        }
        obj = obj.get_item(0)?;
    }
    // reserved up to a bound: the first elements' lengths are not the list's size where it
    // is ragged, or repeats one row object a great many times
    let size = shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
    let mut leaves = Vec::with_capacity(size.unwrap_or(usize::MAX).min(1 << 16));
    Ok(match walk(list.as_any(), &shape, &mut leaves)? {
        Walk::Bail => None,
        Walk::Go | Walk::Ragged => Some(Sequence { shape, leaves }),
    })
}

/// The deepest nesting read natively (numpy's and most engines' rank limit is 64).
const MAX_DEPTH: usize = 64;

enum Walk {
    Go,
    /// A [`Leaf::Ragged`] was pushed: nothing after it is read.
    Ragged,
    Bail,
}

fn walk(obj: &Bound<'_, PyAny>, shape: &[usize], leaves: &mut Vec<Leaf>) -> PyResult<Walk> {
    let Some((&len, rest)) = shape.split_first() else {
        return Ok(match leaf(obj, leaves.is_empty())? {
            Some(l) => {
                leaves.push(l);
                Walk::Go
            }
            None => Walk::Bail,
        });
    };
    let items = if let Ok(l) = obj.cast::<PyList>() {
        Some(l.as_sequence().clone())
    } else if let Ok(t) = obj.cast::<PyTuple>() {
        Some(t.as_sequence().clone())
    } else {
        None
    };
    let Some(items): Option<Bound<'_, PySequence>> = items else {
        // a scalar where a row belongs: `PySequence_Fast` fails on it (anything iterable it
        // would read, as TensorFlow does, the Python path reads)
        return Ok(if is_scalar(obj)? {
            leaves.push(Leaf::Ragged);
            Walk::Ragged
        } else {
            Walk::Bail
        });
    };
    if items.len()? != len {
        leaves.push(Leaf::Ragged);
        return Ok(Walk::Ragged);
    }
    for item in items.try_iter()? {
        match walk(&item?, rest, leaves)? {
            Walk::Go => {}
            stop => return Ok(stop),
        }
    }
    Ok(Walk::Go)
}

/// A Python or NumPy scalar (not iterable, so not a row to TensorFlow).
fn is_scalar(obj: &Bound<'_, PyAny>) -> PyResult<bool> {
    Ok(obj.is_none()
        || obj.is_instance_of::<PyInt>()
        || obj.is_instance_of::<PyFloat>()
        || obj.is_instance_of::<PyComplex>()
        || obj.is_instance(numpy_types(obj.py())?.generic.bind(obj.py()))?)
}

/// One value, told apart as TensorFlow's converters tell them (bools before ints, NumPy
/// float64 before other floats). `first`: TensorFlow's message names the first value when it
/// is of no convertible type, so only its `repr` is taken.
fn leaf(obj: &Bound<'_, PyAny>, first: bool) -> PyResult<Option<Leaf>> {
    let py = obj.py();
    if obj.is_exact_instance_of::<PyFloat>() {
        return Ok(Some(Leaf::Float {
            value: obj.extract()?,
            kind: FloatKind::Single,
        }));
    }
    if obj.is_exact_instance_of::<PyBool>() {
        return Ok(Some(Leaf::Bool(obj.extract()?)));
    }
    if obj.is_exact_instance_of::<PyInt>() {
        return int_leaf(obj).map(Some);
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(Some(Leaf::Str(s.to_str()?.to_owned())));
    }
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(std::str::from_utf8(b.as_bytes())
            .ok()
            .map(|s| Leaf::Str(s.to_owned())));
    }
    // an array among the values: TensorFlow reads a 0-d one as its scalar, a longer one as a
    // sequence
    if obj.cast::<numpy::PyUntypedArray>().is_ok() {
        return Ok(None);
    }
    let np = numpy_types(py)?;
    if obj.is_instance(np.generic.bind(py))? {
        let t = obj.get_type();
        return Ok(if t.is(np.float64.bind(py)) {
            Some(Leaf::Float {
                value: obj.extract()?,
                kind: FloatKind::Double,
            })
        } else if t.is(np.float32.bind(py)) {
            Some(Leaf::Float {
                value: obj.extract()?,
                kind: FloatKind::Single,
            })
        } else if t.is(np.bool_.bind(py)) {
            Some(Leaf::NpBool(obj.is_truthy()?))
        } else if obj.is_instance(np.integer.bind(py))? {
            Some(int_leaf(obj)?)
        } else {
            None // float16, longdouble, complex, datetime64...
        });
    }
    // subclasses: `PyFloat_Check` and `PyLong_Check` take them
    if obj.is_instance_of::<PyFloat>() {
        return Ok(Some(Leaf::Float {
            value: obj.extract()?,
            kind: FloatKind::Single,
        }));
    }
    if obj.is_instance_of::<PyInt>() {
        return int_leaf(obj).map(Some);
    }
    if obj.is_instance_of::<PyComplex>() {
        return Ok(None);
    }
    // The first value is where TensorFlow's shape inference stops: another sequence type (not
    // a dict, which is no sequence to it) it would descend into. Anywhere else a value of no
    // convertible type is "mixed types" to every converter, sequences included.
    if first && !obj.is_instance_of::<PyDict>() && obj.hasattr(pyo3::intern!(py, "__getitem__"))? {
        return Ok(None);
    }
    let (repr, type_repr) = if first {
        (obj.repr()?.to_string(), obj.get_type().repr()?.to_string())
    } else {
        (String::new(), String::new())
    };
    Ok(Some(Leaf::Other { repr, type_repr }))
}

/// An integer: exact where it fits int64, and as `PyLong_AsDouble` gives it where that fits a
/// double (the float converter's view).
fn int_leaf(obj: &Bound<'_, PyAny>) -> PyResult<Leaf> {
    let exact = obj.extract::<i64>().ok();
    let approx = match exact {
        Some(i) => Some(i as f64),
        None => obj.extract::<f64>().ok(),
    };
    Ok(Leaf::Int { exact, approx })
}
